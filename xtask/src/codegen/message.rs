//! Emits one Rust module per message schema.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::names::{lit, snake};
use super::schema::{Field, Kind, MessageSpec, Type, Versions};

struct StructDef {
    name: String,
    fields: Vec<Field>,
    top: bool,
}

fn collect_structs(msg: &MessageSpec) -> Result<Vec<StructDef>, String> {
    let mut structs: Vec<StructDef> = Vec::new();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let common: BTreeMap<&str, &Vec<Field>> =
        msg.common_structs.iter().map(|s| (s.name.as_str(), &s.fields)).collect();
    structs.push(StructDef { name: msg.name.clone(), fields: msg.fields.clone(), top: true });
    by_name.insert(msg.name.clone(), 0);
    // breadth-first discovery of nested and common structs
    let mut i = 0;
    while i < structs.len() {
        let fields = structs[i].fields.clone();
        for f in &fields {
            let Some(sname) = f.ty.struct_name() else { continue };
            let sfields = match &f.fields {
                Some(fs) => fs.clone(),
                None => match common.get(sname) {
                    Some(fs) => (*fs).clone(),
                    None => return Err(format!("{}: struct {sname} is not defined", msg.name)),
                },
            };
            if let Some(&j) = by_name.get(sname) {
                if f.fields.is_some() && structs[j].fields.len() != sfields.len() {
                    return Err(format!("{}: struct {sname} defined twice differently", msg.name));
                }
                continue;
            }
            by_name.insert(sname.to_owned(), structs.len());
            structs.push(StructDef { name: sname.to_owned(), fields: sfields, top: false });
        }
        i += 1;
    }
    // common structs never referenced are still part of the message's vocabulary
    for s in &msg.common_structs {
        if !by_name.contains_key(&s.name) {
            by_name.insert(s.name.clone(), structs.len());
            structs.push(StructDef { name: s.name.clone(), fields: s.fields.clone(), top: false });
        }
    }
    Ok(structs)
}

/// Emits the module for `msg`. `response_path` is the path of the response type for requests.
pub fn emit(msg: &MessageSpec, response_path: Option<&str>) -> Result<String, String> {
    let structs = collect_structs(msg)?;
    let mut out = String::new();
    let doc = match msg.kind {
        Kind::Request => format!("{} (API key {}).", msg.name, msg.api_key.unwrap_or(-1)),
        Kind::Response => format!("{} (API key {}).", msg.name, msg.api_key.unwrap_or(-1)),
        Kind::Header => format!("The {}.", msg.name),
        Kind::Data => format!("{}, a non-request message.", msg.name),
    };
    writeln!(out, "//! {doc}").unwrap();
    writeln!(out, "//!").unwrap();
    writeln!(
        out,
        "//! Valid versions {}, flexible versions {}.",
        range_text(&msg.valid),
        range_text(&msg.flexible)
    )
    .unwrap();
    out.push('\n');
    for s in &structs {
        emit_struct(&mut out, msg, s, &structs)?;
    }
    emit_message_impl(&mut out, msg, response_path);
    Ok(out)
}

fn range_text(v: &Versions) -> String {
    if v.is_empty() {
        "none".into()
    } else if v.max == i16::MAX {
        format!("{}+", v.min)
    } else {
        format!("{}-{}", v.min, v.max)
    }
}

fn nullable_any(f: &Field) -> bool {
    !f.nullable.intersect(&f.versions).is_empty()
        && matches!(f.ty, Type::String | Type::Bytes | Type::Records | Type::Array(_) | Type::Struct(_))
}

fn scalar_type(t: &Type) -> Option<&'static str> {
    Some(match t {
        Type::Bool => "bool",
        Type::Int8 => "i8",
        Type::Int16 => "i16",
        Type::Uint16 => "u16",
        Type::Int32 => "i32",
        Type::Uint32 => "u32",
        Type::Int64 => "i64",
        Type::Float64 => "f64",
        Type::Uuid => "crate::Uuid",
        _ => return None,
    })
}

fn base_type(t: &Type) -> String {
    if let Some(s) = scalar_type(t) {
        return s.into();
    }
    match t {
        Type::String => "String".into(),
        Type::Bytes | Type::Records => "bytes::Bytes".into(),
        Type::Struct(n) => n.clone(),
        Type::Array(e) => format!("Vec<{}>", base_type(e)),
        _ => unreachable!(),
    }
}

fn rust_type(f: &Field) -> String {
    let b = base_type(&f.ty);
    if nullable_any(f) { format!("Option<{b}>") } else { b }
}

fn parse_int(s: &str) -> Result<i128, String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16)
    } else {
        body.parse::<i128>()
    }
    .map_err(|_| format!("bad integer default {s:?}"))?;
    Ok(if neg { -v } else { v })
}

/// The Rust expression of a field's default value.
fn default_expr(f: &Field) -> Result<String, String> {
    let d = f.default.as_deref();
    let nullable = nullable_any(f);
    Ok(match &f.ty {
        Type::Bool => match d {
            None | Some("false") => "false".into(),
            Some("true") => "true".into(),
            Some(o) => return Err(format!("{}: bad bool default {o}", f.name)),
        },
        Type::Int8 | Type::Int16 | Type::Uint16 | Type::Int32 | Type::Uint32 | Type::Int64 => match d {
            None | Some("") => "0".into(),
            Some(s) => parse_int(s)?.to_string(),
        },
        Type::Float64 => match d {
            None | Some("") => "0.0".into(),
            Some(s) => format!("{:?}", s.parse::<f64>().map_err(|_| format!("bad float default {s}"))?),
        },
        Type::Uuid => "crate::Uuid::ZERO".into(),
        Type::String => match (nullable, d) {
            (true, Some("null")) => "None".into(),
            (true, None | Some("")) => "Some(String::new())".into(),
            (true, Some(s)) => format!("Some(String::from({}))", lit(s)),
            (false, None | Some("")) => "String::new()".into(),
            (false, Some("null")) => {
                return Err(format!("{}: null default on a non-nullable string", f.name));
            }
            (false, Some(s)) => format!("String::from({})", lit(s)),
        },
        Type::Bytes | Type::Records => match (nullable, d) {
            (true, Some("null")) => "None".into(),
            (true, _) if f.ty == Type::Records => "None".into(),
            (true, _) => "Some(bytes::Bytes::new())".into(),
            (false, _) => "bytes::Bytes::new()".into(),
        },
        Type::Struct(n) => match (nullable, d) {
            (true, Some("null")) => "None".into(),
            (true, _) => format!("Some({n}::default())"),
            (false, _) => format!("{n}::default()"),
        },
        Type::Array(_) => match (nullable, d) {
            (true, Some("null")) => "None".into(),
            (true, _) => "Some(Vec::new())".into(),
            (false, _) => "Vec::new()".into(),
        },
    })
}

/// A condition that is true when `self.<field>` holds its default value.
fn is_default(f: &Field, place: &str) -> Result<String, String> {
    let d = default_expr(f)?;
    Ok(match &f.ty {
        Type::String if !nullable_any(f) => match f.default.as_deref() {
            None | Some("") => format!("{place}.is_empty()"),
            Some(t) => format!("{place} == {}", lit(t)),
        },
        Type::String => match d.as_str() {
            "None" => format!("{place}.is_none()"),
            _ => format!("{place}.as_deref() == Some({})", lit(f.default.as_deref().unwrap_or(""))),
        },
        Type::Bytes | Type::Records | Type::Array(_) if !nullable_any(f) => format!("{place}.is_empty()"),
        Type::Bytes | Type::Records | Type::Array(_) => match d.as_str() {
            "None" => format!("{place}.is_none()"),
            _ => format!("{place}.as_ref().is_some_and(|v| v.is_empty())"),
        },
        Type::Struct(n) if nullable_any(f) => match d.as_str() {
            "None" => format!("{place}.is_none()"),
            _ => format!("{place}.as_ref().is_some_and(|v| *v == {n}::default())"),
        },
        Type::Struct(n) => format!("{place} == {n}::default()"),
        _ => format!("{place} == {d}"),
    })
}

fn doc_attr(out: &mut String, indent: &str, text: &str) {
    let t = text.trim();
    let t = if t.is_empty() { "Not documented in the schema." } else { t };
    writeln!(out, "{indent}#[doc = {}]", lit(t)).unwrap();
}

struct Ctx<'a> {
    msg: &'a MessageSpec,
    sname: &'a str,
}

impl Ctx<'_> {
    fn at(&self, f: &Field) -> String {
        if self.sname == self.msg.name {
            lit(&format!("{}.{}", self.msg.name, f.name))
        } else {
            lit(&format!("{}/{}.{}", self.msg.name, self.sname, f.name))
        }
    }
    fn compact(&self, f: &Field) -> String {
        match &f.flexible {
            Some(v) => v.intersect(&self.msg.flexible).cond(&self.msg.valid),
            None => "flexible".into(),
        }
    }
    fn regular(&self, f: &Field) -> Versions {
        if f.tagged.is_empty() {
            f.versions
        } else {
            f.versions.intersect(&Versions { min: 0, max: f.tagged.min - 1 })
        }
    }
    fn tagged(&self, f: &Field) -> Versions {
        f.versions.intersect(&f.tagged).intersect(&self.msg.flexible)
    }
    fn null_cond(&self, f: &Field) -> String {
        f.nullable.cond(&self.msg.valid)
    }
}

/// Code that decodes one element/value of type `t` (never null) and evaluates to it.
fn decode_value(t: &Type, compact: &str, at: &str, null_err: &str) -> String {
    match t {
        Type::Bool => format!("crate::primitives::read_bool(buf, {at})?"),
        Type::Int8 => format!("crate::primitives::read_i8(buf, {at})?"),
        Type::Int16 => format!("crate::primitives::read_i16(buf, {at})?"),
        Type::Uint16 => format!("crate::primitives::read_u16(buf, {at})?"),
        Type::Int32 => format!("crate::primitives::read_i32(buf, {at})?"),
        Type::Uint32 => format!("crate::primitives::read_u32(buf, {at})?"),
        Type::Int64 => format!("crate::primitives::read_i64(buf, {at})?"),
        Type::Float64 => format!("crate::primitives::read_f64(buf, {at})?"),
        Type::Uuid => format!("crate::primitives::read_uuid(buf, {at})?"),
        Type::String => format!("crate::primitives::read_string(buf, {compact}, {at})?.ok_or({null_err})?"),
        Type::Bytes | Type::Records => {
            format!("crate::primitives::read_bytes(buf, {compact}, {at})?.ok_or({null_err})?")
        }
        Type::Struct(n) => format!("<{n} as crate::Decodable>::decode(buf, version)?"),
        Type::Array(_) => unreachable!("arrays of arrays do not occur in Kafka's schemas"),
    }
}

/// Statements that decode field `f` into `this.<name>`.
fn decode_field(ctx: &Ctx<'_>, f: &Field, name: &str) -> String {
    let at = ctx.at(f);
    let compact = ctx.compact(f);
    let null_err = format!("crate::Error::UnexpectedNull {{ at: {at}, version }}");
    let nullable = nullable_any(f);
    let null_cond = ctx.null_cond(f);
    let assign_opt = |expr: &str| -> String {
        if nullable {
            if null_cond == "true" {
                format!("this.{name} = {expr};")
            } else {
                format!(
                    "let v = {expr};\nif v.is_none() && !({null_cond}) {{ return Err({null_err}); }}\nthis.{name} = v;"
                )
            }
        } else {
            format!("this.{name} = {expr}.ok_or({null_err})?;")
        }
    };
    match &f.ty {
        Type::String => assign_opt(&format!("crate::primitives::read_string(buf, {compact}, {at})?")),
        Type::Bytes | Type::Records => {
            assign_opt(&format!("crate::primitives::read_bytes(buf, {compact}, {at})?"))
        }
        Type::Array(e) => {
            let elem = decode_value(e, &compact, &at, &null_err);
            let et = base_type(e);
            let expr = format!(
                "match crate::primitives::read_array_len(buf, {compact}, {at})? {{\n None => None,\n Some(n) => {{\n let mut v: Vec<{et}> = Vec::with_capacity(crate::primitives::prealloc::<{et}>(n));\n for _ in 0..n {{ v.push({elem}); }}\n Some(v)\n }}\n }}"
            );
            assign_opt(&expr)
        }
        Type::Struct(n) if nullable => {
            let read = format!("<{n} as crate::Decodable>::decode(buf, version)?");
            if null_cond == "true" {
                format!(
                    "this.{name} = if crate::primitives::read_struct_marker(buf, {at})? {{ Some({read}) }} else {{ None }};"
                )
            } else {
                format!(
                    "this.{name} = if !({null_cond}) || crate::primitives::read_struct_marker(buf, {at})? {{ Some({read}) }} else {{ None }};"
                )
            }
        }
        t => format!("this.{name} = {};", decode_value(t, &compact, &at, &null_err)),
    }
}

fn encode_value(t: &Type, v: &str, compact: &str, at: &str) -> String {
    match t {
        Type::Bool => format!("crate::primitives::write_bool(buf, *{v});"),
        Type::Int8 => format!("crate::primitives::write_i8(buf, *{v});"),
        Type::Int16 => format!("crate::primitives::write_i16(buf, *{v});"),
        Type::Uint16 => format!("crate::primitives::write_u16(buf, *{v});"),
        Type::Int32 => format!("crate::primitives::write_i32(buf, *{v});"),
        Type::Uint32 => format!("crate::primitives::write_u32(buf, *{v});"),
        Type::Int64 => format!("crate::primitives::write_i64(buf, *{v});"),
        Type::Float64 => format!("crate::primitives::write_f64(buf, *{v});"),
        Type::Uuid => format!("crate::primitives::write_uuid(buf, {v});"),
        Type::String => {
            format!("crate::primitives::write_string(buf, Some({v}.as_str()), {compact}, {at})?;")
        }
        Type::Bytes | Type::Records => {
            format!("crate::primitives::write_bytes(buf, Some(&{v}[..]), {compact}, {at})?;")
        }
        Type::Struct(_) => format!("crate::Encodable::encode({v}, buf, version)?;"),
        Type::Array(_) => unreachable!(),
    }
}

/// Statements that encode `self.<name>`.
fn encode_field(ctx: &Ctx<'_>, f: &Field, name: &str) -> String {
    let at = ctx.at(f);
    let compact = ctx.compact(f);
    let nullable = nullable_any(f);
    let null_cond = ctx.null_cond(f);
    let null_err = format!("crate::Error::UnexpectedNull {{ at: {at}, version }}");
    let check_null = if nullable && null_cond != "true" {
        format!("if v.is_none() && !({null_cond}) {{ return Err({null_err}); }}\n")
    } else {
        String::new()
    };
    let place = format!("self.{name}");
    match &f.ty {
        Type::String => {
            let v = if nullable { format!("{place}.as_deref()") } else { format!("Some({place}.as_str())") };
            format!("let v = {v};\n{check_null}crate::primitives::write_string(buf, v, {compact}, {at})?;")
        }
        Type::Bytes | Type::Records => {
            let v = if nullable { format!("{place}.as_deref()") } else { format!("Some(&{place}[..])") };
            format!("let v = {v};\n{check_null}crate::primitives::write_bytes(buf, v, {compact}, {at})?;")
        }
        Type::Array(e) => {
            let v = if nullable { format!("{place}.as_ref()") } else { format!("Some(&{place})") };
            let elem = encode_value(e, "e", &compact, &at);
            format!(
                "let v = {v};\n{check_null}crate::primitives::write_array_len(buf, v.map(Vec::len), {compact}, {at})?;\nif let Some(v) = v {{ for e in v {{ {elem} }} }}"
            )
        }
        Type::Struct(_) if nullable => {
            if null_cond == "true" {
                format!(
                    "match &{place} {{ None => crate::primitives::write_i8(buf, -1), Some(s) => {{ crate::primitives::write_i8(buf, 1); crate::Encodable::encode(s, buf, version)?; }} }}"
                )
            } else {
                format!(
                    "match &{place} {{\n None if {null_cond} => crate::primitives::write_i8(buf, -1),\n None => return Err({null_err}),\n Some(s) => {{ if {null_cond} {{ crate::primitives::write_i8(buf, 1); }} crate::Encodable::encode(s, buf, version)?; }}\n }}"
                )
            }
        }
        t => encode_value(t, &format!("&{place}"), &compact, &at).replace("*&self.", "self."),
    }
}

fn emit_struct(out: &mut String, msg: &MessageSpec, s: &StructDef, all: &[StructDef]) -> Result<(), String> {
    let ctx = Ctx { msg, sname: &s.name };
    let valid = &msg.valid;
    let names: Vec<String> = s.fields.iter().map(|f| snake(&f.name)).collect();
    {
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if !seen.insert(n) || n == "unknown_tagged_fields" {
                return Err(format!("{}: duplicate field name {n} in {}", msg.name, s.name));
            }
        }
    }
    // --- struct
    if s.top {
        doc_attr(
            out,
            "",
            &format!("{}: the body of the message (see the module docs for its versions).", s.name),
        );
    } else {
        doc_attr(out, "", &format!("{} (part of {}).", s.name, msg.name));
    }
    writeln!(out, "#[derive(Debug, Clone, PartialEq)]\npub struct {} {{", s.name).unwrap();
    for (f, n) in s.fields.iter().zip(&names) {
        let mut about = f.about.trim().to_owned();
        let mut notes = vec![format!("Versions {}", range_text(&f.versions))];
        if nullable_any(f) {
            notes.push(format!("nullable in {}", range_text(&f.nullable.intersect(&f.versions))));
        }
        if let Some(t) = f.tag {
            notes.push(format!("tagged (tag {t}) in {}", range_text(&f.tagged)));
        }
        if let Some(d) = &f.default {
            notes.push(format!("default {d}"));
        }
        if f.map_key {
            notes.push("map key".into());
        }
        if !about.is_empty() && !about.ends_with('.') {
            about.push('.');
        }
        doc_attr(out, "    ", format!("{about} ({}.)", notes.join("; ")).trim());
        writeln!(out, "    pub {n}: {},", rust_type(f)).unwrap();
    }
    writeln!(
        out,
        "    /// Tagged fields this codec does not know, kept so that re-encoding reproduces them."
    )
    .unwrap();
    writeln!(out, "    pub unknown_tagged_fields: Vec<crate::RawTaggedField>,\n}}\n").unwrap();

    // --- Default
    writeln!(out, "impl Default for {} {{\n    fn default() -> Self {{\n        {} {{", s.name, s.name)
        .unwrap();
    for (f, n) in s.fields.iter().zip(&names) {
        writeln!(out, "            {n}: {},", default_expr(f)?).unwrap();
    }
    writeln!(out, "            unknown_tagged_fields: Vec::new(),\n        }}\n    }}\n}}\n").unwrap();

    // --- mapKey finders
    let mut finders = String::new();
    for (f, n) in s.fields.iter().zip(&names) {
        let Type::Array(e) = &f.ty else { continue };
        let Type::Struct(en) = &**e else { continue };
        let Some(ed) = all.iter().find(|d| &d.name == en) else { continue };
        let keys: Vec<&Field> = ed.fields.iter().filter(|k| k.map_key).collect();
        if keys.is_empty() {
            continue;
        }
        let mut params = Vec::new();
        let mut conds = Vec::new();
        let mut ok = true;
        for k in &keys {
            let kn = snake(&k.name);
            match (&k.ty, nullable_any(k)) {
                (Type::String, false) => {
                    params.push(format!("{kn}: &str"));
                    conds.push(format!("e.{kn} == {kn}"));
                }
                (Type::String, true) => {
                    params.push(format!("{kn}: Option<&str>"));
                    conds.push(format!("e.{kn}.as_deref() == {kn}"));
                }
                (t, _) => match scalar_type(t) {
                    Some(st) => {
                        params.push(format!("{kn}: {st}"));
                        conds.push(format!("e.{kn} == {kn}"));
                    }
                    None => ok = false,
                },
            }
        }
        if !ok {
            continue;
        }
        let iter =
            if nullable_any(f) { format!("self.{n}.as_ref()?.iter()") } else { format!("self.{n}.iter()") };
        let key_names: Vec<String> = keys.iter().map(|k| format!("`{}`", snake(&k.name))).collect();
        writeln!(
            finders,
            "    /// The first entry of `{n}` whose map key ({}) matches; entries keep their wire order.\n    pub fn find_{n}(&self, {}) -> Option<&{en}> {{\n        {iter}.find(|e| {})\n    }}\n",
            key_names.join(", "),
            params.join(", "),
            conds.join(" && ")
        )
        .unwrap();
    }
    if !finders.is_empty() {
        writeln!(out, "impl {} {{\n{finders}}}\n", s.name).unwrap();
    }

    // --- encode
    let mut body = String::new();
    if s.top {
        writeln!(
            body,
            "if !({}..={}).contains(&version) {{ return Err(crate::Error::UnsupportedVersion {{ api: {}, version, min: {}, max: {} }}); }}",
            valid.min,
            valid.max,
            lit(&msg.name),
            valid.min,
            valid.max
        )
        .unwrap();
    }
    let mut tagged: Vec<(&Field, &String)> = Vec::new();
    for (f, n) in s.fields.iter().zip(&names) {
        let reg = ctx.regular(f).cond(valid);
        let tag = ctx.tagged(f).cond(valid);
        if f.tag.is_some() && tag != "false" {
            tagged.push((f, n));
        }
        let enc = encode_field(&ctx, f, n);
        let unsupported = if f.ignorable {
            None
        } else {
            let absent = match (reg.as_str(), tag.as_str()) {
                ("false", "false") => "true".to_owned(),
                (r, "false") => format!("!({r})"),
                ("false", t) => format!("!({t})"),
                (r, t) => format!("!({r}) && !({t})"),
            };
            if absent == "!(true)" { None } else { Some(absent) }
        };
        let not_supported =
            format!("return Err(crate::Error::FieldNotSupported {{ at: {}, version }});", ctx.at(f));
        let check = unsupported.map(|absent| {
            format!(
                "if {absent} && !({}) {{ {not_supported} }}\n",
                is_default(f, &format!("self.{n}")).unwrap()
            )
        });
        match reg.as_str() {
            "true" => writeln!(body, "{{\n{enc}\n}}").unwrap(),
            "false" => {}
            r => writeln!(body, "if {r} {{\n{enc}\n}}").unwrap(),
        }
        if let Some(c) = check {
            body.push_str(&c);
        }
    }
    let flex = msg.flexible.cond(valid);
    if flex != "false" {
        writeln!(body, "if flexible {{").unwrap();
        let tw_mut = if tagged.is_empty() { "" } else { "mut " };
        writeln!(body, "let {tw_mut}tw = crate::TaggedWriter::new(&self.unknown_tagged_fields);").unwrap();
        tagged.sort_by_key(|(f, _)| f.tag);
        for (f, n) in &tagged {
            let cond = ctx.tagged(f).cond(valid);
            let enc = encode_field(&ctx, f, n);
            let isdef = is_default(f, &format!("self.{n}"))?;
            writeln!(
                body,
                "if {cond} && !({isdef}) {{ tw.field({}, |buf| {{ {enc} Ok(()) }})?; }}",
                f.tag.unwrap_or(0)
            )
            .unwrap();
        }
        writeln!(body, "tw.finish(buf)?;").unwrap();
        if flex != "true" {
            writeln!(
                body,
                "}} else if !self.unknown_tagged_fields.is_empty() {{ return Err(crate::Error::FieldNotSupported {{ at: {}, version }});",
                lit(&format!("{}.unknown_tagged_fields", s.name))
            )
            .unwrap();
        }
        writeln!(body, "}}").unwrap();
    } else {
        writeln!(
            body,
            "if !self.unknown_tagged_fields.is_empty() {{ return Err(crate::Error::FieldNotSupported {{ at: {}, version }}); }}",
            lit(&format!("{}.unknown_tagged_fields", s.name))
        )
        .unwrap();
    }
    let flex_decl =
        if uses_ident(&body, "flexible") { format!("let flexible = {flex};\n") } else { String::new() };
    let version_arg = if uses_ident(&body, "version") || uses_ident(&flex_decl, "version") {
        "version"
    } else {
        "_version"
    };
    writeln!(
        out,
        "impl crate::Encodable for {} {{\n    fn encode(&self, buf: &mut bytes::BytesMut, {version_arg}: i16) -> crate::Result<()> {{\n{flex_decl}{body}Ok(())\n    }}\n}}\n",
        s.name
    )
    .unwrap();

    // --- decode
    let mut body = String::new();
    if s.top {
        writeln!(
            body,
            "if !({}..={}).contains(&version) {{ return Err(crate::Error::UnsupportedVersion {{ api: {}, version, min: {}, max: {} }}); }}",
            valid.min,
            valid.max,
            lit(&msg.name),
            valid.min,
            valid.max
        )
        .unwrap();
    }
    let needs_mut = !s.fields.is_empty() || flex != "false";
    writeln!(body, "let {}this = Self::default();", if needs_mut { "mut " } else { "" }).unwrap();
    for (f, n) in s.fields.iter().zip(&names) {
        let reg = ctx.regular(f).cond(valid);
        let dec = decode_field(&ctx, f, n);
        match reg.as_str() {
            "true" => writeln!(body, "{{\n{dec}\n}}").unwrap(),
            "false" => {}
            r => writeln!(body, "if {r} {{\n{dec}\n}}").unwrap(),
        }
    }
    if flex != "false" {
        let at_tags = lit(&format!("{}/{}.<tagged fields>", msg.name, s.name));
        writeln!(body, "if flexible {{\nlet count = crate::primitives::read_uvarint(buf, {at_tags})?;\nfor _ in 0..count {{").unwrap();
        if tagged.is_empty() {
            writeln!(
                body,
                "let (tag, data) = crate::tagged::read_tagged_field(buf, {at_tags})?;\nthis.unknown_tagged_fields.push(crate::RawTaggedField {{ tag, data }});"
            )
            .unwrap();
        } else {
            writeln!(
                body,
                "let (tag, mut data) = crate::tagged::read_tagged_field(buf, {at_tags})?;\nmatch tag {{"
            )
            .unwrap();
            for (f, n) in &tagged {
                let cond = ctx.tagged(f).cond(valid);
                let guard = if cond == "true" { String::new() } else { format!(" if {cond}") };
                let dec = decode_field(&ctx, f, n);
                writeln!(body, "{}{guard} => {{ let buf = &mut data;\n{dec}\n}}", f.tag.unwrap_or(0))
                    .unwrap();
            }
            writeln!(
                body,
                "_ => this.unknown_tagged_fields.push(crate::RawTaggedField {{ tag, data }}),\n}}"
            )
            .unwrap();
        }
        writeln!(body, "}}\n}}").unwrap();
    }
    let flex_decl =
        if uses_ident(&body, "flexible") { format!("let flexible = {flex};\n") } else { String::new() };
    let version_arg = if uses_ident(&body, "version") || uses_ident(&flex_decl, "version") {
        "version"
    } else {
        "_version"
    };
    let buf_arg = if uses_ident(&body, "buf") { "buf" } else { "_buf" };
    writeln!(
        out,
        "impl crate::Decodable for {} {{\n    fn decode({buf_arg}: &mut bytes::Bytes, {version_arg}: i16) -> crate::Result<Self> {{\n{flex_decl}{body}Ok(this)\n    }}\n}}\n",
        s.name
    )
    .unwrap();
    Ok(())
}

fn emit_message_impl(out: &mut String, msg: &MessageSpec, response_path: Option<&str>) {
    let vr = |v: &Versions| {
        if v.is_empty() {
            "crate::VersionRange::NONE".to_owned()
        } else {
            format!("crate::VersionRange {{ min: {}, max: {} }}", v.min, v.max.min(msg.valid.max.max(v.min)))
        }
    };
    let flexible = if msg.flexible.is_empty() {
        "crate::VersionRange::NONE".to_owned()
    } else {
        format!("crate::VersionRange {{ min: {}, max: i16::MAX }}", msg.flexible.min)
    };
    writeln!(
        out,
        "impl crate::Message for {} {{\n    const NAME: &'static str = {};\n    const VERSIONS: crate::VersionRange = {};\n    const FLEXIBLE_VERSIONS: crate::VersionRange = {flexible};\n    const DEPRECATED_VERSIONS: crate::VersionRange = {};\n}}\n",
        msg.name,
        lit(&msg.name),
        vr(&msg.valid),
        vr(&msg.deprecated),
    )
    .unwrap();
    if let (Kind::Request, Some(resp), Some(key)) = (msg.kind, response_path, msg.api_key) {
        writeln!(
            out,
            "impl crate::Request for {} {{\n    const API_KEY: crate::ApiKey = crate::ApiKey::{};\n    const LATEST_VERSION_UNSTABLE: bool = {};\n    type Response = {resp};\n}}\n",
            msg.name,
            api_variant(&msg.name),
            msg.latest_unstable
        )
        .unwrap();
        let _ = key;
    }
    if let (Kind::Response, Some(_)) = (msg.kind, msg.api_key) {
        writeln!(
            out,
            "impl crate::Response for {} {{\n    const API_KEY: crate::ApiKey = crate::ApiKey::{};\n}}\n",
            msg.name,
            api_variant(&msg.name)
        )
        .unwrap();
    }
}

/// `FetchRequest` / `FetchResponse` → `Fetch`.
pub fn api_variant(name: &str) -> String {
    name.strip_suffix("Request").or_else(|| name.strip_suffix("Response")).unwrap_or(name).to_owned()
}

/// Whether `ident` occurs as an identifier in `code`, outside string literals.
fn uses_ident(code: &str, ident: &str) -> bool {
    let mut plain = String::with_capacity(code.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in code.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            plain.push(' ');
        } else if c == '"' {
            in_str = true;
            plain.push(' ');
        } else {
            plain.push(c);
        }
    }
    let is_id = |c: char| c.is_ascii_alphanumeric() || c == '_';
    plain.match_indices(ident).any(|(i, _)| {
        let before = plain[..i].chars().next_back();
        let after = plain[i + ident.len()..].chars().next();
        !before.is_some_and(|c| is_id(c) || c == '.') && !after.is_some_and(is_id)
    })
}

/// Emits `Sample` impls (random values valid at a version) for every struct of `msg`, used by
/// the round-trip tests.
pub fn emit_samples(msg: &MessageSpec, module: &str) -> Result<String, String> {
    let structs = collect_structs(msg)?;
    let valid = &msg.valid;
    let flex = msg.flexible.cond(valid);
    let mut out = String::new();
    for s in &structs {
        let ctx = Ctx { msg, sname: &s.name };
        let mut body = String::new();
        for f in &s.fields {
            let n = snake(&f.name);
            let reg = ctx.regular(f).cond(valid);
            let tag = ctx.tagged(f).cond(valid);
            let cond = match (reg.as_str(), tag.as_str()) {
                ("false", "false") => continue,
                ("true", _) | (_, "true") => "true".to_owned(),
                (r, "false") => r.to_owned(),
                ("false", t) => t.to_owned(),
                (r, t) => format!("({r}) || ({t})"),
            };
            let expr = sample_expr(&ctx, f, module);
            if cond == "true" {
                writeln!(body, "this.{n} = {expr};").unwrap();
            } else {
                writeln!(body, "if {cond} {{ this.{n} = {expr}; }}").unwrap();
            }
        }
        if flex != "false" {
            writeln!(body, "if {flex} {{ this.unknown_tagged_fields = rng.unknown_tags(); }}").unwrap();
        }
        let rng = if uses_ident(&body, "rng") { "rng" } else { "_rng" };
        let version = if uses_ident(&body, "version") { "version" } else { "_version" };
        let mutability = if body.is_empty() { "" } else { "mut " };
        writeln!(
            out,
            "impl Sample for super::{module}::{} {{\n    fn sample({rng}: &mut Rng, {version}: i16) -> Self {{\n        let {mutability}this = Self::default();\n{body}        this\n    }}\n}}\n",
            s.name
        )
        .unwrap();
    }
    Ok(out)
}

fn sample_value(t: &Type, module: &str) -> String {
    match t {
        Type::Bool => "rng.bool()".into(),
        Type::Int8 => "rng.next() as i8".into(),
        Type::Int16 => "rng.next() as i16".into(),
        Type::Uint16 => "rng.next() as u16".into(),
        Type::Int32 => "rng.next() as i32".into(),
        Type::Uint32 => "rng.next() as u32".into(),
        Type::Int64 => "rng.next() as i64".into(),
        Type::Float64 => "rng.f64()".into(),
        Type::Uuid => "rng.uuid()".into(),
        Type::String => "rng.string()".into(),
        Type::Bytes | Type::Records => "rng.bytes()".into(),
        Type::Struct(n) => format!("<super::{module}::{n} as Sample>::sample(rng, version)"),
        Type::Array(e) => {
            let elem = sample_value(e, module);
            format!("(0..rng.below(3)).map(|_| {elem}).collect::<Vec<_>>()")
        }
    }
}

fn sample_expr(ctx: &Ctx<'_>, f: &Field, module: &str) -> String {
    let v = sample_value(&f.ty, module);
    if !nullable_any(f) {
        return v;
    }
    let null_cond = ctx.null_cond(f);
    if null_cond == "false" {
        format!("Some({v})")
    } else {
        format!("if ({null_cond}) && rng.one_in(4) {{ None }} else {{ Some({v}) }}")
    }
}

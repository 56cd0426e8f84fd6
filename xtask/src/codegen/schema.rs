//! Kafka's JSON message schemas, parsed into specs.

use serde_json::Value;

/// A version range; `none` is an empty range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { min: i16::MAX, max: -1 };

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(Self::NONE);
        }
        let num = |t: &str| t.trim().parse::<i16>().map_err(|_| format!("bad version range {s:?}"));
        if let Some(p) = s.strip_suffix('+') {
            return Ok(Versions { min: num(p)?, max: i16::MAX });
        }
        if let Some((a, b)) = s.split_once('-') {
            return Ok(Versions { min: num(a)?, max: num(b)? });
        }
        let v = num(s)?;
        Ok(Versions { min: v, max: v })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    pub fn intersect(&self, o: &Versions) -> Versions {
        let v = Versions { min: self.min.max(o.min), max: self.max.min(o.max) };
        if v.is_empty() { Self::NONE } else { v }
    }

    /// A Rust condition on `version` that is true exactly for the versions of `self` within
    /// `within` (the versions the code can be called with).
    pub fn cond(&self, within: &Versions) -> String {
        let r = self.intersect(within);
        if r.is_empty() {
            return "false".into();
        }
        let lo = r.min > within.min;
        let hi = r.max < within.max;
        match (lo, hi) {
            (false, false) => "true".into(),
            (true, false) => format!("version >= {}", r.min),
            (false, true) => format!("version <= {}", r.max),
            (true, true) if r.min == r.max => format!("version == {}", r.min),
            (true, true) => format!("version >= {} && version <= {}", r.min, r.max),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    String,
    Uuid,
    Bytes,
    Records,
    Struct(String),
    Array(Box<Type>),
}

impl Type {
    pub fn parse(s: &str) -> Type {
        if let Some(inner) = s.strip_prefix("[]") {
            return Type::Array(Box::new(Type::parse(inner)));
        }
        match s {
            "bool" => Type::Bool,
            "int8" => Type::Int8,
            "int16" => Type::Int16,
            "uint16" => Type::Uint16,
            "int32" => Type::Int32,
            "uint32" => Type::Uint32,
            "int64" => Type::Int64,
            "float64" => Type::Float64,
            "string" => Type::String,
            "uuid" => Type::Uuid,
            "bytes" => Type::Bytes,
            "records" => Type::Records,
            other => Type::Struct(other.to_owned()),
        }
    }

    pub fn struct_name(&self) -> Option<&str> {
        match self {
            Type::Struct(n) => Some(n),
            Type::Array(t) => t.struct_name(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub versions: Versions,
    pub nullable: Versions,
    pub tagged: Versions,
    pub tag: Option<u32>,
    pub ignorable: bool,
    pub default: Option<String>,
    pub about: String,
    pub map_key: bool,
    /// Field-level override of the message's flexible versions (only `ClientId` in the request
    /// header uses it, to stay a classic string in every version).
    pub flexible: Option<Versions>,
    pub fields: Option<Vec<Field>>,
}

#[derive(Debug, Clone)]
pub struct StructSpec {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
    Data,
}

#[derive(Debug, Clone)]
pub struct MessageSpec {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub listeners: Vec<String>,
    pub valid: Versions,
    pub flexible: Versions,
    pub deprecated: Versions,
    pub latest_unstable: bool,
    pub fields: Vec<Field>,
    pub common_structs: Vec<StructSpec>,
}

/// Removes `//` comments outside of string literals.
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn versions_of(v: &Value, key: &str, default: Versions) -> Result<Versions, String> {
    match str_of(v, key) {
        Some(s) => Versions::parse(s),
        None => Ok(default),
    }
}

fn parse_field(v: &Value, ctx: &str) -> Result<Field, String> {
    let name = str_of(v, "name").ok_or_else(|| format!("{ctx}: field without name"))?.to_owned();
    let ctx = format!("{ctx}.{name}");
    let ty = Type::parse(str_of(v, "type").ok_or_else(|| format!("{ctx}: no type"))?);
    let versions = Versions::parse(str_of(v, "versions").ok_or_else(|| format!("{ctx}: no versions"))?)?;
    let tag = match v.get("tag") {
        Some(t) => Some(
            t.as_u64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("{ctx}: bad tag"))? as u32,
        ),
        None => None,
    };
    let tagged = versions_of(v, "taggedVersions", Versions::NONE)?;
    if tag.is_some() == tagged.is_empty() {
        return Err(format!("{ctx}: tag and taggedVersions must come together"));
    }
    let default = match v.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let fields = match v.get("fields") {
        Some(Value::Array(a)) => Some(a.iter().map(|f| parse_field(f, &ctx)).collect::<Result<Vec<_>, _>>()?),
        Some(_) => return Err(format!("{ctx}: fields is not an array")),
        None => None,
    };
    Ok(Field {
        name,
        ty,
        versions,
        nullable: versions_of(v, "nullableVersions", Versions::NONE)?,
        tagged,
        tag,
        ignorable: v.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
        default,
        about: str_of(v, "about").unwrap_or("").to_owned(),
        map_key: v.get("mapKey").and_then(Value::as_bool).unwrap_or(false),
        flexible: match str_of(v, "flexibleVersions") {
            Some(s) => Some(Versions::parse(s)?),
            None => None,
        },
        fields,
    })
}

pub fn parse_message(src: &str, file: &str) -> Result<MessageSpec, String> {
    let v: Value = serde_json::from_str(&strip_comments(src)).map_err(|e| format!("{file}: {e}"))?;
    let name = str_of(&v, "name").ok_or_else(|| format!("{file}: no name"))?.to_owned();
    let kind = match str_of(&v, "type") {
        Some("request") => Kind::Request,
        Some("response") => Kind::Response,
        Some("header") => Kind::Header,
        Some("data") => Kind::Data,
        other => return Err(format!("{file}: unknown message type {other:?}")),
    };
    let fields = match v.get("fields") {
        Some(Value::Array(a)) => a.iter().map(|f| parse_field(f, &name)).collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    let mut common_structs = Vec::new();
    if let Some(Value::Array(a)) = v.get("commonStructs") {
        for s in a {
            let sname = str_of(s, "name").ok_or_else(|| format!("{file}: common struct without name"))?;
            let fields = match s.get("fields") {
                Some(Value::Array(a)) => {
                    a.iter().map(|f| parse_field(f, sname)).collect::<Result<Vec<_>, _>>()?
                }
                _ => Vec::new(),
            };
            common_structs.push(StructSpec { name: sname.to_owned(), fields });
        }
    }
    Ok(MessageSpec {
        name,
        kind,
        api_key: v.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        listeners: match v.get("listeners") {
            Some(Value::Array(a)) => a.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        },
        valid: Versions::parse(
            str_of(&v, "validVersions").ok_or_else(|| format!("{file}: no validVersions"))?,
        )?,
        flexible: versions_of(&v, "flexibleVersions", Versions::NONE)?,
        deprecated: versions_of(&v, "deprecatedVersions", Versions::NONE)?,
        latest_unstable: v.get("latestVersionUnstable").and_then(Value::as_bool).unwrap_or(false),
        fields,
        common_structs,
    })
}

//! The generated module index: `mod.rs`, the `ApiKey` table and the `RequestKind` /
//! `ResponseKind` enums that dispatch on an API key at run time.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::message::api_variant;
use super::names::{lit, snake};
use super::schema::{Kind, MessageSpec};

fn requests<'a>(selected: &[&'a MessageSpec]) -> Vec<&'a MessageSpec> {
    let mut r: Vec<&MessageSpec> = selected.iter().copied().filter(|s| s.kind == Kind::Request).collect();
    r.sort_by_key(|s| s.api_key);
    r
}

pub fn module(selected: &[&MessageSpec]) -> String {
    let mut out = String::from(
        "//! Message types generated from Kafka's JSON schemas: one module per message, the API key\n//! table and run-time dispatch enums, and the error codes.\n\n#![allow(clippy::derivable_impls, clippy::manual_range_contains, clippy::bool_comparison, clippy::field_reassign_with_default, clippy::large_enum_variant, clippy::needless_borrow, clippy::nonminimal_bool, clippy::collapsible_if, clippy::collapsible_else_if, clippy::too_many_lines)]\n\nmod api_key;\nmod error_code;\nmod kinds;\n#[cfg(test)]\nmod samples;\n\npub use api_key::ApiKey;\npub use error_code::ErrorCode;\npub use kinds::{RequestKind, ResponseKind};\n\n",
    );
    let mut sorted: Vec<&MessageSpec> = selected.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &sorted {
        writeln!(out, "pub mod {};", snake(&s.name)).unwrap();
    }
    out.push('\n');
    for s in &sorted {
        writeln!(out, "pub use {}::{};", snake(&s.name), s.name).unwrap();
    }
    out
}

pub fn api_key(selected: &[&MessageSpec], responses: &BTreeMap<i16, &MessageSpec>) -> Result<String, String> {
    let reqs = requests(selected);
    let mut out = String::new();
    out.push_str("//! The API keys of the client-facing Kafka APIs, with their version ranges.\n\n");
    out.push_str("/// A Kafka API, identified on the wire by its 16-bit key.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\npub enum ApiKey {\n");
    for r in &reqs {
        writeln!(
            out,
            "    #[doc = {}]\n    {} = {},",
            lit(&format!("{} (key {}).", api_variant(&r.name), r.api_key.unwrap_or(-1))),
            api_variant(&r.name),
            r.api_key.unwrap_or(-1)
        )
        .unwrap();
    }
    out.push_str("}\n\nimpl ApiKey {\n");
    out.push_str("    /// Every API this codec knows, by key.\n    pub const ALL: &'static [ApiKey] = &[");
    for r in &reqs {
        write!(out, "ApiKey::{}, ", api_variant(&r.name)).unwrap();
    }
    out.push_str("];\n\n");
    out.push_str("    /// The API with this key, if this codec knows it.\n    pub fn from_key(key: i16) -> Option<ApiKey> {\n        Some(match key {\n");
    for r in &reqs {
        writeln!(out, "            {} => ApiKey::{},", r.api_key.unwrap_or(-1), api_variant(&r.name))
            .unwrap();
    }
    out.push_str("            _ => return None,\n        })\n    }\n\n");
    out.push_str("    /// The wire key.\n    pub fn key(self) -> i16 {\n        self as i16\n    }\n\n");
    out.push_str("    /// The API's name as Kafka's documentation spells it (e.g. `Fetch`).\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for r in &reqs {
        writeln!(out, "            ApiKey::{} => {},", api_variant(&r.name), lit(&api_variant(&r.name)))
            .unwrap();
    }
    out.push_str("        }\n    }\n\n");
    let table = |out: &mut String, doc: &str, fname: &str, f: &dyn Fn(&MessageSpec) -> String| {
        writeln!(
            out,
            "    /// {doc}\n    pub fn {fname}(self) -> crate::VersionRange {{\n        match self {{"
        )
        .unwrap();
        for r in &reqs {
            writeln!(out, "            ApiKey::{} => {},", api_variant(&r.name), f(r)).unwrap();
        }
        out.push_str("        }\n    }\n\n");
    };
    table(&mut out, "The request versions this codec supports.", "versions", &|r| {
        format!("crate::VersionRange {{ min: {}, max: {} }}", r.valid.min, r.valid.max)
    });
    table(
        &mut out,
        "The versions whose requests use flexible (compact, tagged) encoding.",
        "flexible_versions",
        &|r| {
            if r.flexible.is_empty() {
                "crate::VersionRange::NONE".into()
            } else {
                format!("crate::VersionRange {{ min: {}, max: i16::MAX }}", r.flexible.min)
            }
        },
    );
    for r in &reqs {
        let k = r.api_key.unwrap_or(-1);
        let resp = responses.get(&k).ok_or_else(|| format!("{} has no response", r.name))?;
        if resp.valid != r.valid {
            return Err(format!("{}: request and response versions differ", r.name));
        }
    }
    out.push_str("    /// The latest version, if it is marked unstable in the schema (brokers only expose it when\n    /// configured to; clients should not negotiate it by default).\n    pub fn latest_version_unstable(self) -> bool {\n        matches!(self, ");
    let unstable: Vec<String> = reqs
        .iter()
        .filter(|r| r.latest_unstable)
        .map(|r| format!("ApiKey::{}", api_variant(&r.name)))
        .collect();
    if unstable.is_empty() {
        out.push_str("_ if false");
    } else {
        out.push_str(&unstable.join(" | "));
    }
    out.push_str(")\n    }\n}\n");
    Ok(out)
}

pub fn kinds(selected: &[&MessageSpec], responses: &BTreeMap<i16, &MessageSpec>) -> String {
    let reqs = requests(selected);
    let mut out = String::from(
        "//! Run-time dispatch over every API: decode a body knowing only its key and version.\n\nuse crate::{Decodable, Encodable};\n\n",
    );
    for (kind, doc) in [("Request", "Any request body."), ("Response", "Any response body.")] {
        writeln!(
            out,
            "/// {doc}\n#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum {kind}Kind {{"
        )
        .unwrap();
        for r in &reqs {
            let m = if kind == "Request" {
                r.name.clone()
            } else {
                responses[&r.api_key.unwrap_or(-1)].name.clone()
            };
            writeln!(
                out,
                "    #[doc = {}]\n    {}(super::{}),",
                lit(&format!("A {m}.")),
                api_variant(&r.name),
                m
            )
            .unwrap();
        }
        out.push_str("}\n\n");
        writeln!(out, "impl {kind}Kind {{").unwrap();
        out.push_str("    /// The API this body belongs to.\n    pub fn api_key(&self) -> crate::ApiKey {\n        match self {\n");
        for r in &reqs {
            writeln!(
                out,
                "            Self::{}(_) => crate::ApiKey::{},",
                api_variant(&r.name),
                api_variant(&r.name)
            )
            .unwrap();
        }
        out.push_str("        }\n    }\n\n");
        out.push_str("    /// Decodes a body of the given API and version.\n    pub fn decode(api_key: crate::ApiKey, buf: &mut bytes::Bytes, version: i16) -> crate::Result<Self> {\n        Ok(match api_key {\n");
        for r in &reqs {
            let m = if kind == "Request" {
                r.name.clone()
            } else {
                responses[&r.api_key.unwrap_or(-1)].name.clone()
            };
            writeln!(
                out,
                "            crate::ApiKey::{} => Self::{}(super::{m}::decode(buf, version)?),",
                api_variant(&r.name),
                api_variant(&r.name)
            )
            .unwrap();
        }
        out.push_str("        })\n    }\n\n");
        out.push_str("    /// Encodes the body at the given version.\n    pub fn encode(&self, buf: &mut bytes::BytesMut, version: i16) -> crate::Result<()> {\n        match self {\n");
        for r in &reqs {
            writeln!(out, "            Self::{}(m) => m.encode(buf, version),", api_variant(&r.name))
                .unwrap();
        }
        out.push_str("        }\n    }\n}\n\n");
    }
    out
}

//! `ErrorCode` from `error-codes.tsv` (code, name, retriable, description).

use std::fmt::Write as _;

use super::names::{camel_from_upper, lit};

pub fn emit(tsv: &str) -> Result<String, String> {
    let mut rows = Vec::new();
    for (i, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        if cols.len() != 4 {
            return Err(format!("error-codes.tsv line {}: expected 4 columns", i + 1));
        }
        let code: i16 = cols[0].parse().map_err(|_| format!("error-codes.tsv line {}: bad code", i + 1))?;
        let retriable = match cols[2] {
            "true" => true,
            "false" => false,
            o => return Err(format!("error-codes.tsv line {}: bad retriable {o}", i + 1)),
        };
        let desc = if cols[3] == "null" { "" } else { cols[3] };
        rows.push((code, cols[1].to_owned(), camel_from_upper(cols[1]), retriable, desc.to_owned()));
    }
    let mut out = String::from("//! Kafka's protocol error codes.\n\n");
    out.push_str("/// A Kafka protocol error code. Codes this crate does not know are kept in [`ErrorCode::Unknown`].\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum ErrorCode {\n");
    for (code, name, var, _, desc) in &rows {
        let d = if desc.is_empty() {
            format!("{name} ({code}): no error.")
        } else {
            format!("{name} ({code}): {desc}")
        };
        writeln!(out, "    #[doc = {}]\n    {var},", lit(&d)).unwrap();
    }
    out.push_str("    /// A code this crate does not know.\n    Unknown(i16),\n}\n\nimpl ErrorCode {\n");
    out.push_str("    /// The error with this code.\n    pub fn from_code(code: i16) -> ErrorCode {\n        match code {\n");
    for (code, _, var, _, _) in &rows {
        writeln!(out, "            {code} => ErrorCode::{var},").unwrap();
    }
    out.push_str("            other => ErrorCode::Unknown(other),\n        }\n    }\n\n");
    out.push_str("    /// The wire code.\n    pub fn code(self) -> i16 {\n        match self {\n");
    for (code, _, var, _, _) in &rows {
        writeln!(out, "            ErrorCode::{var} => {code},").unwrap();
    }
    out.push_str("            ErrorCode::Unknown(c) => c,\n        }\n    }\n\n");
    out.push_str("    /// Kafka's name for it, e.g. `NOT_LEADER_OR_FOLLOWER`.\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for (_, name, var, _, _) in &rows {
        writeln!(out, "            ErrorCode::{var} => {},", lit(name)).unwrap();
    }
    out.push_str("            ErrorCode::Unknown(_) => \"UNKNOWN\",\n        }\n    }\n\n");
    out.push_str("    /// The broker's description.\n    pub fn description(self) -> &'static str {\n        match self {\n");
    for (_, _, var, _, desc) in &rows {
        writeln!(out, "            ErrorCode::{var} => {},", lit(desc)).unwrap();
    }
    out.push_str("            ErrorCode::Unknown(_) => \"An error code this client does not know.\",\n        }\n    }\n\n");
    out.push_str("    /// Whether Kafka classes it retriable (a `RetriableException` or `InvalidMetadataException`).\n    pub fn is_retriable(self) -> bool {\n        matches!(self, ");
    let retr: Vec<String> = rows.iter().filter(|r| r.3).map(|r| format!("ErrorCode::{}", r.2)).collect();
    out.push_str(&retr.join(" | "));
    out.push_str(")\n    }\n\n");
    out.push_str("    /// True for `NONE` (code 0).\n    pub fn is_ok(self) -> bool {\n        self == ErrorCode::None\n    }\n\n");
    out.push_str("    /// `Ok(())` for `NONE`, otherwise `Err(self)`.\n    pub fn into_result(self) -> Result<(), ErrorCode> {\n        if self.is_ok() { Ok(()) } else { Err(self) }\n    }\n}\n\n");
    out.push_str("impl From<i16> for ErrorCode {\n    fn from(code: i16) -> Self {\n        ErrorCode::from_code(code)\n    }\n}\n\n");
    out.push_str("impl std::fmt::Display for ErrorCode {\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n        write!(f, \"{} ({})\", self.name(), self.code())?;\n        let d = self.description();\n        if !d.is_empty() {\n            write!(f, \": {d}\")?;\n        }\n        Ok(())\n    }\n}\n\nimpl std::error::Error for ErrorCode {}\n");
    Ok(out)
}

//! `sasl.jaas.config` in the Java client's form:
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="secret";
//! ```
//!
//! One login module (a client accepts exactly one, as Java's `JaasContext` requires), a control
//! flag (`required`, `requisite`, `sufficient` or `optional`), `key=value` options whose values are
//! bare words or double-quoted strings (`\` escapes the next character), and a closing `;`.

use std::{collections::BTreeMap, fmt};

/// The PLAIN login module.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// The SCRAM login module.
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
/// The OAUTHBEARER login module.
pub const OAUTHBEARER_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// One parsed login module entry. `Debug` hides every option value (they hold secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class name.
    pub module: String,
    /// The control flag, lower-cased.
    pub flag: String,
    /// The options, in the order of their keys.
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasEntry")
            .field("module", &self.module)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted value".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => v.push(e),
                            None => return Err("unterminated quoted value".into()),
                        },
                        Some(ch) => v.push(ch),
                    }
                }
                out.push(Token::Quoted(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '=' || ch == ';' || ch == '"' {
                        break;
                    }
                    w.push(ch);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

/// Parses a client's `sasl.jaas.config`. Errors never quote option values.
pub fn parse_jaas(s: &str) -> Result<JaasEntry, String> {
    let tokens = tokenize(s)?;
    let mut it = tokens.into_iter().peekable();
    let module = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err("expected a login module class name first".into()),
    };
    let flag = match it.next() {
        Some(Token::Word(w)) => w.to_ascii_lowercase(),
        _ => return Err(format!("expected a control flag (e.g. `required`) after {module}")),
    };
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        return Err(format!(
            "invalid control flag `{flag}` (expected required, requisite, sufficient or optional)"
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(key)) => {
                if it.next() != Some(Token::Equals) {
                    return Err(format!("expected `=` after option `{key}`"));
                }
                let value = match it.next() {
                    Some(Token::Word(v) | Token::Quoted(v)) => v,
                    _ => return Err(format!("expected a value for option `{key}`")),
                };
                options.insert(key, value);
            }
            None => return Err("missing the closing `;`".into()),
            Some(_) => return Err("expected `key=value` options or the closing `;`".into()),
        }
    }
    if it.next().is_some() {
        return Err("a client accepts exactly one login module (text follows the first `;`)".into());
    }
    Ok(JaasEntry { module, flag, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_forms_parse() {
        let e = parse_jaas(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="a\"b;c";"#,
        )
        .unwrap();
        assert_eq!(e.module, PLAIN_LOGIN_MODULE);
        assert_eq!(e.flag, "required");
        assert_eq!(e.options["username"], "alice");
        assert_eq!(e.options["password"], "a\"b;c");
        let e = parse_jaas(&format!(
            "  {SCRAM_LOGIN_MODULE}  REQUIRED\n  username=bob\n password = 'x' tokenauth=true ;  "
        ))
        .unwrap();
        assert_eq!(e.flag, "required");
        assert_eq!(e.options["username"], "bob");
        assert_eq!(e.options["password"], "'x'");
        assert_eq!(e.options["tokenauth"], "true");
        let e = parse_jaas(&format!("{OAUTHBEARER_LOGIN_MODULE} required;")).unwrap();
        assert!(e.options.is_empty());
    }

    #[test]
    fn malformed_forms_are_rejected_without_quoting_values() {
        for (text, want) in [
            ("", "class name"),
            ("M", "control flag"),
            ("M maybe;", "invalid control flag"),
            ("M required username=\"alice\"", "closing `;`"),
            ("M required password=\"hunter2", "unterminated"),
            ("M required password hunter2;", "expected `=`"),
            ("M required a=b; N required;", "exactly one login module"),
        ] {
            let e = parse_jaas(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = parse_jaas("M required password=hunter2;").unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}

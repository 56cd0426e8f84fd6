//! Java `.properties` text: `#` / `!` comments, `key=value`, `key: value` and `key value`,
//! backslash line continuations and escapes (`\t`, `\n`, `\\`, `\=`, `\:`, `\uXXXX`).

use super::def::Properties;
use crate::error::{Error, Result};

/// Parses `.properties` text into key/value pairs (a later duplicate wins, as in Java).
pub fn parse_properties(text: &str) -> Result<Properties> {
    let mut out = Properties::new();
    let mut lines = text.lines().enumerate();
    while let Some((no, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues the line.
        let mut logical = trimmed.to_string();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_entry(&logical);
        let key = unescape(key).map_err(|m| Error::config(format!("line {}", no + 1), m))?;
        let value = unescape(value).map_err(|m| Error::config(key.clone(), m))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace; whitespace around the separator is
/// dropped.
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).map(str::trim_start).unwrap_or(rest);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let cp = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\u escape `\\u{hex}`"))?;
                out.push(cp);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let text = "# a comment\n\
                    ! another\n\
                    \n\
                    bootstrap.servers = a:1,\\\n    b:2\n\
                    client.id: my\\tclient\n\
                    client.rack rack-1\n\
                    key\\=with\\:seps=v\n\
                    empty=\n\
                    unicode=\\u00e9t\\u00e9\n\
                    client.id=overridden\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["bootstrap.servers"], "a:1,b:2");
        assert_eq!(p["client.id"], "overridden");
        assert_eq!(p["client.rack"], "rack-1");
        assert_eq!(p["key=with:seps"], "v");
        assert_eq!(p["empty"], "");
        assert_eq!(p["unicode"], "été");
        assert_eq!(p.len(), 6);
        assert_eq!(parse_properties("a=x\\ty").unwrap()["a"], "x\ty");
        assert_eq!(
            parse_properties("a=x\\\\").unwrap()["a"],
            "x\\",
            "an even run of backslashes is not a continuation"
        );
    }

    #[test]
    fn bad_escape_names_the_key() {
        let e = parse_properties("client.id=\\uZZ").unwrap_err().to_string();
        assert!(e.contains("client.id") && e.contains("\\u"), "{e}");
    }
}

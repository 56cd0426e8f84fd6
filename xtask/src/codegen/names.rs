//! Rust names for schema names.

/// `ReplicaId` → `replica_id`; `TopicIDs` → `topic_ids`; keywords get a trailing underscore.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => {
                    // end of an acronym: "IDs" stays one word, "ISRLeader" splits before Leader
                    next.is_some_and(|n| n.is_ascii_lowercase())
                        && !(next == Some('s') && i + 2 == chars.len())
                }
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if is_keyword(&out) {
        out.push('_');
    }
    out
}

/// `UNKNOWN_SERVER_ERROR` → `UnknownServerError`.
pub fn camel_from_upper(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "type"
            | "match"
            | "mod"
            | "move"
            | "ref"
            | "self"
            | "super"
            | "struct"
            | "enum"
            | "fn"
            | "impl"
            | "in"
            | "loop"
            | "use"
            | "where"
            | "while"
            | "yield"
            | "async"
            | "await"
            | "dyn"
            | "abstract"
            | "final"
            | "override"
            | "box"
            | "const"
            | "crate"
            | "else"
            | "extern"
            | "false"
            | "true"
            | "for"
            | "if"
            | "let"
            | "mut"
            | "pub"
            | "return"
            | "static"
            | "trait"
            | "unsafe"
            | "virtual"
            | "become"
            | "do"
            | "macro"
            | "priv"
            | "try"
            | "typeof"
            | "unsized"
            | "gen"
    )
}

/// A Rust string literal.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        assert_eq!(snake("ReplicaId"), "replica_id");
        assert_eq!(snake("TopicIDs"), "topic_ids");
        assert_eq!(snake("ISRLeader"), "isr_leader");
        assert_eq!(snake("Type"), "type_");
        assert_eq!(snake("V2Field"), "v2_field");
        assert_eq!(camel_from_upper("UNKNOWN_SERVER_ERROR"), "UnknownServerError");
    }
}

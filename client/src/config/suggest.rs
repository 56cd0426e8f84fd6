//! "Did you mean …?" for misspelt configuration keys (edit distance with transpositions).

/// The candidate closest to `key`, if it is close enough to be a likely typo: at most a third
/// of the key's length in edits (at least 1, at most 4). Ties go to the earlier candidate.
pub(crate) fn closest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (key.chars().count() / 3).clamp(1, 4);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = edit_distance(&key.to_ascii_lowercase(), c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters each cost 1 (`a.itn` is one edit from `a.int`).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j]
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("a.itn", "a.int"), 1);
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let keys = ["bootstrap.servers", "client.id", "client.rack", "request.timeout.ms"];
        assert_eq!(closest("bootstrap.server", keys), Some("bootstrap.servers"));
        assert_eq!(closest("bootstrap_servers", keys), Some("bootstrap.servers"));
        assert_eq!(closest("Client.Id", keys), Some("client.id"));
        assert_eq!(closest("client.rak", keys), Some("client.rack"));
        assert_eq!(closest("linger.ms", keys), None);
        assert_eq!(closest("x", keys), None);
    }
}

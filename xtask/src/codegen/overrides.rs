//! Versions this codec speaks beyond the pinned schema set.
//!
//! The pinned schemas predate Kafka 4.0, which added versions that are byte-for-byte the
//! previous version and only change what the broker does with them (KIP-890, transactions
//! v2), and declared EndTxn v5 stable. Regenerating everything from newer schemas would
//! bring unrelated changes (Produce v13 topic ids, ...), so only these are applied, each
//! checked against the schema it changes: the generator fails if the schema already has the
//! version (the override is then obsolete and must be removed) or if a field's version range
//! ends before the new version (the new version would not be identical on the wire).

use super::schema::{Field, MessageSpec};

struct Override {
    message: &'static str,
    /// The new highest valid version; `None` keeps the schema's.
    max: Option<i16>,
    /// Clears `latestVersionUnstable`.
    stable: bool,
}

const OVERRIDES: &[Override] = &[
    // Produce v12 = v11; in a transaction the broker adds the partition itself (KIP-890)
    Override { message: "ProduceRequest", max: Some(12), stable: false },
    Override { message: "ProduceResponse", max: Some(12), stable: false },
    // TxnOffsetCommit v5 = v4; in a transaction the coordinator adds the group itself
    Override { message: "TxnOffsetCommitRequest", max: Some(5), stable: false },
    Override { message: "TxnOffsetCommitResponse", max: Some(5), stable: false },
    // EndTxn v5 (the response carries the bumped producer id/epoch) is stable since Kafka 4.0
    Override { message: "EndTxnRequest", max: None, stable: true },
];

/// Applies [`OVERRIDES`] to the parsed schemas.
pub fn apply(specs: &mut [(String, MessageSpec)]) -> Result<(), String> {
    for o in OVERRIDES {
        let (file, spec) = specs
            .iter_mut()
            .find(|(_, s)| s.name == o.message)
            .ok_or_else(|| format!("version override for {}: no such schema", o.message))?;
        if let Some(max) = o.max {
            if spec.valid.max >= max {
                return Err(format!("{file}: already has version {max}; remove its override"));
            }
            let mut all: Vec<&Field> = spec.fields.iter().collect();
            all.extend(spec.common_structs.iter().flat_map(|s| s.fields.iter()));
            while let Some(f) = all.pop() {
                if f.versions.max != i16::MAX && f.versions.max < max {
                    return Err(format!(
                        "{file}: field {} ends at v{}; v{max} would differ",
                        f.name, f.versions.max
                    ));
                }
                all.extend(f.fields.iter().flatten());
            }
            spec.valid.max = max;
        }
        if o.stable {
            if !spec.latest_unstable {
                return Err(format!("{file}: latest version already stable; remove its override"));
            }
            spec.latest_unstable = false;
        }
    }
    Ok(())
}

//! Topic configs: every key a Kafka 4.x topic has, with its broker default, so DescribeConfigs
//! can report each one with its source.

/// The kind of value a config takes, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer at or above the minimum.
    Long(i64),
    /// A 32-bit integer at or above the minimum.
    Int(i64),
    /// A boolean.
    Bool,
    /// A double at or above the minimum.
    Double,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of the listed words.
    ListOf(&'static [&'static str]),
    /// Free text.
    Text,
}

/// (key, default, kind, sensitive).
pub const TOPIC_CONFIGS: &[(&str, &str, Kind)] = &[
    ("cleanup.policy", "delete", Kind::ListOf(&["delete", "compact"])),
    (
        "compression.type",
        "producer",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("compression.gzip.level", "-1", Kind::Int(-1)),
    ("compression.lz4.level", "9", Kind::Int(1)),
    ("compression.zstd.level", "3", Kind::Int(-131072)),
    ("delete.retention.ms", "86400000", Kind::Long(0)),
    ("file.delete.delay.ms", "60000", Kind::Long(0)),
    ("flush.messages", "9223372036854775807", Kind::Long(1)),
    ("flush.ms", "9223372036854775807", Kind::Long(0)),
    ("follower.replication.throttled.replicas", "", Kind::Text),
    ("index.interval.bytes", "4096", Kind::Int(0)),
    ("leader.replication.throttled.replicas", "", Kind::Text),
    ("local.retention.bytes", "-2", Kind::Long(-2)),
    ("local.retention.ms", "-2", Kind::Long(-2)),
    ("max.compaction.lag.ms", "9223372036854775807", Kind::Long(1)),
    ("max.message.bytes", "1048588", Kind::Int(0)),
    ("message.timestamp.after.max.ms", "3600000", Kind::Long(0)),
    ("message.timestamp.before.max.ms", "9223372036854775807", Kind::Long(0)),
    ("message.timestamp.type", "CreateTime", Kind::OneOf(&["CreateTime", "LogAppendTime"])),
    ("min.cleanable.dirty.ratio", "0.5", Kind::Double),
    ("min.compaction.lag.ms", "0", Kind::Long(0)),
    ("min.insync.replicas", "1", Kind::Int(1)),
    ("preallocate", "false", Kind::Bool),
    ("remote.storage.enable", "false", Kind::Bool),
    ("retention.bytes", "-1", Kind::Long(-1)),
    ("retention.ms", "604800000", Kind::Long(-1)),
    ("segment.bytes", "1073741824", Kind::Int(1_048_576)),
    ("segment.index.bytes", "10485760", Kind::Int(4)),
    ("segment.jitter.ms", "0", Kind::Long(0)),
    ("segment.ms", "604800000", Kind::Long(1)),
    ("unclean.leader.election.enable", "false", Kind::Bool),
];

/// The broker default of a topic config key.
pub fn default_of(key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS.iter().find(|(k, _, _)| *k == key).map(|(_, d, _)| *d)
}

/// Checks a value for a key; the error message follows Kafka's wording.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let Some((_, _, kind)) = TOPIC_CONFIGS.iter().find(|(k, _, _)| *k == key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    let bad = || format!("Invalid value {value} for configuration {key}");
    match kind {
        Kind::Long(min) | Kind::Int(min) => {
            let v: i64 = value.trim().parse().map_err(|_| bad())?;
            if v < *min || (matches!(kind, Kind::Int(_)) && v > i32::MAX as i64) {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: Value must be at least {min}"
                ));
            }
        }
        Kind::Bool => {
            if !matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "false") {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: Expected value to be either true or false"
                ));
            }
        }
        Kind::Double => {
            value.trim().parse::<f64>().map_err(|_| bad())?;
        }
        Kind::OneOf(words) => {
            if !words.contains(&value.trim()) {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: String must be one of: {}",
                    words.join(", ")
                ));
            }
        }
        Kind::ListOf(words) => {
            if value.split(',').any(|w| !words.contains(&w.trim())) {
                return Err(format!(
                    "Invalid value {value} for configuration {key}: must be a list of {}",
                    words.join(", ")
                ));
            }
        }
        Kind::Text => {}
    }
    Ok(())
}

//! `ConsumerConfig`: the client keys plus the consumer's, with the Java consumer's names and
//! defaults (Kafka 4.x).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `group.id` | (none) | the group whose committed offsets `commit_sync` / `committed` use |
//! | `auto.offset.reset` | `latest` | where to start without a committed offset, or when out of range: `earliest`, `latest`, `none` (error) |
//! | `enable.auto.commit` | `true` | with `group.id`: commit positions every `auto.commit.interval.ms` from `poll` and at `close` |
//! | `auto.commit.interval.ms` | `5000` | |
//! | `fetch.min.bytes` | `1` | bytes a fetch waits for (up to `fetch.max.wait.ms`) |
//! | `fetch.max.bytes` | `52428800` | bytes per fetch response |
//! | `fetch.max.wait.ms` | `500` | long-poll time of a fetch |
//! | `max.partition.fetch.bytes` | `1048576` | bytes per partition per fetch |
//! | `max.poll.records` | `500` | records one `poll` returns at most |
//! | `isolation.level` | `read_uncommitted` | `read_committed`: stop at the last stable offset and drop aborted transactions' records |
//! | `check.crcs` | `true` | verify record batch CRCs |
//! | `client.rack` | (client key) | sent with fetches |
//!
//! Group-membership keys (`session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`,
//! `partition.assignment.strategy`, `group.instance.id`, `group.protocol`) are accepted with
//! their Java defaults so that Java property files load, but `subscribe` is not built yet.

use std::sync::LazyLock;
use std::time::Duration;

use kafka_client::ClientConfig;
use kafka_client::config::{
    ConfigDef, ConfigKey, ConfigType, ConfigType::*, ConfigValues, Properties, Validator, Validator::*,
};

use crate::error::{Error, Result};

const KEYS: &[(&str, ConfigType, Option<&str>, Validator, &str)] = &[
    ("group.id", String, Some(""), Any, "The consumer group."),
    ("group.instance.id", String, Some(""), Any, "Static membership id (groups not built yet)."),
    ("auto.offset.reset", String, Some("latest"), OneOf(&["earliest", "latest", "none"]), "Where to start."),
    ("enable.auto.commit", Bool, Some("true"), Any, "Commit positions periodically."),
    ("auto.commit.interval.ms", Int, Some("5000"), AtLeast(0), "Auto-commit period."),
    ("fetch.min.bytes", Int, Some("1"), AtLeast(0), "Bytes a fetch waits for."),
    ("fetch.max.bytes", Int, Some("52428800"), AtLeast(0), "Bytes per fetch."),
    ("fetch.max.wait.ms", Int, Some("500"), AtLeast(0), "Fetch long-poll time."),
    ("max.partition.fetch.bytes", Int, Some("1048576"), AtLeast(0), "Bytes per partition per fetch."),
    ("max.poll.records", Int, Some("500"), AtLeast(1), "Records per poll."),
    (
        "isolation.level",
        String,
        Some("read_uncommitted"),
        OneOf(&["read_uncommitted", "read_committed"]),
        "Transactions.",
    ),
    ("check.crcs", Bool, Some("true"), Any, "Verify CRCs."),
    ("exclude.internal.topics", Bool, Some("true"), Any, "For subscribe (not built yet)."),
    ("allow.auto.create.topics", Bool, Some("true"), Any, "Metadata requests may create topics."),
    ("session.timeout.ms", Int, Some("45000"), AtLeast(1), "Groups (not built yet)."),
    ("heartbeat.interval.ms", Int, Some("3000"), AtLeast(1), "Groups (not built yet)."),
    ("max.poll.interval.ms", Int, Some("300000"), AtLeast(1), "Groups (not built yet)."),
    ("partition.assignment.strategy", List, Some("range,cooperative-sticky"), Any, "Groups (not built yet)."),
    ("group.protocol", String, Some("classic"), OneOf(&["classic", "consumer"]), "Groups (not built yet)."),
];

static DEF: LazyLock<ConfigDef> = LazyLock::new(|| {
    ClientConfig::def().clone().extend(KEYS.iter().map(|&(name, ty, default, validator, doc)| ConfigKey {
        name,
        ty,
        default,
        validator,
        doc,
    }))
});

/// Where a partition without a usable position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start.
    Earliest,
    /// The end (only new records).
    Latest,
    /// Fail with [`Error::OffsetOutOfRange`].
    None,
}

/// The typed consumer configuration.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The shared client settings.
    pub client: ClientConfig,
    /// `group.id` (`None` when empty).
    pub group_id: Option<std::string::String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit` (only with a group).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `isolation.level=read_committed`.
    pub read_committed: bool,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `allow.auto.create.topics`.
    pub allow_auto_create_topics: bool,
}

impl ConsumerConfig {
    /// The combined key table.
    pub fn def() -> &'static ConfigDef {
        &DEF
    }

    /// From string properties; unknown keys are errors that suggest the closest key.
    pub fn from_properties(props: &Properties) -> Result<ConsumerConfig> {
        Self::from_values(&DEF.parse(props)?)
    }

    /// From `(key, value)` pairs.
    pub fn from_pairs<K: Into<std::string::String>, V: Into<std::string::String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ConsumerConfig> {
        Self::from_properties(&pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    fn from_values(v: &ConfigValues) -> Result<ConsumerConfig> {
        let client = ClientConfig::from_values(v)?;
        let group_id = Some(v.string("group.id").to_owned()).filter(|g| !g.is_empty());
        if !v.string("group.instance.id").is_empty() && group_id.is_none() {
            return Err(Error::Config("group.instance.id needs group.id".into()));
        }
        let ms = |k| Duration::from_millis(v.number(k) as u64);
        Ok(ConsumerConfig {
            client,
            auto_offset_reset: match v.string("auto.offset.reset") {
                "earliest" => OffsetReset::Earliest,
                "none" => OffsetReset::None,
                _ => OffsetReset::Latest,
            },
            enable_auto_commit: v.bool("enable.auto.commit") && group_id.is_some(),
            group_id,
            auto_commit_interval: ms("auto.commit.interval.ms"),
            fetch_min_bytes: v.number("fetch.min.bytes") as i32,
            fetch_max_bytes: v.number("fetch.max.bytes") as i32,
            fetch_max_wait: ms("fetch.max.wait.ms"),
            max_partition_fetch_bytes: v.number("max.partition.fetch.bytes") as i32,
            max_poll_records: v.number("max.poll.records") as usize,
            read_committed: v.string("isolation.level") == "read_committed",
            check_crcs: v.bool("check.crcs"),
            allow_auto_create_topics: v.bool("allow.auto.create.topics"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_defaults_and_key_errors() {
        let c = ConsumerConfig::from_pairs([("bootstrap.servers", "127.0.0.1:9092")]).unwrap();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!((c.max_poll_records, c.fetch_max_wait), (500, Duration::from_millis(500)));
        assert!(!c.read_committed && c.group_id.is_none() && !c.enable_auto_commit);
        let e = ConsumerConfig::from_pairs([("bootstrap.servers", "x:1"), ("auto.offset.rest", "earliest")])
            .unwrap_err();
        assert!(e.to_string().contains("auto.offset.reset"), "suggests the key: {e}");
        let e = ConsumerConfig::from_pairs([("bootstrap.servers", "x:1"), ("isolation.level", "dirty")])
            .unwrap_err();
        assert!(e.to_string().contains("isolation.level"), "{e}");
    }
}

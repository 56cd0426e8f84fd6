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
//! | `group.instance.id` | (none) | static membership (KIP-345): a restart within `session.timeout.ms` keeps the assignment without a rebalance |
//! | `session.timeout.ms` | `45000` | the coordinator expires a member without heartbeats for this long |
//! | `heartbeat.interval.ms` | `3000` | heartbeat period of the background heartbeat task (must be below `session.timeout.ms`) |
//! | `max.poll.interval.ms` | `300000` | a member that does not `poll` for this long leaves the group; also the rebalance timeout |
//! | `partition.assignment.strategy` | `range,cooperative-sticky` | assignors in preference order: `range`, `roundrobin`, `sticky`, `cooperative-sticky` (or the Java class names); the cooperative protocol is used only when every listed assignor supports it |
//! | `group.protocol` | `classic` | only `classic` is built; `consumer` (KIP-848) is a configuration error |
//! | `exclude.internal.topics` | `true` | pattern subscriptions never match internal topics (`__consumer_offsets`, …) |

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use kafka_client::ClientConfig;
use kafka_client::config::{
    ConfigDef, ConfigKey, ConfigType, ConfigType::*, ConfigValues, Properties, Validator, Validator::*,
};

use crate::error::{Error, Result};
use crate::group::assignor::{self, Assignor};

const KEYS: &[(&str, ConfigType, Option<&str>, Validator, &str)] = &[
    ("group.id", String, Some(""), Any, "The consumer group."),
    ("group.instance.id", String, Some(""), Any, "Static membership id (KIP-345)."),
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
    ("exclude.internal.topics", Bool, Some("true"), Any, "Pattern subscriptions skip internal topics."),
    ("allow.auto.create.topics", Bool, Some("true"), Any, "Metadata requests may create topics."),
    ("session.timeout.ms", Int, Some("45000"), AtLeast(1), "Group session timeout."),
    ("heartbeat.interval.ms", Int, Some("3000"), AtLeast(1), "Heartbeat period."),
    (
        "max.poll.interval.ms",
        Int,
        Some("300000"),
        AtLeast(1),
        "Longest time between polls; rebalance timeout.",
    ),
    (
        "partition.assignment.strategy",
        List,
        Some("range,cooperative-sticky"),
        Any,
        "Assignors, preferred first.",
    ),
    (
        "group.protocol",
        String,
        Some("classic"),
        OneOf(&["classic", "consumer"]),
        "Group protocol (classic only).",
    ),
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
    /// `group.instance.id` (`None` when empty).
    pub group_instance_id: Option<std::string::String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, resolved. Replace with custom assignors if needed.
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// `exclude.internal.topics`.
    pub exclude_internal_topics: bool,
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
        if v.string("group.protocol") == "consumer" {
            return Err(Error::Config(
                "group.protocol=consumer (KIP-848) is not supported by this client; use classic".into(),
            ));
        }
        if v.number("heartbeat.interval.ms") >= v.number("session.timeout.ms") {
            return Err(Error::Config(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                v.number("heartbeat.interval.ms"),
                v.number("session.timeout.ms")
            )));
        }
        let mut assignors = Vec::new();
        for name in v.list("partition.assignment.strategy") {
            let a = assignor::by_name(name).ok_or_else(|| {
                Error::Config(format!(
                    "partition.assignment.strategy: unknown assignor {name:?} (known: range, roundrobin, sticky, cooperative-sticky)"
                ))
            })?;
            assignors.push(a);
        }
        if assignors.is_empty() && group_id.is_some() {
            return Err(Error::Config("partition.assignment.strategy is empty".into()));
        }
        Ok(ConsumerConfig {
            group_instance_id: Some(v.string("group.instance.id").to_owned()).filter(|g| !g.is_empty()),
            session_timeout: ms("session.timeout.ms"),
            heartbeat_interval: ms("heartbeat.interval.ms"),
            max_poll_interval: ms("max.poll.interval.ms"),
            assignors,
            exclude_internal_topics: v.bool("exclude.internal.topics"),
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

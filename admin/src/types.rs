//! The admin client's inputs and results.

use std::collections::BTreeMap;

use kafka_protocol::Uuid;

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A topic to create: a partition count and replication factor (`None`: the broker's
/// defaults), or an explicit replica assignment; and topic configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions (`None`: `num.partitions`).
    pub partitions: Option<i32>,
    /// Replication factor (`None`: `default.replication.factor`).
    pub replication_factor: Option<i16>,
    /// Partition → replica broker ids (overrides the two above).
    pub assignment: Option<BTreeMap<i32, Vec<i32>>>,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and `replication_factor` replicas.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            ..Default::default()
        }
    }
    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// A partition as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Index.
    pub partition: i32,
    /// Leader (`None`: offline).
    pub leader: Option<i32>,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
}

/// A topic as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Name.
    pub name: String,
    /// Topic id.
    pub topic_id: Uuid,
    /// Internal (`__consumer_offsets`, …).
    pub internal: bool,
    /// Partitions, by index.
    pub partitions: Vec<PartitionDescription>,
}

/// A broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Id.
    pub id: i32,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack.
    pub rack: Option<String>,
}

/// The cluster as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Controller (for clients, a broker id).
    pub controller: Option<i32>,
    /// Brokers.
    pub nodes: Vec<Node>,
}

/// What a config resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResourceKind {
    /// A topic.
    Topic,
    /// A broker (name: its id; empty: cluster default).
    Broker,
    /// Something else (wire value).
    Other(i8),
}

impl ConfigResourceKind {
    pub(crate) fn wire(self) -> i8 {
        match self {
            ConfigResourceKind::Topic => 2,
            ConfigResourceKind::Broker => 4,
            ConfigResourceKind::Other(v) => v,
        }
    }
    pub(crate) fn from_wire(v: i8) -> Self {
        match v {
            2 => ConfigResourceKind::Topic,
            4 => ConfigResourceKind::Broker,
            v => ConfigResourceKind::Other(v),
        }
    }
}

/// A config resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    /// Kind.
    pub kind: ConfigResourceKind,
    /// Name.
    pub name: String,
}

impl ConfigResource {
    /// A topic's configs.
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource { kind: ConfigResourceKind::Topic, name: name.into() }
    }
    /// A broker's configs.
    pub fn broker(id: i32) -> Self {
        ConfigResource { kind: ConfigResourceKind::Broker, name: id.to_string() }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ConfigResourceKind::Topic => write!(f, "topic {}", self.name),
            ConfigResourceKind::Broker => write!(f, "broker {}", self.name),
            ConfigResourceKind::Other(v) => write!(f, "resource {v}/{}", self.name),
        }
    }
}

/// Where a config value comes from (Java's `ConfigEntry.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set for this broker at runtime.
    DynamicBroker,
    /// Set for all brokers at runtime.
    DynamicDefaultBroker,
    /// From the broker's properties file.
    StaticBroker,
    /// The built-in default.
    Default,
    /// Another source (wire value).
    Other(i8),
}

impl ConfigSource {
    pub(crate) fn from_wire(v: i8) -> Self {
        match v {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            v => ConfigSource::Other(v),
        }
    }
}

/// One config value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Key.
    pub name: String,
    /// Value (`None` for sensitive values).
    pub value: Option<String>,
    /// Source.
    pub source: ConfigSource,
    /// Read-only.
    pub read_only: bool,
    /// Sensitive.
    pub sensitive: bool,
}

/// An incremental config change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum AlterOp {
    /// Set the value.
    Set = 0,
    /// Back to the default.
    Delete = 1,
    /// Append to a list.
    Append = 2,
    /// Remove from a list.
    Subtract = 3,
}

/// One incremental change to a config key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// Key.
    pub name: String,
    /// Operation.
    pub op: AlterOp,
    /// Value (not for `Delete`).
    pub value: Option<String>,
}

impl AlterConfigOp {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp { name: name.into(), op: AlterOp::Set, value: Some(value.into()) }
    }
    /// Resets `name` to its default.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp { name: name.into(), op: AlterOp::Delete, value: None }
    }
}

/// Which offset `list_offsets` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start.
    Earliest,
    /// The high watermark.
    Latest,
    /// The record with the largest timestamp.
    MaxTimestamp,
    /// The first offset with a timestamp at or after this (ms).
    ForTimestamp(i64),
}

impl OffsetSpec {
    pub(crate) fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::ForTimestamp(t) => t,
        }
    }
}

/// A `list_offsets` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// Offset (-1: none).
    pub offset: i64,
    /// That record's timestamp (-1 for earliest/latest).
    pub timestamp: i64,
    /// Leader epoch, if known.
    pub leader_epoch: Option<i32>,
}

//! `ConsumerGroupMetadata`: a consumer's group identity, shared by the consumer (which reports
//! it) and the transactional producer (which sends it with `TxnOffsetCommit`, KIP-447), and
//! `OffsetAndMetadata`, the committed offset the consumer, the producer and the admin client
//! all take and return. They live here so none of those crates depends on another.

/// The consumer's group identity, for `send_offsets_to_transaction` (Java's
/// `ConsumerGroupMetadata`, KIP-447: the group coordinator fences a zombie's offsets with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation (-1 outside a group generation).
    pub generation_id: i32,
    /// Our member id ("" outside a group).
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata for `group_id` outside any generation (Java's `new ConsumerGroupMetadata(groupId)`):
    /// the coordinator then skips the generation check.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// A committed offset (Java's `OffsetAndMetadata`): the next offset to consume, the leader
/// epoch of the last record consumed before it (KIP-320; validated after a leader change), and
/// free-form metadata stored with the commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata ("" when none, as in Java).
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no epoch and no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: String::new() }
    }

    /// With this free-form metadata.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }

    /// With the leader epoch of the last record consumed before the offset.
    pub fn with_leader_epoch(mut self, leader_epoch: i32) -> Self {
        self.leader_epoch = Some(leader_epoch);
        self
    }
}

impl From<i64> for OffsetAndMetadata {
    fn from(offset: i64) -> Self {
        OffsetAndMetadata::new(offset)
    }
}

/// Anything that names a topic partition (the consumer's `TopicPartition`, `(String, i32)`),
/// so the producer can take offsets keyed by it without depending on the consumer crate.
pub trait TopicPartitionRef {
    /// The topic.
    fn topic(&self) -> &str;
    /// The partition.
    fn partition(&self) -> i32;
}

impl TopicPartitionRef for (String, i32) {
    fn topic(&self) -> &str {
        &self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

impl TopicPartitionRef for (&str, i32) {
    fn topic(&self) -> &str {
        self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

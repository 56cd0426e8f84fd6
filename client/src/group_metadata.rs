//! `ConsumerGroupMetadata`: a consumer's group identity, shared by the consumer (which reports
//! it) and the transactional producer (which sends it with `TxnOffsetCommit`, KIP-447). It
//! lives here so neither crate depends on the other.

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

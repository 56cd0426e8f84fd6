//! Partition assignors (Java's `ConsumerPartitionAssignor`): the group leader runs the
//! selected assignor over every member's subscription and hands each member its partitions.
//!
//! Built-ins: [`RangeAssignor`] (`range`), [`RoundRobinAssignor`] (`roundrobin`),
//! [`StickyAssignor`] (`sticky`) and [`CooperativeStickyAssignor`] (`cooperative-sticky`).
//! All of them are pure functions of their inputs (no IO, no clock), so they are tested with
//! property tests beside the code.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::record::TopicPartition;

/// Which rebalance protocols an assignor supports (Java's `RebalanceProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Revoke everything before every rebalance.
    Eager,
    /// KIP-429: revoke only the partitions that move, then rebalance again.
    Cooperative,
}

/// One member's subscription, as the leader sees it (decoded `ConsumerProtocolSubscription`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics (sorted, unique).
    pub topics: Vec<String>,
    /// Assignor-specific data from [`Assignor::subscription_user_data`].
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (sent from protocol v1 on).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them (-1 when unknown; protocol v2+).
    pub generation_id: i32,
    /// The member's `client.rack` (protocol v3+).
    pub rack_id: Option<String>,
    /// `group.instance.id` of a static member (ordering hint for range/roundrobin, as Java).
    pub group_instance_id: Option<String>,
}

/// One member's assignment (decoded `ConsumerProtocolAssignment`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

/// What the leader knows about the topics members subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Topic → for each partition (index = partition id), the racks of its replicas
    /// (empty when unknown). A subscribed topic missing here does not exist (yet).
    pub topics: BTreeMap<String, Vec<Vec<String>>>,
}

impl ClusterView {
    /// Partition count of `topic`, if it exists.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(Vec::len)
    }
}

/// Error from an assignor (the leader fails the rebalance with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("assignor {assignor}: {message}")]
pub struct AssignorError {
    /// The assignor's name.
    pub assignor: String,
    /// What went wrong.
    pub message: String,
}

/// A partition assignor (Java's `ConsumerPartitionAssignor`). Member ids are the group's
/// member ids; the result must hold an entry for every member (possibly empty).
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name members advertise in JoinGroup (`range`, `cooperative-sticky`, …).
    fn name(&self) -> &str;

    /// Supported rebalance protocols, most preferred first.
    fn supported_protocols(&self) -> Vec<RebalanceProtocol> {
        vec![RebalanceProtocol::Eager]
    }

    /// Data this member adds to its subscription (the sticky assignor's owned partitions and
    /// generation for old protocol versions; `None` for most).
    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        None
    }

    /// Computes the assignment of every member.
    fn assign(
        &self,
        cluster: &ClusterView,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>, AssignorError>;

    /// Called on every member when its assignment arrives.
    fn on_assignment(&self, _assignment: &Assignment, _generation: i32) {}
}

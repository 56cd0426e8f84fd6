//! Partition assignors (Java's `ConsumerPartitionAssignor`): the group leader runs the
//! selected assignor over every member's subscription and hands each member its partitions.
//!
//! Built-ins: [`RangeAssignor`] (`range`), [`RoundRobinAssignor`] (`roundrobin`),
//! [`StickyAssignor`] (`sticky`) and [`CooperativeStickyAssignor`] (`cooperative-sticky`).
//! All of them are pure functions of their inputs (no IO, no clock), so they are tested with
//! property tests beside the code. `range`, `sticky` and `cooperative-sticky` are rack-aware
//! (KIP-881; `sticky_rack.rs` for the sticky ones).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::record::TopicPartition;

mod range;
mod round_robin;
mod sticky;
mod sticky_rack;
#[cfg(test)]
mod tests;

pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

/// The built-in assignor called `name`: its protocol name (`range`, `roundrobin`, `sticky`,
/// `cooperative-sticky`) or its Java class name (`org.apache.kafka.clients.consumer.RangeAssignor`
/// …), as `partition.assignment.strategy` accepts both. `None` for anything else.
pub fn by_name(name: &str) -> Option<Arc<dyn Assignor>> {
    const JAVA_PACKAGE: &str = "org.apache.kafka.clients.consumer.";
    let short = match name.trim().strip_prefix(JAVA_PACKAGE) {
        Some("RangeAssignor") => "range",
        Some("RoundRobinAssignor") => "roundrobin",
        Some("StickyAssignor") => "sticky",
        Some("CooperativeStickyAssignor") => "cooperative-sticky",
        Some(_) => return None,
        None => name.trim(),
    };
    match short {
        "range" => Some(Arc::new(RangeAssignor)),
        "roundrobin" => Some(Arc::new(RoundRobinAssignor)),
        "sticky" => Some(Arc::new(StickyAssignor::default())),
        "cooperative-sticky" => Some(Arc::new(CooperativeStickyAssignor::default())),
        _ => None,
    }
}

/// Members in Java's `MemberInfo` order: static members (with a `group.instance.id`) first,
/// by instance id, then dynamic members by member id. Range and round-robin hand out
/// partitions in this order, so a restarted static member keeps its partitions.
fn java_member_order(subscriptions: &BTreeMap<String, Subscription>) -> Vec<(&str, &Subscription)> {
    let mut members: Vec<(&str, &Subscription)> =
        subscriptions.iter().map(|(id, sub)| (id.as_str(), sub)).collect();
    members.sort_by(|(a_id, a), (b_id, b)| {
        match (a.group_instance_id.as_deref(), b.group_instance_id.as_deref()) {
            (Some(x), Some(y)) => x.cmp(y).then(a_id.cmp(b_id)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a_id.cmp(b_id),
        }
    });
    members
}

/// Turns member → partitions into the assignor output: every member present, partitions
/// sorted by topic then partition.
fn into_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
    mut partitions: BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Assignment> {
    subscriptions
        .keys()
        .map(|member| {
            let mut assigned = partitions.remove(member).unwrap_or_default();
            assigned.sort();
            assigned.dedup();
            (member.clone(), Assignment { partitions: assigned, user_data: None })
        })
        .collect()
}

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

//! `roundrobin` (Java's `RoundRobinAssignor`): every partition of every subscribed topic, in
//! topic then partition order, is dealt to the members in turn (Java's member order: static
//! members first by `group.instance.id`, then by member id), skipping a member that does not
//! subscribe to the partition's topic.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Assignment, Assignor, AssignorError, ClusterView, Subscription, into_assignments, java_member_order,
};
use crate::record::TopicPartition;

/// The `roundrobin` assignor (Java's `org.apache.kafka.clients.consumer.RoundRobinAssignor`),
/// eager.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        cluster: &ClusterView,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>, AssignorError> {
        let members = java_member_order(subscriptions);
        let topics: BTreeSet<&str> =
            subscriptions.values().flat_map(|s| s.topics.iter().map(String::as_str)).collect();
        let mut out: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
        let mut next = 0usize;
        for topic in topics {
            let count = cluster.partition_count(topic).unwrap_or(0);
            for partition in (0..count).filter_map(|p| i32::try_from(p).ok()) {
                // The topic has a subscriber (it came from a subscription), so this finds one
                // within a full turn; the bound only guards the loop.
                for _ in 0..members.len() {
                    let (member, sub) = members[next % members.len()];
                    next = (next + 1) % members.len();
                    if sub.topics.iter().any(|t| t == topic) {
                        out.entry(member.to_owned()).or_default().push(TopicPartition::new(topic, partition));
                        break;
                    }
                }
            }
        }
        Ok(into_assignments(subscriptions, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::tests::{cluster, sub};

    fn run(cluster: &ClusterView, subs: &BTreeMap<String, Subscription>) -> BTreeMap<String, Vec<String>> {
        let result = RoundRobinAssignor.assign(cluster, subs).expect("roundrobin never fails");
        result.into_iter().map(|(m, a)| (m, a.partitions.iter().map(ToString::to_string).collect())).collect()
    }

    #[test]
    fn java_example_two_members_two_topics() {
        let c = cluster(&[("t0", 3), ("t1", 3)]);
        let subs = BTreeMap::from([("C0".into(), sub(&["t0", "t1"])), ("C1".into(), sub(&["t0", "t1"]))]);
        let got = run(&c, &subs);
        assert_eq!(got["C0"], ["t0-0", "t0-2", "t1-1"]);
        assert_eq!(got["C1"], ["t0-1", "t1-0", "t1-2"]);
    }

    #[test]
    fn skips_members_not_subscribed() {
        // Java's example with C0: t0; C1: t0, t1; C2: t0, t1, t2 (1, 2 and 3 partitions).
        let c = cluster(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let subs = BTreeMap::from([
            ("C0".into(), sub(&["t0"])),
            ("C1".into(), sub(&["t0", "t1"])),
            ("C2".into(), sub(&["t0", "t1", "t2"])),
        ]);
        let got = run(&c, &subs);
        assert_eq!(got["C0"], ["t0-0"]);
        assert_eq!(got["C1"], ["t1-0"]);
        assert_eq!(got["C2"], ["t1-1", "t2-0", "t2-1", "t2-2"]);
    }

    #[test]
    fn edge_cases() {
        let c = cluster(&[("t", 2)]);
        assert!(run(&c, &BTreeMap::new()).is_empty());
        let subs = BTreeMap::from([("a".into(), sub(&["missing"])), ("b".into(), sub(&[]))]);
        let got = run(&c, &subs);
        assert!(got["a"].is_empty() && got["b"].is_empty());
    }

    #[test]
    fn static_members_come_first() {
        let c = cluster(&[("t", 3)]);
        let statik = Subscription { group_instance_id: Some("i".into()), ..sub(&["t"]) };
        let subs = BTreeMap::from([("a".into(), sub(&["t"])), ("z".into(), statik)]);
        let got = run(&c, &subs);
        assert_eq!(got["z"], ["t-0", "t-2"]);
        assert_eq!(got["a"], ["t-1"]);
    }
}

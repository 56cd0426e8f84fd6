//! `range` (Java's `RangeAssignor`): topic by topic, each subscriber gets a contiguous range.
//!
//! For every topic, its subscribers are put in Java's member order (static members first) and
//! the partitions are cut into `m` contiguous ranges; the first `n % m` members get one more.
//! Topics with the same subscribers and partition count are therefore co-partitioned: the
//! member that gets `t0-3` also gets `t1-3`.
//!
//! Rack-aware (KIP-881): when members send `client.rack` and the replicas of some topic's
//! partitions are not spread over every rack, each member first takes, within its usual quota,
//! the partitions with a replica in its rack (for co-partitioned topics, partition `p` of all
//! of them at once); the rest are then handed out as plain ranges. Quotas are unchanged, so
//! the balance is the same as without racks; with no rack information at all the result is
//! exactly the plain range assignment.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Assignment, Assignor, AssignorError, ClusterView, Subscription, into_assignments, java_member_order,
};
use crate::record::TopicPartition;

/// The `range` assignor (Java's `org.apache.kafka.clients.consumer.RangeAssignor`), eager.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        cluster: &ClusterView,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>, AssignorError> {
        Ok(into_assignments(subscriptions, assign_ranges(cluster, subscriptions)))
    }
}

/// Member → assigned partitions.
type Out = BTreeMap<String, Vec<TopicPartition>>;

/// The subscribers of one topic, in order, with their racks.
type Consumers<'a> = Vec<(&'a str, Option<&'a str>)>;

/// One topic during the assignment (Java's `TopicAssignmentState`). Consumers are referred to
/// by their index in `consumers`; co-partitioned topics share the same list.
#[derive(Debug)]
struct TopicState<'a> {
    topic: &'a str,
    consumers: Consumers<'a>,
    /// Racks of each partition's replicas; empty when no subscriber has a rack.
    partition_racks: Vec<BTreeSet<&'a str>>,
    needs_rack_aware: bool,
    unassigned: BTreeSet<i32>,
    assigned: Vec<usize>,
    per_consumer: usize,
    extra_left: usize,
}

impl<'a> TopicState<'a> {
    fn new(topic: &'a str, racks: &'a [Vec<String>], consumers: Consumers<'a>) -> Self {
        let n = racks.len();
        let m = consumers.len();
        let consumer_racks: BTreeSet<&str> = consumers.iter().filter_map(|c| c.1).collect();
        let partition_racks: Vec<BTreeSet<&str>> = if consumer_racks.is_empty() {
            Vec::new()
        } else {
            racks.iter().map(|r| r.iter().map(String::as_str).filter(|r| !r.is_empty()).collect()).collect()
        };
        TopicState {
            topic,
            needs_rack_aware: use_rack_aware(&consumer_racks, &partition_racks),
            partition_racks,
            unassigned: (0..n).filter_map(|p| i32::try_from(p).ok()).collect(),
            assigned: vec![0; m],
            per_consumer: n.checked_div(m).unwrap_or(0),
            extra_left: n.checked_rem(m).unwrap_or(0),
            consumers,
        }
    }

    /// Whether consumer `c` may take partition `p` on rack grounds (a consumer without a
    /// rack matches everything).
    fn racks_match(&self, c: usize, p: i32) -> bool {
        match self.consumers.get(c).and_then(|c| c.1) {
            None => true,
            Some(rack) => usize::try_from(p)
                .ok()
                .and_then(|p| self.partition_racks.get(p))
                .is_some_and(|racks| racks.contains(rack)),
        }
    }

    /// How many more partitions consumer `c` may take without breaking the range quotas.
    fn max_assignable(&self, c: usize) -> usize {
        let quota = self.per_consumer + usize::from(self.extra_left > 0);
        quota.saturating_sub(self.assigned.get(c).copied().unwrap_or(usize::MAX))
    }

    fn give(&mut self, c: usize, partitions: &[i32], out: &mut Out) {
        let (Some(count), Some(&(member, _))) = (self.assigned.get_mut(c), self.consumers.get(c)) else {
            return;
        };
        *count += partitions.len();
        if *count > self.per_consumer {
            self.extra_left = self.extra_left.saturating_sub(1);
        }
        let list = out.entry(member.to_owned()).or_default();
        for &p in partitions {
            self.unassigned.remove(&p);
            list.push(TopicPartition::new(self.topic, p));
        }
    }

    /// Walks the consumers in order, giving each the lowest unassigned partitions up to its
    /// quota; with `racks_only`, only partitions with a replica in the consumer's rack.
    fn assign_ranges(&mut self, racks_only: bool, out: &mut Out) {
        for c in 0..self.consumers.len() {
            if self.unassigned.is_empty() {
                break;
            }
            let picked: Vec<i32> = self
                .unassigned
                .iter()
                .copied()
                .filter(|&p| !racks_only || self.racks_match(c, p))
                .take(self.max_assignable(c))
                .collect();
            if !picked.is_empty() {
                self.give(c, &picked, out);
            }
        }
    }
}

/// Java's `useRackAwareAssignment`: some consumer rack holds replicas, and not every
/// partition is replicated on every rack (then racks could not change anything).
pub(super) fn use_rack_aware(consumer_racks: &BTreeSet<&str>, partition_racks: &[BTreeSet<&str>]) -> bool {
    let all: BTreeSet<&str> = partition_racks.iter().flatten().copied().collect();
    if consumer_racks.is_disjoint(&all) {
        return false;
    }
    !partition_racks.iter().all(|racks| *racks == all)
}

fn assign_ranges(cluster: &ClusterView, subscriptions: &BTreeMap<String, Subscription>) -> Out {
    let members = java_member_order(subscriptions);
    let topics: BTreeSet<&str> =
        subscriptions.values().flat_map(|s| s.topics.iter().map(String::as_str)).collect();
    let mut states: Vec<TopicState<'_>> = Vec::new();
    for topic in topics {
        let Some(racks) = cluster.topics.get(topic).filter(|r| !r.is_empty()) else {
            tracing::debug!(topic, "range: skipping topic without metadata");
            continue;
        };
        let consumers: Consumers<'_> = members
            .iter()
            .filter(|(_, sub)| sub.topics.iter().any(|t| t == topic))
            .map(|(id, sub)| (*id, sub.rack_id.as_deref().filter(|r| !r.is_empty())))
            .collect();
        states.push(TopicState::new(topic, racks, consumers));
    }

    let mut out = Out::new();
    if states.iter().any(|s| s.needs_rack_aware) {
        states = assign_with_rack_matching(states, &mut out);
    }
    for state in &mut states {
        state.assign_ranges(false, &mut out);
    }
    out
}

/// The rack-matching first pass: topics with the same subscribers and partition count are
/// handled together so they stay co-partitioned; a lone topic takes rack-matched ranges.
/// Returns the states for the plain pass.
fn assign_with_rack_matching<'a>(states: Vec<TopicState<'a>>, out: &mut Out) -> Vec<TopicState<'a>> {
    let mut groups: BTreeMap<(Consumers<'a>, usize), Vec<TopicState<'a>>> = BTreeMap::new();
    for state in states {
        let key = (state.consumers.clone(), state.unassigned.len());
        groups.entry(key).or_default().push(state);
    }
    let mut all = Vec::new();
    for ((consumers, partitions), mut group) in groups {
        if group.len() > 1 {
            assign_co_partitioned(&mut group, consumers.len(), partitions, out);
        } else {
            for state in group.iter_mut().filter(|s| s.needs_rack_aware) {
                state.assign_ranges(true, out);
            }
        }
        all.extend(group);
    }
    all
}

/// Gives partition `p` of every topic in `group` to the first consumer whose rack matches all
/// of them and that still has room in all of them.
fn assign_co_partitioned(group: &mut [TopicState<'_>], consumers: usize, partitions: usize, out: &mut Out) {
    let mut remaining: Vec<usize> = (0..consumers).collect();
    for p in (0..partitions).filter_map(|p| i32::try_from(p).ok()) {
        let found = remaining
            .iter()
            .position(|&c| group.iter().all(|t| t.racks_match(c, p) && t.max_assignable(c) > 0));
        let Some(pos) = found else { continue };
        let c = remaining[pos];
        for state in group.iter_mut() {
            state.give(c, &[p], out);
        }
        if group.iter().all(|t| t.max_assignable(c) == 0) {
            remaining.remove(pos);
            if remaining.is_empty() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::tests::{cluster, sub};

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter().map(|&(t, p)| TopicPartition::new(t, p)).collect()
    }

    fn run(
        cluster: &ClusterView,
        subs: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let result = RangeAssignor.assign(cluster, subs).expect("range never fails");
        result.into_iter().map(|(m, a)| (m, a.partitions)).collect()
    }

    fn racked(topics: &[&str], rack: &str) -> Subscription {
        Subscription { rack_id: Some(rack.to_owned()), ..sub(topics) }
    }

    /// A topic whose partition `i` has one replica, on `racks[i]`.
    fn racked_topic(racks: &[&str]) -> Vec<Vec<String>> {
        racks.iter().map(|r| vec![(*r).to_owned()]).collect()
    }

    #[test]
    fn java_example_two_members_two_topics() {
        let c = cluster(&[("t0", 3), ("t1", 3)]);
        let subs = BTreeMap::from([("C0".into(), sub(&["t0", "t1"])), ("C1".into(), sub(&["t0", "t1"]))]);
        let got = run(&c, &subs);
        assert_eq!(got["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(got["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn only_subscribers_get_a_topic_and_missing_topics_are_skipped() {
        let c = cluster(&[("t1", 3), ("t2", 2)]);
        let subs = BTreeMap::from([
            ("a".into(), sub(&["t1"])),
            ("b".into(), sub(&["t1", "t2", "gone"])),
            ("c".into(), sub(&[])),
        ]);
        let got = run(&c, &subs);
        assert_eq!(got["a"], tps(&[("t1", 0), ("t1", 1)]));
        assert_eq!(got["b"], tps(&[("t1", 2), ("t2", 0), ("t2", 1)]));
        assert_eq!(got["c"], vec![]);
    }

    #[test]
    fn no_members_and_no_topics() {
        assert!(run(&cluster(&[("t", 3)]), &BTreeMap::new()).is_empty());
        let subs = BTreeMap::from([("a".into(), sub(&["t"]))]);
        assert_eq!(run(&ClusterView::default(), &subs)["a"], vec![]);
    }

    #[test]
    fn static_members_come_first() {
        let c = cluster(&[("t", 3)]);
        let statik = Subscription { group_instance_id: Some("i".into()), ..sub(&["t"]) };
        let subs = BTreeMap::from([("a".into(), sub(&["t"])), ("z".into(), statik)]);
        let got = run(&c, &subs);
        assert_eq!(got["z"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(got["a"], tps(&[("t", 2)]));
    }

    #[test]
    fn racks_pick_local_partitions_with_the_same_balance() {
        let c =
            ClusterView { topics: BTreeMap::from([("t".into(), racked_topic(&["r1", "r1", "r0", "r0"]))]) };
        let subs = BTreeMap::from([("a".into(), racked(&["t"], "r0")), ("b".into(), racked(&["t"], "r1"))]);
        let got = run(&c, &subs);
        assert_eq!(got["a"], tps(&[("t", 2), ("t", 3)]));
        assert_eq!(got["b"], tps(&[("t", 0), ("t", 1)]));

        // Both on r0: a takes its two local partitions, b gets the rest; still 2 + 1.
        let c = ClusterView { topics: BTreeMap::from([("t".into(), racked_topic(&["r1", "r0", "r0"]))]) };
        let subs = BTreeMap::from([("a".into(), racked(&["t"], "r0")), ("b".into(), racked(&["t"], "r0"))]);
        let got = run(&c, &subs);
        assert_eq!(got["a"], tps(&[("t", 1), ("t", 2)]));
        assert_eq!(got["b"], tps(&[("t", 0)]));
    }

    #[test]
    fn racks_keep_co_partitioned_topics_together() {
        let racks = racked_topic(&["r1", "r0"]);
        let c = ClusterView { topics: BTreeMap::from([("t1".into(), racks.clone()), ("t2".into(), racks)]) };
        let subs = BTreeMap::from([
            ("a".into(), racked(&["t1", "t2"], "r0")),
            ("b".into(), racked(&["t1", "t2"], "r1")),
        ]);
        let got = run(&c, &subs);
        assert_eq!(got["a"], tps(&[("t1", 1), ("t2", 1)]));
        assert_eq!(got["b"], tps(&[("t1", 0), ("t2", 0)]));

        // Racks disagree between the topics: co-partitioning wins over rack matching.
        let c = ClusterView {
            topics: BTreeMap::from([
                ("t1".into(), racked_topic(&["r1", "r0"])),
                ("t2".into(), racked_topic(&["r0", "r1"])),
            ]),
        };
        let got = run(&c, &subs);
        assert_eq!(got["a"], tps(&[("t1", 0), ("t2", 0)]));
        assert_eq!(got["b"], tps(&[("t1", 1), ("t2", 1)]));
    }

    #[test]
    fn racks_everywhere_or_nowhere_change_nothing() {
        let plain = cluster(&[("t", 5)]);
        let everywhere = ClusterView {
            topics: BTreeMap::from([("t".into(), vec![vec!["r0".to_owned(), "r1".to_owned()]; 5])]),
        };
        let subs = BTreeMap::from([("a".into(), racked(&["t"], "r1")), ("b".into(), racked(&["t"], "r0"))]);
        let plain_subs = BTreeMap::from([("a".into(), sub(&["t"])), ("b".into(), sub(&["t"]))]);
        let expected = run(&plain, &plain_subs);
        assert_eq!(run(&everywhere, &subs), expected);
        assert_eq!(run(&plain, &subs), expected);
    }
}

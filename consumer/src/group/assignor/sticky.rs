//! `sticky` and `cooperative-sticky` (Java's `StickyAssignor`, `CooperativeStickyAssignor`,
//! both on `AbstractStickyAssignor`): balanced assignments that keep as many previously owned
//! partitions as possible.
//!
//! The shared algorithm (`sticky_assign`):
//!
//! 1. **Claims.** Each member claims the partitions it owned and the generation it owned them
//!    in. Claims of missing topics, of partitions beyond the topic's count and duplicates are
//!    ignored. A partition claimed by several members goes to the claim with the highest
//!    generation; a tie at the highest generation leaves it unowned (Java does the same). A
//!    member keeps an owned partition only if it still subscribes to its topic.
//! 2. **All members subscribe to the same topics** (the usual case): with `n` partitions and
//!    `m` members everyone gets `n / m` and `n % m` members one more; those extra slots go to
//!    the members that own the most, everyone keeps up to its quota of what it owns, and the
//!    rest fill the members below quota, least loaded first. This moves the fewest partitions
//!    possible, and a partition only moves from a member above its quota to one below it.
//! 3. **Otherwise**: unowned partitions go, most constrained first (fewest subscribers), to the
//!    least loaded subscriber. Then, while some chain of moves can take a partition off a
//!    member and add one to a member holding at least two fewer (each receiver subscribing to
//!    what it gets), the chain is applied: first moving only partitions nobody owned, then any.
//!    Each chain lowers the sum of squared counts, so this ends, and it ends at the best balance
//!    the subscriptions allow (no such chain left means that sum is minimal). Since owned
//!    partitions move only when free ones cannot balance, the cooperative follow-up rebalance
//!    places the withheld partitions without moving anything else.
//!
//! `cooperative-sticky` then withholds (KIP-429) every partition that would go to a member
//! that does not claim it while another member does: the owner revokes it, and the rebalance
//! that follows hands it out as an unowned partition.
//!
//! Where claims come from: `cooperative-sticky` reads [`Subscription::owned_partitions`] and
//! [`Subscription::generation_id`] (protocol v2+), or the generation from its user data (an
//! `int32`, Java's `CooperativeStickyAssignorUserData`) when the subscription has none. The
//! eager `sticky` reads its user data first, as Java does (eager members revoke everything
//! before joining, so Java members send no owned partitions): `StickyAssignorUserData` v1 (v0
//! without the generation), which [`StickyAssignor::subscription_user_data`] writes after
//! [`StickyAssignor::on_assignment`]. Without user data it falls back to the subscription's
//! owned partitions and generation.
//!
//! Rack awareness (KIP-881, when members send `client.rack`): see `sticky_rack.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::sticky_rack::{RackInfo, Tp, fill_by_rack, improve_by_swaps};
use super::{
    Assignment, Assignor, AssignorError, ClusterView, RebalanceProtocol, Subscription, into_assignments,
};
use crate::record::TopicPartition;

/// The generation of a member that has none (Java's `DEFAULT_GENERATION`).
const NO_GENERATION: i32 = -1;

/// The eager `sticky` assignor (Java's `org.apache.kafka.clients.consumer.StickyAssignor`).
#[derive(Debug, Default)]
pub struct StickyAssignor {
    /// This member's last assignment and its generation, for the next subscription's user
    /// data. Written by `on_assignment`, read by `subscription_user_data`.
    last: Mutex<Option<(Vec<TopicPartition>, i32)>>,
}

/// The `cooperative-sticky` assignor (Java's
/// `org.apache.kafka.clients.consumer.CooperativeStickyAssignor`): the sticky algorithm, with
/// partitions that change owner withheld for one rebalance (KIP-429).
#[derive(Debug)]
pub struct CooperativeStickyAssignor {
    /// The generation of this member's last assignment, sent in its user data.
    generation: AtomicI32,
}

impl Default for CooperativeStickyAssignor {
    fn default() -> Self {
        CooperativeStickyAssignor { generation: AtomicI32::new(NO_GENERATION) }
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        let last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        last.as_ref().map(|(partitions, generation)| encode_user_data(partitions, *generation))
    }

    fn assign(
        &self,
        cluster: &ClusterView,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>, AssignorError> {
        let claims = subscriptions.iter().map(|(m, s)| (m.as_str(), eager_claim(s))).collect();
        Ok(into_assignments(subscriptions, sticky_assign(cluster, subscriptions, &claims)))
    }

    fn on_assignment(&self, assignment: &Assignment, generation: i32) {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = Some((assignment.partitions.clone(), generation));
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> Vec<RebalanceProtocol> {
        vec![RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(&self.generation.load(Ordering::Relaxed).to_be_bytes()))
    }

    fn assign(
        &self,
        cluster: &ClusterView,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> Result<BTreeMap<String, Assignment>, AssignorError> {
        let claims: BTreeMap<&str, Claim> =
            subscriptions.iter().map(|(m, s)| (m.as_str(), cooperative_claim(s))).collect();
        let mut assigned = sticky_assign(cluster, subscriptions, &claims);

        // Who claims each partition, before any conflict resolution (Java uses the raw owned
        // partitions too): a partition going to a member that does not claim it, while another
        // member does, must first be revoked by that member.
        let mut claimants: BTreeMap<&TopicPartition, Vec<&str>> = BTreeMap::new();
        for (member, claim) in &claims {
            for tp in &claim.owned {
                claimants.entry(tp).or_default().push(member);
            }
        }
        for (member, partitions) in &mut assigned {
            partitions.retain(|tp| match claimants.get(tp) {
                Some(owners) if !owners.contains(&member.as_str()) => {
                    tracing::debug!(%tp, to = %member, from = ?owners, "cooperative-sticky: withholding a partition until it is revoked");
                    false
                }
                _ => true,
            });
        }
        Ok(into_assignments(subscriptions, assigned))
    }

    fn on_assignment(&self, _assignment: &Assignment, generation: i32) {
        self.generation.store(generation, Ordering::Relaxed);
    }
}

/// A member's previously owned partitions and the generation it owned them in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    owned: Vec<TopicPartition>,
    generation: i32,
}

/// The eager assignor's claim: the user data if there is any (Java reads only that), else the
/// subscription's own fields.
fn eager_claim(sub: &Subscription) -> Claim {
    match sub.user_data.as_ref().filter(|d| !d.is_empty()) {
        Some(data) => decode_user_data(data).unwrap_or_else(|| {
            tracing::warn!("sticky: ignoring user data that does not parse");
            Claim { owned: Vec::new(), generation: NO_GENERATION }
        }),
        None => Claim { owned: sub.owned_partitions.clone(), generation: sub.generation_id },
    }
}

/// The cooperative assignor's claim: owned partitions from the subscription; the generation
/// from the subscription (v2+) or else from the user data.
fn cooperative_claim(sub: &Subscription) -> Claim {
    let generation = if sub.generation_id != NO_GENERATION {
        sub.generation_id
    } else {
        match sub.user_data.as_deref() {
            Some([a, b, c, d, ..]) => i32::from_be_bytes([*a, *b, *c, *d]),
            _ => NO_GENERATION,
        }
    };
    Claim { owned: sub.owned_partitions.clone(), generation }
}

/// Writes Java's `StickyAssignorUserData` v1: `[topic: string, partitions: [int32]]`, then the
/// generation (`int32`); big-endian, `int16` string lengths, `int32` array lengths.
fn encode_user_data(partitions: &[TopicPartition], generation: i32) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        // Kafka topic names are at most 249 bytes; a longer one could not be written.
        if i16::try_from(tp.topic.len()).is_ok() {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
    }
    let mut buf = BytesMut::new();
    buf.put_i32(i32::try_from(by_topic.len()).unwrap_or(i32::MAX));
    for (topic, partitions) in by_topic {
        buf.put_i16(i16::try_from(topic.len()).unwrap_or(i16::MAX));
        buf.put_slice(topic.as_bytes());
        buf.put_i32(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
        partitions.iter().for_each(|&p| buf.put_i32(p));
    }
    buf.put_i32(generation);
    buf.freeze()
}

/// Reads `StickyAssignorUserData` v1, or v0 (no generation). `None` when it does not parse.
fn decode_user_data(mut data: &[u8]) -> Option<Claim> {
    fn len(data: &mut &[u8], width: usize) -> Option<usize> {
        if data.remaining() < width {
            return None;
        }
        let n = if width == 2 { i32::from(data.get_i16()) } else { data.get_i32() };
        usize::try_from(n).ok()
    }
    let mut owned = Vec::new();
    for _ in 0..len(&mut data, 4)? {
        let topic_len = len(&mut data, 2)?;
        let topic = std::str::from_utf8(data.get(..topic_len)?).ok()?.to_owned();
        data.advance(topic_len);
        for _ in 0..len(&mut data, 4)? {
            if data.remaining() < 4 {
                return None;
            }
            owned.push(TopicPartition::new(topic.clone(), data.get_i32()));
        }
    }
    let generation = if data.remaining() >= 4 { data.get_i32() } else { NO_GENERATION };
    Some(Claim { owned, generation })
}

/// The sticky algorithm (see the module docs). Returns member → assigned partitions.
fn sticky_assign(
    cluster: &ClusterView,
    subscriptions: &BTreeMap<String, Subscription>,
    claims: &BTreeMap<&str, Claim>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let topics: Vec<(&str, usize)> = subscriptions
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|t| cluster.partition_count(t).filter(|&n| n > 0).map(|n| (t, n)))
        .collect();
    let topic_index: BTreeMap<&str, usize> = topics.iter().enumerate().map(|(i, (t, _))| (*t, i)).collect();
    let members: Vec<&str> = subscriptions.keys().map(String::as_str).collect();
    let member_topics: Vec<BTreeSet<usize>> = subscriptions
        .values()
        .map(|s| s.topics.iter().filter_map(|t| topic_index.get(t.as_str()).copied()).collect())
        .collect();
    let all: Vec<Tp> = topics
        .iter()
        .enumerate()
        .flat_map(|(t, (_, n))| (0..*n).filter_map(move |p| Some((t, i32::try_from(p).ok()?))))
        .collect();

    // 1. Resolve claims: partition → (best generation, its only claimant at that generation).
    let mut best: BTreeMap<Tp, (i32, Option<usize>)> = BTreeMap::new();
    for (m, member) in members.iter().enumerate() {
        let Some(claim) = claims.get(member) else { continue };
        for tp in &claim.owned {
            let Some(&t) = topic_index.get(tp.topic.as_str()) else { continue };
            if usize::try_from(tp.partition).map_or(true, |p| p >= topics[t].1) {
                continue;
            }
            let entry = best.entry((t, tp.partition)).or_insert((claim.generation, Some(m)));
            if claim.generation > entry.0 {
                *entry = (claim.generation, Some(m));
            } else if claim.generation == entry.0 && entry.1 != Some(m) {
                tracing::warn!(%tp, generation = claim.generation, "sticky: several members claim a partition in the same generation; none keeps it");
                entry.1 = None;
            }
        }
    }
    let mut owned: Vec<BTreeSet<Tp>> = vec![BTreeSet::new(); members.len()];
    for (tp, (_, owner)) in &best {
        match *owner {
            Some(m) if member_topics[m].contains(&tp.0) => {
                owned[m].insert(*tp);
            }
            _ => {}
        }
    }

    let racks = RackInfo::new(cluster, &topics, subscriptions.values());
    let identical = member_topics.windows(2).all(|w| w[0] == w[1]);
    let current = if identical {
        assign_identical(&all, owned, &racks)
    } else {
        assign_general(&all, &member_topics, owned, &racks)
    };

    members
        .iter()
        .zip(current)
        .map(|(member, set)| {
            let list = set.into_iter().map(|(t, p)| TopicPartition::new(topics[t].0, p)).collect();
            ((*member).to_owned(), list)
        })
        .collect()
}

/// Step 2: every member subscribes to the same topics (with racks: `sticky_rack.rs`).
fn assign_identical(all: &[Tp], mut current: Vec<BTreeSet<Tp>>, racks: &RackInfo<'_>) -> Vec<BTreeSet<Tp>> {
    let m = current.len();
    let (Some(quota), Some(extra)) = (all.len().checked_div(m), all.len().checked_rem(m)) else {
        return current;
    };
    // The extra slots go to the members owning the most (then by member id).
    let mut by_owned: Vec<usize> = (0..m).collect();
    by_owned.sort_by_key(|&i| (std::cmp::Reverse(current[i].len()), i));
    let mut cap = vec![quota; m];
    for &i in by_owned.iter().take(extra) {
        cap[i] = quota + 1;
    }
    // with racks, owned partitions outside the member's rack may be revoked
    let mut maybe_revoked: Vec<BTreeSet<Tp>> = vec![BTreeSet::new(); m];
    if racks.active {
        for (i, set) in current.iter_mut().enumerate() {
            let (mismatched, kept): (BTreeSet<Tp>, BTreeSet<Tp>) =
                std::mem::take(set).into_iter().partition(|tp| racks.mismatch(i, tp));
            *set = kept;
            maybe_revoked[i] = mismatched;
        }
    }
    for (set, &cap) in current.iter_mut().zip(&cap) {
        while set.len() > cap {
            set.pop_last();
        }
    }
    let kept: BTreeSet<Tp> = current.iter().flatten().copied().collect();
    let mut free: BTreeSet<Tp> = all.iter().filter(|tp| !kept.contains(tp)).copied().collect();
    if racks.active {
        fill_by_rack(&mut current, &cap, &mut free, racks);
        for (i, revoked) in maybe_revoked.iter().enumerate() {
            for tp in revoked {
                if current[i].len() < cap[i] && free.remove(tp) {
                    current[i].insert(*tp);
                }
            }
        }
    }
    for tp in all.iter().filter(|tp| free.contains(tp)) {
        let lightest = (0..m).filter(|&i| current[i].len() < cap[i]).min_by_key(|&i| current[i].len());
        if let Some(i) = lightest {
            current[i].insert(*tp);
        }
    }
    if racks.active {
        improve_by_swaps(&mut current, &kept, racks);
    }
    current
}

/// Step 3: members subscribe to different topics.
fn assign_general(
    all: &[Tp],
    member_topics: &[BTreeSet<usize>],
    mut current: Vec<BTreeSet<Tp>>,
    racks: &RackInfo<'_>,
) -> Vec<BTreeSet<Tp>> {
    let owned = current.clone();
    let subscribers = |t: usize| (0..member_topics.len()).filter(move |&i| member_topics[i].contains(&t));
    let taken: BTreeSet<Tp> = current.iter().flatten().copied().collect();
    let mut unowned: Vec<Tp> = all.iter().copied().filter(|tp| !taken.contains(tp)).collect();
    unowned.sort_by_key(|&(t, p)| (subscribers(t).count(), t, p));
    for tp in unowned {
        // at equal load, prefer a member in the partition's racks
        if let Some(i) = subscribers(tp.0).min_by_key(|&i| (current[i].len(), !racks.matches(i, &tp))) {
            current[i].insert(tp);
        }
    }
    // Balance with the partitions nobody owned first, so owned ones move only when that is
    // the only way to balance.
    for only_free in [true, false] {
        while let Some(path) = find_path(member_topics, &current, &owned, only_free) {
            for (from, to, tp) in path {
                current[from].remove(&tp);
                current[to].insert(tp);
            }
        }
    }
    current
}

/// A chain of moves `(from, to, partition)` that takes one partition off a member and adds one
/// to a member holding at least two fewer (each receiver subscribes to the topic it receives;
/// the members in between give one and take one). `only_free`: move only partitions their
/// holder did not own before this rebalance; otherwise prefer those. `None` when no such chain
/// exists, which makes the sum of squared counts minimal: the best balance the subscriptions
/// allow.
fn find_path(
    member_topics: &[BTreeSet<usize>],
    current: &[BTreeSet<Tp>],
    owned: &[BTreeSet<Tp>],
    only_free: bool,
) -> Option<Vec<(usize, usize, Tp)>> {
    let m = current.len();
    // The partition of each topic a member would give away.
    let movable = |i: usize| -> BTreeMap<usize, Tp> {
        let mut by_topic = BTreeMap::new();
        for &tp in &current[i] {
            let free = !owned[i].contains(&tp);
            if free || !only_free {
                let slot = by_topic.entry(tp.0).or_insert((free, tp));
                if free && !slot.0 {
                    *slot = (free, tp);
                }
            }
        }
        by_topic.into_iter().map(|(t, (_, tp))| (t, tp)).collect()
    };
    let min_load = current.iter().map(BTreeSet::len).min().unwrap_or(0);
    let mut sources: Vec<usize> = (0..m).collect();
    sources.sort_by_key(|&i| (std::cmp::Reverse(current[i].len()), i));
    for src in sources {
        let load = current[src].len();
        if load < min_load + 2 {
            break;
        }
        let mut via: Vec<Option<(usize, Tp)>> = vec![None; m];
        let mut seen = vec![false; m];
        seen[src] = true;
        let mut queue = std::collections::VecDeque::from([src]);
        let mut best: Option<usize> = None;
        while let Some(a) = queue.pop_front() {
            let gives = movable(a);
            for b in 0..m {
                let Some(tp) = member_topics[b].iter().find_map(|t| gives.get(t)) else { continue };
                if seen[b] {
                    continue;
                }
                seen[b] = true;
                via[b] = Some((a, *tp));
                queue.push_back(b);
                if current[b].len() + 2 <= load && best.is_none_or(|x| current[b].len() < current[x].len()) {
                    best = Some(b);
                }
            }
        }
        if let Some(mut b) = best {
            let mut path = Vec::new();
            while let Some((a, tp)) = via[b] {
                path.push((a, b, tp));
                b = a;
            }
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::assignor::tests::{cluster, sub};

    fn owning(topics: &[&str], owned: &[(&str, i32)], generation: i32) -> Subscription {
        let owned_partitions = owned.iter().map(|&(t, p)| TopicPartition::new(t, p)).collect();
        Subscription { owned_partitions, generation_id: generation, ..sub(topics) }
    }

    fn run(
        assignor: &dyn Assignor,
        c: &ClusterView,
        subs: &[(&str, Subscription)],
    ) -> BTreeMap<String, Vec<String>> {
        let subs = subs.iter().map(|(m, s)| ((*m).to_owned(), s.clone())).collect();
        let result = assignor.assign(c, &subs).expect("sticky never fails");
        result.into_iter().map(|(m, a)| (m, a.partitions.iter().map(ToString::to_string).collect())).collect()
    }

    #[test]
    fn adding_a_member_moves_one_partition_eager_and_withholds_it_cooperative() {
        let c = cluster(&[("t", 3)]);
        let subs = [("c1", owning(&["t"], &[("t", 0), ("t", 1), ("t", 2)], 1)), ("c2", sub(&["t"]))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!((got["c1"].len(), got["c2"].len()), (2, 1));

        let got = run(&CooperativeStickyAssignor::default(), &c, &subs);
        assert_eq!(got["c1"], ["t-0", "t-1"]);
        assert!(got["c2"].is_empty(), "t-2 must be revoked by c1 first");
        let subs = [("c1", owning(&["t"], &[("t", 0), ("t", 1)], 2)), ("c2", owning(&["t"], &[], 2))];
        let got = run(&CooperativeStickyAssignor::default(), &c, &subs);
        assert_eq!(
            (got["c1"].clone(), got["c2"].clone()),
            (vec!["t-0".into(), "t-1".into()], vec!["t-2".into()])
        );
    }

    #[test]
    fn conflicting_claims_go_to_the_highest_generation() {
        let c = cluster(&[("t", 2)]);
        let subs = [("a", owning(&["t"], &[("t", 0)], 3)), ("b", owning(&["t"], &[("t", 0), ("t", 1)], 2))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!((got["a"].clone(), got["b"].clone()), (vec!["t-0".into()], vec!["t-1".into()]));
        // Same generation: nobody keeps t-0, so b (owning t-1 too) does not get both.
        let subs = [("a", owning(&["t"], &[("t", 1)], 3)), ("b", owning(&["t"], &[("t", 0), ("t", 1)], 3))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!(got["a"].len() + got["b"].len(), 2);
        assert_eq!(got["a"].len(), 1);
    }

    #[test]
    fn stale_claims_are_ignored() {
        let c = cluster(&[("t", 2)]);
        let stale = [("t", 5), ("gone", 0), ("t", 0), ("t", 0), ("t", -1)];
        let subs = [("a", owning(&["t"], &stale, 1)), ("b", sub(&["t"]))];
        for assignor in [&StickyAssignor::default() as &dyn Assignor, &CooperativeStickyAssignor::default()] {
            let got = run(assignor, &c, &subs);
            assert_eq!(got["a"], ["t-0"], "{}", assignor.name());
            assert_eq!(got["b"], ["t-1"], "{}", assignor.name());
        }
        // a still owns u-0 from before it dropped topic u: b gets it once a has revoked it.
        let c = cluster(&[("t", 2), ("u", 1)]);
        let subs = [("a", owning(&["t"], &[("t", 0), ("t", 1), ("u", 0)], 1)), ("b", sub(&["u"]))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!((got["a"].len(), got["b"].clone()), (2, vec!["u-0".into()]));
        let got = run(&CooperativeStickyAssignor::default(), &c, &subs);
        assert_eq!((got["a"].len(), got["b"].len()), (2, 0));
    }

    #[test]
    fn different_subscriptions_are_balanced_as_far_as_they_allow() {
        let c = cluster(&[("t1", 2), ("t2", 4)]);
        let subs = [("a", sub(&["t1"])), ("b", sub(&["t1", "t2"])), ("c", sub(&["t2"]))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!(got["a"], ["t1-0", "t1-1"]);
        assert_eq!((got["b"].len(), got["c"].len()), (2, 2));
        // a owned everything: it gives up t2 (no longer subscribed) and keeps t1.
        let subs = [("a", owning(&["t1"], &[("t1", 0), ("t1", 1), ("t2", 0)], 1)), ("b", sub(&["t2"]))];
        let got = run(&StickyAssignor::default(), &c, &subs);
        assert_eq!(got["a"], ["t1-0", "t1-1"]);
        assert_eq!(got["b"], ["t2-0", "t2-1", "t2-2", "t2-3"]);
    }

    #[test]
    fn racks_win_over_stickiness_eager_and_are_withheld_cooperative() {
        // t-0, t-1 live in rack a; t-2, t-3 in rack b
        let racks = |r: &str| vec![r.to_owned()];
        let c = ClusterView {
            topics: [("t".to_owned(), vec![racks("a"), racks("a"), racks("b"), racks("b")])].into(),
        };
        let in_rack = |r: &str, s: Subscription| Subscription { rack_id: Some(r.into()), ..s };
        let fresh = [("x", in_rack("b", sub(&["t"]))), ("y", in_rack("a", sub(&["t"])))];
        let got = run(&StickyAssignor::default(), &c, &fresh);
        assert_eq!(
            (got["x"].clone(), got["y"].clone()),
            (vec!["t-2".into(), "t-3".into()], vec!["t-0".into(), "t-1".into()])
        );
        // x owns the rack-a partitions: they move to y, as in Java (maybeRevokedPartitions)
        let owned = [
            ("x", in_rack("b", owning(&["t"], &[("t", 0), ("t", 1)], 1))),
            ("y", in_rack("a", owning(&["t"], &[("t", 2), ("t", 3)], 1))),
        ];
        let got = run(&StickyAssignor::default(), &c, &owned);
        assert_eq!(got["x"], ["t-2", "t-3"]);
        let got = run(&CooperativeStickyAssignor::default(), &c, &owned);
        assert!(got["x"].is_empty() && got["y"].is_empty(), "revoked first: {got:?}");
        // rack b full: partitions outside their owners' rack that nobody in their rack can
        // take stay with their owners (not handed out afresh, which would swap t-0 and t-1)
        let owned = [
            ("x", in_rack("b", owning(&["t"], &[("t", 1), ("t", 2)], 1))),
            ("y", in_rack("b", owning(&["t"], &[("t", 0), ("t", 3)], 1))),
        ];
        for assignor in [&StickyAssignor::default() as &dyn Assignor, &CooperativeStickyAssignor::default()] {
            let got = run(assignor, &c, &owned);
            assert_eq!(got["x"], ["t-1", "t-2"], "{}", assignor.name());
            assert_eq!(got["y"], ["t-0", "t-3"], "{}", assignor.name());
        }
    }

    #[test]
    fn no_members_or_no_topics() {
        let c = cluster(&[("t", 2)]);
        assert!(run(&StickyAssignor::default(), &c, &[]).is_empty());
        let got = run(&CooperativeStickyAssignor::default(), &c, &[("a", sub(&[])), ("b", sub(&["nope"]))]);
        assert!(got["a"].is_empty() && got["b"].is_empty());
    }

    #[test]
    fn user_data_is_java_sticky_assignor_user_data_v1() {
        let parts = [TopicPartition::new("t", 1), TopicPartition::new("t", 0)];
        let bytes = encode_user_data(&parts, 5);
        let java = [0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(&bytes[..], &java[..]);
        let claim = decode_user_data(&bytes).expect("round trip");
        assert_eq!((claim.owned.as_slice(), claim.generation), (&parts[..], 5));
        // v0 has no generation.
        assert_eq!(decode_user_data(&java[..19]).map(|c| c.generation), Some(NO_GENERATION));
        for bad in [&java[..5], &java[..17], &[0xff, 0xff, 0xff, 0xff][..], &[0, 0, 0, 1, 0xff, 0xff][..]] {
            assert_eq!(decode_user_data(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn eager_sticky_reads_owned_partitions_from_user_data() {
        let assignor = StickyAssignor::default();
        assert_eq!(assignor.subscription_user_data(&[]), None);
        let assignment = Assignment { partitions: vec![TopicPartition::new("t", 2)], user_data: None };
        assignor.on_assignment(&assignment, 7);
        let data = assignor.subscription_user_data(&["t".into()]);
        let a = Subscription { user_data: data, ..sub(&["t"]) };
        let got = run(&assignor, &cluster(&[("t", 3)]), &[("a", a), ("b", sub(&["t"])), ("c", sub(&["t"]))]);
        assert_eq!(got["a"], ["t-2"]);
    }

    #[test]
    fn cooperative_generation_travels_in_user_data() {
        let assignor = CooperativeStickyAssignor::default();
        assert_eq!(
            assignor.supported_protocols(),
            [RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
        );
        assignor.on_assignment(&Assignment::default(), 9);
        let user_data = assignor.subscription_user_data(&[]);
        let s =
            Subscription { user_data, owned_partitions: vec![TopicPartition::new("t", 0)], ..sub(&["t"]) };
        assert_eq!(cooperative_claim(&s).generation, 9);
        assert_eq!(cooperative_claim(&Subscription { generation_id: 4, ..s }).generation, 4);
    }
}

//! Property tests over random groups for every built-in assignor, and helpers shared with the
//! unit tests beside each assignor.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

/// A cluster with `(topic, partition count)` and no rack information.
pub(super) fn cluster(topics: &[(&str, usize)]) -> ClusterView {
    let topics = topics.iter().map(|&(t, n)| (t.to_owned(), vec![Vec::new(); n])).collect();
    ClusterView { topics }
}

/// A subscription to `topics` with no history.
pub(super) fn sub(topics: &[&str]) -> Subscription {
    let topics = topics.iter().map(|t| (*t).to_owned()).collect();
    Subscription { topics, generation_id: -1, ..Subscription::default() }
}

type Subs = BTreeMap<String, Subscription>;
type Owners = BTreeMap<TopicPartition, String>;

fn all_assignors() -> Vec<Arc<dyn Assignor>> {
    ["range", "roundrobin", "sticky", "cooperative-sticky"].iter().filter_map(|n| by_name(n)).collect()
}

fn sticky_assignors() -> Vec<Arc<dyn Assignor>> {
    ["sticky", "cooperative-sticky"].iter().filter_map(|n| by_name(n)).collect()
}

/// Random group: 1–10 topics of 1–20 partitions, 1–8 members each subscribing to a random
/// subset (possibly empty, sometimes with a topic missing from the cluster); with `identical`,
/// every member subscribes to the same non-empty subset.
fn group(identical: bool) -> impl Strategy<Value = (ClusterView, Subs)> {
    let topics = prop::collection::vec(1..=20usize, 1..=10);
    let masks = prop::collection::vec((any::<u16>(), any::<bool>()), 1..=8);
    (topics, masks, any::<u16>()).prop_map(move |(counts, masks, shared)| {
        let names: Vec<String> = (0..counts.len()).map(|i| format!("t{i}")).collect();
        let topics = names.iter().zip(&counts).map(|(t, &n)| (t.clone(), vec![Vec::new(); n])).collect();
        let pick = |mask: u16| -> Vec<String> {
            names.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, t)| t.clone()).collect()
        };
        let subs = masks
            .iter()
            .enumerate()
            .map(|(i, &(mask, ghost))| {
                let mut topics = if identical { pick(shared | 1) } else { pick(mask) };
                if ghost && !identical {
                    topics.push("ghost".into());
                }
                let s = Subscription { topics, generation_id: -1, ..Subscription::default() };
                // Ids not in insertion order, so the order of members matters somewhere.
                (format!("m{}", (i * 5) % 8), s)
            })
            .collect();
        (ClusterView { topics }, subs)
    })
}

fn owners(result: &BTreeMap<String, Assignment>) -> Owners {
    result.iter().flat_map(|(m, a)| a.partitions.iter().map(move |tp| (tp.clone(), m.clone()))).collect()
}

/// Every member present; each partition given at most once (exactly once with `complete`),
/// only to a subscriber, and only if it exists.
fn check_valid(
    cluster: &ClusterView,
    subs: &Subs,
    result: &BTreeMap<String, Assignment>,
    complete: bool,
) -> Result<(), TestCaseError> {
    prop_assert!(result.keys().eq(subs.keys()), "members {:?} vs {:?}", result.keys(), subs.keys());
    let mut seen = BTreeSet::new();
    for (member, assignment) in result {
        for tp in &assignment.partitions {
            prop_assert!(seen.insert(tp.clone()), "{tp} assigned twice");
            prop_assert!(subs[member].topics.contains(&tp.topic), "{member} got {tp} without subscribing");
            let count = cluster.partition_count(&tp.topic).unwrap_or(0);
            prop_assert!(usize::try_from(tp.partition).is_ok_and(|p| p < count), "{tp} does not exist");
        }
    }
    if complete {
        let topics: BTreeSet<&String> = subs.values().flat_map(|s| &s.topics).collect();
        let expected: usize = topics.iter().filter_map(|t| cluster.partition_count(t)).sum();
        prop_assert_eq!(seen.len(), expected, "not every partition is assigned");
    }
    Ok(())
}

/// The subscriptions again, each member claiming what `result` gave it, in `generation`.
fn feed_back(subs: &Subs, result: &BTreeMap<String, Assignment>, generation: i32) -> Subs {
    subs.iter()
        .map(|(m, s)| {
            let owned_partitions = result.get(m).map(|a| a.partitions.clone()).unwrap_or_default();
            (m.clone(), Subscription { owned_partitions, generation_id: generation, ..s.clone() })
        })
        .collect()
}

fn assign(assignor: &dyn Assignor, cluster: &ClusterView, subs: &Subs) -> BTreeMap<String, Assignment> {
    assignor.assign(cluster, subs).unwrap_or_default()
}

/// Assigns, and for a cooperative assignor runs the follow-up rebalance that hands out the
/// revoked partitions (checking the first round never gives away an owned partition).
fn settle(
    assignor: &dyn Assignor,
    cluster: &ClusterView,
    subs: &Subs,
    generation: i32,
) -> Result<BTreeMap<String, Assignment>, TestCaseError> {
    let first = assign(assignor, cluster, subs);
    if !assignor.supported_protocols().contains(&RebalanceProtocol::Cooperative) {
        check_valid(cluster, subs, &first, true)?;
        return Ok(first);
    }
    check_valid(cluster, subs, &first, false)?;
    for (member, assignment) in &first {
        for tp in &assignment.partitions {
            let claimed_by_other = subs.iter().any(|(m, s)| m != member && s.owned_partitions.contains(tp));
            prop_assert!(
                !claimed_by_other || subs[member].owned_partitions.contains(tp),
                "{tp} given to {member} before its owner revoked it"
            );
        }
    }
    let next = feed_back(subs, &first, generation + 1);
    let second = assign(assignor, cluster, &next);
    check_valid(cluster, &next, &second, true)?;
    Ok(second)
}

fn spread(counts: impl Iterator<Item = usize> + Clone) -> usize {
    counts.clone().max().unwrap_or(0) - counts.min().unwrap_or(0)
}

#[test]
fn by_name_knows_protocol_and_java_class_names() {
    for (name, protocol) in [
        ("range", "range"),
        ("roundrobin", "roundrobin"),
        ("sticky", "sticky"),
        ("cooperative-sticky", "cooperative-sticky"),
        ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
        ("org.apache.kafka.clients.consumer.RoundRobinAssignor", "roundrobin"),
        ("org.apache.kafka.clients.consumer.StickyAssignor", "sticky"),
        ("org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "cooperative-sticky"),
    ] {
        assert_eq!(by_name(name).map(|a| a.name().to_owned()).as_deref(), Some(protocol), "{name}");
    }
    for unknown in ["", "Range", "uniform", "org.apache.kafka.clients.consumer.Uniform"] {
        assert!(by_name(unknown).is_none(), "{unknown}");
    }
    let cooperative = by_name("cooperative-sticky").map(|a| a.supported_protocols());
    assert_eq!(cooperative, Some(vec![RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]));
    assert_eq!(by_name("sticky").map(|a| a.supported_protocols()), Some(vec![RebalanceProtocol::Eager]));
}

proptest! {
    #[test]
    fn every_partition_goes_to_exactly_one_subscriber((cluster, subs) in group(false)) {
        for assignor in all_assignors() {
            let result = assign(assignor.as_ref(), &cluster, &subs);
            check_valid(&cluster, &subs, &result, true)?;
        }
    }

    #[test]
    fn identical_subscriptions_are_balanced((cluster, subs) in group(true)) {
        for assignor in all_assignors() {
            let result = assign(assignor.as_ref(), &cluster, &subs);
            if assignor.name() == "range" {
                // Range balances each topic, not the total (Java's example gives 4 and 2).
                for topic in cluster.topics.keys() {
                    let per_member = result.values().map(|a| a.partitions.iter().filter(|tp| &tp.topic == topic).count());
                    prop_assert!(spread(per_member) <= 1, "range unbalanced on {topic}: {result:?}");
                }
            } else {
                prop_assert!(spread(result.values().map(|a| a.partitions.len())) <= 1, "{} unbalanced: {result:?}", assignor.name());
            }
        }
    }

    #[test]
    fn racks_absent_or_everywhere_change_nothing((cluster, subs) in group(false), racks in prop::collection::vec(0..3u8, 8)) {
        let racked_subs: Subs = subs.iter().zip(&racks).map(|((m, s), r)| {
            (m.clone(), Subscription { rack_id: Some(format!("r{r}")), ..s.clone() })
        }).collect();
        let everywhere = ClusterView {
            topics: cluster.topics.iter().map(|(t, p)| (t.clone(), vec![vec!["r0".into(), "r1".into(), "r2".into()]; p.len()])).collect(),
        };
        let plain = assign(&RangeAssignor, &cluster, &subs);
        prop_assert_eq!(&assign(&RangeAssignor, &cluster, &racked_subs), &plain);
        prop_assert_eq!(&assign(&RangeAssignor, &everywhere, &racked_subs), &plain);
    }

    #[test]
    fn rack_aware_range_keeps_validity_and_per_topic_balance((cluster, subs) in group(true), racks in prop::collection::vec(0..3u8, 8), replica_seed in any::<u64>()) {
        let subs: Subs = subs.iter().zip(&racks).map(|((m, s), r)| {
            (m.clone(), Subscription { rack_id: Some(format!("r{r}")), ..s.clone() })
        }).collect();
        let mut seed = replica_seed;
        let cluster = ClusterView {
            topics: cluster.topics.iter().map(|(t, p)| (t.clone(), (0..p.len()).map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                vec![format!("r{}", (seed >> 33) % 3)]
            }).collect())).collect(),
        };
        let result = assign(&RangeAssignor, &cluster, &subs);
        check_valid(&cluster, &subs, &result, true)?;
        for topic in cluster.topics.keys() {
            let per_member = result.values().map(|a| a.partitions.iter().filter(|tp| &tp.topic == topic).count());
            prop_assert!(spread(per_member) <= 1, "unbalanced on {topic}: {result:?}");
        }
    }

    #[test]
    fn sticky_balances_different_subscriptions((cluster, subs) in group(false)) {
        for assignor in sticky_assignors() {
            let result = settle(assignor.as_ref(), &cluster, &subs, 1)?;
            // No member could take a partition of its topics from one holding two more.
            for (giver, given) in &result {
                for (taker, taken) in &result {
                    let could = given.partitions.iter().any(|tp| subs[taker].topics.contains(&tp.topic));
                    prop_assert!(!could || given.partitions.len() < taken.partitions.len() + 2,
                        "{}: {taker} could take from {giver}: {result:?}", assignor.name());
                }
            }
        }
    }

    #[test]
    fn sticky_assignments_are_stable((cluster, subs) in group(false)) {
        for assignor in sticky_assignors() {
            let first = settle(assignor.as_ref(), &cluster, &subs, 1)?;
            let again = assign(assignor.as_ref(), &cluster, &feed_back(&subs, &first, 3));
            prop_assert_eq!(owners(&again), owners(&first), "{} moved partitions with nothing changed", assignor.name());
        }
    }

    #[test]
    fn sticky_handles_random_and_conflicting_claims(
        (cluster, subs) in group(false),
        claims in prop::collection::vec((0..8usize, 0..12usize, -1..25i32), 0..60),
        generations in prop::collection::vec(-1..4i32, 8),
    ) {
        let members: Vec<String> = subs.keys().cloned().collect();
        let mut subs = subs;
        for (m, t, p) in claims {
            let member = &members[m % members.len()];
            if let Some(s) = subs.get_mut(member) {
                s.owned_partitions.push(TopicPartition::new(format!("t{t}"), p));
            }
        }
        for (s, g) in subs.values_mut().zip(generations) {
            s.generation_id = g;
        }
        for assignor in sticky_assignors() {
            settle(assignor.as_ref(), &cluster, &subs, 4)?;
        }
    }

    #[test]
    fn adding_or_removing_a_member_moves_the_fewest_partitions((cluster, subs) in group(true), remove in any::<prop::sample::Index>(), add in any::<bool>()) {
        for assignor in sticky_assignors() {
            let before = settle(assignor.as_ref(), &cluster, &subs, 1)?;
            let mut next = feed_back(&subs, &before, 3);
            if add {
                let topics = subs.values().next().map(|s| s.topics.clone()).unwrap_or_default();
                next.insert("new".into(), Subscription { topics, generation_id: -1, ..Subscription::default() });
            } else {
                let gone = remove.get(&subs.keys().cloned().collect::<Vec<_>>()).clone();
                next.remove(&gone);
                if next.is_empty() {
                    continue;
                }
            }
            let after = settle(assignor.as_ref(), &cluster, &next, 3)?;

            // The fewest moves: the largest old owners get the n % m bigger quotas.
            let total = owners(&before).len();
            let (quota, extra) = (total / next.len(), total % next.len());
            let mut old_counts: Vec<usize> = next.keys().map(|m| before.get(m).map_or(0, |a| a.partitions.len())).collect();
            old_counts.sort_unstable_by(|a, b| b.cmp(a));
            let kept: usize = old_counts.iter().enumerate().map(|(i, &c)| c.min(quota + usize::from(i < extra))).sum();
            let old = owners(&before);
            let new = owners(&after);
            let moved: Vec<_> = old.iter().filter(|(tp, m)| new.get(*tp) != Some(*m)).collect();
            prop_assert_eq!(moved.len(), total - kept, "{} moved {:?}", assignor.name(), moved);
            for (tp, from) in moved {
                let to = &new[tp];
                prop_assert!(!(next.contains_key(from) && before.contains_key(to)), "{} moved {tp} from {from} to {to}, both staying", assignor.name());
            }
        }
    }
}

/// `subs` with member racks `r0`..`r2` from `racks`, and `cluster` with one or two replica
/// racks per partition drawn from `seed` (two racks make greedy placement fall short).
fn with_racks(cluster: &ClusterView, subs: &Subs, racks: &[u8], seed: u64) -> (ClusterView, Subs) {
    let subs = subs
        .iter()
        .zip(racks.iter().cycle())
        .map(|((m, s), r)| (m.clone(), Subscription { rack_id: Some(format!("r{r}")), ..s.clone() }))
        .collect();
    let mut seed = seed;
    let topics = cluster
        .topics
        .iter()
        .map(|(t, p)| {
            let racks = (0..p.len())
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let first = (seed >> 33) % 3;
                    let mut racks = vec![format!("r{first}")];
                    if (seed >> 40) % 2 == 0 {
                        racks.push(format!("r{}", (first + 1 + (seed >> 45) % 2) % 3));
                    }
                    racks
                })
                .collect();
            (t.clone(), racks)
        })
        .collect();
    (ClusterView { topics }, subs)
}

/// Whether `member` may hold `tp` on rack grounds (no rack, or a replica in its rack).
fn rack_ok(cluster: &ClusterView, subs: &Subs, member: &str, tp: &TopicPartition) -> bool {
    let Some(rack) = subs[member].rack_id.as_deref() else { return true };
    let racks = usize::try_from(tp.partition).ok().and_then(|p| cluster.topics.get(&tp.topic)?.get(p));
    racks.is_none_or(|r| r.is_empty() || r.iter().any(|x| x == rack))
}

/// No two members could swap a partition each (both subscribed) and have more partitions in
/// their racks.
fn no_improving_swap(
    cluster: &ClusterView,
    subs: &Subs,
    result: &BTreeMap<String, Assignment>,
) -> Result<(), TestCaseError> {
    let ok = |m: &str, tp: &TopicPartition| i32::from(rack_ok(cluster, subs, m, tp));
    for (a, pa) in result {
        for x in pa.partitions.iter().filter(|x| !rack_ok(cluster, subs, a, x)) {
            for (b, pb) in result.iter().filter(|(b, _)| *b != a && subs[*b].topics.contains(&x.topic)) {
                for y in pb.partitions.iter().filter(|y| subs[a].topics.contains(&y.topic)) {
                    prop_assert!(
                        ok(b, x) + ok(a, y) <= ok(a, x) + ok(b, y),
                        "{a} ({:?}) and {b} ({:?}) could swap {x} and {y}: {result:?}",
                        subs[a].rack_id,
                        subs[b].rack_id
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn rack_aware_sticky_is_balanced_rack_matched_and_stable(
        (cluster, subs) in group(true),
        racks in prop::collection::vec(0..3u8, 8),
        seed in any::<u64>(),
    ) {
        let (cluster, subs) = with_racks(&cluster, &subs, &racks, seed);
        for assignor in sticky_assignors() {
            let result = settle(assignor.as_ref(), &cluster, &subs, 1)?;
            prop_assert!(spread(result.values().map(|a| a.partitions.len())) <= 1, "{} unbalanced: {result:?}", assignor.name());
            no_improving_swap(&cluster, &subs, &result)?;
            let again = assign(assignor.as_ref(), &cluster, &feed_back(&subs, &result, 3));
            prop_assert_eq!(owners(&again), owners(&result), "{} moved partitions with nothing changed", assignor.name());
        }
    }

    #[test]
    fn rack_aware_sticky_balances_different_subscriptions_and_is_stable(
        (cluster, subs) in group(false),
        racks in prop::collection::vec(0..3u8, 8),
        seed in any::<u64>(),
    ) {
        let (cluster, subs) = with_racks(&cluster, &subs, &racks, seed);
        for assignor in sticky_assignors() {
            let result = settle(assignor.as_ref(), &cluster, &subs, 1)?;
            for (giver, given) in &result {
                for (taker, taken) in &result {
                    let could = given.partitions.iter().any(|tp| subs[taker].topics.contains(&tp.topic));
                    prop_assert!(!could || given.partitions.len() < taken.partitions.len() + 2,
                        "{}: {taker} could take from {giver}: {result:?}", assignor.name());
                }
            }
            let again = assign(assignor.as_ref(), &cluster, &feed_back(&subs, &result, 3));
            prop_assert_eq!(owners(&again), owners(&result), "{} moved partitions with nothing changed", assignor.name());
        }
    }
}

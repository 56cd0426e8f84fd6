//! Rack awareness for `sticky` and `cooperative-sticky` (KIP-881, Java's
//! `AbstractStickyAssignor` with `RackInfo`).
//!
//! Active only when some member sends `client.rack`, replica racks are known, and not every
//! partition has a replica in every rack (Java's `useRackAwareAssignment`, shared with range);
//! otherwise the sticky assignors behave exactly as without racks.
//!
//! When every member subscribes to the same topics (the usual case), quotas are fixed first
//! (as without racks, so balance within one is unchanged), then:
//!
//! 1. a member keeps the owned partitions its rack holds a replica of (up to its quota); owned
//!    partitions outside its rack may be revoked (Java's `maybeRevokedPartitions`);
//! 2. free partitions go, most constrained first (fewest members in their racks), to the least
//!    loaded member below quota in one of their racks;
//! 3. partitions from step 1 that no member in their racks could take go back to their owner
//!    (stickiness), then the rest fill the members below quota, least loaded first;
//! 4. among the partitions handed out in this rebalance (never the kept ones), two members
//!    swap partitions while that raises the number of rack-matched partitions.
//!
//! A rebalance with nothing changed therefore moves nothing: the kept partitions stay, and a
//! partition left outside its rack had no member in its rack with room and no swap partner.
//! With different subscriptions, a free partition goes to the least loaded subscriber,
//! preferring one in its racks at equal load; owned partitions are kept as without racks.

use std::collections::{BTreeMap, BTreeSet};

use super::range::use_rack_aware;
use super::{ClusterView, Subscription};

/// A partition as (topic index, partition id), as in `sticky.rs`.
pub(super) type Tp = (usize, i32);

/// Member and partition racks, by member index and partition.
#[derive(Debug, Default)]
pub(super) struct RackInfo<'a> {
    member_racks: Vec<Option<&'a str>>,
    partition_racks: BTreeMap<Tp, BTreeSet<&'a str>>,
    /// Whether racks can change anything (see the module docs).
    pub(super) active: bool,
}

impl<'a> RackInfo<'a> {
    /// `topics`: (name, partition count) by topic index; `subscriptions` in member order.
    pub(super) fn new(
        cluster: &'a ClusterView,
        topics: &[(&'a str, usize)],
        subscriptions: impl Iterator<Item = &'a Subscription>,
    ) -> Self {
        let member_racks: Vec<Option<&str>> =
            subscriptions.map(|s| s.rack_id.as_deref().filter(|r| !r.is_empty())).collect();
        let consumer_racks: BTreeSet<&str> = member_racks.iter().flatten().copied().collect();
        if consumer_racks.is_empty() {
            return RackInfo { member_racks, ..RackInfo::default() };
        }
        let mut partition_racks = BTreeMap::new();
        for (t, (name, n)) in topics.iter().enumerate() {
            let Some(racks) = cluster.topics.get(*name) else { continue };
            for p in 0..*n {
                let set: BTreeSet<&str> = racks
                    .get(p)
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .filter(|r| !r.is_empty())
                    .collect();
                if let Ok(p) = i32::try_from(p) {
                    partition_racks.insert((t, p), set);
                }
            }
        }
        let lists: Vec<BTreeSet<&str>> = partition_racks.values().cloned().collect();
        let active = use_rack_aware(&consumer_racks, &lists);
        RackInfo { member_racks, partition_racks, active }
    }

    /// Java's `racksMismatch`: member `m` has a rack, the partition's racks are known, and
    /// they do not include it.
    pub(super) fn mismatch(&self, m: usize, tp: &Tp) -> bool {
        match (self.member_racks.get(m).copied().flatten(), self.partition_racks.get(tp)) {
            (Some(rack), Some(racks)) => !racks.is_empty() && !racks.contains(rack),
            _ => false,
        }
    }

    /// Member `m`'s rack holds a replica of the partition.
    pub(super) fn matches(&self, m: usize, tp: &Tp) -> bool {
        match (self.member_racks.get(m).copied().flatten(), self.partition_racks.get(tp)) {
            (Some(rack), Some(racks)) => racks.contains(rack),
            _ => false,
        }
    }
}

/// Step 2: free partitions to members below `cap` in their racks, most constrained first.
pub(super) fn fill_by_rack(
    current: &mut [BTreeSet<Tp>],
    cap: &[usize],
    free: &mut BTreeSet<Tp>,
    racks: &RackInfo<'_>,
) {
    let m = current.len();
    let mut order: Vec<(usize, Tp)> = free
        .iter()
        .map(|tp| ((0..m).filter(|&i| racks.matches(i, tp)).count(), *tp))
        .filter(|(n, _)| *n > 0)
        .collect();
    order.sort_unstable();
    for (_, tp) in order {
        let best = (0..m)
            .filter(|&i| current[i].len() < cap[i] && racks.matches(i, &tp))
            .min_by_key(|&i| current[i].len());
        if let Some(i) = best {
            current[i].insert(tp);
            free.remove(&tp);
        }
    }
}

/// Step 4: swaps between members of partitions not in `fixed` while a swap raises the
/// number of partitions whose member is not outside their racks. Each swap raises that
/// number, so this ends after at most one swap per partition.
pub(super) fn improve_by_swaps(current: &mut [BTreeSet<Tp>], fixed: &BTreeSet<Tp>, racks: &RackInfo<'_>) {
    let ok = |i: usize, tp: &Tp| i32::from(!racks.mismatch(i, tp));
    let m = current.len();
    loop {
        let mut swap = None;
        'search: for a in 0..m {
            for x in current[a].iter().filter(|x| !fixed.contains(x) && racks.mismatch(a, x)) {
                for b in (0..m).filter(|&b| b != a && !racks.mismatch(b, x)) {
                    let y = current[b]
                        .iter()
                        .find(|y| !fixed.contains(*y) && ok(b, x) + ok(a, y) > ok(a, x) + ok(b, y));
                    if let Some(y) = y {
                        swap = Some((a, *x, b, *y));
                        break 'search;
                    }
                }
            }
        }
        let Some((a, x, b, y)) = swap else { return };
        current[a].remove(&x);
        current[b].remove(&y);
        current[a].insert(y);
        current[b].insert(x);
    }
}

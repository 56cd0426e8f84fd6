//! Leader elections (ElectLeaders) and partition reassignments (AlterPartitionReassignments,
//! ListPartitionReassignments), as Kafka's KRaft controller makes them
//! (`ReplicationControlManager.electLeader` / `changePartitionReassignment`).
//!
//! Every replica of the in-memory cluster shares one log, so a new replica is caught up at once:
//! a reassignment completes immediately unless the cluster was built with a
//! `reassignment_delay`, during which the partition's replicas are the target followed by the
//! replicas being removed, and the added replicas stay out of the ISR (as in Kafka while they
//! catch up). Completion (by `State::tick` or the next List) drops the removed replicas and
//! moves the leader if it is no longer a replica.

use kafka_protocol::{ErrorCode, Uuid};

use std::collections::BTreeMap;

use super::{Partition, State, Topic};

/// A partition reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The topic's id when the reassignment started (a recreated topic does not inherit it).
    pub topic_id: Uuid,
    /// The replicas before the reassignment.
    pub original: Vec<i32>,
    /// The requested replicas.
    pub target: Vec<i32>,
    /// Replicas being added (in the target, not in the original), ascending.
    pub adding: Vec<i32>,
    /// Replicas being removed (in the original, not in the target), ascending.
    pub removing: Vec<i32>,
    /// When the reassignment completes (ms since the epoch).
    pub complete_at_ms: i64,
}

/// ElectLeaders' election type (KIP-460).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Make the first replica the leader if it is alive and in sync.
    Preferred,
    /// Elect any alive replica when the partition has no leader.
    Unclean,
}

/// Why an election or reassignment was refused: Kafka's error code and message.
pub type ControllerError = (ErrorCode, Option<String>);

fn sorted_difference(a: &[i32], b: &[i32]) -> Vec<i32> {
    let mut out: Vec<i32> = a.iter().copied().filter(|x| !b.contains(x)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Checks a requested replica list as Kafka's `validateManualPartitionAssignment` does.
fn validate_assignment(replicas: &[i32], broker_ids: &[i32]) -> Result<(), ControllerError> {
    let invalid = |m: String| (ErrorCode::InvalidReplicaAssignment, Some(m));
    if replicas.is_empty() {
        return Err(invalid("The manual partition assignment includes an empty replica list.".into()));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    let mut prev = None;
    for id in sorted {
        if !broker_ids.contains(&id) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            )));
        }
        if prev == Some(id) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        prev = Some(id);
    }
    Ok(())
}

/// Moves the leader to the first in-sync replica if the current one is gone or not a replica.
fn ensure_leader(p: &mut Partition) {
    if p.leader == -1 || !p.replicas.contains(&p.leader) || !p.isr.contains(&p.leader) {
        let next = p.isr.first().copied().unwrap_or(-1);
        if next != p.leader {
            p.set_leader(next);
        }
    }
}

/// Completes a reassignment: replicas become the target, added replicas join the ISR.
fn finish(p: &mut Partition, target: &[i32], adding: &[i32], live: &[i32]) {
    let old_isr = std::mem::take(&mut p.isr);
    p.replicas = target.to_vec();
    p.isr = target
        .iter()
        .copied()
        .filter(|r| live.contains(r) && (old_isr.contains(r) || adding.contains(r)))
        .collect();
    ensure_leader(p);
}

/// Undoes a reassignment in progress (Kafka's `PartitionReassignmentRevert`).
fn revert(p: &mut Partition, r: &Reassignment, live: &[i32]) {
    p.replicas = r.original.clone();
    p.isr.retain(|x| !r.adding.contains(x) && r.original.contains(x));
    if p.isr.is_empty() {
        p.isr = r.original.iter().copied().filter(|x| live.contains(x)).take(1).collect();
    }
    ensure_leader(p);
}

/// A partition by name and index, with the controller's UNKNOWN_TOPIC_OR_PARTITION messages.
fn find_partition<'t>(
    topics: &'t mut BTreeMap<String, Topic>,
    topic: &str,
    partition: i32,
    unknown_topic: impl FnOnce() -> String,
    unknown_partition: impl FnOnce() -> String,
) -> Result<(Uuid, &'t mut Partition), ControllerError> {
    let t =
        topics.get_mut(topic).ok_or_else(|| (ErrorCode::UnknownTopicOrPartition, Some(unknown_topic())))?;
    let id = t.id;
    let p = usize::try_from(partition)
        .ok()
        .and_then(|i| t.partitions.get_mut(i))
        .ok_or_else(|| (ErrorCode::UnknownTopicOrPartition, Some(unknown_partition())))?;
    Ok((id, p))
}

impl State {
    /// Elects a leader for one partition (ElectLeaders). Preferred: the first replica, if it
    /// is alive and in the ISR (`ELECTION_NOT_NEEDED` when it already leads,
    /// `PREFERRED_LEADER_NOT_AVAILABLE` otherwise). Unclean: only for a partition without a
    /// leader; an alive in-sync replica if there is one, else any alive replica, which becomes
    /// the whole ISR (`ELIGIBLE_LEADERS_NOT_AVAILABLE` when none is alive). The leader epoch is
    /// bumped on every change.
    pub fn elect_leader(
        &mut self,
        topic: &str,
        partition: i32,
        ty: ElectionType,
    ) -> Result<(), ControllerError> {
        let live = self.live_brokers();
        let (_, p) = find_partition(
            &mut self.topics,
            topic,
            partition,
            || format!("No such topic as {topic}"),
            || format!("No such partition as {topic}-{partition}"),
        )?;
        match ty {
            ElectionType::Preferred => {
                let preferred = p.replicas.first().copied().unwrap_or(-1);
                if p.leader == preferred {
                    return Err((ErrorCode::ElectionNotNeeded, None));
                }
                if !live.contains(&preferred) || !p.isr.contains(&preferred) {
                    return Err((ErrorCode::PreferredLeaderNotAvailable, None));
                }
                p.set_leader(preferred);
            }
            ElectionType::Unclean => {
                if p.leader != -1 {
                    return Err((ErrorCode::ElectionNotNeeded, None));
                }
                let in_sync = p.isr.iter().copied().find(|r| live.contains(r) && p.replicas.contains(r));
                let leader = match in_sync {
                    Some(r) => r,
                    None => {
                        let any = p.replicas.iter().copied().find(|r| live.contains(r));
                        let r = any.ok_or((ErrorCode::EligibleLeadersNotAvailable, None))?;
                        p.isr = vec![r];
                        r
                    }
                };
                p.set_leader(leader);
            }
        }
        tracing::info!(topic, partition, leader = p.leader, epoch = p.leader_epoch, ?ty, "leader elected");
        Ok(())
    }

    /// Starts (or, with `target` None, cancels) a reassignment of one partition
    /// (AlterPartitionReassignments). A reassignment that adds no replica, or any reassignment
    /// when the cluster has no reassignment delay, completes at once.
    pub fn reassign_partition(
        &mut self,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
        now_ms: i64,
    ) -> Result<(), ControllerError> {
        let live = self.live_brokers();
        let broker_ids: Vec<i32> = self.brokers.iter().map(|b| b.id).collect();
        let delay = i64::try_from(self.settings.reassignment_delay_ms).unwrap_or(i64::MAX);
        let key = (topic.to_owned(), partition);
        let ongoing = self.reassignments.get(&key).cloned();
        let (topic_id, p) = find_partition(
            &mut self.topics,
            topic,
            partition,
            || format!("Unable to find a topic named {topic}."),
            || format!("Unable to find partition {topic}:{partition}."),
        )?;
        let ongoing = ongoing.filter(|r| r.topic_id == topic_id);
        let Some(target) = target else {
            let r = ongoing.ok_or((ErrorCode::NoReassignmentInProgress, None))?;
            revert(p, &r, &live);
            self.reassignments.remove(&key);
            tracing::info!(topic, partition, replicas = ?r.original, "reassignment cancelled");
            return Ok(());
        };
        validate_assignment(target, &broker_ids)?;
        // a new reassignment replaces one in progress: it starts from the original replicas
        let original = match &ongoing {
            Some(r) => {
                revert(p, r, &live);
                r.original.clone()
            }
            None => p.replicas.clone(),
        };
        let adding = sorted_difference(target, &original);
        let removing = sorted_difference(&original, target);
        self.reassignments.remove(&key);
        if delay == 0 || adding.is_empty() {
            finish(p, target, &adding, &live);
            tracing::info!(topic, partition, replicas = ?target, leader = p.leader, "reassignment completed");
            return Ok(());
        }
        p.replicas = target.iter().chain(&removing).copied().collect();
        tracing::info!(topic, partition, replicas = ?p.replicas, ?adding, ?removing, "reassignment started");
        self.reassignments.insert(
            key,
            Reassignment {
                topic_id,
                original,
                target: target.to_vec(),
                adding,
                removing,
                complete_at_ms: now_ms.saturating_add(delay),
            },
        );
        Ok(())
    }

    /// Completes the reassignments whose delay has passed (and forgets those of deleted
    /// topics). Returns whether any partition changed.
    pub fn complete_reassignments(&mut self, now_ms: i64) -> bool {
        let live = self.live_brokers();
        let due: Vec<(String, i32)> = self
            .reassignments
            .iter()
            .filter(|(_, r)| r.complete_at_ms <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        let mut changed = false;
        for key in due {
            let Some(r) = self.reassignments.remove(&key) else { continue };
            let p = self
                .topics
                .get_mut(&key.0)
                .filter(|t| t.id == r.topic_id)
                .and_then(|t| t.partitions.get_mut(usize::try_from(key.1).ok()?));
            if let Some(p) = p {
                finish(p, &r.target, &r.adding, &live);
                tracing::info!(topic = key.0, partition = key.1, replicas = ?r.target, "reassignment completed");
                changed = true;
            }
        }
        self.reassignments.retain(|(t, _), r| self.topics.get(t).is_some_and(|t| t.id == r.topic_id));
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BrokerState, Settings};

    fn state(brokers: i32, delay_ms: u64) -> State {
        let settings = Settings {
            cluster_id: "c".into(),
            auto_create_topics: false,
            default_partitions: 1,
            default_replication_factor: 1,
            group_initial_rebalance_delay_ms: 0,
            transaction_max_timeout_ms: 60_000,
            reassignment_delay_ms: delay_ms,
            rack_aware_replica_selector: false,
            transaction_version: 2,
        };
        let bs = (1..=brokers).map(|id| BrokerState { id, port: 0, rack: None, up: true }).collect();
        State::new(settings, bs)
    }

    #[test]
    fn delayed_reassignment_is_in_progress_then_completes() {
        let mut st = state(4, 100);
        st.create_topic("t", 1, 1, Some(vec![vec![1, 2]]), Default::default()).unwrap();
        st.reassign_partition("t", 0, Some(&[3, 4]), 1_000).unwrap();
        let p = &st.topics["t"].partitions[0];
        assert_eq!(p.replicas, vec![3, 4, 1, 2]);
        assert_eq!(p.leader, 1);
        let r = &st.reassignments[&("t".to_owned(), 0)];
        assert_eq!((r.adding.clone(), r.removing.clone()), (vec![3, 4], vec![1, 2]));
        assert!(!st.complete_reassignments(1_099));
        assert!(st.complete_reassignments(1_100));
        let p = &st.topics["t"].partitions[0];
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader, p.leader_epoch),
            (vec![3, 4], vec![3, 4], 3, 1)
        );
        assert!(st.reassignments.is_empty());
    }

    #[test]
    fn cancel_reverts_to_the_original_replicas() {
        let mut st = state(3, 10_000);
        st.create_topic("t", 1, 1, Some(vec![vec![1]]), Default::default()).unwrap();
        st.reassign_partition("t", 0, Some(&[2]), 0).unwrap();
        st.reassign_partition("t", 0, None, 1).unwrap();
        let p = &st.topics["t"].partitions[0];
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.leader, p.leader_epoch), (vec![1], vec![1], 1, 0));
        let err = st.reassign_partition("t", 0, None, 2).unwrap_err();
        assert_eq!(err.0, ErrorCode::NoReassignmentInProgress);
    }
}

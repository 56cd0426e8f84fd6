//! KIP-320 truncation detection (Java's `SubscriptionState` position validation and
//! `OffsetsForLeaderEpochUtils`).
//!
//! A fetch position remembers the leader epoch of the last batch fetched (or of the committed
//! offset it came from). When metadata shows a larger leader epoch for the partition than the
//! one the position was last known valid under, the partition stops fetching
//! (`awaiting_validation`, Java's `AWAIT_VALIDATION`) until an OffsetForLeaderEpoch request
//! to the current leader (its current epoch + the position's epoch) answers the end offset of
//! that epoch in the leader's log. An end offset below the position means the log was
//! truncated under the consumer (an unclean leader election): with a reset policy the
//! position moves back to that end offset, the largest offset both logs agree on, so the
//! records written since are read and none is skipped; with `auto.offset.reset=none`,
//! `poll` fails with [`Error::LogTruncation`]. A Fetch answer that carries a diverging epoch
//! (Fetch v12+, the consumer sends its last fetched epoch) is handled the same way without
//! the extra round trip.
//!
//! Nothing is validated while the epoch stays the same, and a failed validation waits
//! `retry.backoff.ms` before the next, so an idle consumer sends no OffsetForLeaderEpoch.

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use kafka_client::Purpose;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::OffsetForLeaderEpochRequest;
use kafka_protocol::generated::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use tokio::time::Instant;

use crate::config::OffsetReset;
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// What the leader's end offset for the position's epoch says about the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpochCheck {
    /// The leader's log holds the position: fetch on.
    Valid,
    /// The log was truncated below the position. `Some((offset, epoch))`: the first offset
    /// known to diverge and its epoch; `None`: the leader knows no such epoch (undefined
    /// answer), so only a reset can help.
    Truncated(Option<(i64, i32)>),
}

/// Java's `maybeCompleteValidation` decision for a position at `fetch_offset`, given the
/// leader's answer (`epoch`, `end_offset`) for the position's epoch.
pub(crate) fn check(fetch_offset: i64, epoch: i32, end_offset: i64) -> EpochCheck {
    if epoch < 0 || end_offset < 0 {
        EpochCheck::Truncated(None)
    } else if end_offset < fetch_offset {
        EpochCheck::Truncated(Some((end_offset, epoch)))
    } else {
        EpochCheck::Valid
    }
}

/// One partition to validate: its fetch position, that position's epoch and the leader's
/// current epoch.
struct Pending {
    tp: TopicPartition,
    position: i64,
    epoch: i32,
    current_leader_epoch: i32,
}

impl Consumer {
    /// Java's `maybeValidatePositionForCurrentLeader`, for every assigned partition: a leader
    /// epoch in metadata larger than the one the position is valid under starts a validation
    /// (only if the position has an epoch to validate). Cheap: one map lookup per partition.
    pub(crate) fn note_leader_epochs(&mut self, snap: &kafka_client::metadata::MetadataCache) {
        for (tp, st) in self.assignment.iter_mut() {
            if st.fetch_position.is_none() {
                continue;
            }
            let Some(current) = snap.partition(&tp.topic, tp.partition).and_then(|p| p.leader_epoch) else {
                continue;
            };
            match st.leader_epoch {
                Some(known) if current > known => {
                    st.leader_epoch = Some(current);
                    if st.fetch_epoch.is_some() && !st.awaiting_validation {
                        tracing::debug!(%tp, known, current, "leader epoch changed; validating the position");
                        st.awaiting_validation = true;
                        st.validation_retry_at = None;
                    }
                }
                Some(_) => {}
                None => st.leader_epoch = Some(current),
            }
        }
    }

    /// Sends OffsetForLeaderEpoch for the partitions awaiting validation (per leader, all at
    /// once) and applies the answers. Changes state only after its last await, so a dropped
    /// `poll` loses nothing; an answer for a position that moved meanwhile is ignored.
    pub(crate) async fn validate_positions(&mut self) -> Result<()> {
        let now = Instant::now();
        let snap = self.metadata.snapshot();
        // (send_fetches notes epoch changes too; noting here validates in the same poll)
        self.note_leader_epochs(&snap);
        let mut by_leader: HashMap<i32, Vec<Pending>> = HashMap::new();
        let mut need_metadata = false;
        for (tp, st) in self.assignment.iter_mut() {
            if !st.awaiting_validation || st.validation_retry_at.is_some_and(|t| t > now) {
                continue;
            }
            let (Some(position), Some(epoch)) = (st.fetch_position, st.fetch_epoch) else {
                // nothing to validate (a reset is pending, or the position has no epoch)
                st.awaiting_validation = false;
                continue;
            };
            let meta = snap.partition(&tp.topic, tp.partition);
            let (Some(leader), current) = (meta.and_then(|m| m.leader), meta.and_then(|m| m.leader_epoch))
            else {
                need_metadata = true;
                continue;
            };
            let Some(current) = current else {
                // Java skips validation when the leader's epoch is unknown (old brokers)
                st.awaiting_validation = false;
                continue;
            };
            st.leader_epoch = Some(current);
            by_leader.entry(leader).or_default().push(Pending {
                tp: tp.clone(),
                position,
                epoch,
                current_leader_epoch: current,
            });
        }
        if need_metadata {
            self.metadata.request_update();
        }
        if by_leader.is_empty() {
            return Ok(());
        }
        let requests = by_leader.into_iter().map(|(leader, parts)| {
            let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
            for p in &parts {
                topics.entry(&p.tp.topic).or_default().push(OffsetForLeaderPartition {
                    partition: p.tp.partition,
                    current_leader_epoch: p.current_leader_epoch,
                    leader_epoch: p.epoch,
                    ..Default::default()
                });
            }
            let req = OffsetForLeaderEpochRequest {
                // CONSUMER_REPLICA_ID (v3+)
                replica_id: -1,
                topics: topics
                    .into_iter()
                    .map(|(t, ps)| OffsetForLeaderTopic {
                        topic: t.to_owned(),
                        partitions: ps,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let pool = self.metadata.client().clone();
            async move { (parts, pool.send(leader, Purpose::Fetch, &req).await) }
        });
        let answers = join_all(requests).await;
        // no await below: apply
        let retry_at = Instant::now() + self.cfg.client.retry_backoff;
        for (parts, resp) in answers {
            let resp = match resp {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, "OffsetForLeaderEpoch failed; retrying after backoff");
                    self.metadata.request_update();
                    self.validation_backoff(parts.iter().map(|p| &p.tp), retry_at);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for p in &parts {
                let answer = resp
                    .topics
                    .iter()
                    .filter(|t| t.topic == p.tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|r| r.partition == p.tp.partition);
                let still = self.assignment.get(&p.tp).is_some_and(|st| {
                    st.awaiting_validation
                        && st.fetch_position == Some(p.position)
                        && st.fetch_epoch == Some(p.epoch)
                });
                if !still {
                    continue;
                }
                let Some(answer) = answer else {
                    self.validation_backoff([&p.tp], retry_at);
                    continue;
                };
                match ErrorCode::from(answer.error_code) {
                    ErrorCode::None => {
                        self.apply_epoch_end(&p.tp, p.position, answer.leader_epoch, answer.end_offset)?
                    }
                    code if code.is_retriable() || kafka_client::metadata::needs_metadata_refresh(code) => {
                        tracing::debug!(tp = %p.tp, ?code, "OffsetForLeaderEpoch: retrying after a metadata refresh");
                        self.metadata.invalidate_on(code);
                        self.metadata.request_update();
                        self.validation_backoff([&p.tp], retry_at);
                    }
                    code => {
                        return Err(Error::Broker {
                            api: "OffsetForLeaderEpoch",
                            topic: p.tp.topic.clone(),
                            partition: p.tp.partition,
                            code,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn validation_backoff<'a>(&mut self, tps: impl IntoIterator<Item = &'a TopicPartition>, at: Instant) {
        for tp in tps {
            if let Some(st) = self.assignment.get_mut(tp) {
                st.validation_retry_at = Some(at);
            }
        }
    }

    /// Applies the leader's end offset (`epoch`, `end_offset`) for the epoch of `tp`'s fetch
    /// position `position`, from OffsetForLeaderEpoch or a Fetch answer's diverging epoch.
    pub(crate) fn apply_epoch_end(
        &mut self,
        tp: &TopicPartition,
        position: i64,
        epoch: i32,
        end_offset: i64,
    ) -> Result<()> {
        let reset = self.cfg.auto_offset_reset;
        let Some(st) = self.assignment.get_mut(tp) else { return Ok(()) };
        match check(position, epoch, end_offset) {
            EpochCheck::Valid => {
                tracing::debug!(%tp, position, "position validated");
                st.awaiting_validation = false;
                st.validation_retry_at = None;
            }
            EpochCheck::Truncated(divergent) if reset == OffsetReset::None => {
                tracing::warn!(%tp, position, ?divergent, "log truncation detected, but auto.offset.reset is none");
                // stays unfetched; the next poll validates (and fails) again until a seek
                st.awaiting_validation = true;
                st.validation_retry_at = Some(Instant::now() + self.cfg.client.retry_backoff);
                return Err(Error::LogTruncation {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    fetch_offset: position,
                    divergent_offset: divergent.map(|(o, _)| o),
                });
            }
            EpochCheck::Truncated(Some((offset, epoch))) => {
                // records buffered past the divergence are not in the log any more
                let consumed = st.position.unwrap_or(offset);
                if consumed < offset {
                    st.fetch_position = Some(consumed);
                    st.fetch_epoch = st.position_epoch;
                } else {
                    st.position = Some(offset);
                    st.fetch_position = Some(offset);
                    st.position_epoch = Some(epoch);
                    st.fetch_epoch = Some(epoch);
                }
                st.awaiting_validation = false;
                st.validation_retry_at = None;
                tracing::info!(
                    %tp,
                    position,
                    divergent_offset = offset,
                    epoch,
                    "truncation detected; resetting to the first offset known to diverge"
                );
                self.buffer.retain(|x| x != tp);
            }
            EpochCheck::Truncated(None) => {
                tracing::info!(%tp, position, "truncation detected (no end offset for the epoch); resetting offset");
                st.position = None;
                st.fetch_position = None;
                st.position_epoch = None;
                st.fetch_epoch = None;
                st.awaiting_validation = false;
                st.validation_retry_at = None;
                self.buffer.retain(|x| x != tp);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_offset_below_the_position_is_a_truncation_at_that_offset() {
        assert_eq!(check(10, 0, 6), EpochCheck::Truncated(Some((6, 0))));
        assert_eq!(check(10, 1, 10), EpochCheck::Valid);
        assert_eq!(check(10, 1, 25), EpochCheck::Valid);
        assert_eq!(check(10, -1, -1), EpochCheck::Truncated(None));
    }
}

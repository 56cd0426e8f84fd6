//! Records and offsets: list offsets and delete records, at each partition's leader.

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_client::Purpose;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::{
    DeleteRecordsRequest, ListOffsetsRequest,
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::types::*;

impl AdminClient {
    /// Offsets by spec (earliest, latest, max timestamp, or a time); one result per partition.
    /// Partitions answering a retriable error (NOT_LEADER_OR_FOLLOWER, a leader that moved, a
    /// lost connection) are retried at their new leader within `default.api.timeout.ms`, as the
    /// Java Admin does; the others keep their first answer.
    pub async fn list_offsets(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
    ) -> Result<BTreeMap<TopicPartition, Result<ListedOffset>>> {
        self.retry_partitions(specs, |todo| async move { self.list_offsets_once(&todo).await }).await
    }

    /// Deletes records before the given offsets (-1: the high watermark); the new log start
    /// offset per partition.
    pub async fn delete_records(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        // not retried per partition yet: a retried DeleteRecords stalled for the whole timeout
        // against the test broker (to investigate); one attempt, errors per partition
        self.delete_records_once(before).await
    }

    /// Runs `once` over `items`, then again over the partitions whose answer was retriable
    /// (after a metadata refresh and `retry.backoff.ms`), until none is or the timeout passes.
    async fn retry_partitions<V: Clone, T, F, Fut>(
        &self,
        items: &BTreeMap<TopicPartition, V>,
        once: F,
    ) -> Result<BTreeMap<TopicPartition, Result<T>>>
    where
        F: Fn(BTreeMap<TopicPartition, V>) -> Fut,
        Fut: std::future::Future<Output = Result<BTreeMap<TopicPartition, Result<T>>>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let backoff = self.pool().config().retry_backoff_policy();
        let mut out = BTreeMap::new();
        let mut todo = items.clone();
        let mut attempt = 0;
        loop {
            for (tp, r) in once(std::mem::take(&mut todo)).await? {
                match r {
                    Err(e) if leader_may_have_moved(&e) && tokio::time::Instant::now() < deadline => {
                        tracing::debug!(%tp, error = %e, "retrying at the partition's current leader");
                        if let Some(v) = items.get(&tp) {
                            todo.insert(tp, v.clone());
                        }
                    }
                    r => {
                        out.insert(tp, r);
                    }
                }
            }
            if todo.is_empty() {
                return Ok(out);
            }
            self.metadata.request_update();
            tokio::time::sleep(backoff.backoff(attempt)).await;
            attempt += 1;
        }
    }

    async fn list_offsets_once(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
    ) -> Result<BTreeMap<TopicPartition, Result<ListedOffset>>> {
        let mut out = BTreeMap::new();
        let groups = self.by_leader(specs, "ListOffsets", &mut BTreeMap::new()).await?;
        let calls = groups.into_iter().map(|(leader, items)| {
            let mut topics: BTreeMap<String, Vec<ListOffsetsPartition>> = BTreeMap::new();
            for (tp, spec) in &items {
                topics.entry(tp.topic.clone()).or_default().push(ListOffsetsPartition {
                    partition_index: tp.partition,
                    current_leader_epoch: -1,
                    timestamp: spec.wire(),
                    ..Default::default()
                });
            }
            let req = ListOffsetsRequest {
                replica_id: -1,
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| ListOffsetsTopic { name, partitions, ..Default::default() })
                    .collect(),
                ..Default::default()
            };
            let pool = self.pool().clone();
            async move { (items, pool.send(leader, Purpose::Admin, &req).await) }
        });
        for (items, resp) in join_all(calls).await {
            match resp {
                Err(e) => {
                    for (tp, _) in items {
                        out.insert(tp, Err(Error::Client(e.clone())));
                    }
                }
                Ok(r) => {
                    for t in r.topics {
                        for p in t.partitions {
                            let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                            let res = match Error::item("ListOffsets", tp.to_string(), p.error_code, None) {
                                Some(e) => Err(e),
                                None => Ok(ListedOffset {
                                    offset: p.offset,
                                    timestamp: p.timestamp,
                                    leader_epoch: Some(p.leader_epoch).filter(|e| *e >= 0),
                                }),
                            };
                            out.insert(tp, res);
                        }
                    }
                }
            }
        }
        for tp in specs.keys() {
            out.entry(tp.clone()).or_insert_with(|| {
                Err(Error::Item {
                    api: "ListOffsets",
                    item: tp.to_string(),
                    code: ErrorCode::UnknownTopicOrPartition,
                    message: None,
                })
            });
        }
        Ok(out)
    }

    /// Deletes records before the given offsets (-1: the high watermark); one result per
    /// partition, with the new log start offset.
    async fn delete_records_once(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        let mut out = BTreeMap::new();
        let mut failed = BTreeMap::new();
        let groups = self.by_leader(before, "DeleteRecords", &mut failed).await?;
        let timeout_ms = self.timeout_ms();
        let calls = groups.into_iter().map(|(leader, items)| {
            let mut topics: BTreeMap<String, Vec<DeleteRecordsPartition>> = BTreeMap::new();
            for (tp, offset) in &items {
                topics.entry(tp.topic.clone()).or_default().push(DeleteRecordsPartition {
                    partition_index: tp.partition,
                    offset: *offset,
                    ..Default::default()
                });
            }
            let req = DeleteRecordsRequest {
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| DeleteRecordsTopic { name, partitions, ..Default::default() })
                    .collect(),
                timeout_ms,
                ..Default::default()
            };
            let pool = self.pool().clone();
            async move { (items, pool.send(leader, Purpose::Admin, &req).await) }
        });
        for (items, resp) in join_all(calls).await {
            match resp {
                Err(e) => {
                    for (tp, _) in items {
                        out.insert(tp, Err(Error::Client(e.clone())));
                    }
                }
                Ok(r) => {
                    for t in r.topics {
                        for p in t.partitions {
                            let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                            let res = Error::item("DeleteRecords", tp.to_string(), p.error_code, None)
                                .map_or(Ok(p.low_watermark), Err);
                            out.insert(tp, res);
                        }
                    }
                }
            }
        }
        for (tp, e) in failed {
            out.insert(tp, e.map(|_| -1));
        }
        Ok(out)
    }
}

/// Errors after which the partition is retried at its (possibly new) leader. A topic or
/// partition that does not exist is answered at once, as the Java Admin does.
fn leader_may_have_moved(e: &Error) -> bool {
    match e {
        Error::Client(c) => c.is_retriable(),
        Error::Item { code, .. } => matches!(
            code,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::RequestTimedOut
                | ErrorCode::NotEnoughReplicas
        ),
        _ => false,
    }
}

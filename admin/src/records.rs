//! Records and offsets: list offsets and delete records, at each partition's leader (retried
//! at a moved leader, see `leaders.rs`).

use std::collections::BTreeMap;

use kafka_protocol::generated::{
    DeleteRecordsRequest, ListOffsetsRequest,
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
};

use crate::AdminClient;
use crate::error::Result;
use crate::leaders::{by_topic, partition_results};
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
        self.to_leaders(
            "ListOffsets",
            specs,
            |items| ListOffsetsRequest {
                replica_id: -1,
                topics: by_topic(items.iter().map(|(tp, spec)| (tp, spec)))
                    .into_iter()
                    .map(|(name, ps)| ListOffsetsTopic {
                        name,
                        partitions: ps
                            .into_iter()
                            .map(|(partition_index, spec)| ListOffsetsPartition {
                                partition_index,
                                current_leader_epoch: -1,
                                timestamp: spec.wire(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            |r| {
                partition_results("ListOffsets", r.topics.into_iter().map(|t| (t.name, t.partitions)), |p| {
                    let listed = ListedOffset {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: Some(p.leader_epoch).filter(|e| *e >= 0),
                    };
                    (p.partition_index, p.error_code, None, listed)
                })
            },
        )
        .await
    }

    /// Deletes records before the given offsets (-1: the high watermark); the new log start
    /// offset per partition. Retried at a moved leader like [`Self::list_offsets`].
    pub async fn delete_records(
        &self,
        before: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        let timeout_ms = self.timeout_ms();
        self.to_leaders(
            "DeleteRecords",
            before,
            |items| DeleteRecordsRequest {
                topics: by_topic(items.iter().map(|(tp, offset)| (tp, *offset)))
                    .into_iter()
                    .map(|(name, ps)| DeleteRecordsTopic {
                        name,
                        partitions: ps
                            .into_iter()
                            .map(|(partition_index, offset)| DeleteRecordsPartition {
                                partition_index,
                                offset,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                timeout_ms,
                ..Default::default()
            },
            |r| {
                partition_results(
                    "DeleteRecords",
                    r.topics.into_iter().map(|t| (t.name, t.partitions)),
                    |p| (p.partition_index, p.error_code, None, p.low_watermark),
                )
            },
        )
        .await
    }
}

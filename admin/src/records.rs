//! Records and offsets: list offsets and delete records, at each partition's leader (retried
//! at a moved leader, see `leaders.rs`).

use std::collections::BTreeMap;

use kafka_protocol::generated::{
    DeleteRecordsRequest, ListOffsetsRequest,
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::leaders::by_topic;
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
                r.topics
                    .into_iter()
                    .flat_map(|t| {
                        t.partitions.into_iter().map(move |p| {
                            let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                            let res = match Error::item("ListOffsets", tp.to_string(), p.error_code, None) {
                                Some(e) => Err(e),
                                None => Ok(ListedOffset {
                                    offset: p.offset,
                                    timestamp: p.timestamp,
                                    leader_epoch: Some(p.leader_epoch).filter(|e| *e >= 0),
                                }),
                            };
                            (tp, res)
                        })
                    })
                    .collect()
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
                r.topics
                    .into_iter()
                    .flat_map(|t| {
                        t.partitions.into_iter().map(move |p| {
                            let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                            let res = Error::item("DeleteRecords", tp.to_string(), p.error_code, None)
                                .map_or(Ok(p.low_watermark), Err);
                            (tp, res)
                        })
                    })
                    .collect()
            },
        )
        .await
    }
}

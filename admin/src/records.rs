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
    pub async fn list_offsets(
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
    pub async fn delete_records(
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

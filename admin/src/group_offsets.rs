//! A consumer group's committed offsets: list (OffsetFetch), alter (OffsetCommit as an admin:
//! generation -1, no member id, so only an empty group accepts it), delete (OffsetDelete). All
//! go to the group coordinator.

use std::collections::BTreeMap;

use kafka_client::CoordinatorType;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::{
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic},
    offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics},
};

use crate::AdminClient;
use crate::admin::fill_missing;
use crate::error::{Error, Result};
use crate::leaders::partition_ids_by_topic;
use crate::types::TopicPartition;

pub use kafka_client::OffsetAndMetadata;

/// (topic, partition, offset, leader epoch, metadata, error code) from either OffsetFetch layout.
type FetchedRow = (String, i32, i64, i32, Option<String>, i16);

/// The [`FetchedRow`]s of an OffsetFetch response's topics (per group in v8+, top level before:
/// two generated types with the same fields).
macro_rules! fetched_rows {
    ($topics:expr) => {
        $topics
            .into_iter()
            .flat_map(|t| {
                t.partitions.into_iter().map(move |p| {
                    let row: FetchedRow = (
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                        p.error_code,
                    );
                    row
                })
            })
            .collect()
    };
}

impl AdminClient {
    /// A group's committed offsets: for `partitions`, or every partition with an offset when
    /// `None`. Each partition maps to its offset (`None`: nothing committed) or its error; a
    /// group-level error (e.g. `GROUP_AUTHORIZATION_FAILED`) fails the call, naming the group.
    pub async fn list_consumer_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, Result<Option<OffsetAndMetadata>>>> {
        let topics = partitions.map(|ps| partition_ids_by_topic(ps.iter()));
        let resp = self
            .to_coordinator(
                "OffsetFetch",
                CoordinatorType::Group,
                group,
                |v| {
                    if v >= 8 {
                        OffsetFetchRequest {
                            groups: vec![OffsetFetchRequestGroup {
                                group_id: group.to_owned(),
                                member_id: None,
                                member_epoch: -1,
                                topics: topics.as_ref().map(|ts| {
                                    ts.iter()
                                        .map(|(t, ps)| OffsetFetchRequestTopics {
                                            name: t.clone(),
                                            partition_indexes: ps.clone(),
                                            ..Default::default()
                                        })
                                        .collect()
                                }),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }
                    } else {
                        OffsetFetchRequest {
                            group_id: group.to_owned(),
                            topics: topics.as_ref().map(|ts| {
                                ts.iter()
                                    .map(|(t, ps)| OffsetFetchRequestTopic {
                                        name: t.clone(),
                                        partition_indexes: ps.clone(),
                                        ..Default::default()
                                    })
                                    .collect()
                            }),
                            ..Default::default()
                        }
                    }
                },
                |r| r.groups.first().map_or(r.error_code, |g| g.error_code),
            )
            .await?;
        // v8+ answers per group; older versions at the top level
        let (code, rows): (i16, Vec<FetchedRow>) = match resp.groups.into_iter().next() {
            Some(g) => (g.error_code, fetched_rows!(g.topics)),
            None => (resp.error_code, fetched_rows!(resp.topics)),
        };
        if let Some(e) = Error::item("OffsetFetch", format!("group {group}"), code, None) {
            return Err(e);
        }
        let mut out = BTreeMap::new();
        for (topic, partition, offset, epoch, metadata, code) in rows {
            let tp = TopicPartition::new(topic, partition);
            let item = format!("group {group} partition {tp}");
            let res = match Error::item("OffsetFetch", item, code, None) {
                Some(e) => Err(e),
                None => Ok((offset >= 0).then(|| OffsetAndMetadata {
                    offset,
                    leader_epoch: Some(epoch).filter(|e| *e >= 0),
                    metadata: metadata.unwrap_or_default(),
                })),
            };
            out.insert(tp, res);
        }
        if let Some(ps) = partitions {
            for tp in ps {
                out.entry(tp.clone()).or_insert(Ok(None));
            }
        }
        Ok(out)
    }

    /// Sets a group's committed offsets, as an administrator (generation -1, no member): only
    /// while the group has no members; a group with members fails every partition with
    /// `UNKNOWN_MEMBER_ID` and says so. One result per partition.
    pub async fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let topics = partition_ids_by_topic(offsets.keys());
        let resp = self
            .to_coordinator(
                "OffsetCommit",
                CoordinatorType::Group,
                group,
                |_| OffsetCommitRequest {
                    group_id: group.to_owned(),
                    generation_id_or_member_epoch: -1,
                    member_id: String::new(),
                    retention_time_ms: -1,
                    topics: topics
                        .iter()
                        .map(|(t, ps)| OffsetCommitRequestTopic {
                            name: t.clone(),
                            partitions: ps
                                .iter()
                                .map(|p| {
                                    let o = &offsets[&TopicPartition::new(t.clone(), *p)];
                                    OffsetCommitRequestPartition {
                                        partition_index: *p,
                                        committed_offset: o.offset,
                                        committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                                        commit_timestamp: -1,
                                        committed_metadata: Some(o.metadata.clone()),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                // coordinator errors come per partition: any partition's tells
                |r| {
                    r.topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| p.error_code)
                        .find(|c| {
                            matches!(
                                ErrorCode::from(*c),
                                ErrorCode::NotCoordinator
                                    | ErrorCode::CoordinatorNotAvailable
                                    | ErrorCode::CoordinatorLoadInProgress
                            )
                        })
                        .unwrap_or(0)
                },
            )
            .await?;
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                let mut message = None;
                if ErrorCode::from(p.error_code) == ErrorCode::UnknownMemberId {
                    message = Some(format!(
                        "group {group} has active members; its offsets can only be altered while it is empty"
                    ));
                }
                let item = format!("group {group} partition {tp}");
                out.insert(tp, Error::item("OffsetCommit", item, p.error_code, message).map_or(Ok(()), Err));
            }
        }
        fill_missing(&mut out, offsets.keys().cloned(), "OffsetCommit");
        Ok(out)
    }

    /// Deletes a group's committed offsets for `partitions` (OffsetDelete). A partition of a
    /// topic the group's members still subscribe to fails with `GROUP_SUBSCRIBED_TO_TOPIC`; a
    /// group-level error (e.g. `GROUP_ID_NOT_FOUND`) fails the call, naming the group.
    pub async fn delete_consumer_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let topics = partition_ids_by_topic(partitions);
        let resp = self
            .to_coordinator(
                "OffsetDelete",
                CoordinatorType::Group,
                group,
                |_| OffsetDeleteRequest {
                    group_id: group.to_owned(),
                    topics: topics
                        .iter()
                        .map(|(t, ps)| OffsetDeleteRequestTopic {
                            name: t.clone(),
                            partitions: ps
                                .iter()
                                .map(|p| OffsetDeleteRequestPartition {
                                    partition_index: *p,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                |r| r.error_code,
            )
            .await?;
        if let Some(e) = Error::item("OffsetDelete", format!("group {group}"), resp.error_code, None) {
            return Err(e);
        }
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                let item = format!("group {group} partition {tp}");
                out.insert(tp, Error::item("OffsetDelete", item, p.error_code, None).map_or(Ok(()), Err));
            }
        }
        fill_missing(&mut out, partitions.iter().cloned(), "OffsetDelete");
        Ok(out)
    }
}

//! Replica placement: leader elections, partition reassignments. Controller APIs: in KRaft any
//! broker forwards them to the active controller, so they go to any broker.

use std::collections::BTreeMap;

use kafka_protocol::generated::{
    AlterPartitionReassignmentsRequest, ElectLeadersRequest, ListPartitionReassignmentsRequest,
    alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic},
    elect_leaders_request::TopicPartitions,
    list_partition_reassignments_request::ListPartitionReassignmentsTopics,
};

use crate::AdminClient;
use crate::admin::fill_missing;
use crate::error::{Error, Result};
use crate::leaders::partition_ids_by_topic;
use crate::types::TopicPartition;

/// Which leader `elect_leaders` elects (Java's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica of the assignment, if it is in sync.
    Preferred,
    /// Any live replica, even out of sync (may lose data).
    Unclean,
}

/// An ongoing reassignment (Java's `PartitionReassignment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The current replica set (old and new during the move).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed.
    pub removing_replicas: Vec<i32>,
}

impl AdminClient {
    /// Elects leaders for `partitions` (`None`: every partition whose preferred leader is not
    /// leading). One result per partition; `ELECTION_NOT_NEEDED` when the leader already is
    /// the one asked for.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let topics = partitions.map(partition_ids_by_topic);
        let resp = self
            .to_any("ElectLeaders", |_| ElectLeadersRequest {
                election_type: match election {
                    ElectionType::Preferred => 0,
                    ElectionType::Unclean => 1,
                },
                topic_partitions: topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| TopicPartitions {
                            topic: t.clone(),
                            partitions: ps.clone(),
                            ..Default::default()
                        })
                        .collect()
                }),
                timeout_ms,
                ..Default::default()
            })
            .await?;
        if let Some(e) = Error::item("ElectLeaders", "cluster", resp.error_code, None) {
            return Err(e);
        }
        let mut out = BTreeMap::new();
        for t in resp.replica_election_results {
            for p in t.partition_result {
                let tp = TopicPartition::new(t.topic.clone(), p.partition_id);
                let res = Error::item("ElectLeaders", tp.to_string(), p.error_code, p.error_message);
                out.insert(tp, res.map_or(Ok(()), Err));
            }
        }
        fill_missing(&mut out, partitions.into_iter().flatten().cloned(), "ElectLeaders");
        Ok(out)
    }

    /// Moves partitions to new replica sets (`None`: cancels the partition's ongoing
    /// reassignment). One result per partition; the move itself completes in the background
    /// (see [`AdminClient::list_partition_reassignments`]).
    pub async fn alter_partition_reassignments(
        &self,
        targets: &BTreeMap<TopicPartition, Option<Vec<i32>>>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let topics = partition_ids_by_topic(targets.keys());
        let resp = self
            .to_any("AlterPartitionReassignments", |_| AlterPartitionReassignmentsRequest {
                timeout_ms,
                topics: topics
                    .iter()
                    .map(|(t, ps)| ReassignableTopic {
                        name: t.clone(),
                        partitions: ps
                            .iter()
                            .map(|p| ReassignablePartition {
                                partition_index: *p,
                                replicas: targets[&TopicPartition::new(t.clone(), *p)].clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        let mut out = BTreeMap::new();
        let top = (resp.error_code, resp.error_message);
        for t in resp.responses {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                // a request-level error fails every partition
                let (code, message) = if top.0 != 0 { top.clone() } else { (p.error_code, p.error_message) };
                let res = Error::item("AlterPartitionReassignments", tp.to_string(), code, message);
                out.insert(tp, res.map_or(Ok(()), Err));
            }
        }
        for tp in targets.keys() {
            if top.0 != 0 && !out.contains_key(tp) {
                let e = Error::item("AlterPartitionReassignments", tp.to_string(), top.0, top.1.clone());
                out.insert(tp.clone(), e.map_or(Ok(()), Err));
            }
        }
        fill_missing(&mut out, targets.keys().cloned(), "AlterPartitionReassignments");
        Ok(out)
    }

    /// The ongoing reassignments, of `partitions` or of the whole cluster (`None`).
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, PartitionReassignment>> {
        let timeout_ms = self.timeout_ms();
        let topics = partitions.map(partition_ids_by_topic);
        let resp = self
            .to_any("ListPartitionReassignments", |_| ListPartitionReassignmentsRequest {
                timeout_ms,
                topics: topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| ListPartitionReassignmentsTopics {
                            name: t.clone(),
                            partition_indexes: ps.clone(),
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            })
            .await?;
        if let Some(e) =
            Error::item("ListPartitionReassignments", "cluster", resp.error_code, resp.error_message)
        {
            return Err(e);
        }
        Ok(resp
            .topics
            .into_iter()
            .flat_map(|t| {
                t.partitions.into_iter().map(move |p| {
                    (
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        PartitionReassignment {
                            replicas: p.replicas,
                            adding_replicas: p.adding_replicas,
                            removing_replicas: p.removing_replicas,
                        },
                    )
                })
            })
            .collect())
    }
}

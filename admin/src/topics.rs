//! Topic administration: create, delete (by name or id), list, describe, grow. All go to any
//! broker (Kafka 4.x forwards them to the controller).

use std::collections::BTreeMap;

use kafka_protocol::Uuid;
use kafka_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, MetadataResponse,
    create_partitions_request::CreatePartitionsTopic,
    create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig},
    delete_topics_request::DeleteTopicState,
    metadata_request::MetadataRequestTopic,
};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::types::*;

impl AdminClient {
    /// Creates topics; one result per topic (`validate_only`: checked, not created).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .to_any("CreateTopics", |_| CreateTopicsRequest {
                topics: topics
                    .iter()
                    .map(|t| CreatableTopic {
                        name: t.name.clone(),
                        num_partitions: if t.assignment.is_some() { -1 } else { t.partitions.unwrap_or(-1) },
                        replication_factor: if t.assignment.is_some() {
                            -1
                        } else {
                            t.replication_factor.unwrap_or(-1)
                        },
                        assignments: t
                            .assignment
                            .iter()
                            .flatten()
                            .map(|(p, brokers)| CreatableReplicaAssignment {
                                partition_index: *p,
                                broker_ids: brokers.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        configs: t
                            .configs
                            .iter()
                            .map(|(k, v)| CreatableTopicConfig {
                                name: k.clone(),
                                value: Some(v.clone()),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                timeout_ms,
                validate_only,
                ..Default::default()
            })
            .await?;
        let mut out: BTreeMap<String, Result<()>> = BTreeMap::new();
        for r in resp.topics {
            let item = format!("topic {}", r.name);
            out.insert(
                r.name,
                Error::item("CreateTopics", item, r.error_code, r.error_message).map_or(Ok(()), Err),
            );
        }
        for t in topics {
            out.entry(t.name.clone()).or_insert_with(|| {
                Err(Error::Invalid(format!("CreateTopics: no result for topic {}", t.name)))
            });
        }
        Ok(out)
    }

    /// Deletes topics by name; one result per topic.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<BTreeMap<String, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .to_any("DeleteTopics", |v| {
                if v >= 6 {
                    DeleteTopicsRequest {
                        topics: names
                            .iter()
                            .map(|n| DeleteTopicState {
                                name: Some((*n).into()),
                                topic_id: Uuid::ZERO,
                                ..Default::default()
                            })
                            .collect(),
                        timeout_ms,
                        ..Default::default()
                    }
                } else {
                    DeleteTopicsRequest {
                        topic_names: names.iter().map(|n| (*n).to_owned()).collect(),
                        timeout_ms,
                        ..Default::default()
                    }
                }
            })
            .await?;
        Ok(resp
            .responses
            .into_iter()
            .map(|r| {
                let name = r.name.unwrap_or_default();
                let res = Error::item("DeleteTopics", format!("topic {name}"), r.error_code, r.error_message)
                    .map_or(Ok(()), Err);
                (name, res)
            })
            .collect())
    }

    /// Deletes topics by id (DeleteTopics v6+); one result per id. A broker without v6 fails
    /// every id with `UNSUPPORTED_VERSION`.
    pub async fn delete_topics_by_id(&self, ids: &[Uuid]) -> Result<BTreeMap<Uuid, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .to_any("DeleteTopics", |v| DeleteTopicsRequest {
                topics: if v >= 6 {
                    ids.iter()
                        .map(|id| DeleteTopicState { name: None, topic_id: *id, ..Default::default() })
                        .collect()
                } else {
                    Vec::new()
                },
                timeout_ms,
                ..Default::default()
            })
            .await?;
        let mut out: BTreeMap<Uuid, Result<()>> = resp
            .responses
            .into_iter()
            .map(|r| {
                let item = format!("topic id {}", r.topic_id);
                let res =
                    Error::item("DeleteTopics", item, r.error_code, r.error_message).map_or(Ok(()), Err);
                (r.topic_id, res)
            })
            .collect();
        for id in ids {
            out.entry(*id).or_insert_with(|| {
                Err(Error::Item {
                    api: "DeleteTopics",
                    item: format!("topic id {id}"),
                    code: kafka_protocol::ErrorCode::UnsupportedVersion,
                    message: Some("deletion by topic id needs DeleteTopics v6+".into()),
                })
            });
        }
        Ok(out)
    }

    pub(crate) async fn metadata(&self, topics: Option<&[&str]>) -> Result<MetadataResponse> {
        self.to_any("Metadata", |_| MetadataRequest {
            topics: topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic { name: Some((*t).into()), ..Default::default() })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        })
        .await
    }

    /// Topic names (internal topics only with `include_internal`).
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        let resp = self.metadata(None).await?;
        let mut names: Vec<String> = resp
            .topics
            .into_iter()
            .filter(|t| include_internal || !t.is_internal)
            .filter_map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Describes topics; one result per topic.
    pub async fn describe_topics(
        &self,
        names: &[&str],
    ) -> Result<BTreeMap<String, Result<TopicDescription>>> {
        let resp = self.metadata(Some(names)).await?;
        Ok(resp
            .topics
            .into_iter()
            .map(|t| {
                let name = t.name.clone().unwrap_or_default();
                let res = match Error::item("Metadata", format!("topic {name}"), t.error_code, None) {
                    Some(e) => Err(e),
                    None => {
                        let mut partitions: Vec<PartitionDescription> = t
                            .partitions
                            .iter()
                            .map(|p| PartitionDescription {
                                partition: p.partition_index,
                                leader: Some(p.leader_id).filter(|l| *l >= 0),
                                leader_epoch: p.leader_epoch,
                                replicas: p.replica_nodes.clone(),
                                isr: p.isr_nodes.clone(),
                                offline_replicas: p.offline_replicas.clone(),
                            })
                            .collect();
                        partitions.sort_by_key(|p| p.partition);
                        Ok(TopicDescription {
                            name: name.clone(),
                            topic_id: t.topic_id,
                            internal: t.is_internal,
                            partitions,
                        })
                    }
                };
                (name, res)
            })
            .collect())
    }

    /// Grows topics to `total` partitions each (never shrinks: Kafka rejects that per topic).
    pub async fn create_partitions(
        &self,
        totals: &BTreeMap<String, i32>,
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let timeout_ms = self.timeout_ms();
        let resp = self
            .to_any("CreatePartitions", |_| CreatePartitionsRequest {
                topics: totals
                    .iter()
                    .map(|(t, n)| CreatePartitionsTopic {
                        name: t.clone(),
                        count: *n,
                        assignments: None,
                        ..Default::default()
                    })
                    .collect(),
                timeout_ms,
                validate_only,
                ..Default::default()
            })
            .await?;
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let res = Error::item(
                    "CreatePartitions",
                    format!("topic {}", r.name),
                    r.error_code,
                    r.error_message,
                )
                .map_or(Ok(()), Err);
                (r.name, res)
            })
            .collect())
    }
}

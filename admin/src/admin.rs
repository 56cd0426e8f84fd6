//! `AdminClient`: each operation builds its request, sends it to the right node (any broker
//! for topic administration and cluster description, partition leaders for records and
//! offsets), retries retriable failures within `default.api.timeout.ms`, and returns one
//! result per item.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::future::join_all;
use kafka_client::conn::RequestOptions;
use kafka_client::{ClientConfig, Metadata, NetworkClient, Purpose};
use kafka_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
    MetadataRequest,
    create_partitions_request::CreatePartitionsTopic,
    create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig},
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    delete_topics_request::DeleteTopicState,
    describe_configs_request::DescribeConfigsResource,
    incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
};
use kafka_protocol::{ApiKey, ErrorCode, Request, Uuid};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::types::*;

/// The Kafka admin client (Java's `Admin`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminClient {
    metadata: Metadata,
    timeout: Duration,
}

impl AdminClient {
    /// Starts an admin client (inside a tokio runtime) from the client configuration.
    pub fn new(config: ClientConfig) -> AdminClient {
        let timeout = config.default_api_timeout;
        AdminClient { metadata: Metadata::new(NetworkClient::new(config), false), timeout }
    }

    /// From `(key, value)` pairs with the Java names (the client keys; `default.api.timeout.ms`
    /// bounds every operation).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<AdminClient> {
        let props = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Ok(Self::new(ClientConfig::from_properties(&props)?))
    }

    fn pool(&self) -> &NetworkClient {
        self.metadata.client()
    }

    /// Sends `req` to any broker (least loaded), retrying connection failures and retriable
    /// whole-request errors until the deadline.
    async fn to_any<R: Request + Clone>(
        &self,
        what: &'static str,
        req: impl Fn(i16) -> R,
    ) -> Result<R::Response> {
        let deadline = Instant::now() + self.timeout;
        let backoff = self.pool().config().retry_backoff_policy();
        let mut attempt = 0;
        // Learn the brokers first: a request sent to a bootstrap address could be cut off when
        // the first metadata replaces the bootstrap nodes, and a retried CreateTopics would
        // then report TOPIC_ALREADY_EXISTS for a topic it created itself.
        if self.metadata.snapshot().brokers().next().is_none() {
            self.metadata.refresh(self.timeout).await?;
        }
        loop {
            let outcome = async {
                let node = match self.pool().least_loaded_node() {
                    Some(n) => n,
                    None => {
                        return Err(kafka_client::Error::NoBrokerAvailable {
                            reason: format!("no broker for {what}"),
                        });
                    }
                };
                let conn = self.pool().connection(node, Purpose::Admin).await?;
                let version =
                    conn.version(R::API_KEY).ok_or_else(|| kafka_client::Error::UnsupportedApi {
                        api: R::API_KEY,
                        broker: conn.broker().clone(),
                        client: R::API_KEY.versions(),
                        broker_range: None,
                    })?;
                conn.send_with(&req(version), RequestOptions { version: Some(version), timeout: None }).await
            }
            .await;
            match outcome {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retriable() && Instant::now() + backoff.backoff(attempt) < deadline => {
                    tracing::debug!(error = %e, what, "retrying");
                    tokio::time::sleep(backoff.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Creates topics; one result per topic (`validate_only`: checked, not created).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
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
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
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

    async fn metadata(&self, topics: Option<&[&str]>) -> Result<kafka_protocol::generated::MetadataResponse> {
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

    /// Brokers, controller and cluster id.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let r = self
            .to_any("DescribeCluster", |_| DescribeClusterRequest { endpoint_type: 1, ..Default::default() })
            .await?;
        if let Some(e) = Error::item("DescribeCluster", "cluster", r.error_code, r.error_message) {
            return Err(e);
        }
        let mut nodes: Vec<Node> = r
            .brokers
            .into_iter()
            .map(|b| Node { id: b.broker_id, host: b.host, port: b.port, rack: b.rack })
            .collect();
        nodes.sort_by_key(|n| n.id);
        Ok(ClusterDescription {
            cluster_id: r.cluster_id,
            controller: Some(r.controller_id).filter(|c| *c >= 0),
            nodes,
        })
    }

    /// Grows topics to `total` partitions each (never shrinks: Kafka rejects that per topic).
    pub async fn create_partitions(
        &self,
        totals: &BTreeMap<String, i32>,
        validate_only: bool,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
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

    /// Describes config resources (topics, brokers); one result per resource.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<BTreeMap<ConfigResource, Result<Vec<ConfigEntry>>>> {
        let resp = self
            .to_any("DescribeConfigs", |_| DescribeConfigsRequest {
                resources: resources
                    .iter()
                    .map(|r| DescribeConfigsResource {
                        resource_type: r.kind.wire(),
                        resource_name: r.name.clone(),
                        configuration_keys: None,
                        ..Default::default()
                    })
                    .collect(),
                include_synonyms: false,
                include_documentation: false,
                ..Default::default()
            })
            .await?;
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let res_key = ConfigResource {
                    kind: ConfigResourceKind::from_wire(r.resource_type),
                    name: r.resource_name.clone(),
                };
                let res = match Error::item(
                    "DescribeConfigs",
                    res_key.to_string(),
                    r.error_code,
                    r.error_message,
                ) {
                    Some(e) => Err(e),
                    None => Ok(r
                        .configs
                        .into_iter()
                        .map(|c| ConfigEntry {
                            name: c.name,
                            value: c.value,
                            source: ConfigSource::from_wire(c.config_source),
                            read_only: c.read_only,
                            sensitive: c.is_sensitive,
                        })
                        .collect()),
                };
                (res_key, res)
            })
            .collect())
    }

    /// Sets, deletes, appends to or subtracts from config values; one result per resource.
    pub async fn incremental_alter_configs(
        &self,
        changes: &BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        validate_only: bool,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        let resp = self
            .to_any("IncrementalAlterConfigs", |_| IncrementalAlterConfigsRequest {
                resources: changes
                    .iter()
                    .map(|(r, ops)| AlterConfigsResource {
                        resource_type: r.kind.wire(),
                        resource_name: r.name.clone(),
                        configs: ops
                            .iter()
                            .map(|op| AlterableConfig {
                                name: op.name.clone(),
                                config_operation: op.op as i8,
                                value: op.value.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                validate_only,
                ..Default::default()
            })
            .await?;
        Ok(resp
            .responses
            .into_iter()
            .map(|r| {
                let key = ConfigResource {
                    kind: ConfigResourceKind::from_wire(r.resource_type),
                    name: r.resource_name,
                };
                let res =
                    Error::item("IncrementalAlterConfigs", key.to_string(), r.error_code, r.error_message)
                        .map_or(Ok(()), Err);
                (key, res)
            })
            .collect())
    }

    /// Groups `items` by the leader of their partition (fresh metadata), failing the items
    /// whose topic or leader is unknown.
    async fn by_leader<T: Clone>(
        &self,
        items: &BTreeMap<TopicPartition, T>,
        api: &'static str,
        out: &mut BTreeMap<TopicPartition, Result<T>>,
    ) -> Result<HashMap<i32, Vec<(TopicPartition, T)>>> {
        self.metadata.add_topics(items.keys().map(|tp| tp.topic.clone()));
        let snap = self.metadata.refresh(self.timeout).await?;
        let mut groups: HashMap<i32, Vec<(TopicPartition, T)>> = HashMap::new();
        for (tp, v) in items {
            match snap.partition(&tp.topic, tp.partition).and_then(|p| p.leader) {
                Some(l) => groups.entry(l).or_default().push((tp.clone(), v.clone())),
                None => {
                    let code = snap
                        .topic(&tp.topic)
                        .map(|t| t.error)
                        .filter(|c| !c.is_ok())
                        .unwrap_or(ErrorCode::UnknownTopicOrPartition);
                    out.insert(
                        tp.clone(),
                        Err(Error::Item { api, item: tp.to_string(), code, message: None }),
                    );
                }
            }
        }
        Ok(groups)
    }

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
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
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

    /// Whether the cluster serves `api` (from the negotiated versions of any broker).
    pub async fn supports(&self, api: ApiKey) -> Result<bool> {
        let node = self.pool().least_loaded_node().ok_or(Error::Invalid("no broker".into()))?;
        Ok(self.pool().connection(node, Purpose::Admin).await?.version(api).is_some())
    }

    /// Closes the connections.
    pub fn close(&self) {
        self.pool().close();
    }
}

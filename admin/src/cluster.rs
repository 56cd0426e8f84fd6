//! The cluster: brokers, controller and cluster id (any broker), log directories (each
//! broker), features (an ApiVersions answer).

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_protocol::generated::{ApiVersionsRequest, DescribeClusterRequest, DescribeLogDirsRequest};

use crate::AdminClient;
use crate::error::{Error, Result};
use crate::types::*;

impl AdminClient {
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
}

/// A log directory of one broker (Java's `LogDirDescription`).
#[derive(Debug, Clone)]
pub struct LogDirDescription {
    /// The directory's error (e.g. `KAFKA_STORAGE_ERROR` for an offline dir), if any.
    pub error: Option<Error>,
    /// The replicas it holds.
    pub replicas: BTreeMap<TopicPartition, ReplicaInfo>,
    /// Its volume's size in bytes, when the broker says (DescribeLogDirs v4+).
    pub total_bytes: Option<i64>,
    /// Its volume's free bytes, when the broker says (DescribeLogDirs v4+).
    pub usable_bytes: Option<i64>,
}

/// One replica in a log directory (Java's `ReplicaInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Size on disk in bytes.
    pub size: i64,
    /// How far it lags its leader (or the current replica, for a future one).
    pub offset_lag: i64,
    /// Whether it is a future replica (being moved between directories).
    pub is_future: bool,
}

/// A feature's version range (Java's `SupportedVersionRange` / `FinalizedVersionRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

/// The cluster's features (Java's `FeatureMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureMetadata {
    /// Finalized (in-use) feature levels, by name (`metadata.version`, `kraft.version`, …).
    pub finalized: BTreeMap<String, VersionRange>,
    /// The epoch of the finalized features, if any.
    pub finalized_epoch: Option<i64>,
    /// The levels the answering broker supports, by name.
    pub supported: BTreeMap<String, VersionRange>,
}

impl AdminClient {
    /// The log directories of `brokers` (DescribeLogDirs to each broker): per broker, per
    /// directory, its replicas with sizes and lags. One result per broker.
    pub async fn describe_log_dirs(
        &self,
        brokers: &[i32],
    ) -> Result<BTreeMap<i32, Result<BTreeMap<String, LogDirDescription>>>> {
        let known = self.broker_ids().await?;
        let calls = brokers.iter().map(|id| {
            let known = known.contains(id);
            async move {
                if !known {
                    return (
                        *id,
                        Err(Error::Invalid(format!("DescribeLogDirs: broker {id} is not in the cluster"))),
                    );
                }
                let resp = self
                    .to_node("DescribeLogDirs", *id, |_| DescribeLogDirsRequest {
                        topics: None,
                        ..Default::default()
                    })
                    .await;
                let res = resp.and_then(|r| {
                    if let Some(e) =
                        Error::item("DescribeLogDirs", format!("broker {id}"), r.error_code, None)
                    {
                        return Err(e);
                    }
                    Ok(r.results
                        .into_iter()
                        .map(|d| {
                            let item = format!("broker {id} log dir {}", d.log_dir);
                            let replicas = d
                                .topics
                                .into_iter()
                                .flat_map(|t| {
                                    t.partitions.into_iter().map(move |p| {
                                        (
                                            TopicPartition::new(t.name.clone(), p.partition_index),
                                            ReplicaInfo {
                                                size: p.partition_size,
                                                offset_lag: p.offset_lag,
                                                is_future: p.is_future_key,
                                            },
                                        )
                                    })
                                })
                                .collect();
                            let desc = LogDirDescription {
                                error: Error::item("DescribeLogDirs", item, d.error_code, None),
                                replicas,
                                total_bytes: Some(d.total_bytes).filter(|b| *b >= 0),
                                usable_bytes: Some(d.usable_bytes).filter(|b| *b >= 0),
                            };
                            (d.log_dir, desc)
                        })
                        .collect())
                });
                (*id, res)
            }
        });
        Ok(join_all(calls).await.into_iter().collect())
    }

    /// The cluster's finalized and supported features (from an ApiVersions answer, as Java
    /// does).
    pub async fn describe_features(&self) -> Result<FeatureMetadata> {
        let r = self
            .to_any("ApiVersions", |_| ApiVersionsRequest {
                client_software_name: "kafka-rust-sdk".into(),
                client_software_version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            })
            .await?;
        if let Some(e) = Error::item("ApiVersions", "cluster", r.error_code, None) {
            return Err(e);
        }
        Ok(FeatureMetadata {
            finalized: r
                .finalized_features
                .into_iter()
                .map(|f| (f.name, VersionRange { min: f.min_version_level, max: f.max_version_level }))
                .collect(),
            finalized_epoch: Some(r.finalized_features_epoch).filter(|e| *e >= 0),
            supported: r
                .supported_features
                .into_iter()
                .map(|f| (f.name, VersionRange { min: f.min_version, max: f.max_version }))
                .collect(),
        })
    }
}

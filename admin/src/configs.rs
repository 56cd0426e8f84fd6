//! Config administration: describe, incremental alter and legacy alter. Like Java, a broker's
//! own resource (a numeric broker name) goes to that broker; topics and cluster-wide defaults go
//! to any broker.

use std::collections::BTreeMap;

use futures::future::join_all;
use kafka_protocol::Request;
use kafka_protocol::generated::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, alter_configs_request,
    describe_configs_request::DescribeConfigsResource,
    incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
};

use crate::AdminClient;
use crate::admin::fill_missing;
use crate::error::{Error, Result};
use crate::types::*;

/// The node a resource's request must reach: the broker itself for a broker's own configs.
fn config_node(r: &ConfigResource) -> Option<i32> {
    match r.kind {
        ConfigResourceKind::Broker | ConfigResourceKind::Other(8) => r.name.parse().ok(),
        _ => None,
    }
}

fn split<'a>(
    resources: impl IntoIterator<Item = &'a ConfigResource>,
) -> BTreeMap<Option<i32>, Vec<ConfigResource>> {
    let mut by_node: BTreeMap<Option<i32>, Vec<ConfigResource>> = BTreeMap::new();
    for r in resources {
        by_node.entry(config_node(r)).or_default().push(r.clone());
    }
    by_node
}

impl AdminClient {
    async fn to_node_or_any<R: Request>(
        &self,
        what: &'static str,
        node: Option<i32>,
        req: impl Fn(i16) -> R,
    ) -> Result<R::Response> {
        match node {
            Some(n) => {
                if !self.broker_ids().await?.contains(&n) {
                    return Err(Error::Invalid(format!("{what}: broker {n} is not in the cluster")));
                }
                self.to_node(what, n, req).await
            }
            None => self.to_any(what, req).await,
        }
    }

    /// Describes config resources (topics, brokers); one result per resource. Each entry has
    /// its source (topic override, dynamic broker, static file, default).
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<BTreeMap<ConfigResource, Result<Vec<ConfigEntry>>>> {
        let calls = split(resources).into_iter().map(|(node, rs)| async move {
            let resp = self
                .to_node_or_any("DescribeConfigs", node, |_| DescribeConfigsRequest {
                    resources: rs
                        .iter()
                        .map(|r| DescribeConfigsResource {
                            resource_type: r.kind.wire(),
                            resource_name: r.name.clone(),
                            configuration_keys: None,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .await;
            (rs, resp)
        });
        let mut out = BTreeMap::new();
        for (rs, resp) in join_all(calls).await {
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    out.extend(rs.into_iter().map(|r| (r, Err(e.clone()))));
                    continue;
                }
            };
            for r in resp.results {
                let key = ConfigResource {
                    kind: ConfigResourceKind::from_wire(r.resource_type),
                    name: r.resource_name.clone(),
                };
                let res = match Error::item("DescribeConfigs", key.to_string(), r.error_code, r.error_message)
                {
                    Some(e) => Err(e),
                    None => Ok(r
                        .configs
                        .into_iter()
                        .map(|c| ConfigEntry {
                            name: c.name,
                            value: c.value,
                            // v0 has only is_default; from v1 the source says it (and is_default stays false)
                            source: if c.is_default {
                                ConfigSource::Default
                            } else {
                                ConfigSource::from_wire(c.config_source)
                            },
                            read_only: c.read_only,
                            sensitive: c.is_sensitive,
                        })
                        .collect()),
                };
                out.insert(key, res);
            }
        }
        fill_missing(&mut out, resources.iter().cloned(), "DescribeConfigs");
        Ok(out)
    }

    /// Sets, deletes, appends to or subtracts from config values; one result per resource.
    pub async fn incremental_alter_configs(
        &self,
        changes: &BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        validate_only: bool,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        self.alter_by_node(
            "IncrementalAlterConfigs",
            changes.keys(),
            |rs| IncrementalAlterConfigsRequest {
                resources: rs
                    .iter()
                    .map(|r| AlterConfigsResource {
                        resource_type: r.kind.wire(),
                        resource_name: r.name.clone(),
                        configs: changes[r]
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
            },
            |r| {
                r.responses
                    .into_iter()
                    .map(|r| (r.resource_type, r.resource_name, r.error_code, r.error_message))
                    .collect()
            },
        )
        .await
    }

    /// Replaces resources' whole config sets (Java's deprecated `alterConfigs`, AlterConfigs
    /// API): every key not listed goes back to its default. One result per resource.
    pub async fn alter_configs(
        &self,
        configs: &BTreeMap<ConfigResource, BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        self.alter_by_node(
            "AlterConfigs",
            configs.keys(),
            |rs| AlterConfigsRequest {
                resources: rs
                    .iter()
                    .map(|r| alter_configs_request::AlterConfigsResource {
                        resource_type: r.kind.wire(),
                        resource_name: r.name.clone(),
                        configs: configs[r]
                            .iter()
                            .map(|(k, v)| alter_configs_request::AlterableConfig {
                                name: k.clone(),
                                value: Some(v.clone()),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                validate_only,
                ..Default::default()
            },
            |r| {
                r.responses
                    .into_iter()
                    .map(|r| (r.resource_type, r.resource_name, r.error_code, r.error_message))
                    .collect()
            },
        )
        .await
    }

    /// An alter call: one request per node the resources must reach (built by `build` from
    /// that node's resources), one result per resource from `answer`'s rows.
    async fn alter_by_node<'a, R: Request>(
        &self,
        api: &'static str,
        asked: impl IntoIterator<Item = &'a ConfigResource> + Clone,
        build: impl Fn(&[ConfigResource]) -> R,
        answer: impl Fn(R::Response) -> Vec<(i8, String, i16, Option<String>)>,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        let (build, answer) = (&build, &answer);
        let calls = split(asked.clone()).into_iter().map(|(node, rs)| async move {
            let resp = self.to_node_or_any(api, node, |_| build(&rs)).await.map(answer);
            (rs, resp)
        });
        let results = join_all(calls).await;
        Ok(alter_results(api, results, asked))
    }
}

type AlterAnswer = Result<Vec<(i8, String, i16, Option<String>)>>;

fn alter_results<'a>(
    api: &'static str,
    results: Vec<(Vec<ConfigResource>, AlterAnswer)>,
    asked: impl IntoIterator<Item = &'a ConfigResource>,
) -> BTreeMap<ConfigResource, Result<()>> {
    let mut out = BTreeMap::new();
    for (rs, resp) in results {
        match resp {
            Err(e) => out.extend(rs.into_iter().map(|r| (r, Err(e.clone())))),
            Ok(answers) => {
                for (kind, name, code, message) in answers {
                    let key = ConfigResource { kind: ConfigResourceKind::from_wire(kind), name };
                    let res = Error::item(api, key.to_string(), code, message).map_or(Ok(()), Err);
                    out.insert(key, res);
                }
            }
        }
    }
    fill_missing(&mut out, asked.into_iter().cloned(), api);
    out
}

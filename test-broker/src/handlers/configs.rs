//! DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44) for topics and brokers.

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::generated::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};

use super::Ctx;
use super::topics::{SOURCE_DEFAULT, SOURCE_TOPIC};
use crate::state::topic_config::{self, Kind, TOPIC_CONFIGS};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs config source: static broker config.
const SOURCE_STATIC_BROKER: i8 = 4;

/// Broker configs reported for a broker resource (read-only here).
const BROKER_CONFIGS: &[(&str, &str)] = &[
    ("auto.create.topics.enable", "true"),
    ("default.replication.factor", "1"),
    ("log.retention.hours", "168"),
    ("message.max.bytes", "1048588"),
    ("min.insync.replicas", "1"),
    ("num.partitions", "1"),
    ("offsets.topic.replication.factor", "3"),
    ("transaction.max.timeout.ms", "900000"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
];

fn config_type(kind: Kind) -> i8 {
    // DescribeConfigs config types: 1 BOOLEAN, 2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST
    match kind {
        Kind::Bool => 1,
        Kind::Int(_) => 3,
        Kind::Long(_) => 5,
        Kind::Double => 6,
        Kind::ListOf(_) => 7,
        Kind::OneOf(_) | Kind::Text => 2,
    }
}

pub(crate) fn describe(ctx: &Ctx<'_>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let st = ctx.shared.state();
    let wanted =
        |keys: &Option<Vec<String>>, k: &str| keys.as_ref().is_none_or(|ks| ks.iter().any(|x| x == k));
    let results = req
        .resources
        .iter()
        .map(|res| {
            let mut r = DescribeConfigsResult {
                resource_type: res.resource_type,
                resource_name: res.resource_name.clone(),
                ..Default::default()
            };
            match res.resource_type {
                RESOURCE_TOPIC => match st.topics.get(&res.resource_name) {
                    None => {
                        r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        r.error_message = Some(format!("Topic {} does not exist", res.resource_name));
                    }
                    Some(t) => {
                        r.configs = TOPIC_CONFIGS
                            .iter()
                            .filter(|(k, _, _)| wanted(&res.configuration_keys, k))
                            .map(|(k, d, kind)| {
                                let explicit = t.configs.get(*k);
                                DescribeConfigsResourceResult {
                                    name: (*k).to_owned(),
                                    value: Some(explicit.cloned().unwrap_or_else(|| (*d).to_owned())),
                                    read_only: false,
                                    // v0 only; v1+ says it through config_source
                                    is_default: ctx.version == 0 && explicit.is_none(),
                                    config_source: if explicit.is_some() {
                                        SOURCE_TOPIC
                                    } else {
                                        SOURCE_DEFAULT
                                    },
                                    config_type: config_type(*kind),
                                    ..Default::default()
                                }
                            })
                            .collect();
                    }
                },
                RESOURCE_BROKER => {
                    let known = res.resource_name.is_empty()
                        || res
                            .resource_name
                            .parse::<i32>()
                            .is_ok_and(|id| st.brokers.iter().any(|b| b.id == id));
                    if !known {
                        r.error_code = ErrorCode::InvalidRequest.code();
                        r.error_message = Some(format!("Unknown broker {}", res.resource_name));
                    } else {
                        r.configs = BROKER_CONFIGS
                            .iter()
                            .filter(|(k, _)| wanted(&res.configuration_keys, k))
                            .map(|(k, v)| DescribeConfigsResourceResult {
                                name: (*k).to_owned(),
                                value: Some((*v).to_owned()),
                                read_only: true,
                                is_default: false,
                                config_source: SOURCE_STATIC_BROKER,
                                config_type: 2,
                                ..Default::default()
                            })
                            .collect();
                    }
                }
                other => {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message =
                        Some(format!("resource type {other} is not supported by the test broker"));
                }
            }
            r
        })
        .collect();
    DescribeConfigsResponse { results, ..Default::default() }
}

/// Applies `ops` (key, operation, value) to a topic's explicit configs; operation 0 SET,
/// 1 DELETE, 2 APPEND, 3 SUBTRACT. `replace` clears unmentioned keys first (AlterConfigs).
fn apply(
    ctx: &Ctx<'_>,
    resource_type: i8,
    name: &str,
    ops: &[(String, i8, Option<String>)],
    replace: bool,
    validate_only: bool,
) -> Result<(), (ErrorCode, String)> {
    if resource_type == RESOURCE_BROKER {
        return Err((ErrorCode::InvalidRequest, "broker configs are read-only in the test broker".into()));
    }
    if resource_type != RESOURCE_TOPIC {
        return Err((ErrorCode::InvalidRequest, format!("resource type {resource_type} is not supported")));
    }
    let mut st = ctx.shared.state();
    let topic = st
        .topics
        .get_mut(name)
        .ok_or_else(|| (ErrorCode::UnknownTopicOrPartition, format!("Topic {name} does not exist")))?;
    let mut next = if replace { Default::default() } else { topic.configs.clone() };
    for (key, op, value) in ops {
        let current = next.get(key).cloned().or_else(|| topic_config::default_of(key).map(str::to_owned));
        match op {
            0 => {
                let v = value
                    .clone()
                    .ok_or_else(|| (ErrorCode::InvalidConfig, format!("null value for {key}")))?;
                topic_config::validate(key, &v).map_err(|m| (ErrorCode::InvalidConfig, m))?;
                next.insert(key.clone(), v);
            }
            1 => {
                next.remove(key);
            }
            2 | 3 => {
                let add = value.clone().unwrap_or_default();
                let mut items: Vec<String> = current
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                for item in add.split(',').filter(|s| !s.is_empty()) {
                    if *op == 2 && !items.iter().any(|x| x == item) {
                        items.push(item.to_owned());
                    } else if *op == 3 {
                        items.retain(|x| x != item);
                    }
                }
                let v = items.join(",");
                topic_config::validate(key, &v).map_err(|m| (ErrorCode::InvalidConfig, m))?;
                next.insert(key.clone(), v);
            }
            other => {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("unknown config operation {other} for {key}"),
                ));
            }
        }
    }
    if !validate_only {
        topic.configs = next;
    }
    Ok(())
}

pub(crate) fn alter(ctx: &Ctx<'_>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let ops: Vec<_> = res.configs.iter().map(|c| (c.name.clone(), 0i8, c.value.clone())).collect();
            let (code, msg) =
                match apply(ctx, res.resource_type, &res.resource_name, &ops, true, req.validate_only) {
                    Ok(()) => (0, None),
                    Err((c, m)) => (c.code(), Some(m)),
                };
            alter_configs_response::AlterConfigsResourceResponse {
                error_code: code,
                error_message: msg,
                resource_type: res.resource_type,
                resource_name: res.resource_name.clone(),
                ..Default::default()
            }
        })
        .collect();
    AlterConfigsResponse { responses, ..Default::default() }
}

pub(crate) fn incremental_alter(
    ctx: &Ctx<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .iter()
        .map(|res| {
            let ops: Vec<_> =
                res.configs.iter().map(|c| (c.name.clone(), c.config_operation, c.value.clone())).collect();
            let (code, msg) =
                match apply(ctx, res.resource_type, &res.resource_name, &ops, false, req.validate_only) {
                    Ok(()) => (0, None),
                    Err((c, m)) => (c.code(), Some(m)),
                };
            incremental_alter_configs_response::AlterConfigsResourceResponse {
                error_code: code,
                error_message: msg,
                resource_type: res.resource_type,
                resource_name: res.resource_name.clone(),
                ..Default::default()
            }
        })
        .collect();
    IncrementalAlterConfigsResponse { responses, ..Default::default() }
}

//! Metadata (key 3) and DescribeCluster (key 60).

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::generated::{
    DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse,
};

use super::Ctx;
use crate::state::{State, Topic};

fn brokers(st: &State) -> Vec<MetadataResponseBroker> {
    st.brokers
        .iter()
        .filter(|b| b.up)
        .map(|b| MetadataResponseBroker {
            node_id: b.id,
            host: "127.0.0.1".into(),
            port: b.port as i32,
            rack: b.rack.clone(),
            ..Default::default()
        })
        .collect()
}

fn topic_entry(st: &State, t: &Topic) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(t.name.clone()),
        topic_id: t.id,
        is_internal: t.internal,
        partitions: t
            .partitions
            .iter()
            .map(|p| MetadataResponsePartition {
                error_code: if p.leader == -1 { ErrorCode::LeaderNotAvailable.code() } else { 0 },
                partition_index: p.index,
                leader_id: p.leader,
                leader_epoch: p.leader_epoch,
                replica_nodes: p.replicas.clone(),
                isr_nodes: p.isr.clone(),
                offline_replicas: p.replicas.iter().copied().filter(|r| !st.broker_up(*r)).collect(),
                ..Default::default()
            })
            .collect(),
        topic_authorized_operations: i32::MIN,
        ..Default::default()
    }
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: MetadataRequest) -> MetadataResponse {
    let mut st = ctx.shared.state();
    let mut topics = Vec::new();
    match &req.topics {
        None => {
            for t in st.topics.values() {
                topics.push(topic_entry(&st, t));
            }
        }
        Some(list) => {
            for rt in list {
                let name = match (&rt.name, rt.topic_id) {
                    (Some(n), _) => Some(n.clone()),
                    (None, id) => st.topic_by_id(id).map(|t| t.name.clone()),
                };
                let Some(name) = name else {
                    topics.push(MetadataResponseTopic {
                        error_code: ErrorCode::UnknownTopicId.code(),
                        topic_id: rt.topic_id,
                        ..Default::default()
                    });
                    continue;
                };
                let auto = ctx.version < 4 || req.allow_auto_topic_creation;
                if !st.topics.contains_key(&name) && auto {
                    st.maybe_auto_create(&name);
                }
                match st.topics.get(&name) {
                    Some(t) => topics.push(topic_entry(&st, t)),
                    None => {
                        let code = if State::validate_topic_name(&name).is_err() {
                            ErrorCode::InvalidTopicException
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        topics.push(MetadataResponseTopic {
                            error_code: code.code(),
                            name: Some(name),
                            ..Default::default()
                        });
                    }
                }
            }
        }
    }
    MetadataResponse {
        brokers: brokers(&st),
        cluster_id: Some(st.settings.cluster_id.clone()),
        controller_id: st.controller_id,
        topics,
        cluster_authorized_operations: i32::MIN,
        ..Default::default()
    }
}

pub(crate) fn error_response(ctx: &Ctx<'_>, req: &MetadataRequest, code: i16) -> MetadataResponse {
    let st = ctx.shared.state();
    MetadataResponse {
        brokers: brokers(&st),
        cluster_id: Some(st.settings.cluster_id.clone()),
        controller_id: st.controller_id,
        topics: req
            .topics
            .iter()
            .flatten()
            .map(|t| MetadataResponseTopic { error_code: code, name: t.name.clone(), ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn describe_cluster(ctx: &Ctx<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let st = ctx.shared.state();
    if req.endpoint_type != 1 {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(format!("endpoint type {} is not served by brokers", req.endpoint_type)),
            endpoint_type: req.endpoint_type,
            ..Default::default()
        };
    }
    DescribeClusterResponse {
        endpoint_type: 1,
        cluster_id: st.settings.cluster_id.clone(),
        controller_id: st.controller_id,
        brokers: st
            .brokers
            .iter()
            .filter(|b| b.up)
            .map(|b| DescribeClusterBroker {
                broker_id: b.id,
                host: "127.0.0.1".into(),
                port: b.port as i32,
                rack: b.rack.clone(),
                ..Default::default()
            })
            .collect(),
        cluster_authorized_operations: i32::MIN,
        ..Default::default()
    }
}

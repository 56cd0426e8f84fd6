//! CreateTopics (19), DeleteTopics (20), CreatePartitions (37), DeleteRecords (21).

use std::collections::BTreeMap;

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::generated::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::generated::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::generated::delete_topics_response::DeletableTopicResult;
use kafka_protocol::generated::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
};

use super::{Ctx, leader_partition};
use crate::state::{Partition, PartitionLog, State, topic_config};

/// Config source ids (DescribeConfigs / CreateTopics).
pub(crate) const SOURCE_TOPIC: i8 = 1;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

pub(crate) fn create(ctx: &Ctx<'_>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut st = ctx.shared.state();
    let mut seen = std::collections::HashSet::new();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let mut r = CreatableTopicResult {
                name: t.name.clone(),
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            };
            if !seen.insert(t.name.clone()) {
                r.error_code = ErrorCode::InvalidRequest.code();
                r.error_message = Some(format!("Create topics request from client contains multiple entries for {}", t.name));
                return r;
            }
            let num_partitions = if t.num_partitions == -1 { st.settings.default_partitions } else { t.num_partitions };
            let rf = if t.replication_factor == -1 {
                (st.settings.default_replication_factor as usize).min(st.brokers.len()) as i16
            } else {
                t.replication_factor
            };
            let assignment = if t.assignments.is_empty() {
                None
            } else {
                if t.num_partitions != -1 || t.replication_factor != -1 {
                    r.error_code = ErrorCode::InvalidRequest.code();
                    r.error_message = Some(
                        "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
                            .into(),
                    );
                    return r;
                }
                let mut a = t.assignments.clone();
                a.sort_by_key(|x| x.partition_index);
                Some(a.into_iter().map(|x| x.broker_ids).collect::<Vec<_>>())
            };
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                if let Some(v) = &c.value {
                    configs.insert(c.name.clone(), v.clone());
                }
            }
            // validate on a scratch copy when validate_only, so nothing changes
            let result = if req.validate_only {
                let mut scratch = State::new(st.settings.clone(), st.brokers.clone());
                scratch.topics = st.topics.clone();
                scratch.create_topic(&t.name, num_partitions, rf, assignment, configs).map(|x| (x.id, x.partitions.len(), x.partitions[0].replicas.len(), x.configs.clone()))
            } else {
                st.create_topic(&t.name, num_partitions, rf, assignment, configs)
                    .map(|x| (x.id, x.partitions.len(), x.partitions[0].replicas.len(), x.configs.clone()))
            };
            match result {
                Ok((id, parts, replicas, explicit)) => {
                    r.topic_id = if req.validate_only { kafka_protocol::Uuid::ZERO } else { id };
                    r.num_partitions = parts as i32;
                    r.replication_factor = replicas as i16;
                    r.configs = Some(
                        topic_config::TOPIC_CONFIGS
                            .iter()
                            .map(|(k, d, _)| {
                                let explicit_value = explicit.get(*k);
                                CreatableTopicConfigs {
                                    name: (*k).to_owned(),
                                    value: Some(explicit_value.cloned().unwrap_or_else(|| (*d).to_owned())),
                                    read_only: false,
                                    config_source: if explicit_value.is_some() { SOURCE_TOPIC } else { SOURCE_DEFAULT },
                                    is_sensitive: false,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                    );
                }
                Err((code, message)) => {
                    r.error_code = code.code();
                    r.error_message = Some(message);
                }
            }
            r
        })
        .collect();
    CreateTopicsResponse { topics, ..Default::default() }
}

pub(crate) fn create_error_response(req: &CreateTopicsRequest, code: i16) -> CreateTopicsResponse {
    CreateTopicsResponse {
        topics: req
            .topics
            .iter()
            .map(|t| CreatableTopicResult {
                name: t.name.clone(),
                error_code: code,
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn delete(ctx: &Ctx<'_>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut st = ctx.shared.state();
    let mut targets: Vec<(Option<String>, kafka_protocol::Uuid)> =
        req.topic_names.iter().map(|n| (Some(n.clone()), kafka_protocol::Uuid::ZERO)).collect();
    targets.extend(req.topics.iter().map(|t| (t.name.clone(), t.topic_id)));
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = match (&name, id) {
                (Some(n), _) => st.topics.get(n).map(|t| (n.clone(), t.id)),
                (None, id) => st.topic_by_id(id).map(|t| (t.name.clone(), t.id)),
            };
            match resolved {
                Some((n, id)) => {
                    st.topics.remove(&n);
                    DeletableTopicResult { name: Some(n), topic_id: id, ..Default::default() }
                }
                None => DeletableTopicResult {
                    name,
                    topic_id: id,
                    error_code: if id != kafka_protocol::Uuid::ZERO && ctx.version >= 6 {
                        ErrorCode::UnknownTopicId.code()
                    } else {
                        ErrorCode::UnknownTopicOrPartition.code()
                    },
                    error_message: Some("This server does not host this topic.".into()),
                    ..Default::default()
                },
            }
        })
        .collect();
    DeleteTopicsResponse { responses, ..Default::default() }
}

pub(crate) fn create_partitions(ctx: &Ctx<'_>, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut st = ctx.shared.state();
    let results = req
        .topics
        .iter()
        .map(|t| {
            let mut r = CreatePartitionsTopicResult { name: t.name.clone(), ..Default::default() };
            let Some(topic) = st.topics.get(&t.name) else {
                r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                r.error_message = Some(format!("The topic '{}' does not exist.", t.name));
                return r;
            };
            let current = topic.partitions.len() as i32;
            let rf = topic.partitions.first().map(|p| p.replicas.len()).unwrap_or(1);
            if t.count <= current {
                r.error_code = ErrorCode::InvalidPartitions.code();
                r.error_message = Some(if t.count == current {
                    format!("Topic already has {current} partitions.")
                } else {
                    format!(
                        "Topic currently has {current} partitions, which is higher than the requested {}.",
                        t.count
                    )
                });
                return r;
            }
            let added = (t.count - current) as usize;
            let assignment: Vec<Vec<i32>> = match &t.assignments {
                Some(a) => {
                    if a.len() != added {
                        r.error_code = ErrorCode::InvalidReplicaAssignment.code();
                        r.error_message = Some(format!(
                            "Increasing the number of partitions by {added} but {} assignments provided.",
                            a.len()
                        ));
                        return r;
                    }
                    let ids: Vec<i32> = st.brokers.iter().map(|b| b.id).collect();
                    if let Some(bad) = a.iter().flat_map(|x| x.broker_ids.iter()).find(|b| !ids.contains(b)) {
                        r.error_code = ErrorCode::InvalidReplicaAssignment.code();
                        r.error_message = Some(format!("Unknown broker {bad} in the assignment."));
                        return r;
                    }
                    a.iter().map(|x| x.broker_ids.clone()).collect()
                }
                None => (0..added).map(|_| st.place(rf)).collect(),
            };
            if req.validate_only {
                return r;
            }
            let live = st.live_brokers();
            let topic = st.topics.get_mut(&t.name).expect("checked above");
            for (i, replicas) in assignment.into_iter().enumerate() {
                let isr: Vec<i32> = replicas.iter().copied().filter(|x| live.contains(x)).collect();
                topic.partitions.push(Partition {
                    index: current + i as i32,
                    leader: isr.first().copied().unwrap_or(-1),
                    leader_epoch: 0,
                    replicas,
                    isr,
                    log: PartitionLog::default(),
                    epoch_starts: vec![(0, 0)],
                    producers: Default::default(),
                });
            }
            r
        })
        .collect();
    CreatePartitionsResponse { results, ..Default::default() }
}

pub(crate) fn delete_records(ctx: &Ctx<'_>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut st = ctx.shared.state();
    delete_records_answer(&req, |topic, partition, offset| {
        let p = leader_partition(&mut st, ctx.broker, topic, partition, -1).map_err(|c| c.code())?;
        let hw = p.log.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ErrorCode::OffsetOutOfRange.code());
        }
        p.log.delete_before(target);
        Ok(p.log.log_start_offset)
    })
}

/// A forced DeleteRecords answer: `code` for every partition asked about.
pub(crate) fn delete_records_error(req: &DeleteRecordsRequest, code: i16) -> DeleteRecordsResponse {
    delete_records_answer(req, |_, _, _| Err(code))
}

/// A DeleteRecords response with one result per partition asked about: `delete(topic,
/// partition, offset)` gives its new low watermark or its error code.
fn delete_records_answer(
    req: &DeleteRecordsRequest,
    mut delete: impl FnMut(&str, i32, i64) -> Result<i64, i16>,
) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| DeleteRecordsTopicResult {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|dp| {
                    let (error_code, low_watermark) = match delete(&t.name, dp.partition_index, dp.offset) {
                        Ok(low) => (0, low),
                        Err(code) => (code, -1),
                    };
                    DeleteRecordsPartitionResult {
                        partition_index: dp.partition_index,
                        low_watermark,
                        error_code,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    DeleteRecordsResponse { topics, ..Default::default() }
}

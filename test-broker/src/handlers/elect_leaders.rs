//! ElectLeaders (key 43), v0–2: preferred (KIP-183) and unclean (KIP-460) elections. A
//! controller API that any broker forwards, so every broker answers it.

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::generated::{ElectLeadersRequest, ElectLeadersResponse};

use super::Ctx;
use crate::state::reassign::ElectionType;

fn result(partition_id: i32, outcome: Result<(), (ErrorCode, Option<String>)>) -> PartitionResult {
    let (code, message) = match outcome {
        Ok(()) => (ErrorCode::None, None),
        Err((code, message)) => (code, Some(message.unwrap_or_else(|| code.description().to_owned()))),
    };
    PartitionResult { partition_id, error_code: code.code(), error_message: message, ..Default::default() }
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let ty = match req.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            tracing::debug!(election_type = other, "ElectLeaders: unknown election type");
            // v0 carries no election type (always preferred), so this is v1+
            return ElectLeadersResponse {
                error_code: ErrorCode::InvalidRequest.code(),
                ..Default::default()
            };
        }
    };
    let mut st = ctx.shared.state();
    let mut results = Vec::new();
    match &req.topic_partitions {
        None => {
            // every partition; those that already have the desired leader are left out
            let topics: Vec<(String, i32)> =
                st.topics.values().map(|t| (t.name.clone(), t.partitions.len() as i32)).collect();
            for (topic, n) in topics {
                let partition_result = (0..n)
                    .map(|p| (p, st.elect_leader(&topic, p, ty)))
                    .filter(|(_, r)| !matches!(r, Err((ErrorCode::ElectionNotNeeded, _))))
                    .map(|(p, r)| result(p, r))
                    .collect();
                results.push(ReplicaElectionResult { topic, partition_result, ..Default::default() });
            }
        }
        Some(list) => {
            for t in list {
                let partition_result =
                    t.partitions.iter().map(|&p| result(p, st.elect_leader(&t.topic, p, ty))).collect();
                results.push(ReplicaElectionResult {
                    topic: t.topic.clone(),
                    partition_result,
                    ..Default::default()
                });
            }
        }
    }
    drop(st);
    ctx.shared.data_changed.notify_waiters();
    ElectLeadersResponse { replica_election_results: results, ..Default::default() }
}

pub(crate) fn error_response(req: &ElectLeadersRequest, version: i16, code: i16) -> ElectLeadersResponse {
    ElectLeadersResponse {
        error_code: if version >= 1 { code } else { 0 },
        replica_election_results: req
            .topic_partitions
            .iter()
            .flatten()
            .map(|t| ReplicaElectionResult {
                topic: t.topic.clone(),
                partition_result: t
                    .partitions
                    .iter()
                    .map(|&partition_id| PartitionResult {
                        partition_id,
                        error_code: code,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

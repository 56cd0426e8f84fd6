//! AlterPartitionReassignments (key 45) and ListPartitionReassignments (key 46), v0 (KIP-455).
//! Controller APIs that any broker forwards, so every broker answers them. The state machine
//! is `state/reassign.rs`.

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::generated::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::generated::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{Ctx, now_ms};

pub(crate) fn alter(
    ctx: &Ctx<'_>,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let now = now_ms();
    let mut st = ctx.shared.state();
    let responses = req
        .topics
        .iter()
        .map(|t| ReassignableTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let outcome =
                        st.reassign_partition(&t.name, p.partition_index, p.replicas.as_deref(), now);
                    let (code, message) = match outcome {
                        Ok(()) => (ErrorCode::None, None),
                        Err((code, m)) => {
                            tracing::debug!(
                                topic = t.name,
                                partition = p.partition_index,
                                error = code.name(),
                                "AlterPartitionReassignments refused"
                            );
                            (code, Some(m.unwrap_or_else(|| code.description().to_owned())))
                        }
                    };
                    ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        error_message: message,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    drop(st);
    ctx.shared.data_changed.notify_waiters();
    AlterPartitionReassignmentsResponse { responses, ..Default::default() }
}

pub(crate) fn alter_error_response(
    req: &AlterPartitionReassignmentsRequest,
    code: i16,
) -> AlterPartitionReassignmentsResponse {
    AlterPartitionReassignmentsResponse {
        error_code: code,
        responses: req
            .topics
            .iter()
            .map(|t| ReassignableTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| ReassignablePartitionResponse {
                        partition_index: p.partition_index,
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

pub(crate) fn list(
    ctx: &Ctx<'_>,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let mut st = ctx.shared.state();
    if st.complete_reassignments(now_ms()) {
        ctx.shared.data_changed.notify_waiters();
    }
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(ts) => ts.iter().any(|t| t.name == topic && t.partition_indexes.contains(&partition)),
    };
    let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
    for ((topic, partition), r) in &st.reassignments {
        if !wanted(topic, *partition) {
            continue;
        }
        let Some(p) = st.topics.get(topic).and_then(|t| t.partitions.get(*partition as usize)) else {
            continue;
        };
        let entry = OngoingPartitionReassignment {
            partition_index: *partition,
            replicas: p.replicas.clone(),
            adding_replicas: r.adding.clone(),
            removing_replicas: r.removing.clone(),
            ..Default::default()
        };
        match topics.last_mut() {
            Some(t) if t.name == *topic => t.partitions.push(entry),
            _ => topics.push(OngoingTopicReassignment {
                name: topic.clone(),
                partitions: vec![entry],
                ..Default::default()
            }),
        }
    }
    ListPartitionReassignmentsResponse { topics, ..Default::default() }
}

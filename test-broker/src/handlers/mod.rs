//! Request handlers, one file per API or family, and the dispatch over them.
//!
//! Every handler takes the decoded request and returns the response body (or `None` for
//! acks=0 produce). Handlers lock the cluster state briefly and never across an await.

pub mod api_versions;
mod configs;
mod coordinator;
mod elect_leaders;
mod fetch;
mod groups;
mod list_offsets;
pub(crate) mod log_dirs;
mod metadata;
mod produce;
mod reassignments;
pub(crate) mod sasl;
mod topics;
mod txn;

use bytes::Bytes;
use kafka_protocol::records::{DecodeOptions, decode_batches};
use kafka_protocol::{ApiKey, ErrorCode, RequestHeader, RequestKind, ResponseKind, VersionRange};

use crate::cluster::Shared;
use crate::control::StoredRecord;
use crate::state::{Partition, State, StoredBatch};

/// What a handler knows about the request it serves.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    /// The broker that received the request.
    pub broker: i32,
    /// The request's version.
    pub version: i16,
    /// The request header.
    #[allow(dead_code)]
    pub header: &'a RequestHeader,
}

/// The versions the test broker serves for `api` (Kafka 4.x floors, our codec's ceilings;
/// versions marked unstable upstream are not advertised). `None`: not served.
pub fn supported_versions(api: ApiKey) -> Option<VersionRange> {
    let min = match api {
        ApiKey::ApiVersions | ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DeleteRecords => 0,
        // groups and transactions: see groups.rs and txn.rs (added as they are served)
        ApiKey::InitProducerId
        | ApiKey::AddPartitionsToTxn
        | ApiKey::AddOffsetsToTxn
        | ApiKey::EndTxn
        | ApiKey::TxnOffsetCommit
        | ApiKey::DescribeProducers
        | ApiKey::DescribeTransactions
        | ApiKey::ListTransactions => 0,
        ApiKey::JoinGroup
        | ApiKey::SyncGroup
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::OffsetDelete
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::DeleteGroups => 0,
        ApiKey::OffsetCommit => 2,
        ApiKey::OffsetFetch => 1,
        ApiKey::Produce => 3,
        ApiKey::Fetch => 4,
        ApiKey::ListOffsets => 1,
        ApiKey::CreateTopics => 2,
        ApiKey::DeleteTopics => 1,
        ApiKey::CreatePartitions => 0,
        ApiKey::OffsetForLeaderEpoch => 2,
        ApiKey::DescribeConfigs => 1,
        ApiKey::AlterConfigs | ApiKey::IncrementalAlterConfigs | ApiKey::DescribeCluster => 0,
        // controller APIs, answered by any broker (see elect_leaders.rs, reassignments.rs)
        ApiKey::ElectLeaders | ApiKey::AlterPartitionReassignments | ApiKey::ListPartitionReassignments => 0,
        // v0 was removed in Kafka 4.0 (KIP-896)
        ApiKey::DescribeLogDirs => 1,
        // answered by the connection's authenticator (sasl.rs), or ILLEGAL_SASL_STATE without SASL
        ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => 0,
        _ => return None,
    };
    let codec = api.versions();
    let max = if api.latest_version_unstable() { codec.max - 1 } else { codec.max };
    Some(VersionRange { min: min.max(codec.min), max })
}

/// Runs the handler for `request`.
pub(crate) async fn dispatch(ctx: &Ctx<'_>, request: RequestKind) -> Option<ResponseKind> {
    Some(match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(ctx, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(ctx, r)),
        RequestKind::Produce(r) => return produce::handle(ctx, r).map(ResponseKind::Produce),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(ctx, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(ctx, r)),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(list_offsets::epochs(ctx, r))
        }
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(topics::create(ctx, r)),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(topics::delete(ctx, r)),
        RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(topics::create_partitions(ctx, r)),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(topics::delete_records(ctx, r)),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(configs::describe(ctx, r)),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(configs::alter(ctx, r)),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(configs::incremental_alter(ctx, r))
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(metadata::describe_cluster(ctx, r)),
        RequestKind::FindCoordinator(r) => ResponseKind::FindCoordinator(coordinator::find(ctx, r)),
        RequestKind::ElectLeaders(r) => ResponseKind::ElectLeaders(elect_leaders::handle(ctx, r)),
        RequestKind::AlterPartitionReassignments(r) => {
            ResponseKind::AlterPartitionReassignments(reassignments::alter(ctx, r))
        }
        RequestKind::ListPartitionReassignments(r) => {
            ResponseKind::ListPartitionReassignments(reassignments::list(ctx, r))
        }
        RequestKind::DescribeLogDirs(r) => ResponseKind::DescribeLogDirs(log_dirs::describe(ctx, r)),
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(sasl::handshake_without_sasl()),
        RequestKind::SaslAuthenticate(_) => ResponseKind::SaslAuthenticate(sasl::authenticate_without_sasl()),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(txn::init_producer_id(ctx, r)),
        RequestKind::AddPartitionsToTxn(r) => ResponseKind::AddPartitionsToTxn(txn::add_partitions(ctx, r)),
        RequestKind::AddOffsetsToTxn(r) => ResponseKind::AddOffsetsToTxn(txn::add_offsets(ctx, r)),
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(txn::end_txn(ctx, r)),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(txn::txn_offset_commit(ctx, r)),
        RequestKind::DescribeProducers(r) => ResponseKind::DescribeProducers(txn::describe_producers(ctx, r)),
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions(ctx, r))
        }
        RequestKind::ListTransactions(r) => ResponseKind::ListTransactions(txn::list_transactions(ctx, r)),
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(groups::join_group(ctx, r).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(groups::sync_group(ctx, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups::heartbeat(ctx, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(groups::leave_group(ctx, r)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(groups::offset_commit(ctx, r)),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(groups::offset_fetch(ctx, r)),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(groups::offset_delete(ctx, r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(groups::describe_groups(ctx, r)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(groups::list_groups(ctx, r)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(groups::delete_groups(ctx, r)),
        other => {
            tracing::warn!(api = other.api_key().name(), "no handler");
            return None;
        }
    })
}

/// The response a fault forces: `code` at every level the API has.
pub(crate) fn error_response(ctx: &Ctx<'_>, request: &RequestKind, code: ErrorCode) -> Option<ResponseKind> {
    let c = code.code();
    Some(match request {
        RequestKind::Produce(r) => ResponseKind::Produce(produce::error_response(r, c)),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::error_response(ctx, r, c)),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::error_response(r, c)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::error_response(ctx, r, c)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(topics::create_error_response(r, c)),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(topics::delete_records_error(r, c)),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(coordinator::error_response(ctx, r, c))
        }
        RequestKind::ApiVersions(_) => {
            ResponseKind::ApiVersions(kafka_protocol::generated::ApiVersionsResponse {
                error_code: c,
                ..Default::default()
            })
        }
        RequestKind::InitProducerId(_) => ResponseKind::InitProducerId(txn::init_producer_id_error(c)),
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(elect_leaders::error_response(r, ctx.version, c))
        }
        RequestKind::AlterPartitionReassignments(r) => {
            ResponseKind::AlterPartitionReassignments(reassignments::alter_error_response(r, c))
        }
        RequestKind::ListPartitionReassignments(_) => ResponseKind::ListPartitionReassignments(
            kafka_protocol::generated::ListPartitionReassignmentsResponse {
                error_code: c,
                ..Default::default()
            },
        ),
        RequestKind::DescribeLogDirs(_) => {
            ResponseKind::DescribeLogDirs(log_dirs::error_response(ctx.version, c))
        }
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(sasl::handshake_error(c)),
        RequestKind::SaslAuthenticate(_) => {
            ResponseKind::SaslAuthenticate(kafka_protocol::generated::SaslAuthenticateResponse {
                error_code: c,
                ..Default::default()
            })
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions_error(ctx, r, c))
        }
        RequestKind::AddOffsetsToTxn(_) => {
            ResponseKind::AddOffsetsToTxn(kafka_protocol::generated::AddOffsetsToTxnResponse {
                error_code: c,
                ..Default::default()
            })
        }
        RequestKind::EndTxn(_) => ResponseKind::EndTxn(txn::end_txn_error(c)),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(txn::txn_offset_commit_error(r, c)),
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(txn::describe_producers_error(r, c))
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(txn::describe_transactions_error(r, c))
        }
        RequestKind::ListTransactions(_) => ResponseKind::ListTransactions(txn::list_transactions_error(c)),
        RequestKind::JoinGroup(_) => ResponseKind::JoinGroup(groups::join_group_error(ctx, c)),
        RequestKind::SyncGroup(_) => ResponseKind::SyncGroup(groups::sync_group_error(c)),
        RequestKind::Heartbeat(_) => ResponseKind::Heartbeat(kafka_protocol::generated::HeartbeatResponse {
            error_code: c,
            ..Default::default()
        }),
        RequestKind::LeaveGroup(_) => ResponseKind::LeaveGroup(groups::leave_group_error(c)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(groups::offset_commit_error(r, c)),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(groups::offset_fetch_error(ctx, r, c)),
        RequestKind::OffsetDelete(_) => ResponseKind::OffsetDelete(groups::offset_delete_error(c)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(groups::describe_groups_error(r, c)),
        RequestKind::ListGroups(_) => ResponseKind::ListGroups(groups::list_groups_error(c)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(groups::delete_groups_error(r, c)),
        other => {
            tracing::warn!(
                api = other.api_key().name(),
                "error injection not supported for this API; closing"
            );
            return None;
        }
    })
}

/// Whether a request mentions `topic` (and `partition`), for fault filters.
pub(crate) fn mentions(req: &RequestKind, topic: &str, partition: Option<i32>) -> bool {
    let p_ok = |p: i32| partition.is_none_or(|q| q == p);
    match req {
        RequestKind::Produce(r) => {
            r.topic_data.iter().any(|t| t.name == topic && t.partition_data.iter().any(|p| p_ok(p.index)))
        }
        RequestKind::Fetch(r) => {
            r.topics.iter().any(|t| t.topic == topic && t.partitions.iter().any(|p| p_ok(p.partition)))
        }
        RequestKind::ListOffsets(r) => {
            r.topics.iter().any(|t| t.name == topic && t.partitions.iter().any(|p| p_ok(p.partition_index)))
        }
        RequestKind::Metadata(r) => {
            r.topics.as_ref().is_none_or(|ts| ts.iter().any(|t| t.name.as_deref() == Some(topic)))
        }
        RequestKind::CreateTopics(r) => r.topics.iter().any(|t| t.name == topic),
        _ => false,
    }
}

/// Looks up a partition the receiving broker must lead, with Kafka's error codes: unknown
/// topic/partition, not leader, fenced or unknown leader epoch (`current_epoch` -1 skips it).
pub(crate) fn leader_partition<'s>(
    st: &'s mut State,
    broker: i32,
    topic: &str,
    partition: i32,
    current_epoch: i32,
) -> Result<&'s mut Partition, ErrorCode> {
    served_partition(st, broker, topic, partition, current_epoch, false)
}

/// As [`leader_partition`], but an in-sync follower may serve too: consumer fetches from
/// the closest replica (KIP-392, Fetch v11+).
pub(crate) fn replica_partition<'s>(
    st: &'s mut State,
    broker: i32,
    topic: &str,
    partition: i32,
    current_epoch: i32,
) -> Result<&'s mut Partition, ErrorCode> {
    served_partition(st, broker, topic, partition, current_epoch, true)
}

fn served_partition<'s>(
    st: &'s mut State,
    broker: i32,
    topic: &str,
    partition: i32,
    current_epoch: i32,
    follower_may_serve: bool,
) -> Result<&'s mut Partition, ErrorCode> {
    let p = st
        .topics
        .get_mut(topic)
        .and_then(|t| t.partitions.get_mut(partition.max(0) as usize).filter(|_| partition >= 0))
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    if current_epoch >= 0 && current_epoch < p.leader_epoch {
        return Err(ErrorCode::FencedLeaderEpoch);
    }
    if current_epoch > p.leader_epoch {
        return Err(ErrorCode::UnknownLeaderEpoch);
    }
    if p.leader != broker && !(follower_may_serve && p.isr.contains(&broker)) {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    Ok(p)
}

/// Splits a records buffer into whole batches (by each batch's length field).
pub(crate) fn split_batches(records: &Bytes) -> Result<Vec<Bytes>, String> {
    let mut out = Vec::new();
    let mut rest = records.clone();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(format!("{} trailing bytes are not a record batch", rest.len()));
        }
        let len = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if len < 49 || 12 + len as usize > rest.len() {
            return Err(format!("record batch length {len} does not fit in {} bytes", rest.len()));
        }
        out.push(rest.split_to(12 + len as usize));
    }
    Ok(out)
}

/// Decodes stored batches back into records (inspection).
pub(crate) fn records_of(batches: &[StoredBatch]) -> Vec<StoredRecord> {
    let opts = DecodeOptions::default();
    let mut out = Vec::new();
    for b in batches.iter().filter(|b| !b.control) {
        for batch in decode_batches(b.bytes.clone(), &opts).flatten() {
            for r in batch.records().flatten() {
                out.push(StoredRecord {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                });
            }
        }
    }
    out
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

//! The classic group coordinator's APIs: JoinGroup (key 11, v0-9), SyncGroup (14, v0-5),
//! Heartbeat (12, v0-4), LeaveGroup (13, v0-5), OffsetCommit (8, v2-9), OffsetFetch (9, v1-9),
//! OffsetDelete (47, v0), DescribeGroups (15, v0-5), ListGroups (16, v0-5), DeleteGroups
//! (42, v0-2).
//!
//! The state machine lives in `state/groups.rs`; these functions check that the receiving
//! broker coordinates the group (NOT_COORDINATOR otherwise), translate requests and responses
//! per version as Kafka 4.x's `KafkaApis` / `GroupCoordinatorService` do, and wait for parked
//! JoinGroup / SyncGroup outcomes on `coordinator_changed` without holding the state lock.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::delete_groups_response::DeletableGroupResult;
use kafka_protocol::generated::describe_groups_response::DescribedGroup;
use kafka_protocol::generated::leave_group_response::MemberResponse;
use kafka_protocol::generated::list_groups_response::ListedGroup;
use kafka_protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::generated::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::generated::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};

use super::{Ctx, now_ms};
use crate::state::State;
use crate::state::groups::{
    CommittedOffset, FetchedOffset, JoinGroupArgs, JoinOutcome, Parked, Protocol, SyncGroupArgs, SyncOutcome,
    Ticket,
};

/// Kafka prints a client address as `InetAddress.toString()`; every client here is local.
const CLIENT_HOST: &str = "/127.0.0.1";

/// How often a parked request re-checks on its own (coordinator moved, missed wake-up).
const RECHECK: Duration = Duration::from_millis(250);

/// All authorized operations on a group (READ, DELETE, DESCRIBE), for
/// `include_authorized_operations`.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

fn coordinates(st: &State, broker: i32, group: &str) -> bool {
    st.coordinator_for(0, group) == Some(broker)
}

fn client_id(ctx: &Ctx<'_>) -> String {
    ctx.header.client_id.clone().unwrap_or_default()
}

/// Waits until a parked request's outcome is decided. Interest in the notification is
/// registered before each check, so a change between the check and the wait is not missed.
async fn wait_parked(ctx: &Ctx<'_>, group: &str, ticket: Ticket) -> Result<Parked, ErrorCode> {
    loop {
        let notified = ctx.shared.coordinator_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = ctx.shared.state();
            if let Some(p) = st.groups.take_parked(ticket) {
                return Ok(p);
            }
            if !coordinates(&st, ctx.broker, group) {
                return Err(ErrorCode::NotCoordinator);
            }
        }
        let _ = tokio::time::timeout(RECHECK, notified).await;
    }
}

/// Protocol name as each version carries it: "" below v7, null (not "") from v7.
fn normalize_join(mut r: JoinGroupResponse, version: i16) -> JoinGroupResponse {
    if version < 7 && r.protocol_name.is_none() {
        r.protocol_name = Some(String::new());
    }
    if version >= 7 && r.protocol_name.as_deref() == Some("") {
        r.protocol_name = None;
    }
    if version < 9 {
        r.skip_assignment = false;
    }
    r
}

pub(crate) fn join_group_error(ctx: &Ctx<'_>, code: i16) -> JoinGroupResponse {
    normalize_join(
        JoinGroupResponse { error_code: code, generation_id: -1, protocol_name: None, ..Default::default() },
        ctx.version,
    )
}

pub(crate) async fn join_group(ctx: &Ctx<'_>, req: JoinGroupRequest) -> JoinGroupResponse {
    let args = JoinGroupArgs {
        group_id: req.group_id.clone(),
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol { name: p.name, metadata: p.metadata })
            .collect(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if ctx.version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        client_id: client_id(ctx),
        client_host: CLIENT_HOST.into(),
        version: ctx.version,
    };
    let outcome = {
        let mut st = ctx.shared.state();
        let cfg = &st.groups.config;
        let invalid = if req.group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else if args.session_timeout_ms < cfg.min_session_timeout_ms
            || args.session_timeout_ms > cfg.max_session_timeout_ms
        {
            Some(ErrorCode::InvalidSessionTimeout)
        } else if !coordinates(&st, ctx.broker, &req.group_id) {
            Some(ErrorCode::NotCoordinator)
        } else {
            None
        };
        if let Some(code) = invalid {
            let mut r = join_group_error(ctx, code.code());
            if code != ErrorCode::NotCoordinator {
                r.member_id = args.member_id;
            }
            return r;
        }
        st.groups.config.initial_rebalance_delay_ms =
            st.settings.group_initial_rebalance_delay_ms.min(i32::MAX as u64) as i32;
        st.groups.join_group(args, now_ms())
    };
    ctx.shared.coordinator_changed.notify_waiters();
    let resp = match outcome {
        JoinOutcome::Done(r) => *r,
        JoinOutcome::Parked(t) => match wait_parked(ctx, &req.group_id, t).await {
            Ok(Parked::Join(r)) => *r,
            Ok(_) => join_group_error(ctx, ErrorCode::UnknownServerError.code()),
            Err(code) => join_group_error(ctx, code.code()),
        },
    };
    normalize_join(resp, ctx.version)
}

pub(crate) fn sync_group_error(code: i16) -> SyncGroupResponse {
    SyncGroupResponse { error_code: code, ..Default::default() }
}

pub(crate) async fn sync_group(ctx: &Ctx<'_>, req: SyncGroupRequest) -> SyncGroupResponse {
    let group = req.group_id.clone();
    let outcome = {
        let mut st = ctx.shared.state();
        let missing_protocol =
            ctx.version >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none());
        if !req.group_id.is_empty() && !missing_protocol && !coordinates(&st, ctx.broker, &req.group_id) {
            return sync_group_error(ErrorCode::NotCoordinator.code());
        }
        let args = SyncGroupArgs {
            group_id: req.group_id,
            generation_id: req.generation_id,
            member_id: req.member_id,
            group_instance_id: req.group_instance_id,
            protocol_type: req.protocol_type,
            protocol_name: req.protocol_name,
            assignments: req.assignments.into_iter().map(|a| (a.member_id, a.assignment)).collect(),
            version: ctx.version,
        };
        st.groups.sync_group(args, now_ms())
    };
    ctx.shared.coordinator_changed.notify_waiters();
    match outcome {
        SyncOutcome::Done(r) => r,
        SyncOutcome::Parked(t) => match wait_parked(ctx, &group, t).await {
            Ok(Parked::Sync(r)) => r,
            Ok(Parked::Join(r)) => sync_group_error(r.error_code),
            Ok(Parked::Pending) => sync_group_error(ErrorCode::UnknownServerError.code()),
            Err(code) => sync_group_error(code.code()),
        },
    }
}

pub(crate) fn heartbeat(ctx: &Ctx<'_>, req: HeartbeatRequest) -> HeartbeatResponse {
    let code = {
        let mut st = ctx.shared.state();
        if !req.group_id.is_empty() && !coordinates(&st, ctx.broker, &req.group_id) {
            ErrorCode::NotCoordinator
        } else {
            st.groups.heartbeat(
                &req.group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                now_ms(),
            )
        }
    };
    HeartbeatResponse { error_code: code.code(), ..Default::default() }
}

pub(crate) fn leave_group(ctx: &Ctx<'_>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members.iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone())).collect()
    } else {
        vec![(req.member_id.clone(), None)]
    };
    let result = {
        let mut st = ctx.shared.state();
        if !req.group_id.is_empty() && !coordinates(&st, ctx.broker, &req.group_id) {
            Err(ErrorCode::NotCoordinator)
        } else {
            st.groups.leave_group(&req.group_id, &members, now_ms())
        }
    };
    ctx.shared.coordinator_changed.notify_waiters();
    match result {
        Err(code) => leave_group_error(code.code()),
        Ok(codes) if ctx.version < 3 => LeaveGroupResponse {
            error_code: codes.first().map(|c| c.code()).unwrap_or(0),
            ..Default::default()
        },
        Ok(codes) => LeaveGroupResponse {
            members: members
                .into_iter()
                .zip(codes)
                .map(|((member_id, group_instance_id), c)| MemberResponse {
                    member_id,
                    group_instance_id,
                    error_code: c.code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    }
}

pub(crate) fn leave_group_error(code: i16) -> LeaveGroupResponse {
    LeaveGroupResponse { error_code: code, ..Default::default() }
}

fn partition_exists(st: &State, topic: &str, partition: i32) -> bool {
    st.topics.get(topic).is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
}

pub(crate) fn offset_commit(ctx: &Ctx<'_>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let now = now_ms();
    let mut st = ctx.shared.state();
    if !coordinates(&st, ctx.broker, &req.group_id) {
        return offset_commit_error(&req, ErrorCode::NotCoordinator.code());
    }
    // KafkaApis answers unknown partitions itself; the coordinator sees only the rest
    let mut codes: Vec<Vec<ErrorCode>> = req
        .topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| {
                    if partition_exists(&st, &t.name, p.partition_index) {
                        ErrorCode::None
                    } else {
                        ErrorCode::UnknownTopicOrPartition
                    }
                })
                .collect()
        })
        .collect();
    let valid = codes.iter().flatten().any(|c| *c == ErrorCode::None);
    if valid {
        let checked = st.groups.validate_offset_commit(
            &req.group_id,
            req.generation_id_or_member_epoch,
            &req.member_id,
            req.group_instance_id.as_deref(),
            ctx.version,
            now,
        );
        for (t, tc) in req.topics.iter().zip(codes.iter_mut()) {
            for (p, c) in t.partitions.iter().zip(tc.iter_mut()) {
                if *c != ErrorCode::None {
                    continue;
                }
                if let Err(code) = checked {
                    *c = code;
                } else if st.groups.metadata_too_large(p.committed_metadata.as_deref()) {
                    *c = ErrorCode::OffsetMetadataTooLarge;
                } else {
                    let offset = CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: if ctx.version >= 6 { p.committed_leader_epoch } else { -1 },
                        metadata: p.committed_metadata.clone(),
                        commit_timestamp: now,
                    };
                    st.groups.commit_offset(&req.group_id, &t.name, p.partition_index, offset);
                }
            }
        }
    }
    drop(st);
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .zip(codes)
            .map(|(t, tc)| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .zip(tc)
                    .map(|(p, c)| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: c.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn offset_commit_error(req: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
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

/// One group's fetched offsets by topic, or the group's error.
type GroupOffsets = Result<Vec<(String, Vec<FetchedOffset>)>, ErrorCode>;

/// One group of an OffsetFetch, as (group, requested topics or None for all).
type FetchGroup = (String, Option<Vec<(String, Vec<i32>)>>);

fn fetch_groups(ctx: &Ctx<'_>, req: &OffsetFetchRequest) -> Vec<FetchGroup> {
    if ctx.version >= 8 {
        req.groups
            .iter()
            .map(|g| {
                let topics = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())).collect());
                (g.group_id.clone(), topics)
            })
            .collect()
    } else {
        let topics = req
            .topics
            .as_ref()
            .map(|ts| ts.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())).collect());
        vec![(req.group_id.clone(), topics)]
    }
}

/// Partitions of `group` with offsets staged in an open transaction.
fn pending_txn_offsets(st: &State, group: &str) -> BTreeSet<(String, i32)> {
    st.txns
        .txns
        .values()
        .filter_map(|m| m.pending_offsets.get(group))
        .flat_map(|o| o.keys().cloned())
        .collect()
}

pub(crate) fn offset_fetch(ctx: &Ctx<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let require_stable = ctx.version >= 7 && req.require_stable;
    let st = ctx.shared.state();
    let mut results: Vec<(String, GroupOffsets)> = Vec::new();
    for (group, topics) in fetch_groups(ctx, &req) {
        if !coordinates(&st, ctx.broker, &group) {
            results.push((group, Err(ErrorCode::NotCoordinator)));
            continue;
        }
        let unstable = if require_stable { pending_txn_offsets(&st, &group) } else { BTreeSet::new() };
        let fetched = st.groups.fetch_offsets(&group, topics.as_deref(), &unstable);
        results.push((group, Ok(fetched)));
    }
    drop(st);
    build_offset_fetch(ctx, &req, results)
}

fn build_offset_fetch(
    ctx: &Ctx<'_>,
    req: &OffsetFetchRequest,
    results: Vec<(String, GroupOffsets)>,
) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let groups = results
            .into_iter()
            .map(|(group_id, r)| match r {
                Err(code) => {
                    OffsetFetchResponseGroup { group_id, error_code: code.code(), ..Default::default() }
                }
                Ok(topics) => OffsetFetchResponseGroup {
                    group_id,
                    topics: topics
                        .into_iter()
                        .map(|(name, ps)| OffsetFetchResponseTopics {
                            name,
                            partitions: ps
                                .into_iter()
                                .map(|f| OffsetFetchResponsePartitions {
                                    partition_index: f.partition,
                                    committed_offset: f.offset,
                                    committed_leader_epoch: f.leader_epoch,
                                    metadata: Some(f.metadata),
                                    error_code: f.error.code(),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
            })
            .collect();
        return OffsetFetchResponse { groups, ..Default::default() };
    }
    let Some((_, r)) = results.into_iter().next() else { return OffsetFetchResponse::default() };
    let topics = match r {
        Ok(t) => t,
        Err(code) => return offset_fetch_error(ctx, req, code.code()),
    };
    OffsetFetchResponse {
        topics: topics
            .into_iter()
            .map(|(name, ps)| OffsetFetchResponseTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|f| OffsetFetchResponsePartition {
                        partition_index: f.partition,
                        committed_offset: f.offset,
                        committed_leader_epoch: f.leader_epoch,
                        metadata: Some(f.metadata),
                        error_code: f.error.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// An OffsetFetch answer carrying `code`: per group (v8+), top level (v2-7), or on every
/// requested partition (v1, which has no top-level error).
pub(crate) fn offset_fetch_error(ctx: &Ctx<'_>, req: &OffsetFetchRequest, code: i16) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        return OffsetFetchResponse {
            groups: req
                .groups
                .iter()
                .map(|g| OffsetFetchResponseGroup {
                    group_id: g.group_id.clone(),
                    error_code: code,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    }
    if ctx.version >= 2 {
        return OffsetFetchResponse { error_code: code, ..Default::default() };
    }
    OffsetFetchResponse {
        topics: req
            .topics
            .iter()
            .flatten()
            .map(|t| OffsetFetchResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|p| OffsetFetchResponsePartition {
                        partition_index: *p,
                        committed_offset: -1,
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

pub(crate) fn offset_delete(ctx: &Ctx<'_>, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let mut st = ctx.shared.state();
    if req.group_id.is_empty() {
        return offset_delete_error(ErrorCode::InvalidGroupId.code());
    }
    if !coordinates(&st, ctx.broker, &req.group_id) {
        return offset_delete_error(ErrorCode::NotCoordinator.code());
    }
    // unknown partitions are answered by KafkaApis; the coordinator sees the rest
    let mut known: Vec<(String, Vec<i32>)> = Vec::new();
    for t in &req.topics {
        let ps: Vec<i32> = t
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .filter(|p| partition_exists(&st, &t.name, *p))
            .collect();
        if !ps.is_empty() {
            known.push((t.name.clone(), ps));
        }
    }
    let result = st.groups.delete_offsets(&req.group_id, &known, now_ms());
    drop(st);
    let codes = match result {
        Err(code) => return offset_delete_error(code.code()),
        Ok(c) => c,
    };
    let code_of = |topic: &str, p: i32| -> ErrorCode {
        known
            .iter()
            .zip(&codes)
            .find(|((t, _), _)| t == topic)
            .and_then(|((_, ps), cs)| ps.iter().position(|x| *x == p).map(|i| cs[i]))
            .unwrap_or(ErrorCode::UnknownTopicOrPartition)
    };
    OffsetDeleteResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetDeleteResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code_of(&t.name, p.partition_index).code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn offset_delete_error(code: i16) -> OffsetDeleteResponse {
    OffsetDeleteResponse { error_code: code, ..Default::default() }
}

pub(crate) fn describe_groups(ctx: &Ctx<'_>, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let now = now_ms();
    let mut st = ctx.shared.state();
    let groups = req
        .groups
        .iter()
        .map(|g| {
            if !coordinates(&st, ctx.broker, g) {
                return DescribedGroup {
                    group_id: g.clone(),
                    error_code: ErrorCode::NotCoordinator.code(),
                    ..Default::default()
                };
            }
            let mut d = st.groups.describe_group(g, now);
            if ctx.version >= 3 && req.include_authorized_operations {
                d.authorized_operations = GROUP_OPERATIONS;
            }
            d
        })
        .collect();
    DescribeGroupsResponse { groups, ..Default::default() }
}

pub(crate) fn describe_groups_error(req: &DescribeGroupsRequest, code: i16) -> DescribeGroupsResponse {
    DescribeGroupsResponse {
        groups: req
            .groups
            .iter()
            .map(|g| DescribedGroup { group_id: g.clone(), error_code: code, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

/// The groups this broker coordinates (an admin client asks every broker).
pub(crate) fn list_groups(ctx: &Ctx<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let states = if ctx.version >= 4 { req.states_filter } else { Vec::new() };
    let types = if ctx.version >= 5 { req.types_filter } else { Vec::new() };
    let mut st = ctx.shared.state();
    let listed = st.groups.list_groups(&states, &types, now_ms());
    let groups = listed
        .into_iter()
        .filter(|g| coordinates(&st, ctx.broker, &g.group_id))
        .map(|g| ListedGroup {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            group_state: g.state.to_owned(),
            group_type: "classic".into(),
            ..Default::default()
        })
        .collect();
    ListGroupsResponse { groups, ..Default::default() }
}

pub(crate) fn list_groups_error(code: i16) -> ListGroupsResponse {
    ListGroupsResponse { error_code: code, ..Default::default() }
}

pub(crate) fn delete_groups(ctx: &Ctx<'_>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let now = now_ms();
    let mut st = ctx.shared.state();
    let results = req
        .groups_names
        .iter()
        .map(|g| {
            let code = if !coordinates(&st, ctx.broker, g) {
                ErrorCode::NotCoordinator
            } else {
                st.groups.delete_group(g, now)
            };
            DeletableGroupResult { group_id: g.clone(), error_code: code.code(), ..Default::default() }
        })
        .collect();
    DeleteGroupsResponse { results, ..Default::default() }
}

pub(crate) fn delete_groups_error(req: &DeleteGroupsRequest, code: i16) -> DeleteGroupsResponse {
    DeleteGroupsResponse {
        results: req
            .groups_names
            .iter()
            .map(|g| DeletableGroupResult { group_id: g.clone(), error_code: code, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

//! Transactions and producer ids:
//! InitProducerId (key 22, v0-5), AddPartitionsToTxn (key 24, v0-3 single transaction, v4+
//! batched with `verify_only`), AddOffsetsToTxn (key 25), EndTxn (key 26, v0-5; v5 returns
//! the bumped epoch under transactions v2), TxnOffsetCommit (key 28, v0-5; v5 adds the group
//! itself under transactions v2; the group's generation / member / instance id are checked
//! from v3), DescribeProducers (key 61),
//! DescribeTransactions (key 65), ListTransactions (key 66, v1 duration filter); and the
//! transaction verification the Produce handler runs before appending a transactional batch.
//!
//! The state machine and marker writing live in `state/txn.rs`; these functions translate
//! requests and errors per version as Kafka 4.x's `KafkaApis` does (PRODUCER_FENCED becomes
//! INVALID_PRODUCER_EPOCH for old versions).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::generated::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::generated::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::generated::describe_transactions_response::{self, TopicData};
use kafka_protocol::generated::list_transactions_response;
use kafka_protocol::generated::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListTransactionsRequest, ListTransactionsResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};

use super::{Ctx, leader_partition, now_ms, split_batches};
use crate::state::State;
use crate::state::groups::CommittedOffset;
use crate::state::txn::{self, COORDINATOR_EPOCH, TxnState};

/// Kafka answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to clients too old to know it.
fn fenced_for(code: ErrorCode, understands_fenced: bool) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && !understands_fenced {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

/// Whether broker `broker` coordinates transactional id `id`.
fn coordinates(st: &State, broker: i32, id: &str) -> bool {
    st.coordinator_for(1, id) == Some(broker)
}

/// Runs timeouts, then `f` on the locked state; wakes fetches afterwards (markers may have
/// been written).
fn with_state<T>(ctx: &Ctx<'_>, f: impl FnOnce(&mut State, i64) -> T) -> T {
    let now = now_ms();
    let out = {
        let mut st = ctx.shared.state();
        txn::run_timeouts(&mut st, now);
        f(&mut st, now)
    };
    ctx.shared.data_changed.notify_waiters();
    ctx.shared.coordinator_changed.notify_waiters();
    out
}

pub(crate) fn init_producer_id(ctx: &Ctx<'_>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let result = with_state(ctx, |st, now| {
        let expected = match (req.producer_id, req.producer_epoch) {
            (-1, -1) => None,
            (-1, _) | (_, -1) => return Err(ErrorCode::InvalidRequest),
            (pid, epoch) => Some((pid, epoch)),
        };
        if let Some(id) = req.transactional_id.as_deref().filter(|id| !id.is_empty()) {
            let timeout_ok = req.transaction_timeout_ms > 0
                && req.transaction_timeout_ms <= st.settings.transaction_max_timeout_ms;
            if timeout_ok && !coordinates(st, ctx.broker, id) {
                return Err(ErrorCode::NotCoordinator);
            }
        }
        txn::init_producer_id(st, req.transactional_id.as_deref(), req.transaction_timeout_ms, expected, now)
    });
    match result {
        Ok((producer_id, producer_epoch)) => {
            InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() }
        }
        Err(code) => init_producer_id_error(fenced_for(code, ctx.version >= 4).code()),
    }
}

pub(crate) fn init_producer_id_error(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse { error_code: code, producer_id: -1, producer_epoch: -1, ..Default::default() }
}

/// One transaction of an AddPartitionsToTxn request.
fn add_partitions_one(
    ctx: &Ctx<'_>,
    st: &mut State,
    t: &AddPartitionsToTxnTransaction,
    now: i64,
) -> AddPartitionsToTxnResult {
    let parts: Vec<(String, i32)> =
        t.topics.iter().flat_map(|tp| tp.partitions.iter().map(|p| (tp.name.clone(), *p))).collect();
    let exists = |st: &State, (topic, p): &(String, i32)| {
        *p >= 0 && st.topics.get(topic).is_some_and(|x| (*p as usize) < x.partitions.len())
    };
    let codes: Vec<ErrorCode> = if parts.iter().any(|p| !exists(st, p)) {
        // any unknown partition fails the whole transaction's request
        parts
            .iter()
            .map(|p| {
                if exists(st, p) {
                    ErrorCode::OperationNotAttempted
                } else {
                    ErrorCode::UnknownTopicOrPartition
                }
            })
            .collect()
    } else if t.transactional_id.is_empty() {
        vec![ErrorCode::InvalidRequest; parts.len()]
    } else if !coordinates(st, ctx.broker, &t.transactional_id) {
        vec![ErrorCode::NotCoordinator; parts.len()]
    } else if t.verify_only {
        match txn::verify_partitions(st, &t.transactional_id, t.producer_id, t.producer_epoch, &parts) {
            Ok(codes) => codes,
            Err(code) => vec![code; parts.len()],
        }
    } else {
        let code = match txn::add_partitions(
            st,
            &t.transactional_id,
            t.producer_id,
            t.producer_epoch,
            &parts,
            now,
        ) {
            Ok(()) => ErrorCode::None,
            Err(code) => code,
        };
        vec![code; parts.len()]
    };
    let codes = codes.into_iter().map(|c| {
        let c = fenced_for(c, ctx.version >= 2);
        // TRANSACTION_ABORTABLE is understood from v5 (KIP-890)
        if c == ErrorCode::TransactionAbortable && ctx.version < 5 { ErrorCode::InvalidTxnState } else { c }
    });
    let mut by_topic: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, p), code) in parts.into_iter().zip(codes) {
        let result = AddPartitionsToTxnPartitionResult {
            partition_index: p,
            partition_error_code: code.code(),
            ..Default::default()
        };
        match by_topic.iter_mut().find(|r| r.name == topic) {
            Some(r) => r.results_by_partition.push(result),
            None => by_topic.push(AddPartitionsToTxnTopicResult {
                name: topic,
                results_by_partition: vec![result],
                ..Default::default()
            }),
        }
    }
    AddPartitionsToTxnResult {
        transactional_id: t.transactional_id.clone(),
        topic_results: by_topic,
        ..Default::default()
    }
}

pub(crate) fn add_partitions(ctx: &Ctx<'_>, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    if ctx.version < 4 {
        let t = AddPartitionsToTxnTransaction {
            transactional_id: req.v3_and_below_transactional_id,
            producer_id: req.v3_and_below_producer_id,
            producer_epoch: req.v3_and_below_producer_epoch,
            verify_only: false,
            topics: req.v3_and_below_topics,
            ..Default::default()
        };
        let result = with_state(ctx, |st, now| add_partitions_one(ctx, st, &t, now));
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: result.topic_results,
            ..Default::default()
        };
    }
    let results = with_state(ctx, |st, now| {
        req.transactions.iter().map(|t| add_partitions_one(ctx, st, t, now)).collect()
    });
    AddPartitionsToTxnResponse { results_by_transaction: results, ..Default::default() }
}

fn topic_results(topics: &[AddPartitionsToTxnTopic], code: i16) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|p| AddPartitionsToTxnPartitionResult {
                    partition_index: *p,
                    partition_error_code: code,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

pub(crate) fn add_partitions_error(
    ctx: &Ctx<'_>,
    req: &AddPartitionsToTxnRequest,
    code: i16,
) -> AddPartitionsToTxnResponse {
    if ctx.version < 4 {
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: topic_results(&req.v3_and_below_topics, code),
            ..Default::default()
        };
    }
    AddPartitionsToTxnResponse {
        error_code: code,
        results_by_transaction: req
            .transactions
            .iter()
            .map(|t| AddPartitionsToTxnResult {
                transactional_id: t.transactional_id.clone(),
                topic_results: topic_results(&t.topics, code),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn add_offsets(ctx: &Ctx<'_>, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let result = with_state(ctx, |st, now| {
        if !req.transactional_id.is_empty() && !coordinates(st, ctx.broker, &req.transactional_id) {
            return Err(ErrorCode::NotCoordinator);
        }
        txn::add_offsets(st, &req.transactional_id, req.producer_id, req.producer_epoch, &req.group_id, now)
    });
    let code = result.err().map(|c| fenced_for(c, ctx.version >= 2)).unwrap_or(ErrorCode::None);
    AddOffsetsToTxnResponse { error_code: code.code(), ..Default::default() }
}

pub(crate) fn end_txn(ctx: &Ctx<'_>, req: EndTxnRequest) -> EndTxnResponse {
    let result = with_state(ctx, |st, now| {
        if !req.transactional_id.is_empty() && !coordinates(st, ctx.broker, &req.transactional_id) {
            return Err(ErrorCode::NotCoordinator);
        }
        let v2 = ctx.version >= 5 && st.settings.transaction_version >= 2;
        txn::end_txn(st, &req.transactional_id, req.producer_id, req.producer_epoch, req.committed, v2, now)
    });
    match result {
        Ok((producer_id, producer_epoch)) => {
            EndTxnResponse { producer_id, producer_epoch, ..Default::default() }
        }
        Err(code) => end_txn_error(fenced_for(code, ctx.version >= 2).code()),
    }
}

pub(crate) fn end_txn_error(code: i16) -> EndTxnResponse {
    EndTxnResponse { error_code: code, producer_id: -1, producer_epoch: -1, ..Default::default() }
}

pub(crate) fn txn_offset_commit(ctx: &Ctx<'_>, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let topics = with_state(ctx, |st, now| {
        let mut codes: Vec<Vec<ErrorCode>> =
            req.topics.iter().map(|t| vec![ErrorCode::None; t.partitions.len()]).collect();
        let whole = if st.coordinator_for(0, &req.group_id) != Some(ctx.broker) {
            Some(ErrorCode::NotCoordinator)
        } else if req.group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else {
            None
        };
        if let Some(code) = whole {
            codes.iter_mut().flatten().for_each(|c| *c = code);
            return codes;
        }
        let mut valid = 0;
        for (t, tc) in req.topics.iter().zip(codes.iter_mut()) {
            let n = st.topics.get(&t.name).map(|x| x.partitions.len() as i32);
            for (p, c) in t.partitions.iter().zip(tc.iter_mut()) {
                if n.is_none_or(|n| p.partition_index < 0 || p.partition_index >= n) {
                    *c = ErrorCode::UnknownTopicOrPartition;
                } else {
                    valid += 1;
                }
            }
        }
        if valid == 0 {
            return codes;
        }
        let implicit = ctx.version >= 5 && st.settings.transaction_version >= 2;
        let mut check = txn::check_txn_offset_commit(
            st,
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            &req.group_id,
            implicit,
            now,
        );
        if check.is_ok() && ctx.version >= 3 {
            // Kafka's validateTransactionalOffsetCommit (KIP-447): a zombie of an older
            // generation, or a member no longer in the group, must not commit
            check = st.groups.validate_txn_offset_commit(
                &req.group_id,
                req.generation_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                now,
            );
        }
        if let Err(code) = check {
            codes.iter_mut().flatten().filter(|c| **c == ErrorCode::None).for_each(|c| *c = code);
            return codes;
        }
        for (t, tc) in req.topics.iter().zip(codes.iter()) {
            for (p, c) in t.partitions.iter().zip(tc) {
                if *c != ErrorCode::None {
                    continue;
                }
                let offset = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if ctx.version >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.clone(),
                    commit_timestamp: now,
                };
                txn::stage_offset(
                    st,
                    &req.transactional_id,
                    &req.group_id,
                    &t.name,
                    p.partition_index,
                    offset,
                );
            }
        }
        codes
    });
    txn_offset_commit_response(&req, |i, j| topics[i][j].code())
}

fn txn_offset_commit_response(
    req: &TxnOffsetCommitRequest,
    code: impl Fn(usize, usize) -> i16,
) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| TxnOffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(j, p)| TxnOffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code(i, j),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn txn_offset_commit_error(req: &TxnOffsetCommitRequest, code: i16) -> TxnOffsetCommitResponse {
    txn_offset_commit_response(req, |_, _| code)
}

pub(crate) fn describe_producers(ctx: &Ctx<'_>, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = with_state(ctx, |st, _| {
        req.topics
            .iter()
            .map(|t| TopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&index| match leader_partition(st, ctx.broker, &t.name, index, -1) {
                        Err(code) => PartitionResponse {
                            partition_index: index,
                            error_code: code.code(),
                            ..Default::default()
                        },
                        Ok(p) => {
                            let mut active: Vec<ProducerState> = p
                                .producers
                                .iter()
                                .map(|(&pid, e)| {
                                    let last = p.log.batches.iter().rev().find(|b| b.producer_id == pid);
                                    let marked =
                                        p.log.batches.iter().any(|b| b.producer_id == pid && b.control);
                                    ProducerState {
                                        producer_id: pid,
                                        producer_epoch: e.epoch as i32,
                                        last_sequence: e.batches.back().map(|b| b.last_seq).unwrap_or(-1),
                                        last_timestamp: last.map(|b| b.max_timestamp).unwrap_or(-1),
                                        coordinator_epoch: if marked { COORDINATOR_EPOCH } else { -1 },
                                        current_txn_start_offset: p
                                            .log
                                            .open_txns
                                            .get(&pid)
                                            .copied()
                                            .unwrap_or(-1),
                                        ..Default::default()
                                    }
                                })
                                .collect();
                            active.sort_by_key(|s| s.producer_id);
                            PartitionResponse {
                                partition_index: index,
                                active_producers: active,
                                ..Default::default()
                            }
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect()
    });
    DescribeProducersResponse { topics, ..Default::default() }
}

pub(crate) fn describe_producers_error(
    req: &DescribeProducersRequest,
    code: i16,
) -> DescribeProducersResponse {
    DescribeProducersResponse {
        topics: req
            .topics
            .iter()
            .map(|t| TopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partition_indexes
                    .iter()
                    .map(|&i| PartitionResponse {
                        partition_index: i,
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

pub(crate) fn describe_transactions(
    ctx: &Ctx<'_>,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = with_state(ctx, |st, _| {
        req.transactional_ids
            .iter()
            .map(|id| {
                let mut out = describe_transactions_response::TransactionState {
                    transactional_id: id.clone(),
                    producer_id: -1,
                    producer_epoch: -1,
                    transaction_start_time_ms: -1,
                    ..Default::default()
                };
                let code = if id.is_empty() {
                    ErrorCode::InvalidRequest
                } else if !coordinates(st, ctx.broker, id) {
                    ErrorCode::NotCoordinator
                } else {
                    match st.txns.txns.get(id).filter(|m| m.state != TxnState::Dead) {
                        None => ErrorCode::TransactionalIdNotFound,
                        Some(m) => {
                            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                            for (t, p) in m.described_partitions() {
                                topics.entry(t).or_default().push(p);
                            }
                            out.transaction_state = m.state.name().to_owned();
                            out.transaction_timeout_ms = m.timeout_ms;
                            out.transaction_start_time_ms = m.start_ms;
                            out.producer_id = m.producer_id;
                            out.producer_epoch = m.producer_epoch;
                            out.topics = topics
                                .into_iter()
                                .map(|(topic, partitions)| TopicData {
                                    topic,
                                    partitions,
                                    ..Default::default()
                                })
                                .collect();
                            ErrorCode::None
                        }
                    }
                };
                out.error_code = code.code();
                out
            })
            .collect()
    });
    DescribeTransactionsResponse { transaction_states: states, ..Default::default() }
}

pub(crate) fn describe_transactions_error(
    req: &DescribeTransactionsRequest,
    code: i16,
) -> DescribeTransactionsResponse {
    DescribeTransactionsResponse {
        transaction_states: req
            .transactional_ids
            .iter()
            .map(|id| describe_transactions_response::TransactionState {
                error_code: code,
                transactional_id: id.clone(),
                producer_id: -1,
                producer_epoch: -1,
                transaction_start_time_ms: -1,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Lists the transactional ids this broker coordinates (the admin client asks every broker).
pub(crate) fn list_transactions(ctx: &Ctx<'_>, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut unknown = Vec::new();
    let mut wanted = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name) {
            Some(s) => wanted.push(s),
            None => unknown.push(name.clone()),
        }
    }
    let duration = if ctx.version >= 1 { req.duration_filter } else { -1 };
    let states = with_state(ctx, |st, now| {
        st.txns
            .txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| coordinates(st, ctx.broker, &m.transactional_id))
            .filter(|m| {
                req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&m.producer_id)
            })
            .filter(|m| req.state_filters.is_empty() || wanted.contains(&m.state))
            .filter(|m| duration < 0 || now - m.start_ms > duration)
            .map(|m| list_transactions_response::TransactionState {
                transactional_id: m.transactional_id.clone(),
                producer_id: m.producer_id,
                transaction_state: m.state.name().to_owned(),
                ..Default::default()
            })
            .collect()
    });
    ListTransactionsResponse {
        unknown_state_filters: unknown,
        transaction_states: states,
        ..Default::default()
    }
}

pub(crate) fn list_transactions_error(code: i16) -> ListTransactionsResponse {
    ListTransactionsResponse { error_code: code, ..Default::default() }
}

/// Kafka's transaction verification for a Produce request (KIP-890 part 1, on by default in
/// 4.x): before a producer's first transactional batch in a partition (no transaction of its
/// open there yet), its coordinator must confirm that the partition was added to the ongoing
/// transaction. Errors are translated as Kafka's ReplicaManager does for producers:
/// PRODUCER_FENCED → INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS → NOT_ENOUGH_REPLICAS,
/// "not added" → TRANSACTION_ABORTABLE for Produce v11+, INVALID_TXN_STATE before.
///
/// Partitions that do not exist or that this broker does not lead pass, so the Produce
/// handler reports them with its own errors. The producer is found by producer id (the
/// request's transactional id is not consulted).
pub(crate) fn check_transactional_produce(
    st: &mut State,
    broker: i32,
    topic: &str,
    partition: i32,
    records: Option<&Bytes>,
    version: i16,
) -> Result<(), (ErrorCode, String)> {
    let now = now_ms();
    txn::run_timeouts(st, now);
    let Some(Ok(batches)) = records.map(split_batches) else { return Ok(()) };
    let producer = batches.iter().filter(|b| b.len() >= 61 && b[16] == 2).find_map(|b| {
        let attributes = i16::from_be_bytes([b[21], b[22]]);
        let pid = i64::from_be_bytes(b[43..51].try_into().unwrap_or([0xff; 8]));
        let epoch = i16::from_be_bytes([b[51], b[52]]);
        (attributes & 0x10 != 0 && attributes & 0x20 == 0 && pid >= 0).then_some((pid, epoch))
    });
    let Some((pid, epoch)) = producer else { return Ok(()) };
    let Some(p) = st.topics.get(topic).and_then(|t| t.partitions.get(partition.max(0) as usize)) else {
        return Ok(());
    };
    if partition < 0 || p.leader != broker || p.log.open_txns.contains_key(&pid) {
        return Ok(());
    }
    let result = if version >= 12 && st.settings.transaction_version >= 2 {
        // transactions v2: the leader adds the partition to the transaction itself
        txn::add_partition_implicitly(st, pid, epoch, topic, partition, now)
    } else {
        st.txns.verify_partition(pid, epoch, topic, partition)
    };
    let Err(code) = result else { return Ok(()) };
    let at = format!("{topic}-{partition}: producer {pid} epoch {epoch}");
    Err(match code {
        ErrorCode::ProducerFenced => {
            (ErrorCode::InvalidProducerEpoch, format!("{at}: the producer has been fenced"))
        }
        ErrorCode::ConcurrentTransactions => (
            ErrorCode::NotEnoughReplicas,
            format!(
                "{at}: unable to verify the partition has been added to the transaction. Underlying error: CONCURRENT_TRANSACTIONS"
            ),
        ),
        ErrorCode::TransactionAbortable if version <= 10 => {
            (ErrorCode::InvalidTxnState, format!("{at}: Partition was not added to the transaction"))
        }
        ErrorCode::TransactionAbortable => {
            (ErrorCode::TransactionAbortable, format!("{at}: Partition was not added to the transaction"))
        }
        other => (other, format!("{at}: {}", other.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_is_translated_for_old_versions() {
        assert_eq!(fenced_for(ErrorCode::ProducerFenced, false), ErrorCode::InvalidProducerEpoch);
        assert_eq!(fenced_for(ErrorCode::ProducerFenced, true), ErrorCode::ProducerFenced);
        assert_eq!(fenced_for(ErrorCode::InvalidTxnState, false), ErrorCode::InvalidTxnState);
    }
}

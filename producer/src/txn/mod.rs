//! Transactions, v1 and v2 (KIP-890 part 2).
//!
//! - v1: explicit AddPartitionsToTxn (≤ v3) before a partition's first batch, AddOffsetsToTxn
//!   before TxnOffsetCommit (≤ v4), EndTxn ≤ v4, Produce ≤ v11.
//! - v2, when the transaction coordinator finalizes `transaction.version` >= 2 and serves
//!   EndTxn v5, TxnOffsetCommit v5 and Produce v12 ([`supports_v2`]; decided per transaction
//!   at `begin`, as Java's `isTransactionV2Enabled`): no AddPartitionsToTxn or AddOffsetsToTxn
//!   (Produce v12 / TxnOffsetCommit v5 add the partition / group), and EndTxn v5 answers
//!   with a new epoch (a new producer id when the epoch ran out) that the producer adopts,
//!   restarting its sequences. The old epoch is then fenced, so a late EndTxn or a zombie
//!   batch of a finished transaction cannot touch the next one.
//!
//! `state.rs` is the sans-IO [`TransactionManager`]; this file is its driver: coordinator
//! discovery and failover, InitProducerId (with the KIP-360 epoch bump), AddOffsetsToTxn +
//! TxnOffsetCommit (KIP-447 group metadata), EndTxn, and the public transactional API on
//! [`Producer`]. The sender (`sender.rs`) sends AddPartitionsToTxn itself (v1), before it
//! drains a partition's first batch of a transaction.
//!
//! Concurrency: the manager sits in `Shared::txn` behind a std mutex, held only for its
//! synchronous calls (never across an await). `Shared::txn_open` mirrors "state is
//! InTransaction" so `send` checks it without a lock per record; `Shared::txn_appending`
//! closes the race with a concurrent commit (see its doc).

pub(crate) mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_client::conn::RequestOptions;
use kafka_client::{ConsumerGroupMetadata, CoordinatorType, Purpose, TopicPartitionRef};
use kafka_protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::generated::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    TxnOffsetCommitRequest,
};
use kafka_protocol::{ApiKey, ErrorCode, Request};
use tokio::time::Instant;

pub use state::TxnState;
pub(crate) use state::{Severity, Tp, TransactionManager};

use crate::error::{Error, Result, is_fatal_code};
use crate::producer::{Producer, Shared, lock};

/// The highest versions a transactions-v1 client uses (Java's `forClient` builders): EndTxn
/// v5+, TxnOffsetCommit v5+ and Produce v12+ mean transactions v2 (KIP-890).
const END_TXN_V1_MAX: i16 = 4;
const TXN_OFFSET_COMMIT_V1_MAX: i16 = 4;
pub(crate) const PRODUCE_V1_MAX: i16 = 11;
const ADD_PARTITIONS_MAX: i16 = 3;

/// Whether a transaction coordinator with these ApiVersions can run transactions v2: the
/// cluster finalized `transaction.version` >= 2 and the broker serves the v2 versions.
pub(crate) fn supports_v2(v: &kafka_client::conn::ApiVersions) -> bool {
    v.finalized_feature("transaction.version").is_some_and(|level| level >= 2)
        && v.supports(ApiKey::EndTxn, 5)
        && v.supports(ApiKey::TxnOffsetCommit, 5)
        && v.supports(ApiKey::Produce, 12)
}
/// Java retries AddPartitionsToTxn after CONCURRENT_TRANSACTIONS this quickly (the previous
/// transaction's markers are usually written within milliseconds).
const CONCURRENT_TXN_BACKOFF: Duration = Duration::from_millis(20);

/// An offset to commit with the transaction (Java's `OffsetAndMetadata`).
pub use kafka_client::OffsetAndMetadata;

/// One attempt's outcome.
pub(crate) enum Step<T> {
    Done(T),
    /// Retriable; try again after this long.
    Retry(Duration, Error),
    /// A definite failure.
    Fail(Severity, Error),
}

/// Classifies a coordinator's error code (Java's per-handler rules, shared here).
pub(crate) fn classify(
    shared: &Shared,
    ty: CoordinatorType,
    key: &str,
    api: &'static str,
    code: ErrorCode,
) -> Step<()> {
    let backoff = shared.cfg.client.retry_backoff;
    let err = Error::Coordinator { api, code };
    match code {
        ErrorCode::None => Step::Done(()),
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
            shared.coordinators.invalidate(ty, key);
            Step::Retry(backoff, err)
        }
        ErrorCode::ConcurrentTransactions if api == "AddPartitionsToTxn" => {
            Step::Retry(CONCURRENT_TXN_BACKOFF, err)
        }
        ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::ConcurrentTransactions
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::RequestTimedOut => Step::Retry(backoff, err),
        c if is_fatal_code(c) => Step::Fail(Severity::Fatal, err),
        _ => Step::Fail(Severity::Abortable, err),
    }
}

/// Sends `req` to the coordinator of (`ty`, `key`) at no more than `cap`. A network error
/// (or a timeout) forgets the coordinator, so the next attempt looks it up again.
pub(crate) async fn coordinator_request<R: Request>(
    shared: &Shared,
    ty: CoordinatorType,
    key: &str,
    req: &R,
    cap: Option<i16>,
) -> kafka_client::Result<R::Response> {
    let result = async {
        let conn = shared.coordinators.connect(ty, key, Purpose::Admin).await?;
        if ty == CoordinatorType::Transaction {
            let v2 = supports_v2(conn.api_versions());
            shared.with_txn(|t| t.observe_coordinator(v2));
        }
        let version = match (cap, conn.version(R::API_KEY)) {
            (Some(cap), Some(v)) => Some(v.min(cap)),
            _ => None,
        };
        conn.send_with(req, RequestOptions { version, timeout: None }).await
    }
    .await;
    if result.is_err() {
        shared.coordinators.invalidate(ty, key);
    }
    result
}

/// A client (transport) error as a step: retriable ones are retried (their outcome is
/// unknown), the others fail the operation as abortable.
fn client_step<T>(shared: &Shared, e: kafka_client::Error) -> Step<T> {
    if e.is_retriable() {
        Step::Retry(shared.cfg.client.retry_backoff, Error::Client(e))
    } else {
        Step::Fail(Severity::Abortable, Error::Client(e))
    }
}

/// Runs `attempt` until it is done, fails, or `deadline` passes. `Err((e, None))` is a
/// definite failure; `Err((e, Some(last)))` a timeout after retriable errors (outcome unknown).
async fn retry_until<T, F, Fut>(
    what: &'static str,
    deadline: Instant,
    timeout: Duration,
    mut attempt: F,
) -> std::result::Result<T, (Severity, Error)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step<T>>,
{
    loop {
        let step = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(s) => s,
            Err(_) => return Err((Severity::Abortable, Error::Timeout(what, timeout))),
        };
        match step {
            Step::Done(t) => return Ok(t),
            Step::Fail(sev, e) => return Err((sev, e)),
            Step::Retry(wait, e) => {
                tracing::warn!(op = what, error = %e, ?wait, "retrying transactional request");
                if Instant::now() + wait >= deadline {
                    return Err((Severity::Abortable, Error::Timeout(what, timeout)));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

impl Shared {
    pub(crate) fn txn(&self) -> Option<std::sync::MutexGuard<'_, TransactionManager>> {
        self.txn.as_ref().map(lock)
    }

    /// Runs `f` on the manager and refreshes `txn_open`.
    pub(crate) fn with_txn<T>(&self, f: impl FnOnce(&mut TransactionManager) -> T) -> Option<T> {
        let mut g = self.txn()?;
        let out = f(&mut g);
        self.txn_open.store(g.state() == TxnState::InTransaction, Ordering::SeqCst);
        Some(out)
    }

    /// Waits until no `send` that saw the transaction open is still appending (call after
    /// leaving InTransaction): from then on every record of the transaction is in the
    /// accumulator or the waiting queue.
    async fn appends_settled(&self) {
        while self.txn_appending.load(Ordering::SeqCst) != 0 {
            tokio::task::yield_now().await;
        }
    }
}

/// One AddPartitionsToTxn attempt for `tps` (sent by the sender before it drains them).
pub(crate) async fn add_partitions(shared: &Shared, tps: &[Tp]) -> Step<()> {
    let Some((id, producer)) = shared.with_txn(|t| (t.transactional_id.clone(), t.producer())) else {
        return Step::Done(());
    };
    let Some((pid, epoch)) = producer else {
        return Step::Retry(shared.cfg.client.retry_backoff, Error::Closed);
    };
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        topics.entry(t).or_default().push(*p);
    }
    let req = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: id.clone(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: topics
            .into_iter()
            .map(|(name, partitions)| AddPartitionsToTxnTopic {
                name: name.to_owned(),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let resp =
        match coordinator_request(shared, CoordinatorType::Transaction, &id, &req, Some(ADD_PARTITIONS_MAX))
            .await
        {
            Ok(r) => r,
            Err(e) => return client_step(shared, e),
        };
    // the worst partition code decides (OPERATION_NOT_ATTEMPTED only accompanies another)
    let mut added = Vec::new();
    let mut worst = ErrorCode::None;
    for t in &resp.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            match ErrorCode::from(p.partition_error_code) {
                ErrorCode::None => added.push((t.name.clone(), p.partition_index)),
                ErrorCode::OperationNotAttempted => {}
                c if worst == ErrorCode::None || is_fatal_code(c) => worst = c,
                _ => {}
            }
        }
    }
    shared.with_txn(|t| t.partitions_added(added));
    match classify(shared, CoordinatorType::Transaction, &id, "AddPartitionsToTxn", worst) {
        Step::Done(()) => {
            tracing::debug!(transactional_id = %id, partitions = ?tps, "partitions added to the transaction");
            Step::Done(())
        }
        other => other,
    }
}

/// InitProducerId for the transactional id; with `current` (KIP-360) it bumps that epoch.
async fn init_producer_id(shared: &Shared, id: &str, current: Option<(i64, i16)>) -> Step<(i64, i16)> {
    let (producer_id, producer_epoch) = current.unwrap_or((-1, -1));
    let req = InitProducerIdRequest {
        transactional_id: Some(id.to_owned()),
        transaction_timeout_ms: shared.cfg.transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
        producer_id,
        producer_epoch,
        ..Default::default()
    };
    let resp = match coordinator_request(shared, CoordinatorType::Transaction, id, &req, None).await {
        Ok(r) => r,
        Err(e) => return client_step(shared, e),
    };
    match classify(
        shared,
        CoordinatorType::Transaction,
        id,
        "InitProducerId",
        ErrorCode::from(resp.error_code),
    ) {
        Step::Done(()) => Step::Done((resp.producer_id, resp.producer_epoch)),
        Step::Retry(d, e) => Step::Retry(d, e),
        Step::Fail(_, e) => Step::Fail(Severity::Fatal, e),
    }
}

/// One EndTxn attempt; v2 answers with the new producer id and epoch.
async fn end_txn(
    shared: &Shared,
    id: &str,
    producer: (i64, i16),
    commit: bool,
    v2: bool,
) -> Step<Option<(i64, i16)>> {
    let req = EndTxnRequest {
        transactional_id: id.to_owned(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        committed: commit,
        ..Default::default()
    };
    let cap = if v2 { None } else { Some(END_TXN_V1_MAX) };
    match coordinator_request(shared, CoordinatorType::Transaction, id, &req, cap).await {
        Ok(r) => {
            match classify(shared, CoordinatorType::Transaction, id, "EndTxn", ErrorCode::from(r.error_code))
            {
                Step::Done(()) if v2 => {
                    if r.producer_id < 0 || r.producer_epoch < 0 {
                        // a v2 coordinator always returns the bumped epoch; without it the
                        // next transaction would reuse a fenced one
                        return Step::Fail(
                            Severity::Fatal,
                            Error::Coordinator { api: "EndTxn", code: ErrorCode::UnsupportedVersion },
                        );
                    }
                    Step::Done(Some((r.producer_id, r.producer_epoch)))
                }
                Step::Done(()) => Step::Done(None),
                Step::Retry(d, e) => Step::Retry(d, e),
                Step::Fail(sev, e) => Step::Fail(sev, e),
            }
        }
        Err(e) => client_step(shared, e),
    }
}

impl Producer {
    fn manager_or_err(&self, op: &'static str) -> Result<()> {
        if self.shared.txn.is_none() {
            return Err(Error::Config(format!("{op} needs transactional.id to be set")));
        }
        Ok(())
    }

    /// Registers `transactional.id` with its coordinator (InitProducerId): fences older
    /// producers with the same id and aborts or completes their open transaction. Call once,
    /// before the first transaction; after a timeout it may be called again.
    pub async fn init_transactions(&self, timeout: Duration) -> Result<()> {
        self.manager_or_err("init_transactions")?;
        let s = &self.shared;
        let id = s
            .with_txn(|t| -> Result<String> {
                t.require("init_transactions", &[TxnState::Uninitialized, TxnState::Initializing])?;
                if t.state() == TxnState::Uninitialized {
                    t.transition(TxnState::Initializing)?;
                }
                Ok(t.transactional_id.clone())
            })
            .expect("transactional")?;
        let deadline = Instant::now() + timeout;
        match retry_until("init_transactions", deadline, timeout, || init_producer_id(s, &id, None)).await {
            Ok((pid, epoch)) => {
                tracing::info!(transactional_id = %id, producer_id = pid, epoch, "transactions initialized");
                s.with_txn(|t| t.initialized(pid, epoch)).expect("transactional")
            }
            Err((_, e @ Error::Timeout(..))) => Err(e),
            Err((sev, e)) => {
                s.with_txn(|t| t.fail(sev, e.clone()));
                Err(e)
            }
        }
    }

    /// Starts a transaction: every record sent until the commit or abort belongs to it.
    pub fn begin_transaction(&self) -> Result<()> {
        self.manager_or_err("begin_transaction")?;
        self.shared
            .with_txn(|t| {
                if t.unresolved_end == Some(true) {
                    return Err(Error::InvalidState {
                        op: "begin_transaction",
                        state: t.state(),
                        detail: "the last commit_transaction timed out; call it again".into(),
                    });
                }
                t.begin()?;
                t.failures_at_begin = self.shared.acc.pool.failures();
                Ok(())
            })
            .expect("transactional")
    }

    /// Adds consumed `offsets` of `group` to the transaction (AddOffsetsToTxn, then
    /// TxnOffsetCommit to the group coordinator with the group's generation, member id and
    /// instance id, KIP-447): they are committed exactly when the transaction commits.
    pub async fn send_offsets_to_transaction<K: TopicPartitionRef, V: Into<OffsetAndMetadata> + Clone>(
        &self,
        offsets: &BTreeMap<K, V>,
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        self.manager_or_err("send_offsets_to_transaction")?;
        let s = &self.shared;
        let (id, producer, v2) = s
            .with_txn(|t| -> Result<_> {
                t.require("send_offsets_to_transaction", &[TxnState::InTransaction])?;
                Ok((t.transactional_id.clone(), t.producer().expect("initialized"), t.is_v2()))
            })
            .expect("transactional")?;
        let timeout = s.cfg.max_block;
        let deadline = Instant::now() + timeout;
        let fail = |sev: Severity, e: Error| {
            s.with_txn(|t| t.fail(sev, e.clone()));
            e
        };
        // v2: TxnOffsetCommit v5 adds the group itself (Java skips AddOffsetsToTxn too)
        let needs_add = !v2 && s.with_txn(|t| !t.groups.contains(&group.group_id)).expect("transactional");
        if needs_add {
            let req = AddOffsetsToTxnRequest {
                transactional_id: id.clone(),
                producer_id: producer.0,
                producer_epoch: producer.1,
                group_id: group.group_id.clone(),
                ..Default::default()
            };
            let attempt = || async {
                match coordinator_request(s, CoordinatorType::Transaction, &id, &req, None).await {
                    Ok(r) => classify(
                        s,
                        CoordinatorType::Transaction,
                        &id,
                        "AddOffsetsToTxn",
                        ErrorCode::from(r.error_code),
                    ),
                    Err(e) => client_step(s, e),
                }
            };
            retry_until("send_offsets_to_transaction", deadline, timeout, attempt)
                .await
                .map_err(|(sev, e)| fail(sev, e))?;
            s.with_txn(|t| t.groups.insert(group.group_id.clone()));
        }
        let mut topics: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, o) in offsets {
            let o: OffsetAndMetadata = o.clone().into();
            topics.entry(tp.topic()).or_default().push(TxnOffsetCommitRequestPartition {
                partition_index: tp.partition(),
                committed_offset: o.offset,
                committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                committed_metadata: Some(o.metadata),
                ..Default::default()
            });
        }
        let req = TxnOffsetCommitRequest {
            transactional_id: id.clone(),
            group_id: group.group_id.clone(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            generation_id: group.generation_id,
            member_id: group.member_id.clone(),
            group_instance_id: group.group_instance_id.clone(),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| TxnOffsetCommitRequestTopic {
                    name: name.to_owned(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let gid = group.group_id.as_str();
        let cap = if v2 { None } else { Some(TXN_OFFSET_COMMIT_V1_MAX) };
        if v2 {
            // from here the coordinator may know of the transaction: EndTxn must be sent
            s.with_txn(|t| t.groups.insert(group.group_id.clone()));
        }
        let attempt = || async {
            let r = match coordinator_request(s, CoordinatorType::Group, gid, &req, cap).await {
                Ok(r) => r,
                Err(e) => return client_step(s, e),
            };
            let mut worst = ErrorCode::None;
            for p in r.topics.iter().flat_map(|t| t.partitions.iter()) {
                let c = ErrorCode::from(p.error_code);
                if c != ErrorCode::None && (worst == ErrorCode::None || is_fatal_code(c)) {
                    worst = c;
                }
            }
            classify(s, CoordinatorType::Group, gid, "TxnOffsetCommit", worst)
        };
        retry_until("send_offsets_to_transaction", deadline, timeout, attempt)
            .await
            .map_err(|(sev, e)| fail(sev, e))
    }

    /// Flushes the transaction's records, then commits it (EndTxn). Fails with an abortable
    /// error if any record of the transaction failed (then call [`Producer::abort_transaction`]).
    /// After a timeout the outcome is unknown: call `commit_transaction` again (it resends the
    /// same EndTxn until the coordinator answers); nothing else is allowed meanwhile.
    pub async fn commit_transaction(&self, timeout: Duration) -> Result<()> {
        self.manager_or_err("commit_transaction")?;
        let s = &self.shared;
        let deadline = Instant::now() + timeout;
        let retry = s
            .with_txn(|t| -> Result<bool> {
                if t.unresolved_end == Some(true) && t.state() == TxnState::CommittingTransaction {
                    return Ok(true);
                }
                t.require("commit_transaction", &[TxnState::InTransaction])?;
                t.transition(TxnState::CommittingTransaction)?;
                Ok(false)
            })
            .expect("transactional")?;
        if !retry {
            s.appends_settled().await;
            self.flush_transaction(deadline, timeout).await?;
        }
        self.end_transaction(true, deadline, timeout).await
    }

    /// Aborts the transaction: queued records fail with [`Error::TransactionAborted`], records
    /// in flight finish, then EndTxn(abort). Also the way out of an abortable error.
    pub async fn abort_transaction(&self, timeout: Duration) -> Result<()> {
        self.manager_or_err("abort_transaction")?;
        let s = &self.shared;
        let deadline = Instant::now() + timeout;
        let retry = s
            .with_txn(|t| -> Result<bool> {
                match (t.unresolved_end, t.state()) {
                    (Some(false), TxnState::AbortingTransaction) => return Ok(true),
                    (Some(true), state) => {
                        return Err(Error::InvalidState {
                            op: "abort_transaction",
                            state,
                            detail: "the last commit_transaction timed out with its outcome unknown; call commit_transaction again".into(),
                        });
                    }
                    _ => {}
                }
                t.require("abort_transaction", &[TxnState::InTransaction, TxnState::AbortableError])?;
                t.transition(TxnState::AbortingTransaction)?;
                Ok(false)
            })
            .expect("transactional")?;
        if !retry {
            s.appends_settled().await;
            // fail what was never sent; wait for what is in flight
            loop {
                if s.acc.abort_undrained() {
                    s.with_txn(|t| t.epoch_bump_required = true);
                }
                s.fail_waiting(|topic| Error::TransactionAborted { topic, partition: -1 });
                if s.acc.incomplete().is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::Timeout("abort_transaction", timeout));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.end_transaction(false, deadline, timeout).await
    }

    /// Waits until every record of the transaction is acknowledged; an abortable or fatal
    /// error on the way (a failed batch) is returned.
    async fn flush_transaction(&self, deadline: Instant, timeout: Duration) -> Result<()> {
        let s = &self.shared;
        s.acc.flushing.fetch_add(1, Ordering::AcqRel);
        s.acc.wake.notify_one();
        let out = loop {
            let failed = s
                .with_txn(|t| {
                    if matches!(t.state(), TxnState::AbortableError | TxnState::FatalError) {
                        return t.require("commit_transaction", &[]).err();
                    }
                    None
                })
                .flatten();
            if let Some(e) = failed {
                break Err(e);
            }
            if s.waiting_is_empty() && s.acc.incomplete().is_empty() {
                break Ok(());
            }
            if Instant::now() >= deadline {
                break Err(Error::Timeout("commit_transaction (flush)", timeout));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        s.acc.flushing.fetch_sub(1, Ordering::AcqRel);
        out?;
        // a batch that failed without the sender classifying it (expired in the queue)
        let failures = s.acc.pool.failures();
        s.with_txn(|t| -> Result<()> {
            if failures != t.failures_at_begin {
                t.fail(
                    Severity::Abortable,
                    Error::Topic {
                        topic: String::new(),
                        reason: "a record of the transaction failed".into(),
                    },
                );
                return t.require("commit_transaction", &[]);
            }
            Ok(())
        })
        .expect("transactional")
    }

    /// EndTxn until a definite answer; then the optional epoch bump.
    async fn end_transaction(&self, commit: bool, deadline: Instant, timeout: Duration) -> Result<()> {
        let s = &self.shared;
        let op = if commit { "commit_transaction" } else { "abort_transaction" };
        let (id, producer, empty, v2) = s
            .with_txn(|t| {
                (t.transactional_id.clone(), t.producer().expect("initialized"), t.is_empty(), t.is_v2())
            })
            .expect("transactional");
        // nothing was added: the coordinator has no transaction to end (Java skips EndTxn too)
        if !empty {
            s.with_txn(|t| t.unresolved_end = Some(commit));
            match retry_until(op, deadline, timeout, || end_txn(s, &id, producer, commit, v2)).await {
                Ok(Some((pid, epoch))) => {
                    tracing::debug!(transactional_id = %id, commit, producer_id = pid, epoch, "transaction ended; new epoch");
                    return s.with_txn(|t| t.completed_v2(pid, epoch)).expect("transactional");
                }
                Ok(None) => {}
                Err((_, e @ Error::Timeout(..))) => {
                    tracing::warn!(transactional_id = %id, commit, "EndTxn outcome unknown; it must be retried");
                    return Err(e);
                }
                Err((sev, e)) => {
                    s.with_txn(|t| {
                        t.unresolved_end = None;
                        t.fail(if commit { sev } else { Severity::Fatal }, e.clone())
                    });
                    return Err(e);
                }
            }
        }
        let bump = s.with_txn(|t| t.epoch_bump_required).expect("transactional");
        if bump {
            // KIP-360: sequences of this epoch are unknown; a new epoch starts from 0
            s.with_txn(|t| t.transition(TxnState::Initializing)).expect("transactional")?;
            match retry_until(op, deadline, timeout, || init_producer_id(s, &id, Some(producer))).await {
                Ok((pid, epoch)) => {
                    tracing::info!(transactional_id = %id, producer_id = pid, epoch, "producer epoch bumped");
                    return s.with_txn(|t| t.initialized(pid, epoch)).expect("transactional");
                }
                Err((_, e)) => {
                    s.with_txn(|t| t.fail(Severity::Fatal, e.clone()));
                    return Err(e);
                }
            }
        }
        s.with_txn(|t| t.completed()).expect("transactional")?;
        tracing::debug!(transactional_id = %id, commit, "transaction ended");
        Ok(())
    }
}

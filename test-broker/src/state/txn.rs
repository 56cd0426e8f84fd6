//! The transaction coordinator's state: transactional ids, producer ids and epochs, ongoing
//! transactions with their partitions, groups and pending offsets, as Kafka's
//! `TransactionCoordinator` / `TransactionMetadata` keep them: transactions v1, and v2
//! (KIP-890 part 2) when the cluster's `transaction.version` is 2 and the client uses the v2
//! request versions: Produce v12+ and TxnOffsetCommit v5+ add their partition / group to the
//! transaction themselves ([`add_partition_implicitly`]), and EndTxn v5+ bumps the producer
//! epoch at every commit or abort, so the markers (written with the new epoch) fence every
//! request of the old one, and a late EndTxn of a finished transaction can never end the next.
//!
//! One [`TxnState`] enum with one checked transition function
//! ([`TransactionMetadata::transition`]). Decisions (commit, abort, fence) are taken here;
//! writing the END_TXN markers into partition logs is [`write_pending_markers`], the test
//! broker's `TransactionMarkerChannelManager`: EndTxn and InitProducerId call it at once, and
//! every transaction request, the transactional-produce check and the inspection methods call
//! [`run_timeouts`] first, so an expired transaction is aborted before anyone can observe it.
//!
//! Locking: everything here lives inside `State` behind the cluster mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::BytesMut;
use kafka_protocol::ErrorCode;
use kafka_protocol::records::{EndTxnMarker, write_end_txn_marker};

use super::groups::CommittedOffset;
use super::{AbortedTxn, State};

/// The coordinator epoch written into markers (the test broker's `__transaction_state`
/// partitions never change leader epoch).
pub const COORDINATOR_EPOCH: i32 = 0;

/// Kafka refuses to hand out the last two epochs of a producer id (`isEpochExhausted`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// A transactional id's state (Kafka's `TransactionState`; names as DescribeTransactions and
/// ListTransactions report them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction in progress.
    Empty,
    /// Partitions or offsets have been added; records may be written.
    Ongoing,
    /// EndTxn(commit) accepted; markers being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId; markers being written.
    PrepareAbort,
    /// Commit markers written.
    CompleteCommit,
    /// Abort markers written.
    CompleteAbort,
    /// The transactional id is being expired.
    Dead,
    /// An ongoing transaction is being aborted to fence its producer.
    PrepareEpochFence,
}

impl TxnState {
    /// Every state.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The name Kafka reports.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state with Kafka name `name`.
    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The states this one may be entered from (Kafka's `validPreviousStates`).
    fn valid_previous(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether a commit or abort is being completed (requests get CONCURRENT_TRANSACTIONS).
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence)
    }
}

/// An illegal state transition: a test-broker bug, logged loudly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The state it was in.
    pub from: TxnState,
    /// The state asked for.
    pub to: TxnState,
}

/// One transactional id (Kafka's `TransactionMetadata`).
#[derive(Debug, Clone)]
pub struct TransactionMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Current producer id.
    pub producer_id: i64,
    /// Current producer epoch (-1 before the first InitProducerId completes).
    pub producer_epoch: i16,
    /// The epoch before the last bump, for KIP-360 retries (-1 when a new producer fenced).
    pub last_producer_epoch: i16,
    /// The producer id before a v2 EndTxn rotated it (its epoch ran out), or -1: a retry of
    /// that EndTxn still carries it.
    pub prev_producer_id: i64,
    /// `transaction.timeout.ms` of the last InitProducerId.
    pub timeout_ms: i32,
    /// State.
    pub state: TxnState,
    /// Partitions in the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups added by AddOffsetsToTxn in the current transaction.
    pub groups: BTreeSet<String>,
    /// TxnOffsetCommit offsets waiting for the commit: group → (topic, partition) → offset.
    pub pending_offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    /// When the current transaction started (first AddPartitions / AddOffsets), or -1.
    pub start_ms: i64,
    /// Last update.
    pub last_update_ms: i64,
}

impl TransactionMetadata {
    fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        TransactionMetadata {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            producer_epoch: -1,
            last_producer_epoch: -1,
            prev_producer_id: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: BTreeMap::new(),
            start_ms: -1,
            last_update_ms: now,
        }
    }

    /// The single checked transition. An illegal one leaves the state unchanged, is logged at
    /// error level and returned.
    pub fn transition(&mut self, to: TxnState, now: i64) -> Result<(), IllegalTransition> {
        if !to.valid_previous().contains(&self.state) {
            tracing::error!(
                transactional_id = %self.transactional_id,
                from = self.state.name(),
                to = to.name(),
                "illegal transaction state transition (a test-broker bug)"
            );
            return Err(IllegalTransition { from: self.state, to });
        }
        tracing::debug!(transactional_id = %self.transactional_id, from = self.state.name(), to = to.name(), "transaction state");
        self.state = to;
        self.last_update_ms = now;
        Ok(())
    }

    /// Whether an ongoing transaction has outlived its timeout at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.state == TxnState::Ongoing && self.start_ms + (self.timeout_ms as i64) < now
    }

    /// Checks the producer id and epoch a client sent (AddPartitions, AddOffsets, EndTxn,
    /// TxnOffsetCommit): INVALID_PRODUCER_ID_MAPPING, then PRODUCER_FENCED.
    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if self.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if self.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(())
    }

    /// The partitions Kafka would list for this transaction: data partitions plus the
    /// `__consumer_offsets` partition of each added group.
    pub fn described_partitions(&self) -> BTreeSet<(String, i32)> {
        let mut all = self.partitions.clone();
        for g in &self.groups {
            all.insert(("__consumer_offsets".to_owned(), offsets_partition_for(g)));
        }
        all
    }
}

/// The `__consumer_offsets` partition Kafka maps a group to (50 partitions).
pub fn offsets_partition_for(group: &str) -> i32 {
    let h = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    (h & 0x7fff_ffff) % 50
}

/// Markers decided but not yet written (one transaction's commit or abort).
#[derive(Debug, Clone)]
struct PendingMarkers {
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
}

/// Every transactional producer the cluster knows.
#[derive(Debug, Default)]
pub struct TransactionCoordinator {
    /// Transactional ids.
    pub txns: BTreeMap<String, TransactionMetadata>,
    /// Producer id → transactional id (old ids stay mapped so their owners get
    /// INVALID_PRODUCER_ID_MAPPING rather than silence).
    pub by_producer: HashMap<i64, String>,
    /// Commits and aborts whose markers are still to be written.
    pending: Vec<PendingMarkers>,
}

impl TransactionCoordinator {
    /// Periodic work at `now_ms`: transactions older than their timeout are fenced (epoch
    /// bumped) and moved to PrepareAbort, their abort markers queued for
    /// [`write_pending_markers`]. Returns whether anything changed.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        let expired: Vec<String> =
            self.txns.values().filter(|m| m.expired(now_ms)).map(|m| m.transactional_id.clone()).collect();
        for id in &expired {
            tracing::info!(transactional_id = %id, "transaction timed out; aborting it and fencing the producer");
            self.fence_and_abort(id, now_ms);
        }
        !expired.is_empty()
    }

    /// Whether any transaction is due to time out at `now_ms` or has markers to write.
    pub fn has_work(&self, now_ms: i64) -> bool {
        !self.pending.is_empty() || self.txns.values().any(|m| m.expired(now_ms))
    }

    /// Whether a transaction holds uncommitted offsets for a group's partition (OffsetFetch
    /// with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_offsets(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.txns.values().any(|m| {
            m.pending_offsets.get(group).is_some_and(|o| o.contains_key(&(topic.to_owned(), partition)))
        })
    }

    /// Ongoing → PrepareEpochFence → PrepareAbort with the epoch bumped, markers queued
    /// (Kafka's `prepareFenceProducerEpoch` followed by the abort).
    fn fence_and_abort(&mut self, id: &str, now: i64) {
        let Some(m) = self.txns.get_mut(id) else { return };
        if m.transition(TxnState::PrepareEpochFence, now).is_err() {
            return;
        }
        m.producer_epoch = m.producer_epoch.saturating_add(1);
        m.last_producer_epoch = -1;
        if m.transition(TxnState::PrepareAbort, now).is_err() {
            return;
        }
        self.pending.push(PendingMarkers {
            transactional_id: id.to_owned(),
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit: false,
        });
    }

    /// Ongoing → PrepareCommit / PrepareAbort, markers queued (EndTxn from the client).
    fn prepare_end(&mut self, id: &str, commit: bool, now: i64) -> Result<(), ErrorCode> {
        let m = self.txns.get_mut(id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let to = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        m.transition(to, now).map_err(|_| ErrorCode::InvalidTxnState)?;
        self.pending.push(PendingMarkers {
            transactional_id: id.to_owned(),
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit,
        });
        Ok(())
    }

    /// Checks that `producer_id`/`producer_epoch` may write a transactional batch to
    /// `topic`-`partition` (Kafka's transaction verification, KIP-890 part 1): the
    /// coordinator's answer, before any translation for the Produce API.
    pub fn verify_partition(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let m = self
            .by_producer
            .get(&producer_id)
            .and_then(|id| self.txns.get(id))
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        m.check_producer(producer_id, producer_epoch)?;
        if m.state.is_preparing() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        if m.state != TxnState::Ongoing || !m.partitions.contains(&(topic.to_owned(), partition)) {
            return Err(ErrorCode::TransactionAbortable);
        }
        Ok(())
    }
}

/// Allocates a producer id.
fn next_producer_id(st: &mut State) -> i64 {
    let id = st.next_producer_id;
    st.next_producer_id += 1;
    id
}

/// Aborts expired transactions and writes every queued marker. Returns whether any log
/// changed (callers then wake long-polling fetches).
pub fn run_timeouts(st: &mut State, now: i64) -> bool {
    st.txns.tick(now);
    write_pending_markers(st, now)
}

/// Writes the END_TXN markers of every decided commit or abort into the partitions of its
/// transaction, updates the logs' open and aborted transactions, applies or drops pending
/// offsets, and completes the transaction (CompleteCommit / CompleteAbort). Returns whether
/// any marker was written.
pub fn write_pending_markers(st: &mut State, now: i64) -> bool {
    let pending = std::mem::take(&mut st.txns.pending);
    let mut wrote = false;
    for job in pending {
        let Some(m) = st.txns.txns.get(&job.transactional_id) else { continue };
        let partitions: Vec<(String, i32)> = m.partitions.iter().cloned().collect();
        for (topic, index) in &partitions {
            wrote |= write_marker(st, topic, *index, job.producer_id, job.producer_epoch, job.commit, now);
        }
        let Some(m) = st.txns.txns.get_mut(&job.transactional_id) else { continue };
        let offsets = std::mem::take(&mut m.pending_offsets);
        let to = if job.commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        if m.transition(to, now).is_err() {
            continue;
        }
        // prepareComplete: the epoch that just finished becomes the "last" epoch (KIP-360)
        m.last_producer_epoch = m.producer_epoch;
        m.partitions.clear();
        m.groups.clear();
        if job.commit {
            for (group, offs) in offsets {
                let committed = st.groups.offsets.entry(group).or_default();
                for (tp, o) in offs {
                    committed.insert(tp, o);
                }
            }
        }
        tracing::debug!(transactional_id = %job.transactional_id, commit = job.commit, "transaction markers written");
    }
    wrote
}

/// Appends one control batch with an END_TXN marker to a partition and closes the producer's
/// transaction there (an aborted range is recorded for read_committed fetchers).
fn write_marker(
    st: &mut State,
    topic: &str,
    index: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    now: i64,
) -> bool {
    let Some(p) = st.topics.get_mut(topic).and_then(|t| t.partitions.get_mut(index.max(0) as usize)) else {
        tracing::warn!(topic, partition = index, "transaction partition no longer exists; marker skipped");
        return false;
    };
    let mut buf = BytesMut::new();
    let marker = EndTxnMarker { commit, coordinator_epoch: COORDINATOR_EPOCH };
    if let Err(e) =
        write_end_txn_marker(&mut buf, marker, 0, now, p.leader_epoch, producer_id, producer_epoch)
    {
        tracing::error!(error = %e, "cannot build a transaction marker (a test-broker bug)");
        return false;
    }
    let offset = p.log.append(&buf, 1, p.leader_epoch, now, producer_id, producer_epoch, true, true);
    let first = p.log.open_txns.remove(&producer_id);
    if let (Some(first), false) = (first, commit) {
        p.log.aborted.push(AbortedTxn { producer_id, first_offset: first, last_offset: offset });
    }
    let entry = p.producers.entry(producer_id).or_default();
    if entry.epoch != producer_epoch {
        entry.epoch = producer_epoch;
        entry.batches.clear();
    }
    true
}

/// InitProducerId. `transactional_id` None: a fresh idempotent producer id, epoch 0.
/// Otherwise Kafka's `handleInitProducerId` for transactions v1, with `expected` the KIP-360
/// producer id and epoch of the request (v3+). An ongoing transaction is aborted (markers
/// written at once, epoch bumped) and CONCURRENT_TRANSACTIONS returned so the client retries,
/// as Kafka does.
pub fn init_producer_id(
    st: &mut State,
    transactional_id: Option<&str>,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now: i64,
) -> Result<(i64, i16), ErrorCode> {
    let Some(id) = transactional_id else {
        return Ok((next_producer_id(st), 0));
    };
    if id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    if timeout_ms <= 0 || timeout_ms > st.settings.transaction_max_timeout_ms {
        return Err(ErrorCode::InvalidTransactionTimeout);
    }
    if !st.txns.txns.contains_key(id) {
        let pid = next_producer_id(st);
        st.txns.txns.insert(id.to_owned(), TransactionMetadata::new(id, pid, timeout_ms, now));
        st.txns.by_producer.insert(pid, id.to_owned());
    }
    let new_pid = if st.txns.txns.get(id).is_some_and(|m| m.producer_epoch >= EPOCH_EXHAUSTED) {
        Some(next_producer_id(st))
    } else {
        None
    };
    let coord = &mut st.txns;
    let m = coord.txns.get_mut(id).ok_or(ErrorCode::UnknownServerError)?;
    if let Some((epid, _)) = expected {
        let valid = m.producer_epoch == -1 || epid == m.producer_id;
        if !valid {
            return Err(ErrorCode::ProducerFenced);
        }
    }
    match m.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
            Err(ErrorCode::ConcurrentTransactions)
        }
        TxnState::Ongoing => {
            coord.fence_and_abort(id, now);
            write_pending_markers(st, now);
            Err(ErrorCode::ConcurrentTransactions)
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            let expected_epoch = expected.map(|e| e.1);
            let (pid, epoch, last) = match new_pid {
                Some(pid) if expected_epoch.is_none_or(|e| e == m.producer_epoch) => {
                    // epoch exhausted: rotate to a new producer id
                    (pid, 0, if expected.is_some() { m.producer_epoch } else { -1 })
                }
                _ => match expected_epoch {
                    None => (m.producer_id, m.producer_epoch + 1, -1),
                    Some(e) if m.producer_epoch == -1 || e == m.producer_epoch => {
                        (m.producer_id, m.producer_epoch + 1, m.producer_epoch)
                    }
                    // a retry of a bump whose response was lost
                    Some(e) if e == m.last_producer_epoch => {
                        (m.producer_id, m.producer_epoch, m.last_producer_epoch)
                    }
                    Some(_) => return Err(ErrorCode::ProducerFenced),
                },
            };
            m.transition(TxnState::Empty, now).map_err(|_| ErrorCode::InvalidTxnState)?;
            m.producer_id = pid;
            m.producer_epoch = epoch;
            m.last_producer_epoch = last;
            m.timeout_ms = timeout_ms;
            m.partitions.clear();
            m.groups.clear();
            m.pending_offsets.clear();
            m.start_ms = -1;
            coord.by_producer.insert(pid, id.to_owned());
            tracing::info!(
                transactional_id = id,
                producer_id = pid,
                epoch,
                "initialized transactional producer"
            );
            Ok((pid, epoch))
        }
        TxnState::Dead => Err(ErrorCode::ConcurrentTransactions),
    }
}

/// Checks a transactional request's producer against the coordinator's state and that no
/// commit or abort is completing.
fn ongoing_checks(m: &TransactionMetadata, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
    m.check_producer(producer_id, producer_epoch)?;
    if m.state.is_preparing() {
        return Err(ErrorCode::ConcurrentTransactions);
    }
    Ok(())
}

/// Moves a transaction to Ongoing (starting its clock when it was not running).
fn begin(m: &mut TransactionMetadata, now: i64) -> Result<(), ErrorCode> {
    if m.state != TxnState::Ongoing {
        m.start_ms = now;
    }
    m.transition(TxnState::Ongoing, now).map_err(|_| ErrorCode::InvalidTxnState)
}

/// AddPartitionsToTxn (not verify-only) for partitions that exist. Kafka's
/// `handleAddPartitionsToTransaction`.
pub fn add_partitions(
    st: &mut State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
    now: i64,
) -> Result<(), ErrorCode> {
    if transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let m = st.txns.txns.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    ongoing_checks(m, producer_id, producer_epoch)?;
    if m.state == TxnState::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
        return Ok(());
    }
    begin(m, now)?;
    m.partitions.extend(partitions.iter().cloned());
    Ok(())
}

/// AddPartitionsToTxn v4+ with `verify_only`: per partition, whether it is in the
/// transaction (TRANSACTION_ABORTABLE when not).
pub fn verify_partitions(
    st: &State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
) -> Result<Vec<ErrorCode>, ErrorCode> {
    let m = st.txns.txns.get(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    ongoing_checks(m, producer_id, producer_epoch)?;
    Ok(partitions
        .iter()
        .map(|p| if m.partitions.contains(p) { ErrorCode::None } else { ErrorCode::TransactionAbortable })
        .collect())
}

/// AddOffsetsToTxn: adds the group (its `__consumer_offsets` partition, in Kafka) to the
/// transaction.
pub fn add_offsets(
    st: &mut State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
    now: i64,
) -> Result<(), ErrorCode> {
    if transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    let m = st.txns.txns.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    ongoing_checks(m, producer_id, producer_epoch)?;
    if m.state == TxnState::Ongoing && m.groups.contains(group) {
        return Ok(());
    }
    begin(m, now)?;
    m.groups.insert(group.to_owned());
    Ok(())
}

/// The checks TxnOffsetCommit makes against the transaction before offsets are staged: the
/// producer, and that AddOffsetsToTxn added the group (INVALID_TXN_STATE otherwise, Kafka's
/// verification answer for TxnOffsetCommit v0-4).
///
/// With `implicit` (transactions v2, TxnOffsetCommit v5+) the group is added here instead,
/// starting the transaction if none is ongoing.
pub fn check_txn_offset_commit(
    st: &mut State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
    implicit: bool,
    now: i64,
) -> Result<(), ErrorCode> {
    let m = st.txns.txns.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    m.check_producer(producer_id, producer_epoch).map_err(|e| match e {
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        e => e,
    })?;
    if m.state.is_preparing() {
        return Err(ErrorCode::ConcurrentTransactions);
    }
    if implicit && !(m.state == TxnState::Ongoing && m.groups.contains(group)) {
        begin(m, now)?;
        m.groups.insert(group.to_owned());
    }
    if m.state != TxnState::Ongoing || !m.groups.contains(group) {
        return Err(ErrorCode::InvalidTxnState);
    }
    Ok(())
}

/// Transactions v2: a Produce v12+ from a transactional producer adds its partition to the
/// transaction (the partition leader's AddPartitionsToTxn to the coordinator in Kafka),
/// starting one if none is ongoing. The producer id and epoch must be the current ones.
pub fn add_partition_implicitly(
    st: &mut State,
    producer_id: i64,
    producer_epoch: i16,
    topic: &str,
    partition: i32,
    now: i64,
) -> Result<(), ErrorCode> {
    let id = st.txns.by_producer.get(&producer_id).cloned().ok_or(ErrorCode::InvalidProducerIdMapping)?;
    add_partitions(st, &id, producer_id, producer_epoch, &[(topic.to_owned(), partition)], now)
}

/// Stages an offset in the transaction (visible after the commit).
pub fn stage_offset(
    st: &mut State,
    transactional_id: &str,
    group: &str,
    topic: &str,
    partition: i32,
    offset: CommittedOffset,
) {
    if let Some(m) = st.txns.txns.get_mut(transactional_id) {
        m.pending_offsets.entry(group.to_owned()).or_default().insert((topic.to_owned(), partition), offset);
    }
}

/// EndTxn: Kafka's `endTransaction`. Markers are written before this returns. Returns the
/// producer id and epoch for the response. `v2` (EndTxn v5+ with `transaction.version` 2):
/// see [`end_txn_v2`].
pub fn end_txn(
    st: &mut State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    v2: bool,
    now: i64,
) -> Result<(i64, i16), ErrorCode> {
    if transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    if v2 {
        return end_txn_v2(st, transactional_id, producer_id, producer_epoch, commit, now);
    }
    let m = st.txns.txns.get(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    m.check_producer(producer_id, producer_epoch)?;
    let ids = (m.producer_id, m.producer_epoch);
    match (m.state, commit) {
        (TxnState::Ongoing, _) => {
            st.txns.prepare_end(transactional_id, commit, now)?;
            write_pending_markers(st, now);
            Ok(ids)
        }
        // a retry of an EndTxn that completed
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(ids),
        (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
            Err(ErrorCode::ConcurrentTransactions)
        }
        _ => Err(ErrorCode::InvalidTxnState),
    }
}

/// EndTxn for transactions v2 (KIP-890 part 2): every commit or abort bumps the producer
/// epoch, and the markers carry the new epoch, so the partitions fence the old one. A retry
/// (the epoch just before the bump, the same outcome, already complete) gets the new epoch
/// again, the other outcome INVALID_TXN_STATE (as Kafka: a commit of a transaction the
/// coordinator aborted on its timeout); while a transaction is ongoing any other epoch is
/// PRODUCER_FENCED, so a late EndTxn can never end the next transaction. An abort with nothing ongoing still bumps the epoch (the client
/// cannot know whether a Produce it lost added a partition).
fn end_txn_v2(
    st: &mut State,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    now: i64,
) -> Result<(i64, i16), ErrorCode> {
    let m = st.txns.txns.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    let completed_as_asked =
        matches!((m.state, commit), (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false));
    if m.producer_id != producer_id {
        // a retry of the EndTxn that rotated the producer id
        if m.prev_producer_id == producer_id && producer_epoch >= EPOCH_EXHAUSTED - 1 && completed_as_asked {
            return Ok((m.producer_id, m.producer_epoch));
        }
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    // Kafka's v2 epoch rule: once a commit or abort is decided, only the epoch before its
    // bump may ask about it (a retry); any other state needs the current epoch
    let decided =
        m.state.is_preparing() || matches!(m.state, TxnState::CompleteCommit | TxnState::CompleteAbort);
    if decided
        && m.state != TxnState::PrepareEpochFence
        && producer_epoch.checked_add(1) == Some(m.producer_epoch)
    {
        return match (m.state, commit) {
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok((m.producer_id, m.producer_epoch))
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            // e.g. a commit after the coordinator aborted the transaction on its timeout
            _ => Err(ErrorCode::InvalidTxnState),
        };
    }
    if producer_epoch != m.producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    if m.state.is_preparing() {
        return Err(ErrorCode::ConcurrentTransactions);
    }
    if m.state != TxnState::Ongoing {
        if commit {
            return Err(ErrorCode::InvalidTxnState);
        }
        // an abort of nothing: start an empty transaction so it can be aborted (no markers)
        begin(m, now)?;
    }
    if m.producer_epoch >= EPOCH_EXHAUSTED {
        return Err(ErrorCode::ProducerFenced);
    }
    m.producer_epoch += 1;
    st.txns.prepare_end(transactional_id, commit, now)?;
    write_pending_markers(st, now);
    // the epoch ran out: the markers carried the last one; the producer goes on under a new
    // producer id at epoch 0 (Kafka's rotation at the end of a v2 transaction)
    let rotate = st.txns.txns.get(transactional_id).is_some_and(|m| m.producer_epoch >= EPOCH_EXHAUSTED);
    let new_pid = if rotate { Some(next_producer_id(st)) } else { None };
    let coord = &mut st.txns;
    let m = coord.txns.get_mut(transactional_id).ok_or(ErrorCode::UnknownServerError)?;
    // the epoch a retry of this EndTxn carries
    m.last_producer_epoch = producer_epoch;
    if let Some(pid) = new_pid {
        tracing::info!(
            transactional_id,
            old = m.producer_id,
            new = pid,
            "producer epoch exhausted; new producer id"
        );
        m.prev_producer_id = m.producer_id;
        m.producer_id = pid;
        m.producer_epoch = 0;
        m.last_producer_epoch = -1;
        coord.by_producer.insert(pid, transactional_id.to_owned());
    }
    Ok((m.producer_id, m.producer_epoch))
}

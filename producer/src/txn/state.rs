//! The transaction manager's core: a sans-IO state machine (Java's `TransactionManager.State`)
//! with one checked transition function, the producer id and epoch, and the per-partition
//! "added to the transaction" bookkeeping the sender consults before draining a partition.
//!
//! Transactions v2 (KIP-890 part 2) is decided per transaction at `begin`, from what the
//! transaction coordinator last advertised ([`TransactionManager::observe_coordinator`]):
//! a v2 transaction adds partitions implicitly (no AddPartitionsToTxn, the sender may drain
//! at once), and its EndTxn returns a new epoch that [`TransactionManager::completed_v2`]
//! adopts.
//!
//! Nothing here does I/O or reads the clock; the driver (`txn/mod.rs`) and the sender feed it
//! outcomes and ask it what to do.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::Error;

/// A topic partition, as the transaction tracks it.
pub(crate) type Tp = (String, i32);

/// The transactional producer's states (Java's `TransactionManager.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// `transactional.id` set, `init_transactions` not called yet.
    Uninitialized,
    /// `InitProducerId` in progress.
    Initializing,
    /// Between transactions.
    Ready,
    /// After `begin_transaction`.
    InTransaction,
    /// `EndTxn(commit)` in progress.
    CommittingTransaction,
    /// `EndTxn(abort)` in progress.
    AbortingTransaction,
    /// A send or request of the transaction failed; only an abort is possible.
    AbortableError,
    /// Fenced or unauthorized: the producer can only be closed.
    FatalError,
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TxnState {
    /// Java's `isTransitionValid`.
    fn may_become(self, to: TxnState) -> bool {
        use TxnState::*;
        match to {
            Uninitialized => matches!(self, Ready | AbortableError),
            // from Committing/Aborting: the epoch bump after a transaction (KIP-360)
            Initializing => {
                matches!(self, Uninitialized | AbortableError | CommittingTransaction | AbortingTransaction)
            }
            Ready => matches!(self, Initializing | CommittingTransaction | AbortingTransaction),
            InTransaction => self == Ready,
            CommittingTransaction => self == InTransaction,
            AbortingTransaction => matches!(self, InTransaction | AbortableError),
            AbortableError => {
                matches!(self, InTransaction | CommittingTransaction | AbortableError | Initializing)
            }
            FatalError => true,
        }
    }
}

/// How a transactional outcome is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The transaction can still be aborted and the producer used again.
    Abortable,
    /// The producer is unusable (fenced, unauthorized).
    Fatal,
}

/// The transaction manager's state. Owned by the producer's `Shared` behind a std mutex;
/// held only for these synchronous calls, never across an await.
#[derive(Debug)]
pub(crate) struct TransactionManager {
    pub(crate) transactional_id: String,
    state: TxnState,
    /// The error that put us in AbortableError / FatalError.
    last_error: Option<Error>,
    /// Producer id and epoch from InitProducerId.
    producer: Option<(i64, i16)>,
    /// Partitions the coordinator has added to the current transaction.
    added: BTreeSet<Tp>,
    /// Partitions with records that still need AddPartitionsToTxn.
    pending: BTreeSet<Tp>,
    /// Groups whose AddOffsetsToTxn succeeded in this transaction.
    pub(crate) groups: BTreeSet<String>,
    /// An error left the sequence state unknown: bump the epoch (InitProducerId with the
    /// current id/epoch, KIP-360) before the next transaction.
    pub(crate) epoch_bump_required: bool,
    /// An EndTxn whose outcome is unknown (`Some(commit)`): it must be retried until it gets a
    /// definite answer, or the epoch bumped, before anything else is sent for this id.
    pub(crate) unresolved_end: Option<bool>,
    /// The buffer pool's failure count when the transaction began: any batch that failed
    /// since (even one that expired unsent) makes the commit fail.
    pub(crate) failures_at_begin: u64,
    /// Whether the transaction coordinator last seen finalizes `transaction.version` >= 2 and
    /// serves the v2 request versions (Java's `isTransactionV2Enabled` input).
    v2_available: bool,
    /// Whether the current (or next, while Ready) transaction uses transactions v2. Fixed
    /// at `begin`: a transaction never changes protocol half-way.
    v2: bool,
}

impl TransactionManager {
    pub(crate) fn new(transactional_id: String) -> Self {
        TransactionManager {
            transactional_id,
            state: TxnState::Uninitialized,
            last_error: None,
            producer: None,
            added: BTreeSet::new(),
            pending: BTreeSet::new(),
            groups: BTreeSet::new(),
            epoch_bump_required: false,
            unresolved_end: None,
            failures_at_begin: 0,
            v2_available: false,
            v2: false,
        }
    }

    /// Records whether the transaction coordinator supports transactions v2 (from its
    /// ApiVersions); used from the next `begin` (and `init`) on.
    pub(crate) fn observe_coordinator(&mut self, v2: bool) {
        if v2 != self.v2_available {
            tracing::info!(transactional_id = %self.transactional_id, v2, "transaction protocol of the coordinator");
        }
        self.v2_available = v2;
        if matches!(self.state, TxnState::Uninitialized | TxnState::Initializing | TxnState::Ready) {
            self.v2 = v2;
        }
    }

    /// Whether the current transaction uses transactions v2 (KIP-890).
    pub(crate) fn is_v2(&self) -> bool {
        self.v2
    }

    /// `begin_transaction`: fixes the protocol for this transaction, then InTransaction.
    pub(crate) fn begin(&mut self) -> Result<(), Error> {
        self.require("begin_transaction", &[TxnState::Ready])?;
        self.v2 = self.v2_available;
        self.transition(TxnState::InTransaction)
    }

    pub(crate) fn state(&self) -> TxnState {
        self.state
    }

    pub(crate) fn producer(&self) -> Option<(i64, i16)> {
        self.producer
    }

    pub(crate) fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// The one transition function: an illegal transition is a bug, logged loudly and
    /// returned as [`Error::InvalidState`].
    pub(crate) fn transition(&mut self, to: TxnState) -> Result<(), Error> {
        if !self.state.may_become(to) {
            tracing::error!(
                transactional_id = %self.transactional_id,
                from = %self.state,
                to = %to,
                "illegal transaction state transition"
            );
            return Err(Error::InvalidState {
                op: "transition",
                state: self.state,
                detail: format!("to {to}"),
            });
        }
        tracing::debug!(transactional_id = %self.transactional_id, from = %self.state, to = %to, "transaction state");
        if matches!(to, TxnState::Ready | TxnState::Initializing | TxnState::Uninitialized) {
            self.added.clear();
            self.pending.clear();
            self.groups.clear();
            self.last_error = None;
            self.v2 = self.v2_available;
        }
        self.state = to;
        Ok(())
    }

    /// Checks that `op` may run now: not in a fatal or abortable error (returns that error)
    /// and in one of `allowed`.
    pub(crate) fn require(&self, op: &'static str, allowed: &[TxnState]) -> Result<(), Error> {
        if allowed.contains(&self.state) {
            return Ok(());
        }
        if let (TxnState::FatalError | TxnState::AbortableError, Some(e)) = (self.state, &self.last_error) {
            return Err(Error::Transaction { op, state: self.state, source: Box::new(e.clone()) });
        }
        Err(Error::InvalidState { op, state: self.state, detail: String::new() })
    }

    /// InitProducerId succeeded.
    pub(crate) fn initialized(&mut self, producer_id: i64, epoch: i16) -> Result<(), Error> {
        self.producer = Some((producer_id, epoch));
        self.epoch_bump_required = false;
        self.unresolved_end = None;
        self.transition(TxnState::Ready)
    }

    /// Moves to AbortableError or FatalError with `err` (a fatal state is never left).
    pub(crate) fn fail(&mut self, severity: Severity, err: Error) {
        if self.state == TxnState::FatalError {
            return;
        }
        let to = match severity {
            Severity::Fatal => TxnState::FatalError,
            Severity::Abortable if self.state.may_become(TxnState::AbortableError) => {
                TxnState::AbortableError
            }
            // abortable outside a transaction (e.g. a late batch failure while Ready): the
            // transaction it belonged to is over; remember nothing
            Severity::Abortable => return,
        };
        tracing::warn!(transactional_id = %self.transactional_id, state = %self.state, error = %err, ?severity, "transaction error");
        self.last_error = Some(err);
        if to == TxnState::FatalError {
            tracing::error!(transactional_id = %self.transactional_id, "transactional producer failed fatally");
        }
        let _ = self.transition(to);
    }

    /// A partition has records in the accumulator: it must be added before they are sent
    /// (v1); in a v2 transaction the Produce request adds it, so it counts as added at once.
    pub(crate) fn maybe_add_partition(&mut self, tp: &Tp) {
        if self.v2 && matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction) {
            self.added.insert(tp.clone());
        } else if !self.added.contains(tp) && !self.pending.contains(tp) {
            self.pending.insert(tp.clone());
        }
    }

    /// Whether the sender may drain `topic`-`partition` (added to the transaction, in a state
    /// where produce is allowed).
    pub(crate) fn may_drain(&self, topic: &str, partition: i32) -> bool {
        matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction)
            && self.added.contains(&(topic.to_owned(), partition))
    }

    /// The partitions to send in the next AddPartitionsToTxn (only inside a transaction).
    pub(crate) fn pending_partitions(&self) -> Vec<Tp> {
        if matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction) {
            self.pending.iter().cloned().collect()
        } else {
            Vec::new()
        }
    }

    /// AddPartitionsToTxn added these.
    pub(crate) fn partitions_added(&mut self, tps: impl IntoIterator<Item = Tp>) {
        for tp in tps {
            self.pending.remove(&tp);
            self.added.insert(tp);
        }
    }

    /// Whether the coordinator knows nothing of this transaction (no partition or group added).
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.groups.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn is_added(&self, tp: &Tp) -> bool {
        self.added.contains(tp)
    }

    /// EndTxn answered definitely (or the epoch was bumped): the transaction is over.
    pub(crate) fn completed(&mut self) -> Result<(), Error> {
        self.unresolved_end = None;
        self.transition(TxnState::Ready)
    }

    /// A v2 EndTxn succeeded with the coordinator's new producer id and epoch (bumped at
    /// every transaction, a new id when the epoch ran out): adopting it restarts every
    /// sequence and settles any pending epoch bump (KIP-360's, too).
    pub(crate) fn completed_v2(&mut self, producer_id: i64, epoch: i16) -> Result<(), Error> {
        if producer_id >= 0 && epoch >= 0 {
            self.producer = Some((producer_id, epoch));
            self.epoch_bump_required = false;
        }
        self.completed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxnState::*;

    fn ready() -> TransactionManager {
        let mut t = TransactionManager::new("t".into());
        t.transition(Initializing).unwrap();
        t.initialized(7, 0).unwrap();
        t
    }

    #[test]
    fn happy_path_and_illegal_transitions() {
        let mut t = TransactionManager::new("t".into());
        assert_eq!(t.state(), Uninitialized);
        let e = t.transition(InTransaction).unwrap_err().to_string();
        assert!(e.contains("Uninitialized"), "{e}");
        assert_eq!(t.state(), Uninitialized, "an illegal transition changes nothing");
        t.transition(Initializing).unwrap();
        t.initialized(7, 3).unwrap();
        assert_eq!((t.state(), t.producer()), (Ready, Some((7, 3))));
        assert!(t.transition(CommittingTransaction).is_err());
        t.transition(InTransaction).unwrap();
        t.transition(CommittingTransaction).unwrap();
        assert!(t.transition(InTransaction).is_err());
        t.completed().unwrap();
        assert_eq!(t.state(), Ready);
    }

    #[test]
    fn partitions_are_drained_only_once_added_and_reset_per_transaction() {
        let mut t = ready();
        let tp = ("a".to_owned(), 1);
        t.maybe_add_partition(&tp);
        assert!(t.pending_partitions().is_empty(), "not in a transaction");
        t.transition(InTransaction).unwrap();
        assert_eq!(t.pending_partitions(), vec![tp.clone()]);
        assert!(!t.may_drain("a", 1));
        t.partitions_added([tp.clone()]);
        assert!(t.may_drain("a", 1) && t.pending_partitions().is_empty());
        t.maybe_add_partition(&tp);
        assert!(t.pending_partitions().is_empty(), "added once per transaction");
        t.transition(CommittingTransaction).unwrap();
        assert!(t.may_drain("a", 1), "commit flushes");
        t.completed().unwrap();
        assert!(!t.may_drain("a", 1) && !t.is_added(&tp));
    }

    #[test]
    fn v2_is_fixed_at_begin_adds_implicitly_and_adopts_the_new_epoch() {
        let mut t = ready();
        t.observe_coordinator(true);
        t.begin().unwrap();
        assert!(t.is_v2());
        let tp = ("a".to_owned(), 1);
        t.maybe_add_partition(&tp);
        assert!(t.may_drain("a", 1), "v2: drained without AddPartitionsToTxn");
        assert!(t.pending_partitions().is_empty() && !t.is_empty());
        t.observe_coordinator(false);
        assert!(t.is_v2(), "a transaction keeps its protocol");
        t.transition(CommittingTransaction).unwrap();
        t.epoch_bump_required = true;
        t.completed_v2(7, 1).unwrap();
        assert_eq!((t.state(), t.producer(), t.epoch_bump_required), (Ready, Some((7, 1)), false));
        assert!(!t.is_v2(), "the next transaction follows the coordinator again");
        t.begin().unwrap();
        t.maybe_add_partition(&tp);
        assert!(!t.may_drain("a", 1) && t.pending_partitions() == vec![tp]);
    }

    #[test]
    fn abortable_errors_allow_only_abort_and_fatal_is_final() {
        let mut t = ready();
        t.transition(InTransaction).unwrap();
        t.fail(Severity::Abortable, Error::Closed);
        assert_eq!(t.state(), AbortableError);
        let e = t.require("commit_transaction", &[InTransaction]).unwrap_err();
        assert!(e.is_abortable() && e.to_string().contains("AbortableError"), "{e}");
        assert!(t.transition(CommittingTransaction).is_err());
        t.transition(AbortingTransaction).unwrap();
        t.completed().unwrap();
        assert!(t.last_error().is_none());
        t.transition(InTransaction).unwrap();
        t.fail(Severity::Fatal, Error::Closed);
        assert_eq!(t.state(), FatalError);
        t.fail(Severity::Abortable, Error::Closed);
        assert_eq!(t.state(), FatalError, "fatal is never left");
        for to in [Ready, InTransaction, AbortingTransaction, Initializing] {
            assert!(t.transition(to).is_err(), "{to}");
        }
        assert!(t.require("begin_transaction", &[Ready]).unwrap_err().is_fatal());
    }

    #[test]
    fn an_abortable_error_outside_a_transaction_is_ignored() {
        let mut t = ready();
        t.fail(Severity::Abortable, Error::Closed);
        assert_eq!(t.state(), Ready);
    }
}

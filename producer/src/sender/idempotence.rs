//! Sans-IO idempotence state of the sender (Java's `TransactionManager` sequence bookkeeping):
//! the producer id and epoch, and per partition the next sequence to assign, the sequence the
//! broker expects after the last acknowledged batch, and whether the partition may pipeline.
//!
//! Rules (see ARCHITECTURE.md, "in-flight sequencing"):
//! - a partition starts probing (one batch in flight) and pipelines up to
//!   `max.in.flight.requests.per.connection` batches once a batch of the current epoch
//!   succeeded; any failed or retried batch sends it back to probing until the next success.
//!   A broker accepts any sequence for the first batch it sees from a producer id, so with
//!   two in flight after an unknown outcome the later one could be written first;
//! - OUT_OF_ORDER_SEQUENCE / UNKNOWN_PRODUCER_ID on a batch that is not the next one the
//!   broker expects (an earlier batch failed or is being retried), or of an older epoch, is
//!   retriable (Java's `canRetry`); on the expected batch it fails it and bumps the epoch;
//! - a batch with a sequence that fails without having been written leaves a gap: once
//!   nothing of the partition is in flight the queued batches are renumbered from the
//!   expected sequence (Java's `adjustSequencesDueToFailedBatch`). One that may have been
//!   written (unknown outcome) needs a new epoch instead (Java's unresolved sequences);
//! - an epoch bump waits until no produce request is in flight, then every queued batch that
//!   has a sequence is renumbered from 0 under the new epoch (KIP-360).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use kafka_protocol::ErrorCode;

use crate::accumulator::{ProducerBatch, seq_before};

/// What a pending bump will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bump {
    /// The same producer id with the next epoch (local, KIP-360).
    Epoch,
    /// A new producer id from InitProducerId (fenced epoch, or the epoch is exhausted).
    NewId,
}

/// What to do with a batch the broker answered with a sequence error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqVerdict {
    /// An earlier batch failed (or the epoch moved on): send it again.
    Retry,
    /// The broker lost our state: fail the batch (a bump is now pending).
    Fail,
}

#[derive(Debug, Clone, Default)]
struct PartitionSeq {
    /// The next sequence to assign.
    next: i32,
    /// The sequence after the last acknowledged batch (what the broker expects next).
    acked_next: i32,
    /// A batch succeeded since the last error: up to max.in.flight may be in flight.
    pipelining: bool,
    /// A batch failed unwritten: renumber the queued batches once nothing is in flight.
    resequence: bool,
    /// Batches sent and not yet settled, by base sequence, from the oldest one not
    /// acknowledged (acknowledged = true) on: the broker remembers only the last five
    /// batches, so this window (not just the requests in flight) is kept within
    /// max.in.flight; a retry then always finds its written twin in the broker's cache.
    window: VecDeque<(i32, bool)>,
    /// Batches of the partition in flight.
    in_flight: usize,
}

impl PartitionSeq {
    fn remove(&mut self, seq: i32) {
        self.window.retain(|(s, _)| *s != seq);
        while self.window.front().is_some_and(|(_, acked)| *acked) {
            self.window.pop_front();
        }
    }
}

/// The idempotence state (owned by the sender task).
#[derive(Debug, Default)]
pub(crate) struct Idempotence {
    /// The producer id and epoch (None until InitProducerId answered).
    pub(crate) producer: Option<(i64, i16)>,
    /// Per topic, per partition (looked up by `&str`: no allocation in `limit`, which runs
    /// for every partition on every drain).
    partitions: HashMap<Arc<str>, HashMap<i32, PartitionSeq>>,
    /// A bump waiting for the produce requests in flight to finish (never set for a
    /// transactional producer, whose epoch the transaction manager bumps at abort).
    pub(crate) bump: Option<Bump>,
    transactional: bool,
}

impl Idempotence {
    pub(crate) fn new(transactional: bool) -> Self {
        Idempotence { transactional, ..Default::default() }
    }

    fn request_bump(&mut self) {
        if self.transactional {
            return;
        }
        let epoch = self.producer.map_or(0, |(_, e)| e);
        self.bump = Some(if epoch < i16::MAX { Bump::Epoch } else { Bump::NewId });
    }

    fn get(&self, topic: &str, partition: i32) -> Option<&PartitionSeq> {
        self.partitions.get(topic)?.get(&partition)
    }

    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionSeq> {
        self.partitions.get_mut(topic)?.get_mut(&partition)
    }

    fn entry(&mut self, topic: &Arc<str>, partition: i32) -> &mut PartitionSeq {
        if !self.partitions.contains_key(&**topic) {
            self.partitions.insert(topic.clone(), HashMap::new());
        }
        self.partitions.get_mut(&**topic).expect("inserted").entry(partition).or_default()
    }

    /// Whether `b` was stamped with the current producer id and epoch.
    fn current(&self, b: &ProducerBatch) -> bool {
        self.producer.is_some() && b.producer.map(|(id, e, _)| (id, e)) == self.producer
    }

    /// Forgets every partition (a new producer id or epoch: sequences restart at 0).
    pub(crate) fn reset(&mut self, producer: Option<(i64, i16)>) {
        self.producer = producer;
        self.partitions.clear();
        self.bump = None;
    }

    /// How many batches `topic`-`partition` may have in flight.
    pub(crate) fn limit(&self, topic: &str, partition: i32, max_in_flight: usize) -> usize {
        if self.bump.is_some() {
            return 0;
        }
        match self.get(topic, partition) {
            Some(p) if p.resequence => 0,
            // the window's acknowledged-but-held and waiting batches take slots too; with
            // nothing in flight the window holds only retries, which lead the queue and
            // must be able to go (one at a time)
            Some(p) if p.pipelining => {
                let held = p.window.len().saturating_sub(p.in_flight);
                max_in_flight.saturating_sub(held).max(usize::from(p.in_flight == 0))
            }
            _ => 1,
        }
    }

    /// A stamped batch goes out in a request.
    pub(crate) fn sent(&mut self, b: &ProducerBatch) {
        let Some(seq) = b.sequence().filter(|_| self.current(b)) else { return };
        let p = self.entry(&b.topic, b.partition);
        p.in_flight += 1;
        if !p.window.iter().any(|(s, _)| *s == seq) {
            let at = p.window.iter().position(|(s, _)| seq_before(seq, *s)).unwrap_or(p.window.len());
            p.window.insert(at, (seq, false));
        }
    }

    /// A batch's request finished (whatever the outcome); call before anything else.
    pub(crate) fn returned(&mut self, b: &ProducerBatch) {
        if !self.current(b) {
            return;
        }
        if let Some(p) = self.get_mut(&b.topic, b.partition) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// A batch left the window for good (failed, split, replaced).
    pub(crate) fn settled(&mut self, b: &ProducerBatch) {
        let Some(seq) = b.sequence().filter(|_| self.current(b)) else { return };
        if let Some(p) = self.get_mut(&b.topic, b.partition) {
            p.remove(seq);
        }
    }

    /// Stamps a batch drained for the first time with the next sequence of its partition.
    pub(crate) fn assign(&mut self, b: &mut ProducerBatch) {
        let Some((id, epoch)) = self.producer else { return };
        if b.producer.is_some() {
            return;
        }
        let p = self.entry(&b.topic, b.partition);
        b.producer = Some((id, epoch, p.next));
        p.next = p.next.wrapping_add(b.records) & i32::MAX;
    }

    /// A batch was acknowledged (or was a duplicate of one that was).
    pub(crate) fn succeeded(&mut self, b: &ProducerBatch) {
        if !self.current(b) {
            return;
        }
        let Some(seq) = b.sequence() else { return };
        let p = self.entry(&b.topic, b.partition);
        let end = seq.wrapping_add(b.records) & i32::MAX;
        if seq_before(p.acked_next, end) {
            p.acked_next = end;
        }
        p.pipelining = true;
        if let Some(e) = p.window.iter_mut().find(|(s, _)| *s == seq) {
            e.1 = true;
        }
        p.remove(-1);
    }

    /// A batch failed or will be retried: its partition probes until the next success.
    pub(crate) fn errored(&mut self, b: &ProducerBatch) {
        if let Some(p) = self.get_mut(&b.topic, b.partition) {
            p.pipelining = false;
        }
    }

    /// Judges OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID / INVALID_PRODUCER_EPOCH.
    pub(crate) fn sequence_error(&mut self, b: &ProducerBatch, code: ErrorCode) -> SeqVerdict {
        self.errored(b);
        if self.bump.is_some() || !self.current(b) {
            return SeqVerdict::Retry;
        }
        let expected = self.get(&b.topic, b.partition).map_or(0, |p| p.acked_next);
        if code != ErrorCode::InvalidProducerEpoch && b.sequence().is_some_and(|s| s != expected) {
            return SeqVerdict::Retry;
        }
        self.settled(b);
        self.request_bump();
        if code == ErrorCode::InvalidProducerEpoch && !self.transactional {
            self.bump = Some(Bump::NewId);
        }
        SeqVerdict::Fail
    }

    /// A batch with a sequence was given up (not for a sequence error): its sequence is a gap
    /// (renumber the later ones) or, if it may have been written, unresolved (new epoch).
    pub(crate) fn abandoned(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        producer: Option<(i64, i16, i32)>,
        maybe_written: bool,
    ) {
        let Some((id, epoch, seq)) = producer else { return };
        if self.producer != Some((id, epoch)) {
            return;
        }
        if let Some(p) = self.get_mut(topic, partition) {
            p.remove(seq);
        }
        if self.bump.is_some() || self.transactional {
            return;
        }
        if maybe_written {
            self.request_bump();
        } else {
            let p = self.entry(topic, partition);
            p.resequence = true;
            p.pipelining = false;
        }
    }

    /// Partitions waiting to be renumbered.
    pub(crate) fn pending_resequence(&self) -> Vec<(Arc<str>, i32)> {
        let mut out = Vec::new();
        for (t, parts) in &self.partitions {
            out.extend(parts.iter().filter(|(_, p)| p.resequence).map(|(p, _)| (t.clone(), *p)));
        }
        out
    }

    /// Where the renumbering of `topic`-`partition` starts.
    pub(crate) fn resequence_start(&self, topic: &Arc<str>, partition: i32) -> i32 {
        self.get(topic, partition).map_or(0, |p| p.acked_next)
    }

    /// The partition was renumbered up to `next` (exclusive).
    pub(crate) fn resequenced(&mut self, topic: &Arc<str>, partition: i32, next: i32) {
        let p = self.entry(topic, partition);
        p.next = next;
        p.resequence = false;
        p.window.clear();
    }

    /// A renumbering was refused (a batch that may be written would move): bump instead.
    pub(crate) fn resequence_refused(&mut self, topic: &Arc<str>, partition: i32) {
        if let Some(p) = self.get_mut(topic, partition) {
            p.resequence = false;
        }
        self.request_bump();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_protocol::records::Compression;
    use tokio::time::Instant;

    use super::*;
    use crate::accumulator::{AccumulatorConfig, RecordAccumulator};
    use crate::record::ProducerRecord;

    /// `n` one-record batches of partition t-0, as the sender drains them.
    fn batches(n: usize) -> Vec<ProducerBatch> {
        let cfg = AccumulatorConfig {
            batch_size: 10,
            compression: Compression::None,
            level: None,
            linger: Duration::ZERO,
            delivery_timeout: Duration::from_secs(60),
        };
        let a = RecordAccumulator::new(cfg, 1 << 20);
        for _ in 0..n {
            a.append(&ProducerRecord::new("t").value("0123456789"), 0, 0).unwrap();
        }
        let mut out = Vec::new();
        while out.len() < n {
            let d =
                a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| usize::MAX, 1 << 20, |_, _| true);
            out.extend(d.batches.into_values().flatten());
        }
        out
    }

    #[tokio::test]
    async fn a_partition_probes_until_a_success_and_its_window_bounds_what_is_in_flight() {
        let mut idem = Idempotence::new(false);
        idem.reset(Some((7, 0)));
        let mut bs = batches(7);
        assert_eq!(idem.limit("t", 0, 5), 1, "probing before the first success");
        for b in &mut bs {
            idem.assign(b);
        }
        assert_eq!(bs.iter().map(|b| b.sequence().unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5, 6]);
        idem.sent(&bs[0]);
        idem.returned(&bs[0]);
        idem.succeeded(&bs[0]);
        assert_eq!(idem.limit("t", 0, 5), 5, "pipelining after a success");
        for b in &bs[1..6] {
            idem.sent(b);
        }
        // batch 1 is unanswered; 2..5 are acknowledged: the window 1..5 is full
        for b in &bs[2..6] {
            idem.returned(b);
            idem.succeeded(b);
        }
        // the window 1..=5 is full: no batch beyond the one in flight (a sixth past the
        // unresolved one would push it out of the broker's five-batch cache)
        assert_eq!(idem.limit("t", 0, 5), 1);
        // batch 1 times out: retried alone, then everything moves on
        idem.returned(&bs[1]);
        idem.errored(&bs[1]);
        assert_eq!(idem.limit("t", 0, 5), 1);
        idem.sent(&bs[1]);
        idem.returned(&bs[1]);
        idem.succeeded(&bs[1]);
        assert_eq!(idem.limit("t", 0, 5), 5);
    }

    #[tokio::test]
    async fn sequence_errors_behind_a_failed_batch_are_retried_and_the_expected_one_bumps() {
        let mut idem = Idempotence::new(false);
        idem.reset(Some((7, 0)));
        let mut bs = batches(3);
        for b in &mut bs {
            idem.assign(b);
            idem.sent(b);
        }
        for b in &bs {
            idem.returned(b);
        }
        // batch 0 failed retriably; 1 and 2 saw the gap
        idem.errored(&bs[0]);
        assert_eq!(idem.sequence_error(&bs[1], ErrorCode::OutOfOrderSequenceNumber), SeqVerdict::Retry);
        assert_eq!(idem.bump, None);
        // the one the broker expects: its state is lost
        assert_eq!(idem.sequence_error(&bs[0], ErrorCode::UnknownProducerId), SeqVerdict::Fail);
        assert_eq!(idem.bump, Some(Bump::Epoch));
        assert_eq!(idem.limit("t", 0, 5), 0, "nothing goes until the bump");
        // a fenced epoch takes a new id
        let mut idem = Idempotence::new(false);
        idem.reset(Some((7, 0)));
        let mut b = batches(1).pop().unwrap();
        idem.assign(&mut b);
        assert_eq!(idem.sequence_error(&b, ErrorCode::InvalidProducerEpoch), SeqVerdict::Fail);
        assert_eq!(idem.bump, Some(Bump::NewId));
    }

    #[tokio::test]
    async fn a_batch_failed_unwritten_renumbers_its_partition_and_one_maybe_written_bumps() {
        let mut idem = Idempotence::new(false);
        idem.reset(Some((7, 3)));
        let mut bs = batches(2);
        for b in &mut bs {
            idem.assign(b);
        }
        idem.abandoned(&bs[0].topic, 0, bs[0].producer, false);
        assert_eq!(idem.pending_resequence(), vec![(Arc::from("t"), 0)]);
        assert_eq!(idem.resequence_start(&Arc::from("t"), 0), 0);
        idem.resequenced(&Arc::from("t"), 0, 1);
        assert!(idem.pending_resequence().is_empty());
        idem.abandoned(&bs[1].topic, 0, bs[1].producer, true);
        assert_eq!(idem.bump, Some(Bump::Epoch));
        // a transactional producer leaves bumps to the transaction manager
        let mut idem = Idempotence::new(true);
        idem.reset(Some((7, 3)));
        idem.abandoned(&bs[1].topic, 0, bs[1].producer, true);
        assert_eq!(idem.bump, None);
    }
}

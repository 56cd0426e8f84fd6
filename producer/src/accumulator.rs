//! `RecordAccumulator`: per-partition queues of open batches, filled by `send` and drained by
//! the sender, with a bounded `BufferPool`.
//!
//! Appending takes the topic map's read lock and one partition's mutex for the time of one
//! `RecordBatchBuilder::append`; nothing else happens per record. A record's delivery future
//! shares its batch's [`Completion`] (one allocation per batch, not per record).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, DecodeOptions, RECORD_BATCH_OVERHEAD, Record, RecordBatchBuilder, decode_batches,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::callback::{BatchHooks, PendingHook};
use crate::error::{Error, Result};
use crate::interceptor::Interceptors;
use crate::record::ProducerRecord;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A batch's outcome, shared by the delivery futures of its records.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    result: OnceLock<Outcome>,
    notify: Notify,
}

/// How a batch ended: acknowledged or failed as a whole, or its records moved on (the batch
/// was split after MESSAGE_TOO_LARGE, or some records failed alone, KIP-467).
#[derive(Debug)]
enum Outcome {
    Done(std::result::Result<Ack, Error>),
    Redirect(Vec<Target>),
}

/// Where one record of a redirected batch went.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// Into another batch, at this relative index.
    Moved(Arc<Completion>, i32),
    /// Nowhere: the record failed with this error.
    Failed(Error),
}

/// What the broker said about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack {
    /// The first record's offset (-1 for `acks=0`).
    pub base_offset: i64,
    /// The append time when the topic uses LogAppendTime, else -1.
    pub log_append_time: i64,
}

impl Completion {
    /// Sets the outcome (first call wins) and wakes every waiter.
    pub(crate) fn complete(&self, r: std::result::Result<Ack, Error>) {
        let _ = self.result.set(Outcome::Done(r));
        self.notify.notify_waiters();
    }

    /// Ends the batch by sending each record (by relative index) elsewhere.
    pub(crate) fn redirect(&self, targets: Vec<Target>) {
        let _ = self.result.set(Outcome::Redirect(targets));
        self.notify.notify_waiters();
    }

    /// Waits for the batch to end (acknowledged, failed or redirected).
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.result.get().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Waits for the outcome of record `relative`, following redirects; returns the ack of
    /// the batch that holds the record in the end and the record's index in it.
    pub(crate) async fn wait_record(
        self: &Arc<Self>,
        relative: i32,
    ) -> std::result::Result<(Ack, i32), Error> {
        let mut at = (self.clone(), relative);
        loop {
            at.0.wait().await;
            match at.0.result.get() {
                Some(Outcome::Done(r)) => return r.clone().map(|a| (a, at.1)),
                Some(Outcome::Redirect(targets)) => match targets.get(at.1.max(0) as usize) {
                    Some(Target::Moved(c, r)) => at = (c.clone(), *r),
                    Some(Target::Failed(e)) => return Err(e.clone()),
                    None => return Err(Error::Closed),
                },
                None => continue,
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.result.get().is_some()
    }
}

/// The bounded pool of batch memory (`buffer.memory`): a byte counter; batches reserve
/// `batch.size` (or their record's size, if larger) when created and release it when done.
#[derive(Debug)]
pub(crate) struct BufferPool {
    limit: usize,
    used: AtomicUsize,
    /// Batches that completed with an error (a transaction must not commit past one).
    failures: std::sync::atomic::AtomicU64,
    /// Records of those batches (`record-error-total`, counted once per batch).
    failed_records: std::sync::atomic::AtomicU64,
    /// Signalled whenever memory is released.
    pub(crate) freed: Notify,
}

impl BufferPool {
    pub(crate) fn new(limit: usize) -> Self {
        BufferPool {
            limit,
            used: AtomicUsize::new(0),
            failures: Default::default(),
            failed_records: Default::default(),
            freed: Notify::new(),
        }
    }
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| (u + n <= self.limit).then_some(u + n))
            .is_ok()
    }
    pub(crate) fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        self.freed.notify_waiters();
    }
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }
    pub(crate) fn failed_records(&self) -> u64 {
        self.failed_records.load(Ordering::Relaxed)
    }
}

/// One batch of one partition.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    builder: Option<RecordBatchBuilder>,
    built: Option<Bytes>,
    pub(crate) records: i32,
    pub(crate) created: Instant,
    reserved: usize,
    pub(crate) completion: Arc<Completion>,
    /// Sends so far.
    pub(crate) attempts: u32,
    /// Not before this instant (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The last retriable error, for the delivery-timeout message.
    pub(crate) last_error: Option<String>,
    /// Producer id, epoch and base sequence, fixed at the first send (idempotence); changed
    /// only by a resequence (an earlier batch failed unwritten, or a new epoch).
    pub(crate) producer: Option<(i64, i16, i32)>,
    /// A request carrying it failed with an unknown outcome (timeout, connection lost): the
    /// broker may have written it, so its sequence must never be given to other records.
    pub(crate) maybe_written: bool,
    /// Callbacks / interceptor acknowledgements of its records (`None` unless used).
    hooks: Option<Box<BatchHooks>>,
    /// The uncompressed size, known once built (`compression-rate-avg`).
    pub(crate) uncompressed: usize,
}

impl ProducerBatch {
    pub(crate) fn size(&self) -> usize {
        match (&self.built, &self.builder) {
            (Some(b), _) => b.len(),
            (None, Some(b)) => b.estimated_size(),
            (None, None) => 0,
        }
    }

    /// The batch's bytes, built once at the first send so retries resend identical bytes.
    pub(crate) fn wire(&mut self) -> Result<Bytes> {
        if let Some(b) = &self.built {
            return Ok(b.clone());
        }
        let mut builder = self.builder.take().expect("a batch is either open or built");
        self.uncompressed = builder.estimated_size();
        if let Some((id, epoch, seq)) = self.producer {
            builder.producer(id, epoch, seq);
        }
        let b = builder.finish().map_err(|e| Error::Topic {
            topic: self.topic.to_string(),
            reason: format!("partition {}: cannot build the batch: {e}", self.partition),
        })?;
        self.built = Some(b.clone());
        Ok(b)
    }

    /// The base sequence, once assigned.
    pub(crate) fn sequence(&self) -> Option<i32> {
        self.producer.map(|(_, _, s)| s)
    }

    /// Sets the producer id, epoch and base sequence, rewriting the built bytes (and their
    /// CRC) if the batch was already built.
    pub(crate) fn set_producer(&mut self, id: i64, epoch: i16, seq: i32) -> Result<()> {
        self.producer = Some((id, epoch, seq));
        if let Some(b) = &self.built {
            let mut bytes = BytesMut::from(&b[..]);
            kafka_protocol::records::set_producer_state(&mut bytes, id, epoch, seq).map_err(|e| {
                Error::Topic {
                    topic: self.topic.to_string(),
                    reason: format!("partition {}: cannot restamp the batch: {e}", self.partition),
                }
            })?;
            self.built = Some(bytes.freeze());
        }
        Ok(())
    }

    /// The built batch's records decoded again (for a split or a partial resend).
    fn decoded(&self) -> Result<(kafka_protocol::records::RecordBatch, Vec<Record>)> {
        let err = |e: String| Error::Topic {
            topic: self.topic.to_string(),
            reason: format!("partition {}: cannot rebuild the batch: {e}", self.partition),
        };
        let built = self.built.clone().ok_or_else(|| err("it was never built".into()))?;
        let batch = decode_batches(built, &DecodeOptions::default())
            .next()
            .ok_or_else(|| err("no batch".into()))?
            .map_err(|e| err(e.to_string()))?;
        let records =
            batch.records().collect::<std::result::Result<Vec<_>, _>>().map_err(|e| err(e.to_string()))?;
        Ok((batch, records))
    }

    /// A new batch (never sent, own completion) holding `records`, created when this one was.
    fn rebuilt(
        &self,
        header: &kafka_protocol::records::RecordBatch,
        records: &[&Record],
    ) -> Result<ProducerBatch> {
        let mut builder = RecordBatchBuilder::new(header.compression());
        builder.compression(header.compression(), None);
        builder.transactional(header.is_transactional());
        for r in records {
            let headers: Vec<(&str, Option<Bytes>)> = r.headers.iter().collect();
            let headers: Vec<(&str, Option<&[u8]>)> =
                headers.iter().map(|(k, v)| (*k, v.as_deref())).collect();
            builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers).map_err(|e| {
                Error::Topic {
                    topic: self.topic.to_string(),
                    reason: format!("partition {}: {e}", self.partition),
                }
            })?;
        }
        Ok(ProducerBatch {
            topic: self.topic.clone(),
            partition: self.partition,
            builder: Some(builder),
            built: None,
            records: records.len() as i32,
            created: self.created,
            reserved: 0,
            completion: Arc::new(Completion::default()),
            attempts: 0,
            retry_at: None,
            last_error: self.last_error.clone(),
            producer: None,
            maybe_written: false,
            hooks: None,
            uncompressed: 0,
        })
    }

    /// Splits a built batch of several records into batches of at most `max_bytes` (at least
    /// one record each), in record order (Java's `ProducerBatch.split`). With idempotence the
    /// pieces take the original's sequences in order, so nothing after it moves.
    pub(crate) fn split(&self, max_bytes: usize) -> Result<Vec<ProducerBatch>> {
        let (header, records) = self.decoded()?;
        let mut groups: Vec<Vec<&Record>> = Vec::new();
        let mut size = 0;
        for r in &records {
            let n = 24
                + r.key.as_ref().map_or(0, |k| k.len())
                + r.value.as_ref().map_or(0, |v| v.len())
                + r.headers.as_bytes().len();
            match groups.last_mut() {
                Some(g) if size + n <= max_bytes => g.push(r),
                _ => {
                    groups.push(vec![r]);
                    size = RECORD_BATCH_OVERHEAD;
                }
            }
            size += n;
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut seq = self.sequence();
        for g in groups {
            let mut b = self.rebuilt(&header, &g)?;
            if let (Some((id, epoch, _)), Some(s)) = (self.producer, seq) {
                b.producer = Some((id, epoch, s));
                seq = Some(s.wrapping_add(b.records) & i32::MAX);
            }
            out.push(b);
        }
        Ok(out)
    }

    /// A new batch with the records whose relative index `keep` accepts (KIP-467: the records
    /// the broker did not reject are sent again); `None` if none is kept. It takes this
    /// batch's producer id/epoch/base sequence as a placeholder until it is resequenced.
    pub(crate) fn retain(&self, keep: impl Fn(i32) -> bool) -> Result<Option<(ProducerBatch, Vec<i32>)>> {
        let (header, records) = self.decoded()?;
        let kept: Vec<i32> = (0..records.len() as i32).filter(|i| keep(*i)).collect();
        if kept.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&Record> = kept.iter().map(|i| &records[*i as usize]).collect();
        let mut b = self.rebuilt(&header, &refs)?;
        b.producer = self.producer;
        Ok(Some((b, kept)))
    }

    /// Hands the outcome hooks (callbacks, interceptor acknowledgements) of this batch's
    /// records to the `pieces` that `targets` moved them into, at their new index, so they run
    /// with those batches' outcomes in the same order; the hooks of records that failed run
    /// now. Called before the pieces are queued, with no accumulator lock held.
    pub(crate) fn move_hooks(&mut self, pieces: &mut [ProducerBatch], targets: &[Target]) {
        let Some(hooks) = self.hooks.take() else { return };
        let (interceptors, records) = hooks.into_parts();
        for (relative, timestamp, hook) in records {
            let moved = match targets.get(relative.max(0) as usize) {
                Some(Target::Moved(c, r)) => {
                    pieces.iter_mut().find(|p| Arc::ptr_eq(&p.completion, c)).map(|p| (p, *r))
                }
                _ => None,
            };
            match (moved, targets.get(relative.max(0) as usize)) {
                (Some((piece, r)), _) => piece
                    .hooks
                    .get_or_insert_with(|| Box::new(BatchHooks::new(interceptors.clone())))
                    .push(r, timestamp, hook),
                (None, Some(Target::Failed(e))) => hook.fail(&interceptors, &self.topic, self.partition, e),
                (None, _) => hook.fail(&interceptors, &self.topic, self.partition, &Error::Closed),
            }
        }
    }

    /// Ends this batch by moving its records elsewhere (see [`Target`]); a failed record
    /// counts as a failure for a transaction's commit.
    pub(crate) fn redirect(self, pool: &BufferPool, targets: Vec<Target>) {
        if targets.iter().any(|t| matches!(t, Target::Failed(_))) {
            pool.failures.fetch_add(1, Ordering::AcqRel);
        }
        self.completion.redirect(targets);
        pool.release(self.reserved);
    }

    /// Completes the batch and gives back its memory.
    /// Callbacks and interceptors run first (in append order), then the futures wake.
    pub(crate) fn finish(mut self, pool: &BufferPool, r: std::result::Result<Ack, Error>) {
        if r.is_err() {
            pool.failures.fetch_add(1, Ordering::AcqRel);
            pool.failed_records.fetch_add(self.records.max(0) as u64, Ordering::Relaxed);
        }
        if let Some(hooks) = self.hooks.take() {
            hooks.run(&self.topic, self.partition, &r);
        }
        self.completion.complete(r);
        pool.release(self.reserved);
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    /// Batches of this partition in flight.
    in_flight: usize,
}

/// Ready batches by leader node, when to look again, and the sequenced batches that expired.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub(crate) batches: HashMap<i32, Vec<ProducerBatch>>,
    pub(crate) next: Option<Instant>,
    pub(crate) expired: Vec<Expired>,
}

/// A batch with a sequence that expired in the queue (its sequence is now a gap, or written).
#[derive(Debug)]
pub(crate) struct Expired {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) producer: Option<(i64, i16, i32)>,
    pub(crate) maybe_written: bool,
}

/// Whether sequence `a` comes before `b` (sequences wrap at `i32::MAX`).
pub(crate) fn seq_before(a: i32, b: i32) -> bool {
    let d = b.wrapping_sub(a) & i32::MAX;
    d != 0 && d < (1 << 30)
}

fn insert_in_sequence_order(batches: &mut VecDeque<ProducerBatch>, b: ProducerBatch) {
    let Some(seq) = b.sequence() else {
        batches.push_front(b);
        return;
    };
    let at =
        batches.iter().position(|o| o.sequence().is_none_or(|s| seq_before(seq, s))).unwrap_or(batches.len());
    batches.insert(at, b);
}

/// Where an appended record landed.
#[derive(Debug, Clone)]
pub(crate) struct Appended {
    pub(crate) partition: Option<i32>,
    pub(crate) completion: Arc<Completion>,
    pub(crate) relative: i32,
    pub(crate) timestamp: i64,
}

/// Why a record could not be appended now.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The pool has no room for a new batch.
    NoMemory,
    /// The record cannot fit in any batch (or builder failure).
    Fatal(Error),
}

/// Settings the accumulator needs.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) compression: Compression,
    pub(crate) level: Option<i32>,
    pub(crate) linger: Duration,
    pub(crate) delivery_timeout: Duration,
}

/// Per-partition queues of batches.
#[derive(Debug)]
pub(crate) struct RecordAccumulator {
    cfg: AccumulatorConfig,
    /// Batches carry the transactional attribute.
    pub(crate) transactional: bool,
    /// Given to batches whose records have hooks (their `on_acknowledgement`).
    pub(crate) interceptors: Interceptors,
    topics: RwLock<HashMap<String, Vec<Arc<Mutex<PartitionQueue>>>>>,
    pub(crate) pool: BufferPool,
    /// Wakes the sender: a batch filled up, or a flush or close began.
    pub(crate) wake: Notify,
    /// Flushes in progress (every batch is ready while > 0).
    pub(crate) flushing: AtomicUsize,
    /// Set at close: every batch is ready.
    pub(crate) closing: std::sync::atomic::AtomicBool,
    /// Completions of batches not yet done, for flush.
    incomplete: Mutex<Vec<Arc<Completion>>>,
}

impl RecordAccumulator {
    pub(crate) fn new(cfg: AccumulatorConfig, buffer_memory: usize) -> Self {
        RecordAccumulator {
            transactional: false,
            interceptors: Interceptors::default(),
            cfg,
            topics: RwLock::default(),
            pool: BufferPool::new(buffer_memory),
            wake: Notify::new(),
            flushing: AtomicUsize::new(0),
            closing: Default::default(),
            incomplete: Mutex::default(),
        }
    }

    fn queue(&self, topic: &str, partition: i32) -> Arc<Mutex<PartitionQueue>> {
        let p = partition as usize;
        if let Some(q) =
            self.topics.read().unwrap_or_else(PoisonError::into_inner).get(topic).and_then(|v| v.get(p))
        {
            return q.clone();
        }
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let v = topics.entry(topic.to_owned()).or_default();
        while v.len() <= p {
            v.push(Arc::default());
        }
        v[p].clone()
    }

    /// Appends `rec` (already partitioned) to its partition's open batch, opening one if needed.
    #[cfg(test)]
    pub(crate) fn append(
        &self,
        rec: &ProducerRecord,
        partition: i32,
        timestamp: i64,
    ) -> std::result::Result<Appended, AppendError> {
        self.append_hooked(rec, partition, timestamp, &mut None)
    }

    /// [`Self::append`] that also moves the record's `hook` (callback / interceptors) into
    /// its batch when the append succeeds (on failure the caller keeps it).
    pub(crate) fn append_hooked(
        &self,
        rec: &ProducerRecord,
        partition: i32,
        timestamp: i64,
        hook: &mut Option<PendingHook>,
    ) -> std::result::Result<Appended, AppendError> {
        let q = self.queue(&rec.topic, partition);
        let mut q = lock(&q);
        let size = rec.estimated_size();
        let headers: Vec<(&str, Option<&[u8]>)> =
            rec.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        if let Some(b) = q.batches.back_mut() {
            if let Some(builder) = b.builder.as_mut() {
                if builder.estimated_size() + size <= self.cfg.batch_size {
                    builder.append(timestamp, rec.key.as_deref(), rec.value.as_deref(), &headers).map_err(
                        |e| {
                            AppendError::Fatal(Error::Topic {
                                topic: rec.topic.clone(),
                                reason: e.to_string(),
                            })
                        },
                    )?;
                    b.records += 1;
                    if builder.estimated_size() >= self.cfg.batch_size {
                        self.wake.notify_one();
                    }
                    if let Some(h) = hook.take() {
                        let hooks = b
                            .hooks
                            .get_or_insert_with(|| Box::new(BatchHooks::new(self.interceptors.clone())));
                        hooks.push(b.records - 1, timestamp, h);
                    }
                    return Ok(Appended {
                        partition: Some(partition),
                        completion: b.completion.clone(),
                        relative: b.records - 1,
                        timestamp,
                    });
                }
                // full: a new batch follows, and opening it wakes the sender below. Waking it
                // here too, before the pool has room, made a record waiting for memory spin the
                // sender (each retry of the append woke it again) and starve the runtime.
            }
        }
        let reserve = self.cfg.batch_size.max(size + RECORD_BATCH_OVERHEAD);
        if !self.pool.try_reserve(reserve) {
            return Err(AppendError::NoMemory);
        }
        let mut builder = RecordBatchBuilder::with_capacity(self.cfg.compression, reserve);
        builder.compression(self.cfg.compression, self.cfg.level);
        builder.transactional(self.transactional);
        if let Err(e) = builder.append(timestamp, rec.key.as_deref(), rec.value.as_deref(), &headers) {
            self.pool.release(reserve);
            return Err(AppendError::Fatal(Error::Topic { topic: rec.topic.clone(), reason: e.to_string() }));
        }
        let completion = Arc::new(Completion::default());
        lock(&self.incomplete).push(completion.clone());
        let hooks = hook.take().map(|h| {
            let mut hooks = Box::new(BatchHooks::new(self.interceptors.clone()));
            hooks.push(0, timestamp, h);
            hooks
        });
        q.batches.push_back(ProducerBatch {
            topic: Arc::from(rec.topic.as_str()),
            partition,
            builder: Some(builder),
            built: None,
            records: 1,
            created: Instant::now(),
            reserved: reserve,
            completion: completion.clone(),
            attempts: 0,
            retry_at: None,
            last_error: None,
            producer: None,
            maybe_written: false,
            hooks,
            uncompressed: 0,
        });
        // a new batch: the sender must learn its linger deadline (or send it, if full)
        self.wake.notify_one();
        Ok(Appended { partition: Some(partition), completion, relative: 0, timestamp })
    }

    /// Removes the ready batches whose leader is known and whose partition may send, grouped by
    /// leader (at most `max_bytes` per node, at most one batch per partition per request).
    /// `leader(topic, partition)` gives the leader node; `may_send(node)` whether that node
    /// has a free in-flight slot; `limit(topic, partition)` how many batches the partition
    /// may have in flight (idempotence: 1 while it probes, up to max.in.flight otherwise). A
    /// batch that already has a sequence (a retry, a split piece, a resequenced batch) goes
    /// only when nothing of its partition is in flight, so retries never overtake each other
    /// (Java's `firstInFlightSequence` rule). Also returns when the next batch becomes ready,
    /// and fails expired batches with a delivery timeout.
    pub(crate) fn drain(
        &self,
        now: Instant,
        leader: impl Fn(&str, i32) -> Option<i32>,
        mut may_send: impl FnMut(i32) -> bool,
        limit: impl Fn(&str, i32) -> usize,
        max_bytes: usize,
        may_drain: impl Fn(&str, i32) -> bool,
    ) -> Drained {
        let force = self.flushing.load(Ordering::Acquire) > 0 || self.closing.load(Ordering::Acquire);
        let mut out = Drained::default();
        let mut sizes: HashMap<i32, usize> = HashMap::new();
        let mut next: Option<Instant> = None;
        let mut soonest = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        // expired batches finish after the locks are released: their callbacks may send
        let mut expired = Vec::new();
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        for queues in topics.values() {
            for q in queues {
                let mut q = lock(q);
                // expire batches that outlived delivery.timeout.ms (not in flight)
                while let Some(b) = q.batches.front() {
                    let age = now.saturating_duration_since(b.created);
                    if age < self.cfg.delivery_timeout {
                        break;
                    }
                    let b = q.batches.pop_front().expect("front exists");
                    if b.producer.is_some() {
                        out.expired.push(Expired {
                            topic: b.topic.clone(),
                            partition: b.partition,
                            producer: b.producer,
                            maybe_written: b.maybe_written,
                        });
                    }
                    let err = Error::DeliveryTimeout {
                        topic: b.topic.to_string(),
                        partition: b.partition,
                        elapsed: age,
                        last: b.last_error.clone(),
                    };
                    expired.push((b, err));
                }
                let Some(front) = q.batches.front() else { continue };
                soonest(front.created + self.cfg.delivery_timeout);
                let limit = match limit(&front.topic, front.partition) {
                    l if front.producer.is_some() => l.min(1),
                    l => l,
                };
                if q.in_flight >= limit {
                    continue;
                }
                // a transaction's partition is drained only once the coordinator added it
                // (the sender wakes itself when AddPartitionsToTxn completes)
                if !may_drain(&front.topic, front.partition) {
                    continue;
                }
                if let Some(t) = front.retry_at.filter(|t| *t > now) {
                    soonest(t);
                    continue;
                }
                let full =
                    q.batches.len() > 1 || front.size() >= self.cfg.batch_size || front.built.is_some();
                let due = front.created + self.cfg.linger;
                if !(full || force || due <= now) {
                    soonest(due);
                    continue;
                }
                let Some(node) = leader(&front.topic, front.partition) else { continue };
                let size = front.size();
                let used = sizes.entry(node).or_default();
                if *used > 0 && *used + size > max_bytes {
                    soonest(now);
                    continue;
                }
                if *used == 0 && !may_send(node) {
                    continue;
                }
                *used += size;
                let b = q.batches.pop_front().expect("front exists");
                q.in_flight += 1;
                out.batches.entry(node).or_default().push(b);
                // one batch per partition per drain: the next one's time still counts
                if let Some(next) = q.batches.front().filter(|n| n.producer.is_none() && q.in_flight < limit)
                {
                    let full = q.batches.len() > 1 || next.size() >= self.cfg.batch_size;
                    soonest(if full || force { now } else { next.created + self.cfg.linger });
                }
            }
        }
        drop(topics);
        for (b, err) in expired {
            b.finish(&self.pool, Err(err));
        }
        out.next = next;
        out
    }

    /// Only fails the batches past `delivery.timeout.ms` (a drain that sends nothing), for a
    /// sender that cannot send yet (no producer id); the sequenced ones it expired are returned
    /// for the idempotence state.
    pub(crate) fn expire(&self, now: Instant) -> Vec<Expired> {
        self.drain(now, |_, _| None, |_| false, |_, _| 0, 0, |_, _| true).expired
    }

    /// Puts a batch that will be retried back in its partition's queue: in sequence order
    /// among the sequenced batches at the front (Java's `insertInSequenceOrder`), else first.
    pub(crate) fn reenqueue(&self, b: ProducerBatch) {
        let q = self.queue(&b.topic, b.partition);
        let mut q = lock(&q);
        q.in_flight = q.in_flight.saturating_sub(1);
        insert_in_sequence_order(&mut q.batches, b);
    }

    /// Ends an in-flight batch by putting `pieces` (never sent) in its place, in order.
    pub(crate) fn replace(&self, topic: &str, partition: i32, pieces: Vec<ProducerBatch>) {
        let q = self.queue(topic, partition);
        let mut q = lock(&q);
        q.in_flight = q.in_flight.saturating_sub(1);
        let mut incomplete = lock(&self.incomplete);
        for b in pieces.into_iter().rev() {
            incomplete.push(b.completion.clone());
            if b.producer.is_some() {
                insert_in_sequence_order(&mut q.batches, b);
            } else {
                q.batches.push_front(b);
            }
        }
    }

    /// Batches of `topic`-`partition` in flight.
    pub(crate) fn in_flight(&self, topic: &str, partition: i32) -> usize {
        lock(&self.queue(topic, partition)).in_flight
    }

    /// Renumbers the queued batches of `topic`-`partition` that have a sequence (they lead the
    /// queue, in order) as `producer` from `start`; returns the next free sequence. Refuses
    /// (returns `None`, changing nothing) if a batch that may have been written would get a
    /// different sequence: only a new epoch (`new_epoch`) can make that safe.
    pub(crate) fn resequence(
        &self,
        topic: &str,
        partition: i32,
        producer: (i64, i16),
        start: i32,
        new_epoch: bool,
    ) -> Option<i32> {
        let q = self.queue(topic, partition);
        let mut q = lock(&q);
        let mut seq = start;
        for b in q.batches.iter().take_while(|b| b.producer.is_some()) {
            if !new_epoch && b.maybe_written && b.producer != Some((producer.0, producer.1, seq)) {
                return None;
            }
            seq = seq.wrapping_add(b.records) & i32::MAX;
        }
        let mut seq = start;
        let mut failed = Vec::new();
        for (i, b) in q.batches.iter_mut().enumerate().take_while(|(_, b)| b.producer.is_some()) {
            if let Err(e) = b.set_producer(producer.0, producer.1, seq) {
                failed.push((i, e));
            }
            seq = seq.wrapping_add(b.records) & i32::MAX;
        }
        for (i, e) in failed.into_iter().rev() {
            if let Some(b) = q.batches.remove(i) {
                b.finish(&self.pool, Err(e));
            }
        }
        Some(seq)
    }

    /// The partitions whose queue holds batches with a sequence.
    pub(crate) fn sequenced_partitions(&self) -> Vec<(Arc<str>, i32)> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for q in topics.values().flatten() {
            if let Some(b) = lock(q).batches.front().filter(|b| b.producer.is_some()) {
                out.push((b.topic.clone(), b.partition));
            }
        }
        out
    }

    /// Marks one in-flight batch of `topic`-`partition` done.
    pub(crate) fn done(&self, topic: &str, partition: i32) {
        let q = self.queue(topic, partition);
        let mut q = lock(&q);
        q.in_flight = q.in_flight.saturating_sub(1);
    }

    /// The completions of every batch not yet done (drops finished ones from the list).
    pub(crate) fn incomplete(&self) -> Vec<Arc<Completion>> {
        let mut v = lock(&self.incomplete);
        v.retain(|c| !c.is_done());
        v.clone()
    }

    /// Whether any batch is queued (not counting in-flight ones).
    pub(crate) fn has_queued(&self) -> bool {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.values().flatten().any(|q| !lock(q).batches.is_empty())
    }

    /// The partitions with queued batches.
    pub(crate) fn queued_partitions(&self) -> Vec<(String, i32)> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (t, queues) in topics.iter() {
            for (p, q) in queues.iter().enumerate() {
                if !lock(q).batches.is_empty() {
                    out.push((t.clone(), p as i32));
                }
            }
        }
        out
    }

    /// Fails every queued batch with TransactionAborted (an aborted transaction); returns
    /// whether any of them had been sent before (its sequence is used: the epoch must be
    /// bumped, KIP-360).
    pub(crate) fn abort_undrained(&self) -> bool {
        let mut sent = false;
        for b in self.take_queued(|_| true) {
            sent |= b.producer.is_some();
            let err = Error::TransactionAborted { topic: b.topic.to_string(), partition: b.partition };
            b.finish(&self.pool, Err(err));
        }
        sent
    }

    /// Fails the queued batches with `err`: all of them with `include_sent`, else only those
    /// never sent (a batch waiting for a retry keeps its place). Returns whether a batch that
    /// had been sent was failed (its sequence's fate is unknown).
    pub(crate) fn fail_queued(&self, err: &Error, include_sent: bool) -> bool {
        let mut sent = false;
        for b in self.take_queued(|b| include_sent || b.producer.is_none()) {
            sent |= b.producer.is_some();
            b.finish(&self.pool, Err(err.clone()));
        }
        sent
    }

    /// Fails every queued batch with `err` (close with a deadline that passed).
    pub(crate) fn abort_all(&self, err: &Error) {
        for b in self.take_queued(|_| true) {
            b.finish(&self.pool, Err(err.clone()));
        }
    }

    /// Removes the queued batches `take` selects (the others keep their order). The caller
    /// finishes them after the locks are released, since callbacks may call `send`.
    fn take_queued(&self, take: impl Fn(&ProducerBatch) -> bool) -> Vec<ProducerBatch> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for q in topics.values().flatten() {
            let mut q = lock(q);
            let mut keep = VecDeque::new();
            while let Some(b) = q.batches.pop_front() {
                if take(&b) {
                    out.push(b);
                } else {
                    keep.push_back(b);
                }
            }
            q.batches = keep;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(batch_size: usize, memory: usize) -> RecordAccumulator {
        RecordAccumulator::new(
            AccumulatorConfig {
                batch_size,
                compression: Compression::None,
                level: None,
                linger: Duration::from_millis(100),
                delivery_timeout: Duration::from_secs(10),
            },
            memory,
        )
    }

    fn rec(n: usize) -> ProducerRecord {
        ProducerRecord::new("t").value(vec![b'x'; n])
    }

    #[tokio::test(start_paused = true)]
    async fn records_share_a_batch_until_batch_size_then_a_new_one_opens() {
        let a = acc(1000, 1 << 20);
        let first = a.append(&rec(100), 0, 1).unwrap();
        let second = a.append(&rec(100), 0, 2).unwrap();
        assert!(Arc::ptr_eq(&first.completion, &second.completion));
        assert_eq!((first.relative, second.relative), (0, 1));
        let mut last = second;
        for i in 0..10 {
            last = a.append(&rec(100), 0, i).unwrap();
        }
        assert!(!Arc::ptr_eq(&first.completion, &last.completion), "a second batch opened");
        // the full batch is ready before linger; the open one is not
        let d = a.drain(Instant::now(), |_, _| Some(7), |_| true, |_, _| usize::MAX, 1 << 20, |_, _| true);
        let (out, next) = (d.batches, d.next);
        assert_eq!(out[&7].len(), 1);
        assert_eq!(next, Some(Instant::now() + Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(100)).await;
        let out = a
            .drain(Instant::now(), |_, _| Some(7), |_| true, |_, _| usize::MAX, 1 << 20, |_, _| true)
            .batches;
        assert_eq!(out[&7].len(), 1, "linger elapsed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pool_bounds_memory_and_frees_on_completion() {
        let a = acc(1000, 2000);
        a.append(&rec(10), 0, 0).unwrap();
        a.append(&rec(10), 1, 0).unwrap();
        assert!(matches!(a.append(&rec(10), 2, 0), Err(AppendError::NoMemory)));
        a.flushing.fetch_add(1, Ordering::AcqRel);
        let out = a
            .drain(Instant::now(), |_, p| Some(p), |_| true, |_, _| usize::MAX, 1 << 20, |_, _| true)
            .batches;
        let b = out.into_values().next().unwrap().pop().unwrap();
        b.finish(&a.pool, Ok(Ack { base_offset: 0, log_append_time: -1 }));
        a.append(&rec(10), 2, 0).unwrap();
        assert_eq!(a.pool.used(), 2000);
    }

    #[tokio::test(start_paused = true)]
    async fn one_in_flight_per_partition_and_retry_backoff() {
        let a = acc(10, 1 << 20);
        for _ in 0..3 {
            a.append(&rec(20), 0, 0).unwrap();
        }
        let out = a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 1, 1 << 20, |_, _| true).batches;
        let mut batches = out.into_values().next().unwrap();
        assert_eq!(batches.len(), 1);
        let out = a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 1, 1 << 20, |_, _| true).batches;
        assert!(out.is_empty(), "the partition is busy");
        let mut b = batches.pop().unwrap();
        b.retry_at = Some(Instant::now() + Duration::from_millis(50));
        a.reenqueue(b);
        let d = a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 1, 1 << 20, |_, _| true);
        let (out, next) = (d.batches, d.next);
        assert!(out.is_empty());
        assert_eq!(next, Some(Instant::now() + Duration::from_millis(50)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_go_back_in_sequence_order_ahead_of_new_batches_and_one_at_a_time() {
        let a = acc(10, 1 << 20);
        for _ in 0..4 {
            a.append(&rec(20), 0, 0).unwrap();
        }
        let mut sent = Vec::new();
        for seq in 0..3 {
            let mut b = a
                .drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 5, 1 << 20, |_, _| true)
                .batches
                .remove(&1)
                .unwrap()
                .pop()
                .unwrap();
            b.producer = Some((9, 0, seq));
            sent.push(b);
        }
        // the three in flight fail in any order; the fourth batch (never sent) stays last
        for i in [2, 0, 1] {
            a.reenqueue(sent.remove(sent.iter().position(|b| b.sequence() == Some(i)).unwrap()));
        }
        let mut order = Vec::new();
        for _ in 0..4 {
            let mut d = a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 5, 1 << 20, |_, _| true);
            let mut batches = d.batches.remove(&1).unwrap();
            assert_eq!(batches.len(), 1);
            let b = batches.pop().unwrap();
            order.push(b.sequence());
            // a retry goes alone: the next retry waits for it (a new batch may follow the
            // last one, as in Java; the sender's probing limit keeps that to one in practice)
            let d = a.drain(Instant::now(), |_, _| Some(1), |_| true, |_, _| 5, 1 << 20, |_, _| true);
            if b.sequence().is_some_and(|s| s < 2) {
                assert!(d.batches.is_empty(), "retry {:?} went with another", b.sequence());
            }
            for more in d.batches.into_values().flatten() {
                a.reenqueue(more);
            }
            a.done("t", 0);
        }
        assert_eq!(order, [Some(0), Some(1), Some(2), None]);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_batches_fail_with_a_delivery_timeout_naming_the_partition() {
        let a = acc(1000, 1 << 20);
        let r = a.append(&rec(10), 3, 0).unwrap();
        tokio::time::advance(Duration::from_secs(11)).await;
        let out =
            a.drain(Instant::now(), |_, _| None, |_| true, |_, _| usize::MAX, 1 << 20, |_, _| true).batches;
        assert!(out.is_empty());
        let e = r.completion.wait_record(0).await.unwrap_err().to_string();
        assert!(e.starts_with("t-3: record expired"), "{e}");
        assert_eq!(a.pool.used(), 0);
    }
}

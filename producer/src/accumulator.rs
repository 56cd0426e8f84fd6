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
use kafka_protocol::records::{Compression, RECORD_BATCH_OVERHEAD, RecordBatchBuilder};
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
    result: OnceLock<std::result::Result<Ack, Error>>,
    notify: Notify,
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
        let _ = self.result.set(r);
        self.notify.notify_waiters();
    }

    /// Waits for the outcome.
    pub(crate) async fn wait(&self) -> std::result::Result<Ack, Error> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.result.get() {
                return r.clone();
            }
            notified.await;
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
    /// Producer id, epoch and base sequence, fixed at the first send (idempotence).
    pub(crate) producer: Option<(i64, i16, i32)>,
    /// Callbacks / interceptor acknowledgements of its records (`None` unless used).
    hooks: Option<Box<BatchHooks>>,
    /// The uncompressed size, known once built (`compression-rate-avg`).
    pub(crate) uncompressed: usize,
}

impl ProducerBatch {
    fn size(&self) -> usize {
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
        let mut out = BytesMut::with_capacity(builder.estimated_size());
        builder.build(&mut out).map_err(|e| Error::Topic {
            topic: self.topic.to_string(),
            reason: format!("partition {}: cannot build the batch: {e}", self.partition),
        })?;
        let b = out.freeze();
        self.built = Some(b.clone());
        Ok(b)
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
    /// has a free in-flight slot; `one_in_flight` keeps a partition to one batch in flight
    /// (idempotence). Also returns when the next batch becomes ready, and fails expired
    /// batches with a delivery timeout.
    pub(crate) fn drain(
        &self,
        now: Instant,
        leader: impl Fn(&str, i32) -> Option<i32>,
        mut may_send: impl FnMut(i32) -> bool,
        one_in_flight: bool,
        max_bytes: usize,
        may_drain: impl Fn(&str, i32) -> bool,
    ) -> (HashMap<i32, Vec<ProducerBatch>>, Option<Instant>) {
        let force = self.flushing.load(Ordering::Acquire) > 0 || self.closing.load(Ordering::Acquire);
        let mut out: HashMap<i32, Vec<ProducerBatch>> = HashMap::new();
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
                if one_in_flight && q.in_flight > 0 {
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
                out.entry(node).or_default().push(b);
                // one batch per partition per drain: the next one's time still counts
                if let Some(next) = q.batches.front().filter(|_| !one_in_flight) {
                    let full = q.batches.len() > 1 || next.size() >= self.cfg.batch_size;
                    soonest(if full || force { now } else { next.created + self.cfg.linger });
                }
            }
        }
        drop(topics);
        for (b, err) in expired {
            b.finish(&self.pool, Err(err));
        }
        (out, next)
    }

    /// Only fails the batches past `delivery.timeout.ms` (a drain that sends nothing), for a
    /// sender that cannot send yet (no producer id).
    pub(crate) fn expire(&self, now: Instant) {
        let _ = self.drain(now, |_, _| None, |_| false, true, 0, |_, _| true);
    }

    /// Puts a batch that will be retried back at the front of its partition's queue.
    pub(crate) fn reenqueue(&self, b: ProducerBatch) {
        let q = self.queue(&b.topic, b.partition);
        let mut q = lock(&q);
        q.in_flight = q.in_flight.saturating_sub(1);
        q.batches.push_front(b);
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
        let (out, next) = a.drain(Instant::now(), |_, _| Some(7), |_| true, false, 1 << 20, |_, _| true);
        assert_eq!(out[&7].len(), 1);
        assert_eq!(next, Some(Instant::now() + Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(100)).await;
        let (out, _) = a.drain(Instant::now(), |_, _| Some(7), |_| true, false, 1 << 20, |_, _| true);
        assert_eq!(out[&7].len(), 1, "linger elapsed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pool_bounds_memory_and_frees_on_completion() {
        let a = acc(1000, 2000);
        a.append(&rec(10), 0, 0).unwrap();
        a.append(&rec(10), 1, 0).unwrap();
        assert!(matches!(a.append(&rec(10), 2, 0), Err(AppendError::NoMemory)));
        a.flushing.fetch_add(1, Ordering::AcqRel);
        let (out, _) = a.drain(Instant::now(), |_, p| Some(p), |_| true, false, 1 << 20, |_, _| true);
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
        let (out, _) = a.drain(Instant::now(), |_, _| Some(1), |_| true, true, 1 << 20, |_, _| true);
        let mut batches = out.into_values().next().unwrap();
        assert_eq!(batches.len(), 1);
        let (out, _) = a.drain(Instant::now(), |_, _| Some(1), |_| true, true, 1 << 20, |_, _| true);
        assert!(out.is_empty(), "the partition is busy");
        let mut b = batches.pop().unwrap();
        b.retry_at = Some(Instant::now() + Duration::from_millis(50));
        a.reenqueue(b);
        let (out, next) = a.drain(Instant::now(), |_, _| Some(1), |_| true, true, 1 << 20, |_, _| true);
        assert!(out.is_empty());
        assert_eq!(next, Some(Instant::now() + Duration::from_millis(50)));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_batches_fail_with_a_delivery_timeout_naming_the_partition() {
        let a = acc(1000, 1 << 20);
        let r = a.append(&rec(10), 3, 0).unwrap();
        tokio::time::advance(Duration::from_secs(11)).await;
        let (out, _) = a.drain(Instant::now(), |_, _| None, |_| true, false, 1 << 20, |_, _| true);
        assert!(out.is_empty());
        let e = r.completion.wait().await.unwrap_err().to_string();
        assert!(e.starts_with("t-3: record expired"), "{e}");
        assert_eq!(a.pool.used(), 0);
    }
}

//! Records that wait for their topic's metadata or for buffer memory (appended by the sender
//! task, in send order, or failed after `max.block.ms`), and the slots their delivery futures
//! take the outcome from.
//!
//! Consecutive waiting records share one [`WaitChunk`] (`WAIT_CHUNK` slots and one `Notify`),
//! so a record that waits allocates nothing of its own, and a pass of the sender wakes the
//! futures of a chunk once, not once per record. A record's topic `String` moves into its
//! outcome instead of being copied for the future.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Shared, lock};
use crate::accumulator::Appended;
use crate::callback::PendingHook;
use crate::error::Error;
use crate::record::ProducerRecord;

/// Waiting records per [`WaitChunk`].
const WAIT_CHUNK: usize = 32;

/// What a waiting record's future gets: where the record went and its topic, or why it failed.
pub(super) type WaitOutcome = std::result::Result<(Appended, String), Error>;

/// The outcomes of up to `WAIT_CHUNK` consecutive waiting records.
struct WaitChunk {
    slots: [Mutex<Option<WaitOutcome>>; WAIT_CHUNK],
    /// Woken after slots are filled (once per chunk per pass).
    notify: Notify,
}

/// One record's place in a chunk: the queue's entry and the future each hold one.
pub(super) struct WaitSlot {
    chunk: Arc<WaitChunk>,
    index: usize,
}

impl WaitSlot {
    /// Waits for the record to be appended or failed.
    pub(super) async fn outcome(&self) -> WaitOutcome {
        loop {
            let notified = self.chunk.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = lock(&self.chunk.slots[self.index]).take() {
                return outcome;
            }
            notified.await;
        }
    }
}

/// A record waiting to be appended.
pub(super) struct Waiting {
    pub(super) record: ProducerRecord,
    slot: WaitSlot,
    pub(super) deadline: Instant,
    size: usize,
    /// Its callback / interceptor acknowledgement, if any.
    pub(super) hook: Option<PendingHook>,
    /// When it began to wait.
    since: Instant,
    /// It waited for buffer memory (`bufferpool-wait-time`), not only for metadata.
    pub(super) for_memory: bool,
}

#[derive(Default)]
struct Queue {
    records: VecDeque<Waiting>,
    /// The chunk new records get slots in, and how many of its slots are taken.
    chunk: Option<Arc<WaitChunk>>,
    taken: usize,
}

/// The waiting records of one producer.
#[derive(Default)]
pub(super) struct WaitingRecords {
    queue: Mutex<Queue>,
    /// `queue.records.len()`, changed under the lock and read without it (`send`'s check).
    len: AtomicUsize,
    /// The estimated sizes of the waiting records (bounded by `buffer.memory`).
    pub(super) bytes: AtomicUsize,
}

impl WaitingRecords {
    /// Whether no record waits. A `send` that sees a record of its own thread waiting is
    /// ordered behind it: the count rises before the lock that queued it is released.
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// The earliest deadline among waiting records.
    pub(super) fn deadline(&self) -> Option<Instant> {
        lock(&self.queue).records.front().map(|w| w.deadline)
    }

    /// Queues `record` (its `size` already counted in `bytes`); returns its future's slot.
    pub(super) fn push(
        &self,
        record: ProducerRecord,
        size: usize,
        max_block: std::time::Duration,
        hook: Option<PendingHook>,
        for_memory: bool,
    ) -> WaitSlot {
        let mut q = lock(&self.queue);
        let chunk = match &q.chunk {
            Some(c) if q.taken < WAIT_CHUNK => c.clone(),
            _ => {
                let c = Arc::new(WaitChunk {
                    slots: std::array::from_fn(|_| Mutex::new(None)),
                    notify: Notify::new(),
                });
                q.chunk = Some(c.clone());
                q.taken = 0;
                c
            }
        };
        let index = q.taken;
        q.taken += 1;
        let slot = WaitSlot { chunk: chunk.clone(), index };
        let since = Instant::now();
        let deadline = since + max_block;
        q.records.push_back(Waiting { record, slot, deadline, size, hook, since, for_memory });
        self.len.fetch_add(1, Ordering::AcqRel);
        WaitSlot { chunk, index }
    }
}

/// Fills slots and wakes each chunk's futures once, when the next slot is in another chunk or
/// when this is dropped.
#[derive(Default)]
struct ChunkWaker {
    pending: Option<Arc<WaitChunk>>,
}

impl ChunkWaker {
    fn resolve(&mut self, slot: WaitSlot, outcome: WaitOutcome) {
        *lock(&slot.chunk.slots[slot.index]) = Some(outcome);
        if let Some(previous) = self.pending.take().filter(|p| !Arc::ptr_eq(p, &slot.chunk)) {
            previous.notify.notify_waiters();
        }
        self.pending = Some(slot.chunk);
    }
}

impl Drop for ChunkWaker {
    fn drop(&mut self) {
        if let Some(chunk) = self.pending.take() {
            chunk.notify.notify_waiters();
        }
    }
}

/// A waiting record's callback to run with its failure once the queue's lock is released (a
/// callback may send).
type FailedHook = (PendingHook, String, Option<i32>, Error);

impl Shared {
    /// Appends waiting records in order until one still cannot go; fails expired ones.
    pub(crate) fn append_waiting(&self) {
        let mut failed: Vec<FailedHook> = Vec::new();
        let mut waker = ChunkWaker::default();
        let mut q = lock(&self.waiting.queue);
        while let Some(front) = q.records.front_mut() {
            let outcome = match self.try_append(&front.record, &mut front.hook) {
                Ok(a) => Ok(a),
                Err(Some(("fatal", e))) | Err(Some((_, e))) if self.closed.load(Ordering::Acquire) => Err(e),
                Err(Some(("fatal", e))) => Err(e),
                Err(Some((what, _))) if Instant::now() >= front.deadline => Err(Error::MaxBlock {
                    topic: front.record.topic.clone(),
                    what,
                    timeout: self.cfg.max_block,
                }),
                Err(Some((what, _))) => {
                    front.for_memory |= what == "buffer memory";
                    break;
                }
                Err(None) => break,
            };
            let front = q.records.pop_front().expect("front exists");
            self.waiting.len.fetch_sub(1, Ordering::AcqRel);
            self.waiting.bytes.fetch_sub(front.size, Ordering::AcqRel);
            if front.for_memory {
                let waited = u64::try_from(front.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.metrics.pool_wait_ns.fetch_add(waited, Ordering::Relaxed);
            }
            let Waiting { record, slot, hook, .. } = front;
            let outcome = match outcome {
                Ok(a) => Ok((a, record.topic)),
                Err(e) => {
                    self.record_errors.fetch_add(1, Ordering::Relaxed);
                    if let Some(h) = hook {
                        failed.push((h, record.topic, record.partition, e.clone()));
                    }
                    Err(e)
                }
            };
            waker.resolve(slot, outcome);
        }
        drop(q);
        drop(waker);
        self.run_failed_hooks(failed);
    }

    /// Fails every record still waiting to be appended (an aborted transaction); `err` gets
    /// the record's topic.
    pub(crate) fn fail_waiting(&self, err: impl Fn(String) -> Error) {
        let mut failed: Vec<FailedHook> = Vec::new();
        let mut waker = ChunkWaker::default();
        let mut q = lock(&self.waiting.queue);
        while let Some(front) = q.records.pop_front() {
            self.waiting.len.fetch_sub(1, Ordering::AcqRel);
            self.waiting.bytes.fetch_sub(front.size, Ordering::AcqRel);
            self.record_errors.fetch_add(1, Ordering::Relaxed);
            let Waiting { record, slot, hook, .. } = front;
            let e = err(record.topic.clone());
            if let Some(h) = hook {
                failed.push((h, record.topic, record.partition, e.clone()));
            }
            waker.resolve(slot, Err(e));
        }
        drop(q);
        drop(waker);
        self.run_failed_hooks(failed);
    }

    fn run_failed_hooks(&self, failed: Vec<FailedHook>) {
        for (h, topic, partition, e) in failed {
            h.fail(&self.cfg.interceptors, &topic, partition.unwrap_or(-1), &e);
        }
    }
}

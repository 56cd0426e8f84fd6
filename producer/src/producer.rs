//! `Producer`: the cheap, cloneable handle; `send` partitions and appends on the caller's
//! task, the sender task does the I/O.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_client::{ClientMetrics, Metadata, NetworkClient};
use tokio::time::Instant;

use crate::accumulator::{AccumulatorConfig, AppendError, Appended, ProducerBatch, RecordAccumulator};
use crate::callback::{Callback, PendingHook};
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, ProducerMetrics, Totals};
use crate::partitioner::{FastRng, Partitioner, PartitionerContext, StickyPartitioner, partition_for_key};
use crate::record::{ProducerRecord, RecordMetadata};

mod waiting;
use waiting::{WaitSlot, WaitingRecords};

/// State shared by the handles and the sender task.
pub(crate) struct Shared {
    pub(crate) cfg: ProducerConfig,
    pub(crate) acc: RecordAccumulator,
    pub(crate) metadata: Metadata,
    /// Records waiting for metadata or buffer memory (`waiting.rs`).
    waiting: WaitingRecords,
    sticky: StickyPartitioner,
    rng: FastRng,
    partitioner: Option<Arc<dyn Partitioner>>,
    closed: AtomicBool,
    records_sent: AtomicU64,
    record_errors: AtomicU64,
    batches_sent: AtomicU64,
    pub(crate) retries: AtomicU64,
    /// Windowed statistics and gauges (see `metrics.rs`).
    pub(crate) metrics: Metrics,
    /// Set by the first `shutdown` (interceptors close once).
    shut_down: AtomicBool,
    /// The transaction manager (`transactional.id` set); see `txn/mod.rs` for its locking.
    pub(crate) txn: Option<Mutex<crate::txn::TransactionManager>>,
    /// Mirrors "the transaction state is InTransaction" for `send`'s lock-free check.
    pub(crate) txn_open: AtomicBool,
    /// Transactional `send` calls between their `txn_open` check and the end of their append.
    /// With `txn_open` it forms a Dekker pair (both SeqCst): `send` counts itself in, then
    /// checks `txn_open`; commit/abort clear `txn_open`, then wait for this to reach 0. So a
    /// record either is refused or is in the accumulator before the commit's flush starts.
    pub(crate) txn_appending: AtomicUsize,
    /// Transaction and group coordinators.
    pub(crate) coordinators: kafka_client::CoordinatorLookup,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a transactional `send` in `Shared::txn_appending` while it lives.
struct AppendGuard<'a>(&'a AtomicUsize);

impl<'a> AppendGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        AppendGuard(counter)
    }
}

impl Drop for AppendGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    /// Chooses the partition and appends, or says why it must wait.
    fn try_append(
        &self,
        rec: &ProducerRecord,
        hook: &mut Option<PendingHook>,
    ) -> std::result::Result<Appended, Option<(&'static str, Error)>> {
        let snapshot = self.metadata.snapshot();
        let Some(topic) = snapshot.topic(&rec.topic).filter(|t| t.error.is_ok() && !t.partitions.is_empty())
        else {
            // Java's AuthenticationException: a refresh that failed to authenticate fails the
            // record now instead of after max.block.ms
            if let Some(e) = self.metadata.authentication_failure() {
                return Err(Some(("fatal", Error::Client(e))));
            }
            // new topic: added; known but not ready (being auto-created, no leader yet): ask
            // again (the refresher rate-limits with retry.backoff.ms)
            self.metadata.add_topics([rec.topic.as_str()]);
            self.metadata.request_update();
            return Err(Some((
                "metadata",
                Error::Topic { topic: rec.topic.clone(), reason: "no metadata yet".into() },
            )));
        };
        let count = topic.partitions.len() as i32;
        let partition = match rec.partition {
            Some(p) if p < 0 || p >= count => {
                return Err(Some((
                    "fatal",
                    Error::Topic {
                        topic: rec.topic.clone(),
                        reason: format!("partition {p} is out of range (the topic has {count} partitions)"),
                    },
                )));
            }
            Some(p) => p,
            None => {
                // the partitions with a leader: built only for a custom partitioner or when
                // the sticky partitioner switches, not per record
                let available = || -> Vec<i32> {
                    topic.partitions.values().filter(|p| p.leader.is_some()).map(|p| p.partition).collect()
                };
                let custom = self.partitioner.as_ref().and_then(|p| {
                    let available = available();
                    let ctx = PartitionerContext { partition_count: count, available: &available };
                    p.partition(&rec.topic, rec.key.as_deref(), rec.value.as_deref(), ctx)
                        .filter(|p| (0..count).contains(p))
                });
                match (custom, &rec.key) {
                    (Some(p), _) => p,
                    (None, Some(k)) if !self.cfg.partitioner_ignore_keys && self.partitioner.is_none() => {
                        partition_for_key(k, count)
                    }
                    _ => self
                        .sticky
                        .next(&rec.topic, rec.estimated_size(), count, available, |n| self.rng.below(n)),
                }
            }
        };
        let timestamp = rec.timestamp.unwrap_or_else(now_ms);
        match self.acc.append_hooked(rec, partition, timestamp, hook) {
            Ok(a) => Ok(a),
            Err(AppendError::NoMemory) => Err(Some((
                "buffer memory",
                Error::BufferExhausted { topic: rec.topic.clone(), limit: self.acc.pool.limit() },
            ))),
            Err(AppendError::Fatal(e)) => Err(Some(("fatal", e))),
        }
    }

    pub(crate) fn waiting_is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The earliest deadline among waiting records (the sender wakes for it).
    pub(crate) fn waiting_deadline(&self) -> Option<Instant> {
        self.waiting.deadline()
    }

    /// Records that failed alone (KIP-467 record errors) while their batch went on.
    pub(crate) fn record_errors(&self, n: u64) {
        self.record_errors.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an acknowledged batch (failed batches are counted by `ProducerBatch::finish`,
    /// which every failure path goes through).
    pub(crate) fn record_outcome(&self, b: &ProducerBatch, ok: bool) {
        if ok {
            self.records_sent.fetch_add(b.records as u64, Ordering::Relaxed);
            self.batches_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The totals windowed rates are fed from.
    pub(crate) fn totals(&self) -> Totals {
        Totals {
            sent: self.records_sent.load(Ordering::Relaxed),
            errors: self.record_errors.load(Ordering::Relaxed) + self.acc.pool.failed_records(),
            retried: self.metrics.retried_records.load(Ordering::Relaxed),
            bytes_out: self.metadata.client().metrics().total().bytes_sent,
        }
    }

    /// Stops accepting records and makes every batch ready; the sender task exits once
    /// nothing is left (records in flight keep their retries until delivery.timeout.ms).
    fn begin_close(&self) {
        self.closed.store(true, Ordering::Release);
        self.acc.closing.store(true, Ordering::Release);
        self.acc.wake.notify_one();
    }

    /// Closes the connections and the interceptors (once; from `close` or the exiting sender).
    pub(crate) fn shutdown(&self) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        self.metadata.client().close();
        self.cfg.interceptors.close();
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The Kafka producer. `Send + Sync + Clone`; clones share one accumulator, sender and
/// connections.
///
/// Dropping the last clone without [`Producer::close`] closes it in the background: no
/// new records, everything buffered is sent (each record within `delivery.timeout.ms`), then
/// the sender task ends, the connections close and the interceptors' `close` runs.
#[derive(Clone)]
pub struct Producer {
    pub(crate) shared: Arc<Shared>,
    handle: Arc<Handle>,
}

/// Shared by the clones of one producer; its drop (the last clone's) begins the close.
struct Handle {
    shared: Arc<Shared>,
    sender: tokio::task::JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.shared.closed.load(Ordering::Acquire) {
            tracing::debug!("last producer handle dropped; closing in the background");
        }
        self.shared.begin_close();
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("client_id", &self.shared.cfg.client.client_id).finish()
    }
}

impl Producer {
    /// Starts a producer (inside a tokio runtime).
    pub fn new(config: ProducerConfig) -> Producer {
        Self::with_partitioner(config, None)
    }

    /// Starts a producer with a custom [`Partitioner`].
    pub fn with_partitioner(config: ProducerConfig, partitioner: Option<Arc<dyn Partitioner>>) -> Producer {
        let pool = NetworkClient::new(config.client.clone());
        let metadata = Metadata::new(pool, true);
        let mut acc = RecordAccumulator::new(
            AccumulatorConfig {
                batch_size: config.batch_size,
                compression: config.compression,
                level: config.compression_level,
                linger: config.linger,
                delivery_timeout: config.delivery_timeout,
            },
            config.buffer_memory,
        );
        acc.transactional = config.transactional_id.is_some();
        acc.interceptors = config.interceptors.clone();
        let txn =
            config.transactional_id.clone().map(|id| Mutex::new(crate::txn::TransactionManager::new(id)));
        let coordinators = kafka_client::CoordinatorLookup::new(metadata.client().clone());
        let shared = Arc::new(Shared {
            acc,
            metadata,
            waiting: WaitingRecords::default(),
            sticky: StickyPartitioner::new(config.batch_size, config.partitioner_adaptive),
            rng: FastRng::new(),
            partitioner,
            closed: AtomicBool::new(false),
            records_sent: AtomicU64::new(0),
            record_errors: AtomicU64::new(0),
            batches_sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            metrics: Metrics::new(Instant::now()),
            shut_down: AtomicBool::new(false),
            txn,
            txn_open: AtomicBool::new(false),
            txn_appending: AtomicUsize::new(0),
            coordinators,
            cfg: config,
        });
        let sender = tokio::spawn(crate::sender::run(shared.clone()));
        Producer { handle: Arc::new(Handle { shared: shared.clone(), sender }), shared }
    }

    /// From `(key, value)` configuration pairs with the Java names.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Producer> {
        Ok(Self::new(ProducerConfig::from_pairs(pairs)?))
    }

    /// Enqueues `record` and returns the future of its [`RecordMetadata`]. The record is sent
    /// whether or not the future is awaited; awaiting it is a synchronous send. Never blocks:
    /// a record whose topic metadata or buffer space is not there yet waits (in send order)
    /// for up to `max.block.ms`; if such waiting records already hold `buffer.memory` bytes,
    /// the future fails at once with [`Error::BufferExhausted`]. A SASL / TLS authentication
    /// failure fails records waiting for metadata at once, with [`Error::Client`].
    pub fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        self.send_hooked(record, None)
    }

    /// [`Producer::send`] with a callback (Java's `send(record, callback)`), called exactly
    /// once with the record's outcome, including failures before the record was queued
    /// (then on the caller's task, before this returns). Otherwise it runs on the producer's
    /// sender task when the record's batch completes, so it must be quick and must not block;
    /// callbacks of records to one partition run in send order. A panic in it is logged.
    /// No task or channel is created per record.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> DeliveryFuture {
        self.send_hooked(record, Some(Box::new(callback)))
    }

    fn send_hooked(&self, mut record: ProducerRecord, callback: Option<Callback>) -> DeliveryFuture {
        let interceptors = &self.shared.cfg.interceptors;
        if !interceptors.is_empty() {
            interceptors.on_send(&mut record);
        }
        let key_size = record.key.as_ref().map_or(-1, |k| k.len() as i32);
        let value_size = record.value.as_ref().map_or(-1, |v| v.len() as i32);
        let mut hook = (callback.is_some() || !interceptors.is_empty()).then(|| PendingHook {
            callback,
            key_size,
            value_size,
        });
        let requested = record.partition.unwrap_or(-1);
        match self.enqueue(record, &mut hook) {
            Ok((state, topic)) => {
                let partition = match &state {
                    State::Appended(a) => partition_of(a, Some(requested)),
                    _ => requested,
                };
                DeliveryFuture { state, meta: Meta { topic, partition, key_size, value_size } }
            }
            Err((e, topic)) => {
                // Java counts refused sends in record-error-rate too (the same "errors" sensor)
                self.shared.record_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(h) = hook {
                    h.fail(interceptors, &topic, requested, &e);
                }
                DeliveryFuture::failed(e)
            }
        }
    }

    /// Appends `record` or queues it to wait; `hook` moves with it unless this fails. The
    /// record's topic comes back either way (moved out of an appended record, not copied).
    fn enqueue(
        &self,
        record: ProducerRecord,
        hook: &mut Option<PendingHook>,
    ) -> std::result::Result<(State, String), (Error, String)> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err((Error::Closed, record.topic));
        }
        // held until the record is appended or waiting (see `Shared::txn_appending`)
        let _appending = self.shared.txn.is_some().then(|| AppendGuard::new(&self.shared.txn_appending));
        if self.shared.txn.is_some() && !self.shared.txn_open.load(Ordering::SeqCst) {
            // not in a transaction (or it failed): say which state, and why
            let err = self
                .shared
                .with_txn(|t| t.require("send", &[crate::txn::TxnState::InTransaction]).err())
                .flatten();
            if let Some(e) = err {
                return Err((e, record.topic));
            }
        }
        let size = record.estimated_size();
        for (limit_key, limit) in [
            ("max.request.size", self.shared.cfg.max_request_size),
            ("buffer.memory", self.shared.cfg.buffer_memory),
        ] {
            if size > limit {
                let e = Error::RecordTooLarge { topic: record.topic.clone(), size, limit_key, limit };
                return Err((e, record.topic));
            }
        }
        // records already waiting go first, to keep send order
        let mut for_memory = false;
        if self.shared.waiting_is_empty() {
            match self.shared.try_append(&record, hook) {
                Ok(a) => return Ok((State::Appended(a), record.topic)),
                Err(Some(("fatal", e))) => return Err((e, record.topic)),
                Err(why) => for_memory = matches!(why, Some(("buffer memory", _))),
            }
        }
        let waiting = &self.shared.waiting;
        if waiting.bytes.fetch_add(size, Ordering::AcqRel) + size > self.shared.cfg.buffer_memory {
            waiting.bytes.fetch_sub(size, Ordering::AcqRel);
            let e =
                Error::BufferExhausted { topic: record.topic.clone(), limit: self.shared.cfg.buffer_memory };
            return Err((e, record.topic));
        }
        let slot = waiting.push(record, size, self.shared.cfg.max_block, hook.take(), for_memory);
        self.shared.acc.wake.notify_one();
        // the topic comes back with the outcome (see `DeliveryFuture::into_future`)
        Ok((State::Waiting(slot), String::new()))
    }

    /// Sends every record; the futures come back in the same order.
    pub fn send_all(&self, records: impl IntoIterator<Item = ProducerRecord>) -> Vec<DeliveryFuture> {
        records.into_iter().map(|r| self.send(r)).collect()
    }

    /// Makes every batch ready now and waits until all records sent before the call are
    /// acknowledged or failed.
    pub async fn flush(&self) {
        self.shared.acc.flushing.fetch_add(1, Ordering::AcqRel);
        self.shared.acc.wake.notify_one();
        loop {
            // waiting records first: once appended, their batches are in `incomplete`
            while !self.shared.waiting_is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let pending = self.shared.acc.incomplete();
            if pending.is_empty() {
                break;
            }
            for c in pending {
                let _ = c.wait().await;
            }
        }
        self.shared.acc.flushing.fetch_sub(1, Ordering::AcqRel);
    }

    /// Stops accepting records, sends what is buffered, and waits up to `timeout`; records
    /// still unsent then fail with [`Error::Closed`].
    /// Interceptors' `close` runs before this returns. A transactional producer closed with a
    /// transaction open (or abortable) aborts it first, within `timeout`, as Java's does, so
    /// read_committed consumers are not held at its first offset until
    /// `transaction.timeout.ms`.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let open = self
            .shared
            .with_txn(|t| {
                matches!(
                    t.state(),
                    crate::txn::TxnState::InTransaction | crate::txn::TxnState::AbortableError
                )
            })
            .unwrap_or(false);
        if open {
            tracing::info!("aborting the incomplete transaction on close");
            if let Err(e) = self.abort_transaction(timeout).await {
                tracing::warn!(error = %e, "aborting the transaction on close failed; the coordinator will abort it at transaction.timeout.ms");
            }
        }
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.shared.begin_close();
        let done = tokio::time::timeout(timeout, self.flush()).await;
        if done.is_err() {
            self.shared.acc.abort_all(&Error::Closed);
            self.handle.sender.abort();
            self.shared.shutdown();
            return Err(Error::Timeout("close", timeout));
        }
        self.shared.shutdown();
        Ok(())
    }

    /// The partitions of `topic` (waits up to `max.block.ms` for metadata).
    pub async fn partitions_for(
        &self,
        topic: &str,
    ) -> Result<Vec<kafka_client::metadata::PartitionMetadata>> {
        let t = self.shared.metadata.wait_for_topic(topic, self.shared.cfg.max_block).await?;
        Ok(t.partitions.into_values().collect())
    }

    /// The producer's metrics (Java's `KafkaProducer.metrics()`, typed; see
    /// [`ProducerMetrics`]).
    pub fn metrics(&self) -> ProducerMetrics {
        let s = &self.shared;
        let totals = s.totals();
        let used = s.acc.pool.used();
        let mut m = ProducerMetrics {
            records_sent: totals.sent,
            record_errors: totals.errors,
            batches_sent: s.batches_sent.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            buffer_used: used,
            records_waiting: s.waiting.len(),
            buffer_available_bytes: s.acc.pool.limit().saturating_sub(used),
            buffer_total_bytes: s.acc.pool.limit(),
            ..ProducerMetrics::default()
        };
        s.metrics.fill(Instant::now(), totals, &mut m);
        m
    }

    /// Per-broker network counters.
    pub fn network_metrics(&self) -> &ClientMetrics {
        self.shared.metadata.client().metrics()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.cfg
    }
}

fn partition_of(a: &Appended, hint: Option<i32>) -> i32 {
    a.partition.or(hint).unwrap_or(-1)
}

#[derive(Debug, Clone)]
struct Meta {
    topic: String,
    partition: i32,
    key_size: i32,
    value_size: i32,
}

enum State {
    Appended(Appended),
    Waiting(WaitSlot),
    Failed(Error),
}

/// The future of one record's [`RecordMetadata`]. Dropping it does not cancel the send.
pub struct DeliveryFuture {
    state: State,
    meta: Meta,
}

impl DeliveryFuture {
    fn failed(e: Error) -> Self {
        DeliveryFuture {
            state: State::Failed(e),
            meta: Meta { topic: String::new(), partition: -1, key_size: -1, value_size: -1 },
        }
    }
}

impl IntoFuture for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<RecordMetadata>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let mut meta = self.meta;
            let appended = match self.state {
                State::Failed(e) => return Err(e),
                State::Appended(a) => a,
                State::Waiting(slot) => {
                    let (appended, topic) = slot.outcome().await?;
                    meta.topic = topic;
                    appended
                }
            };
            let (ack, relative) = appended.completion.wait_record(appended.relative).await?;
            let partition = appended.partition.unwrap_or(meta.partition);
            Ok(RecordMetadata {
                topic: meta.topic,
                partition,
                offset: if ack.base_offset < 0 { -1 } else { ack.base_offset + relative as i64 },
                timestamp: if ack.log_append_time >= 0 { ack.log_append_time } else { appended.timestamp },
                serialized_key_size: meta.key_size,
                serialized_value_size: meta.value_size,
            })
        })
    }
}

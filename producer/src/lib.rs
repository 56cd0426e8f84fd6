//! # kafka-producer
//!
//! The Kafka producer, after the Java `KafkaProducer` (Kafka 4.x): records are partitioned
//! and appended to per-partition batches on the caller's task (no task spawn, channel hop or
//! shared lock per record), and one sender task per producer sends ready batches to the
//! partition leaders with up to `max.in.flight.requests.per.connection` requests in flight,
//! retries within `delivery.timeout.ms`, and idempotence (producer id + sequence numbers).
//!
//! ```no_run
//! # async fn run() -> Result<(), kafka_producer::Error> {
//! use kafka_producer::{Producer, ProducerRecord};
//! let producer = Producer::from_pairs([("bootstrap.servers", "127.0.0.1:9092"), ("linger.ms", "5")])?;
//! let meta = producer.send(ProducerRecord::new("orders").key("k").value("v")).await?;
//! println!("written at {}-{}@{}", meta.topic, meta.partition, meta.offset);
//! producer.send(ProducerRecord::new("orders").value("fire and forget")); // not awaited: still sent
//! producer.send_with_callback(ProducerRecord::new("orders").value("v"), |r| match r {
//!     Ok(m) => println!("at offset {}", m.offset), // on the sender task: keep it short
//!     Err(e) => eprintln!("failed: {e}"),
//! });
//! producer.close(std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `config.rs`: [`ProducerConfig`] (every key with its Java name and default, in its docs).
//! - `record.rs`: [`ProducerRecord`], [`RecordMetadata`], [`Serializer`] and built-ins.
//! - `partitioner.rs`: [`Partitioner`], Java's murmur2 key mapping, the sticky partitioner.
//! - `accumulator.rs`: `RecordAccumulator`, `BufferPool`, `ProducerBatch` (split, partial
//!   rebuild, restamping), the per-batch `Completion` that every record future of a batch
//!   shares (which can redirect records to the batches that replaced it).
//! - `sender/mod.rs`: the sender task (drain, in-flight limits, InitProducerId, epoch bumps,
//!   renumbering); `sender/idempotence.rs` the sans-IO sequence state (per-partition
//!   pipelining up to `max.in.flight.requests.per.connection`, probing after errors, the
//!   window of unsettled batches, sequence-error verdicts); `sender/response.rs` what a
//!   produce answer does to each batch (retry in sequence order, split on MESSAGE_TOO_LARGE,
//!   KIP-467 record errors, failure).
//! - `interceptor.rs`: [`ProducerInterceptor`] and the ordered chain (errors and panics are
//!   logged, never returned).
//! - `callback.rs`: per-record outcome hooks ([`Producer::send_with_callback`]'s callback and
//!   the interceptors' `on_acknowledgement`), carried by a batch only for records that have
//!   them and run in append order when it completes.
//! - `metrics.rs`: [`ProducerMetrics`] (Java's producer metrics, windowed 2 × 30 s) and the
//!   live counters behind [`Producer::metrics`].
//! - `producer.rs`: [`Producer`], [`DeliveryFuture`], records waiting for metadata/memory,
//!   close on the last handle's drop.
//! - `txn/state.rs`: the sans-IO `TransactionManager` ([`TxnState`], one checked transition
//!   function, partitions added to the transaction, producer id/epoch, unresolved EndTxn).
//! - `txn/mod.rs`: its driver and the transactional API on [`Producer`] (`init_transactions`,
//!   `begin_transaction`, `send_offsets_to_transaction`, `commit_transaction`,
//!   `abort_transaction`): coordinator lookup/failover, InitProducerId (KIP-360 bump),
//!   AddOffsetsToTxn + TxnOffsetCommit (KIP-447), EndTxn, retries; transactions v2
//!   (KIP-890: implicit partition/group adds, a new epoch from every EndTxn) whenever the
//!   coordinator finalizes `transaction.version` >= 2, v1 otherwise.
//! - `error.rs`: [`Error`] with `is_retriable()`, `is_fatal()`, `is_abortable()`.
//!
//! # Not yet
//!
//! `partitioner.availability.timeout.ms`
//! (accepted; the adaptive sticky partitioner only skips partitions without a leader).
//! Record errors (KIP-467) inside a transaction fail the whole batch (the transaction must
//! abort anyway); outside one only the rejected records fail.
//! `interceptor.classes` (interceptors are added as values with
//! [`ProducerConfigBuilder::interceptor`]); `metrics.sample.window.ms` / `metrics.num.samples`
//! (fixed at Java's defaults) and metric reporters.
//!
//! With idempotence, a partition has up to `max.in.flight.requests.per.connection` batches
//! in flight once one of its batches succeeded (one while it probes: at the start, and after
//! any error until a batch succeeds again); retried batches keep their sequence and go first,
//! one at a time, in sequence order.

mod accumulator;
mod callback;
pub mod config;
mod error;
mod interceptor;
mod metrics;
pub mod partitioner;
mod producer;
mod record;
mod sender;
mod txn;

pub use config::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use error::{Error, Result};
pub use interceptor::{InterceptorError, ProducerInterceptor};
pub use kafka_client::ConsumerGroupMetadata;
pub use metrics::ProducerMetrics;
pub use partitioner::{Partitioner, PartitionerContext};
pub use producer::{DeliveryFuture, Producer};
pub use record::{
    BytesSerializer, IntSerializer, ProducerRecord, RecordMetadata, Serializer, StringSerializer,
};
pub use txn::{OffsetAndMetadata, TxnState};

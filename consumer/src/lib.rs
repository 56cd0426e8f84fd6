//! # kafka-consumer
//!
//! The Kafka consumer, after the Java `KafkaConsumer` (Kafka 4.x), async and tokio-native.
//! This first version consumes **assigned** partitions: `assign`, `seek`,
//! `seek_to_beginning` / `seek_to_end`, `poll`, a `Stream` of records, `position`,
//! `pause` / `resume`, `beginning_offsets` / `end_offsets` / `offsets_for_times`, and a
//! group's committed offsets (`commit_sync` / `committed` / auto-commit with `group.id`, as
//! a standalone member, generation -1). `read_committed` stops at the last stable offset and
//! drops aborted transactions' records. Records are zero-copy slices of the fetched batches.
//!
//! ```no_run
//! # async fn run() -> Result<(), kafka_consumer::Error> {
//! use kafka_consumer::{Consumer, TopicPartition};
//! let mut consumer = Consumer::from_pairs([("bootstrap.servers", "127.0.0.1:9092"), ("auto.offset.reset", "earliest")])?;
//! consumer.assign([TopicPartition::new("orders", 0)]);
//! for r in consumer.poll(std::time::Duration::from_secs(1)).await? {
//!     println!("{}-{}@{}: {:?}", r.topic, r.partition, r.offset, r.value);
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `config.rs`: [`ConsumerConfig`] (every key with its Java name and default, in its docs).
//! - `record.rs`: [`ConsumerRecord`], [`TopicPartition`], [`Deserializer`] and built-ins.
//! - `fetcher.rs`: sans-IO parsing of a partition's fetched data (position, control
//!   batches, aborted transactions).
//! - `consumer.rs`: [`Consumer`]: assignment, positions, fetch rounds, ListOffsets,
//!   OffsetCommit / OffsetFetch via the group coordinator.
//! - `error.rs`: [`Error`] with `is_retriable()`.
//!
//! # Not yet
//!
//! Consumer groups (`subscribe`, join/sync, heartbeats, assignors, rebalance listeners,
//! cooperative rebalancing) — `subscribe` returns [`Error::Unsupported`]; prefetching while
//! the application processes (each `poll` fetches when its buffer is empty); fetch sessions
//! (KIP-227); interceptors; `commit_async`.

mod config;
mod consumer;
mod error;
mod fetcher;
pub mod group;
mod membership;
mod record;

pub use config::{ConsumerConfig, OffsetReset};
pub use consumer::Consumer;
pub use error::{Error, Result};
pub use group::assignor::{Assignor, RebalanceProtocol};
pub use group::listener::ConsumerRebalanceListener;
pub use kafka_client::ConsumerGroupMetadata;
pub use record::{ConsumerRecord, Deserializer, IntDeserializer, StringDeserializer, TopicPartition};

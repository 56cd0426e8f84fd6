//! # kafka-consumer
//!
//! The Kafka consumer, after the Java `KafkaConsumer` (Kafka 4.x), async and tokio-native.
//! Assigned partitions (`assign`, `seek`, `seek_to_beginning` / `seek_to_end`, `pause` /
//! `resume`, offset lookups) or group membership (`subscribe`, `subscribe_pattern`, the
//! classic protocol with eager or cooperative assignors, static members, rebalance
//! listeners); `poll` or a `Stream` of records, prefetched while the application works,
//! over incremental fetch sessions; `commit_sync` / `commit_async` / auto-commit;
//! interceptors; metrics. `read_committed` stops at the last stable offset and drops aborted
//! transactions' records. Records are zero-copy slices of the fetched batches. Positions are
//! validated with OffsetForLeaderEpoch after a leader change (KIP-320 truncation detection:
//! reset to the divergence point, or [`Error::LogTruncation`] with `auto.offset.reset=none`);
//! with `client.rack`, fetches go to the replica a leader prefers (KIP-392); the range and
//! sticky assignors are rack-aware (KIP-881).
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
//! - `buffer.rs`: the `FetchBuffer` of fetched-not-returned records, one chunk per partition response.
//! - `fetch_session.rs`: sans-IO incremental fetch sessions (KIP-227), one handler per broker
//!   (per node fetched from: a leader or a preferred read replica, KIP-392).
//! - `consumer.rs`: [`Consumer`]: assignment, positions, the prefetching fetch path
//!   (`send_fetches` / `complete_fetches` / `apply_fetches`), ListOffsets, commits,
//!   [`Consumer::metrics`].
//! - `topics.rs`: `partitions_for`, `list_topics`, `paused`, `current_lag` (no fetching).
//! - `validate.rs`: KIP-320 truncation detection: positions validated with
//!   OffsetForLeaderEpoch after a leader epoch change, diverging epochs from Fetch.
//! - `commit.rs`: the ordered commit task behind `commit_sync` / [`Consumer::commit_async`]
//!   ([`CommitHandle`]), OffsetCommit with leader epochs (KIP-320), coordinator routing.
//! - `interceptor.rs`: [`ConsumerInterceptor`] and the chain that contains their errors.
//! - `metrics.rs`: [`ConsumerMetrics`] and the windowed statistics behind it.
//! - `membership.rs`: subscriptions, joins, the rebalance listener's calls, leaving.
//! - `group/`: the classic group protocol (state machine, join/sync, heartbeat task,
//!   assignors, listener trait).
//! - `error.rs`: [`Error`] with `is_retriable()`.
//!
//! # Not yet
//!
//! The KIP-848 `consumer` group protocol. OffsetForLeaderEpoch validation runs inside `poll`
//! (bounded by `request.timeout.ms`, like the offset lookups), not as a background request as
//! in Java. Truncation itself is tested on the embedded test broker only (a real cluster
//! cannot be made to truncate cheaply); validation across leader changes and KIP-392 are
//! tested on both (integration-tests `consumer_epochs.rs`, `consumer_rack.rs`).

mod buffer;
mod commit;
mod config;
mod consumer;
mod error;
mod fetch_session;
mod fetcher;
pub mod group;
mod interceptor;
mod membership;
mod metrics;
mod record;
mod topics;
mod validate;

pub use commit::CommitHandle;
pub use config::{ConsumerConfig, OffsetReset};
pub use consumer::Consumer;
pub use error::{Error, Result};
pub use group::assignor::{Assignor, RebalanceProtocol};
pub use group::listener::ConsumerRebalanceListener;
pub use interceptor::{ConsumerInterceptor, InterceptorError};
pub use kafka_client::{ConsumerGroupMetadata, OffsetAndMetadata};
pub use metrics::ConsumerMetrics;
pub use record::{ConsumerRecord, Deserializer, IntDeserializer, StringDeserializer, TopicPartition};

//! # kafka-producer
//!
//! The Kafka producer: `RecordAccumulator` with a bounded `BufferPool`, a `Sender` task with up
//! to five requests in flight per partition, Java-compatible partitioning, idempotence and
//! transactions.
//!
//! # Layout
//!
//! Not built yet: this crate is an empty placeholder until the producer issue lands.

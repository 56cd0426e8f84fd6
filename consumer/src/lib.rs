//! # kafka-consumer
//!
//! The Kafka consumer: consumer groups (classic protocol, every assignor, cooperative
//! rebalancing), offset commits, rebalance listeners, a prefetching `Fetcher` and
//! `read_committed` isolation.
//!
//! # Layout
//!
//! Not built yet: this crate is an empty placeholder until the consumer issue lands.

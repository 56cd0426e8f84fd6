//! # kafka-client
//!
//! The shared client runtime of the SDK: configuration with the Java client's property names,
//! pipelined broker connections, API version negotiation, the metadata cache and coordinator
//! lookup. The producer, consumer and admin crates reach brokers only through this crate.
//!
//! # Layout
//!
//! Not built yet: this crate is an empty placeholder until the client-runtime issue lands.
//! Wire encoding lives in [`kafka_protocol`].

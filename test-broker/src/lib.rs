//! # kafka-test-broker
//!
//! An embedded, multi-broker, Kafka-compatible cluster that runs inside one process, with fault
//! injection, for the SDK's full-system tests and the README quickstart.
//!
//! # Layout
//!
//! Not built yet: this crate is an empty placeholder until the test-broker issue lands.

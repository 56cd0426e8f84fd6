//! # kafka-admin
//!
//! The Kafka admin client: the Java `Admin` API surface (topics, configs, groups, records,
//! ACLs, quotas, SCRAM credentials, features), each request routed to the right broker with
//! per-item results.
//!
//! # Layout
//!
//! Not built yet: this crate is an empty placeholder until the admin issue lands.

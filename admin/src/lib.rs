//! # kafka-admin
//!
//! The admin client, after Java's `Admin` (Kafka 4.x): every operation returns one result per
//! item (topic, partition, config resource), so one item's failure does not fail the others,
//! and every error names its item. Topic administration and cluster description go to any
//! broker (Kafka 4.x forwards to the controller); record and offset operations go to each
//! partition's leader. Retriable failures are retried with backoff within
//! `default.api.timeout.ms`.
//!
//! Built so far: `create_topics` (counts or explicit assignment, configs, validate-only),
//! `delete_topics`, `list_topics`, `describe_topics`, `describe_cluster`,
//! `create_partitions`, `describe_configs`, `incremental_alter_configs`, `list_offsets`
//! (earliest, latest, max timestamp, by time), `delete_records`.
//!
//! Not yet: consumer-group operations, reassignments, leader election, log dirs, producers and
//! transactions, ACLs, quotas, SCRAM credentials, features, `alter_configs` (legacy),
//! deletion by topic id.
//!
//! # Layout
//!
//! - `admin.rs`: [`AdminClient`] and its operations, routing and retries.
//! - `types.rs`: inputs and results ([`NewTopic`], [`TopicDescription`], [`ConfigResource`], …).
//! - `error.rs`: [`Error`] (per item or per call) with `is_retriable()`.

mod admin;
mod error;
mod types;

pub use admin::AdminClient;
pub use error::{Error, Result};
pub use types::*;

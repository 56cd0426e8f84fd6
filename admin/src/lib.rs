//! # kafka-admin
//!
//! The admin client, after Java's `Admin` (Kafka 4.x): every operation returns one result per
//! item (topic, partition, config resource, group, …), so one item's failure does not fail the
//! others, and every error names its item. Topic administration and cluster description go to
//! any broker (Kafka 4.x forwards to the controller); record and offset operations go to each
//! partition's leader; group and transaction operations go to the coordinator found with
//! FindCoordinator (re-found when it moves). Retriable failures are retried with backoff within
//! `default.api.timeout.ms`.
//!
//! # Layout
//!
//! - `admin.rs`: [`AdminClient`], routing (any broker, one node, every broker, coordinator,
//!   partition leaders) and the retry loop.
//! - `topics.rs`: create, delete (by name or id), list, describe topics; create partitions.
//! - `configs.rs`: describe configs, incremental and legacy alter configs.
//! - `records.rs`: list offsets, delete records.
//! - `cluster.rs`: describe cluster, log dirs (each broker) and features.
//! - `reassignments.rs`: elect leaders, alter and list partition reassignments.
//! - `groups.rs`: list, describe, delete consumer groups; remove members.
//! - `group_offsets.rs`: list, alter, delete a consumer group's committed offsets.
//! - `acls.rs`: describe, create, delete ACLs.
//! - `quotas.rs`: describe and alter client quotas.
//! - `scram.rs`: describe and alter SCRAM credentials (salted client-side with PBKDF2).
//! - `transactions.rs`: describe producers, list / describe / abort transactions.
//! - `types.rs`: inputs and results ([`NewTopic`], [`TopicDescription`], [`ConfigResource`], …).
//! - `error.rs`: [`Error`] (per item or per call) with `is_retriable()`.

mod acls;
mod admin;
mod cluster;
mod configs;
mod error;
mod group_offsets;
mod groups;
mod leaders;
mod quotas;
mod reassignments;
mod records;
mod scram;
mod topics;
mod transactions;
mod types;

pub use acls::{AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AclResourceType, PatternType};
pub use admin::AdminClient;
pub use cluster::{FeatureMetadata, LogDirDescription, ReplicaInfo, VersionRange};
pub use error::{Error, Result};
pub use group_offsets::OffsetAndMetadata;
pub use groups::{ConsumerGroupDescription, ConsumerGroupListing, GroupState, MemberDescription};
pub use quotas::{ClientQuotaAlteration, ClientQuotaEntity, ClientQuotaFilterComponent, QuotaMatch};
pub use reassignments::{ElectionType, PartitionReassignment};
pub use scram::{ScramCredentialInfo, ScramMechanism, UserScramCredentialAlteration};
pub use transactions::{
    AbortTransactionSpec, ListTransactionsFilter, ProducerState, TransactionDescription, TransactionListing,
};
pub use types::*;

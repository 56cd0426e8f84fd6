//! # kafka-test-broker
//!
//! An embedded, multi-broker, Kafka-compatible cluster in one process, with fault injection,
//! for the SDK's full-system tests and the README quickstart. Real clients (librdkafka,
//! kafka-python, the Java client) accept it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafka_test_broker::ClusterError> {
//! let cluster = kafka_test_broker::TestCluster::builder().brokers(3).start().await?;
//! let bootstrap = cluster.bootstrap_servers(); // "127.0.0.1:PORT,127.0.0.1:PORT,..."
//! # let _ = bootstrap; Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `cluster.rs`: [`TestCluster`], its builder (racks, the KIP-392 rack-aware replica
//!   selector, …), per-broker listeners; broker stop/start.
//! - `conn.rs`: one connection: frames in, faults, dispatch, responses out, in order.
//! - `control.rs`: fault injection ([`Fault`], [`FaultAction`], leader moves, an unclean
//!   leader election that truncates a log for KIP-320 tests) and inspection.
//! - `state/`: the cluster model: brokers, topics, partitions (`log.rs`: in-memory logs of
//!   real record batches), idempotent-producer state (`producers.rs`), topic configs.
//! - `handlers/`: one file per API or family, headed by its key; `mod.rs` holds the served
//!   version table and the dispatch. `handlers/sasl.rs` is the per-connection authenticator.
//! - `sasl.rs`: sans-IO SASL mechanisms (PLAIN, SCRAM-SHA-256/512) and the user store.
//! - `tls.rs`: [`TlsServerConfig`] and the rustls acceptor (ring provider).
//! - `main.rs`: the `kafka-test-broker` binary.

mod cluster;
mod conn;
mod control;
mod handlers;
pub mod sasl;
pub mod state;
mod tls;

pub use cluster::{ClusterError, TestCluster, TestClusterBuilder};
pub use control::{Fault, FaultAction, PartitionInfo, StoredRecord};
pub use handlers::log_dirs::log_dir;
pub use handlers::supported_versions;
pub use tls::TlsServerConfig;

//! Consumer group membership, classic protocol (Java's `ConsumerCoordinator`):
//!
//! - `assignor/`: the [`Assignor`](assignor::Assignor) trait and the built-in assignors.
//! - `protocol.rs`: the "consumer" embedded protocol (subscription and assignment bytes).
//! - `state.rs`: the sans-IO member state machine and heartbeat timers.
//! - `coordinator.rs`: the shared group context and the JoinGroup → SyncGroup exchange.
//! - `heartbeat.rs`: the background heartbeat task.
//! - `listener.rs`: [`ConsumerRebalanceListener`](listener::ConsumerRebalanceListener).

pub mod assignor;
pub(crate) mod coordinator;
pub(crate) mod heartbeat;
pub mod listener;
pub(crate) mod protocol;
pub(crate) mod state;

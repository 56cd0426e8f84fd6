//! `ConsumerRebalanceListener`: the application's hooks around a rebalance. They run on the
//! consumer's own task, inside `poll` (never inside the heartbeat or join task), and get the
//! consumer itself, so they can commit, seek or read positions as Java's listeners do.

use futures::future::BoxFuture;

use crate::consumer::Consumer;
use crate::record::TopicPartition;

/// Callbacks around partition assignment changes (Java's `ConsumerRebalanceListener`).
///
/// With the eager protocol every owned partition is revoked before each rebalance; with the
/// cooperative one (KIP-429) only the partitions that move are. `on_partitions_lost` is called
/// instead of `on_partitions_revoked` when the membership was lost (session expired, fenced,
/// poll timeout): the partitions may already belong to another member, so committing for them
/// would fail.
pub trait ConsumerRebalanceListener: Send {
    /// Partitions taken away; commit their offsets here if you manage offsets yourself.
    fn on_partitions_revoked<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()>;

    /// Partitions added (with the cooperative protocol: only the new ones).
    fn on_partitions_assigned<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()>;

    /// Partitions lost without a clean revocation. Defaults to `on_partitions_revoked`.
    fn on_partitions_lost<'a>(
        &'a mut self,
        consumer: &'a mut Consumer,
        partitions: &'a [TopicPartition],
    ) -> BoxFuture<'a, ()> {
        self.on_partitions_revoked(consumer, partitions)
    }
}

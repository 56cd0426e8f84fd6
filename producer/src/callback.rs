//! Per-record outcome notifications: the optional callback of
//! [`Producer::send_with_callback`](crate::Producer::send_with_callback) and the interceptors'
//! `on_acknowledgement`.
//!
//! Nothing here exists for a record unless an interceptor is configured or it has a
//! callback: the record's [`PendingHook`] travels with it (into the waiting queue, then into
//! its batch's [`BatchHooks`]), and the batch runs them in append order when it completes,
//! before its delivery futures wake. So a partition's callbacks run in send order, on the
//! sender task, with no task or channel per record.

use std::panic::AssertUnwindSafe;

use crate::accumulator::Ack;
use crate::error::{Error, Result};
use crate::interceptor::Interceptors;
use crate::record::RecordMetadata;

/// A send callback (Java's `Callback.onCompletion`).
pub(crate) type Callback = Box<dyn FnOnce(Result<RecordMetadata>) + Send + 'static>;

/// What one record needs for its outcome notifications, before it is in a batch.
pub(crate) struct PendingHook {
    pub(crate) callback: Option<Callback>,
    pub(crate) key_size: i32,
    pub(crate) value_size: i32,
}

impl PendingHook {
    /// The record failed before it reached a batch.
    pub(crate) fn fail(self, interceptors: &Interceptors, topic: &str, partition: i32, err: &Error) {
        let meta = RecordMetadata {
            topic: topic.to_owned(),
            partition,
            offset: -1,
            timestamp: -1,
            serialized_key_size: self.key_size,
            serialized_value_size: self.value_size,
        };
        notify(interceptors, meta, Some(err), self.callback);
    }
}

/// Runs the interceptors, then the callback (a panicking callback is logged, never unwinds
/// into the sender).
fn notify(interceptors: &Interceptors, meta: RecordMetadata, err: Option<&Error>, cb: Option<Callback>) {
    if !interceptors.is_empty() {
        interceptors.on_acknowledgement(&meta, err);
    }
    if let Some(cb) = cb {
        let outcome = match err {
            None => Ok(meta),
            Some(e) => Err(e.clone()),
        };
        if std::panic::catch_unwind(AssertUnwindSafe(|| cb(outcome))).is_err() {
            tracing::warn!("a send callback panicked; ignored");
        }
    }
}

/// The hooks of one batch's records (allocated with the batch's first hooked record).
pub(crate) struct BatchHooks {
    interceptors: Interceptors,
    /// (index in the batch, create timestamp, hook), in append order.
    records: Vec<(i32, i64, PendingHook)>,
}

impl std::fmt::Debug for BatchHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BatchHooks({} records)", self.records.len())
    }
}

impl BatchHooks {
    pub(crate) fn new(interceptors: Interceptors) -> Self {
        BatchHooks { interceptors, records: Vec::new() }
    }

    pub(crate) fn push(&mut self, relative: i32, timestamp: i64, hook: PendingHook) {
        self.records.push((relative, timestamp, hook));
    }

    /// The interceptors and the hooked records (index in the batch, create timestamp, hook),
    /// in append order: for handing them to the batches a split or a partial resend made.
    pub(crate) fn into_parts(self) -> (Interceptors, Vec<(i32, i64, PendingHook)>) {
        (self.interceptors, self.records)
    }

    /// Notifies every hooked record of the batch's outcome.
    pub(crate) fn run(self, topic: &str, partition: i32, outcome: &std::result::Result<Ack, Error>) {
        for (relative, timestamp, hook) in self.records {
            let (offset, timestamp, err) = match outcome {
                Ok(ack) => (
                    if ack.base_offset < 0 { -1 } else { ack.base_offset + relative as i64 },
                    if ack.log_append_time >= 0 { ack.log_append_time } else { timestamp },
                    None,
                ),
                Err(e) => (-1, -1, Some(e)),
            };
            let meta = RecordMetadata {
                topic: topic.to_owned(),
                partition,
                offset,
                timestamp,
                serialized_key_size: hook.key_size,
                serialized_value_size: hook.value_size,
            };
            notify(&self.interceptors, meta, err, hook.callback);
        }
    }
}

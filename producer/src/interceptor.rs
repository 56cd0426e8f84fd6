//! Producer interceptors (Java's `ProducerInterceptor` and `ProducerInterceptors`): hooks that
//! see (and may change) every record before it is partitioned, and every record's outcome.
//! They run in the order they were added; an error (or a panic) in one is logged and never
//! reaches the application, and the next interceptor still runs.
//!
//! Java names them in `interceptor.classes`; Rust cannot load a type by name, so they are
//! added with [`ProducerConfigBuilder::interceptor`](crate::ProducerConfigBuilder::interceptor)
//! or [`ProducerConfig::with_interceptor`](crate::ProducerConfig::with_interceptor).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::error::Error;
use crate::record::{ProducerRecord, RecordMetadata};

/// The error type interceptors return.
pub type InterceptorError = Box<dyn std::error::Error + Send + Sync>;

/// A hook around sending (Java's `ProducerInterceptor`).
///
/// `on_send` runs on the caller's task at the start of `send`, before the record is
/// partitioned or checked: it may change anything, the topic and partition included. If it
/// fails, the record goes on as this interceptor left it.
///
/// `on_acknowledgement` runs once per record when its outcome is known: acknowledged, failed
/// by the broker or a timeout, or refused before it was queued (too large, closed producer,
/// `max.block.ms`, ...). For failures `metadata` has the topic, the partition (-1 if none was
/// chosen) and offset -1. It runs on the producer's sender task (or, for records refused by
/// `send`, on the caller's task), so it must be quick and must not block.
pub trait ProducerInterceptor: Send + Sync {
    /// Sees (and may change) a record about to be sent.
    fn on_send(&self, record: &mut ProducerRecord) -> Result<(), InterceptorError>;

    /// Sees a record's outcome: `error` is `None` when the broker acknowledged it.
    fn on_acknowledgement(
        &self,
        metadata: &RecordMetadata,
        error: Option<&Error>,
    ) -> Result<(), InterceptorError>;

    /// The producer closed (explicitly, or its last handle was dropped and the sender task
    /// finished). Called once.
    fn close(&self) {}
}

/// The configured interceptors, in order (cheap to clone; shared with the sender task).
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<Vec<Arc<dyn ProducerInterceptor>>>);

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} interceptor(s)]", self.0.len())
    }
}

impl Interceptors {
    pub(crate) fn push(&mut self, i: Arc<dyn ProducerInterceptor>) {
        Arc::make_mut(&mut self.0).push(i);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn on_send(&self, record: &mut ProducerRecord) {
        for (n, i) in self.0.iter().enumerate() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| i.on_send(record))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(interceptor = n, error = %e, "on_send failed; ignored"),
                Err(_) => tracing::warn!(interceptor = n, "on_send panicked; ignored"),
            }
        }
    }

    pub(crate) fn on_acknowledgement(&self, metadata: &RecordMetadata, error: Option<&Error>) {
        for (n, i) in self.0.iter().enumerate() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| i.on_acknowledgement(metadata, error))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(interceptor = n, error = %e, "on_acknowledgement failed; ignored")
                }
                Err(_) => tracing::warn!(interceptor = n, "on_acknowledgement panicked; ignored"),
            }
        }
    }

    pub(crate) fn close(&self) {
        for (n, i) in self.0.iter().enumerate() {
            if std::panic::catch_unwind(AssertUnwindSafe(|| i.close())).is_err() {
                tracing::warn!(interceptor = n, "close panicked; ignored");
            }
        }
    }
}

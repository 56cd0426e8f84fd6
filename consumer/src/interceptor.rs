//! Consumer interceptors (Java's `ConsumerInterceptor` and `ConsumerInterceptors`): hooks that
//! see (and may filter or change) the records `poll` returns, and the offsets each successful
//! commit stored. They run in the order they were added; an error (or a panic) in one is
//! logged and never reaches the application, and the next interceptor still runs.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::record::{ConsumerRecord, TopicPartition};
use kafka_client::OffsetAndMetadata;

/// The error type interceptors return.
pub type InterceptorError = Box<dyn std::error::Error + Send + Sync>;

/// A hook around consumption and commits (Java's `ConsumerInterceptor`).
///
/// `on_consume` runs on the consumer's task, inside `poll` (and once per record for the
/// stream), after positions moved past the records: filtering a record out does not make it
/// come back. `on_commit` runs on the consumer's commit task after the coordinator accepted a
/// commit, so it must not block for long.
pub trait ConsumerInterceptor: Send + Sync {
    /// Sees the records about to be returned; may remove or change them.
    fn on_consume(&self, records: &mut Vec<ConsumerRecord>) -> Result<(), InterceptorError>;

    /// Sees the offsets a commit stored (the next offsets to consume, with their leader epochs
    /// and metadata).
    fn on_commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<(), InterceptorError>;

    /// The consumer is closing.
    fn on_close(&self) {}
}

/// The configured interceptors, in order (cheap to clone: shared with the commit task).
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<Vec<Arc<dyn ConsumerInterceptor>>>);

impl Interceptors {
    pub(crate) fn push(&mut self, i: Arc<dyn ConsumerInterceptor>) {
        Arc::make_mut(&mut self.0).push(i);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn on_consume(&self, records: &mut Vec<ConsumerRecord>) {
        for (n, i) in self.0.iter().enumerate() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| i.on_consume(records))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(interceptor = n, error = %e, "on_consume failed; ignored"),
                Err(_) => tracing::warn!(interceptor = n, "on_consume panicked; ignored"),
            }
        }
    }

    pub(crate) fn on_commit(&self, offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>) {
        if self.0.is_empty() {
            return;
        }
        for (n, i) in self.0.iter().enumerate() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| i.on_commit(offsets))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(interceptor = n, error = %e, "on_commit failed; ignored"),
                Err(_) => tracing::warn!(interceptor = n, "on_commit panicked; ignored"),
            }
        }
    }

    pub(crate) fn on_close(&self) {
        for i in self.0.iter() {
            if std::panic::catch_unwind(AssertUnwindSafe(|| i.on_close())).is_err() {
                tracing::warn!("on_close panicked; ignored");
            }
        }
    }
}

//! The producer's error type.

use std::time::Duration;

use kafka_protocol::ErrorCode;

use crate::txn::TxnState;

/// Everything a send, flush or close can fail with. Errors name the topic and partition.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is missing, malformed or conflicts with another.
    #[error("invalid producer configuration: {0}")]
    Config(String),
    /// From the client runtime (connections, metadata).
    #[error(transparent)]
    Client(#[from] kafka_client::Error),
    /// The broker rejected a batch.
    #[error("{topic}-{partition}: the broker answered {code:?}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// A record was not acknowledged within `delivery.timeout.ms`.
    #[error("{topic}-{partition}: record expired after {elapsed:?} (delivery.timeout.ms){}", last.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    DeliveryTimeout {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Time since the record was appended.
        elapsed: Duration,
        /// The last retriable error seen, if any.
        last: Option<String>,
    },
    /// Metadata for the topic, or buffer space, was not available within `max.block.ms`.
    #[error("topic {topic}: {what} not available within max.block.ms ({timeout:?})")]
    MaxBlock {
        /// Topic.
        topic: String,
        /// What was waited for.
        what: &'static str,
        /// `max.block.ms`.
        timeout: Duration,
    },
    /// The topic does not exist (and was not auto-created) or a partition is out of range.
    #[error("topic {topic}: {reason}")]
    Topic {
        /// Topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A record is larger than `max.request.size` or `buffer.memory`.
    #[error("topic {topic}: a {size}-byte record exceeds {limit_key} ({limit})")]
    RecordTooLarge {
        /// Topic.
        topic: String,
        /// The record's serialized size.
        size: usize,
        /// The limit's config key.
        limit_key: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The records waiting for metadata or buffer space already hold `buffer.memory` bytes.
    #[error("topic {topic}: buffer.memory ({limit} bytes) exhausted by records still waiting to be appended")]
    BufferExhausted {
        /// Topic.
        topic: String,
        /// `buffer.memory`.
        limit: usize,
    },
    /// A serializer failed.
    #[error("topic {topic}: cannot serialize the {what}: {reason}")]
    Serialization {
        /// Topic.
        topic: String,
        /// "key" or "value".
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The idempotent producer lost its sequence state for a partition (the broker answered
    /// OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID for the batch it expected next, or
    /// INVALID_PRODUCER_EPOCH): this batch fails, and the producer moves to a new epoch of its
    /// id (KIP-360) or a new id, renumbering the batches after it.
    #[error(
        "{topic}-{partition}: idempotence state lost ({code:?}); the producer moves to a new epoch or id"
    )]
    SequenceLost {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The broker's code.
        code: ErrorCode,
    },
    /// A flush or close did not finish in time.
    #[error("{0} did not complete within {1:?}")]
    Timeout(&'static str, Duration),
    /// The producer is closed.
    #[error("the producer is closed")]
    Closed,
    /// A transactional call in a state that does not allow it (e.g. `commit_transaction`
    /// before `begin_transaction`), or a non-transactional producer asked for transactions.
    #[error("cannot {op} in transaction state {state}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    InvalidState {
        /// The operation.
        op: &'static str,
        /// The state it found.
        state: TxnState,
        /// More context.
        detail: String,
    },
    /// The transaction (or the producer) already failed: `AbortableError` means call
    /// `abort_transaction` and carry on; `FatalError` means close the producer.
    #[error("cannot {op}: the transaction is in {state} because of an earlier error: {source}")]
    Transaction {
        /// The operation refused.
        op: &'static str,
        /// AbortableError or FatalError.
        state: TxnState,
        /// The error that caused it.
        source: Box<Error>,
    },
    /// The transaction coordinator (or the group coordinator for `TxnOffsetCommit`) answered
    /// with an error.
    #[error("{api}: the coordinator answered {code:?}{}", hint(*code))]
    Coordinator {
        /// The request (`EndTxn`, `AddPartitionsToTxn`, ...).
        api: &'static str,
        /// The broker's code.
        code: ErrorCode,
    },
    /// Queued records of a transaction that was aborted (never sent).
    #[error("{topic}-{partition}: the transaction was aborted before the record was sent")]
    TransactionAborted {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
}

fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => {
            " (fenced: another producer with the same transactional.id started, or the transaction \
             outlived transaction.timeout.ms and the coordinator aborted it; close this producer \
             and start a new one)"
        }
        ErrorCode::TransactionalIdAuthorizationFailed => " (not authorized for this transactional.id)",
        ErrorCode::InvalidTxnState => {
            " (the coordinator's transaction is not in a state that allows this; under transactions \
             v2 a commit gets it when the coordinator already aborted the transaction because it \
             outlived transaction.timeout.ms; close this producer and start a new one)"
        }
        _ => "",
    }
}

/// Broker codes that make a transactional producer unusable (Java's fatal errors).
pub(crate) fn is_fatal_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnsupportedForMessageFormat
            | ErrorCode::InvalidTxnState
            | ErrorCode::InvalidTransactionTimeout
    )
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Client(e) => e.is_retriable(),
            Error::Broker { code, .. } => code.is_retriable(),
            Error::DeliveryTimeout { .. } | Error::MaxBlock { .. } | Error::Timeout(..) => true,
            Error::BufferExhausted { .. } | Error::SequenceLost { .. } => true,
            _ => false,
        }
    }

    /// Whether the producer is unusable and must be closed (fenced by a newer producer with
    /// the same `transactional.id`, unauthorized, or an unsupported broker).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Transaction { state, .. } => *state == TxnState::FatalError,
            Error::Coordinator { code, .. } => is_fatal_code(*code),
            // the codes the sender treats as fatal for a transaction (a plain idempotent
            // producer's INVALID_PRODUCER_EPOCH becomes Error::SequenceLost instead)
            Error::Broker { code, .. } => matches!(
                code,
                ErrorCode::ProducerFenced
                    | ErrorCode::InvalidProducerEpoch
                    | ErrorCode::TransactionalIdAuthorizationFailed
                    | ErrorCode::ClusterAuthorizationFailed
            ),
            _ => false,
        }
    }

    /// Whether the current transaction failed but the producer is fine: call
    /// `abort_transaction` and begin a new one.
    pub fn is_abortable(&self) -> bool {
        match self {
            Error::Transaction { state, .. } => *state == TxnState::AbortableError,
            Error::Coordinator { code, .. } => !is_fatal_code(*code),
            Error::TransactionAborted { .. } => true,
            _ => false,
        }
    }
}

/// `Result` with the producer's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

//! The consumer's error type.

use kafka_protocol::ErrorCode;

/// Everything the consumer can fail with; errors name the topic and partition.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is missing, malformed or conflicts with another.
    #[error("invalid consumer configuration: {0}")]
    Config(String),
    /// From the client runtime (connections, metadata, coordinators).
    #[error(transparent)]
    Client(#[from] kafka_client::Error),
    /// The broker answered an error for a partition.
    #[error("{topic}-{partition}: {api} answered {code:?}")]
    Broker {
        /// The API.
        api: &'static str,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The broker's code.
        code: ErrorCode,
    },
    /// The position is out of range and `auto.offset.reset=none`.
    #[error("{topic}-{partition}: offset {offset} is out of range and auto.offset.reset is none")]
    OffsetOutOfRange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The position.
        offset: i64,
    },
    /// The partition's log was truncated below the fetch position (an unclean leader
    /// election; KIP-320) and `auto.offset.reset=none` (Java's `LogTruncationException`).
    /// Seek to continue, e.g. to `divergent_offset`, the first offset known to diverge.
    #[error(
        "{topic}-{partition}: log truncation detected at fetch offset {fetch_offset} (the logs diverge from offset {}) and auto.offset.reset is none",
        divergent_offset.map_or_else(|| "unknown".to_owned(), |o| o.to_string())
    )]
    LogTruncation {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The fetch position that was validated.
        fetch_offset: i64,
        /// The end offset of the position's epoch in the leader's log, if it knows the epoch.
        divergent_offset: Option<i64>,
    },
    /// No committed offset and `auto.offset.reset=none` (Java's `NoOffsetForPartitionException`).
    #[error("{topic}-{partition}: no committed offset and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Group membership failed (JoinGroup / SyncGroup / Heartbeat errors that end it).
    #[error("group {group}: {api} failed: {message} ({code:?})")]
    Group {
        /// The API.
        api: &'static str,
        /// `group.id`.
        group: String,
        /// The broker's code (`None` for client-side failures such as an undecodable assignment).
        code: ErrorCode,
        /// What happened.
        message: String,
    },
    /// A commit was rejected because this member is no longer part of the generation (Java's
    /// `CommitFailedException`): the group rebalanced and the partitions may belong to another
    /// member. The next `poll` rejoins.
    #[error("group {group}: commit failed: {reason}")]
    CommitFailed {
        /// `group.id`.
        group: String,
        /// Why (the broker's code).
        reason: String,
    },
    /// A commit arrived while the group rebalances; retry after the next `poll`.
    #[error("group {group}: commit rejected while the group is rebalancing (REBALANCE_IN_PROGRESS)")]
    RebalanceInProgress {
        /// `group.id`.
        group: String,
    },
    /// A subscription pattern does not compile.
    #[error("invalid subscription pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// The partition is not assigned to this consumer.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Fetched data could not be decoded.
    #[error("{topic}-{partition}: corrupt records at offset {offset}: {reason}")]
    Corrupt {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Where.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// An operation needs `group.id`.
    #[error("{0} needs group.id to be set")]
    NoGroup(&'static str),
    /// An operation needs group management (`subscribe`), not a manual `assign`.
    #[error("{0} needs a group subscription (subscribe), not a manual assignment")]
    NotSubscribed(&'static str),
    /// Not implemented by this consumer yet.
    #[error("{0} is not supported by this consumer yet")]
    Unsupported(&'static str),
    /// A call did not finish within its timeout.
    #[error("{0} did not complete within {1:?}")]
    Timeout(&'static str, std::time::Duration),
}

impl Error {
    /// Whether retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Client(e) => e.is_retriable(),
            Error::Broker { code, .. } => code.is_retriable(),
            Error::Timeout(..) | Error::RebalanceInProgress { .. } => true,
            Error::Group { code, .. } => code.is_retriable(),
            _ => false,
        }
    }
}

/// `Result` with the consumer's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

//! The admin client's error type.

use kafka_protocol::ErrorCode;

/// An admin operation's failure, for the whole call or for one item of it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration problem.
    #[error(transparent)]
    Client(#[from] kafka_client::Error),
    /// The broker rejected one item (a topic, partition or config resource).
    #[error("{api} {item}: {code:?}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Item {
        /// The API.
        api: &'static str,
        /// The item, e.g. `topic orders` or `orders-3`.
        item: String,
        /// The broker's code.
        code: ErrorCode,
        /// The broker's message.
        message: Option<String>,
    },
    /// The request is invalid before anything is sent.
    #[error("{0}")]
    Invalid(String),
    /// The operation did not complete within `default.api.timeout.ms`.
    #[error("{0} did not complete within default.api.timeout.ms ({1:?})")]
    Timeout(&'static str, std::time::Duration),
}

impl Error {
    /// Whether retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Client(e) => e.is_retriable(),
            Error::Item { code, .. } => code.is_retriable(),
            Error::Timeout(..) => true,
            Error::Invalid(_) => false,
        }
    }

    pub(crate) fn item(
        api: &'static str,
        item: impl Into<String>,
        code: i16,
        message: Option<String>,
    ) -> Option<Error> {
        let code = ErrorCode::from(code);
        (code != ErrorCode::None).then(|| Error::Item { api, item: item.into(), code, message })
    }
}

/// `Result` with the admin [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

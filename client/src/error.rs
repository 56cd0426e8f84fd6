//! The crate's single error type.

use std::{fmt, sync::Arc, time::Duration};

use kafka_protocol::{ApiKey, ErrorCode, VersionRange};

/// Which broker an error concerns: its node id (negative for bootstrap addresses, as in the
/// Java client) and the address it was reached at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerRef {
    /// Node id; bootstrap servers get `-1`, `-2`, … in list order.
    pub id: i32,
    /// `host:port` as configured or advertised.
    pub addr: String,
}

impl fmt::Display for BrokerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id < 0 {
            write!(f, "bootstrap broker {}", self.addr)
        } else {
            write!(f, "broker {} ({})", self.id, self.addr)
        }
    }
}

/// Everything that can go wrong in the client runtime.
///
/// Every variant carries the context needed to act on it from a log line alone: the config
/// key, the API, the broker, the topic and partition, and the broker's own error code and
/// message. Cloneable, so that one connection failure can be delivered to every waiter.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is unknown (with the closest known key, if one is near).
    #[error("unknown configuration key `{key}`{}", suggestion_text(.suggestion))]
    UnknownConfig {
        /// The key as given.
        key: String,
        /// The closest known key by edit distance, if close enough to be a likely typo.
        suggestion: Option<String>,
    },
    /// A configuration value is invalid, missing, or conflicts with another key.
    #[error("invalid configuration `{key}`: {message}")]
    Config {
        /// The key (or keys, comma separated) at fault.
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A socket or DNS error.
    #[error("I/O error talking to {broker}: {source}")]
    Io {
        /// The broker.
        broker: BrokerRef,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Connecting (TCP plus the setup stage and the ApiVersions handshake) took longer than
    /// `socket.connection.setup.timeout.ms` allows.
    #[error("connection setup to {broker} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The broker.
        broker: BrokerRef,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The connection is closed (by the broker, by an earlier error, or for idleness); every
    /// request in flight on it fails with this.
    #[error("connection to {broker} is closed: {reason}")]
    Disconnected {
        /// The broker.
        broker: BrokerRef,
        /// Why it closed.
        reason: String,
    },
    /// No response arrived within `request.timeout.ms` (or the per-request override).
    #[error("{} request (correlation id {correlation_id}) to {broker} timed out after {timeout:?}", .api.name())]
    RequestTimeout {
        /// The API.
        api: ApiKey,
        /// The broker.
        broker: BrokerRef,
        /// The request's correlation id.
        correlation_id: i32,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// Bytes from (or for) the broker could not be encoded or decoded, or broke framing (an
    /// oversized frame, a TLS alert read as plaintext, an unexpected correlation id).
    #[error("protocol error{} with {broker}: {source}", api_text(.api))]
    Protocol {
        /// The API concerned, if known.
        api: Option<ApiKey>,
        /// The broker.
        broker: BrokerRef,
        /// The codec's error.
        #[source]
        source: kafka_protocol::Error,
    },
    /// The broker does not support any version of an API this client needs (or supports it
    /// only at versions this client cannot speak).
    #[error("{broker} does not support {} at any version this client speaks (client {client:?}, broker {broker_range:?})", .api.name())]
    UnsupportedApi {
        /// The API.
        api: ApiKey,
        /// The broker.
        broker: BrokerRef,
        /// Versions this client can speak.
        client: VersionRange,
        /// Versions the broker advertised (`None`: it does not offer the API at all).
        broker_range: Option<VersionRange>,
    },
    /// The broker answered with an error code.
    #[error("{} failed{}{}: {code}{}", .api.name(), on_text(.broker), tp_text(.topic, .partition), msg_text(.message))]
    Broker {
        /// The API.
        api: ApiKey,
        /// The broker that answered, if known.
        broker: Option<BrokerRef>,
        /// Topic (or group / transactional id for coordinator errors) concerned, if any.
        topic: Option<String>,
        /// Partition concerned, if any.
        partition: Option<i32>,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// TLS failed: the handshake (an untrusted or expired certificate, a host name the
    /// certificate does not name, a client certificate the broker refused) or a later TLS
    /// alert. Not retriable: the configuration or the certificates must change.
    #[error("TLS error with {broker}: {message}")]
    Tls {
        /// The broker.
        broker: BrokerRef,
        /// What failed (rustls' error text and what to check).
        message: String,
    },
    /// SASL authentication failed: wrong credentials (`SASL_AUTHENTICATION_FAILED` with the
    /// broker's message), a mechanism the broker does not enable (`UNSUPPORTED_SASL_MECHANISM`,
    /// listing the ones it does), or a broker reply that broke the mechanism's rules (a bad
    /// SCRAM server signature). Not retriable.
    #[error("SASL {mechanism} authentication with {broker} failed{}: {message}", code_text(.code))]
    Authentication {
        /// The broker.
        broker: BrokerRef,
        /// The SASL mechanism (`sasl.mechanism`).
        mechanism: String,
        /// The broker's error code, when the broker reported the failure.
        code: Option<ErrorCode>,
        /// The broker's message, or what the client found wrong.
        message: String,
    },
    /// No broker could be reached (every known broker failed or is backing off).
    #[error("no broker is available: {reason}")]
    NoBrokerAvailable {
        /// The last failure seen.
        reason: String,
    },
    /// Waiting for something (metadata for a topic, a coordinator) took longer than allowed.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        timeout: Duration,
    },
    /// The client (pool, metadata task) has been shut down.
    #[error("the client is closed")]
    Closed,
}

fn suggestion_text(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

fn code_text(c: &Option<ErrorCode>) -> String {
    c.map(|c| format!(" ({c})")).unwrap_or_default()
}

fn on_text(b: &Option<BrokerRef>) -> String {
    b.as_ref().map(|b| format!(" on {b}")).unwrap_or_default()
}

fn api_text(api: &Option<ApiKey>) -> String {
    api.map(|a| format!(" in {}", a.name())).unwrap_or_default()
}

fn tp_text(topic: &Option<String>, partition: &Option<i32>) -> String {
    match (topic, partition) {
        (Some(t), Some(p)) => format!(" for {t}-{p}"),
        (Some(t), None) => format!(" for {t}"),
        _ => String::new(),
    }
}

fn msg_text(m: &Option<String>) -> String {
    m.as_ref().filter(|m| !m.is_empty()).map(|m| format!(" ({m})")).unwrap_or_default()
}

impl Error {
    /// Whether retrying the operation (possibly on another connection, after a metadata
    /// refresh) might succeed. Config errors, unsupported APIs and non-retriable broker codes
    /// are permanent; network trouble, timeouts and retriable broker codes are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::ConnectTimeout { .. }
            | Error::Disconnected { .. }
            | Error::RequestTimeout { .. }
            | Error::NoBrokerAvailable { .. }
            | Error::Timeout { .. } => true,
            Error::Broker { code, .. } => code.is_retriable(),
            Error::Protocol { source, .. } => source.is_retriable(),
            Error::UnknownConfig { .. }
            | Error::Config { .. }
            | Error::UnsupportedApi { .. }
            | Error::Tls { .. }
            | Error::Authentication { .. }
            | Error::Closed => false,
        }
    }

    /// Whether this is a TLS or SASL authentication failure (Java's `AuthenticationException`):
    /// retrying with the same settings cannot help, so waits for metadata end at once.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, Error::Tls { .. } | Error::Authentication { .. })
    }

    /// The broker's error code, for [`Error::Broker`] and [`Error::Authentication`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            Error::Authentication { code, .. } => *code,
            _ => None,
        }
    }

    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config { key: key.into(), message: message.into() }
    }

    /// An I/O error; one that carries a rustls error (a failed handshake, a TLS alert) becomes
    /// [`Error::Tls`].
    pub(crate) fn io(broker: &BrokerRef, e: std::io::Error) -> Error {
        if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return Error::Tls { broker: broker.clone(), message: crate::conn::tls::describe(tls) };
        }
        Error::Io { broker: broker.clone(), source: Arc::new(e) }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> BrokerRef {
        BrokerRef { id: 3, addr: "h:9092".into() }
    }

    #[test]
    fn retriable_follows_broker_code_and_kind() {
        let e = |code| Error::Broker {
            api: ApiKey::Produce,
            broker: Some(b()),
            topic: Some("t".into()),
            partition: Some(2),
            code,
            message: Some("boom".into()),
        };
        assert!(e(ErrorCode::NotLeaderOrFollower).is_retriable());
        assert!(!e(ErrorCode::TopicAuthorizationFailed).is_retriable());
        let s = e(ErrorCode::NotLeaderOrFollower).to_string();
        assert!(s.contains("Produce failed on broker 3 (h:9092) for t-2"), "{s}");
        assert!(s.contains("NOT_LEADER_OR_FOLLOWER") && s.contains("(boom)"), "{s}");
        assert!(Error::Disconnected { broker: b(), reason: "eof".into() }.is_retriable());
        assert!(!Error::config("a", "b").is_retriable());
        let u = Error::UnsupportedApi {
            api: ApiKey::Fetch,
            broker: b(),
            client: ApiKey::Fetch.versions(),
            broker_range: None,
        };
        assert!(!u.is_retriable());
        assert!(u.to_string().contains("Fetch"));
    }
}

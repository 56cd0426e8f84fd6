//! SaslHandshake (key 17), v0–1, and SaslAuthenticate (key 36), v0–2: the per-connection
//! authenticator, after Kafka's `SaslServerAuthenticator`, with KIP-368 re-authentication.
//!
//! When users are configured, a connection starts in `Handshake`: only ApiVersions and
//! SaslHandshake are accepted (anything else closes the connection, as Kafka does). A known
//! mechanism moves it to `Authenticate`, where only SaslAuthenticate is accepted (after a v0
//! handshake: raw, size-prefixed SASL tokens instead). Success moves it to `Authenticated`
//! until the session lifetime (if any) passes; then only SaslHandshake, which starts
//! re-authentication with the same mechanism and user, is accepted. A failed authentication is
//! answered (SASL_AUTHENTICATION_FAILED with Kafka's message) and the connection is closed.
//!
//! Without users (SASL off), SaslHandshake and SaslAuthenticate get ILLEGAL_SASL_STATE, as on
//! Kafka's PLAINTEXT listeners.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::generated::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::{ApiKey, ErrorCode};

use crate::sasl::{Mechanism, SaslServer, SaslUsers, Step};

/// The SASL settings every listener of a cluster shares.
#[derive(Debug)]
pub(crate) struct SaslConfig {
    pub users: SaslUsers,
    /// `connections.max.reauth.ms`; `None`: sessions never expire.
    pub session_lifetime: Option<Duration>,
}

fn mechanisms() -> Vec<String> {
    Mechanism::ALL.iter().map(|m| m.name().to_owned()).collect()
}

pub(crate) fn handshake_without_sasl() -> SaslHandshakeResponse {
    SaslHandshakeResponse { error_code: ErrorCode::IllegalSaslState.code(), ..Default::default() }
}

pub(crate) fn authenticate_without_sasl() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        error_message: Some("SaslAuthenticate request received after successful authentication".into()),
        ..Default::default()
    }
}

pub(crate) fn handshake_error(code: i16) -> SaslHandshakeResponse {
    SaslHandshakeResponse { error_code: code, mechanisms: mechanisms(), ..Default::default() }
}

#[derive(Debug)]
enum Phase {
    Handshake,
    Authenticate { server: SaslServer, raw: bool },
    Authenticated,
}

/// A response and whether the connection closes once it is sent.
pub(crate) type Answer<T> = (T, bool);

/// One connection's authentication state.
#[derive(Debug)]
pub(crate) struct SaslSession {
    config: Arc<SaslConfig>,
    phase: Phase,
    /// The authenticated user and mechanism; kept through re-authentication.
    principal: Option<(String, Mechanism)>,
    expires_at: Option<Instant>,
    /// Set when a re-authentication handshake named another mechanism (Kafka fails the
    /// following SaslAuthenticate).
    bad_reauth_mechanism: Option<String>,
}

impl SaslSession {
    pub fn new(config: Arc<SaslConfig>) -> Self {
        SaslSession {
            config,
            phase: Phase::Handshake,
            principal: None,
            expires_at: None,
            bad_reauth_mechanism: None,
        }
    }

    /// Whether the next frame is a raw SASL token (after SaslHandshake v0).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.phase, Phase::Authenticate { raw: true, .. })
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Whether a request of `api` may be processed now; `Err` names why the connection closes.
    pub fn admit(&self, api: ApiKey, now: Instant) -> Result<(), String> {
        match &self.phase {
            Phase::Handshake if matches!(api, ApiKey::ApiVersions | ApiKey::SaslHandshake) => Ok(()),
            Phase::Handshake => {
                Err(format!("Unexpected Kafka request of type {} during SASL handshake.", api.name()))
            }
            Phase::Authenticate { .. } if api == ApiKey::SaslAuthenticate => Ok(()),
            Phase::Authenticate { .. } => {
                Err(format!("Unexpected Kafka request of type {} during SASL authentication.", api.name()))
            }
            Phase::Authenticated if api == ApiKey::SaslHandshake || !self.expired(now) => Ok(()),
            Phase::Authenticated => Err(format!("SASL session expired; {} is not SaslHandshake", api.name())),
        }
    }

    /// SaslHandshake: picks the mechanism (or starts re-authentication).
    pub fn handshake(&mut self, version: i16, req: &SaslHandshakeRequest) -> Answer<SaslHandshakeResponse> {
        let reauth = matches!(self.phase, Phase::Authenticated);
        if reauth && self.config.session_lifetime.is_none() {
            // re-authentication is off: Kafka's request handler answers, the session stays
            return (handshake_without_sasl(), false);
        }
        let Some(mechanism) = Mechanism::from_name(&req.mechanism) else {
            tracing::debug!(
                mechanism = req.mechanism,
                "SaslHandshake: unsupported mechanism; closing after the answer"
            );
            return (handshake_error(ErrorCode::UnsupportedSaslMechanism.code()), true);
        };
        self.bad_reauth_mechanism = match &self.principal {
            Some((_, previous)) if reauth && *previous != mechanism => Some(format!(
                "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                mechanism.name(),
                previous.name()
            )),
            _ => None,
        };
        self.phase = Phase::Authenticate { server: SaslServer::new(mechanism), raw: version == 0 };
        (SaslHandshakeResponse { mechanisms: mechanisms(), ..Default::default() }, false)
    }

    /// One SASL token: the next server token, or the failure message.
    fn step(&mut self, token: &[u8], now: Instant) -> Result<(Vec<u8>, bool), String> {
        let Phase::Authenticate { server, .. } = &mut self.phase else {
            return Err("no SASL authentication in progress".into());
        };
        if let Some(m) = self.bad_reauth_mechanism.take() {
            return Err(m);
        }
        let mechanism = server.mechanism();
        match server.step(&self.config.users, token) {
            Ok(Step::Continue(challenge)) => Ok((challenge, false)),
            Ok(Step::Done { user, response }) => {
                if let Some((previous, _)) = self.principal.as_ref().filter(|(p, _)| *p != user) {
                    return Err(format!(
                        "Cannot change principals during re-authentication from User:{previous}: User:{user}"
                    ));
                }
                tracing::debug!(user, mechanism = mechanism.name(), "SASL authentication complete");
                self.principal = Some((user, mechanism));
                self.expires_at = self.config.session_lifetime.map(|l| now + l);
                self.phase = Phase::Authenticated;
                Ok((response, true))
            }
            Err(f) => Err(f.message),
        }
    }

    /// SaslAuthenticate: one token of the exchange.
    pub fn authenticate(
        &mut self,
        req: &SaslAuthenticateRequest,
        now: Instant,
    ) -> Answer<SaslAuthenticateResponse> {
        if matches!(self.phase, Phase::Authenticated) {
            return (authenticate_without_sasl(), false);
        }
        match self.step(&req.auth_bytes, now) {
            Ok((token, done)) => {
                let lifetime = self.config.session_lifetime.filter(|_| done);
                let ms = lifetime.map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0);
                let resp = SaslAuthenticateResponse {
                    auth_bytes: Bytes::from(token),
                    session_lifetime_ms: ms,
                    ..Default::default()
                };
                (resp, false)
            }
            Err(message) => {
                tracing::debug!(message, "SASL authentication failed; closing after the answer");
                let resp = SaslAuthenticateResponse {
                    error_code: ErrorCode::SaslAuthenticationFailed.code(),
                    error_message: Some(message),
                    ..Default::default()
                };
                (resp, true)
            }
        }
    }

    /// A raw token after SaslHandshake v0: the server token to send size-prefixed, or `None`
    /// to close the connection (v0 has no way to carry an error).
    pub fn raw_token(&mut self, token: &[u8], now: Instant) -> Option<Vec<u8>> {
        match self.step(token, now) {
            Ok((response, _)) => Some(response),
            Err(message) => {
                tracing::debug!(message, "SASL authentication (v0 tokens) failed; closing");
                None
            }
        }
    }
}

//! SASL authentication (`security.protocol` `SASL_PLAINTEXT` / `SASL_SSL`): [`SaslAuthenticator`]
//! runs SaslHandshake v1 and SaslAuthenticate v1+ (Kafka 1.0+) after the ApiVersions handshake,
//! driving one sans-IO client per mechanism:
//!
//! - `plain.rs`: PLAIN (RFC 4616).
//! - `scram.rs`: SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677).
//! - `oauthbearer.rs`: OAUTHBEARER (RFC 7628) with an [`OAuthBearerTokenProvider`];
//!   [`UnsecuredJws`] for tests.
//!
//! A broker with `connections.max.reauth.ms` (or a token that expires) answers with a session
//! lifetime; the authenticator returns a re-authentication deadline at a random 85-95% of it,
//! as Java does (KIP-368), and the [`Connection`] re-authenticates before the first request it
//! sends after that point.

mod oauthbearer;
mod plain;
mod scram;

use std::{fmt, sync::Arc, time::Duration};

use kafka_protocol::{
    ApiKey, ErrorCode,
    generated::{SaslAuthenticateRequest, SaslHandshakeRequest},
};
use tokio::time::Instant;

pub use oauthbearer::{OAuthBearerToken, OAuthBearerTokenProvider, UnsecuredJws};
pub use scram::ScramHash;

use self::{oauthbearer::OAuthBearerClient, plain::PlainClient, scram::ScramClient};
use super::{Authenticator, BoxFuture, Connection, RequestOptions};
use crate::{
    config::{SaslCredentials, SaslMechanism, SaslSettings, Secret},
    error::{Error, Result},
};

/// One mechanism's client side of the exchange, sans IO. Errors are messages; the driver adds
/// the broker and mechanism.
pub(crate) trait SaslClient: Send {
    /// The first message.
    fn initial(&mut self) -> Result<Vec<u8>, String>;
    /// Handles the server's bytes: the next message to send, or `None` when the exchange is
    /// complete (and the server verified, where the mechanism allows).
    fn on_challenge(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

enum Credentials {
    UserPassword { username: String, password: Secret, token_auth: bool },
    Token(Arc<dyn OAuthBearerTokenProvider>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::UserPassword { username, token_auth, .. } => f
                .debug_struct("UserPassword")
                .field("username", username)
                .field("password", &"[hidden]")
                .field("token_auth", token_auth)
                .finish(),
            Credentials::Token(p) => f.debug_tuple("Token").field(p).finish(),
        }
    }
}

/// The SASL [`Authenticator`]. Secrets are hidden from `Debug`.
#[derive(Debug)]
pub struct SaslAuthenticator {
    mechanism: SaslMechanism,
    credentials: Credentials,
}

impl SaslAuthenticator {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with a user name and password.
    pub fn with_password(mechanism: SaslMechanism, username: &str, password: &str) -> Result<Self> {
        if mechanism == SaslMechanism::OAuthBearer {
            return Err(Error::config(
                "sasl.mechanism",
                "OAUTHBEARER takes a token provider, not a password",
            ));
        }
        let credentials = Credentials::UserPassword {
            username: username.to_string(),
            password: Secret::new(password),
            token_auth: false,
        };
        Ok(SaslAuthenticator { mechanism, credentials })
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer(provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        SaslAuthenticator { mechanism: SaslMechanism::OAuthBearer, credentials: Credentials::Token(provider) }
    }

    /// From the `sasl.*` keys; OAUTHBEARER without `unsecuredLogin*` options needs `provider`.
    pub fn from_settings(
        settings: &SaslSettings,
        provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    ) -> Result<Self> {
        let credentials = match (&settings.credentials, provider) {
            (_, Some(p)) if settings.mechanism == SaslMechanism::OAuthBearer => Credentials::Token(p),
            (SaslCredentials::UsernamePassword { username, password, token_auth }, _) => {
                Credentials::UserPassword {
                    username: username.clone(),
                    password: password.clone(),
                    token_auth: *token_auth,
                }
            }
            (SaslCredentials::UnsecuredJws(jws), _) => Credentials::Token(Arc::new(jws.clone())),
            (SaslCredentials::TokenProvider, _) => {
                return Err(Error::config(
                    "sasl.jaas.config",
                    "OAUTHBEARER needs a token: give an OAuthBearerTokenProvider \
                     (NetworkClient::with_token_provider) or unsecuredLogin* options for tests",
                ));
            }
        };
        Ok(SaslAuthenticator { mechanism: settings.mechanism, credentials })
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    async fn client(&self) -> Result<Box<dyn SaslClient>, String> {
        Ok(match (&self.credentials, self.mechanism) {
            (Credentials::UserPassword { username, password, .. }, SaslMechanism::Plain) => {
                Box::new(PlainClient::new(username, password.expose()))
            }
            (Credentials::UserPassword { username, password, token_auth }, m) => {
                let hash =
                    if m == SaslMechanism::ScramSha512 { ScramHash::Sha512 } else { ScramHash::Sha256 };
                let nonce = ScramClient::random_nonce()?;
                Box::new(ScramClient::new(hash, username, password.expose(), nonce, *token_auth))
            }
            (Credentials::Token(p), _) => {
                let token = p.token().await.map_err(|e| format!("the token provider failed: {e}"))?;
                Box::new(OAuthBearerClient::new(token))
            }
        })
    }

    /// The whole exchange; the re-authentication deadline, if the broker set a session lifetime.
    async fn run(&self, conn: &Connection) -> Result<Option<Instant>> {
        let name = self.mechanism.name();
        let fail = |code: Option<ErrorCode>, message: String| Error::Authentication {
            broker: conn.broker().clone(),
            mechanism: name.to_string(),
            code,
            message,
        };
        let hs_version = conn.version(ApiKey::SaslHandshake).filter(|v| *v >= 1).ok_or_else(|| {
            fail(None, "the broker offers no SaslHandshake v1+ (Kafka 1.0 or newer is needed)".into())
        })?;
        let started = Instant::now();
        let req = SaslHandshakeRequest { mechanism: name.to_string(), ..Default::default() };
        let resp = conn.send_with(&req, RequestOptions { version: Some(hs_version), timeout: None }).await?;
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                return Err(fail(
                    Some(ErrorCode::UnsupportedSaslMechanism),
                    format!(
                        "the broker enables {:?} on this listener; set sasl.mechanism to one of them",
                        resp.mechanisms
                    ),
                ));
            }
            code => {
                return Err(fail(Some(code), "SaslHandshake was refused (is this a SASL listener?)".into()));
            }
        }
        let mut client = self.client().await.map_err(|m| fail(None, m))?;
        let mut msg = client.initial().map_err(|m| fail(None, m))?;
        // SCRAM takes two round trips, the others one; a broker asking for more is broken.
        for _ in 0..4 {
            let req = SaslAuthenticateRequest { auth_bytes: msg.into(), ..Default::default() };
            let resp = conn.send(&req).await?;
            let code = ErrorCode::from_code(resp.error_code);
            if code != ErrorCode::None {
                let message = resp
                    .error_message
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| code.description().to_string());
                return Err(fail(Some(code), message));
            }
            match client.on_challenge(&resp.auth_bytes).map_err(|m| fail(None, m))? {
                Some(next) => msg = next,
                None => {
                    let deadline = reauth_deadline(started, resp.session_lifetime_ms);
                    tracing::debug!(
                        mechanism = name,
                        session_lifetime_ms = resp.session_lifetime_ms,
                        "SASL authenticated"
                    );
                    return Ok(deadline);
                }
            }
        }
        Err(fail(None, "the broker kept the exchange going past the mechanism's last step".into()))
    }
}

/// A random point 85-95% into the session (Java's `ReauthenticationContext`), measured from
/// before the handshake was sent; `None` for no lifetime.
fn reauth_deadline(started: Instant, session_lifetime_ms: i64) -> Option<Instant> {
    if session_lifetime_ms <= 0 {
        return None;
    }
    let mut b = [0u8; 4];
    let unit = match getrandom::fill(&mut b) {
        Ok(()) => u32::from_le_bytes(b) as f64 / u32::MAX as f64,
        Err(_) => 0.0,
    };
    let ms = session_lifetime_ms as f64 * (0.85 + 0.10 * unit);
    Some(started + Duration::from_millis(ms as u64))
}

impl Authenticator for SaslAuthenticator {
    fn authenticate<'a>(&'a self, conn: &'a Connection) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.run(conn).await.map(|_| ()) })
    }

    fn authenticate_session<'a>(&'a self, conn: &'a Connection) -> BoxFuture<'a, Result<Option<Instant>>> {
        Box::pin(self.run(conn))
    }
}

#[cfg(test)]
mod tests;

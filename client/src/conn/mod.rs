//! Broker connections: setup (pluggable [`Transport`] and [`Authenticator`] stages), the
//! sans-IO ApiVersions [`Handshake`], and pipelined, cancellation-safe request/response.
//!
//! - `transport.rs`: the setup traits, [`TcpTransport`] (TCP_NODELAY, buffer sizes), [`NoAuth`].
//! - `tls.rs`: [`TlsTransport`] (rustls with ring) for `SSL` / `SASL_SSL`.
//! - `sasl/`: [`sasl::SaslAuthenticator`] (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and
//!   re-authentication deadlines (KIP-368).
//! - `handshake.rs`: ApiVersions negotiation with Kafka's UNSUPPORTED_VERSION fallback.
//! - `versions.rs`: [`ApiVersions`], the per-API version table.
//! - `inflight.rs`: correlation-id bookkeeping (pure).
//! - `io.rs`: the reader and writer tasks.

mod handshake;
mod inflight;
mod io;
pub mod sasl;
pub(crate) mod tls;
mod transport;
mod versions;

#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc, time::Duration};

use bytes::BytesMut;
use kafka_protocol::{
    ApiKey, Request, RequestHeader,
    frame::{DEFAULT_MAX_FRAME_SIZE, decode_response, encode_request},
};
use tokio::{sync::RwLock, time::Instant};
use tracing::Instrument;

pub use handshake::{Handshake, Step};
pub use tls::TlsTransport;
pub use transport::{AsyncStream, Authenticator, BoxFuture, BoxStream, NoAuth, TcpTransport, Transport};
pub use versions::{ApiVersions, client_versions};

use self::io::{IoOptions, Pipeline};
use crate::{
    config::{ClientConfig, SecurityProtocol, split_host_port},
    error::{BrokerRef, Error, Result},
    metrics::BrokerCounters,
};

/// The software name sent in ApiVersions v3+ (`client.software.name`).
pub const SOFTWARE_NAME: &str = "kafka-rust-sdk";
/// The software version sent in ApiVersions v3+ (`client.software.version`).
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How to set up and run one connection.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Sent in every request header (`client.id`).
    pub client_id: String,
    /// Default per-request timeout (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Bound on TCP connect + setup stages + handshake (`socket.connection.setup.timeout.ms`).
    pub setup_timeout: Duration,
    /// Close after this long with nothing in flight (`connections.max.idle.ms`).
    pub max_idle: Option<Duration>,
    /// Largest response frame accepted (the frame-size guard).
    pub max_frame_size: usize,
    /// Where the connection counts requests, bytes and latency; the pool sets its node's.
    pub counters: Option<Arc<BrokerCounters>>,
}

impl ConnectionOptions {
    /// Options from the client configuration.
    pub fn from_config(config: &ClientConfig) -> Self {
        ConnectionOptions {
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
            setup_timeout: config.socket_connection_setup_timeout,
            max_idle: config.connections_max_idle,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            counters: None,
        }
    }
}

/// Per-request overrides for [`Connection::send_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOptions {
    /// Send at this version instead of the highest common one (must be supported by both).
    pub version: Option<i16>,
    /// Wait this long instead of `request.timeout.ms` (e.g. a fetch long-poll or JoinGroup).
    pub timeout: Option<Duration>,
}

/// A negotiated connection to one broker. Cheap to clone; every clone shares the socket.
/// Requests are pipelined; dropping a request future is safe at any point.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Pipeline,
    versions: ApiVersions,
    client_id: String,
    request_timeout: Duration,
    /// Present for connections made with [`Connection::connect_with`].
    session: Option<Session>,
}

/// Re-authentication state (KIP-368).
///
/// Concurrency rules: every request except SaslHandshake / SaslAuthenticate holds a read guard
/// of `gate` from before it is queued until its response arrives; re-authentication holds the
/// write guard, so it starts once the requests in flight are answered and no other request is
/// written between its SASL frames (the broker reads them as the exchange). `reauth_at` (std
/// mutex, never held across an await) is written only under the write guard.
struct Session {
    auth: Arc<dyn Authenticator>,
    reauth_at: std::sync::Mutex<Option<Instant>>,
    gate: Arc<RwLock<()>>,
}

impl Session {
    fn deadline(&self) -> Option<Instant> {
        *self.reauth_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_deadline(&self, at: Option<Instant>) {
        *self.reauth_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    fn due(&self) -> bool {
        self.deadline().is_some_and(|at| Instant::now() >= at)
    }
}

fn is_sasl(api: ApiKey) -> bool {
    matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("broker", self.broker())
            .field("in_flight", &self.in_flight())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `broker` (its `addr` is `host:port`): the transport stage, the ApiVersions
    /// handshake, then the authenticator, all within `opts.setup_timeout`. A session deadline
    /// the authenticator returns is ignored (see [`Connection::connect_with`]).
    pub async fn connect(
        broker: BrokerRef,
        transport: &dyn Transport,
        auth: &dyn Authenticator,
        opts: &ConnectionOptions,
    ) -> Result<Connection> {
        Self::setup(broker, transport, auth, None, opts).await
    }

    /// [`Connection::connect`], keeping `auth` to re-authenticate the connection when its
    /// session deadline passes (KIP-368).
    pub async fn connect_with(
        broker: BrokerRef,
        transport: &dyn Transport,
        auth: Arc<dyn Authenticator>,
        opts: &ConnectionOptions,
    ) -> Result<Connection> {
        Self::setup(broker, transport, &*auth.clone(), Some(auth), opts).await
    }

    async fn setup(
        broker: BrokerRef,
        transport: &dyn Transport,
        auth: &dyn Authenticator,
        reauth: Option<Arc<dyn Authenticator>>,
        opts: &ConnectionOptions,
    ) -> Result<Connection> {
        let span = tracing::info_span!("kafka_conn", broker_id = broker.id, addr = %broker.addr);
        let setup = async {
            let (host, port) = split_host_port(&broker.addr)
                .map_err(|m| Error::config("broker address", format!("{}: {m}", broker.addr)))?;
            let stream = transport.connect(&broker, &host, port).await?;
            let io = IoOptions {
                max_frame_size: opts.max_frame_size,
                max_idle: opts.max_idle,
                counters: opts.counters.clone(),
            };
            let pipeline = Pipeline::spawn(stream, broker.clone(), io, tracing::Span::current());
            let versions = negotiate(&pipeline, &opts.client_id, opts.request_timeout).await?;
            let conn = Connection {
                inner: Arc::new(Inner {
                    pipeline,
                    versions,
                    client_id: opts.client_id.clone(),
                    request_timeout: opts.request_timeout,
                    session: reauth.map(|auth| Session {
                        auth,
                        reauth_at: std::sync::Mutex::new(None),
                        gate: Arc::new(RwLock::new(())),
                    }),
                }),
            };
            let deadline = auth.authenticate_session(&conn).await?;
            if let Some(s) = &conn.inner.session {
                s.set_deadline(deadline);
            }
            tracing::debug!("connection ready");
            Ok(conn)
        };
        match tokio::time::timeout(opts.setup_timeout, setup.instrument(span)).await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout { broker, timeout: opts.setup_timeout }),
        }
    }

    /// The broker at the other end.
    pub fn broker(&self) -> &BrokerRef {
        self.inner.pipeline.broker()
    }

    /// What the broker supports.
    pub fn api_versions(&self) -> &ApiVersions {
        &self.inner.versions
    }

    /// The version [`Connection::send`] uses for `api`, if the broker supports one we speak.
    pub fn version(&self, api: ApiKey) -> Option<i16> {
        self.inner.versions.version(api)
    }

    /// Whether the connection is closed (failed, idle-closed, timed out or closed by the user).
    pub fn is_closed(&self) -> bool {
        self.inner.pipeline.closed().is_some()
    }

    /// Why the connection closed, if it did.
    pub fn close_reason(&self) -> Option<Error> {
        self.inner.pipeline.closed()
    }

    /// Requests awaiting responses.
    pub fn in_flight(&self) -> usize {
        self.inner.pipeline.in_flight()
    }

    /// Closes the connection; requests in flight fail with [`Error::Disconnected`].
    pub fn close(&self) {
        let broker = self.broker().clone();
        self.inner.pipeline.close(Error::Disconnected { broker, reason: "closed by the client".into() });
    }

    /// Sends `req` at the highest version both sides support and awaits the response.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        self.send_with(req, RequestOptions::default()).await
    }

    /// Sends `req` with per-request overrides. On a connection whose session deadline has
    /// passed, re-authenticates first (see [`Authenticator::authenticate_session`]).
    pub async fn send_with<R: Request>(&self, req: &R, opts: RequestOptions) -> Result<R::Response> {
        let version = self.pick_version::<R>(opts.version)?;
        let timeout = opts.timeout.unwrap_or(self.inner.request_timeout);
        let _session = match &self.inner.session {
            Some(s) if !is_sasl(R::API_KEY) => {
                if s.due() {
                    self.reauthenticate().await?;
                }
                Some(s.gate.clone().read_owned().await)
            }
            _ => None,
        };
        round_trip(&self.inner.pipeline, &self.inner.client_id, req, version, timeout).await
    }

    /// When the session must be re-authenticated, if it has a lifetime.
    pub fn session_deadline(&self) -> Option<Instant> {
        self.inner.session.as_ref().and_then(Session::deadline)
    }

    /// Re-runs the authenticator under the write guard. In a task of its own, so that a
    /// dropped request future cannot stop the exchange between two SASL frames; a failure
    /// closes the connection (as in Java) and is returned.
    async fn reauthenticate(&self) -> Result<()> {
        let conn = self.clone();
        let task = tokio::spawn(async move {
            let Some(s) = &conn.inner.session else { return Ok(()) };
            let _write = s.gate.clone().write_owned().await;
            if !s.due() || conn.is_closed() {
                return Ok(());
            }
            tracing::debug!("session lifetime nearly over: re-authenticating (KIP-368)");
            match s.auth.authenticate_session(&conn).await {
                Ok(deadline) => {
                    s.set_deadline(deadline);
                    Ok(())
                }
                Err(e) => {
                    let reason = format!("re-authentication failed: {e}");
                    conn.inner.pipeline.close(Error::Disconnected { broker: conn.broker().clone(), reason });
                    Err(e)
                }
            }
        });
        task.await.unwrap_or_else(|_| {
            Err(Error::Disconnected {
                broker: self.broker().clone(),
                reason: "re-authentication task failed".into(),
            })
        })
    }

    /// Sends `req` without awaiting a response: only for requests the broker does not answer
    /// (Produce with `acks=0`). Such requests never start a re-authentication, and fail
    /// (retriably) while one is running.
    pub fn send_oneway<R: Request>(&self, req: &R, version: Option<i16>) -> Result<()> {
        let version = self.pick_version::<R>(version)?;
        let _session = match &self.inner.session {
            Some(s) => Some(s.gate.try_read().map_err(|_| Error::Disconnected {
                broker: self.broker().clone(),
                reason: "re-authentication (KIP-368) in progress; retry".into(),
            })?),
            None => None,
        };
        let broker = self.broker().clone();
        self.inner.pipeline.send_oneway(|id| encode(&self.inner.client_id, req, version, id, &broker))
    }

    fn pick_version<R: Request>(&self, wanted: Option<i16>) -> Result<i16> {
        let v = &self.inner.versions;
        match wanted {
            None => v.require(R::API_KEY, self.broker()),
            Some(w) if v.supports(R::API_KEY, w) => Ok(w),
            Some(_) => Err(Error::UnsupportedApi {
                api: R::API_KEY,
                broker: self.broker().clone(),
                client: client_versions(R::API_KEY),
                broker_range: v.broker_range(R::API_KEY),
            }),
        }
    }
}

fn encode<R: Request>(
    client_id: &str,
    req: &R,
    version: i16,
    id: i32,
    broker: &BrokerRef,
) -> Result<BytesMut> {
    let header = RequestHeader {
        request_api_key: R::API_KEY.key(),
        request_api_version: version,
        correlation_id: id,
        client_id: Some(client_id.to_string()),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    encode_request(&mut buf, &header, req).map_err(|source| Error::Protocol {
        api: Some(R::API_KEY),
        broker: broker.clone(),
        source,
    })?;
    Ok(buf)
}

async fn round_trip<R: Request>(
    pipeline: &Pipeline,
    client_id: &str,
    req: &R,
    version: i16,
    timeout: Duration,
) -> Result<R::Response> {
    let broker = pipeline.broker().clone();
    let span = tracing::debug_span!(
        "kafka_request",
        api = R::API_KEY.name(),
        version,
        correlation_id = tracing::field::Empty
    );
    let frame = pipeline
        .round_trip(R::API_KEY, timeout, |id| {
            span.record("correlation_id", id);
            encode(client_id, req, version, id, &broker)
        })
        .instrument(span.clone())
        .await?;
    decode_response::<R>(frame, version).map(|(_, body)| body).map_err(|source| Error::Protocol {
        api: Some(R::API_KEY),
        broker,
        source,
    })
}

/// The setup stages `config`'s `security.protocol` calls for: TCP or TLS, and no
/// authentication or SASL. OAUTHBEARER without `unsecuredLogin*` options needs `token_provider`.
pub fn security_stages(
    config: &ClientConfig,
    token_provider: Option<Arc<dyn sasl::OAuthBearerTokenProvider>>,
) -> Result<(Arc<dyn Transport>, Arc<dyn Authenticator>)> {
    let tcp = TcpTransport {
        send_buffer_bytes: config.send_buffer_bytes,
        receive_buffer_bytes: config.receive_buffer_bytes,
    };
    let transport: Arc<dyn Transport> = match (&config.ssl, config.security_protocol.uses_tls()) {
        (Some(ssl), true) => Arc::new(TlsTransport::new(tcp, ssl)?),
        (None, true) => {
            return Err(Error::config(
                "security.protocol",
                "TLS without ssl settings (build the config by parsing)",
            ));
        }
        (_, false) => Arc::new(tcp),
    };
    let auth: Arc<dyn Authenticator> = match (&config.sasl, config.security_protocol) {
        (Some(s), SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl) => {
            Arc::new(sasl::SaslAuthenticator::from_settings(s, token_provider)?)
        }
        (None, p) if p.uses_sasl() => {
            return Err(Error::config(
                "security.protocol",
                "SASL without sasl settings (build the config by parsing)",
            ));
        }
        _ => Arc::new(NoAuth),
    };
    Ok((transport, auth))
}

/// Drives the sans-IO [`Handshake`] over `pipeline`.
async fn negotiate(pipeline: &Pipeline, client_id: &str, timeout: Duration) -> Result<ApiVersions> {
    let mut hs = Handshake::new(pipeline.broker().clone(), SOFTWARE_NAME, SOFTWARE_VERSION);
    let mut step = hs.start();
    loop {
        match step {
            Step::Done(v) => return Ok(v),
            Step::Send { version, request } => {
                let broker = pipeline.broker().clone();
                let frame = pipeline
                    .round_trip(ApiKey::ApiVersions, timeout, |id| {
                        encode(client_id, &request, version, id, &broker)
                    })
                    .await?;
                step = hs.on_response(frame)?;
            }
        }
    }
}

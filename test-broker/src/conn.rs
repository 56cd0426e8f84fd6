//! One client connection: TLS handshake (if configured), then read a frame, check SASL
//! admission, decode, apply faults, dispatch, write the response. Requests on a connection are
//! handled one at a time, in order, as Kafka does (it mutes a channel until the response to its
//! current request is sent), so one stream serves both directions without splitting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::generated::ApiVersionsResponse;
use kafka_protocol::{ApiKey, ErrorCode, RequestKind, ResponseKind, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::Shared;
use crate::control::FaultAction;
use crate::handlers::sasl::SaslSession;
use crate::handlers::{self, Ctx};
use crate::state::{REQUEST_LOG_CAP, RequestRecord};

/// Why a connection ended early.
#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Frame(kafka_protocol::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read failed: {e}"),
            ReadError::Frame(e) => write!(f, "bad frame: {e}"),
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, ReadError> {
    loop {
        if let Some(n) = frame::frame_length(buf, max).map_err(ReadError::Frame)? {
            if buf.len() >= 4 + n {
                buf.advance(4);
                return Ok(Some(buf.split_to(n).freeze()));
            }
            buf.reserve(4 + n - buf.len());
        }
        let read = rd.read_buf(buf).await.map_err(ReadError::Io)?;
        if read == 0 {
            return Ok(None);
        }
    }
}

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest raw SASL token accepted after SaslHandshake v0 (Kafka's
/// `sasl.server.max.receive.size` default).
const MAX_RAW_SASL_TOKEN: usize = 524_288;

/// Accepts one connection: TLS first when the cluster has it, then [`serve`].
pub(crate) async fn accept(shared: Arc<Shared>, broker: i32, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    match shared.tls.clone() {
        None => serve(shared, broker, sock, peer).await,
        Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
            Ok(Ok(tls)) => serve(shared, broker, tls, peer).await,
            Ok(Err(e)) => tracing::debug!(broker, %peer, error = %e, "TLS handshake failed; closing"),
            Err(_) => tracing::debug!(broker, %peer, "TLS handshake timed out; closing"),
        },
    }
}

/// Serves one connection until the client closes it, a fault closes it, or a malformed frame
/// makes Kafka's behaviour (closing the connection) the only honest answer.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    broker: i32,
    mut sock: S,
    peer: SocketAddr,
) {
    let span = tracing::debug_span!("conn", broker, %peer);
    let _enter = span.enter();
    let mut sasl = shared.sasl.clone().map(SaslSession::new);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let max = if sasl.as_ref().is_some_and(SaslSession::expects_raw_token) {
            MAX_RAW_SASL_TOKEN
        } else {
            shared.max_frame_size
        };
        let frame = match read_frame(&mut sock, &mut buf, max).await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing connection");
                return;
            }
        };
        if let Some(session) = sasl.as_mut().filter(|s| s.expects_raw_token()) {
            // after SaslHandshake v0 the client sends bare SASL tokens, and so do we
            let Some(token) = session.raw_token(&frame, Instant::now()) else { return };
            let mut out = BytesMut::with_capacity(4 + token.len());
            out.extend_from_slice(&(token.len() as u32).to_be_bytes());
            out.extend_from_slice(&token);
            if sock.write_all(&out).await.is_err() {
                return;
            }
            continue;
        }
        if frame.len() < 8 {
            tracing::debug!("request shorter than a header; closing");
            return;
        }
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let Some(api) = ApiKey::from_key(key) else {
            tracing::debug!(key, "unknown API key; closing connection as Kafka does");
            return;
        };
        let Some(range) = handlers::supported_versions(api) else {
            tracing::debug!(api = api.name(), "API not served by the test broker; closing");
            return;
        };
        if let Some(Err(reason)) = sasl.as_ref().map(|s| s.admit(api, Instant::now())) {
            tracing::debug!(api = api.name(), reason, "closing connection (SASL)");
            return;
        }
        if !range.contains(version) {
            if api == ApiKey::ApiVersions {
                // KIP-511: answer at v0 with UNSUPPORTED_VERSION and our ranges
                let body = ApiVersionsResponse {
                    error_code: ErrorCode::UnsupportedVersion.code(),
                    api_keys: handlers::api_versions::advertised(),
                    ..Default::default()
                };
                let mut out = BytesMut::new();
                if frame::encode_response_kind(&mut out, correlation_id, 0, &ResponseKind::ApiVersions(body))
                    .is_ok()
                    && sock.write_all(&out).await.is_err()
                {
                    return;
                }
                continue;
            }
            tracing::debug!(api = api.name(), version, "unsupported version; closing");
            return;
        }
        let (header, request) = match frame::decode_request(frame) {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(api = api.name(), version, error = %e, "malformed request; closing");
                return;
            }
        };
        {
            let mut st = shared.state();
            if st.request_log.len() >= REQUEST_LOG_CAP {
                st.request_log.drain(..REQUEST_LOG_CAP / 2);
            }
            st.request_log.push(RequestRecord {
                broker,
                api_key: key,
                api_version: version,
                client_id: header.client_id.clone(),
                correlation_id,
            });
        }
        let fault = shared.faults().take(api, broker, &request);
        let mut drop_response = false;
        let forced_error = match fault {
            Some(FaultAction::CloseConnection) => return,
            Some(FaultAction::Delay(d)) => {
                tokio::time::sleep(d).await;
                None
            }
            Some(FaultAction::DropResponse) => {
                drop_response = true;
                None
            }
            Some(FaultAction::Error(code)) => Some(code),
            None => None,
        };
        let ctx = Ctx { shared: &shared, broker, version, header: &header };
        let mut close_after = false;
        let response = match (forced_error, request, sasl.as_mut()) {
            (Some(code), request, _) => match handlers::error_response(&ctx, &request, code) {
                Some(r) => Some(r),
                // an API without an error builder: the connection closes (as logged) rather
                // than leaving the client waiting for its request timeout
                None => return,
            },
            (None, RequestKind::SaslHandshake(r), Some(session)) => {
                let (resp, close) = session.handshake(version, &r);
                close_after = close;
                Some(ResponseKind::SaslHandshake(resp))
            }
            (None, RequestKind::SaslAuthenticate(r), Some(session)) => {
                let (resp, close) = session.authenticate(&r, Instant::now());
                close_after = close;
                Some(ResponseKind::SaslAuthenticate(resp))
            }
            (None, request, _) => handlers::dispatch(&ctx, request).await,
        };
        let Some(response) = response else { continue };
        if drop_response {
            continue;
        }
        let mut out = BytesMut::new();
        if let Err(e) = frame::encode_response_kind(&mut out, correlation_id, version, &response) {
            tracing::error!(api = api.name(), version, error = %e, "cannot encode response (a test-broker bug)");
            return;
        }
        if sock.write_all(&out).await.is_err() {
            return;
        }
        if close_after {
            let _ = sock.shutdown().await;
            return;
        }
    }
}

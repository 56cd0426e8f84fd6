//! One client connection: read a frame, decode, apply faults, dispatch, write the response.
//! Requests on a connection are handled one at a time, in order, as Kafka does (it mutes a
//! channel until the response to its current request is sent).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::generated::ApiVersionsResponse;
use kafka_protocol::{ApiKey, ErrorCode, ResponseKind, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use crate::cluster::Shared;
use crate::control::FaultAction;
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

async fn read_frame(
    rd: &mut OwnedReadHalf,
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

/// Serves one connection until the client closes it, a fault closes it, or a malformed frame
/// makes Kafka's behaviour (closing the connection) the only honest answer.
pub(crate) async fn serve(shared: Arc<Shared>, broker: i32, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let span = tracing::debug_span!("conn", broker, %peer);
    let _enter = span.enter();
    let (mut rd, mut wr) = sock.into_split();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = match read_frame(&mut rd, &mut buf, shared.max_frame_size).await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing connection");
                return;
            }
        };
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
                    && wr.write_all(&out).await.is_err()
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
        let response = match forced_error {
            Some(code) => handlers::error_response(&ctx, &request, code),
            None => handlers::dispatch(&ctx, request).await,
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
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
}

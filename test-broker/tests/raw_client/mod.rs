//! A minimal client for the broker tests: one TCP connection, typed requests encoded and
//! responses decoded with kafka-protocol, one request at a time.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::{Request, RequestHeader, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Any byte stream (TCP, TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct RawClient {
    stream: Box<dyn Stream>,
    correlation: i32,
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawClient::over(stream))
    }

    /// A client over an already connected stream (e.g. TLS).
    pub fn over(stream: impl Stream + 'static) -> Self {
        RawClient { stream: Box::new(stream), correlation: 0 }
    }

    /// Sends a request at `version` without waiting for a response; returns its correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, body: &R) -> i32 {
        self.correlation += 1;
        let header = RequestHeader {
            request_api_key: R::API_KEY.key(),
            request_api_version: version,
            correlation_id: self.correlation,
            client_id: Some("raw-test".into()),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        frame::encode_request(&mut buf, &header, body).expect("encode");
        self.stream.write_all(&buf).await.expect("write");
        self.correlation
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response frame body, or None when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.ok()?;
        let n = i32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }

    /// Reads the response to a request of type R at `version`.
    pub async fn recv<R: Request>(&mut self, version: i16) -> R::Response {
        let frame = self.read_frame().await.expect("connection closed");
        let (_, body) = frame::decode_response::<R>(frame, version).expect("decode response");
        body
    }

    /// Sends and waits for the response.
    pub async fn call<R: Request>(&mut self, version: i16, body: &R) -> R::Response {
        self.send(version, body).await;
        self.recv::<R>(version).await
    }

    /// Whether the broker has closed the connection (reads EOF within a second).
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

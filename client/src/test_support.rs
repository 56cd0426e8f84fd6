//! Test-only fake brokers built from `kafka-protocol`: a TCP one on 127.0.0.1:0 and an
//! in-memory [`Transport`] (tokio duplex pipes) for tests on paused time.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::{Buf, BytesMut};
use kafka_protocol::{
    ApiKey, RequestHeader, RequestKind, Response,
    frame::{decode_request, encode_response},
    generated::{ApiVersionsResponse, api_versions_response::ApiVersion},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

use crate::{
    conn::{BoxFuture, BoxStream, Transport},
    error::{BrokerRef, Error, Result},
};

type Handler = Arc<dyn Fn(FakeConn) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One accepted connection, scripted by the test.
pub(crate) struct FakeConn {
    stream: BoxStream,
    buf: BytesMut,
}

impl FakeConn {
    /// A scripted connection over `stream` (e.g. a TLS stream a test accepted).
    pub(crate) fn new(stream: BoxStream) -> FakeConn {
        FakeConn { stream, buf: BytesMut::new() }
    }

    /// Reads one request; `None` when the client closed the connection.
    pub(crate) async fn read_request(&mut self) -> Option<(RequestHeader, RequestKind)> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(len).freeze();
                    return Some(decode_request(frame).expect("client sent a malformed request"));
                }
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Writes `body` as the response to `header` (at the request's version).
    pub(crate) async fn respond<R: Response>(&mut self, header: &RequestHeader, body: &R) {
        let mut out = BytesMut::new();
        encode_response(&mut out, header.correlation_id, header.request_api_version, body).unwrap();
        self.write_raw(&out).await;
    }

    /// Writes raw bytes.
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// Answers the client's ApiVersions request with every API at the codec's full range.
    pub(crate) async fn handshake(&mut self) -> RequestHeader {
        self.handshake_with(full_api_versions()).await
    }

    /// Answers the client's ApiVersions request with `resp`.
    pub(crate) async fn handshake_with(&mut self, resp: ApiVersionsResponse) -> RequestHeader {
        let (h, req) = self.read_request().await.expect("expected ApiVersions");
        assert!(matches!(req, RequestKind::ApiVersions(_)), "expected ApiVersions, got {req:?}");
        self.respond(&h, &resp).await;
        h
    }
}

/// Every API this codec knows, at its full version range.
pub(crate) fn full_api_versions() -> ApiVersionsResponse {
    api_versions(ApiKey::ALL.iter().map(|k| (*k, k.versions().min, k.versions().max)))
}

/// An ApiVersions response advertising these ranges.
pub(crate) fn api_versions(ranges: impl IntoIterator<Item = (ApiKey, i16, i16)>) -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ranges
            .into_iter()
            .map(|(k, min, max)| ApiVersion {
                api_key: k.key(),
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(FakeConn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |c| Box::pin(f(c)))
}

/// A fake broker listening on 127.0.0.1:0; each accepted connection runs the script.
pub(crate) struct FakeBroker {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBroker {
    pub(crate) async fn start<F, Fut>(script: F) -> FakeBroker
    where
        F: Fn(FakeConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let h = handler(script);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(h(FakeConn { stream: Box::new(stream), buf: BytesMut::new() }));
            }
        });
        FakeBroker { addr, task }
    }

    pub(crate) fn broker_ref(&self, id: i32) -> BrokerRef {
        BrokerRef { id, addr: self.addr.to_string() }
    }
}

/// An in-memory [`Transport`]: each connect spawns the script on the far end of a duplex
/// pipe. Addresses listed in `refuse` fail to connect, like a down broker.
#[derive(Clone)]
pub(crate) struct MemTransport {
    script: Handler,
    pub(crate) connects: Arc<AtomicUsize>,
    pub(crate) dialled: Arc<Mutex<Vec<String>>>,
    pub(crate) refuse: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for MemTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemTransport")
    }
}

impl MemTransport {
    pub(crate) fn new<F, Fut>(script: F) -> MemTransport
    where
        F: Fn(FakeConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        MemTransport {
            script: handler(script),
            connects: Arc::default(),
            dialled: Arc::default(),
            refuse: Arc::default(),
        }
    }
}

impl Transport for MemTransport {
    fn connect<'a>(
        &'a self,
        broker: &'a BrokerRef,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<BoxStream>> {
        Box::pin(async move {
            let addr = format!("{host}:{port}");
            self.dialled.lock().unwrap().push(addr.clone());
            if self.refuse.lock().unwrap().contains(&addr) {
                let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
                return Err(Error::io(broker, e));
            }
            self.connects.fetch_add(1, Ordering::SeqCst);
            let (client, server) = tokio::io::duplex(1 << 20);
            let conn = FakeConn { stream: Box::new(server), buf: BytesMut::new() };
            tokio::spawn((self.script)(conn));
            Ok(Box::new(client) as BoxStream)
        })
    }
}

//! Connection tests against a fake broker on 127.0.0.1:0.

use std::time::Duration;

use kafka_protocol::{
    ApiKey, ErrorCode, RequestKind,
    generated::{
        ApiVersionsResponse, FetchRequest, MetadataRequest, MetadataResponse, ProduceRequest,
        metadata_request::MetadataRequestTopic, metadata_response::MetadataResponseTopic,
    },
};
use tokio::sync::mpsc;

use super::*;
use crate::test_support::{FakeBroker, FakeConn, api_versions, full_api_versions};

fn opts() -> ConnectionOptions {
    ConnectionOptions {
        client_id: "test-client".into(),
        request_timeout: Duration::from_secs(10),
        setup_timeout: Duration::from_secs(10),
        max_idle: None,
        max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        counters: None,
    }
}

async fn connect(b: &FakeBroker, o: &ConnectionOptions) -> Result<Connection> {
    Connection::connect(b.broker_ref(1), &TcpTransport::default(), &NoAuth, o).await
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some(topic.into()), ..Default::default() }]),
        ..Default::default()
    }
}

fn topic_of(req: &RequestKind) -> String {
    match req {
        RequestKind::Metadata(m) => m.topics.as_ref().unwrap()[0].name.clone().unwrap(),
        other => panic!("expected Metadata, got {other:?}"),
    }
}

fn metadata_echo(topic: &str) -> MetadataResponse {
    MetadataResponse {
        topics: vec![MetadataResponseTopic { name: Some(topic.into()), ..Default::default() }],
        ..Default::default()
    }
}

/// Bounds a test step so a hang fails fast instead of stalling the suite.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), f).await.expect("test step hung")
}

#[tokio::test]
async fn handshake_sends_highest_api_versions_and_negotiates() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let b = FakeBroker::start(move |mut c: FakeConn| {
        let tx = tx.clone();
        async move {
            let (h, req) = c.read_request().await.unwrap();
            tx.send((h.clone(), req)).unwrap();
            let mut resp = full_api_versions();
            resp.api_keys.retain(|k| k.api_key != ApiKey::Metadata.key());
            resp.api_keys.extend(api_versions([(ApiKey::Metadata, 0, 7)]).api_keys);
            c.respond(&h, &resp).await;
            while let Some((h, req)) = c.read_request().await {
                c.respond(&h, &metadata_echo(&topic_of(&req))).await;
            }
        }
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    let (h, req) = rx.recv().await.unwrap();
    assert_eq!(h.request_api_version, client_versions(ApiKey::ApiVersions).max);
    assert_eq!(h.client_id.as_deref(), Some("test-client"));
    let RequestKind::ApiVersions(av) = req else { panic!() };
    assert_eq!(
        (av.client_software_name.as_str(), av.client_software_version.as_str()),
        (SOFTWARE_NAME, SOFTWARE_VERSION)
    );
    assert_eq!(conn.version(ApiKey::Metadata), Some(7), "min of ours and the broker's");
    let resp = within(conn.send(&metadata_for("t"))).await.unwrap();
    assert_eq!(resp.topics[0].name.as_deref(), Some("t"));
}

#[tokio::test]
async fn api_versions_unsupported_version_falls_back() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let b = FakeBroker::start(move |mut c: FakeConn| {
        let tx = tx.clone();
        async move {
            // An old broker: ApiVersions 0..=2 only, and the v0 UNSUPPORTED_VERSION reply.
            loop {
                let (h, _) = c.read_request().await.unwrap();
                tx.send(h.request_api_version).unwrap();
                if h.request_api_version > 2 {
                    let reject = ApiVersionsResponse {
                        error_code: ErrorCode::UnsupportedVersion.code(),
                        ..api_versions([(ApiKey::ApiVersions, 0, 2)])
                    };
                    let mut h0 = h.clone();
                    h0.request_api_version = 0;
                    c.respond(&h0, &reject).await;
                } else {
                    c.respond(&h, &api_versions([(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 4)]))
                        .await;
                    break;
                }
            }
            while let Some((h, req)) = c.read_request().await {
                c.respond(&h, &metadata_echo(&topic_of(&req))).await;
            }
        }
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    assert_eq!(rx.recv().await, Some(client_versions(ApiKey::ApiVersions).max));
    assert_eq!(rx.recv().await, Some(2), "retried at the broker's highest ApiVersions version");
    assert_eq!(conn.version(ApiKey::Metadata), Some(4));
    assert_eq!(within(conn.send(&metadata_for("x"))).await.unwrap().topics[0].name.as_deref(), Some("x"));
    // An API the broker lacks is a clear error naming it, not a request on the wire.
    let e = conn.send(&FetchRequest::default()).await.unwrap_err();
    assert!(matches!(e, Error::UnsupportedApi { api: ApiKey::Fetch, broker_range: None, .. }), "{e}");
    assert!(e.to_string().contains("Fetch"), "{e}");
}

#[tokio::test]
async fn pipelined_requests_each_get_their_own_response() {
    const N: usize = 8;
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        // Read all N before answering any: only a pipelining client gets past this.
        let mut reqs = Vec::new();
        for _ in 0..N {
            reqs.push(c.read_request().await.unwrap());
        }
        for (h, req) in &reqs {
            c.respond(h, &metadata_echo(&topic_of(req))).await;
        }
        // Second round answered in reverse: matching is by correlation id, not by order.
        let mut reqs = Vec::new();
        for _ in 0..N {
            reqs.push(c.read_request().await.unwrap());
        }
        for (h, req) in reqs.iter().rev() {
            c.respond(h, &metadata_echo(&topic_of(req))).await;
        }
        while c.read_request().await.is_some() {}
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    for round in 0..2 {
        let futs = (0..N).map(|i| {
            let conn = conn.clone();
            async move { (i, conn.send(&metadata_for(&format!("r{round}-t{i}"))).await) }
        });
        for (i, r) in within(futures::future::join_all(futs)).await {
            assert_eq!(r.unwrap().topics[0].name, Some(format!("r{round}-t{i}")));
        }
    }
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test]
async fn dropped_request_future_does_not_corrupt_the_next_request() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let b = FakeBroker::start(move |mut c: FakeConn| {
        let seen = seen_tx.clone();
        async move {
            c.handshake().await;
            // Both requests must decode: a half-written first frame would break the second.
            let (h1, r1) = c.read_request().await.unwrap();
            seen.send(topic_of(&r1).len()).unwrap();
            let (h2, r2) = c.read_request().await.unwrap();
            seen.send(topic_of(&r2).len()).unwrap();
            // The late response to the dropped request comes first and must be discarded.
            c.respond(&h1, &metadata_echo("late")).await;
            c.respond(&h2, &metadata_echo(&topic_of(&r2))).await;
            while c.read_request().await.is_some() {}
        }
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    // A multi-megabyte request, dropped right after its first poll (its frame is queued, the
    // writer may be part-way through it).
    let big = "x".repeat(4 << 20);
    {
        let req = metadata_for(&big);
        let fut = conn.send(&req);
        tokio::pin!(fut);
        assert!(futures::poll!(fut.as_mut()).is_pending());
    }
    let resp = within(conn.send(&metadata_for("small"))).await.unwrap();
    assert_eq!(resp.topics[0].name.as_deref(), Some("small"));
    assert_eq!(seen_rx.recv().await, Some(big.len()));
    assert_eq!(seen_rx.recv().await, Some(5));
    assert!(!conn.is_closed(), "a discarded late response is not a protocol error");
}

#[tokio::test]
async fn tls_alert_reply_fails_connect_at_once() {
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        let _ = c.read_request().await;
        // A TLS listener's answer to plaintext: a fatal alert record.
        c.write_raw(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let o = ConnectionOptions { request_timeout: Duration::from_secs(60), ..opts() };
    let e = within(connect(&b, &o)).await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e}");
    assert!(e.to_string().contains("TLS alert"), "{e}");
}

#[tokio::test]
async fn request_timeout_fails_the_request_and_closes_the_connection() {
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        while c.read_request().await.is_some() {} // never answers
    })
    .await;
    let o = ConnectionOptions { request_timeout: Duration::from_millis(200), ..opts() };
    let conn = within(connect(&b, &o)).await.unwrap();
    let e = within(conn.send(&metadata_for("t"))).await.unwrap_err();
    assert!(matches!(e, Error::RequestTimeout { api: ApiKey::Metadata, .. }), "{e}");
    assert!(e.is_retriable());
    assert!(conn.is_closed());
    // A per-request override is honoured too (and fails at once on the closed connection).
    let req = metadata_for("t");
    let e = conn.send_with(&req, RequestOptions { timeout: Some(Duration::from_secs(9)), version: None });
    assert!(matches!(within(e).await.unwrap_err(), Error::Disconnected { .. }));
}

#[tokio::test]
async fn broker_closing_the_socket_fails_every_waiter() {
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        for _ in 0..3 {
            c.read_request().await.unwrap();
        }
        // drop: the socket closes with three requests unanswered
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    let futs = (0..3).map(|i| {
        let conn = conn.clone();
        async move { conn.send(&metadata_for(&format!("t{i}"))).await }
    });
    for r in within(futures::future::join_all(futs)).await {
        let e = r.unwrap_err();
        assert!(matches!(e, Error::Disconnected { .. }), "{e}");
        assert!(e.to_string().contains("closed by the broker"), "{e}");
    }
    assert!(conn.is_closed());
    let e = within(conn.send(&metadata_for("after"))).await.unwrap_err();
    assert!(matches!(e, Error::Disconnected { .. }), "new requests fail at once: {e}");
}

#[tokio::test]
async fn unexpected_correlation_id_kills_the_connection() {
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        let (mut h, _) = c.read_request().await.unwrap();
        h.correlation_id += 1000;
        c.respond(&h, &MetadataResponse::default()).await;
        while c.read_request().await.is_some() {}
    })
    .await;
    let conn = within(connect(&b, &opts())).await.unwrap();
    let e = within(conn.send(&metadata_for("t"))).await.unwrap_err();
    assert!(e.to_string().contains("unexpected correlation id"), "{e}");
}

#[tokio::test]
async fn idle_connections_close_after_max_idle() {
    let b = FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        while let Some((h, req)) = c.read_request().await {
            if !matches!(req, RequestKind::Produce(_)) {
                c.respond(&h, &metadata_echo(&topic_of(&req))).await;
            }
        }
    })
    .await;
    let o = ConnectionOptions { max_idle: Some(Duration::from_millis(300)), ..opts() };
    let conn = within(connect(&b, &o)).await.unwrap();
    // Traffic keeps it open past one idle period.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        within(conn.send(&metadata_for("t"))).await.unwrap();
    }
    assert!(!conn.is_closed());
    // Requests without responses (acks=0 produce) count as traffic too.
    let produce = ProduceRequest { acks: 0, ..Default::default() };
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        conn.send_oneway(&produce, None).unwrap();
    }
    assert!(!conn.is_closed(), "{:?}", conn.close_reason());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(conn.is_closed());
    assert!(conn.close_reason().unwrap().to_string().contains("connections.max.idle.ms"));
}

#[tokio::test]
async fn connect_setup_timeout_and_refused_connection() {
    // A broker that accepts but never answers ApiVersions.
    let b =
        FakeBroker::start(|mut c: FakeConn| async move { while c.read_request().await.is_some() {} }).await;
    let o = ConnectionOptions { setup_timeout: Duration::from_millis(200), ..opts() };
    let e = within(connect(&b, &o)).await.unwrap_err();
    assert!(matches!(e, Error::ConnectTimeout { .. }), "{e}");
    let addr = b.addr;
    drop(b);
    tokio::task::yield_now().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let e = within(Connection::connect(
        BrokerRef { id: 2, addr: closed.to_string() },
        &TcpTransport::default(),
        &NoAuth,
        &opts(),
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e} ({addr})");
}

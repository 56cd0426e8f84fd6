//! The SASL driver against scripted brokers: handshake and authenticate frames, broker errors
//! surfacing with their message, and re-authentication past the session deadline (KIP-368).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use kafka_protocol::{
    RequestKind,
    generated::{MetadataRequest, MetadataResponse, SaslAuthenticateResponse, SaslHandshakeResponse},
};

use super::*;
use crate::{
    conn::{ConnectionOptions, TcpTransport},
    error::BrokerRef,
    test_support::{FakeConn, MemTransport},
};

fn opts() -> ConnectionOptions {
    ConnectionOptions {
        client_id: "sasl-test".into(),
        request_timeout: Duration::from_secs(5),
        setup_timeout: Duration::from_secs(5),
        max_idle: None,
        max_frame_size: 1 << 20,
        counters: None,
    }
}

fn broker() -> BrokerRef {
    BrokerRef { id: 1, addr: "b:9092".into() }
}

/// A broker that takes PLAIN for `alice` / `alice-secret`, grants `lifetime_ms` sessions and
/// answers Metadata, recording every request's API name.
fn plain_broker(lifetime_ms: i64, log: Arc<Mutex<Vec<&'static str>>>) -> MemTransport {
    MemTransport::new(move |mut c: FakeConn| {
        let log = log.clone();
        async move {
            c.handshake().await;
            while let Some((h, req)) = c.read_request().await {
                log.lock()
                    .unwrap()
                    .push(ApiKey::from_key(h.request_api_key).map(|k| k.name()).unwrap_or("?"));
                match req {
                    RequestKind::SaslHandshake(r) => {
                        let code = if r.mechanism == "PLAIN" {
                            0
                        } else {
                            ErrorCode::UnsupportedSaslMechanism.code()
                        };
                        let resp = SaslHandshakeResponse {
                            error_code: code,
                            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-512".into()],
                            ..Default::default()
                        };
                        c.respond(&h, &resp).await;
                    }
                    RequestKind::SaslAuthenticate(r) => {
                        let ok = &r.auth_bytes[..] == b"\0alice\0alice-secret";
                        let resp = SaslAuthenticateResponse {
                            error_code: if ok { 0 } else { ErrorCode::SaslAuthenticationFailed.code() },
                            error_message: (!ok)
                                .then(|| "Authentication failed: Invalid username or password".into()),
                            session_lifetime_ms: lifetime_ms,
                            ..Default::default()
                        };
                        c.respond(&h, &resp).await;
                    }
                    RequestKind::Metadata(_) => c.respond(&h, &MetadataResponse::default()).await,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    })
}

async fn connect(t: &MemTransport, auth: SaslAuthenticator) -> Result<Connection> {
    Connection::connect_with(broker(), t, Arc::new(auth), &opts()).await
}

#[tokio::test]
async fn plain_authenticates_after_api_versions() {
    let log = Arc::default();
    let t = plain_broker(0, Arc::clone(&log));
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "alice", "alice-secret").unwrap();
    let conn = connect(&t, auth).await.unwrap();
    conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["SaslHandshake", "SaslAuthenticate", "Metadata"]);
    assert_eq!(conn.session_deadline(), None, "no lifetime, no re-authentication");
}

#[tokio::test]
async fn wrong_password_and_unknown_mechanism_fail_naming_broker_and_cause() {
    let t = plain_broker(0, Arc::default());
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "alice", "wrong").unwrap();
    let e = connect(&t, auth).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::SaslAuthenticationFailed));
    assert!(matches!(&e, Error::Authentication { .. }), "{e}");
    let s = e.to_string();
    assert!(s.contains("PLAIN") && s.contains("b:9092") && s.contains("Invalid username or password"), "{s}");
    assert!(!e.is_retriable() && !s.contains("wrong"), "{s}");

    let auth = SaslAuthenticator::with_password(SaslMechanism::ScramSha256, "alice", "x").unwrap();
    let s = connect(&t, auth).await.unwrap_err().to_string();
    assert!(s.contains("UNSUPPORTED_SASL_MECHANISM") && s.contains("[\"PLAIN\", \"SCRAM-SHA-512\"]"), "{s}");
}

#[tokio::test]
async fn debug_output_hides_the_password() {
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "alice", "hunter2").unwrap();
    let d = format!("{auth:?}");
    assert!(d.contains("alice") && !d.contains("hunter2"), "{d}");
}

#[tokio::test(start_paused = true)]
async fn reauthenticates_before_the_first_request_past_the_deadline() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = plain_broker(10_000, Arc::clone(&log));
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "alice", "alice-secret").unwrap();
    let start = Instant::now();
    let conn = connect(&t, auth).await.unwrap();
    let deadline = conn.session_deadline().expect("a session lifetime sets a deadline");
    assert!(
        deadline >= start + Duration::from_millis(8_500) && deadline <= start + Duration::from_millis(9_500)
    );
    conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 3);
    tokio::time::sleep(Duration::from_millis(9_600)).await;
    conn.send(&MetadataRequest::default()).await.unwrap();
    assert_eq!(
        log.lock().unwrap()[3..],
        ["SaslHandshake", "SaslAuthenticate", "Metadata"],
        "re-authenticated on the same connection first"
    );
    assert!(conn.session_deadline().unwrap() > deadline, "a new session");
    assert!(!conn.is_closed());
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_wait_for_one_reauthentication() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = plain_broker(10_000, Arc::clone(&log));
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "alice", "alice-secret").unwrap();
    let conn = connect(&t, auth).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let req = MetadataRequest::default();
    let sends = (0..5).map(|_| conn.send(&req));
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
    let log = log.lock().unwrap();
    assert_eq!(log.iter().filter(|a| **a == "SaslHandshake").count(), 2, "{log:?}");
    // Nothing is written between the re-authentication's two frames.
    let i = log.iter().rposition(|a| *a == "SaslHandshake").unwrap();
    assert_eq!(log[i + 1], "SaslAuthenticate", "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn failed_reauthentication_closes_the_connection() {
    let calls = Arc::new(Mutex::new(0));
    let calls2 = calls.clone();
    let t = MemTransport::new(move |mut c: FakeConn| {
        let calls = calls2.clone();
        async move {
            c.handshake().await;
            while let Some((h, req)) = c.read_request().await {
                match req {
                    RequestKind::SaslHandshake(_) => c.respond(&h, &SaslHandshakeResponse::default()).await,
                    RequestKind::SaslAuthenticate(_) => {
                        let n = {
                            let mut n = calls.lock().unwrap();
                            *n += 1;
                            *n
                        };
                        let resp = SaslAuthenticateResponse {
                            error_code: if n == 1 { 0 } else { ErrorCode::SaslAuthenticationFailed.code() },
                            error_message: Some("credentials revoked".into()),
                            session_lifetime_ms: 1_000,
                            ..Default::default()
                        };
                        c.respond(&h, &resp).await;
                    }
                    _ => c.respond(&h, &MetadataResponse::default()).await,
                }
            }
        }
    });
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "a", "b").unwrap();
    let conn = connect(&t, auth).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let e = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(e.to_string().contains("credentials revoked"), "{e}");
    assert!(conn.is_closed());
}

#[tokio::test]
async fn oauthbearer_sends_the_providers_token() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let t = MemTransport::new(move |mut c: FakeConn| {
        let seen = seen2.clone();
        async move {
            c.handshake().await;
            while let Some((h, req)) = c.read_request().await {
                match req {
                    RequestKind::SaslHandshake(r) => {
                        assert_eq!(r.mechanism, "OAUTHBEARER");
                        c.respond(&h, &SaslHandshakeResponse::default()).await
                    }
                    RequestKind::SaslAuthenticate(r) => {
                        seen.lock().unwrap().push(r.auth_bytes.to_vec());
                        c.respond(&h, &SaslAuthenticateResponse::default()).await
                    }
                    _ => {}
                }
            }
        }
    });
    let conn =
        connect(&t, SaslAuthenticator::oauthbearer(Arc::new(UnsecuredJws::new("alice")))).await.unwrap();
    assert!(!conn.is_closed());
    let msg = String::from_utf8(seen.lock().unwrap()[0].clone()).unwrap();
    assert!(
        msg.starts_with("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.") && msg.ends_with("\x01\x01"),
        "{msg:?}"
    );
}

#[tokio::test]
async fn sasl_on_a_tcp_listener_that_is_not_sasl_fails_fast() {
    // A real TCP fake broker that refuses the handshake like a PLAINTEXT listener does.
    let b = crate::test_support::FakeBroker::start(|mut c: FakeConn| async move {
        c.handshake().await;
        while let Some((h, _)) = c.read_request().await {
            let resp = SaslHandshakeResponse {
                error_code: ErrorCode::IllegalSaslState.code(),
                ..Default::default()
            };
            c.respond(&h, &resp).await;
        }
    })
    .await;
    let auth = SaslAuthenticator::with_password(SaslMechanism::Plain, "a", "b").unwrap();
    let e = Connection::connect_with(b.broker_ref(1), &TcpTransport::default(), Arc::new(auth), &opts())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ILLEGAL_SASL_STATE") && e.to_string().contains("SASL listener"), "{e}");
}

#[tokio::test]
async fn oauthbearer_without_a_token_source_fails_every_connect_with_the_reason() {
    let config = crate::ClientConfig::builder()
        .bootstrap_servers(["127.0.0.1:1"])
        .security_protocol(crate::config::SecurityProtocol::SaslPlaintext)
        .set("sasl.mechanism", "OAUTHBEARER")
        .build()
        .unwrap();
    let pool = crate::NetworkClient::new(config);
    let e = pool.connection(-1, crate::Purpose::Admin).await.unwrap_err();
    assert!(e.to_string().contains("OAuthBearerTokenProvider"), "{e}");
}

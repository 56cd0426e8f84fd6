//! SASL (PLAIN, SCRAM-SHA-256/512) over real TCP connections: admission before
//! authentication, failures, KIP-368 session lifetime and re-authentication, v0 raw tokens.
//! The SCRAM client side here is written independently of the broker's, from RFC 5802.

mod raw_client;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_test_broker::TestCluster;
use raw_client::RawClient;
use sha2::{Digest, Sha256, Sha512};

async fn sasl_cluster(lifetime: Option<Duration>) -> TestCluster {
    let mut b = TestCluster::builder().sasl_user("alice", "alice-secret").sasl_user("bob", "bob-secret");
    if let Some(l) = lifetime {
        b = b.sasl_session_lifetime(l);
    }
    b.start().await.unwrap()
}

async fn connect(cluster: &TestCluster) -> RawClient {
    RawClient::connect(cluster.broker_addr(1).unwrap()).await.unwrap()
}

async fn handshake(c: &mut RawClient, version: i16, mechanism: &str) -> SaslHandshakeResponse {
    c.call(version, &SaslHandshakeRequest { mechanism: mechanism.into(), ..Default::default() }).await
}

async fn authenticate(c: &mut RawClient, version: i16, token: &[u8]) -> SaslAuthenticateResponse {
    c.call(version, &SaslAuthenticateRequest { auth_bytes: token.to_vec().into(), ..Default::default() })
        .await
}

async fn plain(c: &mut RawClient, user: &str, password: &str) -> SaslAuthenticateResponse {
    let h = handshake(c, 1, "PLAIN").await;
    assert_eq!(h.error_code, 0);
    authenticate(c, 2, format!("\0{user}\0{password}").as_bytes()).await
}

async fn metadata_works(c: &mut RawClient) {
    let r = c.call(12, &MetadataRequest { topics: Some(vec![]), ..Default::default() }).await;
    assert_eq!(r.brokers.len(), 1);
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).unwrap();
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }
    fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
    fn salted(self, password: &str, salt: &[u8], i: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, i).to_vec(),
            Hash::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), salt, i).to_vec(),
        }
    }
}

/// Runs a SCRAM exchange over SaslAuthenticate v`version`; returns the final response (or the
/// failing one).
async fn scram(
    c: &mut RawClient,
    hash: Hash,
    version: i16,
    user: &str,
    password: &str,
) -> SaslAuthenticateResponse {
    let mechanism = match hash {
        Hash::Sha256 => "SCRAM-SHA-256",
        Hash::Sha512 => "SCRAM-SHA-512",
    };
    assert_eq!(handshake(c, 1, mechanism).await.error_code, 0);
    let client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
    let first_bare = format!("n={user},r={client_nonce}");
    let r = authenticate(c, version, format!("n,,{first_bare}").as_bytes()).await;
    if r.error_code != 0 {
        return r;
    }
    let server_first = String::from_utf8(r.auth_bytes.to_vec()).unwrap();
    let mut attrs = server_first.split(',');
    let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap().to_owned();
    let salt = STANDARD.decode(attrs.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
    let iterations: u32 = attrs.next().unwrap().strip_prefix("i=").unwrap().parse().unwrap();
    assert!(nonce.starts_with(client_nonce) && nonce.len() > client_nonce.len(), "server nonce extends ours");
    assert!(iterations >= 4096);
    assert!(!salt.is_empty());
    let salted = hash.salted(password, &salt, iterations);
    let client_key = hash.hmac(&salted, b"Client Key");
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let signature = hash.hmac(&hash.h(&client_key), auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let r =
        authenticate(c, version, format!("{without_proof},p={}", STANDARD.encode(proof)).as_bytes()).await;
    if r.error_code == 0 {
        let server_signature = hash.hmac(&hash.hmac(&salted, b"Server Key"), auth_message.as_bytes());
        let expected = format!("v={}", STANDARD.encode(server_signature));
        assert_eq!(String::from_utf8(r.auth_bytes.to_vec()).unwrap(), expected, "server signature");
    }
    r
}

#[tokio::test]
async fn plain_authenticates_after_api_versions() {
    let cluster = sasl_cluster(None).await;
    let mut c = connect(&cluster).await;
    let v = ApiVersionsRequest {
        client_software_name: "raw-test".into(),
        client_software_version: "1".into(),
        ..Default::default()
    };
    assert_eq!(c.call(3, &v).await.error_code, 0, "ApiVersions is allowed before authenticating");
    let h = handshake(&mut c, 1, "PLAIN").await;
    assert_eq!(h.error_code, 0);
    assert_eq!(h.mechanisms, vec!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    let r = authenticate(&mut c, 2, b"\0alice\0alice-secret").await;
    // like Java's SaslAuthenticateResponseData, a success carries an empty (not null) message
    assert_eq!((r.error_code, r.error_message.as_deref(), r.session_lifetime_ms), (0, Some(""), 0));
    metadata_works(&mut c).await;
    // a second authentication without a session lifetime: Kafka's request handler refuses it
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, ErrorCode::IllegalSaslState.code());
    metadata_works(&mut c).await;
}

#[tokio::test]
async fn requests_before_authentication_close_the_connection() {
    let cluster = sasl_cluster(None).await;
    let mut c = connect(&cluster).await;
    c.send(12, &MetadataRequest::default()).await;
    assert!(c.is_closed().await, "Metadata before SaslHandshake");

    let mut c = connect(&cluster).await;
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, 0);
    c.send(12, &MetadataRequest::default()).await;
    assert!(c.is_closed().await, "Metadata between SaslHandshake and SaslAuthenticate");

    let mut c = connect(&cluster).await;
    c.send(3, &ApiVersionsRequest::default()).await;
    c.read_frame().await.expect("ApiVersions answered");
    c.send(2, &SaslAuthenticateRequest::default()).await;
    assert!(c.is_closed().await, "SaslAuthenticate without SaslHandshake");
}

#[tokio::test]
async fn a_wrong_password_fails_with_kafkas_message_and_closes() {
    let cluster = sasl_cluster(None).await;
    let mut c = connect(&cluster).await;
    let r = plain(&mut c, "alice", "bob-secret").await;
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert_eq!(r.error_message.as_deref(), Some("Authentication failed: Invalid username or password"));
    assert!(c.is_closed().await);

    let mut c = connect(&cluster).await;
    let r = scram(&mut c, Hash::Sha512, 2, "alice", "wrong").await;
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
        )
    );
    assert!(c.is_closed().await);

    let mut c = connect(&cluster).await;
    let r = scram(&mut c, Hash::Sha256, 1, "mallory", "x").await;
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code(), "unknown user");
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn scram_sha_256_and_512_authenticate_every_user() {
    let cluster = sasl_cluster(None).await;
    for (hash, user, password) in [
        (Hash::Sha256, "alice", "alice-secret"),
        (Hash::Sha512, "bob", "bob-secret"),
        (Hash::Sha512, "alice", "alice-secret"),
    ] {
        let mut c = connect(&cluster).await;
        let r = scram(&mut c, hash, 2, user, password).await;
        assert_eq!((r.error_code, r.error_message.as_deref()), (0, Some("")), "{user}");
        metadata_works(&mut c).await;
    }
}

#[tokio::test]
async fn an_unsupported_mechanism_is_refused_and_the_connection_closed() {
    let cluster = sasl_cluster(None).await;
    let mut c = connect(&cluster).await;
    let h = handshake(&mut c, 1, "GSSAPI").await;
    assert_eq!(h.error_code, ErrorCode::UnsupportedSaslMechanism.code());
    assert_eq!(h.mechanisms.len(), 3);
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn sessions_expire_and_reauthentication_renews_them() {
    let cluster = sasl_cluster(Some(Duration::from_millis(700))).await;
    let mut c = connect(&cluster).await;
    let r = scram(&mut c, Hash::Sha256, 1, "alice", "alice-secret").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 700));
    metadata_works(&mut c).await;
    // re-authenticate after expiry on the same connection (KIP-368)
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = plain(&mut c, "alice", "alice-secret").await;
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code(), "the mechanism cannot change");
    assert!(c.is_closed().await);

    let mut c = connect(&cluster).await;
    assert_eq!(scram(&mut c, Hash::Sha256, 2, "alice", "alice-secret").await.error_code, 0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = scram(&mut c, Hash::Sha256, 2, "alice", "alice-secret").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 700));
    metadata_works(&mut c).await;
    // and once it expires again without re-authentication, the next request closes it
    tokio::time::sleep(Duration::from_millis(800)).await;
    c.send(12, &MetadataRequest::default()).await;
    assert!(c.is_closed().await, "expired session");

    // re-authenticating as someone else is refused
    let mut c = connect(&cluster).await;
    assert_eq!(plain(&mut c, "alice", "alice-secret").await.error_code, 0);
    let r = plain(&mut c, "bob", "bob-secret").await;
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User:alice: User:bob")
    );
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn handshake_v0_carries_raw_tokens() {
    let cluster = sasl_cluster(None).await;
    let mut c = connect(&cluster).await;
    assert_eq!(handshake(&mut c, 0, "PLAIN").await.error_code, 0);
    let token = b"\0bob\0bob-secret";
    let mut frame = (token.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(token);
    c.send_raw(&frame).await.unwrap();
    assert_eq!(c.read_frame().await.expect("an empty server token").len(), 0);
    metadata_works(&mut c).await;

    let mut c = connect(&cluster).await;
    assert_eq!(handshake(&mut c, 0, "PLAIN").await.error_code, 0);
    c.send_raw(b"\0\0\0\x0b\0bob\0wrong!").await.unwrap();
    assert!(c.is_closed().await, "v0 has no error response: the connection closes");
}

#[tokio::test]
async fn without_users_sasl_requests_get_illegal_sasl_state() {
    let cluster = TestCluster::builder().start().await.unwrap();
    let mut c = connect(&cluster).await;
    metadata_works(&mut c).await;
    assert_eq!(handshake(&mut c, 1, "PLAIN").await.error_code, ErrorCode::IllegalSaslState.code());
    assert_eq!(authenticate(&mut c, 2, b"\0a\0b").await.error_code, ErrorCode::IllegalSaslState.code());
    metadata_works(&mut c).await;
}

//! TLS listeners (rustls, ring): server certificates, mTLS, SASL_SSL, configuration errors,
//! and the binary's `--tls-*` / `--sasl-user` flags. Certificates are made per test with rcgen.

mod raw_client;

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::generated::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_test_broker::{ClusterError, TestCluster, TlsServerConfig};
use raw_client::RawClient;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, name: &str, client: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let sans = if client { vec![] } else { vec!["localhost".to_owned(), "127.0.0.1".to_owned()] };
    let mut p = CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages =
        vec![if client { ExtendedKeyUsagePurpose::ClientAuth } else { ExtendedKeyUsagePurpose::ServerAuth }];
    let issuer: &Issuer<'static, KeyPair> = ca;
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn server_config(ca: &CertifiedIssuer<'static, KeyPair>, client_ca: Option<String>) -> TlsServerConfig {
    let (cert_chain_pem, key_pem) = leaf(ca, "broker", false);
    TlsServerConfig { cert_chain_pem, key_pem, client_ca_pem: client_ca }
}

/// Connects over TLS trusting `ca_pem`, presenting `client` (cert PEM, key PEM) if given.
async fn tls_connect(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client: Option<(String, String)>,
) -> std::io::Result<RawClient> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let tcp = TcpStream::connect(addr).await?;
    let tls =
        TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
    Ok(RawClient::over(tls))
}

/// Whether a Metadata request is answered on this connection (false: closed or TLS error).
async fn answered(c: &mut RawClient) -> bool {
    c.send(12, &MetadataRequest { topics: Some(vec![]), ..Default::default() }).await;
    tokio::time::timeout(Duration::from_secs(5), c.read_frame()).await.ok().flatten().is_some()
}

#[tokio::test]
async fn a_tls_listener_serves_kafka_and_refuses_plaintext() {
    let ca = new_ca("test-ca");
    let cluster = TestCluster::builder().brokers(2).tls(server_config(&ca, None)).start().await.unwrap();
    for id in [1, 2] {
        let mut c = tls_connect(cluster.broker_addr(id).unwrap(), &ca.pem(), None).await.unwrap();
        let v = ApiVersionsRequest {
            client_software_name: "raw-test".into(),
            client_software_version: "1".into(),
            ..Default::default()
        };
        assert_eq!(c.call(3, &v).await.error_code, 0);
        let m = c.call(12, &MetadataRequest { topics: Some(vec![]), ..Default::default() }).await;
        assert_eq!(m.brokers.len(), 2);
    }
    // a plaintext Kafka request gets no Kafka answer (at most a TLS alert), and the socket closes
    let mut tcp = TcpStream::connect(cluster.broker_addr(1).unwrap()).await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let header = kafka_protocol::RequestHeader {
        request_api_key: 18,
        request_api_version: 3,
        correlation_id: 1,
        client_id: Some("plain".into()),
        ..Default::default()
    };
    kafka_protocol::frame::encode_request(&mut buf, &header, &ApiVersionsRequest::default()).unwrap();
    tcp.write_all(&buf).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the broker closes the connection");
    assert!(got.is_empty() || got[0] == 0x15, "nothing but a TLS alert: {got:?}");
    // a client that does not trust the broker's CA fails the handshake
    let other = new_ca("other-ca");
    assert!(tls_connect(cluster.broker_addr(1).unwrap(), &other.pem(), None).await.is_err());
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_client_ca() {
    let server_ca = new_ca("server-ca");
    let client_ca = new_ca("client-ca");
    let cluster =
        TestCluster::builder().tls(server_config(&server_ca, Some(client_ca.pem()))).start().await.unwrap();
    let addr = cluster.broker_addr(1).unwrap();
    let mut good = tls_connect(addr, &server_ca.pem(), Some(leaf(&client_ca, "alice", true))).await.unwrap();
    assert!(answered(&mut good).await);
    // no client certificate, or one from another CA: refused (TLS 1.3 reports it on first read)
    match tls_connect(addr, &server_ca.pem(), None).await {
        Err(_) => {}
        Ok(mut c) => assert!(!answered(&mut c).await, "no client certificate"),
    }
    match tls_connect(addr, &server_ca.pem(), Some(leaf(&server_ca, "mallory", true))).await {
        Err(_) => {}
        Ok(mut c) => assert!(!answered(&mut c).await, "a certificate from another CA"),
    }
}

#[tokio::test]
async fn sasl_over_tls() {
    let ca = new_ca("test-ca");
    let cluster = TestCluster::builder()
        .tls(server_config(&ca, None))
        .sasl_user("alice", "alice-secret")
        .start()
        .await
        .unwrap();
    let mut c = tls_connect(cluster.broker_addr(1).unwrap(), &ca.pem(), None).await.unwrap();
    let h = c.call(1, &SaslHandshakeRequest { mechanism: "PLAIN".into(), ..Default::default() }).await;
    assert_eq!(h.error_code, 0);
    let a = c
        .call(
            2,
            &SaslAuthenticateRequest {
                auth_bytes: b"\0alice\0alice-secret".to_vec().into(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(a.error_code, 0);
    assert!(answered(&mut c).await);
    // unauthenticated TLS connection: closed on its first Metadata request
    let mut anon = tls_connect(cluster.broker_addr(1).unwrap(), &ca.pem(), None).await.unwrap();
    assert!(!answered(&mut anon).await);
}

#[tokio::test]
async fn an_unusable_tls_config_fails_start() {
    let ca = new_ca("test-ca");
    let good = server_config(&ca, None);
    let cases = [
        TlsServerConfig { cert_chain_pem: "not a pem".into(), ..good.clone() },
        TlsServerConfig {
            key_pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
            ..good.clone()
        },
        TlsServerConfig { key_pem: leaf(&ca, "other", false).1, ..good.clone() },
        TlsServerConfig { client_ca_pem: Some(String::new()), ..good.clone() },
    ];
    for cfg in cases {
        match TestCluster::builder().tls(cfg).start().await {
            Err(ClusterError::Tls(message)) => assert!(!message.is_empty()),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("started with an unusable TLS config"),
        }
    }
    assert!(!format!("{good:?}").contains("PRIVATE KEY"), "Debug hides the key");
}

#[tokio::test]
async fn the_binary_serves_sasl_ssl_from_its_flags() {
    let ca = new_ca("test-ca");
    let (cert, key) = leaf(&ca, "broker", false);
    let dir = std::env::temp_dir().join(format!("kafka-test-broker-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-test-broker"))
        .args(["--listen", "127.0.0.1:0", "--sasl-user", "alice:alice-secret", "--sasl-user", "bob:b:ob"])
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let read_line = async {
        while stdout.read(&mut b).await.unwrap() == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_line).await.expect("bootstrap line");
    let line = String::from_utf8(line).unwrap();
    let addr = line.strip_prefix("bootstrap: ").expect("bootstrap line").parse().unwrap();
    let mut c = tls_connect(addr, &ca.pem(), None).await.unwrap();
    assert_eq!(
        c.call(1, &SaslHandshakeRequest { mechanism: "PLAIN".into(), ..Default::default() }).await.error_code,
        0
    );
    let a = c
        .call(
            2,
            &SaslAuthenticateRequest { auth_bytes: b"\0bob\0b:ob".to_vec().into(), ..Default::default() },
        )
        .await;
    assert_eq!(a.error_code, 0, "a password may contain ':'");
    assert!(answered(&mut c).await);
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

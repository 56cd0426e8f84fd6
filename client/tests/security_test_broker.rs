//! TLS and SASL against the embedded test broker (`sasl_user`, `tls`, `sasl_session_lifetime`):
//! every mechanism over SASL_SSL and SASL_PLAINTEXT, a wrong password, mutual TLS and
//! re-authentication on the same connection.

use std::time::Duration;

use kafka_client::{
    ClientConfig, Error, NetworkClient, Purpose,
    config::{SaslMechanism, SecurityProtocol},
};
use kafka_protocol::{ErrorCode, generated::MetadataRequest};
use kafka_test_broker::{TestCluster, TlsServerConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    Pki { ca_pem: p.self_signed(&key).unwrap().pem(), issuer: Issuer::new(p, key) }
}

fn leaf(pki: &Pki, names: &[&str]) -> (String, String) {
    let p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    (p.signed_by(&key, &pki.issuer).unwrap().pem(), key.serialize_pem())
}

fn tls(pki: &Pki, client_ca: Option<&Pki>) -> TlsServerConfig {
    let (cert_chain_pem, key_pem) = leaf(pki, &["localhost", "127.0.0.1"]);
    TlsServerConfig { cert_chain_pem, key_pem, client_ca_pem: client_ca.map(|c| c.ca_pem.clone()) }
}

async fn metadata(config: ClientConfig) -> Result<(), Error> {
    let pool = NetworkClient::new(config);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        pool.send(-1, Purpose::Admin, &MetadataRequest::default()),
    )
    .await
    .expect("no hang");
    r.map(|_| ())
}

#[tokio::test]
async fn every_mechanism_over_sasl_ssl_and_sasl_plaintext() {
    let pki = pki();
    let secure =
        TestCluster::builder().sasl_user("alice", "alice-secret").tls(tls(&pki, None)).start().await.unwrap();
    let plain = TestCluster::builder().sasl_user("alice", "alice-secret").start().await.unwrap();
    for m in [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
        let c = ClientConfig::builder()
            .bootstrap_servers([secure.bootstrap_servers()])
            .security_protocol(SecurityProtocol::SaslSsl)
            .set("ssl.truststore.certificates", pki.ca_pem.clone())
            .sasl_credentials(m, "alice", "alice-secret")
            .build()
            .unwrap();
        metadata(c).await.unwrap_or_else(|e| panic!("{m} over TLS: {e}"));
        let c = ClientConfig::builder()
            .bootstrap_servers([plain.bootstrap_servers()])
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(m, "alice", "alice-secret")
            .build()
            .unwrap();
        metadata(c).await.unwrap_or_else(|e| panic!("{m}: {e}"));
        let c = ClientConfig::builder()
            .bootstrap_servers([plain.bootstrap_servers()])
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(m, "alice", "wrong")
            .build()
            .unwrap();
        let e = metadata(c).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::SaslAuthenticationFailed), "{m}: {e}");
        assert!(!e.is_retriable());
    }
}

#[tokio::test]
async fn mutual_tls_required_and_provided() {
    let (server, client) = (pki(), pki());
    let cluster = TestCluster::builder().tls(tls(&server, Some(&client))).start().await.unwrap();
    let base = || {
        ClientConfig::builder()
            .bootstrap_servers([cluster.bootstrap_servers()])
            .security_protocol(SecurityProtocol::Ssl)
            .set("ssl.truststore.certificates", server.ca_pem.clone())
    };
    let e = metadata(base().build().unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    let (chain, key) = leaf(&client, &["client"]);
    let c = base().set("ssl.keystore.key", key).set("ssl.keystore.certificate.chain", chain).build().unwrap();
    metadata(c).await.unwrap();
}

#[tokio::test]
async fn sessions_are_reauthenticated_before_they_expire() {
    let cluster = TestCluster::builder()
        .sasl_user("alice", "alice-secret")
        .sasl_session_lifetime(Duration::from_millis(1500))
        .start()
        .await
        .unwrap();
    let c = ClientConfig::builder()
        .bootstrap_servers([cluster.bootstrap_servers()])
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_credentials(SaslMechanism::ScramSha512, "alice", "alice-secret")
        .build()
        .unwrap();
    let pool = NetworkClient::new(c);
    let conn = pool.connection(-1, Purpose::Admin).await.unwrap();
    let first = conn.session_deadline().expect("a session lifetime");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        conn.send(&MetadataRequest::default()).await.unwrap();
    }
    assert!(!conn.is_closed());
    assert!(conn.session_deadline().unwrap() > first);
    assert_eq!(pool.metrics().snapshot()[&-1].connections_created, 1);
}

#[tokio::test]
async fn waiting_for_metadata_ends_at_once_on_an_authentication_failure() {
    let cluster = TestCluster::builder().sasl_user("alice", "alice-secret").start().await.unwrap();
    let c = ClientConfig::builder()
        .bootstrap_servers([cluster.bootstrap_servers()])
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_credentials(SaslMechanism::ScramSha256, "alice", "wrong")
        .build()
        .unwrap();
    let metadata = kafka_client::Metadata::new(NetworkClient::new(c), true);
    let started = std::time::Instant::now();
    let e = metadata.wait_for_topic("t", Duration::from_secs(60)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(e.code(), Some(ErrorCode::SaslAuthenticationFailed), "{e}");
    let e = metadata.refresh(Duration::from_secs(60)).await.unwrap_err();
    assert!(e.is_authentication_failure(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

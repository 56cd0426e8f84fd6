//! TLS against an in-process rustls server with rcgen certificates: IP and DNS names, a name
//! mismatch, verification off, an untrusted CA, and mutual TLS.

use std::{sync::Arc, time::Duration};

use kafka_protocol::generated::{MetadataRequest, MetadataResponse};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::{
    config::{ClientConfig, SecurityProtocol},
    conn::{Connection, ConnectionOptions, NoAuth},
    test_support::FakeConn,
};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = p.self_signed(&key).unwrap().pem();
    Ca { pem, issuer: Issuer::new(p, key) }
}

/// A leaf certificate for `names` (IP literals become IP SANs): (chain PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str]) -> (String, String) {
    let p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    (p.signed_by(&key, &ca.issuer).unwrap().pem(), key.serialize_pem())
}

/// A TLS broker on 127.0.0.1:0 answering ApiVersions and Metadata; with `client_ca`, it
/// requires a client certificate signed by it.
async fn tls_broker(cert: &(String, String), client_ca: Option<&Ca>) -> std::net::SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap()).unwrap();
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    let chain = CertificateDer::pem_slice_iter(cert.0.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.1.as_bytes()).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(b.with_single_cert(chain, key).unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let mut c = FakeConn::new(Box::new(tls));
                c.handshake().await;
                while let Some((h, _)) = c.read_request().await {
                    c.respond(&h, &MetadataResponse::default()).await;
                }
            });
        }
    });
    addr
}

fn settings(ca: &Ca, extra: &[(&str, &str)]) -> SslSettings {
    let mut b = ClientConfig::builder()
        .bootstrap_servers(["h:1"])
        .security_protocol(SecurityProtocol::Ssl)
        .set("ssl.truststore.certificates", ca.pem.clone());
    for (k, v) in extra {
        b = b.set(*k, *v);
    }
    b.build().unwrap().ssl.unwrap()
}

async fn connect(addr: &str, ssl: &SslSettings) -> Result<Connection> {
    let opts = ConnectionOptions {
        client_id: "tls-test".into(),
        request_timeout: Duration::from_secs(5),
        setup_timeout: Duration::from_secs(5),
        max_idle: None,
        max_frame_size: 1 << 20,
        counters: None,
    };
    let t = TlsTransport::new(TcpTransport::default(), ssl)?;
    let conn = Connection::connect(BrokerRef { id: 1, addr: addr.into() }, &t, &NoAuth, &opts).await?;
    conn.send(&MetadataRequest::default()).await?;
    Ok(conn)
}

#[tokio::test]
async fn verifies_ip_and_dns_names_at_each_enabled_version() {
    let ca = ca("test CA");
    let addr = tls_broker(&leaf(&ca, &["localhost", "127.0.0.1"]), None).await;
    let ssl = settings(&ca, &[]);
    connect(&addr.to_string(), &ssl).await.unwrap();
    connect(&format!("localhost:{}", addr.port()), &ssl).await.unwrap();
    for v in ["TLSv1.2", "TLSv1.3"] {
        connect(&addr.to_string(), &settings(&ca, &[("ssl.enabled.protocols", v)])).await.unwrap();
    }
    let e = ClientConfig::builder()
        .bootstrap_servers(["h:1"])
        .security_protocol(SecurityProtocol::Ssl)
        .set("ssl.enabled.protocols", "TLSv1.1")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("`ssl.enabled.protocols`"), "{e}");
}

#[tokio::test]
async fn hostname_mismatch_fails_fast_naming_the_broker_and_verification_off_connects() {
    let ca = ca("test CA");
    let addr = tls_broker(&leaf(&ca, &["broker.example"]), None).await;
    let started = std::time::Instant::now();
    let e = connect(&addr.to_string(), &settings(&ca, &[])).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    assert!(matches!(e, Error::Tls { .. }) && !e.is_retriable(), "{e:?}");
    let s = e.to_string();
    assert!(s.contains(&addr.to_string()) && s.contains("not valid for name"), "{s}");
    assert!(s.contains("ssl.endpoint.identification.algorithm"), "{s}");
    let off = settings(&ca, &[("ssl.endpoint.identification.algorithm", "")]);
    connect(&addr.to_string(), &off).await.unwrap();
}

#[tokio::test]
async fn untrusted_ca_is_rejected_even_with_verification_off() {
    let (ca, other) = (ca("test CA"), ca("other CA"));
    let addr = tls_broker(&leaf(&ca, &["127.0.0.1"]), None).await;
    for extra in [&[][..], &[("ssl.endpoint.identification.algorithm", "")][..]] {
        let e = connect(&addr.to_string(), &settings(&other, extra)).await.unwrap_err();
        assert!(matches!(e, Error::Tls { .. }), "{e:?}");
        assert!(e.to_string().contains("UnknownIssuer") && e.to_string().contains("ssl.truststore"), "{e}");
    }
}

#[tokio::test]
async fn mutual_tls_required_and_provided() {
    let (server_ca, client_ca) = (ca("server CA"), ca("client CA"));
    let addr = tls_broker(&leaf(&server_ca, &["127.0.0.1"]), Some(&client_ca)).await;
    let e = connect(&addr.to_string(), &settings(&server_ca, &[])).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("client certificate"), "{e}");

    let (chain, key) = leaf(&client_ca, &["client"]);
    let strings = settings(
        &server_ca,
        &[("ssl.keystore.key", key.as_str()), ("ssl.keystore.certificate.chain", chain.as_str())],
    );
    connect(&addr.to_string(), &strings).await.unwrap();

    let dir = std::env::temp_dir().join(format!("kafka-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("client.pem");
    std::fs::write(&path, format!("{key}{chain}")).unwrap();
    let file = settings(&server_ca, &[("ssl.keystore.location", path.to_str().unwrap())]);
    let r = connect(&addr.to_string(), &file).await;
    std::fs::remove_dir_all(&dir).unwrap();
    r.unwrap();
}

#[test]
fn a_key_that_does_not_parse_names_the_key() {
    let ca = ca("test CA");
    let (chain, _) = leaf(&ca, &["client"]);
    let e = ClientConfig::builder()
        .bootstrap_servers(["h:1"])
        .security_protocol(SecurityProtocol::Ssl)
        .set("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .set("ssl.keystore.certificate.chain", chain)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("ssl.keystore.key, ssl.keystore.certificate.chain"), "{e}");
}

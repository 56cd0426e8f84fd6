//! TLS listeners: rustls with the ring provider (no OpenSSL, no aws-lc), optional client
//! certificates (mTLS). With TLS on, every broker's listener speaks TLS (Kafka's SSL or, with
//! SASL users, SASL_SSL).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// The TLS settings of every listener, as PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// The broker's certificate first, then any intermediates (`ssl.keystore`).
    pub cert_chain_pem: String,
    /// The certificate's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key_pem: String,
    /// When set, clients must present a certificate signed by one of these CAs
    /// (`ssl.client.auth=required`, `ssl.truststore`).
    pub client_ca_pem: Option<String>,
}

impl std::fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("cert_chain_pem", &format_args!("{} bytes", self.cert_chain_pem.len()))
            .field("key_pem", &"<redacted>")
            .field("client_ca_pem", &self.client_ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .finish()
    }
}

fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the {what} PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("the {what} PEM holds no CERTIFICATE block"));
    }
    Ok(certs)
}

/// Builds the acceptor every listener uses; the error says which part of the config is wrong.
pub(crate) fn acceptor(cfg: &TlsServerConfig) -> Result<TlsAcceptor, String> {
    let chain = certificates(&cfg.cert_chain_pem, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(cfg.key_pem.as_bytes())
        .map_err(|e| format!("cannot read the private key PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?;
    let builder = match &cfg.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(pem, "client CA")? {
                roots.add(ca).map_err(|e| format!("bad client CA certificate: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate chain and private key do not form a usable pair: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

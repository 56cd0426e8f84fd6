//! TLS (`security.protocol` `SSL` / `SASL_SSL`): a [`Transport`] that wraps [`TcpTransport`] in
//! rustls with the ring provider (TLS 1.2 and 1.3; no OpenSSL, no aws-lc).
//!
//! Like Java's `SslFactory`: the trust store is PEM (`ssl.truststore.location` or
//! `ssl.truststore.certificates`; without either the compiled-in Mozilla roots from webpki-roots
//! stand in for the JVM's default trust store); the key store is PEM (mutual TLS);
//! `ssl.endpoint.identification.algorithm=https` checks the broker's host name, or its IP address
//! against the certificate's IP SANs when the address is an IP; empty skips only that check.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_rustls::TlsConnector;

use super::transport::{BoxFuture, BoxStream, TcpTransport, Transport};
use crate::{
    config::SslSettings,
    error::{BrokerRef, Error, Result},
};

/// TLS over TCP.
#[derive(Clone)]
pub struct TlsTransport {
    tcp: TcpTransport,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").field("tcp", &self.tcp).finish_non_exhaustive()
    }
}

impl TlsTransport {
    /// TLS with `ssl` over `tcp`. Errors name the config key at fault.
    pub fn new(tcp: TcpTransport, ssl: &SslSettings) -> Result<Self> {
        Ok(TlsTransport { tcp, connector: TlsConnector::from(client_config(ssl)?) })
    }
}

impl Transport for TlsTransport {
    fn connect<'a>(
        &'a self,
        broker: &'a BrokerRef,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<BoxStream>> {
        Box::pin(async move {
            let name = ServerName::try_from(host.to_string()).map_err(|e| Error::Tls {
                broker: broker.clone(),
                message: format!("`{host}` is not a valid TLS server name: {e}"),
            })?;
            let tcp = self.tcp.connect(broker, host, port).await?;
            let tls = self.connector.connect(name, tcp).await.map_err(|e| match Error::io(broker, e) {
                Error::Io { source, .. } => Error::Tls {
                    broker: broker.clone(),
                    message: format!("handshake failed: {source} (is this a TLS listener?)"),
                },
                other => other,
            })?;
            let (_, session) = tls.get_ref();
            tracing::debug!(
                %broker,
                version = ?session.protocol_version(),
                suite = ?session.negotiated_cipher_suite().map(|s| s.suite()),
                "TLS established"
            );
            Ok(Box::new(tls) as BoxStream)
        })
    }
}

/// Explains a rustls error, with what to check for the common certificate problems.
pub(crate) fn describe(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let hint = match e {
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            " (the broker's certificate does not name the address connected to; fix the certificate's \
             SANs or set ssl.endpoint.identification.algorithm= to skip the name check)"
        }
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            " (the broker's certificate is not signed by a CA in ssl.truststore.location / \
             ssl.truststore.certificates)"
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => " (the broker's certificate expired)",
        E::AlertReceived(A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::HandshakeFailure) => {
            " (the broker refused the client certificate: set ssl.keystore.location or ssl.keystore.key \
             and ssl.keystore.certificate.chain to one its ssl.truststore trusts)"
        }
        _ => "",
    };
    format!("{e}{hint}")
}

fn bad(key: &str, what: impl std::fmt::Display) -> Error {
    Error::config(key, what.to_string())
}

/// The rustls client configuration for `ssl`; errors name the config key at fault.
pub(crate) fn client_config(ssl: &SslSettings) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &ssl.truststore {
        Some((pem, key)) => {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(key, format!("not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(bad(key, "holds no PEM CERTIFICATE"));
            }
            for c in certs {
                roots.add(c).map_err(|e| bad(key, format!("a certificate was rejected: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [ssl.tls13.then_some(&rustls::version::TLS13), ssl.tls12.then_some(&rustls::version::TLS12)]
            .into_iter()
            .flatten()
            .collect();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| bad("ssl.enabled.protocols", e))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad("ssl.truststore.location", e))?;
    let builder = if ssl.verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName { inner: verifier }))
    };
    let config = match &ssl.keystore {
        None => builder.with_no_client_auth(),
        Some(ks) => {
            let chain = CertificateDer::pem_slice_iter(ks.chain_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(ks.source, format!("certificate chain is not valid PEM: {e}")))?;
            if chain.is_empty() {
                return Err(bad(ks.source, "holds no PEM CERTIFICATE for the client"));
            }
            let key = PrivateKeyDer::from_pem_slice(ks.key_pem.expose().as_bytes())
                .map_err(|e| bad(ks.source, format!("no usable PEM private key ({e})")))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| bad(ks.source, e))?
        }
    };
    Ok(Arc::new(config))
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is verified as usual, a name
/// mismatch is accepted.
#[derive(Debug)]
struct AnyName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError as C, Error as E};
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

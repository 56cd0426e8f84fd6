//! The `ssl.*` and `sasl.*` keys as typed settings, with the cross-key rules (which keys go
//! together, which exclude each other) checked once, naming the keys.

use std::fmt;

use super::{
    def::ConfigValues,
    jaas::{OAUTHBEARER_LOGIN_MODULE, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE, parse_jaas},
    keys::*,
};
use crate::{
    conn::sasl::UnsecuredJws,
    error::{Error, Result},
};

/// A secret string (password, private key, credentials): `Debug` prints `[hidden]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// TLS settings (`security.protocol` `SSL` or `SASL_SSL`), with PEM files already read.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SslSettings {
    /// Trusted CA certificates (PEM) and the key they came from; `None`: the compiled-in
    /// Mozilla roots (webpki-roots).
    pub truststore: Option<(String, &'static str)>,
    /// The client certificate chain (PEM), its private key (PEM) and the key(s) they came from,
    /// for mutual TLS.
    pub keystore: Option<KeyStore>,
    /// `ssl.endpoint.identification.algorithm=https`: check the broker's name (or IP) against its
    /// certificate.
    pub verify_hostname: bool,
    /// `ssl.enabled.protocols` contains `TLSv1.2`.
    pub tls12: bool,
    /// `ssl.enabled.protocols` contains `TLSv1.3`.
    pub tls13: bool,
}

impl fmt::Debug for SslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslSettings")
            .field("truststore", &self.truststore.as_ref().map(|(_, from)| from))
            .field("keystore", &self.keystore)
            .field("verify_hostname", &self.verify_hostname)
            .field("tls12", &self.tls12)
            .field("tls13", &self.tls13)
            .finish()
    }
}

/// A client certificate and its key, for mutual TLS.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyStore {
    /// The certificate chain, PEM, leaf first.
    pub chain_pem: String,
    /// The private key, PEM.
    pub key_pem: Secret,
    /// The config key(s) it came from, for errors.
    pub source: &'static str,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore").field("source", &self.source).field("key_pem", &self.key_pem).finish()
    }
}

/// A SASL mechanism this client speaks (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN`.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER`.
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plain, Self::ScramSha256, Self::ScramSha512, Self::OAuthBearer]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the SASL credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslCredentials {
    /// PLAIN / SCRAM user and password.
    UsernamePassword {
        /// The user.
        username: String,
        /// The password.
        password: Secret,
        /// SCRAM `tokenauth=true` (the "user" is a delegation token id).
        token_auth: bool,
    },
    /// OAUTHBEARER with Java's unsecured tokens (`unsecuredLogin*` JAAS options).
    UnsecuredJws(UnsecuredJws),
    /// OAUTHBEARER with an `OAuthBearerTokenProvider` given in code
    /// (`NetworkClient::with_token_provider`).
    TokenProvider,
}

/// SASL settings (`security.protocol` `SASL_PLAINTEXT` or `SASL_SSL`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaslSettings {
    /// `sasl.mechanism`.
    pub mechanism: SaslMechanism,
    /// The credentials.
    pub credentials: SaslCredentials,
}

fn non_empty<'a>(v: &'a ConfigValues, key: &str) -> Option<&'a str> {
    Some(v.string(key)).filter(|s| !s.is_empty())
}

fn read_file(key: &'static str, path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::config(key, format!("cannot read `{path}`: {e}")))
}

impl SslSettings {
    /// The TLS settings from parsed values.
    pub(crate) fn from_values(v: &ConfigValues) -> Result<SslSettings> {
        for key in [SSL_TRUSTSTORE_TYPE, SSL_KEYSTORE_TYPE] {
            if v.string(key) != "PEM" {
                return Err(Error::config(
                    key,
                    format!(
                        "{} stores are not supported, only PEM: export the certificates (and key) as PEM \
                         (keytool -exportcert -rfc, openssl pkcs12 -nodes) and set {key}=PEM",
                        v.string(key)
                    ),
                ));
            }
        }
        let truststore =
            match (non_empty(v, SSL_TRUSTSTORE_LOCATION), non_empty(v, SSL_TRUSTSTORE_CERTIFICATES)) {
                (Some(_), Some(_)) => {
                    return Err(Error::config(
                        format!("{SSL_TRUSTSTORE_LOCATION}, {SSL_TRUSTSTORE_CERTIFICATES}"),
                        "set one trust store, not both",
                    ));
                }
                (Some(path), None) => {
                    Some((read_file(SSL_TRUSTSTORE_LOCATION, path)?, SSL_TRUSTSTORE_LOCATION))
                }
                (None, Some(pem)) => Some((pem.to_string(), SSL_TRUSTSTORE_CERTIFICATES)),
                (None, None) => None,
            };
        let (location, key, chain) = (
            non_empty(v, SSL_KEYSTORE_LOCATION),
            non_empty(v, SSL_KEYSTORE_KEY),
            non_empty(v, SSL_KEYSTORE_CERTIFICATE_CHAIN),
        );
        let keystore = match (location, key, chain) {
            (None, None, None) => None,
            (Some(path), None, None) => {
                let pem = read_file(SSL_KEYSTORE_LOCATION, path)?;
                Some(KeyStore { chain_pem: pem.clone(), key_pem: Secret(pem), source: SSL_KEYSTORE_LOCATION })
            }
            (None, Some(key), Some(chain)) => Some(KeyStore {
                chain_pem: chain.to_string(),
                key_pem: Secret(key.to_string()),
                source: "ssl.keystore.key, ssl.keystore.certificate.chain",
            }),
            (Some(_), _, _) => {
                return Err(Error::config(
                    format!("{SSL_KEYSTORE_LOCATION}, {SSL_KEYSTORE_KEY}, {SSL_KEYSTORE_CERTIFICATE_CHAIN}"),
                    "set either ssl.keystore.location or the PEM strings, not both",
                ));
            }
            (None, _, _) => {
                return Err(Error::config(
                    format!("{SSL_KEYSTORE_KEY}, {SSL_KEYSTORE_CERTIFICATE_CHAIN}"),
                    "a client certificate needs both the key and the certificate chain",
                ));
            }
        };
        if let Some(ks) = &keystore {
            if ks.key_pem.expose().contains("ENCRYPTED PRIVATE KEY")
                || ks.key_pem.expose().contains("Proc-Type: 4,ENCRYPTED")
            {
                return Err(Error::config(
                    format!("{}, {SSL_KEY_PASSWORD}", ks.source),
                    "encrypted private keys are not supported; decrypt the key \
                     (openssl pkcs8 -topk8 -nocrypt -in key.pem -out plain.pem) and leave ssl.key.password unset",
                ));
            }
        }
        let verify_hostname = match v.string(SSL_ENDPOINT_IDENTIFICATION_ALGORITHM) {
            a if a.eq_ignore_ascii_case("https") => true,
            "" => false,
            other => {
                return Err(Error::config(
                    SSL_ENDPOINT_IDENTIFICATION_ALGORITHM,
                    format!("`{other}` is not supported: use `https` (check the name) or empty (skip it)"),
                ));
            }
        };
        let (mut tls12, mut tls13) = (false, false);
        for p in v.list(SSL_ENABLED_PROTOCOLS) {
            match p.as_str() {
                "TLSv1.2" => tls12 = true,
                "TLSv1.3" => tls13 = true,
                other => {
                    return Err(Error::config(
                        SSL_ENABLED_PROTOCOLS,
                        format!("`{other}` is not supported (TLSv1.2 and TLSv1.3 are)"),
                    ));
                }
            }
        }
        if !(tls12 || tls13) {
            return Err(Error::config(SSL_ENABLED_PROTOCOLS, "must list TLSv1.2 and/or TLSv1.3"));
        }
        Ok(SslSettings { truststore, keystore, verify_hostname, tls12, tls13 })
    }
}

impl SaslSettings {
    /// The SASL settings from parsed values; `protocol` names the security protocol in errors.
    pub(crate) fn from_values(v: &ConfigValues, protocol: &str) -> Result<SaslSettings> {
        let name = v.string(SASL_MECHANISM);
        let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
            let why = if name.eq_ignore_ascii_case("GSSAPI") {
                "GSSAPI (Kerberos, Java's default) is not supported".to_string()
            } else {
                format!("`{name}` is not supported")
            };
            Error::config(
                SASL_MECHANISM,
                format!("{why}; {protocol} needs one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"),
            )
        })?;
        let jaas = non_empty(v, SASL_JAAS_CONFIG)
            .map(|s| parse_jaas(s).map_err(|m| Error::config(SASL_JAAS_CONFIG, m)))
            .transpose()?;
        let (user, pass) = (non_empty(v, SASL_USERNAME), non_empty(v, SASL_PASSWORD));
        if jaas.is_some() && (user.is_some() || pass.is_some()) {
            return Err(Error::config(
                format!("{SASL_JAAS_CONFIG}, {SASL_USERNAME}, {SASL_PASSWORD}"),
                "set the credentials once: either sasl.jaas.config or sasl.username and sasl.password",
            ));
        }
        let credentials = match mechanism {
            SaslMechanism::OAuthBearer => {
                if user.is_some() || pass.is_some() {
                    return Err(Error::config(
                        format!("{SASL_USERNAME}, {SASL_PASSWORD}"),
                        "OAUTHBEARER does not use a user name and password",
                    ));
                }
                match jaas {
                    None => SaslCredentials::TokenProvider,
                    Some(j) if j.module != OAUTHBEARER_LOGIN_MODULE => {
                        return Err(Error::config(
                            SASL_JAAS_CONFIG,
                            format!("OAUTHBEARER needs {OAUTHBEARER_LOGIN_MODULE}, not {}", j.module),
                        ));
                    }
                    Some(j) => match UnsecuredJws::from_jaas_options(&j.options)
                        .map_err(|m| Error::config(SASL_JAAS_CONFIG, m))?
                    {
                        Some(jws) => SaslCredentials::UnsecuredJws(jws),
                        None => SaslCredentials::TokenProvider,
                    },
                }
            }
            _ => match (jaas, user, pass) {
                (Some(j), _, _) => {
                    if j.module != PLAIN_LOGIN_MODULE && j.module != SCRAM_LOGIN_MODULE {
                        return Err(Error::config(
                            SASL_JAAS_CONFIG,
                            format!(
                                "{mechanism} needs {PLAIN_LOGIN_MODULE} or {SCRAM_LOGIN_MODULE}, not {}",
                                j.module
                            ),
                        ));
                    }
                    let (Some(username), Some(password)) =
                        (j.options.get("username"), j.options.get("password"))
                    else {
                        return Err(Error::config(
                            SASL_JAAS_CONFIG,
                            "the login module needs username and password options",
                        ));
                    };
                    SaslCredentials::UsernamePassword {
                        username: username.clone(),
                        password: Secret(password.clone()),
                        token_auth: j
                            .options
                            .get("tokenauth")
                            .is_some_and(|t| t.eq_ignore_ascii_case("true")),
                    }
                }
                (None, Some(u), Some(p)) => SaslCredentials::UsernamePassword {
                    username: u.to_string(),
                    password: Secret(p.to_string()),
                    token_auth: false,
                },
                (None, Some(_), None) | (None, None, Some(_)) => {
                    return Err(Error::config(
                        format!("{SASL_USERNAME}, {SASL_PASSWORD}"),
                        "set both sasl.username and sasl.password",
                    ));
                }
                (None, None, None) => {
                    return Err(Error::config(
                        format!("{SECURITY_PROTOCOL}, {SASL_JAAS_CONFIG}"),
                        format!(
                            "{protocol} with {mechanism} needs credentials: set sasl.jaas.config \
                             (e.g. `{PLAIN_LOGIN_MODULE} required username=\"u\" password=\"p\";`) \
                             or sasl.username and sasl.password"
                        ),
                    ));
                }
            },
        };
        Ok(SaslSettings { mechanism, credentials })
    }
}

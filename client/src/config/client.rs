//! `ClientConfig`: the typed, validated shared client configuration, and its builder.

use std::{sync::LazyLock, time::Duration};

use super::{
    def::{ConfigDef, ConfigValues, Properties},
    keys::*,
    properties::parse_properties,
    security::{SaslMechanism, SaslSettings, SslSettings},
};
use crate::{
    backoff::ExponentialBackoff,
    error::{Error, Result},
};

/// `client.dns.lookup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientDnsLookup {
    /// Try every resolved IP in turn.
    UseAllDnsIps,
    /// Resolve bootstrap names to canonical names first (currently same as `UseAllDnsIps`).
    ResolveCanonicalBootstrapServersOnly,
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// `metadata.recovery.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataRecoveryStrategy {
    /// Keep trying the known brokers.
    None,
    /// Start again from `bootstrap.servers` (the Kafka 4.x default).
    Rebootstrap,
}

/// The shared client configuration. See the [module docs](crate::config) for every key.
///
/// Build it from properties ([`ClientConfig::from_properties`], [`ClientConfig::from_properties_text`])
/// or with [`ClientConfig::builder`]; both go through the same parse and validation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `bootstrap.servers`, as `host:port` strings.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `client.rack` (empty: none).
    pub client_rack: String,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `default.api.timeout.ms` (at least `request_timeout`).
    pub default_api_timeout: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (at least `retry_backoff`).
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (at least `reconnect_backoff`).
    pub reconnect_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`.
    pub socket_connection_setup_timeout_max: Duration,
    /// `connections.max.idle.ms`; `None` when -1 (never close idle connections).
    pub connections_max_idle: Option<Duration>,
    /// `send.buffer.bytes`; `None` when -1 (OS default).
    pub send_buffer_bytes: Option<u32>,
    /// `receive.buffer.bytes`; `None` when -1 (OS default).
    pub receive_buffer_bytes: Option<u32>,
    /// `client.dns.lookup`.
    pub client_dns_lookup: ClientDnsLookup,
    /// `security.protocol`.
    pub security_protocol: SecurityProtocol,
    /// The `ssl.*` keys, when `security_protocol` uses TLS (PEM files already read).
    pub ssl: Option<SslSettings>,
    /// The `sasl.*` keys, when `security_protocol` uses SASL. Secrets are hidden from `Debug`.
    pub sasl: Option<SaslSettings>,
    /// `metadata.recovery.strategy`.
    pub metadata_recovery_strategy: MetadataRecoveryStrategy,
    /// `metadata.recovery.rebootstrap.trigger.ms`.
    pub metadata_recovery_rebootstrap_trigger: Duration,
}

static DEF: LazyLock<ConfigDef> = LazyLock::new(|| ConfigDef::new(CLIENT_KEYS.iter().cloned()));

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

impl ClientConfig {
    /// The table of shared client keys, for the layers above to extend.
    pub fn def() -> &'static ConfigDef {
        &DEF
    }

    /// A builder with typed setters.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// Parses string properties; every key must be a client key.
    pub fn from_properties(props: &Properties) -> Result<ClientConfig> {
        ClientConfig::from_values(&DEF.parse(props)?)
    }

    /// Parses Java `.properties` text; every key must be a client key.
    pub fn from_properties_text(text: &str) -> Result<ClientConfig> {
        ClientConfig::from_properties(&parse_properties(text)?)
    }

    /// The typed config from values parsed by [`ClientConfig::def`] (or a table extending it),
    /// with the cross-key rules applied (base vs. max pairs, `default.api.timeout.ms` vs. `request.timeout.ms`).
    pub fn from_values(v: &ConfigValues) -> Result<ClientConfig> {
        let security_protocol = match v.string(SECURITY_PROTOCOL) {
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => SecurityProtocol::Plaintext,
        };
        let ssl = match security_protocol.uses_tls() {
            true => {
                let ssl = SslSettings::from_values(v)?;
                // Build the rustls configuration once now so that bad PEM fails here, naming the key.
                crate::conn::tls::client_config(&ssl)?;
                Some(ssl)
            }
            false => None,
        };
        let sasl = match security_protocol.uses_sasl() {
            true => Some(SaslSettings::from_values(v, security_protocol.name())?),
            false => None,
        };
        let optional_size = |key| u32::try_from(v.number(key)).ok();
        let mut c = ClientConfig {
            bootstrap_servers: v.list(BOOTSTRAP_SERVERS).to_vec(),
            client_id: v.string(CLIENT_ID).to_string(),
            client_rack: v.string(CLIENT_RACK).to_string(),
            request_timeout: ms(v.number(REQUEST_TIMEOUT_MS)),
            default_api_timeout: ms(v.number(DEFAULT_API_TIMEOUT_MS)),
            metadata_max_age: ms(v.number(METADATA_MAX_AGE_MS)),
            retry_backoff: ms(v.number(RETRY_BACKOFF_MS)),
            retry_backoff_max: ms(v.number(RETRY_BACKOFF_MAX_MS)),
            reconnect_backoff: ms(v.number(RECONNECT_BACKOFF_MS)),
            reconnect_backoff_max: ms(v.number(RECONNECT_BACKOFF_MAX_MS)),
            socket_connection_setup_timeout: ms(v.number(SOCKET_CONNECTION_SETUP_TIMEOUT_MS)),
            socket_connection_setup_timeout_max: ms(v.number(SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS)),
            connections_max_idle: (v.number(CONNECTIONS_MAX_IDLE_MS) >= 0)
                .then(|| ms(v.number(CONNECTIONS_MAX_IDLE_MS))),
            send_buffer_bytes: optional_size(SEND_BUFFER_BYTES),
            receive_buffer_bytes: optional_size(RECEIVE_BUFFER_BYTES),
            client_dns_lookup: match v.string(CLIENT_DNS_LOOKUP) {
                "use_all_dns_ips" => ClientDnsLookup::UseAllDnsIps,
                _ => ClientDnsLookup::ResolveCanonicalBootstrapServersOnly,
            },
            security_protocol,
            ssl,
            sasl,
            metadata_recovery_strategy: match v.string(METADATA_RECOVERY_STRATEGY) {
                "none" => MetadataRecoveryStrategy::None,
                _ => MetadataRecoveryStrategy::Rebootstrap,
            },
            metadata_recovery_rebootstrap_trigger: ms(v.number(METADATA_RECOVERY_REBOOTSTRAP_TRIGGER_MS)),
        };
        c.validate(v)?;
        Ok(c)
    }

    /// Cross-key rules: a base above its max is an error when both were set, and raises the
    /// max when only the base was; `default.api.timeout.ms` below `request.timeout.ms` is an
    /// error when both were set, and is raised otherwise.
    fn validate(&mut self, v: &ConfigValues) -> Result<()> {
        let pairs: [(&str, &str, Duration, &mut Duration); 4] = [
            (RETRY_BACKOFF_MS, RETRY_BACKOFF_MAX_MS, self.retry_backoff, &mut self.retry_backoff_max),
            (
                RECONNECT_BACKOFF_MS,
                RECONNECT_BACKOFF_MAX_MS,
                self.reconnect_backoff,
                &mut self.reconnect_backoff_max,
            ),
            (
                SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
                SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS,
                self.socket_connection_setup_timeout,
                &mut self.socket_connection_setup_timeout_max,
            ),
            (REQUEST_TIMEOUT_MS, DEFAULT_API_TIMEOUT_MS, self.request_timeout, &mut self.default_api_timeout),
        ];
        for (base_key, max_key, base, max) in pairs {
            if base <= *max {
                continue;
            }
            if v.is_explicit(base_key) && v.is_explicit(max_key) {
                return Err(Error::config(
                    format!("{base_key}, {max_key}"),
                    format!(
                        "{base_key} ({} ms) must not exceed {max_key} ({} ms)",
                        base.as_millis(),
                        max.as_millis()
                    ),
                ));
            }
            *max = base;
        }
        Ok(())
    }

    /// The reconnect backoff (`reconnect.backoff.ms` to `.max.ms`, ×2, ±20%).
    pub fn reconnect_backoff_policy(&self) -> ExponentialBackoff {
        ExponentialBackoff::kafka(self.reconnect_backoff, self.reconnect_backoff_max)
    }

    /// The retry backoff (`retry.backoff.ms` to `.max.ms`, ×2, ±20%).
    pub fn retry_backoff_policy(&self) -> ExponentialBackoff {
        ExponentialBackoff::kafka(self.retry_backoff, self.retry_backoff_max)
    }

    /// The growing connection setup timeout (`socket.connection.setup.timeout.ms` to `.max.ms`).
    pub fn connection_setup_timeout_policy(&self) -> ExponentialBackoff {
        ExponentialBackoff::kafka(
            self.socket_connection_setup_timeout,
            self.socket_connection_setup_timeout_max,
        )
    }
}

/// Typed builder for [`ClientConfig`]. Setters record string properties, so
/// [`ClientConfigBuilder::build`] runs exactly the validation string properties get.
/// `Debug` hides the values of password keys.
#[derive(Clone, Default)]
pub struct ClientConfigBuilder {
    props: Properties,
}

impl std::fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfigBuilder").field("props", &DEF.redacted(&self.props)).finish()
    }
}

macro_rules! duration_setters {
    ($($(#[$doc:meta])* $fn:ident => $key:expr;)*) => {$(
        $(#[$doc])*
        pub fn $fn(self, value: Duration) -> Self {
            self.set($key, value.as_millis().to_string())
        }
    )*};
}

impl ClientConfigBuilder {
    /// Sets any key by its Java name (checked at [`build`](Self::build)).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// `bootstrap.servers`.
    pub fn bootstrap_servers<S: AsRef<str>>(self, servers: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = servers.into_iter().map(|s| s.as_ref().to_string()).collect();
        self.set(BOOTSTRAP_SERVERS, list.join(","))
    }

    /// `client.id`.
    pub fn client_id(self, id: impl Into<String>) -> Self {
        self.set(CLIENT_ID, id)
    }

    /// `client.rack`.
    pub fn client_rack(self, rack: impl Into<String>) -> Self {
        self.set(CLIENT_RACK, rack)
    }

    duration_setters! {
        /// `request.timeout.ms`.
        request_timeout => REQUEST_TIMEOUT_MS;
        /// `default.api.timeout.ms`.
        default_api_timeout => DEFAULT_API_TIMEOUT_MS;
        /// `metadata.max.age.ms`.
        metadata_max_age => METADATA_MAX_AGE_MS;
        /// `retry.backoff.ms`.
        retry_backoff => RETRY_BACKOFF_MS;
        /// `retry.backoff.max.ms`.
        retry_backoff_max => RETRY_BACKOFF_MAX_MS;
        /// `reconnect.backoff.ms`.
        reconnect_backoff => RECONNECT_BACKOFF_MS;
        /// `reconnect.backoff.max.ms`.
        reconnect_backoff_max => RECONNECT_BACKOFF_MAX_MS;
        /// `socket.connection.setup.timeout.ms`.
        socket_connection_setup_timeout => SOCKET_CONNECTION_SETUP_TIMEOUT_MS;
        /// `socket.connection.setup.timeout.max.ms`.
        socket_connection_setup_timeout_max => SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS;
        /// `metadata.recovery.rebootstrap.trigger.ms`.
        metadata_recovery_rebootstrap_trigger => METADATA_RECOVERY_REBOOTSTRAP_TRIGGER_MS;
    }

    /// `connections.max.idle.ms` (`None`: never close idle connections).
    pub fn connections_max_idle(self, value: Option<Duration>) -> Self {
        let v = value.map(|d| d.as_millis().to_string()).unwrap_or_else(|| "-1".into());
        self.set(CONNECTIONS_MAX_IDLE_MS, v)
    }

    /// `send.buffer.bytes` (`None`: OS default).
    pub fn send_buffer_bytes(self, value: Option<u32>) -> Self {
        self.set(SEND_BUFFER_BYTES, value.map(|v| v as i64).unwrap_or(-1).to_string())
    }

    /// `receive.buffer.bytes` (`None`: OS default).
    pub fn receive_buffer_bytes(self, value: Option<u32>) -> Self {
        self.set(RECEIVE_BUFFER_BYTES, value.map(|v| v as i64).unwrap_or(-1).to_string())
    }

    /// `client.dns.lookup`.
    pub fn client_dns_lookup(self, value: ClientDnsLookup) -> Self {
        let v = match value {
            ClientDnsLookup::UseAllDnsIps => "use_all_dns_ips",
            ClientDnsLookup::ResolveCanonicalBootstrapServersOnly => {
                "resolve_canonical_bootstrap_servers_only"
            }
        };
        self.set(CLIENT_DNS_LOOKUP, v)
    }

    /// `security.protocol`.
    pub fn security_protocol(self, value: SecurityProtocol) -> Self {
        self.set(SECURITY_PROTOCOL, value.name())
    }

    /// `sasl.mechanism` and `sasl.jaas.config` for a user name and password (PLAIN or SCRAM), in
    /// Java's JAAS form.
    pub fn sasl_credentials(self, mechanism: SaslMechanism, username: &str, password: &str) -> Self {
        let module = match mechanism {
            SaslMechanism::Plain => super::jaas::PLAIN_LOGIN_MODULE,
            _ => super::jaas::SCRAM_LOGIN_MODULE,
        };
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        self.set(SASL_MECHANISM, mechanism.name()).set(
            SASL_JAAS_CONFIG,
            format!("{module} required username=\"{}\" password=\"{}\";", q(username), q(password)),
        )
    }

    /// `metadata.recovery.strategy`.
    pub fn metadata_recovery_strategy(self, value: MetadataRecoveryStrategy) -> Self {
        let v = match value {
            MetadataRecoveryStrategy::None => "none",
            MetadataRecoveryStrategy::Rebootstrap => "rebootstrap",
        };
        self.set(METADATA_RECOVERY_STRATEGY, v)
    }

    /// The properties recorded so far (for a layer above that adds its own keys).
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Parses and validates.
    pub fn build(self) -> Result<ClientConfig> {
        ClientConfig::from_properties(&self.props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> Properties {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kafka_4_defaults() {
        let c = ClientConfig::from_properties(&props(&[("bootstrap.servers", "localhost:9092")])).unwrap();
        assert_eq!(c.bootstrap_servers, ["localhost:9092"]);
        assert_eq!(c.request_timeout, Duration::from_millis(30_000));
        assert_eq!(c.default_api_timeout, Duration::from_millis(60_000));
        assert_eq!(c.metadata_max_age, Duration::from_millis(300_000));
        assert_eq!(
            (c.retry_backoff, c.retry_backoff_max),
            (Duration::from_millis(100), Duration::from_millis(1000))
        );
        assert_eq!(
            (c.reconnect_backoff, c.reconnect_backoff_max),
            (Duration::from_millis(50), Duration::from_millis(1000))
        );
        assert_eq!(c.socket_connection_setup_timeout, Duration::from_millis(10_000));
        assert_eq!(c.socket_connection_setup_timeout_max, Duration::from_millis(30_000));
        assert_eq!(c.connections_max_idle, Some(Duration::from_millis(540_000)));
        assert_eq!((c.send_buffer_bytes, c.receive_buffer_bytes), (Some(131_072), Some(65_536)));
        assert_eq!(c.client_dns_lookup, ClientDnsLookup::UseAllDnsIps);
        assert_eq!(c.security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(c.metadata_recovery_strategy, MetadataRecoveryStrategy::Rebootstrap);
        assert_eq!(c.metadata_recovery_rebootstrap_trigger, Duration::from_millis(300_000));
        assert_eq!(c.client_id, "");
    }

    #[test]
    fn typo_gets_a_suggestion() {
        let e =
            ClientConfig::from_properties(&props(&[("bootstrap.servers", "h:1"), ("request.timeout", "5")]))
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown configuration key `request.timeout` (did you mean `request.timeout.ms`?)"
        );
        let e = ClientConfig::from_properties(&props(&[("bootstrap.server", "h:1")])).unwrap_err();
        assert!(e.to_string().contains("did you mean `bootstrap.servers`"), "{e}");
        let e =
            ClientConfig::from_properties(&props(&[("bootstrap.servers", "h:1"), ("zzz", "1")])).unwrap_err();
        assert!(matches!(e, Error::UnknownConfig { suggestion: None, .. }), "{e}");
    }

    #[test]
    fn security_protocols_parse_and_check_their_keys() {
        let b = || ClientConfig::builder().bootstrap_servers(["h:1"]);
        let e = b().set("security.protocol", "TLS").build().unwrap_err();
        assert!(e.to_string().contains("must be one of"), "{e}");
        let c = b().set("security.protocol", "plaintext").build().unwrap();
        assert_eq!(
            (c.security_protocol, c.ssl.is_none(), c.sasl.is_none()),
            (SecurityProtocol::Plaintext, true, true)
        );
        let c = b().set("security.protocol", "ssl").build().unwrap();
        assert_eq!(c.security_protocol, SecurityProtocol::Ssl);
        let ssl = c.ssl.unwrap();
        assert!(ssl.verify_hostname && ssl.truststore.is_none() && ssl.keystore.is_none());
        // Java's default mechanism (GSSAPI) is named in the error.
        let e = b().set("security.protocol", "SASL_SSL").build().unwrap_err().to_string();
        assert!(e.contains("`sasl.mechanism`") && e.contains("GSSAPI"), "{e}");
        let e = b()
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "PLAIN")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("security.protocol, sasl.jaas.config") && e.contains("needs credentials"), "{e}");
    }

    #[test]
    fn sasl_credentials_from_jaas_or_aliases_and_debug_hides_them() {
        let b = || {
            ClientConfig::builder().bootstrap_servers(["h:1"]).security_protocol(SecurityProtocol::SaslSsl)
        };
        let c = b().sasl_credentials(SaslMechanism::ScramSha512, "al\"ice", "hunter2").build().unwrap();
        let sasl = c.sasl.clone().unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        match &sasl.credentials {
            super::super::SaslCredentials::UsernamePassword { username, password, token_auth } => {
                assert_eq!(
                    (username.as_str(), password.expose(), *token_auth),
                    ("al\"ice", "hunter2", false)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        let builder =
            b().sasl_credentials(SaslMechanism::Plain, "a", "hunter2").set("sasl.password", "hunter2");
        assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
        let c2 = b()
            .set("sasl.mechanism", "scram-sha-512")
            .set("sasl.username", "al\"ice")
            .set("sasl.password", "hunter2")
            .build()
            .unwrap();
        assert_eq!(c2.sasl, c.sasl);
        let e = b()
            .sasl_credentials(SaslMechanism::Plain, "a", "hunter2")
            .set("sasl.username", "a")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sasl.jaas.config, sasl.username") && !e.contains("hunter2"), "{e}");
        let e = b().set("sasl.mechanism", "PLAIN").set("sasl.username", "a").build().unwrap_err().to_string();
        assert!(e.contains("sasl.password"), "{e}");
        let e = b()
            .set("sasl.mechanism", "PLAIN")
            .set(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=a;",
            )
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sasl.jaas.config`") && e.contains("password"), "{e}");
        let c = b()
            .set("sasl.mechanism", "OAUTHBEARER")
            .set(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";",
            )
            .build()
            .unwrap();
        assert!(matches!(c.sasl.unwrap().credentials, super::super::SaslCredentials::UnsecuredJws(_)));
        let c = b().set("sasl.mechanism", "OAUTHBEARER").build().unwrap();
        assert_eq!(c.sasl.unwrap().credentials, super::super::SaslCredentials::TokenProvider);
    }

    #[test]
    fn ssl_keys_exclude_each_other_and_name_the_keys() {
        let b =
            || ClientConfig::builder().bootstrap_servers(["h:1"]).security_protocol(SecurityProtocol::Ssl);
        let e = b().set("ssl.truststore.type", "JKS").build().unwrap_err().to_string();
        assert!(e.contains("`ssl.truststore.type`") && e.contains("only PEM"), "{e}");
        let e = b().set("ssl.truststore.location", "/nonexistent/ca.pem").build().unwrap_err().to_string();
        assert!(e.contains("`ssl.truststore.location`") && e.contains("/nonexistent/ca.pem"), "{e}");
        let e = b()
            .set("ssl.truststore.location", "/x")
            .set("ssl.truststore.certificates", "y")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("ssl.truststore.location, ssl.truststore.certificates"), "{e}");
        let e = b().set("ssl.keystore.key", "k").build().unwrap_err().to_string();
        assert!(e.contains("ssl.keystore.certificate.chain"), "{e}");
        let e = b()
            .set(
                "ssl.keystore.key",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            )
            .set("ssl.keystore.certificate.chain", "c")
            .set("ssl.key.password", "hunter2")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("encrypted private keys are not supported") && e.contains("ssl.key.password"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = b().set("ssl.truststore.certificates", "not pem").build().unwrap_err().to_string();
        assert!(e.contains("`ssl.truststore.certificates`"), "{e}");
        let c = b().set("ssl.endpoint.identification.algorithm", "").build().unwrap();
        assert!(!c.ssl.unwrap().verify_hostname);
        let c = b().set("ssl.endpoint.identification.algorithm", "HTTPS").build().unwrap();
        assert!(c.ssl.unwrap().verify_hostname);
        let e = b().set("ssl.endpoint.identification.algorithm", "ldaps").build().unwrap_err().to_string();
        assert!(e.contains("`ssl.endpoint.identification.algorithm`") && e.contains("ldaps"), "{e}");
    }

    #[test]
    fn base_above_max_is_an_error_only_when_both_are_set() {
        let b = || ClientConfig::builder().bootstrap_servers(["h:1"]);
        let e = b()
            .reconnect_backoff(Duration::from_secs(5))
            .reconnect_backoff_max(Duration::from_secs(1))
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("reconnect.backoff.ms, reconnect.backoff.max.ms"), "{e}");
        let c = b().reconnect_backoff(Duration::from_secs(5)).build().unwrap();
        assert_eq!(c.reconnect_backoff_max, Duration::from_secs(5));
        let e = b()
            .request_timeout(Duration::from_secs(90))
            .default_api_timeout(Duration::from_secs(60))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("default.api.timeout.ms"), "{e}");
        let c = b().request_timeout(Duration::from_secs(90)).build().unwrap();
        assert_eq!(c.default_api_timeout, Duration::from_secs(90));
    }

    #[test]
    fn properties_text_and_builder_agree() {
        let text = "# client\nbootstrap.servers: a:1, b:2\nclient.id = app\nconnections.max.idle.ms=-1\n\
                    send.buffer.bytes -1\nclient.dns.lookup=RESOLVE_CANONICAL_BOOTSTRAP_SERVERS_ONLY\n\
                    metadata.recovery.strategy=none\n";
        let from_text = ClientConfig::from_properties_text(text).unwrap();
        let built = ClientConfig::builder()
            .bootstrap_servers(["a:1", "b:2"])
            .client_id("app")
            .connections_max_idle(None)
            .send_buffer_bytes(None)
            .client_dns_lookup(ClientDnsLookup::ResolveCanonicalBootstrapServersOnly)
            .metadata_recovery_strategy(MetadataRecoveryStrategy::None)
            .build()
            .unwrap();
        assert_eq!(from_text, built);
        assert_eq!(built.connections_max_idle, None);
        assert_eq!(built.send_buffer_bytes, None);
    }

    #[test]
    fn layers_above_extend_the_table() {
        use super::super::def::{ConfigKey, ConfigType, Validator};
        let producer = ClientConfig::def().clone().extend([ConfigKey {
            name: "linger.ms",
            ty: ConfigType::Long,
            default: Some("5"),
            validator: Validator::AtLeast(0),
            doc: "",
        }]);
        let v = producer.parse(&props(&[("bootstrap.servers", "h:1"), ("linger.ms", "7")])).unwrap();
        assert_eq!(ClientConfig::from_values(&v).unwrap().bootstrap_servers, ["h:1"]);
        assert_eq!(v.number("linger.ms"), 7);
        let e = producer.parse(&props(&[("bootstrap.servers", "h:1"), ("linger.m", "7")])).unwrap_err();
        assert!(e.to_string().contains("did you mean `linger.ms`"), "{e}");
        // Client-only parse hands the producer key on untouched.
        let (_, rest) = ClientConfig::def()
            .parse_known(&props(&[("bootstrap.servers", "h:1"), ("linger.ms", "7")]))
            .unwrap();
        assert_eq!(rest, props(&[("linger.ms", "7")]));
    }
}

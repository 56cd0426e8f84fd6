//! The shared client keys (Java's `CommonClientConfigs`), with Kafka 4.x defaults.

use super::def::{ConfigKey, ConfigType::*, Validator::*};

/// `bootstrap.servers`
pub const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";
/// `client.id`
pub const CLIENT_ID: &str = "client.id";
/// `client.rack`
pub const CLIENT_RACK: &str = "client.rack";
/// `request.timeout.ms`
pub const REQUEST_TIMEOUT_MS: &str = "request.timeout.ms";
/// `default.api.timeout.ms`
pub const DEFAULT_API_TIMEOUT_MS: &str = "default.api.timeout.ms";
/// `metadata.max.age.ms`
pub const METADATA_MAX_AGE_MS: &str = "metadata.max.age.ms";
/// `retry.backoff.ms`
pub const RETRY_BACKOFF_MS: &str = "retry.backoff.ms";
/// `retry.backoff.max.ms`
pub const RETRY_BACKOFF_MAX_MS: &str = "retry.backoff.max.ms";
/// `reconnect.backoff.ms`
pub const RECONNECT_BACKOFF_MS: &str = "reconnect.backoff.ms";
/// `reconnect.backoff.max.ms`
pub const RECONNECT_BACKOFF_MAX_MS: &str = "reconnect.backoff.max.ms";
/// `socket.connection.setup.timeout.ms`
pub const SOCKET_CONNECTION_SETUP_TIMEOUT_MS: &str = "socket.connection.setup.timeout.ms";
/// `socket.connection.setup.timeout.max.ms`
pub const SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS: &str = "socket.connection.setup.timeout.max.ms";
/// `connections.max.idle.ms`
pub const CONNECTIONS_MAX_IDLE_MS: &str = "connections.max.idle.ms";
/// `send.buffer.bytes`
pub const SEND_BUFFER_BYTES: &str = "send.buffer.bytes";
/// `receive.buffer.bytes`
pub const RECEIVE_BUFFER_BYTES: &str = "receive.buffer.bytes";
/// `client.dns.lookup`
pub const CLIENT_DNS_LOOKUP: &str = "client.dns.lookup";
/// `security.protocol`
pub const SECURITY_PROTOCOL: &str = "security.protocol";
/// `metadata.recovery.strategy`
pub const METADATA_RECOVERY_STRATEGY: &str = "metadata.recovery.strategy";
/// `metadata.recovery.rebootstrap.trigger.ms`
pub const METADATA_RECOVERY_REBOOTSTRAP_TRIGGER_MS: &str = "metadata.recovery.rebootstrap.trigger.ms";

/// `ssl.truststore.type`
pub const SSL_TRUSTSTORE_TYPE: &str = "ssl.truststore.type";
/// `ssl.truststore.location`
pub const SSL_TRUSTSTORE_LOCATION: &str = "ssl.truststore.location";
/// `ssl.truststore.certificates`
pub const SSL_TRUSTSTORE_CERTIFICATES: &str = "ssl.truststore.certificates";
/// `ssl.keystore.type`
pub const SSL_KEYSTORE_TYPE: &str = "ssl.keystore.type";
/// `ssl.keystore.location`
pub const SSL_KEYSTORE_LOCATION: &str = "ssl.keystore.location";
/// `ssl.keystore.key`
pub const SSL_KEYSTORE_KEY: &str = "ssl.keystore.key";
/// `ssl.keystore.certificate.chain`
pub const SSL_KEYSTORE_CERTIFICATE_CHAIN: &str = "ssl.keystore.certificate.chain";
/// `ssl.key.password`
pub const SSL_KEY_PASSWORD: &str = "ssl.key.password";
/// `ssl.endpoint.identification.algorithm`
pub const SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: &str = "ssl.endpoint.identification.algorithm";
/// `ssl.protocol`
pub const SSL_PROTOCOL: &str = "ssl.protocol";
/// `ssl.enabled.protocols`
pub const SSL_ENABLED_PROTOCOLS: &str = "ssl.enabled.protocols";
/// `sasl.mechanism`
pub const SASL_MECHANISM: &str = "sasl.mechanism";
/// `sasl.jaas.config`
pub const SASL_JAAS_CONFIG: &str = "sasl.jaas.config";
/// `sasl.username` (librdkafka's name; not a Java key)
pub const SASL_USERNAME: &str = "sasl.username";
/// `sasl.password` (librdkafka's name; not a Java key)
pub const SASL_PASSWORD: &str = "sasl.password";

/// Every shared client key. Producer, consumer and admin tables extend this one.
pub const CLIENT_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: BOOTSTRAP_SERVERS,
        ty: List,
        default: None,
        validator: HostPortList,
        doc: "Comma-separated `host:port` list used to discover the cluster (`[v6addr]:port` for IPv6). \
              Only the initial contact points: the client then uses the brokers the cluster advertises, \
              and returns to this list when it rebootstraps (see `metadata.recovery.strategy`).",
    },
    ConfigKey {
        name: CLIENT_ID,
        ty: String,
        default: Some(""),
        validator: Any,
        doc: "Sent with every request so broker logs and quotas can name this client.",
    },
    ConfigKey {
        name: CLIENT_RACK,
        ty: String,
        default: Some(""),
        validator: Any,
        doc: "The rack of this client, for rack-aware fetching from followers (KIP-392) and assignment.",
    },
    ConfigKey {
        name: REQUEST_TIMEOUT_MS,
        ty: Int,
        default: Some("30000"),
        validator: AtLeast(0),
        doc: "How long to wait for the response to one request. A timed-out request fails and, as in \
              Java, its connection is closed (its other requests fail as disconnected). Must not exceed \
              `default.api.timeout.ms` when both are set.",
    },
    ConfigKey {
        name: DEFAULT_API_TIMEOUT_MS,
        ty: Int,
        default: Some("60000"),
        validator: AtLeast(0),
        doc: "Default deadline of a whole API call (metadata waits, coordinator lookups, admin calls) \
              including retries. If not set and below `request.timeout.ms`, it is raised to it.",
    },
    ConfigKey {
        name: METADATA_MAX_AGE_MS,
        ty: Long,
        default: Some("300000"),
        validator: AtLeast(0),
        doc: "Metadata is refreshed at least this often, even without leadership changes.",
    },
    ConfigKey {
        name: RETRY_BACKOFF_MS,
        ty: Long,
        default: Some("100"),
        validator: AtLeast(0),
        doc: "Initial wait before retrying a failed request or metadata refresh; grows exponentially \
              (×2, ±20% jitter) up to `retry.backoff.max.ms`.",
    },
    ConfigKey {
        name: RETRY_BACKOFF_MAX_MS,
        ty: Long,
        default: Some("1000"),
        validator: AtLeast(0),
        doc: "Cap of the retry backoff. If only `retry.backoff.ms` is set and exceeds it, the cap is \
              raised to match; setting both with base > max is an error.",
    },
    ConfigKey {
        name: RECONNECT_BACKOFF_MS,
        ty: Long,
        default: Some("50"),
        validator: AtLeast(0),
        doc: "Initial wait before reconnecting to a broker after a failed connection; grows \
              exponentially (×2, ±20% jitter) per consecutive failure up to `reconnect.backoff.max.ms`.",
    },
    ConfigKey {
        name: RECONNECT_BACKOFF_MAX_MS,
        ty: Long,
        default: Some("1000"),
        validator: AtLeast(0),
        doc: "Cap of the reconnect backoff. Same base/max rule as `retry.backoff.max.ms`.",
    },
    ConfigKey {
        name: SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
        ty: Long,
        default: Some("10000"),
        validator: AtLeast(0),
        doc: "How long connection setup (TCP connect, the setup stage and the ApiVersions handshake) may \
              take; grows exponentially per consecutive failure up to `socket.connection.setup.timeout.max.ms`.",
    },
    ConfigKey {
        name: SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS,
        ty: Long,
        default: Some("30000"),
        validator: AtLeast(0),
        doc: "Cap of the connection setup timeout. Same base/max rule as `retry.backoff.max.ms`.",
    },
    ConfigKey {
        name: CONNECTIONS_MAX_IDLE_MS,
        ty: Long,
        default: Some("540000"),
        validator: AtLeast(-1),
        doc: "Close a connection with no request in flight after this long without traffic; -1 disables.",
    },
    ConfigKey {
        name: SEND_BUFFER_BYTES,
        ty: Int,
        default: Some("131072"),
        validator: AtLeast(-1),
        doc: "TCP send buffer (SO_SNDBUF); -1 keeps the OS default.",
    },
    ConfigKey {
        name: RECEIVE_BUFFER_BYTES,
        ty: Int,
        default: Some("65536"),
        validator: AtLeast(-1),
        doc: "TCP receive buffer (SO_RCVBUF); -1 keeps the OS default.",
    },
    ConfigKey {
        name: CLIENT_DNS_LOOKUP,
        ty: String,
        default: Some("use_all_dns_ips"),
        validator: OneOf(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]),
        doc: "`use_all_dns_ips`: try every IP a host name resolves to, in order, until one connects. \
              `resolve_canonical_bootstrap_servers_only` is accepted but currently behaves like \
              `use_all_dns_ips` (canonical-name lookup is not implemented).",
    },
    ConfigKey {
        name: SECURITY_PROTOCOL,
        ty: String,
        default: Some("PLAINTEXT"),
        validator: OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        doc: "Protocol used to talk to brokers: `PLAINTEXT` (TCP), `SSL` (TLS, see the `ssl.*` keys), \
              `SASL_PLAINTEXT` (SASL over TCP, see the `sasl.*` keys) or `SASL_SSL` (SASL over TLS). \
              TLS is rustls with the ring provider (TLS 1.2 and 1.3). The `ssl.*` keys are ignored \
              without TLS and the `sasl.*` keys without SASL, as in Java.",
    },
    ConfigKey {
        name: METADATA_RECOVERY_STRATEGY,
        ty: String,
        default: Some("rebootstrap"),
        validator: OneOf(&["none", "rebootstrap"]),
        doc: "What to do when no known broker can be reached: `rebootstrap` forgets the known brokers \
              and starts again from `bootstrap.servers` (also after `metadata.recovery.rebootstrap.trigger.ms` \
              without a successful metadata update); `none` keeps trying the known brokers.",
    },
    ConfigKey {
        name: METADATA_RECOVERY_REBOOTSTRAP_TRIGGER_MS,
        ty: Long,
        default: Some("300000"),
        validator: AtLeast(0),
        doc: "With `metadata.recovery.strategy=rebootstrap`: rebootstrap when metadata could not be \
              refreshed for this long.",
    },
    ConfigKey {
        name: SSL_TRUSTSTORE_TYPE,
        ty: String,
        default: Some("PEM"),
        validator: OneOf(&["PEM", "JKS", "PKCS12"]),
        doc: "Format of the trust store. Only `PEM` is supported (the default here; Java's default is \
              `JKS`): convert a JKS/PKCS12 store with `keytool -exportcert -rfc` or `openssl pkcs12 -nokeys`.",
    },
    ConfigKey {
        name: SSL_TRUSTSTORE_LOCATION,
        ty: String,
        default: Some(""),
        validator: Any,
        doc: "Path of a PEM file with the CA certificates that sign the brokers' certificates. Read \
              when the configuration is built. Excludes `ssl.truststore.certificates`. With neither \
              set, the Mozilla root CAs (webpki-roots, compiled in) are trusted, where Java uses the \
              JVM's default trust store; the operating system's store is not read.",
    },
    ConfigKey {
        name: SSL_TRUSTSTORE_CERTIFICATES,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "The trusted CA certificates as PEM text (instead of `ssl.truststore.location`).",
    },
    ConfigKey {
        name: SSL_KEYSTORE_TYPE,
        ty: String,
        default: Some("PEM"),
        validator: OneOf(&["PEM", "JKS", "PKCS12"]),
        doc: "Format of the key store (the client certificate for mutual TLS). Only `PEM` is supported \
              (the default here; Java's default is `JKS`).",
    },
    ConfigKey {
        name: SSL_KEYSTORE_LOCATION,
        ty: String,
        default: Some(""),
        validator: Any,
        doc: "Path of a PEM file holding the client's private key (PKCS#8, PKCS#1 or SEC1) and its \
              certificate chain, for brokers with `ssl.client.auth=required`. Excludes \
              `ssl.keystore.key` / `ssl.keystore.certificate.chain`.",
    },
    ConfigKey {
        name: SSL_KEYSTORE_KEY,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "The client's private key as PEM text; needs `ssl.keystore.certificate.chain`.",
    },
    ConfigKey {
        name: SSL_KEYSTORE_CERTIFICATE_CHAIN,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "The client's certificate chain as PEM text (leaf first); needs `ssl.keystore.key`.",
    },
    ConfigKey {
        name: SSL_KEY_PASSWORD,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "Password of an encrypted private key. Encrypted keys (`ENCRYPTED PRIVATE KEY`) are not \
              supported and are rejected naming the key: decrypt them with \
              `openssl pkcs8 -topk8 -nocrypt`. Ignored for an unencrypted key.",
    },
    ConfigKey {
        name: SSL_ENDPOINT_IDENTIFICATION_ALGORITHM,
        ty: String,
        default: Some("https"),
        validator: Any,
        doc: "`https`: check that the broker's certificate names the host (or IP address, against its \
              IP SANs) the client connects to. Empty: skip the name check (the certificate chain is \
              still verified against the trust store). Nothing else is accepted.",
    },
    ConfigKey {
        name: SSL_PROTOCOL,
        ty: String,
        default: Some("TLSv1.3"),
        validator: OneOf(&["TLSv1.3", "TLSv1.2", "TLS"]),
        doc: "Accepted for Java compatibility: as in Java, the versions actually offered are \
              `ssl.enabled.protocols`.",
    },
    ConfigKey {
        name: SSL_ENABLED_PROTOCOLS,
        ty: List,
        default: Some("TLSv1.2,TLSv1.3"),
        validator: Any,
        doc: "TLS versions offered: `TLSv1.2` and/or `TLSv1.3` (older versions are not supported by \
              rustls and are rejected).",
    },
    ConfigKey {
        name: SASL_MECHANISM,
        ty: String,
        default: Some("GSSAPI"),
        validator: Any,
        doc: "SASL mechanism with `SASL_PLAINTEXT` / `SASL_SSL`: `PLAIN`, `SCRAM-SHA-256`, \
              `SCRAM-SHA-512` or `OAUTHBEARER`. Java's default `GSSAPI` (Kerberos) is not supported, so \
              a SASL protocol needs this key set. Sessions with a broker-side lifetime \
              (`connections.max.reauth.ms`) are re-authenticated on the same connection at 85-95% \
              of it (KIP-368).",
    },
    ConfigKey {
        name: SASL_JAAS_CONFIG,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "Credentials in Java's JAAS form, one login module: \
              `org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";` \
              (`ScramLoginModule` for SCRAM, which also takes `tokenauth=true` for delegation tokens; \
              `OAuthBearerLoginModule` for OAUTHBEARER, whose `unsecuredLoginStringClaim_sub=\"name\"` \
              and other `unsecuredLogin*` options make an unsecured JWS as Java does, for tests; \
              without them the token comes from an `OAuthBearerTokenProvider` given in code).",
    },
    ConfigKey {
        name: SASL_USERNAME,
        ty: String,
        default: Some(""),
        validator: Any,
        doc: "Not a Java key (librdkafka's name): the PLAIN / SCRAM user name, instead of \
              `sasl.jaas.config`. Needs `sasl.password`; excludes `sasl.jaas.config`.",
    },
    ConfigKey {
        name: SASL_PASSWORD,
        ty: Password,
        default: Some(""),
        validator: Any,
        doc: "Not a Java key (librdkafka's name): the PLAIN / SCRAM password, with `sasl.username`.",
    },
];

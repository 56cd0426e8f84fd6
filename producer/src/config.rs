//! `ProducerConfig`: the client keys plus the producer's, with the Java producer's names,
//! defaults (Kafka 4.x) and cross-key rules.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `acks` | `all` | `0` (no reply), `1` (leader), `all`/`-1` (all in-sync replicas) |
//! | `linger.ms` | `5` | how long a partition's batch waits for more records before it is sent |
//! | `batch.size` | `16384` | bytes per partition batch; a full batch is sent at once; also the sticky partitioner's switch size |
//! | `buffer.memory` | `33554432` | bytes of batches held in memory (the buffer pool) |
//! | `max.block.ms` | `60000` | how long a record may wait for topic metadata or buffer space before it fails |
//! | `compression.type` | `none` | `none`, `gzip`, `snappy`, `lz4`, `zstd` |
//! | `compression.gzip.level` / `compression.lz4.level` / `compression.zstd.level` | `-1` / `9` / `3` | codec levels |
//! | `delivery.timeout.ms` | `120000` | upper bound from append to acknowledgement, retries included; must be ≥ `linger.ms` + `request.timeout.ms` |
//! | `retries` | `2147483647` | retries of a failed batch (within `delivery.timeout.ms`) |
//! | `max.in.flight.requests.per.connection` | `5` | produce requests in flight per broker connection (≤ 5 with idempotence) |
//! | `enable.idempotence` | `true` | producer id + sequence numbers: no duplicates, no reordering; needs `acks=all`, `retries>0`, in-flight ≤ 5 (when not set explicitly, a conflicting key turns it off, as in Java) |
//! | `max.request.size` | `1048576` | largest produce request, and largest record |
//! | `partitioner.ignore.keys` | `false` | sticky partitioning even for keyed records |
//! | `partitioner.adaptive.partitioning.enable` | `true` | the sticky partitioner skips partitions whose leader is unknown |
//! | `partitioner.availability.timeout.ms` | `0` | accepted for compatibility; see the crate docs |
//! | `transactional.id` | (none) | turns on transactions (`init_transactions`, `begin_transaction`, ...); requires `enable.idempotence` (and so `acks=all`, `retries>0`, in-flight ≤ 5) |
//! | `transaction.timeout.ms` | `60000` | how long the coordinator lets a transaction stay open before aborting it (and fencing this producer); must not exceed the broker's `transaction.max.timeout.ms` |
//!
//! Every [`kafka_client::config`] key (bootstrap.servers, client.id, request.timeout.ms, …)
//! is accepted too.
//!
//! Java's `interceptor.classes` names classes to load; Rust cannot load a type by name, so
//! interceptors are added as values, in order, with [`ProducerConfigBuilder::interceptor`] or
//! [`ProducerConfig::with_interceptor`] (see [`ProducerInterceptor`]).
//!
//! Metrics (`Producer::metrics`) use Java's default windows: `metrics.sample.window.ms` 30 s
//! × `metrics.num.samples` 2; those keys are not configurable here.

use std::sync::LazyLock;
use std::time::Duration;

use kafka_client::ClientConfig;
use kafka_client::config::{ConfigDef, ConfigKey, ConfigType::*, ConfigValues, Properties, Validator::*};
use kafka_protocol::records::Compression;

use crate::error::{Error, Result};
use crate::interceptor::{Interceptors, ProducerInterceptor};

const KEYS: &[(
    &str,
    kafka_client::config::ConfigType,
    Option<&str>,
    kafka_client::config::Validator,
    &str,
)] = &[
    ("acks", String, Some("all"), OneOf(&["all", "-1", "0", "1"]), "Acknowledgements the leader waits for."),
    ("linger.ms", Long, Some("5"), AtLeast(0), "How long a batch waits for more records."),
    ("batch.size", Int, Some("16384"), AtLeast(0), "Bytes per partition batch; the sticky switch size."),
    ("buffer.memory", Long, Some("33554432"), AtLeast(0), "Bytes of batches held in memory."),
    ("max.block.ms", Long, Some("60000"), AtLeast(0), "Wait for metadata or buffer space."),
    (
        "compression.type",
        String,
        Some("none"),
        OneOf(&["none", "gzip", "snappy", "lz4", "zstd"]),
        "Batch codec.",
    ),
    ("compression.gzip.level", Int, Some("-1"), Between(-1, 9), "gzip level (-1 default)."),
    ("compression.lz4.level", Int, Some("9"), Between(1, 17), "lz4 level."),
    ("compression.zstd.level", Int, Some("3"), Between(-131072, 22), "zstd level."),
    ("delivery.timeout.ms", Int, Some("120000"), AtLeast(0), "Append-to-acknowledgement bound."),
    ("retries", Int, Some("2147483647"), AtLeast(0), "Retries of a failed batch."),
    (
        "max.in.flight.requests.per.connection",
        Int,
        Some("5"),
        AtLeast(1),
        "Requests in flight per connection.",
    ),
    ("enable.idempotence", Bool, Some("true"), Any, "Producer ids and sequence numbers."),
    ("max.request.size", Int, Some("1048576"), AtLeast(0), "Largest request and record."),
    ("partitioner.ignore.keys", Bool, Some("false"), Any, "Sticky partitioning for keyed records too."),
    (
        "partitioner.adaptive.partitioning.enable",
        Bool,
        Some("true"),
        Any,
        "Skip partitions without a leader.",
    ),
    ("partitioner.availability.timeout.ms", Long, Some("0"), AtLeast(0), "Accepted for compatibility."),
    ("transactional.id", String, Some(""), Any, "Transactional id; turns on transactions."),
    ("transaction.timeout.ms", Int, Some("60000"), AtLeast(1), "Coordinator-side transaction timeout."),
];

static DEF: LazyLock<ConfigDef> = LazyLock::new(|| {
    ClientConfig::def().clone().extend(KEYS.iter().map(|&(name, ty, default, validator, doc)| ConfigKey {
        name,
        ty,
        default,
        validator,
        doc,
    }))
});

/// Which replicas must have a batch before the leader answers (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: the broker sends no response.
    None,
    /// `acks=1`: the leader has it.
    Leader,
    /// `acks=all` / `-1`: every in-sync replica has it.
    All,
}

impl Acks {
    /// The wire value.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// The typed producer configuration.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// The shared client settings.
    pub client: ClientConfig,
    /// `acks`.
    pub acks: Acks,
    /// `linger.ms`.
    pub linger: Duration,
    /// `batch.size`.
    pub batch_size: usize,
    /// `buffer.memory`.
    pub buffer_memory: usize,
    /// `max.block.ms`.
    pub max_block: Duration,
    /// `compression.type`.
    pub compression: Compression,
    /// The level for `compression` (`None`: the codec's default).
    pub compression_level: Option<i32>,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retries`.
    pub retries: u32,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `enable.idempotence` after Java's rules.
    pub idempotence: bool,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `partitioner.ignore.keys`.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`.
    pub partitioner_adaptive: bool,
    /// `transactional.id` (`None`: not transactional).
    pub transactional_id: Option<std::string::String>,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// The interceptor chain (Java's `interceptor.classes`, set with
    /// [`ProducerConfigBuilder::interceptor`] or [`ProducerConfig::with_interceptor`]).
    pub(crate) interceptors: Interceptors,
}

impl ProducerConfig {
    /// The combined key table (client + producer keys).
    pub fn def() -> &'static ConfigDef {
        &DEF
    }

    /// From string properties; unknown keys are errors that suggest the closest key.
    pub fn from_properties(props: &Properties) -> Result<ProducerConfig> {
        let v = DEF.parse(props)?;
        Self::from_values(&v)
    }

    /// From `(key, value)` pairs.
    pub fn from_pairs<K: Into<std::string::String>, V: Into<std::string::String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ProducerConfig> {
        Self::from_properties(&pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// Adds an interceptor after those already configured (Java's `interceptor.classes`).
    pub fn with_interceptor(mut self, interceptor: impl ProducerInterceptor + 'static) -> Self {
        self.interceptors.push(std::sync::Arc::new(interceptor));
        self
    }

    /// A builder: `ProducerConfig::builder().set("acks", "1").bootstrap_servers(..).build()`.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    fn from_values(v: &ConfigValues) -> Result<ProducerConfig> {
        let client = ClientConfig::from_values(v)?;
        let acks = match v.string("acks") {
            "0" => Acks::None,
            "1" => Acks::Leader,
            _ => Acks::All,
        };
        let compression = match v.string("compression.type") {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        };
        let compression_level = match compression {
            Compression::Gzip => Some(v.number("compression.gzip.level") as i32).filter(|l| *l >= 0),
            Compression::Lz4 => Some(v.number("compression.lz4.level") as i32),
            Compression::Zstd => Some(v.number("compression.zstd.level") as i32),
            _ => None,
        };
        let linger = Duration::from_millis(v.number("linger.ms") as u64);
        let delivery_timeout = Duration::from_millis(v.number("delivery.timeout.ms") as u64);
        if delivery_timeout < linger + client.request_timeout {
            return Err(Error::Config(format!(
                "delivery.timeout.ms ({} ms) must be at least linger.ms + request.timeout.ms ({} ms)",
                delivery_timeout.as_millis(),
                (linger + client.request_timeout).as_millis()
            )));
        }
        let retries = v.number("retries") as u32;
        let max_in_flight = v.number("max.in.flight.requests.per.connection") as usize;
        // Java: explicit enable.idempotence=true with a conflicting key is an error; the
        // default (true) quietly turns off instead.
        let conflicts: Vec<&str> = [
            (acks != Acks::All, "acks must be all"),
            (retries == 0, "retries must be above 0"),
            (max_in_flight > 5, "max.in.flight.requests.per.connection must be at most 5"),
        ]
        .into_iter()
        .filter_map(|(bad, why)| bad.then_some(why))
        .collect();
        let wanted = v.bool("enable.idempotence");
        let idempotence = wanted && conflicts.is_empty();
        if wanted && v.is_explicit("enable.idempotence") && !conflicts.is_empty() {
            return Err(Error::Config(format!("enable.idempotence=true: {}", conflicts.join("; "))));
        }
        let transactional_id = Some(v.string("transactional.id").to_owned()).filter(|s| !s.is_empty());
        if transactional_id.is_some() && !idempotence {
            let why = if !wanted { "enable.idempotence is false".to_owned() } else { conflicts.join("; ") };
            return Err(Error::Config(format!(
                "transactional.id requires enable.idempotence=true, but {why}"
            )));
        }
        Ok(ProducerConfig {
            client,
            acks,
            linger,
            batch_size: v.number("batch.size").max(1) as usize,
            buffer_memory: v.number("buffer.memory") as usize,
            max_block: Duration::from_millis(v.number("max.block.ms") as u64),
            compression,
            compression_level,
            delivery_timeout,
            retries,
            max_in_flight,
            idempotence,
            max_request_size: v.number("max.request.size") as usize,
            partitioner_ignore_keys: v.bool("partitioner.ignore.keys"),
            partitioner_adaptive: v.bool("partitioner.adaptive.partitioning.enable"),
            transactional_id,
            transaction_timeout: Duration::from_millis(v.number("transaction.timeout.ms") as u64),
            interceptors: Interceptors::default(),
        })
    }
}

/// Typed setters over the same key table as [`ProducerConfig::from_properties`].
#[derive(Default, Clone)]
pub struct ProducerConfigBuilder {
    props: Properties,
    interceptors: Interceptors,
}

/// Password-typed keys (`sasl.jaas.config`, `ssl.key.password`, ...) print as `[hidden]`.
impl std::fmt::Debug for ProducerConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerConfigBuilder")
            .field("props", &DEF.redacted(&self.props))
            .field("interceptors", &self.interceptors)
            .finish()
    }
}

impl ProducerConfigBuilder {
    /// Sets any key (client or producer) by its Java name.
    pub fn set(mut self, key: impl Into<std::string::String>, value: impl ToString) -> Self {
        self.props.insert(key.into(), value.to_string());
        self
    }
    /// `bootstrap.servers`.
    pub fn bootstrap_servers(self, servers: impl AsRef<str>) -> Self {
        let s = servers.as_ref().to_owned();
        self.set("bootstrap.servers", s)
    }
    /// `client.id`.
    pub fn client_id(self, id: impl AsRef<str>) -> Self {
        let s = id.as_ref().to_owned();
        self.set("client.id", s)
    }
    /// `acks`.
    pub fn acks(self, acks: Acks) -> Self {
        self.set("acks", acks.wire())
    }
    /// `linger.ms`.
    pub fn linger(self, d: Duration) -> Self {
        self.set("linger.ms", d.as_millis())
    }
    /// `batch.size`.
    pub fn batch_size(self, bytes: usize) -> Self {
        self.set("batch.size", bytes)
    }
    /// `compression.type`.
    pub fn compression(self, c: Compression) -> Self {
        let name = match c {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        };
        self.set("compression.type", name)
    }
    /// `enable.idempotence`.
    pub fn idempotence(self, on: bool) -> Self {
        self.set("enable.idempotence", on)
    }
    /// `transactional.id`.
    pub fn transactional_id(self, id: impl AsRef<str>) -> Self {
        let s = id.as_ref().to_owned();
        self.set("transactional.id", s)
    }
    /// Adds an interceptor to the chain, after those added before (Java's
    /// `interceptor.classes`, which cannot name Rust types). Interceptors see every record in
    /// `send` and every record's outcome; their errors and panics are logged, never returned.
    pub fn interceptor(mut self, interceptor: impl ProducerInterceptor + 'static) -> Self {
        self.interceptors.push(std::sync::Arc::new(interceptor));
        self
    }
    /// Parses and checks everything.
    pub fn build(self) -> Result<ProducerConfig> {
        let mut c = ProducerConfig::from_properties(&self.props)?;
        c.interceptors = self.interceptors;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_debug_hides_secrets() {
        let b = ProducerConfig::builder().set(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"s3cret\";",
        );
        let shown = format!("{b:?}");
        assert!(!shown.contains("s3cret") && shown.contains("[hidden]"), "{shown}");
    }

    fn base() -> ProducerConfigBuilder {
        ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092")
    }

    #[test]
    fn java_defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!((c.batch_size, c.buffer_memory, c.max_in_flight), (16384, 32 << 20, 5));
        assert!(c.idempotence);
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert_eq!(c.compression, Compression::None);
    }

    #[test]
    fn idempotence_follows_java_rules() {
        // default idempotence quietly yields to acks=1
        let c = base().set("acks", "1").build().unwrap();
        assert!(!c.idempotence);
        // explicit idempotence with acks=1 is an error naming both
        let e = base().set("acks", "1").idempotence(true).build().unwrap_err().to_string();
        assert!(e.contains("enable.idempotence") && e.contains("acks"), "{e}");
        let e =
            base().set("max.in.flight.requests.per.connection", "6").idempotence(true).build().unwrap_err();
        assert!(e.to_string().contains("max.in.flight"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = base().set("lingr.ms", "5").build().unwrap_err().to_string();
        assert!(e.contains("lingr.ms") && e.contains("linger.ms"), "a typo suggests the key: {e}");
        let e = base().set("compression.type", "brotli").build().unwrap_err().to_string();
        assert!(e.contains("compression.type"), "{e}");
        let e = base().set("delivery.timeout.ms", "1000").build().unwrap_err().to_string();
        assert!(e.contains("delivery.timeout.ms"), "{e}");
    }

    #[test]
    fn transactional_id_requires_idempotence() {
        let c = base().transactional_id("t").build().unwrap();
        assert_eq!(c.transactional_id.as_deref(), Some("t"));
        assert_eq!(c.transaction_timeout, Duration::from_secs(60));
        let e = base().transactional_id("t").idempotence(false).build().unwrap_err().to_string();
        assert!(e.contains("transactional.id") && e.contains("enable.idempotence"), "{e}");
        let e = base().transactional_id("t").set("acks", "1").build().unwrap_err().to_string();
        assert!(e.contains("transactional.id") && e.contains("acks"), "{e}");
    }

    #[test]
    fn codec_levels() {
        let c = base().compression(Compression::Zstd).set("compression.zstd.level", "7").build().unwrap();
        assert_eq!((c.compression, c.compression_level), (Compression::Zstd, Some(7)));
        let c = base().compression(Compression::Gzip).build().unwrap();
        assert_eq!(c.compression_level, None);
    }
}

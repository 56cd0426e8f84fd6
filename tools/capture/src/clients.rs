//! The third-party clients. Each produces the same five records to `vectors`/0 (the fixture
//! that kafka-protocol/tests/real_client_batches.rs checks):
//!
//! - key `key-{i}`, value `"value-{i} "` repeated and cut to 100 bytes,
//! - one header `h` = `v{i}`,
//! - timestamp `1_700_000_000_000 + i` (CreateTime),
//!
//! for `i` in `0..5`, lingering so that they go out as one batch.

use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::broker::TOPIC;

/// How many records each run produces.
pub const RECORDS: usize = 5;
/// The first record's timestamp.
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// The value of record `i`.
pub fn value(i: usize) -> String {
    let mut v = format!("value-{i} ").repeat(13);
    v.truncate(100);
    v
}

/// A third-party client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// librdkafka (bundled in the rdkafka crate), in process.
    Rdkafka,
    /// kafka-python, as a subprocess running `capture_kafka_python.py`.
    KafkaPython,
}

/// One producer session: a codec and whether the producer is idempotent.
#[derive(Debug, Clone)]
pub struct Run {
    /// Kafka's `compression.type` name.
    pub codec: &'static str,
    /// `enable.idempotence`.
    pub idempotent: bool,
}

impl Run {
    /// E.g. `lz4` or `none+idempotence`.
    pub fn label(&self) -> String {
        if self.idempotent { format!("{}+idempotence", self.codec) } else { self.codec.to_owned() }
    }
}

impl Client {
    /// The directory and manifest name.
    pub fn name(self) -> &'static str {
        match self {
            Client::Rdkafka => "rdkafka",
            Client::KafkaPython => "kafka-python",
        }
    }

    /// The client id each client sends.
    pub fn client_id(self) -> &'static str {
        match self {
            Client::Rdkafka => "capture-rdkafka",
            Client::KafkaPython => "capture-kafka-python",
        }
    }

    /// Parses [`Client::name`].
    pub fn from_name(s: &str) -> Option<Client> {
        [Client::Rdkafka, Client::KafkaPython].into_iter().find(|c| c.name() == s)
    }

    /// Runs one session against `bootstrap`; returns the client's version string.
    pub async fn run(self, bootstrap: &str, run: &Run, python: &str) -> Result<String, String> {
        match self {
            Client::Rdkafka => rdkafka_run(bootstrap, run).await,
            Client::KafkaPython => kafka_python_run(bootstrap, run, python).await,
        }
    }
}

async fn rdkafka_run(bootstrap: &str, run: &Run) -> Result<String, String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", Client::Rdkafka.client_id())
        .set("compression.type", run.codec)
        .set("enable.idempotence", run.idempotent.to_string())
        .set("acks", "all")
        .set("linger.ms", "200")
        .set("message.timeout.ms", "15000")
        .create()
        .map_err(|e| e.to_string())?;
    let mut pending = Vec::new();
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let value = value(i);
        let header = format!("v{i}");
        let record = FutureRecord::to(TOPIC)
            .partition(0)
            .key(&key)
            .payload(&value)
            .timestamp(BASE_TIMESTAMP + i as i64)
            .headers(OwnedHeaders::new().insert(Header { key: "h", value: Some(&header) }));
        pending.push(producer.send_result(record).map_err(|(e, _)| e.to_string())?);
    }
    for (i, p) in pending.into_iter().enumerate() {
        match p.await {
            Ok(Ok(delivery)) => eprintln!("rdkafka: record {i} at offset {}", delivery.offset),
            Ok(Err((e, _))) => return Err(format!("record {i}: {e}")),
            Err(_) => return Err(format!("record {i}: delivery future cancelled")),
        }
    }
    producer.flush(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    // rd_kafka_destroy blocks while it closes the connections.
    tokio::task::spawn_blocking(move || drop(producer)).await.map_err(|e| e.to_string())?;
    Ok(format!("librdkafka {librdkafka} (rdkafka crate 0.39)"))
}

async fn kafka_python_run(bootstrap: &str, run: &Run, python: &str) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("capture_kafka_python.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(&script)
        .args([
            "--bootstrap",
            bootstrap,
            "--codec",
            run.codec,
            "--client-id",
            Client::KafkaPython.client_id(),
        ])
        .kill_on_drop(true);
    if run.idempotent {
        cmd.arg("--idempotence");
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| "kafka-python timed out after 60 s".to_owned())?
        .map_err(|e| format!("{python} {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!("exit {}: {last}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("client-version: "))
        .map(str::to_owned)
        .ok_or_else(|| "the script did not print its client version".to_owned())
}

//! Whole-system tests of the SDK, run against the embedded test broker or a real cluster.
//!
//! Every test asks [`target`] for its cluster. With the environment variable `KAFKA_BOOTSTRAP`
//! unset it starts an embedded [`TestCluster`] (so `cargo test --workspace` needs nothing
//! outside the repo); set (`host:port[,host:port…]`), the same test code runs against that
//! cluster. `integration-tests/real-kafka/run-suite.sh` starts Apache Kafka and sets it.
//!
//! Tests that need fault injection only the test broker has call [`Target::test_broker`] and
//! return early (printing why) on a real cluster; tests that need a real failure (a killed
//! broker process) call [`Target::real_only`] and return early on the test broker.

use std::sync::atomic::{AtomicU32, Ordering};

use kafka_test_broker::TestCluster;

mod txn_writer;
pub use txn_writer::TxnWriter;

/// The environment variable naming an external cluster's bootstrap servers.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP";

/// The cluster a test runs against.
pub enum Target {
    /// An embedded test-broker cluster started for this test (stopped when dropped).
    Embedded(TestCluster),
    /// An external cluster from `KAFKA_BOOTSTRAP`.
    External {
        /// The bootstrap list as given.
        bootstrap: String,
        /// How many brokers the cluster has (`KAFKA_BROKERS`, default 1).
        brokers: usize,
    },
}

/// Starts (or names) the cluster for one test: at least `brokers` brokers. On an external
/// cluster with fewer brokers than asked, returns `None` after printing why the test is
/// skipped.
pub async fn target(brokers: usize) -> Option<Target> {
    match std::env::var(BOOTSTRAP_ENV) {
        Ok(bootstrap) if !bootstrap.trim().is_empty() => {
            let have = std::env::var("KAFKA_BROKERS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
            if have < brokers {
                eprintln!("skipped: needs {brokers} brokers, {BOOTSTRAP_ENV} names a cluster of {have}");
                return None;
            }
            Some(Target::External { bootstrap, brokers: have })
        }
        _ => {
            let cluster = TestCluster::builder()
                .brokers(brokers)
                .start()
                .await
                .unwrap_or_else(|e| panic!("starting a {brokers}-broker test cluster: {e}"));
            Some(Target::Embedded(cluster))
        }
    }
}

impl Target {
    /// The bootstrap servers, `host:port[,…]`.
    pub fn bootstrap(&self) -> String {
        match self {
            Target::Embedded(c) => c.bootstrap_servers(),
            Target::External { bootstrap, .. } => bootstrap.clone(),
        }
    }

    /// Whether this is a real (external) cluster.
    pub fn is_real(&self) -> bool {
        matches!(self, Target::External { .. })
    }

    /// The embedded cluster, for fault injection and inspection; `None` (after printing that
    /// `test` is skipped) on a real cluster.
    pub fn test_broker(&self, test: &str) -> Option<&TestCluster> {
        match self {
            Target::Embedded(c) => Some(c),
            Target::External { .. } => {
                eprintln!("skipped on a real cluster: {test} needs the test broker's fault injection");
                None
            }
        }
    }

    /// `Some(bootstrap)` on a real cluster; `None` (after printing that `test` is skipped) on
    /// the test broker.
    pub fn real_only(&self, test: &str) -> Option<&str> {
        match self {
            Target::External { bootstrap, .. } => Some(bootstrap),
            Target::Embedded(_) => {
                eprintln!("skipped on the test broker: {test} needs a real Kafka process");
                None
            }
        }
    }
}

/// A topic name unique to this process and call, so tests sharing a real cluster never
/// collide: `{prefix}-{pid}-{n}`.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Retries `f` until it yields `Some`, for up to 30 s (metadata, configs and group state reach
/// the other brokers of a real cluster a moment after the call that changed them returns).
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(what, std::time::Duration::from_secs(30), f).await
}

/// [`eventually`] with a limit of its own.
pub async fn eventually_within<T, F, Fut>(what: &str, limit: std::time::Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Creates a topic named after `prefix` (see [`unique_topic`]) with `partitions` partitions and
/// `replication` replicas, and waits until every partition has a leader in the metadata.
pub async fn create_topic(bootstrap: &str, prefix: &str, partitions: i32, replication: i16) -> String {
    use kafka_admin::{AdminClient, NewTopic};
    let a = AdminClient::from_pairs([("bootstrap.servers", bootstrap)]).unwrap();
    let name = unique_topic(prefix);
    let r = a.create_topics(&[NewTopic::new(name.clone(), partitions, replication)], false).await.unwrap();
    r[&name].as_ref().unwrap_or_else(|e| panic!("creating topic {name}: {e}"));
    eventually(&format!("topic {name} has a leader for each of its {partitions} partitions"), || async {
        let d = a.describe_topics(&[name.as_str()]).await.ok()?;
        d[&name]
            .as_ref()
            .ok()
            .filter(|t| {
                t.partitions.len() == partitions as usize && t.partitions.iter().all(|p| p.leader.is_some())
            })
            .map(|_| ())
    })
    .await;
    a.close();
    name
}

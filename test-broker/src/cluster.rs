//! `TestCluster`: the builder, the handle tests hold, and the per-broker listeners.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::control::Faults;
use crate::handlers::sasl::SaslConfig;
use crate::sasl::SaslUsers;
use crate::state::{BrokerState, Settings, State};
use crate::tls::TlsServerConfig;

/// Shared by every listener and connection task of a cluster.
///
/// Locking: `state` and `faults` are std mutexes held only for short synchronous sections,
/// never across an await; take `state` before `faults` if both are needed.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    /// Woken (notify_waiters) after every append, so long-polling fetches re-check.
    pub data_changed: Notify,
    /// Woken after any group or transaction change (joins, syncs, expiries), so waiting
    /// JoinGroup / SyncGroup handlers re-check.
    pub coordinator_changed: Notify,
    /// Largest accepted request frame (`socket.request.max.bytes`).
    pub max_frame_size: usize,
    /// SASL users and session lifetime; `None`: no authentication (PLAINTEXT / SSL).
    pub sasl: Option<Arc<SaslConfig>>,
    /// TLS for every listener; `None`: plain TCP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Error starting or controlling a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Binding a listener failed.
    #[error("cannot bind broker {broker} on {addr}: {source}")]
    Bind {
        /// Broker id.
        broker: i32,
        /// Address.
        addr: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TLS configuration cannot be used (unreadable PEM, key not matching, …).
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
    /// No broker with that id.
    #[error("no broker with id {0}")]
    UnknownBroker(i32),
    /// Creating a topic failed.
    #[error("cannot create topic {topic}: {message}")]
    CreateTopic {
        /// Topic.
        topic: String,
        /// Why.
        message: String,
    },
}

impl ClusterError {
    /// Whether retrying could help (only a bind race on a fixed port).
    pub fn is_retriable(&self) -> bool {
        matches!(self, ClusterError::Bind { .. })
    }
}

/// Builds a [`TestCluster`].
#[derive(Debug, Clone)]
pub struct TestClusterBuilder {
    brokers: usize,
    base_port: u16,
    settings: Settings,
    topics: Vec<(String, i32, i16)>,
    racks: bool,
    max_frame_size: usize,
    sasl_users: SaslUsers,
    sasl_session_lifetime: Option<Duration>,
    tls: Option<TlsServerConfig>,
}

impl Default for TestClusterBuilder {
    fn default() -> Self {
        TestClusterBuilder {
            brokers: 1,
            base_port: 0,
            settings: Settings {
                cluster_id: "kafka-test-broker-cluster".into(),
                auto_create_topics: true,
                default_partitions: 1,
                default_replication_factor: 3,
                group_initial_rebalance_delay_ms: 0,
                transaction_max_timeout_ms: 900_000,
                reassignment_delay_ms: 0,
                rack_aware_replica_selector: false,
                transaction_version: 2,
            },
            topics: Vec::new(),
            racks: false,
            max_frame_size: 100 * 1024 * 1024,
            sasl_users: SaslUsers::default(),
            sasl_session_lifetime: None,
            tls: None,
        }
    }
}

impl TestClusterBuilder {
    /// Number of brokers (node ids 1..=n). Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n.max(1);
        self
    }
    /// Listen on `port`, `port + 1`, … instead of ephemeral ports (0, the default).
    pub fn base_port(mut self, port: u16) -> Self {
        self.base_port = port;
        self
    }
    /// `auto.create.topics.enable` (default true).
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.settings.auto_create_topics = on;
        self
    }
    /// `num.partitions` for auto-created topics (default 1).
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.settings.default_partitions = n.max(1);
        self
    }
    /// `default.replication.factor` for auto-created topics (default 3, capped by brokers).
    pub fn default_replication_factor(mut self, n: i16) -> Self {
        self.settings.default_replication_factor = n.max(1);
        self
    }
    /// The cluster id.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.settings.cluster_id = id.into();
        self
    }
    /// `group.initial.rebalance.delay.ms` (default 0 here, 3000 in Kafka).
    pub fn group_initial_rebalance_delay_ms(mut self, ms: u64) -> Self {
        self.settings.group_initial_rebalance_delay_ms = ms;
        self
    }
    /// Pre-creates a topic.
    pub fn topic(mut self, name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        self.topics.push((name.into(), partitions, replication_factor));
        self
    }
    /// Gives broker n the rack `rack-n`.
    pub fn racks(mut self, on: bool) -> Self {
        self.racks = on;
        self
    }
    /// `replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector`
    /// (KIP-392): a partition leader answers a consumer fetch that carries a rack id with a
    /// preferred read replica, an in-sync replica in that rack (use with [`racks`](Self::racks):
    /// broker n is in `rack-n`). Followers always serve consumer fetches (v11+) up to the high
    /// watermark, as in Kafka; every replica shares the one in-memory log.
    pub fn rack_aware_replica_selector(mut self, on: bool) -> Self {
        self.settings.rack_aware_replica_selector = on;
        self
    }
    /// Largest accepted request frame (default 100 MiB, Kafka's `socket.request.max.bytes`).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// How long a partition reassignment that adds replicas stays in progress, visible in
    /// ListPartitionReassignments with its adding / removing replicas (default zero: every
    /// reassignment completes at once, since replicas share one in-memory log).
    pub fn reassignment_delay(mut self, delay: Duration) -> Self {
        self.settings.reassignment_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The finalized `transaction.version` feature ApiVersions reports (default 2, as a Kafka
    /// 4.x cluster formatted fresh). 2: transactions v2 (KIP-890 part 2) for clients that use
    /// Produce v12+ / EndTxn v5+ / TxnOffsetCommit v5+; 1 (or 0): transactions v1 only, any
    /// request version behaves as v1. Values above 2 are capped to 2.
    pub fn transaction_version(mut self, level: i16) -> Self {
        self.settings.transaction_version = level.clamp(0, 2);
        self
    }
    /// Adds a SASL user (repeatable). With at least one user every listener requires SASL
    /// (SASL_PLAINTEXT, or SASL_SSL with [`tls`](Self::tls)): PLAIN, SCRAM-SHA-256 and
    /// SCRAM-SHA-512 all accept each user's password. Before authenticating, a client may send
    /// only ApiVersions and SaslHandshake; anything else closes the connection, as in Kafka.
    pub fn sasl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.sasl_users.add(&name.into(), &password.into());
        self
    }
    /// `connections.max.reauth.ms` (KIP-368): reported as SaslAuthenticate v1+'s
    /// `session_lifetime_ms`. Once a session is that old, any request but SaslHandshake
    /// (which starts re-authentication on the same connection) closes the connection.
    /// Default: sessions never expire, and a second SaslHandshake gets ILLEGAL_SASL_STATE.
    pub fn sasl_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.sasl_session_lifetime = Some(lifetime);
        self
    }
    /// Serves every listener over TLS (rustls, ring provider); with `client_ca_pem`, clients
    /// must present a certificate signed by that CA (mTLS).
    pub fn tls(mut self, config: TlsServerConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Binds every broker's listener and starts serving.
    pub async fn start(self) -> Result<TestCluster, ClusterError> {
        let tls = match &self.tls {
            Some(cfg) => Some(crate::tls::acceptor(cfg).map_err(ClusterError::Tls)?),
            None => None,
        };
        let sasl = (!self.sasl_users.is_empty()).then(|| {
            Arc::new(SaslConfig {
                users: self.sasl_users.clone(),
                session_lifetime: self.sasl_session_lifetime,
            })
        });
        let mut listeners = Vec::new();
        let mut brokers = Vec::new();
        for i in 0..self.brokers {
            let id = i as i32 + 1;
            let port = if self.base_port == 0 { 0 } else { self.base_port + i as u16 };
            let addr = format!("127.0.0.1:{port}");
            let l = TcpListener::bind(&addr).await.map_err(|source| ClusterError::Bind {
                broker: id,
                addr,
                source,
            })?;
            let port = l
                .local_addr()
                .map_err(|source| ClusterError::Bind { broker: id, addr: "?".into(), source })?
                .port();
            brokers.push(BrokerState { id, port, rack: self.racks.then(|| format!("rack-{id}")), up: true });
            listeners.push((id, l));
        }
        let mut state = State::new(self.settings, brokers);
        for (name, partitions, rf) in &self.topics {
            state
                .create_topic(name, *partitions, *rf, None, BTreeMap::new())
                .map_err(|(_, message)| ClusterError::CreateTopic { topic: name.clone(), message })?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            data_changed: Notify::new(),
            coordinator_changed: Notify::new(),
            max_frame_size: self.max_frame_size,
            sasl,
            tls,
        });
        let ticker = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_millis(20));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let changed = shared.state().tick(crate::handlers::now_ms());
                    if changed {
                        shared.coordinator_changed.notify_waiters();
                        shared.data_changed.notify_waiters();
                    }
                }
            })
        };
        let mut runtimes = BTreeMap::new();
        for (id, l) in listeners {
            runtimes.insert(id, BrokerRuntime::spawn(shared.clone(), id, l));
        }
        tracing::info!(brokers = runtimes.len(), "test cluster started");
        Ok(TestCluster { shared, runtimes: Mutex::new(runtimes), ticker })
    }
}

/// A running broker's tasks.
struct BrokerRuntime {
    listener: JoinHandle<()>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl BrokerRuntime {
    fn spawn(shared: Arc<Shared>, id: i32, listener: TcpListener) -> Self {
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let conns = connections.clone();
        let listener = tokio::spawn(async move {
            loop {
                let (sock, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(broker = id, error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let shared = shared.clone();
                let mut set = conns.lock().unwrap_or_else(|p| p.into_inner());
                while set.try_join_next().is_some() {}
                set.spawn(crate::conn::accept(shared, id, sock, peer));
            }
        });
        BrokerRuntime { listener, connections }
    }

    fn stop(self) {
        self.listener.abort();
        self.connections.lock().unwrap_or_else(|p| p.into_inner()).abort_all();
    }
}

/// A running in-process cluster. Dropping it stops every listener and connection.
pub struct TestCluster {
    pub(crate) shared: Arc<Shared>,
    runtimes: Mutex<BTreeMap<i32, BrokerRuntime>>,
    /// Drives session expiry and rebalance / transaction timeouts.
    ticker: JoinHandle<()>,
}

impl TestCluster {
    /// A builder with one broker and auto-created single-partition topics.
    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder::default()
    }

    /// `host:port` of every broker, comma-separated (for `bootstrap.servers`).
    pub fn bootstrap_servers(&self) -> String {
        self.shared
            .state()
            .brokers
            .iter()
            .map(|b| format!("127.0.0.1:{}", b.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of broker `id`.
    pub fn broker_addr(&self, id: i32) -> Option<SocketAddr> {
        self.shared
            .state()
            .brokers
            .iter()
            .find(|b| b.id == id)
            .map(|b| SocketAddr::from(([127, 0, 0, 1], b.port)))
    }

    /// Broker ids.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.shared.state().brokers.iter().map(|b| b.id).collect()
    }

    /// Takes broker `id` down: its port refuses connections, open connections are closed, and
    /// leadership of its partitions moves to another in-sync replica (epoch bumped).
    pub fn stop_broker(&self, id: i32) -> Result<(), ClusterError> {
        let rt = self
            .runtimes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .ok_or(ClusterError::UnknownBroker(id))?;
        rt.stop();
        self.shared.state().set_broker_up(id, false);
        self.shared.data_changed.notify_waiters();
        Ok(())
    }

    /// Brings broker `id` back on the same port with its data.
    pub async fn start_broker(&self, id: i32) -> Result<(), ClusterError> {
        let port = self
            .shared
            .state()
            .brokers
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.port)
            .ok_or(ClusterError::UnknownBroker(id))?;
        let addr = format!("127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(&addr).await {
                Ok(l) => {
                    self.shared.state().set_broker_up(id, true);
                    let rt = BrokerRuntime::spawn(self.shared.clone(), id, l);
                    self.runtimes.lock().unwrap_or_else(|p| p.into_inner()).insert(id, rt);
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
        Err(ClusterError::Bind {
            broker: id,
            addr,
            source: last.unwrap_or_else(|| std::io::Error::other("bind failed")),
        })
    }

    /// Stops every broker.
    pub fn shutdown(&self) {
        let mut rts = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        for (_, rt) in std::mem::take(&mut *rts) {
            rt.stop();
        }
        self.ticker.abort();
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

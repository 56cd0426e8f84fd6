//! `NetworkClient`: the broker pool. One connection per (broker, [`Purpose`]), opened on
//! demand, replaced when it dies, with per-broker reconnect backoff and a growing setup timeout.
//!
//! Concurrency rules:
//! - `PoolInner.nodes` (std mutex, never held across an await) guards the address book and
//!   per-broker health (failure count, next allowed attempt).
//! - Each (broker, purpose) slot is a tokio mutex held while connecting, so concurrent callers
//!   share one connection attempt instead of racing several. Lock order: `slots` (std, brief)
//!   then a slot (async), then `nodes` (std, brief).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use kafka_protocol::Request;
use tokio::time::Instant;

use crate::{
    backoff::ExponentialBackoff,
    bootstrap::bootstrap_nodes,
    config::ClientConfig,
    conn::{
        Authenticator, BoxFuture, BoxStream, Connection, ConnectionOptions, NoAuth, RequestOptions,
        Transport, sasl::OAuthBearerTokenProvider, security_stages,
    },
    error::{BrokerRef, Error, Result},
    metrics::ClientMetrics,
};

/// What a connection carries. Separate connections per purpose keep a long JoinGroup or fetch
/// long-poll (a broker answers one request per connection at a time) from delaying produce
/// traffic. Metadata and coordinator lookups use [`Purpose::Admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Produce requests.
    Produce,
    /// Fetch requests (long polls).
    Fetch,
    /// Group coordination (JoinGroup, SyncGroup, Heartbeat, OffsetCommit…).
    Group,
    /// Everything else: metadata, coordinator lookup, admin APIs.
    Admin,
}

#[derive(Debug, Default, Clone)]
struct Health {
    failures: u32,
    next_attempt: Option<Instant>,
    last_error: Option<Error>,
}

#[derive(Debug, Default)]
struct Nodes {
    addrs: HashMap<i32, String>,
    health: HashMap<i32, Health>,
}

#[derive(Debug, Default)]
struct Slot {
    conn: Option<Connection>,
}

/// One (broker, purpose) connection slot; its tokio mutex is held while connecting.
type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

struct PoolInner {
    config: ClientConfig,
    opts: ConnectionOptions,
    transport: Arc<dyn Transport>,
    auth: Arc<dyn Authenticator>,
    reconnect: ExponentialBackoff,
    setup_timeout: ExponentialBackoff,
    nodes: Mutex<Nodes>,
    slots: Mutex<HashMap<(i32, Purpose), SharedSlot>>,
    metrics: ClientMetrics,
    /// Where `least_loaded_node` starts its scan, advanced on every call so that equally idle
    /// nodes take turns (Java starts at a random offset) instead of the lowest id always
    /// winning, which kept a refresh retrying a dead broker whose reconnect backoff had just
    /// expired.
    scan_start: std::sync::atomic::AtomicUsize,
}

/// A transport standing in for security settings that cannot work: every connect fails with
/// why.
#[derive(Debug)]
struct Unusable(Error);

impl Transport for Unusable {
    fn connect<'a>(&'a self, _: &'a BrokerRef, _: &'a str, _: u16) -> BoxFuture<'a, Result<BoxStream>> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}

/// The broker pool (Java's `NetworkClient`). Cheap to clone.
#[derive(Clone)]
pub struct NetworkClient {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for NetworkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkClient").field("nodes", &self.nodes()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NetworkClient {
    /// A pool with the setup stages `security.protocol` calls for (TCP or TLS; SASL or none),
    /// starting from the bootstrap servers. OAUTHBEARER needs [`NetworkClient::with_token_provider`]
    /// unless `sasl.jaas.config` has `unsecuredLogin*` options.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_security(config, None)
    }

    /// [`NetworkClient::new`] with the OAUTHBEARER tokens from `provider`.
    pub fn with_token_provider(config: ClientConfig, provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        Self::with_security(config, Some(provider))
    }

    fn with_security(config: ClientConfig, provider: Option<Arc<dyn OAuthBearerTokenProvider>>) -> Self {
        match security_stages(&config, provider) {
            Ok((transport, auth)) => Self::with_stages(config, transport, auth),
            Err(e) => {
                // Parsed configs were checked already; what is left (a missing token provider)
                // fails every connection attempt with the reason.
                tracing::error!(error = %e, "security settings unusable");
                Self::with_stages(config, Arc::new(Unusable(e)), Arc::new(NoAuth))
            }
        }
    }

    /// A pool with custom setup stages (TLS / SASL, or an in-memory transport in tests).
    pub fn with_stages(
        config: ClientConfig,
        transport: Arc<dyn Transport>,
        auth: Arc<dyn Authenticator>,
    ) -> Self {
        let pool = NetworkClient {
            inner: Arc::new(PoolInner {
                opts: ConnectionOptions::from_config(&config),
                reconnect: config.reconnect_backoff_policy(),
                setup_timeout: config.connection_setup_timeout_policy(),
                config,
                transport,
                auth,
                nodes: Mutex::default(),
                slots: Mutex::default(),
                metrics: ClientMetrics::default(),
                scan_start: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        pool.rebootstrap();
        pool
    }

    /// Per-broker network counters: requests, responses, failures, bytes in and out, request
    /// latency and connection churn (Java's `NetworkClient` metrics).
    pub fn metrics(&self) -> &ClientMetrics {
        &self.inner.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Known brokers: id and `host:port` (bootstrap entries have negative ids).
    pub fn nodes(&self) -> Vec<BrokerRef> {
        let mut v: Vec<_> = lock(&self.inner.nodes)
            .addrs
            .iter()
            .map(|(id, addr)| BrokerRef { id: *id, addr: addr.clone() })
            .collect();
        v.sort_by_key(|b| b.id);
        v
    }

    /// Replaces the known brokers with the cluster's (from metadata). Connections to brokers
    /// that left or moved are closed.
    pub fn set_nodes(&self, brokers: impl IntoIterator<Item = BrokerRef>) {
        let new: HashMap<i32, String> = brokers.into_iter().map(|b| (b.id, b.addr)).collect();
        if new.is_empty() {
            return;
        }
        let gone: Vec<i32> = {
            let mut nodes = lock(&self.inner.nodes);
            let gone =
                nodes.addrs.iter().filter(|(id, a)| new.get(id) != Some(a)).map(|(id, _)| *id).collect();
            nodes.health.retain(|id, _| new.contains_key(id));
            nodes.addrs = new;
            gone
        };
        self.close_nodes(&gone);
    }

    /// Adds or moves one broker (e.g. a coordinator from FindCoordinator).
    pub fn add_node(&self, broker: BrokerRef) {
        let moved = {
            let mut nodes = lock(&self.inner.nodes);
            nodes.addrs.insert(broker.id, broker.addr.clone()).is_some_and(|old| old != broker.addr)
        };
        if moved {
            self.close_nodes(&[broker.id]);
        }
    }

    /// Forgets every known broker and starts again from `bootstrap.servers`
    /// (`metadata.recovery.strategy=rebootstrap`).
    pub fn rebootstrap(&self) {
        let boot = bootstrap_nodes(&self.inner.config);
        tracing::info!(servers = ?self.inner.config.bootstrap_servers, "bootstrapping from bootstrap.servers");
        let old: Vec<i32> = {
            let mut nodes = lock(&self.inner.nodes);
            let old = nodes.addrs.keys().copied().collect();
            nodes.addrs = boot.into_iter().map(|b| (b.id, b.addr)).collect();
            nodes.health.clear();
            old
        };
        self.close_nodes(&old);
    }

    fn close_nodes(&self, ids: &[i32]) {
        let slots: Vec<_> = lock(&self.inner.slots)
            .iter()
            .filter(|((id, _), _)| ids.contains(id))
            .map(|(_, s)| s.clone())
            .collect();
        for s in slots {
            if let Ok(slot) = s.try_lock() {
                if let Some(c) = &slot.conn {
                    c.close();
                }
            }
        }
    }

    /// True when every known broker's last connection attempt failed (nothing is connected).
    pub fn all_nodes_failed(&self) -> bool {
        let nodes = lock(&self.inner.nodes);
        !nodes.addrs.is_empty()
            && nodes.addrs.keys().all(|id| nodes.health.get(id).is_some_and(|h| h.failures > 0))
    }

    /// How long until `node` may be dialled again (zero when not backing off).
    pub fn connection_delay(&self, node: i32) -> Duration {
        let nodes = lock(&self.inner.nodes);
        match nodes.health.get(&node).and_then(|h| h.next_attempt) {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// The broker to send a cluster-wide request to (Java's `leastLoadedNode`): a connected
    /// one with the fewest requests in flight, else one that may be dialled now, else the one
    /// whose backoff ends first.
    pub fn least_loaded_node(&self) -> Option<i32> {
        let mut ids: Vec<i32> = lock(&self.inner.nodes).addrs.keys().copied().collect();
        if !ids.is_empty() {
            let start = self.inner.scan_start.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % ids.len();
            ids.rotate_left(start);
        }
        let slots = lock(&self.inner.slots);
        let mut best: Option<(u8, usize, Duration, i32)> = None;
        for id in ids {
            let conn = slots.get(&(id, Purpose::Admin)).and_then(|s| s.try_lock().ok()?.conn.clone());
            let key = match conn.filter(|c| !c.is_closed()) {
                Some(c) => (0, c.in_flight(), Duration::ZERO, id),
                None => match self.connection_delay(id) {
                    Duration::ZERO => (1, 0, Duration::ZERO, id),
                    d => (2, 0, d, id),
                },
            };
            // the id does not break ties: the first in the rotated scan wins
            if best.is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
                best = Some(key);
            }
        }
        best.map(|b| b.3)
    }

    /// The live connection for (node, purpose), opening one if needed: waits out the node's
    /// reconnect backoff, then connects within the (growing) setup timeout.
    pub async fn connection(&self, node: i32, purpose: Purpose) -> Result<Connection> {
        let slot = lock(&self.inner.slots).entry((node, purpose)).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(c) = slot.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let (addr, delay, failures) = {
            let nodes = lock(&self.inner.nodes);
            let addr = nodes.addrs.get(&node).cloned().ok_or_else(|| Error::NoBrokerAvailable {
                reason: format!("node {node} is not a known broker"),
            })?;
            let h = nodes.health.get(&node).cloned().unwrap_or_default();
            (addr, h.next_attempt.map(|t| t.saturating_duration_since(Instant::now())), h.failures)
        };
        if let Some(d) = delay.filter(|d| !d.is_zero()) {
            tracing::debug!(node, ?d, "waiting out reconnect backoff");
            tokio::time::sleep(d).await;
        }
        let broker = BrokerRef { id: node, addr };
        let mut opts = self.inner.opts.clone();
        opts.setup_timeout = self.inner.setup_timeout.backoff(failures);
        let counters = self.inner.metrics.broker(node);
        opts.counters = Some(counters.clone());
        let result =
            Connection::connect_with(broker.clone(), &*self.inner.transport, self.inner.auth.clone(), &opts)
                .await;
        counters.connect_attempt(result.is_ok());
        let mut nodes = lock(&self.inner.nodes);
        let h = nodes.health.entry(node).or_default();
        match result {
            Ok(c) => {
                *h = Health::default();
                slot.conn = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let wait = self.inner.reconnect.backoff(h.failures);
                h.failures += 1;
                h.next_attempt = Some(Instant::now() + wait);
                h.last_error = Some(e.clone());
                tracing::warn!(%broker, error = %e, failures = h.failures, backoff = ?wait, "connection failed");
                Err(e)
            }
        }
    }

    /// Sends `req` to `node` on the `purpose` connection.
    pub async fn send<R: Request>(&self, node: i32, purpose: Purpose, req: &R) -> Result<R::Response> {
        self.connection(node, purpose).await?.send(req).await
    }

    /// Sends `req` with per-request overrides.
    pub async fn send_with<R: Request>(
        &self,
        node: i32,
        purpose: Purpose,
        req: &R,
        opts: RequestOptions,
    ) -> Result<R::Response> {
        self.connection(node, purpose).await?.send_with(req, opts).await
    }

    /// The last connection error seen for `node`, if its last attempt failed.
    pub fn last_error(&self, node: i32) -> Option<Error> {
        lock(&self.inner.nodes).health.get(&node).and_then(|h| h.last_error.clone())
    }

    /// Closes every connection.
    pub fn close(&self) {
        let ids: Vec<i32> = lock(&self.inner.slots).keys().map(|(id, _)| *id).collect();
        self.close_nodes(&ids);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use kafka_protocol::generated::{MetadataRequest, MetadataResponse};

    use super::*;
    use crate::test_support::{FakeConn, MemTransport};

    fn config(servers: &[&str]) -> ClientConfig {
        ClientConfig::builder()
            .bootstrap_servers(servers)
            .reconnect_backoff(Duration::from_millis(100))
            .reconnect_backoff_max(Duration::from_millis(1000))
            .build()
            .unwrap()
    }

    async fn serve(mut c: FakeConn) {
        c.handshake().await;
        while let Some((h, _)) = c.read_request().await {
            c.respond(&h, &MetadataResponse::default()).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_connection_per_node_and_purpose_reused() {
        let t = MemTransport::new(serve);
        let pool = NetworkClient::with_stages(config(&["a:1"]), Arc::new(t.clone()), Arc::new(NoAuth));
        let a = pool.connection(-1, Purpose::Produce).await.unwrap();
        let b = pool.connection(-1, Purpose::Produce).await.unwrap();
        assert_eq!(t.connects.load(Ordering::SeqCst), 1, "reused");
        let f = pool.connection(-1, Purpose::Fetch).await.unwrap();
        assert_eq!(t.connects.load(Ordering::SeqCst), 2, "a separate fetch connection");
        pool.send(-1, Purpose::Admin, &MetadataRequest::default()).await.unwrap();
        assert_eq!(t.connects.load(Ordering::SeqCst), 3);
        a.close();
        assert!(b.is_closed());
        assert!(!f.is_closed());
        pool.connection(-1, Purpose::Produce).await.unwrap();
        assert_eq!(t.connects.load(Ordering::SeqCst), 4, "a dead connection is replaced");
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_count_requests_bytes_and_connections_per_node() {
        let t = MemTransport::new(serve);
        t.refuse.lock().unwrap().push("b:2".into());
        let pool = NetworkClient::with_stages(config(&["a:1", "b:2"]), Arc::new(t.clone()), Arc::new(NoAuth));
        for _ in 0..3 {
            pool.send(-1, Purpose::Admin, &MetadataRequest::default()).await.unwrap();
        }
        assert!(pool.connection(-2, Purpose::Admin).await.is_err());
        pool.connection(-1, Purpose::Admin).await.unwrap().close();

        let m = pool.metrics().snapshot();
        let a = &m[&-1];
        // the ApiVersions handshake plus three Metadata requests
        assert_eq!((a.requests, a.responses, a.failed_requests), (4, 4, 0), "{a:?}");
        assert!(a.bytes_sent > 4 * 4 && a.bytes_received > 4 * 4, "{a:?}");
        assert!(a.request_latency_avg.is_some());
        assert_eq!((a.connections_created, a.connections_closed), (1, 1));
        assert_eq!((m[&-2].connections_created, m[&-2].connection_failures), (0, 1));
        assert_eq!(pool.metrics().total().requests, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn least_loaded_node_prefers_connected_then_dialable_and_rotates_ties() {
        let t = MemTransport::new(serve);
        t.refuse.lock().unwrap().push("c:3".into());
        let pool =
            NetworkClient::with_stages(config(&["a:1", "b:2", "c:3"]), Arc::new(t.clone()), Arc::new(NoAuth));
        // c is in reconnect backoff after a refused connect: never picked while others may be
        assert!(pool.connection(-3, Purpose::Admin).await.is_err());
        let picks: Vec<i32> = (0..6).map(|_| pool.least_loaded_node().unwrap()).collect();
        assert!(!picks.contains(&-3), "{picks:?}");
        // equally idle, never-connected nodes take turns instead of one always winning
        assert!(picks.contains(&-1) && picks.contains(&-2), "{picks:?}");
        // a connected node beats one that would have to be dialled
        pool.connection(-2, Purpose::Admin).await.unwrap();
        for _ in 0..6 {
            assert_eq!(pool.least_loaded_node(), Some(-2));
        }
        // with every node in backoff, the one whose backoff ends first
        t.refuse.lock().unwrap().extend(["a:1".to_owned(), "b:2".to_owned()]);
        pool.connection(-2, Purpose::Admin).await.unwrap().close();
        assert!(pool.connection(-2, Purpose::Admin).await.is_err());
        // one failure each, at the same (paused) instant: the backoffs differ by their jitter
        // only. (A second failed connect of a node would first wait out its backoff, letting
        // the paused clock run past the others' and leaving several nodes equally dialable.)
        assert!(pool.connection(-1, Purpose::Admin).await.is_err());
        let soonest = [-1, -2, -3].into_iter().min_by_key(|n| pool.connection_delay(*n)).unwrap();
        assert_eq!(pool.least_loaded_node(), Some(soonest));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_connect() {
        let t = MemTransport::new(serve);
        let pool = NetworkClient::with_stages(config(&["a:1"]), Arc::new(t.clone()), Arc::new(NoAuth));
        let futs = (0..5).map(|_| pool.connection(-1, Purpose::Produce));
        for c in futures::future::join_all(futs).await {
            c.unwrap();
        }
        assert_eq!(t.connects.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn reconnect_backoff_grows_and_resets_on_success() {
        let t = MemTransport::new(serve);
        t.refuse.lock().unwrap().push("a:1".into());
        let pool = NetworkClient::with_stages(config(&["a:1"]), Arc::new(t.clone()), Arc::new(NoAuth));
        let mut delays = Vec::new();
        for _ in 0..5 {
            assert!(pool.connection(-1, Purpose::Admin).await.is_err());
            delays.push(pool.connection_delay(-1));
        }
        assert!(pool.all_nodes_failed());
        // 100, 200, 400, 800, 1000 ms, each ±20%.
        for (d, base) in delays.iter().zip([100u64, 200, 400, 800, 1000]) {
            let ms = d.as_millis() as u64;
            assert!(ms >= base * 8 / 10 - 1 && ms <= (base * 12 / 10).min(1000), "{delays:?}");
        }
        // The next attempt waits out the backoff (paused clock: it advances exactly that far).
        t.refuse.lock().unwrap().clear();
        let start = Instant::now();
        pool.connection(-1, Purpose::Admin).await.unwrap();
        assert!(start.elapsed() >= delays[4], "waited {:?}", start.elapsed());
        assert_eq!(pool.connection_delay(-1), Duration::ZERO);
        assert!(!pool.all_nodes_failed());
    }

    #[tokio::test(start_paused = true)]
    async fn least_loaded_prefers_connected_then_dialable_nodes() {
        let t = MemTransport::new(serve);
        t.refuse.lock().unwrap().push("b:2".into());
        let pool =
            NetworkClient::with_stages(config(&["a:1", "b:2", "c:3"]), Arc::new(t.clone()), Arc::new(NoAuth));
        assert!(pool.connection(-2, Purpose::Admin).await.is_err());
        let pick = pool.least_loaded_node().unwrap();
        assert_ne!(pick, -2, "a backing-off node is picked last");
        pool.connection(-3, Purpose::Admin).await.unwrap();
        assert_eq!(pool.least_loaded_node(), Some(-3), "connected beats merely dialable");
        pool.set_nodes([BrokerRef { id: 7, addr: "d:4".into() }]);
        assert_eq!(pool.nodes(), [BrokerRef { id: 7, addr: "d:4".into() }]);
        pool.rebootstrap();
        assert_eq!(pool.nodes().len(), 3);
    }
}

//! Coordinator lookup: FindCoordinator for consumer groups and transactional ids, cached until
//! a broker says the coordinator moved.
//!
//! Brokers with FindCoordinator v4+ take many keys in one request (KIP-699); older ones get one
//! request per key (v0 only knows groups). Retriable answers (COORDINATOR_NOT_AVAILABLE,
//! COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, network errors) are retried with the retry
//! backoff until `default.api.timeout.ms`.
//!
//! Concurrency rules: `cache` is a std mutex held only for map operations.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use kafka_protocol::{
    ApiKey, ErrorCode,
    generated::{FindCoordinatorRequest, FindCoordinatorResponse},
};
use tokio::time::Instant;

use crate::{
    conn::{Connection, RequestOptions},
    error::{BrokerRef, Error, Result},
    pool::{NetworkClient, Purpose},
};

/// What kind of coordinator (FindCoordinator's `key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    /// A consumer group's coordinator (key: group id).
    Group,
    /// A transactional producer's coordinator (key: transactional id).
    Transaction,
}

impl CoordinatorType {
    fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// A coordinator broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// Node id.
    pub node_id: i32,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
}

impl Coordinator {
    /// As a [`BrokerRef`].
    pub fn broker_ref(&self) -> BrokerRef {
        let addr = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        BrokerRef { id: self.node_id, addr }
    }
}

/// Whether `code` means the cached coordinator is wrong or unusable.
pub fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
}

type Cache = HashMap<(CoordinatorType, String), Coordinator>;

/// Finds and caches coordinators. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoordinatorLookup {
    client: NetworkClient,
    cache: Arc<Mutex<Cache>>,
}

impl CoordinatorLookup {
    /// A lookup over `client`.
    pub fn new(client: NetworkClient) -> Self {
        CoordinatorLookup { client, cache: Arc::default() }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached coordinator, if any.
    pub fn cached(&self, ty: CoordinatorType, key: &str) -> Option<Coordinator> {
        self.cache().get(&(ty, key.to_string())).cloned()
    }

    /// Forgets the cached coordinator.
    pub fn invalidate(&self, ty: CoordinatorType, key: &str) {
        self.cache().remove(&(ty, key.to_string()));
    }

    /// Forgets the cached coordinator if `code` is NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE;
    /// returns whether it did.
    pub fn invalidate_on(&self, ty: CoordinatorType, key: &str, code: ErrorCode) -> bool {
        let stale = is_coordinator_error(code);
        if stale {
            tracing::debug!(?ty, key, %code, "coordinator invalidated");
            self.invalidate(ty, key);
        }
        stale
    }

    /// The coordinator for one key (cached, or looked up with retries).
    pub async fn find(&self, ty: CoordinatorType, key: &str) -> Result<Coordinator> {
        let mut all = self.find_many(ty, &[key]).await;
        all.remove(key).unwrap_or(Err(Error::Closed))
    }

    /// A connection to the coordinator of `key` for `purpose`. A coordinator the node list no
    /// longer has (a metadata update replaced it) is added back before the second attempt; a
    /// failed connect forgets the coordinator, so the next call looks it up again.
    pub async fn connect(&self, ty: CoordinatorType, key: &str, purpose: Purpose) -> Result<Connection> {
        let c = self.find(ty, key).await?;
        let conn = match self.client.connection(c.node_id, purpose).await {
            Ok(conn) => Ok(conn),
            Err(_) => {
                self.client.add_node(c.broker_ref());
                self.client.connection(c.node_id, purpose).await
            }
        };
        if conn.is_err() {
            self.invalidate(ty, key);
        }
        conn
    }

    /// The coordinators for many keys, batched when the broker allows; each key gets its own
    /// result.
    pub async fn find_many(
        &self,
        ty: CoordinatorType,
        keys: &[&str],
    ) -> HashMap<String, Result<Coordinator>> {
        let mut out = HashMap::new();
        let mut pending: Vec<String> = Vec::new();
        for k in keys {
            match self.cached(ty, k) {
                Some(c) => {
                    out.insert(k.to_string(), Ok(c));
                }
                None => pending.push(k.to_string()),
            }
        }
        let config = self.client.config();
        let timeout = config.default_api_timeout;
        let deadline = Instant::now() + timeout;
        let backoff = config.retry_backoff_policy();
        let mut attempt = 0;
        let mut last_error: Option<Error> = None;
        while !pending.is_empty() {
            match self.lookup_round(ty, &pending).await {
                Ok(results) => {
                    for (key, r) in results {
                        match r {
                            Ok(c) => {
                                self.client.add_node(c.broker_ref());
                                self.cache().insert((ty, key.clone()), c.clone());
                                pending.retain(|p| p != &key);
                                out.insert(key, Ok(c));
                            }
                            Err(e) if e.is_retriable() => last_error = Some(e),
                            Err(e) => {
                                pending.retain(|p| p != &key);
                                out.insert(key, Err(e));
                            }
                        }
                    }
                }
                Err(e) if e.is_retriable() => last_error = Some(e),
                Err(e) => {
                    for k in pending.drain(..) {
                        out.insert(k, Err(e.clone()));
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            let wait = backoff.backoff(attempt);
            attempt += 1;
            if Instant::now() + wait >= deadline {
                let what = match &last_error {
                    Some(e) => format!("the {ty:?} coordinator (last error: {e})"),
                    None => format!("the {ty:?} coordinator"),
                };
                for k in pending.drain(..) {
                    out.insert(k, Err(Error::Timeout { what: what.clone(), timeout }));
                }
                break;
            }
            tracing::debug!(?ty, ?pending, ?wait, "retrying coordinator lookup");
            tokio::time::sleep(wait).await;
        }
        out
    }

    /// One FindCoordinator round for `keys` against the least loaded broker.
    async fn lookup_round(
        &self,
        ty: CoordinatorType,
        keys: &[String],
    ) -> Result<Vec<(String, Result<Coordinator>)>> {
        let node = self
            .client
            .least_loaded_node()
            .ok_or_else(|| Error::NoBrokerAvailable { reason: "no known brokers".into() })?;
        let conn = self.client.connection(node, Purpose::Admin).await?;
        let broker = conn.broker().clone();
        let version = conn.api_versions().require(ApiKey::FindCoordinator, &broker)?;
        let fail = |key: &str, code: ErrorCode, message: Option<String>| Error::Broker {
            api: ApiKey::FindCoordinator,
            broker: Some(broker.clone()),
            topic: Some(key.to_string()),
            partition: None,
            code,
            message,
        };
        let opts = RequestOptions { version: Some(version), timeout: None };
        if version >= 4 {
            let req = FindCoordinatorRequest {
                key_type: ty.key_type(),
                coordinator_keys: keys.to_vec(),
                ..Default::default()
            };
            let resp: FindCoordinatorResponse = conn.send_with(&req, opts).await?;
            let mut out = Vec::new();
            for c in resp.coordinators {
                let code = ErrorCode::from_code(c.error_code);
                let r = if code.is_ok() {
                    Ok(Coordinator { node_id: c.node_id, host: c.host, port: c.port })
                } else {
                    Err(fail(&c.key, code, c.error_message))
                };
                out.push((c.key, r));
            }
            return Ok(out);
        }
        if ty == CoordinatorType::Transaction && version < 1 {
            return Err(Error::UnsupportedApi {
                api: ApiKey::FindCoordinator,
                broker,
                client: crate::conn::client_versions(ApiKey::FindCoordinator),
                broker_range: conn.api_versions().broker_range(ApiKey::FindCoordinator),
            });
        }
        let mut out = Vec::new();
        for key in keys {
            let req =
                FindCoordinatorRequest { key: key.clone(), key_type: ty.key_type(), ..Default::default() };
            let resp = conn.send_with(&req, opts).await?;
            let code = ErrorCode::from_code(resp.error_code);
            let r = if code.is_ok() {
                Ok(Coordinator { node_id: resp.node_id, host: resp.host, port: resp.port })
            } else {
                Err(fail(key, code, resp.error_message))
            };
            out.push((key.clone(), r));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use kafka_protocol::{
        RequestKind,
        generated::{FindCoordinatorRequest, find_coordinator_response::Coordinator as WireCoordinator},
    };

    use super::*;
    use crate::{
        config::ClientConfig,
        conn::NoAuth,
        test_support::{FakeConn, MemTransport, api_versions},
    };

    type Seen = Arc<Mutex<Vec<(i16, FindCoordinatorRequest)>>>;

    /// A broker with FindCoordinator up to `max`; `answer(key, call#)` gives (error, node id).
    fn broker(max: i16, answer: fn(&str, usize) -> (ErrorCode, i32)) -> (MemTransport, Seen) {
        let seen: Seen = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let t = MemTransport::new(move |mut c: FakeConn| {
            let (s, calls) = (s.clone(), calls.clone());
            async move {
                c.handshake_with(api_versions([
                    (ApiKey::ApiVersions, 0, 4),
                    (ApiKey::FindCoordinator, 0, max),
                ]))
                .await;
                while let Some((h, req)) = c.read_request().await {
                    let RequestKind::FindCoordinator(r) = req else { panic!("{req:?}") };
                    s.lock().unwrap().push((h.request_api_version, r.clone()));
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let mut resp = FindCoordinatorResponse::default();
                    if h.request_api_version >= 4 {
                        for k in &r.coordinator_keys {
                            let (code, node) = answer(k, n);
                            resp.coordinators.push(WireCoordinator {
                                key: k.clone(),
                                node_id: node,
                                host: format!("c{node}"),
                                port: 9092,
                                error_code: code.code(),
                                ..Default::default()
                            });
                        }
                    } else {
                        let (code, node) = answer(&r.key, n);
                        resp.error_code = code.code();
                        resp.node_id = node;
                        resp.host = format!("c{node}");
                        resp.port = 9092;
                    }
                    c.respond(&h, &resp).await;
                }
            }
        });
        (t, seen)
    }

    fn lookup(t: &MemTransport) -> CoordinatorLookup {
        let cfg = ClientConfig::builder().bootstrap_servers(["boot:1"]).build().unwrap();
        CoordinatorLookup::new(NetworkClient::with_stages(cfg, Arc::new(t.clone()), Arc::new(NoAuth)))
    }

    fn by_key(k: &str, _: usize) -> (ErrorCode, i32) {
        (ErrorCode::None, if k == "g1" { 5 } else { 6 })
    }

    #[tokio::test(start_paused = true)]
    async fn batched_lookup_on_v4_is_cached_and_invalidated() {
        let (t, seen) = broker(6, by_key);
        let l = lookup(&t);
        let r = l.find_many(CoordinatorType::Group, &["g1", "g2"]).await;
        assert_eq!(r["g1"].as_ref().unwrap().node_id, 5);
        assert_eq!(r["g2"].as_ref().unwrap().node_id, 6);
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "one batched request");
            assert_eq!(seen[0].1.coordinator_keys, ["g1", "g2"]);
            assert!(seen[0].0 >= 4);
        }
        assert!(
            l.client.nodes().iter().any(|b| b.id == 5 && b.addr == "c5:9092"),
            "coordinator registered in the pool"
        );
        l.find(CoordinatorType::Group, "g1").await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1, "served from the cache");
        assert!(l.invalidate_on(CoordinatorType::Group, "g1", ErrorCode::NotCoordinator));
        assert!(!l.invalidate_on(CoordinatorType::Group, "g2", ErrorCode::UnknownMemberId));
        l.find(CoordinatorType::Group, "g1").await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2, "looked up again after invalidation");
        assert!(l.cached(CoordinatorType::Group, "g2").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn single_key_requests_before_v4() {
        let (t, seen) = broker(3, by_key);
        let l = lookup(&t);
        let r = l.find_many(CoordinatorType::Transaction, &["g1", "g2"]).await;
        assert_eq!(r["g2"].as_ref().unwrap().node_id, 6);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|(v, r)| *v == 3 && r.coordinator_keys.is_empty() && r.key_type == 1));
        assert_eq!((seen[0].1.key.as_str(), seen[1].1.key.as_str()), ("g1", "g2"));
    }

    #[tokio::test(start_paused = true)]
    async fn retriable_errors_are_retried_and_fatal_ones_returned() {
        let (t, seen) = broker(6, |k, n| match (k, n) {
            ("bad", _) => (ErrorCode::GroupAuthorizationFailed, -1),
            (_, 0 | 1) => (ErrorCode::CoordinatorNotAvailable, -1),
            _ => (ErrorCode::None, 1),
        });
        let l = lookup(&t);
        let start = Instant::now();
        assert_eq!(l.find(CoordinatorType::Group, "g").await.unwrap().node_id, 1);
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert!(start.elapsed() >= Duration::from_millis(80 + 160), "backed off between tries");
        let e = l.find(CoordinatorType::Group, "bad").await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::GroupAuthorizationFailed));
        assert!(e.to_string().contains("for bad"), "{e}");
    }
}

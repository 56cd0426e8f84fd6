//! `AdminClient` and the routing and retry helpers every operation family shares: send to any
//! broker, to one node, to every broker, to a group or transaction coordinator (re-found when
//! it moves), or to partition leaders; retry retriable failures with backoff within
//! `default.api.timeout.ms`. The operations live in one file per family (`topics.rs`,
//! `groups.rs`, …), each adding an `impl AdminClient` block.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use kafka_client::conn::RequestOptions;
use kafka_client::{ClientConfig, CoordinatorLookup, CoordinatorType, Metadata, NetworkClient, Purpose};
use kafka_protocol::{ApiKey, ErrorCode, Request};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// The Kafka admin client (Java's `Admin`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct AdminClient {
    pub(crate) metadata: Metadata,
    pub(crate) coordinators: CoordinatorLookup,
    pub(crate) timeout: Duration,
}

impl AdminClient {
    /// Starts an admin client (inside a tokio runtime) from the client configuration.
    pub fn new(config: ClientConfig) -> AdminClient {
        let timeout = config.default_api_timeout;
        let pool = NetworkClient::new(config);
        AdminClient {
            coordinators: CoordinatorLookup::new(pool.clone()),
            metadata: Metadata::new(pool, false),
            timeout,
        }
    }

    /// From `(key, value)` pairs with the Java names (the client keys; `default.api.timeout.ms`
    /// bounds every operation).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<AdminClient> {
        let props = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Ok(Self::new(ClientConfig::from_properties(&props)?))
    }

    pub(crate) fn pool(&self) -> &NetworkClient {
        self.metadata.client()
    }

    /// `default.api.timeout.ms` as a request's `timeout_ms` field.
    pub(crate) fn timeout_ms(&self) -> i32 {
        self.timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// Runs `attempt` until it succeeds, fails with a non-retriable error, or the next backoff
    /// would pass `default.api.timeout.ms`; then the last error is returned (it names the item).
    pub(crate) async fn retry<T, F, Fut>(&self, what: &'static str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.timeout;
        let backoff = self.pool().config().retry_backoff_policy();
        let mut n = 0;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() && Instant::now() + backoff.backoff(n) < deadline => {
                    tracing::warn!(error = %e, what, attempt = n, "retrying");
                    tokio::time::sleep(backoff.backoff(n)).await;
                    n += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Learns the brokers first: a request sent to a bootstrap address could be cut off when the
    /// first metadata replaces the bootstrap nodes, and a retried CreateTopics would then report
    /// TOPIC_ALREADY_EXISTS for a topic it created itself.
    pub(crate) async fn ensure_brokers(&self) -> Result<()> {
        if self.metadata.snapshot().brokers().next().is_none() {
            self.metadata.refresh(self.timeout).await?;
        }
        Ok(())
    }

    /// Sends one request to `node`, built for the highest version both sides support (an
    /// `UnsupportedApi` error if the broker does not serve the API).
    pub(crate) async fn send_to<R: Request>(
        &self,
        node: i32,
        req: impl FnOnce(i16) -> R,
    ) -> kafka_client::Result<R::Response> {
        let conn = self.pool().connection(node, Purpose::Admin).await?;
        let version = conn.api_versions().require(R::API_KEY, conn.broker())?;
        conn.send_with(&req(version), RequestOptions { version: Some(version), timeout: None }).await
    }

    /// Sends `req` to any broker (least loaded), retrying connection failures and retriable
    /// whole-request errors until the deadline.
    pub(crate) async fn to_any<R: Request>(
        &self,
        what: &'static str,
        req: impl Fn(i16) -> R,
    ) -> Result<R::Response> {
        self.ensure_brokers().await?;
        let req = &req;
        self.retry(what, move || async move {
            let node = self.pool().least_loaded_node().ok_or_else(|| {
                kafka_client::Error::NoBrokerAvailable { reason: format!("no broker for {what}") }
            })?;
            Ok(self.send_to(node, req).await?)
        })
        .await
    }

    /// Sends `req` to `node`, retrying retriable failures until the deadline.
    pub(crate) async fn to_node<R: Request>(
        &self,
        what: &'static str,
        node: i32,
        req: impl Fn(i16) -> R,
    ) -> Result<R::Response> {
        let req = &req;
        self.retry(what, move || async move { Ok(self.send_to(node, req).await?) }).await
    }

    /// The ids of every broker, from fresh metadata.
    pub(crate) async fn broker_ids(&self) -> Result<Vec<i32>> {
        let snap = self.metadata.refresh(self.timeout).await?;
        let mut ids: Vec<i32> = snap.brokers().map(|b| b.id).collect();
        ids.sort();
        Ok(ids)
    }

    /// Sends `req` to the coordinator of `key`, re-finding the coordinator and retrying when
    /// the connection fails or `code(&response)` says NOT_COORDINATOR,
    /// COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS. Other codes are left for the
    /// caller. `item` names the key in errors (`group g`).
    pub(crate) async fn to_coordinator<R: Request>(
        &self,
        api: &'static str,
        ty: CoordinatorType,
        key: &str,
        req: impl Fn(i16) -> R,
        code: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response> {
        let item = match ty {
            CoordinatorType::Group => format!("group {key}"),
            CoordinatorType::Transaction => format!("transactional id {key}"),
        };
        self.ensure_brokers().await?;
        let (item, req, code) = (&item, &req, &code);
        self.retry(api, move || async move {
            let c = self.coordinators.find(ty, key).await.map_err(|e| match e.code() {
                Some(code) => Error::Item { api, item: item.clone(), code, message: Some(e.to_string()) },
                None => Error::Client(e),
            })?;
            let resp = match self.send_to(c.node_id, req).await {
                Ok(r) => r,
                Err(e) => {
                    self.coordinators.invalidate(ty, key);
                    return Err(e.into());
                }
            };
            let ec = ErrorCode::from(code(&resp));
            match ec {
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    self.coordinators.invalidate(ty, key);
                    Err(Error::Item { api, item: item.clone(), code: ec, message: None })
                }
                ErrorCode::CoordinatorLoadInProgress => {
                    Err(Error::Item { api, item: item.clone(), code: ec, message: None })
                }
                _ => Ok(resp),
            }
        })
        .await
    }

    /// Whether the cluster serves `api` (from the negotiated versions of any broker).
    pub async fn supports(&self, api: ApiKey) -> Result<bool> {
        self.ensure_brokers().await?;
        let node = self.pool().least_loaded_node().ok_or(Error::Invalid("no broker".into()))?;
        Ok(self.pool().connection(node, Purpose::Admin).await?.version(api).is_some())
    }

    /// Closes the connections.
    pub fn close(&self) {
        self.pool().close();
    }
}

/// Per-item results for the items that got no answer: `missing(api, item)` for each key of
/// `asked` absent from `out`.
pub(crate) fn fill_missing<K: Ord + Clone + std::fmt::Display, V>(
    out: &mut BTreeMap<K, Result<V>>,
    asked: impl IntoIterator<Item = K>,
    api: &'static str,
) {
    for k in asked {
        let e = Error::Invalid(format!("{api}: the broker sent no result for {k}"));
        out.entry(k).or_insert(Err(e));
    }
}

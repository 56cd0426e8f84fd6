//! Cluster metadata (Java's `Metadata`): a background task keeps a [`MetadataCache`] fresh
//! and publishes each new snapshot; callers read snapshots and await topics.
//!
//! - `cache.rs`: [`MetadataCache`], the immutable snapshot and its merge / leader-epoch rules.
//! - `refresh.rs`: the sans-IO refresh schedule (max age, on-demand, backoff, rebootstrap).
//!
//! Concurrency rules: `Inner.state` (std mutex, never held across an await) guards the topics
//! of interest and the schedule. Snapshots are published through a `watch` channel; readers
//! never block the refresher. The refresher task holds `Inner`; the last [`Metadata`] handle
//! dropped aborts it.

mod cache;
mod refresh;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

pub use cache::{
    BrokerMetadata, MetadataCache, PartitionMetadata, Requested, TopicMetadata, needs_metadata_refresh,
};
use kafka_protocol::{
    ApiKey, ErrorCode,
    generated::{MetadataRequest, metadata_request::MetadataRequestTopic},
};
use tokio::{
    sync::{Notify, watch},
    task::AbortHandle,
    time::Instant,
};

use self::refresh::RefreshState;
use crate::{
    config::MetadataRecoveryStrategy,
    error::{Error, Result},
    pool::{NetworkClient, Purpose},
};

#[derive(Debug)]
struct State {
    all_topics: bool,
    topics: BTreeSet<String>,
    refresh: RefreshState,
    last_error: Option<Error>,
}

#[derive(Debug)]
struct Inner {
    client: NetworkClient,
    allow_auto_topic_creation: bool,
    state: Mutex<State>,
    snapshot: watch::Sender<Arc<MetadataCache>>,
    wake: Notify,
    /// Notified (all waiters) after every failed refresh, so waits end at once on an
    /// authentication failure.
    failed: Notify,
}

#[derive(Debug)]
struct TaskGuard(AbortHandle);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The refreshing metadata handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metadata {
    inner: Arc<Inner>,
    _task: Arc<TaskGuard>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn request_update(&self) {
        self.state().refresh.request_update();
        self.wake.notify_one();
    }
}

impl Metadata {
    /// Starts the refresher (within a tokio runtime). `allow_auto_topic_creation` is sent with
    /// every Metadata request (the producer's default is true; admin wants false).
    pub fn new(client: NetworkClient, allow_auto_topic_creation: bool) -> Metadata {
        let cfg = client.config();
        let trigger = (cfg.metadata_recovery_strategy == MetadataRecoveryStrategy::Rebootstrap)
            .then_some(cfg.metadata_recovery_rebootstrap_trigger);
        let refresh =
            RefreshState::new(Instant::now(), cfg.metadata_max_age, cfg.retry_backoff_policy(), trigger);
        let inner = Arc::new(Inner {
            allow_auto_topic_creation,
            state: Mutex::new(State {
                all_topics: false,
                topics: BTreeSet::new(),
                refresh,
                last_error: None,
            }),
            snapshot: watch::Sender::new(Arc::new(MetadataCache::default())),
            wake: Notify::new(),
            failed: Notify::new(),
            client,
        });
        let task = tokio::spawn(run(inner.clone()));
        Metadata { inner, _task: Arc::new(TaskGuard(task.abort_handle())) }
    }

    /// The broker pool this metadata feeds.
    pub fn client(&self) -> &NetworkClient {
        &self.inner.client
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<MetadataCache> {
        self.inner.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataCache>> {
        self.inner.snapshot.subscribe()
    }

    /// The error of the last refresh, if it failed.
    pub fn last_error(&self) -> Option<Error> {
        self.inner.state().last_error.clone()
    }

    /// Adds topics of interest; an update is requested if any is new.
    pub fn add_topics<S: Into<String>>(&self, topics: impl IntoIterator<Item = S>) {
        let mut st = self.inner.state();
        let mut added = false;
        for t in topics {
            added |= st.topics.insert(t.into());
        }
        if added && !st.all_topics {
            drop(st);
            self.inner.request_update();
        }
    }

    /// Fetches metadata for every topic (a consumer with a pattern subscription, admin).
    pub fn set_all_topics(&self, all: bool) {
        self.inner.state().all_topics = all;
        self.inner.request_update();
    }

    /// Asks for a refresh as soon as the backoff allows.
    pub fn request_update(&self) {
        self.inner.request_update();
    }

    /// Requests an update if `code` means the cached metadata is stale (NOT_LEADER_OR_FOLLOWER,
    /// UNKNOWN_TOPIC_OR_PARTITION, …); returns whether it did.
    pub fn invalidate_on(&self, code: ErrorCode) -> bool {
        let stale = needs_metadata_refresh(code);
        if stale {
            tracing::debug!(%code, "metadata invalidated");
            self.request_update();
        }
        stale
    }

    /// Applies a leader hint (KIP-951) if its epoch is newer than the cached one.
    pub fn update_leader(&self, topic: &str, partition: i32, leader: i32, epoch: i32) -> bool {
        self.inner
            .snapshot
            .send_if_modified(|snap| Arc::make_mut(snap).update_leader(topic, partition, leader, epoch))
    }

    /// Resolves at the next failed refresh (for tasks that must react to an authentication
    /// failure without polling; check [`Metadata::authentication_failure`] after it).
    pub async fn failed(&self) {
        self.inner.failed.notified().await;
    }

    /// The last refresh's error if it was a TLS / SASL authentication failure (Java's
    /// `AuthenticationException`: every wait for metadata ends with it).
    pub fn authentication_failure(&self) -> Option<Error> {
        self.last_error().filter(Error::is_authentication_failure)
    }

    /// Requests an update and waits for the next snapshot (or `timeout`). An authentication
    /// failure (TLS or SASL) ends the wait at once with that error.
    pub async fn refresh(&self, timeout: Duration) -> Result<Arc<MetadataCache>> {
        let mut rx = self.subscribe();
        rx.borrow_and_update();
        self.request_update();
        let deadline = Instant::now() + timeout;
        loop {
            let failed = self.inner.failed.notified();
            tokio::pin!(failed);
            failed.as_mut().enable();
            tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.changed()) => return match r {
                    Ok(Ok(())) => Ok(rx.borrow().clone()),
                    Ok(Err(_)) => Err(Error::Closed),
                    Err(_) => Err(self.timeout_error("a metadata update".into(), timeout)),
                },
                _ = &mut failed => {
                    if let Some(e) = self.authentication_failure() {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Waits until metadata for `topic` is available (known, no topic error, at least one
    /// partition). Retriable topic errors (unknown topic, leader not available) keep waiting
    /// until `timeout`; others (authorization, invalid name) and TLS / SASL authentication
    /// failures fail at once.
    pub async fn wait_for_topic(&self, topic: &str, timeout: Duration) -> Result<TopicMetadata> {
        self.add_topics([topic]);
        let deadline = Instant::now() + timeout;
        let mut rx = self.subscribe();
        loop {
            // Registered before the check, so a failure in between is not missed.
            let failed = self.inner.failed.notified();
            tokio::pin!(failed);
            failed.as_mut().enable();
            if let Some(e) = self.authentication_failure() {
                return Err(e);
            }
            let snap = rx.borrow_and_update().clone();
            if let Some(t) = snap.topic(topic) {
                match t.error {
                    ErrorCode::None if !t.partitions.is_empty() => return Ok(t.clone()),
                    code if code.is_ok() || code.is_retriable() => {}
                    code => {
                        return Err(Error::Broker {
                            api: ApiKey::Metadata,
                            broker: None,
                            topic: Some(topic.to_string()),
                            partition: None,
                            code,
                            message: None,
                        });
                    }
                }
            }
            if snap.update_version > 0 {
                self.request_update();
            }
            tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.changed()) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(Error::Closed),
                    Err(_) => return Err(self.timeout_error(format!("metadata for topic {topic}"), timeout)),
                },
                _ = &mut failed => {}
            }
        }
    }

    fn timeout_error(&self, what: String, timeout: Duration) -> Error {
        let what = match self.last_error() {
            Some(e) => format!("{what} (last refresh error: {e})"),
            None => what,
        };
        Error::Timeout { what, timeout }
    }
}

async fn run(inner: Arc<Inner>) {
    loop {
        let wait = inner.state().refresh.time_to_next_update(Instant::now());
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = inner.wake.notified() => continue,
            }
        }
        refresh_once(&inner).await;
    }
}

async fn refresh_once(inner: &Inner) {
    let client = &inner.client;
    let now = Instant::now();
    let (requested, rebootstrap, begun) = {
        let mut st = inner.state();
        let on_bootstrap = client.nodes().iter().all(|n| n.id < 0);
        let rebootstrap = client.config().metadata_recovery_strategy == MetadataRecoveryStrategy::Rebootstrap
            && !on_bootstrap
            && (client.all_nodes_failed() || st.refresh.rebootstrap_due(now));
        if rebootstrap {
            st.refresh.on_rebootstrap(now);
        }
        let requested = if st.all_topics {
            Requested::All
        } else {
            Requested::Topics(st.topics.iter().cloned().collect())
        };
        (requested, rebootstrap, st.refresh.begin())
    };
    if rebootstrap {
        tracing::warn!(
            "no known broker is reachable: rebootstrapping (metadata.recovery.strategy=rebootstrap)"
        );
        client.rebootstrap();
    }
    let result = match client.least_loaded_node() {
        None => Err(Error::NoBrokerAvailable { reason: "no known brokers".into() }),
        Some(node) => {
            let req = MetadataRequest {
                topics: match &requested {
                    Requested::All => None,
                    Requested::Topics(t) => Some(
                        t.iter()
                            .map(|n| MetadataRequestTopic { name: Some(n.clone()), ..Default::default() })
                            .collect(),
                    ),
                },
                allow_auto_topic_creation: inner.allow_auto_topic_creation,
                ..Default::default()
            };
            client.send(node, Purpose::Admin, &req).await
        }
    };
    let now = Instant::now();
    match result {
        Ok(resp) => {
            let next = inner.snapshot.borrow().merge(&resp, &requested);
            client.set_nodes(next.brokers().map(BrokerMetadata::broker_ref));
            tracing::debug!(
                version = next.update_version,
                brokers = next.brokers().count(),
                "metadata updated"
            );
            {
                let mut st = inner.state();
                st.refresh.on_success(now, begun);
                st.last_error = None;
            }
            inner.snapshot.send_replace(Arc::new(next));
        }
        Err(e) => {
            let mut st = inner.state();
            st.refresh.on_failure(now);
            tracing::warn!(error = %e, failures = st.refresh.failures(), "metadata refresh failed");
            st.last_error = Some(e);
            drop(st);
            inner.failed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests;

//! `Consumer`: manual assignment, positions, the fetch loop, offsets by time, and committed
//! offsets of a group (standalone commits, generation -1, as Java's assign-mode consumer).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kafka_client::conn::RequestOptions;
use kafka_client::{CoordinatorLookup, Metadata, NetworkClient, OffsetAndMetadata, Purpose};
use kafka_protocol::generated::{
    FetchRequest, ListOffsetsRequest, OffsetFetchRequest,
    fetch_request::{FetchPartition, FetchTopic, ForgottenTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
};
use kafka_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;

use crate::buffer::FetchBuffer;
use crate::commit::{CommitContext, CommitHandle, CommitStats, Committer, to_coordinator};
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::{Error, Result};
use crate::fetch_session::{FetchSessionHandler, PartitionFetch};
use crate::fetcher;
use crate::interceptor::{ConsumerInterceptor, Interceptors};
use crate::membership::{GroupDriver, SubscriptionType};
use crate::metrics::{ConsumerMetrics, Metrics};
use crate::record::{ConsumerRecord, TopicPartition};

/// ListOffsets' special timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionState {
    /// The next offset `poll` returns (Java's position).
    pub(crate) position: Option<i64>,
    /// The next offset to fetch (ahead of `position` while records are buffered).
    pub(crate) fetch_position: Option<i64>,
    pub(crate) paused: bool,
    /// The leader epoch of the last record handed out (committed with the position, KIP-320).
    pub(crate) position_epoch: Option<i32>,
    /// The leader epoch of the last batch fetched, or of a committed offset (Java's
    /// `FetchPosition.offsetEpoch`): what OffsetForLeaderEpoch validates (KIP-320).
    pub(crate) fetch_epoch: Option<i32>,
    /// The partition leader epoch the fetch position is known to be valid under (Java's
    /// `FetchPosition.currentLeader.epoch`); metadata with a larger one starts a validation.
    pub(crate) leader_epoch: Option<i32>,
    /// Java's `AWAIT_VALIDATION`: not fetched until OffsetForLeaderEpoch confirmed the
    /// position (see `validate.rs`).
    pub(crate) awaiting_validation: bool,
    /// No validation request before this instant (backoff after a failed one).
    pub(crate) validation_retry_at: Option<Instant>,
    /// KIP-392: the replica a leader told us to fetch from, until when (now +
    /// metadata.max.age.ms); cleared on any error so the next fetch goes to the leader.
    preferred_read_replica: Option<(i32, Instant)>,
    /// The high watermark (last stable offset with read_committed) of the latest fetch
    /// response, for `records-lag`.
    end_offset: Option<i64>,
}

impl PartitionState {
    /// The position's distance to `end_offset` (`records-lag`, `current_lag`).
    pub(crate) fn lag(&self) -> Option<i64> {
        Some((self.end_offset? - self.position?).max(0))
    }
}

/// The Kafka consumer (assign mode). Methods take `&mut self`, as Java's consumer is used from
/// one thread; every async method is cancellation-safe: positions move only when records are
/// handed out, so dropping a `poll` loses nothing.
pub struct Consumer {
    pub(crate) cfg: ConsumerConfig,
    pub(crate) metadata: Metadata,
    pub(crate) coordinators: CoordinatorLookup,
    pub(crate) assignment: BTreeMap<TopicPartition, PartitionState>,
    pub(crate) buffer: FetchBuffer,
    pub(crate) last_commit: Instant,
    /// What the application subscribed to (`subscribe`) or assigned (`assign`).
    pub(crate) subscription: SubscriptionType,
    /// Group membership, once `subscribe` was called (needs `group.id`).
    pub(crate) group: Option<GroupDriver>,
    /// Fetches on their way (at most one per leader).
    pub(crate) in_flight: Vec<InFlightFetch>,
    /// Incremental fetch sessions (KIP-227), one per broker fetched from.
    sessions: HashMap<i32, FetchSessionHandler>,
    /// The ordered commit task (started by the first commit).
    committer: Option<Committer>,
    /// Commit counters, shared with the commit task.
    commit_stats: Arc<std::sync::Mutex<CommitStats>>,
    /// Interceptors, in order.
    interceptors: Interceptors,
    /// Reused for the stream's per-record `on_consume` call (no allocation per record).
    scratch: Vec<ConsumerRecord>,
    /// Counters and windowed statistics (see `metrics.rs`).
    pub(crate) metrics: Metrics,
}

/// A Fetch request running as a task.
pub(crate) struct InFlightFetch {
    /// The node fetched from: the leader, or a preferred read replica (KIP-392).
    leader: i32,
    /// The partitions and the positions they were fetched from.
    parts: Vec<(TopicPartition, i64)>,
    /// The response and how long it took.
    handle: tokio::task::JoinHandle<(FetchResult, Duration)>,
    /// The task's output, once taken from `handle`.
    result: Option<(FetchResult, Duration)>,
}

type FetchResult = kafka_client::Result<kafka_protocol::generated::FetchResponse>;

/// A finished fetch: its leader, the partitions and positions it fetched (in the request or
/// in the broker's session), its answer and its latency.
type CompletedFetch = (i32, Vec<(TopicPartition, i64)>, (FetchResult, Duration));

impl Drop for InFlightFetch {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("assignment", &self.assignment.keys().collect::<Vec<_>>()).finish()
    }
}

impl Consumer {
    /// Starts a consumer (inside a tokio runtime).
    pub fn new(cfg: ConsumerConfig) -> Consumer {
        let pool = NetworkClient::new(cfg.client.clone());
        let metadata = Metadata::new(pool.clone(), cfg.allow_auto_create_topics);
        Consumer {
            coordinators: CoordinatorLookup::new(pool),
            metadata,
            assignment: BTreeMap::new(),
            buffer: FetchBuffer::default(),
            last_commit: Instant::now(),
            subscription: SubscriptionType::None,
            group: None,
            in_flight: Vec::new(),
            metrics: Metrics::new(Instant::now()),
            sessions: HashMap::new(),
            committer: None,
            commit_stats: Arc::new(std::sync::Mutex::new(CommitStats {
                total: 0,
                latency: kafka_client::Windowed::new(Instant::now()),
            })),
            interceptors: Interceptors::default(),
            scratch: Vec::new(),
            cfg,
        }
    }

    /// From `(key, value)` configuration pairs with the Java names.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Consumer> {
        Ok(Self::new(ConsumerConfig::from_pairs(pairs)?))
    }

    /// Replaces the assignment (manual assignment, no group membership). Partitions kept keep
    /// their positions; others start from the committed offset (with `group.id`) or
    /// `auto.offset.reset`. Panics-free, but mixing it with `subscribe` is an error in Java;
    /// here the last call wins.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        self.subscription = SubscriptionType::Assigned;
        self.set_assignment(partitions);
    }

    /// Sets the assigned partitions, keeping the state of those kept.
    pub(crate) fn set_assignment(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let new: BTreeMap<_, _> = partitions
            .into_iter()
            .map(|tp| {
                let st = self.assignment.get(&tp).cloned().unwrap_or_default();
                (tp, st)
            })
            .collect();
        self.buffer.retain(|tp| new.contains_key(tp));
        self.metadata.add_topics(new.keys().map(|tp| tp.topic.clone()));
        self.assignment = new;
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    /// A snapshot of the consumer's metrics (Java's `KafkaConsumer.metrics()`, typed).
    pub fn metrics(&self) -> ConsumerMetrics {
        let lag = self.assignment.iter().filter_map(|(tp, st)| Some((tp.clone(), st.lag()?))).collect();
        let now = Instant::now();
        let mut m = self.metrics.snapshot(now, self.assignment.len(), lag);
        let c = self.commit_stats.lock().unwrap_or_else(|p| p.into_inner());
        m.commit_total = c.total;
        m.commit_latency_avg = c.latency.avg(now).map(Duration::from_secs_f64);
        m.commit_latency_max = c.latency.max(now).map(Duration::from_secs_f64);
        m.nodes = self.metadata.client().metrics().snapshot();
        m
    }

    /// Sets the next offset `poll` returns for `tp`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        // the epoch of the record before `offset` is unknown (Java's seek does the same), so
        // the new position is not validated
        self.set_position(tp, offset, None)
    }

    /// Sets the next offset `poll` returns for `tp` with the leader epoch of the record before
    /// it (Java's `seek(TopicPartition, OffsetAndMetadata)`): with an epoch, the position is
    /// validated with OffsetForLeaderEpoch before the next fetch (KIP-320), so a log
    /// truncated since is detected (`Error::LogTruncation`) or reset as configured.
    pub fn seek_with_metadata(&mut self, tp: &TopicPartition, offset: &OffsetAndMetadata) -> Result<()> {
        self.set_position(tp, offset.offset, offset.leader_epoch)
    }

    /// Moves `tp` to `offset`; an `epoch` makes the position await validation (KIP-320).
    fn set_position(&mut self, tp: &TopicPartition, offset: i64, epoch: Option<i32>) -> Result<()> {
        let st = self.state_mut(tp)?;
        st.position = Some(offset);
        st.fetch_position = Some(offset);
        st.position_epoch = epoch;
        st.fetch_epoch = epoch;
        st.awaiting_validation = epoch.is_some();
        st.validation_retry_at = None;
        self.buffer.retain(|x| x != tp);
        Ok(())
    }

    /// Seeks to the log start of each partition.
    pub async fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<()> {
        for (tp, (offset, _)) in self.list_offsets(tps, EARLIEST).await? {
            self.seek(&tp, offset)?;
        }
        Ok(())
    }

    /// Seeks to the end of each partition (the high watermark, or the last stable offset with
    /// read_committed).
    pub async fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<()> {
        for (tp, (offset, _)) in self.list_offsets(tps, LATEST).await? {
            self.seek(&tp, offset)?;
        }
        Ok(())
    }

    /// The next offset `poll` returns for `tp` (resolving it first if needed).
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.state_mut(tp)?;
        self.ensure_positions().await?;
        Ok(self.assignment[tp].position.expect("ensured"))
    }

    /// Stops fetching `tps` (records already buffered stay) until [`Consumer::resume`].
    pub fn pause(&mut self, tps: &[TopicPartition]) -> Result<()> {
        for tp in tps {
            self.state_mut(tp)?.paused = true;
        }
        Ok(())
    }

    /// Resumes fetching `tps`.
    pub fn resume(&mut self, tps: &[TopicPartition]) -> Result<()> {
        for tp in tps {
            self.state_mut(tp)?.paused = false;
        }
        Ok(())
    }

    /// Log start offsets.
    pub async fn beginning_offsets(&self, tps: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(self.list_offsets(tps, EARLIEST).await?.into_iter().map(|(tp, (o, _))| (tp, o)).collect())
    }

    /// End offsets (high watermark; last stable offset with read_committed).
    pub async fn end_offsets(&self, tps: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, i64>> {
        Ok(self.list_offsets(tps, LATEST).await?.into_iter().map(|(tp, (o, _))| (tp, o)).collect())
    }

    /// For each partition, the first offset whose timestamp is at or after the given one, with
    /// that record's timestamp; `None` when no such record exists.
    pub async fn offsets_for_times(
        &self,
        times: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<(i64, i64)>>> {
        let mut out = BTreeMap::new();
        for (tp, ts) in times {
            let r = self.list_offsets(std::slice::from_ref(tp), *ts).await?;
            out.insert(tp.clone(), r.get(tp).copied().filter(|(o, _)| *o >= 0));
        }
        Ok(out)
    }

    /// Fetches until records arrive or `timeout` passes; returns at most `max.poll.records`.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        self.polled();
        self.maybe_auto_commit().await;
        loop {
            self.ensure_active_group(deadline).await?;
            if !self.buffer.is_empty() {
                let assignment = &mut self.assignment;
                let mut out =
                    self.buffer.take(self.cfg.max_poll_records, |tp, last| advance(assignment, tp, last));
                self.metrics.consumed(Instant::now(), out.len());
                if !self.interceptors.is_empty() {
                    self.interceptors.on_consume(&mut out);
                }
                // prefetch: the next fetches run while the application processes these
                self.send_fetches();
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline && !self.assignment.is_empty() {
                return Ok(Vec::new());
            }
            if self.assignment.is_empty() {
                if Instant::now() >= deadline {
                    // also while a join is pending: it continues as a task, and returning
                    // lets the application poll its other consumers (which the join may be
                    // waiting for)
                    return Ok(Vec::new());
                }
                if self.rebalance_pending() {
                    // a join is under way or due: ensure_active_group waits for it until the
                    // deadline rather than sleeping blind
                    continue;
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(100))).await;
                if Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                continue;
            }
            self.ensure_positions().await?;
            self.validate_positions().await?;
            self.send_fetches();
            self.complete_fetches(deadline).await?;
        }
    }

    /// The next record, as a stream would yield it (waits as long as it takes).
    pub async fn next_record(&mut self) -> Result<ConsumerRecord> {
        self.polled();
        loop {
            let assignment = &mut self.assignment;
            if let Some(r) = self.buffer.pop(|tp, last| advance(assignment, tp, last)) {
                self.metrics.consumed(Instant::now(), 1);
                if self.interceptors.is_empty() {
                    return Ok(r);
                }
                self.scratch.push(r);
                self.interceptors.on_consume(&mut self.scratch);
                match self.scratch.pop() {
                    Some(r) => {
                        self.scratch.clear();
                        return Ok(r);
                    }
                    None => continue, // filtered out
                }
            }
            self.maybe_auto_commit().await;
            self.ensure_active_group(Instant::now() + self.cfg.fetch_max_wait).await?;
            self.polled();
            if self.assignment.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            self.ensure_positions().await?;
            self.validate_positions().await?;
            self.send_fetches();
            self.complete_fetches(Instant::now() + self.cfg.fetch_max_wait).await?;
        }
    }

    /// The records as a `futures::Stream` (one at a time; dropping it loses nothing).
    pub fn stream(&mut self) -> impl futures::Stream<Item = Result<ConsumerRecord>> + '_ {
        futures::stream::unfold(self, |c| async move {
            let r = c.next_record().await;
            Some((r, c))
        })
    }

    /// Commits the current positions (or `offsets`) for `group.id`, waiting for the answer
    /// (Java's `commitSync()` / `commitSync(Map<TopicPartition, OffsetAndMetadata>)`).
    /// Ordered after every earlier [`Consumer::commit_async`].
    pub async fn commit_sync(
        &mut self,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
    ) -> Result<()> {
        self.commit_async(offsets).await
    }

    /// Commits the current positions (or `offsets`) for `group.id` without waiting (Java's
    /// `commitAsync`): the commit is sent whether or not the returned handle is awaited, and
    /// commits reach the coordinator in the order they were made. Awaiting the handle yields
    /// the outcome. Current positions carry the leader epoch of the last record consumed
    /// (KIP-320); explicit offsets carry their own epoch and metadata.
    pub fn commit_async(
        &mut self,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
    ) -> CommitHandle {
        let offsets = offsets.unwrap_or_else(|| self.positions(|_| true));
        self.last_commit = Instant::now();
        self.submit_commit(offsets)
    }

    /// The positions of the assigned partitions `keep` accepts, with the leader epoch of the
    /// last record handed out: what a commit of the current positions stores.
    pub(crate) fn positions(
        &self,
        keep: impl Fn(&TopicPartition) -> bool,
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.assignment
            .iter()
            .filter(|(tp, _)| keep(tp))
            .filter_map(|(tp, st)| {
                let offset = st.position?;
                Some((
                    tp.clone(),
                    OffsetAndMetadata { offset, leader_epoch: st.position_epoch, metadata: String::new() },
                ))
            })
            .collect()
    }

    fn submit_commit(&mut self, offsets: BTreeMap<TopicPartition, OffsetAndMetadata>) -> CommitHandle {
        let Some(group) = self.cfg.group_id.clone() else {
            return CommitHandle::ready(Err(Error::NoGroup("commit")));
        };
        if offsets.is_empty() {
            return CommitHandle::ready(Ok(()));
        }
        let generation = match self.commit_generation() {
            Ok(g) => g,
            Err(e) => return CommitHandle::ready(Err(e)),
        };
        let ctx = self.group.as_ref().map(|g| g.ctx.clone());
        let interceptors = self.interceptors.clone();
        self.committer(group).submit(offsets, generation, ctx, interceptors)
    }

    /// The commit task, started on first use.
    fn committer(&mut self, group_id: String) -> &Committer {
        let (coordinators, client) = (self.coordinators.clone(), self.cfg.client.clone());
        let stats = self.commit_stats.clone();
        self.committer
            .get_or_insert_with(|| Committer::spawn(CommitContext { group_id, coordinators, client, stats }))
    }

    /// Waits until every commit submitted so far was answered.
    async fn flush_commits(&mut self) {
        let Some(c) = &self.committer else { return };
        let barrier = c.submit(BTreeMap::new(), (-1, String::new(), None), None, Interceptors::default());
        if tokio::time::timeout(self.cfg.client.default_api_timeout, barrier).await.is_err() {
            tracing::warn!("pending commits did not complete before close");
        }
    }

    /// Adds a [`ConsumerInterceptor`] after those already added.
    pub fn add_interceptor(&mut self, interceptor: impl ConsumerInterceptor + 'static) {
        self.interceptors.push(Arc::new(interceptor));
    }

    /// The committed offsets of `tps` for `group.id`, with the leader epoch and metadata
    /// committed with them (`None`: nothing committed).
    pub async fn committed(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let group = self.cfg.group_id.clone().ok_or(Error::NoGroup("committed"))?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let req = OffsetFetchRequest {
            group_id: group.clone(),
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| OffsetFetchRequestTopic {
                        name: t.to_owned(),
                        partition_indexes: ps,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: true,
            ..Default::default()
        };
        let resp = to_coordinator(&self.coordinators, &self.cfg.client, &group, |conn| {
            let v = conn.version(ApiKey::OffsetFetch).unwrap_or(7).min(7);
            let req = req.clone();
            async move { conn.send_with(&req, RequestOptions { version: Some(v), timeout: None }).await }
        })
        .await?;
        let mut out: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
            tps.iter().map(|tp| (tp.clone(), None)).collect();
        for t in &resp.topics {
            for p in &t.partitions {
                let code = ErrorCode::from(p.error_code);
                if code != ErrorCode::None {
                    return Err(Error::Broker {
                        api: "OffsetFetch",
                        topic: t.name.clone(),
                        partition: p.partition_index,
                        code,
                    });
                }
                out.insert(
                    TopicPartition::new(t.name.clone(), p.partition_index),
                    Some(p.committed_offset).filter(|o| *o >= 0).map(|offset| OffsetAndMetadata {
                        offset,
                        leader_epoch: Some(p.committed_leader_epoch).filter(|e| *e >= 0),
                        metadata: p.metadata.clone().unwrap_or_default(),
                    }),
                );
            }
        }
        Ok(out)
    }

    /// Commits (with auto-commit on; a failure is logged, as in Java), waits for pending
    /// async commits, revokes the partitions through the rebalance listener,
    /// leaves the group (dynamic members; static members keep their place until
    /// `session.timeout.ms`, as in Java) and closes the connections.
    pub async fn close(mut self) -> Result<()> {
        // as in Java, a failed auto-commit on close is logged, not returned (a rebalance
        // another member started may reject it; the next owner resumes from the last commit)
        if self.cfg.enable_auto_commit {
            if let Err(e) = self.commit_sync(None).await {
                tracing::warn!(error = %e, "auto-commit on close failed");
            }
        }
        self.leave_group("the consumer is closing").await;
        self.flush_commits().await;
        self.interceptors.on_close();
        self.metadata.client().close();
        Ok(())
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.assignment
            .get_mut(tp)
            .ok_or_else(|| Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    /// Auto-commit, asynchronous as in Java (the commit task logs a failure nobody awaits).
    async fn maybe_auto_commit(&mut self) {
        if self.cfg.enable_auto_commit && self.last_commit.elapsed() >= self.cfg.auto_commit_interval {
            drop(self.commit_async(None));
        }
    }

    /// Resolves missing positions: committed offsets first (with a group), then the reset
    /// policy via ListOffsets.
    async fn ensure_positions(&mut self) -> Result<()> {
        let missing: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|(_, st)| st.fetch_position.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut need_reset = missing.clone();
        if self.cfg.group_id.is_some() {
            let committed = self.committed(&missing).await?;
            need_reset.clear();
            for (tp, c) in committed {
                match c {
                    Some(o) => self.set_position(&tp, o.offset, o.leader_epoch)?,
                    None => need_reset.push(tp),
                }
            }
        }
        if need_reset.is_empty() {
            return Ok(());
        }
        let ts = match self.cfg.auto_offset_reset {
            OffsetReset::Earliest => EARLIEST,
            OffsetReset::Latest => LATEST,
            OffsetReset::None => {
                let tp = &need_reset[0];
                return Err(Error::NoOffsetForPartition { topic: tp.topic.clone(), partition: tp.partition });
            }
        };
        for (tp, (offset, _)) in self.list_offsets(&need_reset, ts).await? {
            self.set_position(&tp, offset, None)?;
        }
        Ok(())
    }

    /// ListOffsets for `tps` at `timestamp` (EARLIEST, LATEST or a time), per leader.
    async fn list_offsets(
        &self,
        tps: &[TopicPartition],
        timestamp: i64,
    ) -> Result<BTreeMap<TopicPartition, (i64, i64)>> {
        let deadline = Instant::now() + self.cfg.client.default_api_timeout;
        let mut out = BTreeMap::new();
        let mut todo: Vec<TopicPartition> = tps.to_vec();
        while !todo.is_empty() {
            self.metadata.add_topics(todo.iter().map(|tp| tp.topic.clone()));
            let snap = self.metadata.snapshot();
            let mut by_leader: HashMap<i32, Vec<&TopicPartition>> = HashMap::new();
            let mut leaderless = Vec::new();
            for tp in &todo {
                match snap.partition(&tp.topic, tp.partition).and_then(|p| p.leader) {
                    Some(l) => by_leader.entry(l).or_default().push(tp),
                    None => leaderless.push(tp.clone()),
                }
            }
            let requests = by_leader.into_iter().map(|(leader, tps)| {
                let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                for tp in tps {
                    topics.entry(&tp.topic).or_default().push(ListOffsetsPartition {
                        partition_index: tp.partition,
                        current_leader_epoch: -1,
                        timestamp,
                        ..Default::default()
                    });
                }
                let req = ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: i8::from(self.cfg.read_committed),
                    topics: topics
                        .into_iter()
                        .map(|(t, ps)| ListOffsetsTopic {
                            name: t.to_owned(),
                            partitions: ps,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                let pool = self.metadata.client().clone();
                async move { pool.send(leader, Purpose::Fetch, &req).await }
            });
            let mut retry = leaderless;
            for resp in join_all(requests).await {
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() && Instant::now() < deadline => {
                        self.metadata.request_update();
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                for t in &resp.topics {
                    for p in &t.partitions {
                        let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                        match ErrorCode::from(p.error_code) {
                            ErrorCode::None => {
                                out.insert(tp, (p.offset, p.timestamp));
                            }
                            code if code.is_retriable() && Instant::now() < deadline => {
                                self.metadata.invalidate_on(code);
                                retry.push(tp);
                            }
                            code => {
                                return Err(Error::Broker {
                                    api: "ListOffsets",
                                    topic: tp.topic,
                                    partition: tp.partition,
                                    code,
                                });
                            }
                        }
                    }
                }
            }
            // requests that failed as a whole: their partitions are still missing
            retry.extend(todo.iter().filter(|tp| !out.contains_key(*tp)).cloned());
            retry.sort();
            retry.dedup();
            todo = retry;
            if !todo.is_empty() {
                if Instant::now() >= deadline {
                    return Err(Error::Timeout("ListOffsets", self.cfg.client.default_api_timeout));
                }
                self.metadata.request_update();
                tokio::time::sleep(self.cfg.client.retry_backoff).await;
            }
        }
        Ok(out)
    }

    /// The preferred read replica `tp` fetches from (KIP-392), if any.
    fn read_replica_of(&self, tp: &TopicPartition) -> Option<i32> {
        self.assignment.get(tp).and_then(|st| st.preferred_read_replica).map(|(id, _)| id)
    }

    /// Forgets the preferred read replicas of `parts`: their next fetch goes to the leader.
    fn clear_read_replicas(&mut self, parts: &[(TopicPartition, i64)]) {
        for (tp, _) in parts {
            if let Some(st) = self.assignment.get_mut(tp) {
                st.preferred_read_replica = None;
            }
        }
    }

    /// Sends a Fetch to every node that has fetchable partitions and no fetch in flight
    /// (Java's `Fetcher.sendFetches`); a partition's node is its leader, or the preferred
    /// read replica a leader named (KIP-392, `client.rack`). A partition is fetchable when it has a position, is not
    /// paused, has no records buffered and no fetch out: so memory stays bounded by one
    /// response per leader in flight plus one per partition buffered, and the next fetch is
    /// already on its way while the application processes what `poll` returned. Requests run
    /// as tasks, so dropping a `poll` does not cancel them; their answers are applied by a
    /// later `poll` (and dropped if a seek or a rebalance made them stale).
    pub(crate) fn send_fetches(&mut self) {
        let snap = self.metadata.snapshot();
        self.note_leader_epochs(&snap);
        let busy: std::collections::HashSet<i32> = self.in_flight.iter().map(|f| f.leader).collect();
        let now = Instant::now();
        let mut by_node: HashMap<i32, BTreeMap<TopicPartition, PartitionFetch>> = HashMap::new();
        for (tp, st) in self.assignment.iter_mut() {
            let (Some(pos), false, false) = (st.fetch_position, st.paused, st.awaiting_validation) else {
                continue;
            };
            if self.buffer.contains(tp) {
                continue;
            }
            let Some(meta) = snap.partition(&tp.topic, tp.partition) else {
                self.metadata.request_update();
                continue;
            };
            let Some(leader) = meta.leader else {
                self.metadata.request_update();
                continue;
            };
            let node = match select_read_replica(st, leader, meta, &snap, now) {
                Ok(node) => node,
                Err(node) => {
                    // the preferred replica is gone from metadata: back to the leader, and
                    // refresh (Java's selectReadReplica)
                    self.metadata.request_update();
                    node
                }
            };
            if busy.contains(&node) {
                continue;
            }
            let data = PartitionFetch {
                topic_id: snap.topic(&tp.topic).map(|m| m.topic_id).unwrap_or_default(),
                fetch_offset: pos,
                max_bytes: self.cfg.max_partition_fetch_bytes,
                current_leader_epoch: meta.leader_epoch.unwrap_or(-1),
                last_fetched_epoch: st.fetch_epoch.unwrap_or(-1),
            };
            by_node.entry(node).or_default().insert(tp.clone(), data);
        }
        for (leader, next) in by_node {
            let session = self.sessions.entry(leader).or_default().build(&next);
            let mut topics: BTreeMap<&str, FetchTopic> = BTreeMap::new();
            for (tp, d) in &session.to_send {
                let t = topics.entry(&tp.topic).or_insert_with(|| FetchTopic {
                    topic: tp.topic.clone(),
                    topic_id: d.topic_id,
                    ..Default::default()
                });
                t.partitions.push(FetchPartition {
                    partition: tp.partition,
                    fetch_offset: d.fetch_offset,
                    partition_max_bytes: d.max_bytes,
                    current_leader_epoch: d.current_leader_epoch,
                    last_fetched_epoch: d.last_fetched_epoch,
                    ..Default::default()
                });
            }
            let mut forgotten: BTreeMap<&str, ForgottenTopic> = BTreeMap::new();
            for (tp, id) in &session.forgotten {
                forgotten
                    .entry(&tp.topic)
                    .or_insert_with(|| ForgottenTopic {
                        topic: tp.topic.clone(),
                        topic_id: *id,
                        ..Default::default()
                    })
                    .partitions
                    .push(tp.partition);
            }
            let req = FetchRequest {
                replica_id: -1,
                max_wait_ms: self.cfg.fetch_max_wait.as_millis() as i32,
                min_bytes: self.cfg.fetch_min_bytes,
                max_bytes: self.cfg.fetch_max_bytes,
                isolation_level: i8::from(self.cfg.read_committed),
                session_id: session.session_id,
                session_epoch: session.epoch,
                rack_id: self.cfg.client.client_rack.clone(),
                topics: topics.into_values().collect(),
                forgotten_topics_data: forgotten.into_values().collect(),
                ..Default::default()
            };
            let parts: Vec<(TopicPartition, i64)> =
                next.into_iter().map(|(tp, d)| (tp, d.fetch_offset)).collect();
            let pool = self.metadata.client().clone();
            let timeout = self.cfg.client.request_timeout + self.cfg.fetch_max_wait;
            let handle = tokio::spawn(async move {
                let start = Instant::now();
                let opts = RequestOptions { version: None, timeout: Some(timeout) };
                let r = match pool.connection(leader, Purpose::Fetch).await {
                    Ok(conn) => {
                        let mut req = req;
                        // LastFetchedEpoch (v12+) is not ignorable: clear it for older brokers
                        if conn.version(ApiKey::Fetch).unwrap_or(0) < 12 {
                            for p in req.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                                p.last_fetched_epoch = -1;
                            }
                        }
                        conn.send_with(&req, opts).await
                    }
                    Err(e) => Err(e),
                };
                (r, start.elapsed())
            });
            self.in_flight.push(InFlightFetch { leader, parts, handle, result: None });
        }
    }

    /// Waits (until `deadline`) for a fetch to complete, then applies every completed one.
    /// Nothing changes before the await, and applying does not await, so a dropped `poll`
    /// leaves consistent state (the fetches stay in flight).
    pub(crate) async fn complete_fetches(&mut self, deadline: Instant) -> Result<()> {
        if self.in_flight.is_empty() {
            tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(100))).await;
            return Ok(());
        }
        let in_flight = &mut self.in_flight;
        let any_done = futures::future::poll_fn(|cx| {
            let mut any = false;
            for f in in_flight.iter_mut() {
                if f.result.is_none() {
                    if let std::task::Poll::Ready(r) = std::pin::Pin::new(&mut f.handle).poll(cx) {
                        f.result = Some(r.unwrap_or_else(|e| {
                            let reason = format!("fetch task failed: {e}");
                            (Err(kafka_client::Error::NoBrokerAvailable { reason }), Duration::ZERO)
                        }));
                    }
                }
                any |= f.result.is_some();
            }
            if any { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
        });
        if tokio::time::timeout_at(deadline, any_done).await.is_err() {
            return Ok(());
        }
        let (done, pending): (Vec<InFlightFetch>, Vec<InFlightFetch>) =
            std::mem::take(&mut self.in_flight).into_iter().partition(|f| f.result.is_some());
        self.in_flight = pending;
        let snap = self.metadata.snapshot();
        let responses: Vec<_> = done
            .into_iter()
            .filter_map(|mut f| f.result.take().map(|r| (f.leader, std::mem::take(&mut f.parts), r)))
            .collect();
        self.apply_fetches(&snap, responses)
    }

    fn apply_fetches(
        &mut self,
        snap: &kafka_client::metadata::MetadataCache,
        responses: Vec<CompletedFetch>,
    ) -> Result<()> {
        let now = Instant::now();
        for (leader, parts, (resp, latency)) in responses {
            let resp = match resp {
                Ok(r) => {
                    self.metrics.fetched(now, latency);
                    let code = ErrorCode::from(r.error_code);
                    let session = self.sessions.entry(leader).or_default();
                    if !session.handle_response(code, r.session_id) {
                        if !matches!(
                            code,
                            ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
                        ) {
                            tracing::debug!(?code, leader, "fetch failed; refreshing metadata");
                            self.metadata.request_update();
                        }
                        self.clear_read_replicas(&parts);
                        continue;
                    }
                    r
                }
                Err(e) => {
                    self.sessions.entry(leader).or_default().handle_error();
                    // the next fetch goes to the leader (Java's handleFetchFailure)
                    self.clear_read_replicas(&parts);
                    if !e.is_retriable() {
                        return Err(e.into());
                    }
                    tracing::debug!(error = %e, "fetch failed; refreshing metadata");
                    self.metadata.request_update();
                    continue;
                }
            };
            for t in &resp.responses {
                let name = if t.topic.is_empty() {
                    match snap.topic_by_id(t.topic_id) {
                        Some(m) => m.name.clone(),
                        None => continue,
                    }
                } else {
                    t.topic.clone()
                };
                for p in &t.partitions {
                    let tp = TopicPartition::new(name.clone(), p.partition_index);
                    let Some(&(_, pos)) = parts.iter().find(|(x, _)| *x == tp) else { continue };
                    // a seek while the fetch was out makes its data stale
                    if self.assignment.get(&tp).and_then(|s| s.fetch_position) != Some(pos) {
                        continue;
                    }
                    match ErrorCode::from(p.error_code) {
                        ErrorCode::None
                            if p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0 =>
                        {
                            // KIP-320 through Fetch v12+: the log diverges from our last fetched epoch
                            let d = &p.diverging_epoch;
                            self.apply_epoch_end(&tp, pos, d.epoch, d.end_offset)?;
                        }
                        ErrorCode::None => {
                            let data = p.records.clone().unwrap_or_default();
                            self.metrics.fetched_bytes(now, data.len());
                            let parsed = fetcher::parse(
                                &tp.topic,
                                tp.partition,
                                data,
                                pos,
                                p.aborted_transactions.as_deref(),
                                self.cfg.read_committed,
                                self.cfg.check_crcs,
                            )?;
                            self.buffer.push(tp.clone(), parsed.records);
                            if let Some(st) = self.assignment.get_mut(&tp) {
                                st.fetch_position = Some(parsed.next_position);
                                st.fetch_epoch = parsed.last_epoch.or(st.fetch_epoch);
                                if p.preferred_read_replica >= 0 {
                                    // KIP-392: fetch from this replica until metadata.max.age.ms
                                    tracing::debug!(%tp, replica = p.preferred_read_replica, "preferred read replica");
                                    let until = now + self.cfg.client.metadata_max_age;
                                    st.preferred_read_replica = Some((p.preferred_read_replica, until));
                                }
                                let end = if self.cfg.read_committed && p.last_stable_offset >= 0 {
                                    p.last_stable_offset
                                } else {
                                    p.high_watermark
                                };
                                st.end_offset = Some(end).filter(|e| *e >= 0);
                            }
                        }
                        ErrorCode::OffsetOutOfRange if self.read_replica_of(&tp) == Some(leader) => {
                            // a follower may lag the leader: retry at the leader, no reset
                            tracing::debug!(%tp, replica = leader, "offset out of range at the read replica");
                            if let Some(st) = self.assignment.get_mut(&tp) {
                                st.preferred_read_replica = None;
                            }
                        }
                        ErrorCode::OffsetOutOfRange => {
                            if self.cfg.auto_offset_reset == OffsetReset::None {
                                return Err(Error::OffsetOutOfRange {
                                    topic: tp.topic,
                                    partition: tp.partition,
                                    offset: pos,
                                });
                            }
                            tracing::info!(%tp, offset = pos, "offset out of range; resetting");
                            if let Some(st) = self.assignment.get_mut(&tp) {
                                st.fetch_position = None;
                                st.position = None;
                                st.fetch_epoch = None;
                                st.position_epoch = None;
                            }
                        }
                        code if code.is_retriable()
                            || kafka_client::metadata::needs_metadata_refresh(code) =>
                        {
                            if let Some(st) = self.assignment.get_mut(&tp) {
                                st.preferred_read_replica = None;
                            }
                            self.metadata.invalidate_on(code);
                            self.metadata.request_update();
                        }
                        code => {
                            return Err(Error::Broker {
                                api: "Fetch",
                                topic: tp.topic,
                                partition: tp.partition,
                                code,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Java's `selectReadReplica`: the preferred read replica (KIP-392) while it has not expired
/// and metadata lists it online, else the leader. `Err(leader)`: the replica was dropped
/// because metadata does not know it (the caller refreshes metadata).
fn select_read_replica(
    st: &mut PartitionState,
    leader: i32,
    meta: &kafka_client::metadata::PartitionMetadata,
    snap: &kafka_client::metadata::MetadataCache,
    now: Instant,
) -> std::result::Result<i32, i32> {
    match st.preferred_read_replica {
        Some((id, until)) if until > now => {
            if snap.broker(id).is_some() && !meta.offline_replicas.contains(&id) {
                Ok(id)
            } else {
                st.preferred_read_replica = None;
                Err(leader)
            }
        }
        Some(_) => {
            st.preferred_read_replica = None;
            Ok(leader)
        }
        None => Ok(leader),
    }
}

/// Moves `tp`'s position past `last`, a record `poll` or the stream hands out.
fn advance(
    assignment: &mut BTreeMap<TopicPartition, PartitionState>,
    tp: &TopicPartition,
    last: &ConsumerRecord,
) {
    if let Some(st) = assignment.get_mut(tp) {
        st.position = Some(last.offset + 1);
        st.position_epoch = last.leader_epoch.or(st.position_epoch);
    }
}

//! `Consumer`: manual assignment, positions, the fetch loop, offsets by time, and committed
//! offsets of a group (standalone commits, generation -1, as Java's assign-mode consumer).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use futures::future::join_all;
use kafka_client::conn::RequestOptions;
use kafka_client::{CoordinatorLookup, CoordinatorType, Metadata, NetworkClient, Purpose};
use kafka_protocol::generated::{
    FetchRequest, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest,
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
};
use kafka_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;

use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::{Error, Result};
use crate::fetcher;
use crate::membership::{GroupDriver, SubscriptionType};
use crate::record::{ConsumerRecord, TopicPartition};

/// ListOffsets' special timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// One fetch request's outcome: the partitions it asked for (with their fetch offsets) and the
/// broker's response or the transport error.
type FetchOutcome =
    (Vec<(TopicPartition, i64)>, kafka_client::Result<kafka_protocol::generated::FetchResponse>);

#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionState {
    /// The next offset `poll` returns (Java's position).
    pub(crate) position: Option<i64>,
    /// The next offset to fetch (ahead of `position` while records are buffered).
    fetch_position: Option<i64>,
    paused: bool,
}

/// The Kafka consumer (assign mode). Methods take `&mut self`, as Java's consumer is used from
/// one thread; every async method is cancellation-safe: positions move only when records are
/// handed out, so dropping a `poll` loses nothing.
pub struct Consumer {
    pub(crate) cfg: ConsumerConfig,
    pub(crate) metadata: Metadata,
    pub(crate) coordinators: CoordinatorLookup,
    pub(crate) assignment: BTreeMap<TopicPartition, PartitionState>,
    pub(crate) buffer: VecDeque<ConsumerRecord>,
    pub(crate) last_commit: Instant,
    /// What the application subscribed to (`subscribe`) or assigned (`assign`).
    pub(crate) subscription: SubscriptionType,
    /// Group membership, once `subscribe` was called (needs `group.id`).
    pub(crate) group: Option<GroupDriver>,
    /// Fetches on their way (at most one per leader).
    pub(crate) in_flight: Vec<InFlightFetch>,
}

/// A Fetch request running as a task.
pub(crate) struct InFlightFetch {
    leader: i32,
    /// The partitions and the positions they were fetched from.
    parts: Vec<(TopicPartition, i64)>,
    handle: tokio::task::JoinHandle<kafka_client::Result<kafka_protocol::generated::FetchResponse>>,
    /// The task's output, once taken from `handle`.
    result: Option<kafka_client::Result<kafka_protocol::generated::FetchResponse>>,
}

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
            buffer: VecDeque::new(),
            last_commit: Instant::now(),
            subscription: SubscriptionType::None,
            group: None,
            in_flight: Vec::new(),
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
        self.buffer.retain(|r| new.contains_key(&TopicPartition::new(r.topic.clone(), r.partition)));
        self.metadata.add_topics(new.keys().map(|tp| tp.topic.clone()));
        self.assignment = new;
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    /// Sets the next offset `poll` returns for `tp`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let st = self.state_mut(tp)?;
        st.position = Some(offset);
        st.fetch_position = Some(offset);
        self.buffer.retain(|r| !(r.topic == tp.topic && r.partition == tp.partition));
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
                let n = self.buffer.len().min(self.cfg.max_poll_records);
                let out: Vec<ConsumerRecord> = self.buffer.drain(..n).collect();
                self.advance_positions(&out);
                // prefetch: the next fetches run while the application processes these
                self.send_fetches();
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline && !self.assignment.is_empty() {
                return Ok(Vec::new());
            }
            if self.assignment.is_empty() {
                if self.rebalance_pending() {
                    // a join is under way or due: wait for it rather than sleeping blind
                    continue;
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(100))).await;
                if Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                continue;
            }
            self.ensure_positions().await?;
            self.send_fetches();
            self.complete_fetches(deadline).await?;
        }
    }

    /// Moves positions past `records` (runs of one partition are contiguous, so this builds
    /// one key per run, not per record).
    fn advance_positions(&mut self, records: &[ConsumerRecord]) {
        let mut i = 0;
        while i < records.len() {
            let (topic, partition) = (&records[i].topic, records[i].partition);
            let mut j = i;
            while j + 1 < records.len()
                && records[j + 1].partition == partition
                && &records[j + 1].topic == topic
            {
                j += 1;
            }
            if let Some(st) = self.assignment.get_mut(&TopicPartition::new(topic.clone(), partition)) {
                st.position = Some(records[j].offset + 1);
            }
            i = j + 1;
        }
    }

    /// The next record, as a stream would yield it (waits as long as it takes).
    pub async fn next_record(&mut self) -> Result<ConsumerRecord> {
        self.polled();
        loop {
            if let Some(r) = self.buffer.pop_front() {
                if let Some(st) = self.assignment.get_mut(&TopicPartition::new(r.topic.clone(), r.partition))
                {
                    st.position = Some(r.offset + 1);
                }
                return Ok(r);
            }
            self.maybe_auto_commit().await;
            self.ensure_active_group(Instant::now() + self.cfg.fetch_max_wait).await?;
            self.polled();
            if self.assignment.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            self.ensure_positions().await?;
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

    /// Commits the current positions (or `offsets`) for `group.id`, waiting for the answer.
    pub async fn commit_sync(&mut self, offsets: Option<BTreeMap<TopicPartition, i64>>) -> Result<()> {
        let offsets = match offsets {
            Some(o) => o,
            None => {
                self.assignment.iter().filter_map(|(tp, st)| st.position.map(|p| (tp.clone(), p))).collect()
            }
        };
        self.commit(&offsets).await?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The committed offsets of `tps` for `group.id` (`None`: nothing committed).
    pub async fn committed(&self, tps: &[TopicPartition]) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
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
        let resp = self
            .to_coordinator(&group, |conn| {
                let v = conn.version(ApiKey::OffsetFetch).unwrap_or(7).min(7);
                let req = req.clone();
                async move { conn.send_with(&req, RequestOptions { version: Some(v), timeout: None }).await }
            })
            .await?;
        let mut out: BTreeMap<TopicPartition, Option<i64>> =
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
                    Some(p.committed_offset).filter(|o| *o >= 0),
                );
            }
        }
        Ok(out)
    }

    /// Commits (with auto-commit on), revokes the partitions through the rebalance listener,
    /// leaves the group (dynamic members; static members keep their place until
    /// `session.timeout.ms`, as in Java) and closes the connections.
    pub async fn close(mut self) -> Result<()> {
        let commit = if self.cfg.enable_auto_commit { self.commit_sync(None).await } else { Ok(()) };
        self.leave_group("the consumer is closing").await;
        self.metadata.client().close();
        commit
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.assignment
            .get_mut(tp)
            .ok_or_else(|| Error::NotAssigned { topic: tp.topic.clone(), partition: tp.partition })
    }

    async fn maybe_auto_commit(&mut self) {
        if self.cfg.enable_auto_commit && self.last_commit.elapsed() >= self.cfg.auto_commit_interval {
            if let Err(e) = self.commit_sync(None).await {
                tracing::warn!(error = %e, "auto-commit failed");
            }
        }
    }

    async fn commit(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<()> {
        let group = self.cfg.group_id.clone().ok_or(Error::NoGroup("commit"))?;
        if offsets.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, offset) in offsets {
            topics.entry(&tp.topic).or_default().push(OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            });
        }
        let (generation_id, member_id, group_instance_id) = self.commit_generation()?;
        let req = OffsetCommitRequest {
            group_id: group.clone(),
            generation_id_or_member_epoch: generation_id,
            member_id,
            group_instance_id,
            topics: topics
                .into_iter()
                .map(|(t, ps)| OffsetCommitRequestTopic {
                    name: t.to_owned(),
                    partitions: ps,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let resp = self
            .to_coordinator(&group, |conn| {
                let v = conn.version(ApiKey::OffsetCommit).unwrap_or(8).min(8);
                let mut req = req.clone();
                if v < 7 {
                    req.group_instance_id = None;
                }
                async move { conn.send_with(&req, RequestOptions { version: Some(v), timeout: None }).await }
            })
            .await?;
        for t in &resp.topics {
            for p in &t.partitions {
                let code = ErrorCode::from(p.error_code);
                if code != ErrorCode::None {
                    if let Some(e) = self.commit_rejected(code) {
                        return Err(e);
                    }
                    return Err(Error::Broker {
                        api: "OffsetCommit",
                        topic: t.name.clone(),
                        partition: p.partition_index,
                        code,
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends a request built by `f` to the group coordinator, rediscovering it on coordinator
    /// errors (in the response's top-level or first partition error) within
    /// `default.api.timeout.ms`.
    async fn to_coordinator<R, F, Fut>(&self, group: &str, f: F) -> Result<R>
    where
        F: Fn(kafka_client::Connection) -> Fut,
        Fut: std::future::Future<Output = kafka_client::Result<R>>,
        R: CoordinatorReply,
    {
        let deadline = Instant::now() + self.cfg.client.default_api_timeout;
        let backoff = self.cfg.client.retry_backoff_policy();
        let mut attempt = 0;
        loop {
            let outcome = async {
                let c = self.coordinators.find(CoordinatorType::Group, group).await?;
                let conn = self.metadata.client().connection(c.node_id, Purpose::Group).await;
                let conn = match conn {
                    Ok(conn) => conn,
                    Err(_) => {
                        self.metadata.client().add_node(c.broker_ref());
                        self.metadata.client().connection(c.node_id, Purpose::Group).await?
                    }
                };
                f(conn).await
            }
            .await;
            let retry = match &outcome {
                Ok(r) => {
                    let code = r.coordinator_code();
                    self.coordinators.invalidate_on(CoordinatorType::Group, group, code)
                        || matches!(
                            code,
                            ErrorCode::CoordinatorLoadInProgress | ErrorCode::UnstableOffsetCommit
                        )
                }
                Err(e) => {
                    self.coordinators.invalidate(CoordinatorType::Group, group);
                    e.is_retriable()
                }
            };
            if !retry || Instant::now() >= deadline {
                return Ok(outcome?);
            }
            tokio::time::sleep(backoff.backoff(attempt)).await;
            attempt += 1;
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
                    Some(o) => {
                        let st = self.state_mut(&tp)?;
                        st.position = Some(o);
                        st.fetch_position = Some(o);
                    }
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
            let st = self.state_mut(&tp)?;
            st.position = Some(offset);
            st.fetch_position = Some(offset);
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

    /// Sends a Fetch to every leader that has fetchable partitions and no fetch in flight
    /// (Java's `Fetcher.sendFetches`). A partition is fetchable when it has a position, is not
    /// paused, has no records buffered and no fetch out: so memory stays bounded by one
    /// response per leader in flight plus one per partition buffered, and the next fetch is
    /// already on its way while the application processes what `poll` returned. Requests run
    /// as tasks, so dropping a `poll` does not cancel them; their answers are applied by a
    /// later `poll` (and dropped if a seek or a rebalance made them stale).
    pub(crate) fn send_fetches(&mut self) {
        let snap = self.metadata.snapshot();
        let buffered: std::collections::HashSet<(&str, i32)> =
            self.buffer.iter().map(|r| (r.topic.as_str(), r.partition)).collect();
        let busy: std::collections::HashSet<i32> = self.in_flight.iter().map(|f| f.leader).collect();
        let mut by_leader: HashMap<i32, Vec<(TopicPartition, i64)>> = HashMap::new();
        for (tp, st) in &self.assignment {
            let (Some(pos), false) = (st.fetch_position, st.paused) else { continue };
            if buffered.contains(&(tp.topic.as_str(), tp.partition)) {
                continue;
            }
            match snap.partition(&tp.topic, tp.partition).and_then(|p| p.leader) {
                Some(l) if !busy.contains(&l) => by_leader.entry(l).or_default().push((tp.clone(), pos)),
                Some(_) => {}
                None => self.metadata.request_update(),
            }
        }
        for (leader, parts) in by_leader {
            let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for (tp, pos) in &parts {
                topics.entry(tp.topic.clone()).or_default().push(FetchPartition {
                    partition: tp.partition,
                    fetch_offset: *pos,
                    partition_max_bytes: self.cfg.max_partition_fetch_bytes,
                    ..Default::default()
                });
            }
            let req = FetchRequest {
                replica_id: -1,
                max_wait_ms: self.cfg.fetch_max_wait.as_millis() as i32,
                min_bytes: self.cfg.fetch_min_bytes,
                max_bytes: self.cfg.fetch_max_bytes,
                isolation_level: i8::from(self.cfg.read_committed),
                rack_id: self.cfg.client.client_rack.clone(),
                topics: topics
                    .into_iter()
                    .map(|(t, ps)| FetchTopic {
                        topic_id: snap.topic(&t).map(|m| m.topic_id).unwrap_or_default(),
                        topic: t,
                        partitions: ps,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let pool = self.metadata.client().clone();
            let timeout = self.cfg.client.request_timeout + self.cfg.fetch_max_wait;
            let handle = tokio::spawn(async move {
                pool.send_with(
                    leader,
                    Purpose::Fetch,
                    &req,
                    RequestOptions { version: None, timeout: Some(timeout) },
                )
                .await
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
                            Err(kafka_client::Error::NoBrokerAvailable {
                                reason: format!("fetch task failed: {e}"),
                            })
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
            .filter_map(|mut f| f.result.take().map(|r| (std::mem::take(&mut f.parts), r)))
            .collect();
        self.apply_fetches(&snap, responses)
    }

    fn apply_fetches(
        &mut self,
        snap: &kafka_client::metadata::MetadataCache,
        responses: Vec<FetchOutcome>,
    ) -> Result<()> {
        for (parts, resp) in responses {
            let resp = match resp {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, "fetch failed; refreshing metadata");
                    self.metadata.request_update();
                    continue;
                }
                Err(e) => return Err(e.into()),
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
                        ErrorCode::None => {
                            let parsed = fetcher::parse(
                                &tp.topic,
                                tp.partition,
                                p.records.clone().unwrap_or_default(),
                                pos,
                                p.aborted_transactions.as_deref(),
                                self.cfg.read_committed,
                                self.cfg.check_crcs,
                            )?;
                            self.buffer.extend(parsed.records);
                            if let Some(st) = self.assignment.get_mut(&tp) {
                                st.fetch_position = Some(parsed.next_position);
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
                            }
                        }
                        code if code.is_retriable()
                            || kafka_client::metadata::needs_metadata_refresh(code) =>
                        {
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

/// A coordinator response's error code (top level, else the first partition's).
trait CoordinatorReply {
    fn coordinator_code(&self) -> ErrorCode;
}

impl CoordinatorReply for kafka_protocol::generated::OffsetCommitResponse {
    fn coordinator_code(&self) -> ErrorCode {
        self.topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(ErrorCode::None, |p| ErrorCode::from(p.error_code))
    }
}

impl CoordinatorReply for kafka_protocol::generated::OffsetFetchResponse {
    fn coordinator_code(&self) -> ErrorCode {
        // require_stable: a partition with a pending transactional commit answers
        // UNSTABLE_OFFSET_COMMIT until that transaction ends (retried, as Java does)
        let unstable = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| ErrorCode::from(p.error_code) == ErrorCode::UnstableOffsetCommit);
        match ErrorCode::from(self.error_code) {
            ErrorCode::None if unstable => ErrorCode::UnstableOffsetCommit,
            code => code,
        }
    }
}

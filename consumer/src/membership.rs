//! The consumer's side of group membership (Java's `ConsumerCoordinator` as driven from
//! `KafkaConsumer.poll`): subscriptions, starting joins, applying their results, running the
//! rebalance listener on the consumer's own task, detecting metadata changes, committing
//! with the generation, and leaving.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_client::CoordinatorLookup;
use kafka_protocol::ErrorCode;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::group::assignor::RebalanceProtocol;
use crate::group::coordinator::{GroupContext, JoinResult, follow_up_reason};
use crate::group::heartbeat::{self, HeartbeatTask};
use crate::group::listener::ConsumerRebalanceListener;
use crate::group::state::{GroupState, MemberState, RejoinReason};
use crate::record::TopicPartition;

/// What the consumer consumes.
#[derive(Debug, Clone)]
pub(crate) enum SubscriptionType {
    /// Nothing yet.
    None,
    /// `assign`: manual partitions, no group membership.
    Assigned,
    /// `subscribe(topics)`.
    Topics(BTreeSet<String>),
    /// `subscribe_pattern(regex)`, with the topics it matched at the last metadata update.
    Pattern(regex::Regex, BTreeSet<String>),
}

impl SubscriptionType {
    fn topics(&self) -> Option<&BTreeSet<String>> {
        match self {
            SubscriptionType::Topics(t) | SubscriptionType::Pattern(_, t) => Some(t),
            _ => None,
        }
    }
}

/// The consumer's group membership: the shared context, the heartbeat task, a join in
/// progress and the application's listener.
pub(crate) struct GroupDriver {
    pub(crate) ctx: Arc<GroupContext>,
    _heartbeat: HeartbeatTask,
    join: Option<JoinHandle<Result<JoinResult>>>,
    /// In a mutex only so that the consumer stays `Sync` without asking listeners to be.
    listener: Option<std::sync::Mutex<Box<dyn ConsumerRebalanceListener>>>,
    /// The generation in which we got the partitions we own (sent with the subscription).
    owned_generation: i32,
    /// Partition counts the current assignment was computed from (leader: every member's
    /// topics; others: their own), to notice a topic growing or appearing.
    known_counts: BTreeMap<String, usize>,
    /// Whether this member led the last rebalance (only the leader watches partition counts).
    leader: bool,
}

use kafka_client::ConsumerGroupMetadata;

impl Consumer {
    /// Subscribes to `topics` as a member of `group.id` (replacing any earlier subscription or
    /// assignment). The group assigns the partitions; they arrive during `poll`.
    pub fn subscribe<S: Into<String>>(&mut self, topics: impl IntoIterator<Item = S>) -> Result<()> {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        self.metadata.add_topics(topics.iter().cloned());
        self.start_subscription(SubscriptionType::Topics(topics))
    }

    /// [`Consumer::subscribe`] with a rebalance listener.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<()> {
        self.subscribe(topics)?;
        if let Some(g) = &mut self.group {
            g.listener = Some(std::sync::Mutex::new(Box::new(listener)));
        }
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a Rust `regex`, anchored
    /// like Java's `Pattern.matcher().matches()`); topics created later join the subscription
    /// at the next metadata update (`metadata.max.age.ms`).
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| Error::InvalidPattern { pattern: pattern.to_owned(), reason: e.to_string() })?;
        self.metadata.set_all_topics(true);
        self.metadata.request_update();
        self.start_subscription(SubscriptionType::Pattern(re, BTreeSet::new()))
    }

    /// Sets (or replaces) the rebalance listener.
    pub fn set_rebalance_listener(&mut self, listener: impl ConsumerRebalanceListener + 'static) {
        if let Some(g) = &mut self.group {
            g.listener = Some(std::sync::Mutex::new(Box::new(listener)));
        }
    }

    fn start_subscription(&mut self, sub: SubscriptionType) -> Result<()> {
        let group = self.cfg.group_id.clone().ok_or(Error::NoGroup("subscribe"))?;
        if matches!(self.subscription, SubscriptionType::Assigned) {
            self.set_assignment([]);
        }
        let changed =
            self.subscription.topics() != sub.topics() || !matches!(sub, SubscriptionType::Topics(_));
        self.subscription = sub;
        if self.group.is_none() {
            let cfg = &self.cfg;
            let protocol = if cfg
                .assignors
                .iter()
                .all(|a| a.supported_protocols().contains(&RebalanceProtocol::Cooperative))
            {
                RebalanceProtocol::Cooperative
            } else {
                RebalanceProtocol::Eager
            };
            let ctx = Arc::new(GroupContext {
                group_id: group,
                instance_id: cfg.group_instance_id.clone(),
                metadata: self.metadata.clone(),
                coordinators: CoordinatorLookup::new(self.metadata.client().clone()),
                assignors: cfg.assignors.clone(),
                protocol,
                session_timeout: cfg.session_timeout,
                rebalance_timeout: cfg.max_poll_interval,
                retry_backoff: cfg.client.retry_backoff,
                request_timeout: cfg.client.request_timeout,
                rack: Some(cfg.client.client_rack.clone()).filter(|r| !r.is_empty()),
                state: std::sync::Mutex::new(GroupState::new(
                    Instant::now(),
                    cfg.session_timeout,
                    cfg.heartbeat_interval,
                    cfg.max_poll_interval,
                    cfg.client.retry_backoff,
                    cfg.group_instance_id.is_some(),
                )),
                wake: tokio::sync::Notify::new(),
            });
            self.group = Some(GroupDriver {
                _heartbeat: heartbeat::spawn(ctx.clone()),
                ctx,
                join: None,
                listener: None,
                owned_generation: -1,
                known_counts: BTreeMap::new(),
                leader: false,
            });
        } else if changed {
            if let Some(g) = &self.group {
                g.ctx.state().request_rejoin(RejoinReason::MetadataChanged);
            }
        }
        Ok(())
    }

    /// Leaves the group (revoking the partitions through the listener) and drops the
    /// subscription or assignment.
    pub async fn unsubscribe(&mut self) {
        self.leave_group("the consumer unsubscribed").await;
        self.subscription = SubscriptionType::None;
        self.set_assignment([]);
        self.metadata.set_all_topics(false);
    }

    /// Makes the consumer rejoin its group at the next `poll` (Java's `enforceRebalance`,
    /// KIP-568), e.g. after the application changed what its assignor bases a plan on. A
    /// rebalance already pending is not doubled. Fails without group management (`assign`).
    pub fn enforce_rebalance(&mut self, reason: Option<&str>) -> Result<()> {
        let Some(g) = &self.group else { return Err(Error::NotSubscribed("enforce_rebalance")) };
        let reason = reason.unwrap_or("the application asked for a rebalance").to_owned();
        g.ctx.state().request_rejoin(RejoinReason::Requested(reason));
        Ok(())
    }

    /// The subscribed topics (for a pattern: those it matches now).
    pub fn subscription(&self) -> BTreeSet<String> {
        self.subscription.topics().cloned().unwrap_or_default()
    }

    /// The group identity for transactional offset commits.
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata> {
        let group_id = self.cfg.group_id.clone().ok_or(Error::NoGroup("group_metadata"))?;
        let (generation_id, member_id) = match &self.group {
            Some(g) => {
                let st = g.ctx.state();
                (st.generation().generation_id, st.generation().member_id.clone())
            }
            None => (-1, String::new()),
        };
        Ok(ConsumerGroupMetadata {
            group_id,
            generation_id,
            member_id,
            group_instance_id: self.cfg.group_instance_id.clone(),
        })
    }

    /// Records a poll for `max.poll.interval.ms`.
    pub(crate) fn polled(&self) {
        if let Some(g) = &self.group {
            g.ctx.state().polled(Instant::now());
        }
    }

    /// Whether a rebalance is in progress or due.
    pub(crate) fn rebalance_pending(&self) -> bool {
        self.subscription.topics().is_some()
            && self.group.as_ref().is_some_and(|g| {
                g.join.is_some() || {
                    let st = g.ctx.state();
                    st.rejoin_reason().is_some() && st.fatal().is_none()
                }
            })
    }

    /// Generation, member id and instance id for OffsetCommit: the current generation for a
    /// subscribed consumer (an error while it rebalances), -1 / "" for manual assignment.
    pub(crate) fn commit_generation(&self) -> Result<(i32, String, Option<String>)> {
        match (&self.group, self.subscription.topics()) {
            (Some(g), Some(_)) => {
                let st = g.ctx.state();
                if st.state() != MemberState::Stable || st.generation().generation_id < 0 {
                    return Err(Error::RebalanceInProgress { group: g.ctx.group_id.clone() });
                }
                Ok((
                    st.generation().generation_id,
                    st.generation().member_id.clone(),
                    g.ctx.instance_id.clone(),
                ))
            }
            _ => Ok((-1, String::new(), None)),
        }
    }

    /// Joins (or rejoins) the group when needed, applying assignments and running the listener,
    /// until the member is stable or `deadline` passes (the join then continues in the
    /// background and a later `poll` picks it up).
    pub(crate) async fn ensure_active_group(&mut self, deadline: Instant) -> Result<()> {
        if self.subscription.topics().is_none() {
            return Ok(());
        }
        loop {
            let Some(g) = &self.group else { return Ok(()) };
            let ctx = g.ctx.clone();
            if let Some(f) = ctx.state().fatal() {
                return Err(Error::Group {
                    api: "JoinGroup",
                    group: ctx.group_id.clone(),
                    code: ErrorCode::None,
                    message: f.to_owned(),
                });
            }
            self.update_pattern_subscription();
            self.check_metadata_change();
            if ctx.state().take_lost() {
                let lost: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
                self.set_assignment([]);
                if let Some(g) = &mut self.group {
                    g.owned_generation = -1;
                }
                if !lost.is_empty() {
                    tracing::info!(group = %ctx.group_id, partitions = lost.len(), "partitions lost");
                    self.run_listener(Callback::Lost, &lost).await;
                }
            }
            let joining = self.group.as_ref().is_some_and(|g| g.join.is_some());
            if !joining {
                if ctx.state().rejoin_reason().is_none() {
                    return Ok(());
                }
                self.prepare_join(&ctx).await;
                let topics: Vec<String> =
                    self.subscription.topics().map(|t| t.iter().cloned().collect()).unwrap_or_default();
                let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
                let owned_generation = self.group.as_ref().map_or(-1, |g| g.owned_generation);
                ctx.state().join_started();
                self.metrics.rebalance_started(Instant::now());
                let span = member_span(&ctx);
                let task =
                    tokio::spawn(ctx.clone().join_and_sync(topics, owned, owned_generation).instrument(span));
                if let Some(g) = &mut self.group {
                    g.join = Some(task);
                }
            }
            let Some(task) = self.group.as_mut().and_then(|g| g.join.as_mut()) else { return Ok(()) };
            let outcome = match tokio::time::timeout_at(deadline, task).await {
                Err(_) => return Ok(()), // still rebalancing; the join continues
                Ok(r) => r,
            };
            if let Some(g) = &mut self.group {
                g.join = None;
            }
            let result = match outcome {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    self.metrics.rebalance_failed();
                    if ctx.state().fatal().is_none() {
                        ctx.state().join_failed(RejoinReason::Initial);
                    }
                    return Err(e);
                }
                Err(join_error) => {
                    self.metrics.rebalance_failed();
                    ctx.state().join_failed(RejoinReason::Initial);
                    return Err(Error::Group {
                        api: "JoinGroup",
                        group: ctx.group_id.clone(),
                        code: ErrorCode::None,
                        message: format!("the join task failed: {join_error}"),
                    });
                }
            };
            self.complete_join(&ctx, result).await;
            if Instant::now() >= deadline {
                return Ok(());
            }
        }
    }

    /// Before a join: commit what was consumed (auto-commit), and revoke what the protocol
    /// says must go now (eager: everything; cooperative: partitions of topics no longer
    /// subscribed).
    async fn prepare_join(&mut self, ctx: &Arc<GroupContext>) {
        let stable = ctx.state().state() == MemberState::Stable;
        if self.cfg.enable_auto_commit && stable && !self.assignment.is_empty() {
            if let Err(e) = self.commit_sync(None).await {
                tracing::warn!(error = %e, "auto-commit before rebalancing failed");
            }
        }
        let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        let revoke: Vec<TopicPartition> = match ctx.protocol {
            RebalanceProtocol::Eager => owned,
            RebalanceProtocol::Cooperative => {
                let subscribed = self.subscription.topics().cloned().unwrap_or_default();
                owned.into_iter().filter(|tp| !subscribed.contains(&tp.topic)).collect()
            }
        };
        if !revoke.is_empty() {
            self.run_listener(Callback::Revoked, &revoke).await;
            let keep: Vec<TopicPartition> =
                self.assignment.keys().filter(|tp| !revoke.contains(tp)).cloned().collect();
            self.set_assignment(keep);
        }
    }

    /// Applies a finished join: new assignment, listener calls, and (cooperative) the
    /// follow-up rebalance when partitions were revoked.
    async fn complete_join(&mut self, ctx: &Arc<GroupContext>, result: JoinResult) {
        let subscribed = self.subscription.topics().cloned().unwrap_or_default();
        let new: BTreeSet<TopicPartition> = result
            .assignment
            .partitions
            .iter()
            .filter(|tp| {
                let ok = subscribed.contains(&tp.topic);
                if !ok {
                    tracing::warn!(%tp, "assigned a partition of a topic we do not subscribe to; ignoring it");
                }
                ok
            })
            .cloned()
            .collect();
        let owned: BTreeSet<TopicPartition> = self.assignment.keys().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
        ctx.state().join_completed(Instant::now(), result.generation.clone());
        self.metrics.rebalance_completed(Instant::now());
        ctx.wake.notify_one();
        let mut counts = self.counts_of(&subscribed);
        if result.leader {
            counts.extend(result.group_topics.clone());
        }
        if let Some(g) = &mut self.group {
            g.owned_generation = result.generation.generation_id;
            g.known_counts = counts;
            g.leader = result.leader;
        }
        tracing::info!(
            group = %ctx.group_id,
            generation = result.generation.generation_id,
            assigned = new.len(),
            added = added.len(),
            revoked = revoked.len(),
            "rebalance complete"
        );
        if !revoked.is_empty() {
            if self.cfg.enable_auto_commit {
                // with the leader epochs, as an auto-commit of the positions would (KIP-320)
                let offsets = self.positions(|tp| revoked.contains(tp));
                if let Err(e) = self.commit_sync(Some(offsets)).await {
                    tracing::warn!(error = %e, "committing revoked partitions failed");
                }
            }
            self.run_listener(Callback::Revoked, &revoked).await;
            if let Some(reason) = follow_up_reason(ctx.protocol, revoked.len()) {
                ctx.state().request_rejoin(reason);
            }
        }
        self.set_assignment(new.iter().cloned());
        self.run_listener(Callback::Assigned, &added).await;
    }

    /// Current partition counts of `topics` (0 for a topic the brokers say does not exist;
    /// topics the metadata has not loaded yet are left out).
    fn counts_of(&self, topics: &BTreeSet<String>) -> BTreeMap<String, usize> {
        let snap = self.metadata.snapshot();
        topics
            .iter()
            .filter_map(|t| {
                let m = snap.topic(t)?;
                let n = if m.error == ErrorCode::None {
                    m.partitions.keys().max().map_or(0, |p| *p as usize + 1)
                } else {
                    0
                };
                Some((t.clone(), n))
            })
            .collect()
    }

    /// A topic's partition count changed, or a subscribed topic appeared: rebalance.
    fn check_metadata_change(&mut self) {
        let Some(g) = &self.group else { return };
        // as in Java, only the leader (which computed the assignment) watches partition counts:
        // a follower's metadata may simply lag behind, and a rebalance it asked for because of
        // that would be spurious (a restarted static member would rebalance the group)
        if !g.leader || g.ctx.state().state() != MemberState::Stable {
            return;
        }
        let subscribed = self.subscription.topics().cloned().unwrap_or_default();
        let mut watched: BTreeSet<String> = g.known_counts.keys().cloned().collect();
        watched.extend(subscribed);
        let now = self.counts_of(&watched);
        // a topic the metadata had not loaded when the join completed: adopt its count (the
        // leader assigned from its own metadata, which had it)
        let unseen: Vec<(String, usize)> = now
            .iter()
            .filter(|(t, _)| !g.known_counts.contains_key(*t))
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        let changed =
            now.iter().any(|(t, n)| g.known_counts.get(t).is_some_and(|before| *n != 0 && n != before));
        if !unseen.is_empty() && !changed {
            if let Some(g) = &mut self.group {
                g.known_counts.extend(unseen);
            }
            return;
        }
        if changed {
            tracing::info!(group = %g.ctx.group_id, "partition counts of subscribed topics changed; rebalancing");
            g.ctx.state().request_rejoin(RejoinReason::MetadataChanged);
            if let Some(g) = &mut self.group {
                g.known_counts = now;
            }
        }
    }

    /// Pattern subscriptions: the topics the pattern matches in the latest metadata.
    fn update_pattern_subscription(&mut self) {
        let SubscriptionType::Pattern(re, current) = &self.subscription else { return };
        let snap = self.metadata.snapshot();
        let matched: BTreeSet<String> = snap
            .topics()
            .filter(|t| t.error == ErrorCode::None)
            .filter(|t| !(self.cfg.exclude_internal_topics && t.is_internal))
            .filter(|t| re.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect();
        if snap.update_version == 0 || &matched == current {
            return;
        }
        tracing::info!(topics = ?matched, "pattern subscription changed");
        let re = re.clone();
        self.subscription = SubscriptionType::Pattern(re, matched);
        if let Some(g) = &self.group {
            g.ctx.state().request_rejoin(RejoinReason::MetadataChanged);
        }
    }

    /// Leaves the group: revoke through the listener, LeaveGroup for dynamic members.
    pub(crate) async fn leave_group(&mut self, reason: &str) {
        let Some(g) = &mut self.group else { return };
        if let Some(task) = g.join.take() {
            task.abort();
        }
        let ctx = g.ctx.clone();
        let owned: Vec<TopicPartition> = self.assignment.keys().cloned().collect();
        if !owned.is_empty() && self.subscription.topics().is_some() {
            self.run_listener(Callback::Revoked, &owned).await;
        }
        let member_id = ctx.state().generation().member_id.clone();
        if ctx.instance_id.is_none() {
            ctx.leave(&member_id, reason).await;
        }
        ctx.state().left();
        if let Some(g) = &mut self.group {
            g.owned_generation = -1;
        }
    }

    async fn run_listener(&mut self, cb: Callback, partitions: &[TopicPartition]) {
        let Some(l) = self.group.as_mut().and_then(|g| g.listener.take()) else { return };
        let mut l = l.into_inner().unwrap_or_else(|p| p.into_inner());
        match cb {
            Callback::Revoked => l.on_partitions_revoked(self, partitions).await,
            Callback::Assigned => l.on_partitions_assigned(self, partitions).await,
            Callback::Lost => l.on_partitions_lost(self, partitions).await,
        }
        if let Some(g) = &mut self.group {
            if g.listener.is_none() {
                g.listener = Some(std::sync::Mutex::new(l));
            }
        }
    }
}

/// The tracing span of a group member: group, member id and generation as they are now
/// (the join and heartbeat tasks open one per join / heartbeat, so they stay current).
pub(crate) fn member_span(ctx: &GroupContext) -> tracing::Span {
    let st = ctx.state();
    let g = st.generation();
    tracing::info_span!("group_member", group = %ctx.group_id, member_id = %g.member_id, generation = g.generation_id)
}

/// Maps an OffsetCommit error that concerns our membership (acting on it: rejoin, or reset
/// the generation).
pub(crate) fn commit_rejected(g: &GroupContext, code: ErrorCode) -> Option<Error> {
    let group = g.group_id.clone();
    match code {
        ErrorCode::RebalanceInProgress => {
            g.state().request_rejoin(RejoinReason::RebalanceInProgress);
            Some(Error::RebalanceInProgress { group })
        }
        ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration | ErrorCode::FencedInstanceId => {
            g.state().reset_generation(&format!("OffsetCommit answered {code:?}"), false);
            Some(Error::CommitFailed {
                group,
                reason: format!(
                    "{code:?}: the group rebalanced and this member is not part of the current generation"
                ),
            })
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}

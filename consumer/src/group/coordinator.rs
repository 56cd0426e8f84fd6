//! `ConsumerCoordinator`'s network side: the group context shared by the consumer's task and
//! the heartbeat task, and the JoinGroup → SyncGroup exchange (run as its own task so that a
//! `poll` with a short timeout returns while a rebalance waits for other members; the
//! consumer applies the result, and runs the rebalance listener, on its own task).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_client::conn::RequestOptions;
use kafka_client::{Connection, CoordinatorLookup, CoordinatorType, Metadata, Purpose};
use kafka_protocol::generated::{
    JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest, join_group_request::JoinGroupRequestProtocol,
    join_group_response::JoinGroupResponseMember, leave_group_request::MemberIdentity,
    sync_group_request::SyncGroupRequestAssignment,
};
use kafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::Notify;

use super::assignor::{Assignment, Assignor, ClusterView, RebalanceProtocol, Subscription};
use super::protocol;
use super::state::{Generation, GroupState, RejoinReason};
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// Everything group membership needs, shared (behind `Arc`) by the consumer's task, the
/// join task and the heartbeat task. Only `state` is mutable, behind a std mutex that is
/// never held across an await.
#[derive(Debug)]
pub struct GroupContext {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub instance_id: Option<String>,
    /// The consumer's metadata (and through it, its connections).
    pub metadata: Metadata,
    /// Coordinator lookups.
    pub coordinators: CoordinatorLookup,
    /// `partition.assignment.strategy`, in preference order.
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// The rebalance protocol every configured assignor supports (cooperative only if all do).
    pub protocol: RebalanceProtocol,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout).
    pub rebalance_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `client.rack`.
    pub rack: Option<String>,
    /// Member state and timers.
    pub state: Mutex<GroupState>,
    /// Wakes the heartbeat task after a state change.
    pub wake: Notify,
}

/// What a completed join hands the consumer.
#[derive(Debug, Clone)]
pub struct JoinResult {
    /// The new generation.
    pub generation: Generation,
    /// Our assignment in it.
    pub assignment: Assignment,
    /// Whether we led the group (and assigned it).
    pub leader: bool,
    /// Leader only: the topics every member subscribes to with the partition counts the
    /// assignment used (a change of either triggers a rebalance).
    pub group_topics: BTreeMap<String, usize>,
}

impl GroupContext {
    /// Locks the member state.
    pub fn state(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to the group coordinator.
    pub async fn coordinator(&self) -> Result<Connection> {
        Ok(self.coordinators.connect(CoordinatorType::Group, &self.group_id, Purpose::Group).await?)
    }

    /// Forgets the coordinator when `code` (or a failed send) says it moved.
    pub fn coordinator_failed(&self, code: Option<ErrorCode>) {
        match code {
            Some(code) => {
                self.coordinators.invalidate_on(CoordinatorType::Group, &self.group_id, code);
            }
            None => self.coordinators.invalidate(CoordinatorType::Group, &self.group_id),
        }
    }

    fn join_protocols(
        &self,
        topics: &[String],
        owned: &[TopicPartition],
        generation: i32,
    ) -> Vec<JoinGroupRequestProtocol> {
        self.assignors
            .iter()
            .map(|a| {
                let sub = Subscription {
                    topics: topics.to_vec(),
                    user_data: a.subscription_user_data(topics),
                    owned_partitions: owned.to_vec(),
                    generation_id: generation,
                    rack_id: self.rack.clone(),
                    group_instance_id: None,
                };
                JoinGroupRequestProtocol {
                    name: a.name().to_owned(),
                    metadata: protocol::encode_subscription(&sub),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn fatal(&self, api: &'static str, code: ErrorCode) -> Error {
        let e = Error::Group { api, group: self.group_id.clone(), code, message: fatal_message(code) };
        self.state().set_fatal(e.to_string());
        e
    }

    /// JoinGroup and SyncGroup until the member has an assignment for a generation.
    /// Retriable errors are retried (with `retry.backoff.ms`), fatal ones returned.
    pub async fn join_and_sync(
        self: Arc<Self>,
        topics: Vec<String>,
        owned: Vec<TopicPartition>,
        owned_generation: i32,
    ) -> Result<JoinResult> {
        let mut attempt_backoff = false;
        loop {
            if std::mem::take(&mut attempt_backoff) {
                tokio::time::sleep(self.retry_backoff).await;
            }
            let conn = match self.coordinator().await {
                Ok(c) => c,
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, group = %self.group_id, "group coordinator not available");
                    self.coordinator_failed(None);
                    attempt_backoff = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let member_id = self.state().generation().member_id.clone();
            let req = JoinGroupRequest {
                group_id: self.group_id.clone(),
                session_timeout_ms: self.session_timeout.as_millis() as i32,
                rebalance_timeout_ms: self.rebalance_timeout.as_millis() as i32,
                member_id: member_id.clone(),
                group_instance_id: self.instance_id.clone(),
                protocol_type: "consumer".into(),
                protocols: self.join_protocols(&topics, &owned, owned_generation),
                reason: None,
                ..Default::default()
            };
            let timeout = self.rebalance_timeout + Duration::from_secs(5);
            let resp =
                match conn.send_with(&req, RequestOptions { version: None, timeout: Some(timeout) }).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() => {
                        tracing::debug!(error = %e, "JoinGroup failed; retrying");
                        self.coordinator_failed(None);
                        attempt_backoff = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
            match ErrorCode::from(resp.error_code) {
                ErrorCode::None => {}
                ErrorCode::MemberIdRequired => {
                    self.state().set_member_id(resp.member_id.clone());
                    continue;
                }
                ErrorCode::UnknownMemberId => {
                    self.state().set_member_id(String::new());
                    continue;
                }
                code @ (ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                    self.coordinator_failed(Some(code));
                    attempt_backoff = true;
                    continue;
                }
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => {
                    attempt_backoff = true;
                    continue;
                }
                code if code.is_retriable() => {
                    attempt_backoff = true;
                    continue;
                }
                code => return Err(self.fatal("JoinGroup", code)),
            }
            let generation = Generation {
                generation_id: resp.generation_id,
                member_id: resp.member_id.clone(),
                protocol: resp.protocol_name.clone(),
            };
            self.state().set_member_id(resp.member_id.clone());
            let leader = resp.leader == resp.member_id;
            tracing::debug!(group = %self.group_id, generation = resp.generation_id, leader, protocol = ?resp.protocol_name, "joined; syncing");
            let (assignments, group_topics) = if leader && !resp.skip_assignment {
                let protocol_name = resp.protocol_name.clone().unwrap_or_default();
                self.assign(&protocol_name, &resp.members).await?
            } else {
                (Vec::new(), BTreeMap::new())
            };
            let sync = SyncGroupRequest {
                group_id: self.group_id.clone(),
                generation_id: resp.generation_id,
                member_id: resp.member_id.clone(),
                group_instance_id: self.instance_id.clone(),
                protocol_type: Some("consumer".into()),
                protocol_name: resp.protocol_name.clone(),
                assignments,
                ..Default::default()
            };
            let sresp =
                match conn.send_with(&sync, RequestOptions { version: None, timeout: Some(timeout) }).await {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() => {
                        self.coordinator_failed(None);
                        attempt_backoff = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
            match ErrorCode::from(sresp.error_code) {
                ErrorCode::None => {
                    let assignment =
                        protocol::decode_assignment(sresp.assignment.clone()).map_err(|m| Error::Group {
                            api: "SyncGroup",
                            group: self.group_id.clone(),
                            code: ErrorCode::None,
                            message: format!("the leader's assignment does not decode: {m}"),
                        })?;
                    if let Some(a) =
                        self.assignors.iter().find(|a| Some(a.name()) == generation.protocol.as_deref())
                    {
                        a.on_assignment(&assignment, generation.generation_id);
                    }
                    return Ok(JoinResult { generation, assignment, leader, group_topics });
                }
                ErrorCode::RebalanceInProgress => continue,
                ErrorCode::UnknownMemberId => {
                    self.state().set_member_id(String::new());
                    continue;
                }
                ErrorCode::IllegalGeneration => continue,
                code @ (ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                    self.coordinator_failed(Some(code));
                    attempt_backoff = true;
                    continue;
                }
                code if code.is_retriable() => {
                    attempt_backoff = true;
                    continue;
                }
                code => return Err(self.fatal("SyncGroup", code)),
            }
        }
    }

    /// The leader's part: decode every member's subscription, learn the partition counts of
    /// every subscribed topic, run the selected assignor, encode the result.
    async fn assign(
        &self,
        protocol_name: &str,
        members: &[JoinGroupResponseMember],
    ) -> Result<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, usize>)> {
        let assignor =
            self.assignors.iter().find(|a| a.name() == protocol_name).ok_or_else(|| Error::Group {
                api: "JoinGroup",
                group: self.group_id.clone(),
                code: ErrorCode::InconsistentGroupProtocol,
                message: format!(
                    "the group selected assignor {protocol_name:?}, which this consumer does not have"
                ),
            })?;
        let mut subs = BTreeMap::new();
        for m in members {
            let mut sub = protocol::decode_subscription(m.metadata.clone()).map_err(|e| Error::Group {
                api: "JoinGroup",
                group: self.group_id.clone(),
                code: ErrorCode::None,
                message: format!("member {}'s subscription does not decode: {e}", m.member_id),
            })?;
            sub.group_instance_id = m.group_instance_id.clone();
            subs.insert(m.member_id.clone(), sub);
        }
        let all: BTreeSet<String> = subs.values().flat_map(|s| s.topics.iter().cloned()).collect();
        self.metadata.add_topics(all.iter().cloned());
        let snap = match self.metadata.refresh(self.request_timeout).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metadata refresh before assigning failed; using what is known");
                self.metadata.snapshot()
            }
        };
        let mut cluster = ClusterView::default();
        let mut counts = BTreeMap::new();
        for t in &all {
            let Some(tm) = snap.topic(t) else { continue };
            if tm.error != ErrorCode::None || tm.partitions.is_empty() {
                continue;
            }
            let n = tm.partitions.keys().max().map_or(0, |m| *m as usize + 1);
            let racks = (0..n as i32)
                .map(|p| {
                    tm.partitions.get(&p).map_or_else(Vec::new, |pm| {
                        let mut r: Vec<String> = pm
                            .replicas
                            .iter()
                            .filter_map(|b| snap.broker(*b).and_then(|b| b.rack.clone()))
                            .collect();
                        r.sort();
                        r.dedup();
                        r
                    })
                })
                .collect();
            cluster.topics.insert(t.to_string(), racks);
            counts.insert(t.to_string(), n);
        }
        let result = assignor.assign(&cluster, &subs).map_err(|e| Error::Group {
            api: "SyncGroup",
            group: self.group_id.clone(),
            code: ErrorCode::None,
            message: e.to_string(),
        })?;
        tracing::info!(group = %self.group_id, assignor = protocol_name, members = subs.len(), "assigned the group");
        let assignments = subs
            .keys()
            .map(|member| SyncGroupRequestAssignment {
                member_id: member.clone(),
                assignment: protocol::encode_assignment(&result.get(member).cloned().unwrap_or_default()),
                ..Default::default()
            })
            .collect();
        Ok((assignments, counts))
    }

    /// Sends LeaveGroup for `generation`'s member (dynamic members; static ones stay until
    /// their session expires, as in Java). Errors are logged: leaving is best effort.
    pub async fn leave(&self, member_id: &str, reason: &str) {
        if member_id.is_empty() {
            return;
        }
        let conn = match self.coordinator().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cannot reach the coordinator to leave the group");
                return;
            }
        };
        let v = conn.version(ApiKey::LeaveGroup).unwrap_or(0);
        let req = if v >= 3 {
            LeaveGroupRequest {
                group_id: self.group_id.clone(),
                members: vec![MemberIdentity {
                    member_id: member_id.to_owned(),
                    group_instance_id: self.instance_id.clone(),
                    reason: (v >= 5).then(|| reason.to_owned()),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: self.group_id.clone(),
                member_id: member_id.to_owned(),
                ..Default::default()
            }
        };
        match conn.send(&req).await {
            Ok(r) => {
                tracing::info!(group = %self.group_id, member = member_id, code = ?ErrorCode::from(r.error_code), reason, "left the group")
            }
            Err(e) => tracing::debug!(error = %e, "LeaveGroup failed"),
        }
    }
}

/// Why a JoinGroup / SyncGroup error ends membership for good.
fn fatal_message(code: ErrorCode) -> String {
    match code {
        ErrorCode::FencedInstanceId => "another consumer with the same group.instance.id joined".into(),
        ErrorCode::InconsistentGroupProtocol => {
            "the group's members share no assignor (partition.assignment.strategy) or protocol type".into()
        }
        ErrorCode::InvalidSessionTimeout => {
            "session.timeout.ms is outside the broker's group.min/max.session.timeout.ms".into()
        }
        ErrorCode::GroupMaxSizeReached => "the group has reached group.max.size".into(),
        ErrorCode::GroupAuthorizationFailed => "not authorized to join the group".into(),
        other => format!("{other:?}"),
    }
}

/// Picks the rejoin reason for a finished join whose assignment revokes partitions.
pub fn follow_up_reason(protocol: RebalanceProtocol, revoked: usize) -> Option<RejoinReason> {
    (protocol == RebalanceProtocol::Cooperative && revoked > 0).then_some(RejoinReason::CooperativeFollowUp)
}

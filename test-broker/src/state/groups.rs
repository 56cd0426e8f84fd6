//! Consumer groups (classic protocol) and committed offsets: Kafka 4.x's classic group
//! coordinator (`GroupMetadataManager` / `ClassicGroup` / `OffsetMetadataManager`) as a sans-IO
//! state machine. Every input carries an explicit `now_ms`; timers (initial rebalance delay,
//! rebalance timeout, pending-sync timeout, session expiry, pending-member expiry) are deadlines
//! that [`GroupCoordinator::tick`] fires.
//!
//! JoinGroup and SyncGroup requests that must wait ("parked" in Kafka's purgatory) get a
//! [`Ticket`]; the state machine resolves the ticket when the outcome is decided and the handler
//! collects it with [`GroupCoordinator::take_parked`]. A group has one [`GroupState`] changed
//! only through [`ClassicGroup::transition`], which rejects (and logs loudly) illegal moves.
//!
//! Concurrency: the coordinator lives inside `State`, behind the cluster mutex; handlers call it
//! in short synchronous sections and wait for tickets outside the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use kafka_protocol::generated::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::generated::join_group_response::JoinGroupResponseMember;
use kafka_protocol::generated::{ConsumerProtocolSubscription, JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::{Decodable, ErrorCode};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: i64,
    /// The leader epoch the committer saw, or -1.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: Option<String>,
    /// Commit time (ms since the epoch).
    pub commit_timestamp: i64,
}

/// A classic group's state, spelled as Kafka's `ClassicGroupState` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members (a new group, a simple-commit group, or every member left).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Join phase done; waiting for the leader's SyncGroup with the assignment.
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether `self` may follow `from` (Kafka's `validPreviousStates`).
    pub fn may_follow(self, from: GroupState) -> bool {
        use GroupState::*;
        match self {
            Empty => from == PreparingRebalance,
            PreparingRebalance => matches!(from, Stable | CompletingRebalance | Empty),
            CompletingRebalance => from == PreparingRebalance,
            Stable => from == CompletingRebalance,
            Dead => true,
        }
    }
}

/// Limits of the classic group coordinator (broker configs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000 in Kafka; the handlers copy the cluster's
    /// setting here before every join).
    pub initial_rebalance_delay_ms: i32,
    /// How long a new member's parked JoinGroup may wait (Kafka's fixed 5 minutes).
    pub new_member_join_timeout_ms: i32,
    /// `group.max.size` (unbounded).
    pub max_size: usize,
    /// `offset.metadata.max.bytes` (4096; compared with the metadata's length in UTF-16 units,
    /// as Java's `String.length()`).
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            new_member_join_timeout_ms: 300_000,
            max_size: usize::MAX,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// One protocol a member supports (name and opaque metadata), in preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Protocol (assignor) name.
    pub name: String,
    /// Member metadata for it (for "consumer": a ConsumerProtocolSubscription).
    pub metadata: Bytes,
}

/// Identifies a parked JoinGroup or SyncGroup.
pub type Ticket = u64;

/// A member of a classic group.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client host (as Kafka prints an address: `/127.0.0.1`).
    pub client_host: String,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Protocol type ("consumer", "connect", …).
    pub protocol_type: String,
    /// Supported protocols, preferred first.
    pub protocols: Vec<Protocol>,
    /// The assignment of the current generation.
    pub assignment: Bytes,
    awaiting_join: Option<Ticket>,
    awaiting_sync: Option<Ticket>,
    is_new: bool,
    /// The session-expiry timer; `None` once it fired with the member excused (awaiting join or
    /// sync), as Kafka's one-shot heartbeat timer.
    heartbeat_deadline: Option<i64>,
}

impl GroupMember {
    fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|p| self.protocols.iter().find(|x| x.name == p))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

/// A member as inspection shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberInfo {
    /// Member id.
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// The current assignment bytes.
    pub assignment: Bytes,
}

#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    /// Complete the join phase at `at` (rebalance timeout).
    Complete { at: i64 },
    /// Initial rebalance delay (`group.initial.rebalance.delay.ms`), extended while new members
    /// arrive, up to the rebalance timeout.
    Initial { at: i64, delay: i32, remaining: i32 },
}

/// A classic group.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    /// Group id.
    pub group_id: String,
    state: GroupState,
    previous_state: GroupState,
    /// When the state last changed.
    pub state_timestamp: i64,
    /// Generation id (0 for a new group).
    pub generation_id: i32,
    /// Protocol type, set by the first member (None: a simple group).
    pub protocol_type: Option<String>,
    /// Protocol chosen for the current generation.
    pub protocol_name: Option<String>,
    /// Leader member id.
    pub leader_id: Option<String>,
    /// Members in join order.
    members: Vec<GroupMember>,
    /// Static members: instance id → member id.
    static_members: BTreeMap<String, String>,
    /// KIP-394 pending members (given an id, not yet rejoined): member id → expiry.
    pending_members: BTreeMap<String, i64>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: BTreeSet<String>,
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    /// Pending-sync expiry: (deadline, generation).
    sync_timer: Option<(i64, i32)>,
    /// Topics the members of this generation subscribe to (consumer protocol), if known.
    subscribed_topics: Option<BTreeSet<String>>,
}

/// The result of a parked request.
#[derive(Debug, Clone)]
pub enum Parked {
    /// Not decided yet.
    Pending,
    /// A JoinGroup response.
    Join(Box<JoinGroupResponse>),
    /// A SyncGroup response.
    Sync(SyncGroupResponse),
}

/// What a JoinGroup asks (decoded request plus header fields).
#[derive(Debug, Clone, Default)]
pub struct JoinGroupArgs {
    /// Group id.
    pub group_id: String,
    /// Member id ("" for a new member).
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Protocol type.
    pub protocol_type: String,
    /// Supported protocols.
    pub protocols: Vec<Protocol>,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v0: the session timeout).
    pub rebalance_timeout_ms: i32,
    /// Client id from the header.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Request version (v4+: member id required; v9+: skip assignment).
    pub version: i16,
}

/// A JoinGroup's outcome: an answer now, or a ticket to wait on.
#[derive(Debug, Clone)]
pub enum JoinOutcome {
    /// Answer now.
    Done(Box<JoinGroupResponse>),
    /// Wait for the ticket.
    Parked(Ticket),
}

/// What a SyncGroup asks.
#[derive(Debug, Clone, Default)]
pub struct SyncGroupArgs {
    /// Group id.
    pub group_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Protocol type (v5+).
    pub protocol_type: Option<String>,
    /// Protocol name (v5+).
    pub protocol_name: Option<String>,
    /// The leader's assignments: member id → bytes.
    pub assignments: Vec<(String, Bytes)>,
    /// Request version.
    pub version: i16,
}

/// A SyncGroup's outcome.
#[derive(Debug, Clone)]
pub enum SyncOutcome {
    /// Answer now.
    Done(SyncGroupResponse),
    /// Wait for the ticket.
    Parked(Ticket),
}

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// Partition.
    pub partition: i32,
    /// Offset, or -1.
    pub offset: i64,
    /// Leader epoch, or -1.
    pub leader_epoch: i32,
    /// Metadata ("" when none).
    pub metadata: String,
    /// Error.
    pub error: ErrorCode,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroupInfo {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("" for a simple group).
    pub protocol_type: String,
    /// State name.
    pub state: &'static str,
}

fn join_error(member_id: &str, code: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code.code(),
        generation_id: -1,
        protocol_type: None,
        protocol_name: None,
        member_id: member_id.to_owned(),
        ..Default::default()
    }
}

fn sync_error(code: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse { error_code: code.code(), ..Default::default() }
}

/// Resolves tickets, hands out new ones and ids; what group methods need besides the group.
struct Env<'a> {
    parked: &'a mut HashMap<Ticket, (Parked, i64)>,
    next_ticket: &'a mut u64,
    cfg: &'a GroupConfig,
    now: i64,
}

impl Env<'_> {
    fn park(&mut self) -> Ticket {
        *self.next_ticket += 1;
        let t = *self.next_ticket;
        self.parked.insert(t, (Parked::Pending, self.now));
        t
    }
    fn resolve(&mut self, ticket: Ticket, result: Parked) {
        if let Some(slot) = self.parked.get_mut(&ticket) {
            *slot = (result, self.now);
        }
    }
    fn drop_ticket(&mut self, ticket: Ticket) {
        self.parked.remove(&ticket);
    }
}

/// A `<prefix>-<uuid>` member id, as Kafka's `generateMemberId`.
fn generate_member_id(prefix: &str, seq: u64, now: i64) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(seq);
    h.write_i64(now);
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!(
        "{prefix}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl ClassicGroup {
    fn new(group_id: &str, now: i64) -> Self {
        ClassicGroup {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp: now,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: Vec::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            subscribed_topics: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// Members in join order.
    pub fn members(&self) -> &[GroupMember] {
        &self.members
    }

    /// Member ids given by MEMBER_ID_REQUIRED that have not joined yet.
    pub fn pending_member_ids(&self) -> Vec<String> {
        self.pending_members.keys().cloned().collect()
    }

    /// The single checked transition. An illegal move is a coordinator bug: logged, refused.
    pub fn transition(&mut self, to: GroupState, now: i64) -> bool {
        if !to.may_follow(self.state) {
            tracing::error!(group = %self.group_id, from = self.state.name(), to = to.name(),
                "illegal group state transition (test-broker bug)");
            debug_assert!(false, "illegal group transition {:?} -> {:?}", self.state, to);
            return false;
        }
        tracing::debug!(group = %self.group_id, from = self.state.name(), to = to.name(),
            generation = self.generation_id, "group state");
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp = now;
        true
    }

    fn member(&self, id: &str) -> Option<&GroupMember> {
        self.members.iter().find(|m| m.member_id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut GroupMember> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    fn has_member(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader_id.as_deref() == Some(id)
    }

    fn awaiting_join_count(&self) -> usize {
        self.members.iter().filter(|m| m.awaiting_join.is_some()).count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.members.iter().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance.may_follow(self.state)
    }

    fn supporters(&self, protocol: &str) -> usize {
        self.members.iter().filter(|m| m.protocols.iter().any(|p| p.name == protocol)).count()
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| self.supporters(&p.name) == self.members.len())
    }

    /// Each member votes for its first protocol that every member supports; most votes wins
    /// (ties: the protocol voted first).
    fn select_protocol(&self) -> Option<String> {
        let n = self.members.len();
        let mut votes: Vec<(String, usize)> = Vec::new();
        for m in &self.members {
            let Some(choice) = m.protocols.iter().find(|p| self.supporters(&p.name) == n) else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == choice.name) {
                Some((_, c)) => *c += 1,
                None => votes.push((choice.name.clone(), 1)),
            }
        }
        let best = votes.iter().map(|(_, c)| *c).max()?;
        votes.into_iter().find(|(_, c)| *c == best).map(|(name, _)| name)
    }

    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(iid) = instance_id {
            match self.static_members.get(iid) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(existing) if existing != member_id => {
                    tracing::info!(group = %self.group_id, member_id, instance_id = iid,
                        existing = %existing, "static member fenced");
                    return Err(ErrorCode::FencedInstanceId);
                }
                Some(_) => {}
            }
        }
        if !self.has_member(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(())
    }

    fn reschedule_heartbeat(&mut self, member_id: &str, now: i64) {
        if let Some(m) = self.member_mut(member_id) {
            m.heartbeat_deadline = Some(now + m.session_timeout_ms as i64);
        }
    }

    fn current_members(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.as_deref();
        self.members
            .iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol),
                ..Default::default()
            })
            .collect()
    }

    fn generation_response(
        &self,
        member_id: &str,
        with_members: bool,
        leader: Option<String>,
    ) -> JoinGroupResponse {
        JoinGroupResponse {
            error_code: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: leader.unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if with_members { self.current_members() } else { Vec::new() },
            ..Default::default()
        }
    }

    /// Removes a member (no rebalance decisions). Any request it still has parked is answered
    /// UNKNOWN_MEMBER_ID so no handler waits forever.
    fn remove_member(&mut self, env: &mut Env<'_>, member_id: &str) {
        if let Some(i) = self.members.iter().position(|m| m.member_id == member_id) {
            let m = self.members.remove(i);
            if let Some(t) = m.awaiting_join {
                env.resolve(t, Parked::Join(Box::new(join_error("", ErrorCode::UnknownMemberId))));
            }
            if let Some(t) = m.awaiting_sync {
                env.resolve(t, Parked::Sync(sync_error(ErrorCode::UnknownMemberId)));
            }
            if let Some(iid) = &m.group_instance_id {
                self.static_members.remove(iid);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.first().map(|m| m.member_id.clone());
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
    }

    fn complete_join_ticket(&mut self, env: &mut Env<'_>, member_id: &str, resp: JoinGroupResponse) {
        if let Some(t) = self.member_mut(member_id).and_then(|m| m.awaiting_join.take()) {
            env.resolve(t, Parked::Join(Box::new(resp)));
        }
    }

    fn add_member(&mut self, env: &mut Env<'_>, a: &JoinGroupArgs, member_id: String) -> Ticket {
        let ticket = env.park();
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty {
            self.new_member_added = true;
        }
        if let Some(iid) = &a.group_instance_id {
            self.static_members.insert(iid.clone(), member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(a.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.pending_members.remove(&member_id);
        tracing::info!(group = %self.group_id, member_id = %member_id,
            instance_id = ?a.group_instance_id, "member added");
        self.members.push(GroupMember {
            member_id,
            group_instance_id: a.group_instance_id.clone(),
            client_id: a.client_id.clone(),
            client_host: a.client_host.clone(),
            rebalance_timeout_ms: a.rebalance_timeout_ms,
            session_timeout_ms: a.session_timeout_ms,
            protocol_type: a.protocol_type.clone(),
            protocols: a.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(ticket),
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline: Some(env.now + env.cfg.new_member_join_timeout_ms as i64),
        });
        self.maybe_prepare_rebalance_or_complete_join(env);
        ticket
    }

    /// Updates a member's protocols and timeouts and parks its JoinGroup (a retried join replaces
    /// the previous ticket, as Kafka replaces the future).
    fn update_member(&mut self, env: &mut Env<'_>, a: &JoinGroupArgs, member_id: &str) -> Ticket {
        let ticket = env.park();
        let mut old = None;
        if let Some(m) = self.member_mut(member_id) {
            m.protocols = a.protocols.clone();
            m.rebalance_timeout_ms = a.rebalance_timeout_ms;
            m.session_timeout_ms = a.session_timeout_ms;
            old = m.awaiting_join.replace(ticket);
        }
        if let Some(t) = old {
            env.drop_ticket(t);
        }
        ticket
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, env: &mut Env<'_>) {
        if self.can_rebalance() {
            self.prepare_rebalance(env);
        } else {
            self.maybe_complete_join_phase(env);
        }
    }

    fn maybe_complete_join_phase(&mut self, env: &mut Env<'_>) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(env);
        }
    }

    fn prepare_rebalance(&mut self, env: &mut Env<'_>) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
            }
            self.propagate_assignment(env, ErrorCode::RebalanceInProgress);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay = env.cfg.initial_rebalance_delay_ms;
            let remaining = (self.rebalance_timeout_ms() - delay).max(0);
            self.join_timer = Some(JoinTimer::Initial { at: env.now + delay as i64, delay, remaining });
        }
        if !self.transition(GroupState::PreparingRebalance, env.now) {
            return;
        }
        tracing::info!(group = %self.group_id, generation = self.generation_id, "preparing to rebalance");
        if !initial {
            if self.has_all_members_joined() {
                self.complete_join(env);
            } else {
                self.join_timer =
                    Some(JoinTimer::Complete { at: env.now + self.rebalance_timeout_ms() as i64 });
            }
        }
    }

    /// Answers every parked SyncGroup with the members' assignments (or `error`).
    fn propagate_assignment(&mut self, env: &mut Env<'_>, error: ErrorCode) {
        let (ptype, pname) = if error == ErrorCode::None {
            (self.protocol_type.clone(), self.protocol_name.clone())
        } else {
            (None, None)
        };
        for m in &mut self.members {
            if let Some(t) = m.awaiting_sync.take() {
                env.resolve(
                    t,
                    Parked::Sync(SyncGroupResponse {
                        error_code: error.code(),
                        protocol_type: ptype.clone(),
                        protocol_name: pname.clone(),
                        assignment: m.assignment.clone(),
                        ..Default::default()
                    }),
                );
                m.heartbeat_deadline = Some(env.now + m.session_timeout_ms as i64);
            }
        }
    }

    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else { return false };
        let leader_joined = self.member(&leader).is_some_and(|m| m.awaiting_join.is_some());
        if leader_joined {
            return true;
        }
        match self.members.iter().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                tracing::info!(group = %self.group_id, old = %leader, new = %m.member_id,
                    "leader did not rejoin; new leader elected");
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for m in &self.members {
            let mut buf = m.metadata(Some(protocol));
            if buf.len() < 2 {
                return None;
            }
            let _version = bytes::Buf::get_i16(&mut buf);
            let sub = ConsumerProtocolSubscription::decode(&mut buf, 0).ok()?;
            all.extend(sub.topics);
        }
        Some(all)
    }

    fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(t) => t.contains(topic),
            None => self.protocol_type.as_deref() == Some("consumer"),
        }
    }

    fn init_next_generation(&mut self, now: i64) {
        self.generation_id += 1;
        if !self.members.is_empty() {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now);
        } else {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::Empty, now);
        }
        self.pending_sync.clear();
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, bumps the generation and
    /// answers every parked JoinGroup (the leader gets the members and their metadata).
    fn complete_join(&mut self, env: &mut Env<'_>) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in &gone {
            self.remove_member(env, id);
        }
        if !gone.is_empty() {
            tracing::info!(group = %self.group_id, removed = ?gone, "removed members that did not rejoin");
        }
        if self.state == GroupState::Dead {
            return;
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            tracing::warn!(group = %self.group_id, "no member rejoined; extending the join phase");
            self.join_timer = Some(JoinTimer::Complete { at: env.now + self.rebalance_timeout_ms() as i64 });
            return;
        }
        self.init_next_generation(env.now);
        if self.state == GroupState::Empty {
            tracing::info!(group = %self.group_id, generation = self.generation_id, "group is now empty");
            return;
        }
        tracing::info!(group = %self.group_id, generation = self.generation_id,
            members = self.members.len(), leader = ?self.leader_id, protocol = ?self.protocol_name,
            "join phase complete");
        let ids: Vec<String> = self.members.iter().map(|m| m.member_id.clone()).collect();
        for id in ids {
            let resp = self.generation_response(&id, self.is_leader(&id), self.leader_id.clone());
            self.complete_join_ticket(env, &id, resp);
            self.reschedule_heartbeat(&id, env.now);
            if let Some(m) = self.member_mut(&id) {
                m.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some((env.now + self.rebalance_timeout_ms() as i64, self.generation_id));
    }

    /// Removes a member that failed (session expiry) or left, then rebalances or completes the
    /// join phase. Its parked JoinGroup gets UNKNOWN_MEMBER_ID.
    fn remove_member_and_update(&mut self, env: &mut Env<'_>, member_id: &str) {
        self.complete_join_ticket(env, member_id, join_error("", ErrorCode::UnknownMemberId));
        self.remove_member(env, member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(env)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => self.complete_join(env),
            _ => {}
        }
    }

    /// A static member rejoining with an unknown member id: replace the old id (fencing it) and
    /// rebalance only when the group's protocol would change (Kafka's
    /// `updateStaticMemberThenRebalanceOrCompleteJoin`).
    fn replace_static_member(
        &mut self,
        env: &mut Env<'_>,
        a: &JoinGroupArgs,
        old_id: &str,
        new_id: String,
    ) -> JoinOutcome {
        let current_leader = self.leader_id.clone();
        let Some(i) = self.members.iter().position(|m| m.member_id == old_id) else {
            return JoinOutcome::Done(Box::new(join_error("", ErrorCode::UnknownServerError)));
        };
        let mut m = self.members[i].clone();
        if let Some(t) = m.awaiting_join.take() {
            env.resolve(t, Parked::Join(Box::new(join_error(old_id, ErrorCode::FencedInstanceId))));
        }
        if let Some(t) = m.awaiting_sync.take() {
            env.resolve(t, Parked::Sync(sync_error(ErrorCode::FencedInstanceId)));
        }
        tracing::info!(group = %self.group_id, old = old_id, new = %new_id,
            instance_id = ?a.group_instance_id, "static member replaced");
        m.member_id = new_id.clone();
        m.is_new = false;
        m.heartbeat_deadline = Some(env.now + m.session_timeout_ms as i64);
        self.members[i] = m;
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        if let Some(iid) = &a.group_instance_id {
            self.static_members.insert(iid.clone(), new_id.clone());
        }
        let ticket = self.update_member(env, a, &new_id);
        match self.state {
            GroupState::Stable => {
                if self.protocol_name == self.select_protocol() {
                    tracing::info!(group = %self.group_id, "static member rejoined without changing the protocol; no rebalance");
                    let resp = if a.version >= 9 {
                        let leader = self.is_leader(&new_id);
                        JoinGroupResponse {
                            skip_assignment: leader,
                            ..self.generation_response(&new_id, leader, self.leader_id.clone())
                        }
                    } else {
                        self.generation_response(&new_id, false, current_leader)
                    };
                    self.complete_join_ticket(env, &new_id, resp);
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(env);
                }
            }
            GroupState::CompletingRebalance => self.prepare_rebalance(env),
            GroupState::PreparingRebalance => self.maybe_complete_join_phase(env),
            GroupState::Empty | GroupState::Dead => {
                tracing::error!(group = %self.group_id, state = self.state.name(),
                    "static member rejoined a group without members (test-broker bug)");
            }
        }
        JoinOutcome::Parked(ticket)
    }

    fn join_existing_member(&mut self, env: &mut Env<'_>, a: &JoinGroupArgs) -> JoinOutcome {
        let id = a.member_id.as_str();
        let done = |r: JoinGroupResponse| JoinOutcome::Done(Box::new(r));
        if self.state == GroupState::Dead {
            return done(join_error(id, ErrorCode::CoordinatorNotAvailable));
        }
        if !self.supports_protocols(&a.protocol_type, &a.protocols) {
            return done(join_error(id, ErrorCode::InconsistentGroupProtocol));
        }
        if self.pending_members.contains_key(id) {
            if a.group_instance_id.is_some() {
                return done(join_error(id, ErrorCode::UnknownServerError));
            }
            return JoinOutcome::Parked(self.add_member(env, a, id.to_owned()));
        }
        if let Err(code) = self.validate_member(id, a.group_instance_id.as_deref()) {
            return done(join_error(id, code));
        }
        let matches = self.member(id).is_some_and(|m| m.matches(&a.protocols));
        match self.state {
            GroupState::PreparingRebalance => {
                let t = self.update_member(env, a, id);
                self.maybe_prepare_rebalance_or_complete_join(env);
                JoinOutcome::Parked(t)
            }
            GroupState::CompletingRebalance if matches => {
                // a retry of a join whose answer was lost: the current generation again
                done(self.generation_response(id, self.is_leader(id), self.leader_id.clone()))
            }
            GroupState::Stable if matches && !self.is_leader(id) => {
                done(self.generation_response(id, false, self.leader_id.clone()))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                // changed metadata, or the leader rejoining: rebalance
                let t = self.update_member(env, a, id);
                self.maybe_prepare_rebalance_or_complete_join(env);
                JoinOutcome::Parked(t)
            }
            GroupState::Empty | GroupState::Dead => done(join_error(id, ErrorCode::UnknownMemberId)),
        }
    }

    fn accepts_joining_member(&self, member_id: &str, max: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.member(member_id).is_some_and(|m| m.awaiting_join.is_some())
                    || self.awaiting_join_count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.has_member(member_id) || self.members.len() < max
            }
        }
    }

    /// Fires due timers. Returns whether anything happened.
    fn tick(&mut self, env: &mut Env<'_>) -> bool {
        let now = env.now;
        let mut changed = false;
        if self.state == GroupState::Dead {
            return false;
        }
        match self.join_timer {
            Some(JoinTimer::Complete { at }) if at <= now => {
                changed = true;
                self.complete_join(env);
            }
            Some(JoinTimer::Initial { at, delay, remaining }) if at <= now => {
                changed = true;
                if self.new_member_added && remaining != 0 {
                    self.new_member_added = false;
                    let new_delay = env.cfg.initial_rebalance_delay_ms.min(remaining);
                    let new_remaining = (remaining - delay).max(0);
                    self.join_timer = Some(JoinTimer::Initial {
                        at: now + new_delay as i64,
                        delay: new_delay,
                        remaining: new_remaining,
                    });
                } else {
                    self.complete_join(env);
                }
            }
            _ => {}
        }
        if let Some((_, generation)) = self.sync_timer.filter(|(at, _)| *at <= now) {
            self.sync_timer = None;
            if generation == self.generation_id
                && matches!(self.state, GroupState::CompletingRebalance | GroupState::Stable)
                && !self.pending_sync.is_empty()
            {
                changed = true;
                let late: Vec<String> = self.pending_sync.iter().cloned().collect();
                tracing::info!(group = %self.group_id, members = ?late, "removing members that did not sync in time");
                for id in &late {
                    self.remove_member(env, id);
                }
                self.prepare_rebalance(env);
            }
        }
        let expired: Vec<String> =
            self.pending_members.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
        for id in expired {
            changed = true;
            tracing::info!(group = %self.group_id, member_id = %id, "pending member expired");
            self.pending_members.remove(&id);
            if self.state == GroupState::PreparingRebalance && self.has_all_members_joined() {
                self.complete_join(env);
            }
        }
        let due: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.heartbeat_deadline.is_some_and(|d| d <= now))
            .map(|m| m.member_id.clone())
            .collect();
        for id in due {
            let Some(m) = self.member_mut(&id) else { continue };
            m.heartbeat_deadline = None;
            if !m.has_satisfied_heartbeat() {
                changed = true;
                tracing::info!(group = %self.group_id, member_id = %id, "session expired; removing member");
                self.remove_member_and_update(env, &id);
            }
        }
        changed
    }

    fn validate_offset_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        transactional: bool,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if !transactional && self.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        if !transactional && self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }

    fn describe(&self) -> DescribedGroup {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable { self.protocol_name.clone() } else { None };
        DescribedGroup {
            group_id: self.group_id.clone(),
            group_state: self.state.name().to_owned(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: protocol.clone().unwrap_or_default(),
            members: self
                .members
                .iter()
                .map(|m| DescribedGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_metadata: if stable { m.metadata(protocol.as_deref()) } else { Bytes::new() },
                    member_assignment: m.assignment.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Every group the cluster knows, and their committed offsets.
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    /// Committed offsets: group → (topic, partition) → offset.
    pub offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    /// Classic groups by id.
    pub groups: BTreeMap<String, ClassicGroup>,
    /// Limits.
    pub config: GroupConfig,
    /// Parked JoinGroup / SyncGroup requests: ticket → (result, time resolved or parked).
    parked: HashMap<Ticket, (Parked, i64)>,
    next_ticket: u64,
    id_seq: u64,
}

/// How long an uncollected parked result is kept (its connection is gone).
const PARKED_RESULT_TTL_MS: i64 = 120_000;

impl GroupCoordinator {
    fn split(&mut self, now: i64) -> (&mut BTreeMap<String, ClassicGroup>, Env<'_>) {
        (
            &mut self.groups,
            Env { parked: &mut self.parked, next_ticket: &mut self.next_ticket, cfg: &self.config, now },
        )
    }

    /// Groups that exist only through committed offsets (e.g. transactional commits) become
    /// Empty simple groups, as a commit creates one in Kafka.
    fn materialize(&mut self, now: i64) {
        for g in self.offsets.keys() {
            if !self.groups.contains_key(g) {
                self.groups.insert(g.clone(), ClassicGroup::new(g, now));
            }
        }
    }

    /// A group by id.
    pub fn group(&self, group_id: &str) -> Option<&ClassicGroup> {
        self.groups.get(group_id)
    }

    /// Collects a parked request's result: `None` while undecided. A ticket nobody knows (its
    /// request was superseded by a retry) answers UNKNOWN_MEMBER_ID.
    pub fn take_parked(&mut self, ticket: Ticket) -> Option<Parked> {
        match self.parked.get(&ticket) {
            None => Some(Parked::Join(Box::new(join_error("", ErrorCode::UnknownMemberId)))),
            Some((Parked::Pending, _)) => None,
            Some(_) => self.parked.remove(&ticket).map(|(p, _)| p),
        }
    }

    /// JoinGroup.
    pub fn join_group(&mut self, a: JoinGroupArgs, now: i64) -> JoinOutcome {
        let done = |r: JoinGroupResponse| JoinOutcome::Done(Box::new(r));
        if a.group_id.is_empty() {
            return done(join_error(&a.member_id, ErrorCode::InvalidGroupId));
        }
        if a.session_timeout_ms < self.config.min_session_timeout_ms
            || a.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return done(join_error(&a.member_id, ErrorCode::InvalidSessionTimeout));
        }
        self.materialize(now);
        let unknown = a.member_id.is_empty();
        if !self.groups.contains_key(&a.group_id) {
            if !unknown {
                return done(join_error(&a.member_id, ErrorCode::UnknownMemberId));
            }
            self.groups.insert(a.group_id.clone(), ClassicGroup::new(&a.group_id, now));
        }
        self.id_seq += 1;
        let seq = self.id_seq;
        let max = self.config.max_size;
        let (groups, mut env) = self.split(now);
        let Some(g) = groups.get_mut(&a.group_id) else {
            return done(join_error(&a.member_id, ErrorCode::UnknownServerError));
        };
        if !g.accepts_joining_member(&a.member_id, max) {
            return done(join_error("", ErrorCode::GroupMaxSizeReached));
        }
        if !unknown {
            return g.join_existing_member(&mut env, &a);
        }
        if g.state == GroupState::Dead {
            return done(join_error("", ErrorCode::CoordinatorNotAvailable));
        }
        if !g.supports_protocols(&a.protocol_type, &a.protocols) {
            return done(join_error("", ErrorCode::InconsistentGroupProtocol));
        }
        let prefix = a.group_instance_id.as_deref().unwrap_or(&a.client_id);
        let new_id = generate_member_id(prefix, seq, now);
        if let Some(iid) = &a.group_instance_id {
            return match g.static_members.get(iid).cloned() {
                Some(old) => g.replace_static_member(&mut env, &a, &old, new_id),
                None => JoinOutcome::Parked(g.add_member(&mut env, &a, new_id)),
            };
        }
        if a.version >= 4 {
            tracing::info!(group = %a.group_id, member_id = %new_id, "member id required");
            g.pending_members.insert(new_id.clone(), now + a.session_timeout_ms as i64);
            return done(join_error(&new_id, ErrorCode::MemberIdRequired));
        }
        JoinOutcome::Parked(g.add_member(&mut env, &a, new_id))
    }

    /// SyncGroup.
    pub fn sync_group(&mut self, a: SyncGroupArgs, now: i64) -> SyncOutcome {
        let done = |c: ErrorCode| SyncOutcome::Done(sync_error(c));
        if a.group_id.is_empty() {
            return done(ErrorCode::InvalidGroupId);
        }
        if a.version >= 5 && (a.protocol_type.is_none() || a.protocol_name.is_none()) {
            return done(ErrorCode::InconsistentGroupProtocol);
        }
        let (groups, mut env) = self.split(now);
        let Some(g) = groups.get_mut(&a.group_id) else { return done(ErrorCode::UnknownMemberId) };
        if g.state == GroupState::Empty {
            return done(ErrorCode::UnknownMemberId);
        }
        if g.state == GroupState::Dead {
            return done(ErrorCode::CoordinatorNotAvailable);
        }
        if let Err(c) = g.validate_member(&a.member_id, a.group_instance_id.as_deref()) {
            return done(c);
        }
        if a.generation_id != g.generation_id {
            return done(ErrorCode::IllegalGeneration);
        }
        let inconsistent =
            |req: &Option<String>, have: &Option<String>| matches!((req, have), (Some(r), Some(h)) if r != h);
        if inconsistent(&a.protocol_type, &g.protocol_type)
            || inconsistent(&a.protocol_name, &g.protocol_name)
        {
            return done(ErrorCode::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::PreparingRebalance => done(ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let ticket = env.park();
                if let Some(old) = g.member_mut(&a.member_id).and_then(|m| m.awaiting_sync.replace(ticket)) {
                    env.drop_ticket(old);
                }
                g.pending_sync.remove(&a.member_id);
                if g.is_leader(&a.member_id) {
                    tracing::info!(group = %g.group_id, generation = g.generation_id,
                        "assignment received from the leader");
                    let given: HashMap<&str, &Bytes> =
                        a.assignments.iter().map(|(id, b)| (id.as_str(), b)).collect();
                    for m in &mut g.members {
                        m.assignment =
                            given.get(m.member_id.as_str()).map(|b| (*b).clone()).unwrap_or_default();
                    }
                    g.propagate_assignment(&mut env, ErrorCode::None);
                    g.transition(GroupState::Stable, now);
                }
                SyncOutcome::Parked(ticket)
            }
            GroupState::Stable => {
                g.pending_sync.remove(&a.member_id);
                let assignment = g.member(&a.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                SyncOutcome::Done(SyncGroupResponse {
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment,
                    ..Default::default()
                })
            }
            GroupState::Empty | GroupState::Dead => done(ErrorCode::UnknownMemberId),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let Some(g) = self.groups.get_mut(group_id) else { return ErrorCode::UnknownMemberId };
        if g.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(c) = g.validate_member(member_id, instance_id) {
            return c;
        }
        if generation_id != g.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                g.reschedule_heartbeat(member_id, now);
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.reschedule_heartbeat(member_id, now);
                ErrorCode::None
            }
        }
    }

    /// LeaveGroup: `members` are (member id, instance id) pairs (v0-2: one, with no instance id).
    /// `Err` is a top-level error; `Ok` has one code per member.
    pub fn leave_group(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let (groups, mut env) = self.split(now);
        let Some(g) = groups.get_mut(group_id) else {
            return Ok(vec![ErrorCode::UnknownMemberId; members.len()]);
        };
        if g.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let mut codes = Vec::with_capacity(members.len());
        let mut any = false;
        for (member_id, instance_id) in members {
            let code = if member_id.is_empty() {
                match instance_id.as_ref().and_then(|i| g.static_members.get(i)).cloned() {
                    Some(id) => {
                        g.complete_join_ticket(&mut env, &id, join_error("", ErrorCode::UnknownMemberId));
                        g.remove_member(&mut env, &id);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if g.pending_members.remove(member_id).is_some() {
                ErrorCode::None
            } else {
                match g.validate_member(member_id, instance_id.as_deref()) {
                    Ok(()) => {
                        g.complete_join_ticket(
                            &mut env,
                            member_id,
                            join_error("", ErrorCode::UnknownMemberId),
                        );
                        g.remove_member(&mut env, member_id);
                        ErrorCode::None
                    }
                    Err(c) => c,
                }
            };
            if code == ErrorCode::None {
                any = true;
                tracing::info!(group = %group_id, member_id = %member_id, instance_id = ?instance_id, "member left");
            }
            codes.push(code);
        }
        if any {
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    g.maybe_prepare_rebalance_or_complete_join(&mut env)
                }
                GroupState::PreparingRebalance => g.maybe_complete_join_phase(&mut env),
                _ => {}
            }
        }
        Ok(codes)
    }

    /// Validates an OffsetCommit (creating a simple group for generation < 0), as Kafka's
    /// `validateOffsetCommit`; keeps a member's session alive in Stable / PreparingRebalance.
    pub fn validate_offset_commit(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        version: i16,
        now: i64,
    ) -> Result<(), ErrorCode> {
        self.materialize(now);
        let g = match self.groups.get_mut(group_id) {
            Some(g) => g,
            None if generation_id < 0 => {
                tracing::info!(group = %group_id, "simple group created by an offset commit");
                self.groups.entry(group_id.to_owned()).or_insert_with(|| ClassicGroup::new(group_id, now))
            }
            None if version >= 9 => return Err(ErrorCode::GroupIdNotFound),
            None => return Err(ErrorCode::IllegalGeneration),
        };
        g.validate_offset_commit(member_id, instance_id, generation_id, false)?;
        if matches!(g.state, GroupState::Stable | GroupState::PreparingRebalance) {
            g.reschedule_heartbeat(member_id, now);
        }
        Ok(())
    }

    /// Validates a TxnOffsetCommit against the group (Kafka's `validateTransactionalOffsetCommit`):
    /// the generation and member are checked only when given.
    pub fn validate_txn_offset_commit(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<(), ErrorCode> {
        self.materialize(now);
        let g = match self.groups.get_mut(group_id) {
            Some(g) => g,
            None if generation_id < 0 => {
                self.groups.entry(group_id.to_owned()).or_insert_with(|| ClassicGroup::new(group_id, now))
            }
            None => return Err(ErrorCode::IllegalGeneration),
        };
        g.validate_offset_commit(member_id, instance_id, generation_id, true)
    }

    /// Whether `metadata` exceeds `offset.metadata.max.bytes`.
    pub fn metadata_too_large(&self, metadata: Option<&str>) -> bool {
        metadata.is_some_and(|m| m.encode_utf16().count() > self.config.offset_metadata_max_bytes)
    }

    /// Stores a committed offset (OffsetCommit after validation, or a committed transaction).
    pub fn commit_offset(&mut self, group: &str, topic: &str, partition: i32, offset: CommittedOffset) {
        tracing::debug!(group, topic, partition, offset = offset.offset, "offset committed");
        self.offsets.entry(group.to_owned()).or_default().insert((topic.to_owned(), partition), offset);
    }

    /// OffsetFetch for one group: `topics` None = every committed offset. Partitions in
    /// `unstable` (pending transactional offsets, checked when require_stable) get
    /// UNSTABLE_OFFSET_COMMIT.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
        unstable: &BTreeSet<(String, i32)>,
    ) -> Vec<(String, Vec<FetchedOffset>)> {
        let dead = self.groups.get(group_id).is_some_and(|g| g.state == GroupState::Dead);
        let committed = if dead { None } else { self.offsets.get(group_id) };
        let one = |topic: &str, p: i32| -> FetchedOffset {
            let mut f = FetchedOffset {
                partition: p,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: ErrorCode::None,
            };
            if unstable.contains(&(topic.to_owned(), p)) {
                f.error = ErrorCode::UnstableOffsetCommit;
            } else if let Some(o) = committed.and_then(|c| c.get(&(topic.to_owned(), p))) {
                f.offset = o.offset;
                f.leader_epoch = o.leader_epoch;
                f.metadata = o.metadata.clone().unwrap_or_default();
            }
            f
        };
        match topics {
            Some(ts) => {
                ts.iter().map(|(t, ps)| (t.clone(), ps.iter().map(|p| one(t, *p)).collect())).collect()
            }
            None => {
                let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
                for (t, p) in committed.into_iter().flat_map(|c| c.keys()) {
                    match out.last_mut() {
                        Some((name, v)) if name == t => v.push(one(t, *p)),
                        _ => out.push((t.clone(), vec![one(t, *p)])),
                    }
                }
                out
            }
        }
    }

    /// OffsetDelete: `Err` is the top-level error; `Ok` a code per requested partition.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
        now: i64,
    ) -> Result<Vec<Vec<ErrorCode>>, ErrorCode> {
        self.materialize(now);
        let g = self.groups.get(group_id).ok_or(ErrorCode::GroupIdNotFound)?;
        match g.state {
            GroupState::Dead => return Err(ErrorCode::GroupIdNotFound),
            GroupState::Stable | GroupState::PreparingRebalance | GroupState::CompletingRebalance
                if g.protocol_type.as_deref() != Some("consumer") =>
            {
                return Err(ErrorCode::NonEmptyGroup);
            }
            _ => {}
        }
        let subscribed: Vec<bool> = topics.iter().map(|(t, _)| g.is_subscribed_to_topic(t)).collect();
        let mut out = Vec::with_capacity(topics.len());
        for ((t, ps), sub) in topics.iter().zip(subscribed) {
            if sub {
                out.push(vec![ErrorCode::GroupSubscribedToTopic; ps.len()]);
                continue;
            }
            if let Some(c) = self.offsets.get_mut(group_id) {
                for p in ps {
                    c.remove(&(t.clone(), *p));
                }
            }
            out.push(vec![ErrorCode::None; ps.len()]);
        }
        if self.offsets.get(group_id).is_some_and(|c| c.is_empty()) {
            self.offsets.remove(group_id);
        }
        Ok(out)
    }

    /// DescribeGroups for one group (an unknown group is Dead with no error, as Kafka answers).
    pub fn describe_group(&mut self, group_id: &str, now: i64) -> DescribedGroup {
        self.materialize(now);
        match self.groups.get(group_id) {
            Some(g) => g.describe(),
            None => DescribedGroup {
                group_id: group_id.to_owned(),
                group_state: GroupState::Dead.name().to_owned(),
                ..Default::default()
            },
        }
    }

    /// Every live group with its protocol type and state, filtered by state names and group types
    /// (case-insensitive; empty filters match all; every group here is of type "classic").
    pub fn list_groups(&mut self, states: &[String], types: &[String], now: i64) -> Vec<ListedGroupInfo> {
        self.materialize(now);
        let states: Vec<String> = states.iter().map(|s| s.trim().to_lowercase()).collect();
        let classic = types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case("classic"));
        self.groups
            .values()
            .filter(|g| g.state != GroupState::Dead && classic)
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| ListedGroupInfo {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect()
    }

    /// DeleteGroups for one group: removes an Empty group and its offsets.
    pub fn delete_group(&mut self, group_id: &str, now: i64) -> ErrorCode {
        self.materialize(now);
        let Some(g) = self.groups.get_mut(group_id) else { return ErrorCode::GroupIdNotFound };
        match g.state {
            GroupState::Dead => ErrorCode::GroupIdNotFound,
            GroupState::Stable | GroupState::PreparingRebalance | GroupState::CompletingRebalance => {
                ErrorCode::NonEmptyGroup
            }
            GroupState::Empty => {
                g.transition(GroupState::Dead, now);
                self.groups.remove(group_id);
                self.offsets.remove(group_id);
                tracing::info!(group = %group_id, "group deleted");
                ErrorCode::None
            }
        }
    }

    /// Periodic work at `now_ms`: session expiry, rebalance timeouts. Returns whether anything
    /// changed (waiters are then woken).
    pub fn tick(&mut self, now_ms: i64) -> bool {
        self.parked.retain(|_, (p, at)| matches!(p, Parked::Pending) || now_ms - *at < PARKED_RESULT_TTL_MS);
        let (groups, mut env) = self.split(now_ms);
        let mut changed = false;
        for g in groups.values_mut() {
            changed |= g.tick(&mut env);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    fn proto(name: &str, meta: &[u8]) -> Protocol {
        Protocol { name: name.into(), metadata: Bytes::copy_from_slice(meta) }
    }

    fn args(group: &str, member: &str) -> JoinGroupArgs {
        JoinGroupArgs {
            group_id: group.into(),
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![proto("range", b"m")],
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 60_000,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            version: 9,
            ..Default::default()
        }
    }

    fn coord() -> GroupCoordinator {
        let mut c = GroupCoordinator::default();
        c.config.initial_rebalance_delay_ms = 0;
        c
    }

    fn join_response(c: &mut GroupCoordinator, t: Ticket) -> JoinGroupResponse {
        match c.take_parked(t) {
            Some(Parked::Join(r)) => *r,
            other => panic!("join not answered: {other:?}"),
        }
    }

    fn sync_response(c: &mut GroupCoordinator, t: Ticket) -> SyncGroupResponse {
        match c.take_parked(t) {
            Some(Parked::Sync(r)) => r,
            other => panic!("sync not answered: {other:?}"),
        }
    }

    fn parked(o: JoinOutcome) -> Ticket {
        match o {
            JoinOutcome::Parked(t) => t,
            JoinOutcome::Done(r) => panic!("expected a parked join, got {r:?}"),
        }
    }

    /// Fires the initial-rebalance timer (extended once when members joined during the delay).
    fn settle(c: &mut GroupCoordinator, now: i64) {
        assert!(c.tick(now));
        c.tick(now);
    }

    /// Joins a dynamic member through MEMBER_ID_REQUIRED; returns its id and ticket.
    fn join_new(c: &mut GroupCoordinator, group: &str, now: i64) -> (String, Ticket) {
        let JoinOutcome::Done(r) = c.join_group(args(group, ""), now) else {
            panic!("expected MEMBER_ID_REQUIRED")
        };
        assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
        let id = r.member_id.clone();
        (id.clone(), parked(c.join_group(args(group, &id), now)))
    }

    /// A Stable group with members a (leader) and b, generation 1.
    fn stable_pair(c: &mut GroupCoordinator) -> (String, String) {
        let (a, ta) = join_new(c, "g", T0);
        let (b, tb) = join_new(c, "g", T0);
        settle(c, T0 + 1);
        let ra = join_response(c, ta);
        let _ = join_response(c, tb);
        let SyncOutcome::Parked(sa) = c.sync_group(
            SyncGroupArgs {
                group_id: "g".into(),
                generation_id: ra.generation_id,
                member_id: a.clone(),
                assignments: vec![
                    (a.clone(), Bytes::from_static(b"A")),
                    (b.clone(), Bytes::from_static(b"B")),
                ],
                ..Default::default()
            },
            T0 + 2,
        ) else {
            panic!("leader sync should park and resolve")
        };
        assert_eq!(sync_response(c, sa).assignment, Bytes::from_static(b"A"));
        let SyncOutcome::Done(sb) = c.sync_group(
            SyncGroupArgs {
                group_id: "g".into(),
                generation_id: 1,
                member_id: b.clone(),
                ..Default::default()
            },
            T0 + 3,
        ) else {
            panic!("stable sync answers at once")
        };
        assert_eq!(sb.assignment, Bytes::from_static(b"B"));
        assert_eq!(c.group("g").unwrap().state(), GroupState::Stable);
        (a, b)
    }

    #[test]
    fn transitions_are_checked() {
        let mut g = ClassicGroup::new("g", T0);
        assert!(GroupState::Stable.may_follow(GroupState::CompletingRebalance));
        assert!(!GroupState::Stable.may_follow(GroupState::Empty));
        assert!(!GroupState::CompletingRebalance.may_follow(GroupState::Stable));
        assert!(g.transition(GroupState::PreparingRebalance, T0));
        assert!(g.transition(GroupState::CompletingRebalance, T0));
        assert!(g.transition(GroupState::Stable, T0));
        assert!(g.transition(GroupState::Dead, T0));
    }

    #[test]
    fn member_id_required_then_pending_member_expires() {
        let mut c = coord();
        let JoinOutcome::Done(r) = c.join_group(args("g", ""), T0) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
        assert!(r.member_id.starts_with("c-"), "{}", r.member_id);
        assert_eq!(c.group("g").unwrap().pending_member_ids(), vec![r.member_id.clone()]);
        assert!(!c.tick(T0 + 44_999));
        assert!(c.tick(T0 + 45_000));
        assert!(c.group("g").unwrap().pending_member_ids().is_empty());
        // the expired id is now unknown
        let JoinOutcome::Done(r2) = c.join_group(args("g", &r.member_id), T0 + 45_001) else { panic!() };
        assert_eq!(r2.error_code, ErrorCode::UnknownMemberId.code());
        // v3 joins directly
        let mut old = args("h", "");
        old.version = 3;
        assert!(matches!(c.join_group(old, T0), JoinOutcome::Parked(_)));
    }

    #[test]
    fn invalid_session_timeout_and_protocol_checks() {
        let mut c = coord();
        let mut a = args("g", "");
        a.session_timeout_ms = 5_999;
        let JoinOutcome::Done(r) = c.join_group(a.clone(), T0) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::InvalidSessionTimeout.code());
        a.session_timeout_ms = 1_800_001;
        let JoinOutcome::Done(r) = c.join_group(a, T0) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::InvalidSessionTimeout.code());
        let (_a, _b) = stable_pair(&mut c);
        let mut other = args("g", "");
        other.protocol_type = "connect".into();
        let JoinOutcome::Done(r) = c.join_group(other, T0 + 10) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
        let mut other = args("g", "");
        other.protocols = vec![proto("sticky", b"")];
        let JoinOutcome::Done(r) = c.join_group(other, T0 + 10) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
    }

    #[test]
    fn protocol_is_chosen_by_votes_among_common_protocols() {
        let mut c = coord();
        let mut a1 = args("g", "");
        a1.version = 3;
        a1.protocols = vec![proto("sticky", b"1"), proto("range", b"1"), proto("rr", b"1")];
        let t1 = parked(c.join_group(a1, T0));
        let mut a2 = args("g", "");
        a2.version = 3;
        a2.protocols = vec![proto("rr", b"2"), proto("range", b"2")];
        let t2 = parked(c.join_group(a2, T0));
        let mut a3 = args("g", "");
        a3.version = 3;
        a3.protocols = vec![proto("range", b"3"), proto("rr", b"3")];
        let t3 = parked(c.join_group(a3, T0));
        settle(&mut c, T0 + 1);
        // common: range, rr. votes: m1 → range, m2 → rr, m3 → range
        let r = join_response(&mut c, t1);
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert_eq!(r.members.len(), 3, "the leader (first joiner) gets every member");
        assert_eq!(r.members[1].metadata, Bytes::from_static(b"2"), "metadata of the chosen protocol");
        assert!(join_response(&mut c, t2).members.is_empty());
        assert!(join_response(&mut c, t3).members.is_empty());
    }

    #[test]
    fn initial_rebalance_delay_is_extended_by_new_members_up_to_the_rebalance_timeout() {
        let mut c = coord();
        c.config.initial_rebalance_delay_ms = 3_000;
        let (_a, ta) = join_new(&mut c, "g", T0);
        assert!(!c.tick(T0 + 2_999));
        assert!(c.take_parked(ta).is_none());
        let (_b, tb) = join_new(&mut c, "g", T0 + 2_000);
        assert!(c.tick(T0 + 3_000), "delay fired; extended because b joined");
        assert!(c.take_parked(ta).is_none());
        assert!(c.tick(T0 + 6_000));
        assert_eq!(join_response(&mut c, ta).generation_id, 1);
        assert_eq!(join_response(&mut c, tb).generation_id, 1);
    }

    #[test]
    fn sync_followers_wait_for_the_leader_and_get_rebalance_in_progress_on_a_new_rebalance() {
        let mut c = coord();
        let (a, ta) = join_new(&mut c, "g", T0);
        let (b, tb) = join_new(&mut c, "g", T0);
        settle(&mut c, T0 + 1);
        let ra = join_response(&mut c, ta);
        let rb = join_response(&mut c, tb);
        assert_eq!(ra.leader, a);
        assert_eq!(rb.leader, a);
        assert_eq!(ra.members.len(), 2);
        assert!(rb.members.is_empty());
        let sync_b = |c: &mut GroupCoordinator, generation| {
            c.sync_group(
                SyncGroupArgs {
                    group_id: "g".into(),
                    generation_id: generation,
                    member_id: b.clone(),
                    ..Default::default()
                },
                T0 + 2,
            )
        };
        let SyncOutcome::Done(bad) = sync_b(&mut c, 7) else { panic!() };
        assert_eq!(bad.error_code, ErrorCode::IllegalGeneration.code());
        let SyncOutcome::Parked(tsb) = sync_b(&mut c, 1) else { panic!() };
        assert!(c.take_parked(tsb).is_none(), "follower waits for the leader");
        // a third member joins: the pending sync is answered REBALANCE_IN_PROGRESS
        let (_x, _tx) = join_new(&mut c, "g", T0 + 3);
        assert_eq!(sync_response(&mut c, tsb).error_code, ErrorCode::RebalanceInProgress.code());
        assert_eq!(c.group("g").unwrap().state(), GroupState::PreparingRebalance);
        let SyncOutcome::Done(r) = sync_b(&mut c, 1) else { panic!() };
        assert_eq!(r.error_code, ErrorCode::RebalanceInProgress.code());
        let SyncOutcome::Done(r) = c.sync_group(
            SyncGroupArgs {
                group_id: "g".into(),
                generation_id: 1,
                member_id: "nobody".into(),
                ..Default::default()
            },
            T0,
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
    }

    #[test]
    fn rebalance_timeout_removes_members_that_do_not_rejoin() {
        let mut c = coord();
        let (a, b) = stable_pair(&mut c);
        assert_eq!(c.heartbeat("g", &b, None, 1, T0 + 5), ErrorCode::None);
        // a (the leader) rejoins: rebalance
        let ta = parked(c.join_group(args("g", &a), T0 + 10));
        assert_eq!(c.heartbeat("g", &b, None, 1, T0 + 11), ErrorCode::RebalanceInProgress);
        assert!(c.take_parked(ta).is_none());
        // b keeps heartbeating (its session stays alive) but never rejoins
        assert!(!c.tick(T0 + 40_000));
        assert_eq!(c.heartbeat("g", &b, None, 1, T0 + 40_000), ErrorCode::RebalanceInProgress);
        assert!(!c.tick(T0 + 10 + 59_999));
        assert!(c.tick(T0 + 10 + 60_000));
        let r = join_response(&mut c, ta);
        assert_eq!(r.generation_id, 2);
        assert_eq!(r.members.len(), 1, "b did not rejoin and was removed");
        assert_eq!(c.heartbeat("g", &b, None, 2, T0 + 60_011), ErrorCode::UnknownMemberId);
    }

    #[test]
    fn leader_keeps_leadership_and_rejoin_completes_when_everyone_is_back() {
        let mut c = coord();
        let (a, b) = stable_pair(&mut c);
        let tb = parked(c.join_group(
            JoinGroupArgs { protocols: vec![proto("range", b"changed")], ..args("g", &b) },
            T0 + 10,
        ));
        let ta = parked(c.join_group(args("g", &a), T0 + 11));
        let ra = join_response(&mut c, ta);
        let rb = join_response(&mut c, tb);
        assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
        assert_eq!(ra.leader, a);
        assert_eq!(ra.members.len(), 2);
    }

    #[test]
    fn session_expiry_removes_a_silent_member_and_rebalances() {
        let mut c = coord();
        let (a, b) = stable_pair(&mut c);
        // a heartbeats, b is silent; b's 45 s session runs from the end of the join (T0 + 1)
        assert_eq!(c.heartbeat("g", &a, None, 1, T0 + 40_000), ErrorCode::None);
        assert!(!c.tick(T0 + 45_000));
        assert!(c.tick(T0 + 45_001), "b's session expired");
        assert!(c.group("g").unwrap().members().iter().all(|m| m.member_id != b));
        assert_eq!(c.group("g").unwrap().state(), GroupState::PreparingRebalance);
        assert_eq!(c.heartbeat("g", &a, None, 1, T0 + 45_002), ErrorCode::RebalanceInProgress);
        let ta = parked(c.join_group(args("g", &a), T0 + 45_003));
        let r = join_response(&mut c, ta);
        assert_eq!(r.generation_id, 2);
        assert_eq!(r.members.len(), 1);
        // the last member expires too: the group becomes Empty with a new generation
        assert!(c.tick(T0 + 45_003 + 60_001), "a neither synced nor heartbeated");
        let g = c.group("g").unwrap();
        assert_eq!(g.state(), GroupState::Empty);
        assert_eq!(g.generation_id, 3);
    }

    #[test]
    fn rebalance_completes_at_the_timeout_with_the_members_that_rejoined() {
        let mut c = coord();
        let (_a, _b) = stable_pair(&mut c);
        let (_x, tx) = join_new(&mut c, "g", T0 + 10);
        // nobody else rejoins: the rebalance completes at its timeout with x alone
        c.tick(T0 + 10 + 60_000);
        let r = join_response(&mut c, tx);
        assert_eq!((r.generation_id, r.members.len()), (2, 1));
    }

    #[test]
    fn static_member_rejoins_without_rebalance_and_fences_the_old_id() {
        let mut c = coord();
        let mut s = args("g", "");
        s.group_instance_id = Some("i1".into());
        let t = parked(c.join_group(s.clone(), T0));
        c.tick(T0 + 1);
        let r = join_response(&mut c, t);
        let old = r.member_id.clone();
        assert!(old.starts_with("i1-"));
        let SyncOutcome::Parked(ts) = c.sync_group(
            SyncGroupArgs {
                group_id: "g".into(),
                generation_id: 1,
                member_id: old.clone(),
                group_instance_id: Some("i1".into()),
                assignments: vec![(old.clone(), Bytes::from_static(b"A"))],
                ..Default::default()
            },
            T0 + 2,
        ) else {
            panic!()
        };
        let _ = sync_response(&mut c, ts);
        // restart: unknown member id, same instance id and metadata: answered without a tick
        let t2 = parked(c.join_group(s.clone(), T0 + 100));
        let r2 = join_response(&mut c, t2);
        assert_eq!(r2.error_code, 0);
        assert_ne!(r2.member_id, old);
        assert_eq!(r2.generation_id, 1, "same generation");
        assert!(r2.skip_assignment, "v9 leader skips the assignment");
        let g = c.group("g").unwrap();
        assert_eq!(g.state(), GroupState::Stable);
        assert_eq!(g.members()[0].assignment, Bytes::from_static(b"A"), "assignment kept");
        // the old id is fenced
        assert_eq!(c.heartbeat("g", &old, Some("i1"), 1, T0 + 101), ErrorCode::FencedInstanceId);
        assert_eq!(c.heartbeat("g", &r2.member_id, Some("i1"), 1, T0 + 101), ErrorCode::None);
        // v8: the old leader id is returned and no members
        let mut s8 = s.clone();
        s8.version = 8;
        let t3 = parked(c.join_group(s8, T0 + 200));
        let r3 = join_response(&mut c, t3);
        assert_eq!(r3.leader, r2.member_id);
        assert!(r3.members.is_empty() && !r3.skip_assignment);
        // leave by instance id
        assert_eq!(
            c.leave_group("g", &[(String::new(), Some("i1".into()))], T0 + 300),
            Ok(vec![ErrorCode::None])
        );
        c.tick(T0 + 301);
        assert_eq!(c.group("g").unwrap().state(), GroupState::Empty);
    }

    #[test]
    fn static_member_with_another_protocol_triggers_a_rebalance() {
        let mut c = coord();
        let mut s = args("g", "");
        s.group_instance_id = Some("i1".into());
        s.protocols = vec![proto("range", b""), proto("rr", b"")];
        let t = parked(c.join_group(s.clone(), T0));
        c.tick(T0 + 1);
        let id = join_response(&mut c, t).member_id;
        let SyncOutcome::Parked(_) = c.sync_group(
            SyncGroupArgs { group_id: "g".into(), generation_id: 1, member_id: id, ..Default::default() },
            T0 + 2,
        ) else {
            panic!()
        };
        s.protocols = vec![proto("rr", b""), proto("range", b"")];
        let t2 = parked(c.join_group(s, T0 + 10));
        let r = join_response(&mut c, t2);
        assert_eq!(r.generation_id, 2);
        assert_eq!(r.protocol_name.as_deref(), Some("rr"));
    }

    #[test]
    fn leave_group_batch_with_per_member_errors() {
        let mut c = coord();
        let (a, b) = stable_pair(&mut c);
        let res = c.leave_group(
            "g",
            &[(a.clone(), None), ("ghost".into(), None), (b.clone(), Some("not-static".into()))],
            T0 + 10,
        );
        assert_eq!(res, Ok(vec![ErrorCode::None, ErrorCode::UnknownMemberId, ErrorCode::UnknownMemberId]));
        let g = c.group("g").unwrap();
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        assert_eq!(g.members().len(), 1);
        assert_eq!(c.leave_group("nope", &[(a, None)], T0), Ok(vec![ErrorCode::UnknownMemberId]));
        assert_eq!(c.leave_group("", &[], T0), Err(ErrorCode::InvalidGroupId));
    }

    #[test]
    fn offset_commit_validation() {
        let mut c = coord();
        // simple commit creates an Empty group
        assert_eq!(c.validate_offset_commit("s", -1, "", None, 8, T0), Ok(()));
        assert_eq!(c.group("s").unwrap().state(), GroupState::Empty);
        assert_eq!(c.validate_offset_commit("none", 3, "m", None, 8, T0), Err(ErrorCode::IllegalGeneration));
        assert_eq!(c.validate_offset_commit("none", 3, "m", None, 9, T0), Err(ErrorCode::GroupIdNotFound));
        let (a, _b) = stable_pair(&mut c);
        assert_eq!(c.validate_offset_commit("g", -1, "", None, 8, T0), Err(ErrorCode::UnknownMemberId));
        assert_eq!(c.validate_offset_commit("g", 0, &a, None, 8, T0), Err(ErrorCode::IllegalGeneration));
        assert_eq!(c.validate_offset_commit("g", 1, "x", None, 8, T0), Err(ErrorCode::UnknownMemberId));
        assert_eq!(c.validate_offset_commit("g", 1, &a, None, 8, T0), Ok(()));
        assert!(c.metadata_too_large(Some(&"x".repeat(4097))));
        assert!(!c.metadata_too_large(Some(&"x".repeat(4096))));
    }

    #[test]
    fn offsets_fetch_delete_and_group_deletion() {
        let mut c = coord();
        let o = |offset| CommittedOffset { offset, leader_epoch: 2, metadata: None, commit_timestamp: T0 };
        c.commit_offset("s", "t", 0, o(5));
        c.commit_offset("s", "t", 1, o(6));
        c.commit_offset("s", "u", 0, o(7));
        let none = BTreeSet::new();
        let all = c.fetch_offsets("s", None, &none);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1.iter().map(|f| f.offset).collect::<Vec<_>>(), vec![5, 6]);
        let some = c.fetch_offsets("s", Some(&[("t".into(), vec![1, 9])]), &none);
        assert_eq!(some[0].1[0].offset, 6);
        assert_eq!(some[0].1[1].offset, -1);
        let unstable: BTreeSet<_> = [("t".to_string(), 1)].into();
        assert_eq!(
            c.fetch_offsets("s", Some(&[("t".into(), vec![1])]), &unstable)[0].1[0].error,
            ErrorCode::UnstableOffsetCommit
        );
        assert_eq!(c.list_groups(&[], &[], T0)[0].state, "Empty");
        assert_eq!(c.delete_offsets("s", &[("u".into(), vec![0])], T0), Ok(vec![vec![ErrorCode::None]]));
        assert_eq!(c.fetch_offsets("s", None, &none).len(), 1);
        assert_eq!(c.delete_offsets("zz", &[], T0), Err(ErrorCode::GroupIdNotFound));
        assert_eq!(c.delete_group("s", T0), ErrorCode::None);
        assert_eq!(c.delete_group("s", T0), ErrorCode::GroupIdNotFound);
        assert!(c.fetch_offsets("s", None, &none).is_empty());
        assert_eq!(c.describe_group("s", T0).group_state, "Dead");
    }

    #[test]
    fn offset_delete_refuses_subscribed_topics_and_non_empty_groups() {
        let mut c = coord();
        let mut meta = vec![0u8, 0];
        let mut body = bytes::BytesMut::new();
        kafka_protocol::Encodable::encode(
            &ConsumerProtocolSubscription { topics: vec!["t".into()], ..Default::default() },
            &mut body,
            0,
        )
        .unwrap();
        meta.extend_from_slice(&body);
        let mut a = args("g", "");
        a.version = 3;
        a.protocols = vec![proto("range", &meta)];
        let t = parked(c.join_group(a, T0));
        c.tick(T0 + 1);
        let _ = join_response(&mut c, t);
        assert_eq!(
            c.delete_offsets("g", &[("t".into(), vec![0]), ("u".into(), vec![0])], T0 + 2),
            Ok(vec![vec![ErrorCode::GroupSubscribedToTopic], vec![ErrorCode::None]])
        );
        assert_eq!(c.delete_group("g", T0 + 2), ErrorCode::NonEmptyGroup);
        let mut k = args("k", "");
        k.version = 3;
        k.protocol_type = "connect".into();
        parked(c.join_group(k, T0));
        c.tick(T0 + 1);
        assert_eq!(c.delete_offsets("k", &[("t".into(), vec![0])], T0 + 2), Err(ErrorCode::NonEmptyGroup));
    }

    #[test]
    fn pending_sync_timeout_removes_members_that_never_sync() {
        let mut c = coord();
        let (a, ta) = join_new(&mut c, "g", T0);
        let (b, tb) = join_new(&mut c, "g", T0);
        settle(&mut c, T0 + 1);
        let _ = join_response(&mut c, ta);
        let _ = join_response(&mut c, tb);
        // only b syncs (and waits, as the leader never sends the assignment)
        let SyncOutcome::Parked(tsb) = c.sync_group(
            SyncGroupArgs {
                group_id: "g".into(),
                generation_id: 1,
                member_id: b.clone(),
                ..Default::default()
            },
            T0 + 2,
        ) else {
            panic!()
        };
        assert!(c.tick(T0 + 1 + 60_000));
        assert!(c.group("g").unwrap().members().iter().all(|m| m.member_id != a));
        assert_eq!(sync_response(&mut c, tsb).error_code, ErrorCode::RebalanceInProgress.code());
    }
}

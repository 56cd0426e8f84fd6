//! The member's state machine (Java's `AbstractCoordinator.MemberState` with its `Heartbeat`
//! timers), sans-IO: every method takes `now` and returns what to do. The consumer's task
//! drives joins; the heartbeat task drives [`GroupState::heartbeat_action`]. Both share one
//! `GroupState` behind a mutex (held only for these calls, never across an await).

use std::time::Duration;

use kafka_protocol::ErrorCode;
use tokio::time::Instant;

/// Where the member is in the group's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not in the group (before the first join, after leaving or losing the membership).
    Unjoined,
    /// JoinGroup / SyncGroup in progress.
    Rebalancing,
    /// Has an assignment for the current generation; heartbeats run.
    Stable,
}

/// A generation of the group as this member knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Generation id (-1: none).
    pub generation_id: i32,
    /// Our member id ("" before the broker gave us one).
    pub member_id: String,
    /// The protocol (assignor) the group selected.
    pub protocol: Option<String>,
}

impl Generation {
    /// No generation: what a member has before joining or after being fenced.
    pub fn none() -> Generation {
        Generation { generation_id: -1, member_id: String::new(), protocol: None }
    }
}

/// What the heartbeat task should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Nothing to do until this instant (or until woken).
    Sleep(Option<Instant>),
    /// Send a Heartbeat for this generation.
    Send(Generation),
    /// `max.poll.interval.ms` passed without a poll: leave the group (`send_leave` is false for
    /// static members, which keep their place until the session times out).
    LeaveForPollTimeout { generation: Generation, send_leave: bool },
}

/// Why the member must join again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejoinReason {
    /// First join or after leaving.
    Initial,
    /// The coordinator said the group is rebalancing.
    RebalanceInProgress,
    /// Our membership was lost (unknown member, illegal generation, poll timeout).
    MembershipLost(String),
    /// Subscription or the partition count of a subscribed topic changed.
    MetadataChanged,
    /// A cooperative rebalance revoked partitions; the follow-up rebalance hands them out.
    CooperativeFollowUp,
    /// The application asked (`enforce_rebalance`), for this reason.
    Requested(String),
}

/// Shared group state: the member state, generation, timers and pending signals.
#[derive(Debug)]
pub struct GroupState {
    state: MemberState,
    generation: Generation,
    rejoin: Option<RejoinReason>,
    /// Set when the generation was reset while we owned partitions: the consumer calls
    /// `on_partitions_lost` before its next join.
    lost: bool,
    /// A fatal error (e.g. FENCED_INSTANCE_ID): every later call fails with it.
    fatal: Option<String>,
    static_member: bool,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    max_poll_interval: Duration,
    retry_backoff: Duration,
    last_poll: Instant,
    last_heartbeat_send: Option<Instant>,
    last_heartbeat_receive: Instant,
    heartbeat_in_flight: bool,
    /// After a failed heartbeat: retry at this instant instead of the interval.
    heartbeat_retry_at: Option<Instant>,
}

impl GroupState {
    /// A new, unjoined member.
    pub fn new(
        now: Instant,
        session_timeout: Duration,
        heartbeat_interval: Duration,
        max_poll_interval: Duration,
        retry_backoff: Duration,
        static_member: bool,
    ) -> GroupState {
        GroupState {
            state: MemberState::Unjoined,
            generation: Generation::none(),
            rejoin: Some(RejoinReason::Initial),
            lost: false,
            fatal: None,
            static_member,
            session_timeout,
            heartbeat_interval,
            max_poll_interval,
            retry_backoff,
            last_poll: now,
            last_heartbeat_send: None,
            last_heartbeat_receive: now,
            heartbeat_in_flight: false,
            heartbeat_retry_at: None,
        }
    }

    /// The member state.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The current generation.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Why a join is needed, if it is.
    pub fn rejoin_reason(&self) -> Option<&RejoinReason> {
        self.rejoin.as_ref()
    }

    /// The fatal error, if the member is fenced for good.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Takes the "partitions lost" signal.
    pub fn take_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// Asks for a rejoin (keeps the first reason).
    pub fn request_rejoin(&mut self, reason: RejoinReason) {
        if self.rejoin.is_none() {
            tracing::info!(?reason, "requesting a rejoin");
            self.rejoin = Some(reason);
        }
    }

    /// The application polled: resets the poll timer.
    pub fn polled(&mut self, now: Instant) {
        self.last_poll = now;
    }

    /// A join starts.
    pub fn join_started(&mut self) {
        self.state = MemberState::Rebalancing;
        self.rejoin = None;
    }

    /// JoinGroup answered MEMBER_ID_REQUIRED (KIP-394) or gave us a member id.
    pub fn set_member_id(&mut self, member_id: String) {
        self.generation.member_id = member_id;
    }

    /// The join finished: a new generation with its assignment.
    pub fn join_completed(&mut self, now: Instant, generation: Generation) {
        tracing::info!(generation = generation.generation_id, member = %generation.member_id, "joined the group");
        self.generation = generation;
        self.state = MemberState::Stable;
        self.last_heartbeat_receive = now;
        self.last_heartbeat_send = Some(now);
        self.heartbeat_retry_at = None;
        self.last_poll = now;
    }

    /// A join failed with a retriable error: go back to unjoined and try again.
    pub fn join_failed(&mut self, reason: RejoinReason) {
        self.state = MemberState::Unjoined;
        self.rejoin = Some(reason);
    }

    /// Forgets the generation (and, unless `keep_member_id`, the member id); marks owned
    /// partitions lost.
    pub fn reset_generation(&mut self, why: &str, keep_member_id: bool) {
        tracing::info!(why, "resetting the generation");
        let member_id = std::mem::take(&mut self.generation.member_id);
        self.generation = Generation::none();
        if keep_member_id {
            self.generation.member_id = member_id;
        }
        self.state = MemberState::Unjoined;
        self.lost = true;
        self.rejoin = Some(RejoinReason::MembershipLost(why.to_owned()));
    }

    /// A fatal membership error.
    pub fn set_fatal(&mut self, message: String) {
        tracing::error!(%message, "group membership failed fatally");
        self.fatal = Some(message);
        self.state = MemberState::Unjoined;
    }

    /// The member left (close or unsubscribe).
    pub fn left(&mut self) {
        self.generation = Generation::none();
        self.state = MemberState::Unjoined;
        self.rejoin = Some(RejoinReason::Initial);
    }

    /// What the heartbeat task does at `now`.
    pub fn heartbeat_action(&mut self, now: Instant) -> HeartbeatAction {
        if self.state != MemberState::Stable || self.fatal.is_some() {
            return HeartbeatAction::Sleep(None);
        }
        let poll_deadline = self.last_poll + self.max_poll_interval;
        if now >= poll_deadline {
            let generation = self.generation.clone();
            tracing::warn!(
                max_poll_interval_ms = self.max_poll_interval.as_millis() as u64,
                "the application did not poll within max.poll.interval.ms; leaving the group"
            );
            let send_leave = !self.static_member;
            // a static member keeps its member id: the broker still knows it by instance id
            self.reset_generation("max.poll.interval.ms expired", false);
            return HeartbeatAction::LeaveForPollTimeout { generation, send_leave };
        }
        if self.heartbeat_in_flight {
            return HeartbeatAction::Sleep(Some(poll_deadline));
        }
        let due = match self.heartbeat_retry_at {
            Some(t) => t,
            None => self.last_heartbeat_send.map_or(now, |t| t + self.heartbeat_interval),
        };
        if now >= due {
            self.heartbeat_in_flight = true;
            self.last_heartbeat_send = Some(now);
            self.heartbeat_retry_at = None;
            return HeartbeatAction::Send(self.generation.clone());
        }
        HeartbeatAction::Sleep(Some(due.min(poll_deadline)))
    }

    /// A heartbeat answered `code` (or failed to be sent: `None`) for `generation`.
    /// Returns true when the coordinator must be looked up again.
    pub fn heartbeat_completed(&mut self, now: Instant, generation: i32, code: Option<ErrorCode>) -> bool {
        self.heartbeat_in_flight = false;
        if generation != self.generation.generation_id {
            return false; // an answer for a generation we already left behind
        }
        match code {
            Some(ErrorCode::None) => {
                self.last_heartbeat_receive = now;
                false
            }
            Some(ErrorCode::RebalanceInProgress) => {
                self.last_heartbeat_receive = now;
                if self.state == MemberState::Stable {
                    self.request_rejoin(RejoinReason::RebalanceInProgress);
                }
                false
            }
            Some(ErrorCode::IllegalGeneration) | Some(ErrorCode::UnknownMemberId) => {
                let why = format!("heartbeat answered {code:?}");
                let keep = code == Some(ErrorCode::IllegalGeneration);
                self.reset_generation(&why, keep);
                false
            }
            Some(ErrorCode::FencedInstanceId) => {
                self.set_fatal(
                    "another consumer with the same group.instance.id fenced this one (FENCED_INSTANCE_ID)"
                        .into(),
                );
                false
            }
            Some(ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                self.heartbeat_retry_at = Some(now + self.retry_backoff);
                self.check_session(now);
                true
            }
            other => {
                tracing::warn!(code = ?other, "heartbeat failed; retrying");
                self.heartbeat_retry_at = Some(now + self.retry_backoff);
                self.check_session(now);
                other.is_none()
            }
        }
    }

    /// Without a successful heartbeat for a session timeout the coordinator has expired us.
    fn check_session(&mut self, now: Instant) {
        if now >= self.last_heartbeat_receive + self.session_timeout {
            self.reset_generation("no heartbeat reached the coordinator within session.timeout.ms", false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable(now: Instant) -> GroupState {
        let mut s = GroupState::new(
            now,
            Duration::from_secs(45),
            Duration::from_secs(3),
            Duration::from_secs(300),
            Duration::from_millis(100),
            false,
        );
        s.join_started();
        s.join_completed(
            now,
            Generation { generation_id: 1, member_id: "m".into(), protocol: Some("range".into()) },
        );
        s
    }

    #[test]
    fn heartbeats_every_interval_and_one_at_a_time() {
        let t0 = Instant::now();
        let mut s = stable(t0);
        assert_eq!(s.heartbeat_action(t0), HeartbeatAction::Sleep(Some(t0 + Duration::from_secs(3))));
        let t1 = t0 + Duration::from_secs(3);
        assert!(matches!(s.heartbeat_action(t1), HeartbeatAction::Send(g) if g.generation_id == 1));
        assert!(matches!(s.heartbeat_action(t1), HeartbeatAction::Sleep(_)), "one in flight");
        s.heartbeat_completed(t1, 1, Some(ErrorCode::None));
        assert_eq!(s.heartbeat_action(t1), HeartbeatAction::Sleep(Some(t1 + Duration::from_secs(3))));
    }

    #[test]
    fn rebalance_in_progress_requests_a_rejoin_and_fencing_resets() {
        let t0 = Instant::now();
        let mut s = stable(t0);
        s.heartbeat_completed(t0, 1, Some(ErrorCode::RebalanceInProgress));
        assert_eq!(s.rejoin_reason(), Some(&RejoinReason::RebalanceInProgress));
        assert!(!s.take_lost());
        let mut s = stable(t0);
        s.heartbeat_completed(t0, 1, Some(ErrorCode::UnknownMemberId));
        assert!(s.take_lost());
        assert_eq!(s.generation(), &Generation::none());
        assert_eq!(s.state(), MemberState::Unjoined);
        // an answer for an older generation changes nothing
        let mut s = stable(t0);
        s.heartbeat_completed(t0, 0, Some(ErrorCode::UnknownMemberId));
        assert_eq!(s.state(), MemberState::Stable);
    }

    #[test]
    fn poll_timeout_leaves_dynamic_members_only_with_a_leave_request() {
        let t0 = Instant::now();
        let mut s = stable(t0);
        s.polled(t0);
        let late = t0 + Duration::from_secs(301);
        match s.heartbeat_action(late) {
            HeartbeatAction::LeaveForPollTimeout { generation, send_leave } => {
                assert_eq!(generation.generation_id, 1);
                assert!(send_leave);
            }
            other => panic!("expected a leave, got {other:?}"),
        }
        assert!(s.take_lost());
        assert!(matches!(s.rejoin_reason(), Some(RejoinReason::MembershipLost(_))));
        let mut s = GroupState::new(
            t0,
            Duration::from_secs(45),
            Duration::from_secs(3),
            Duration::from_secs(300),
            Duration::from_millis(100),
            true,
        );
        s.join_started();
        s.join_completed(t0, Generation { generation_id: 1, member_id: "m".into(), protocol: None });
        assert!(matches!(
            s.heartbeat_action(late),
            HeartbeatAction::LeaveForPollTimeout { send_leave: false, .. }
        ));
    }

    #[test]
    fn coordinator_errors_retry_after_backoff_and_expire_the_session() {
        let t0 = Instant::now();
        let mut s = stable(t0);
        let t1 = t0 + Duration::from_secs(3);
        assert!(matches!(s.heartbeat_action(t1), HeartbeatAction::Send(_)));
        assert!(s.heartbeat_completed(t1, 1, Some(ErrorCode::NotCoordinator)));
        assert_eq!(s.heartbeat_action(t1), HeartbeatAction::Sleep(Some(t1 + Duration::from_millis(100))));
        let t2 = t0 + Duration::from_secs(46);
        s.polled(t2);
        assert!(matches!(s.heartbeat_action(t2), HeartbeatAction::Send(_)));
        s.heartbeat_completed(t2, 1, None);
        assert!(s.take_lost(), "no successful heartbeat for a session: membership lost");
    }

    #[test]
    fn fenced_instance_is_fatal() {
        let t0 = Instant::now();
        let mut s = stable(t0);
        s.heartbeat_completed(t0, 1, Some(ErrorCode::FencedInstanceId));
        assert!(s.fatal().unwrap().contains("FENCED_INSTANCE_ID"));
        assert_eq!(s.heartbeat_action(t0), HeartbeatAction::Sleep(None));
    }
}

//! The heartbeat task (Java's `HeartbeatThread`): independent of how often the application
//! polls, it sends Heartbeat every `heartbeat.interval.ms` while the member is stable, turns
//! the answers into state changes, and leaves the group when `max.poll.interval.ms` passes
//! without a poll. All decisions are [`GroupState::heartbeat_action`] and
//! [`GroupState::heartbeat_completed`]; this task only sends and sleeps.
//!
//! [`GroupState::heartbeat_action`]: super::state::GroupState::heartbeat_action
//! [`GroupState::heartbeat_completed`]: super::state::GroupState::heartbeat_completed

use std::sync::Arc;

use kafka_client::conn::RequestOptions;
use kafka_protocol::ErrorCode;
use kafka_protocol::generated::HeartbeatRequest;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::coordinator::GroupContext;
use super::state::HeartbeatAction;

/// Aborts the heartbeat task when the consumer goes away.
#[derive(Debug)]
pub struct HeartbeatTask(JoinHandle<()>);

impl Drop for HeartbeatTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the heartbeat task for `ctx`.
pub fn spawn(ctx: Arc<GroupContext>) -> HeartbeatTask {
    HeartbeatTask(tokio::spawn(run(ctx)))
}

async fn run(ctx: Arc<GroupContext>) {
    loop {
        let action = ctx.state().heartbeat_action(Instant::now());
        match action {
            HeartbeatAction::Sleep(deadline) => {
                let far = Instant::now() + ctx.session_timeout;
                tokio::select! {
                    _ = ctx.wake.notified() => {}
                    _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => {}
                }
            }
            HeartbeatAction::Send(generation) => {
                let span = crate::membership::member_span(&ctx);
                let code = send(&ctx, generation.generation_id, &generation.member_id).instrument(span).await;
                let refind = ctx.state().heartbeat_completed(Instant::now(), generation.generation_id, code);
                if refind {
                    ctx.coordinator_failed(code);
                }
            }
            HeartbeatAction::LeaveForPollTimeout { generation, send_leave } => {
                if send_leave {
                    ctx.leave(&generation.member_id, "consumer poll timeout has expired").await;
                }
            }
        }
    }
}

/// One Heartbeat; `None` when it could not be sent or answered.
async fn send(ctx: &GroupContext, generation_id: i32, member_id: &str) -> Option<ErrorCode> {
    let conn = match ctx.coordinator().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "heartbeat: no coordinator");
            return None;
        }
    };
    let req = HeartbeatRequest {
        group_id: ctx.group_id.clone(),
        generation_id,
        member_id: member_id.to_owned(),
        group_instance_id: ctx.instance_id.clone(),
        ..Default::default()
    };
    match conn.send_with(&req, RequestOptions { version: None, timeout: Some(ctx.request_timeout) }).await {
        Ok(r) => {
            let code = ErrorCode::from(r.error_code);
            tracing::trace!(?code, generation_id, "heartbeat answered");
            Some(code)
        }
        Err(e) => {
            tracing::debug!(error = %e, "heartbeat failed");
            None
        }
    }
}

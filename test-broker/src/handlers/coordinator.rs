//! FindCoordinator (key 10): groups (key type 0) and transactional ids (key type 1), single key
//! (v0-3) or batched keys (v4+).

use kafka_protocol::ErrorCode;
use kafka_protocol::generated::find_coordinator_response::Coordinator;
use kafka_protocol::generated::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::Ctx;
use crate::state::State;

fn lookup(st: &State, key_type: i8, key: &str) -> Coordinator {
    let mut c = Coordinator { key: key.to_owned(), node_id: -1, port: -1, ..Default::default() };
    if key_type != 0 && key_type != 1 {
        c.error_code = ErrorCode::InvalidRequest.code();
        c.error_message = Some(format!("unknown coordinator key type {key_type}"));
        return c;
    }
    if key_type == 1 && key.is_empty() {
        c.error_code = ErrorCode::InvalidRequest.code();
        c.error_message = Some("transactional id must not be empty".into());
        return c;
    }
    match st.coordinator_for(key_type, key).and_then(|id| st.brokers.iter().find(|b| b.id == id)) {
        Some(b) => {
            c.node_id = b.id;
            c.host = "127.0.0.1".into();
            c.port = b.port as i32;
        }
        None => {
            c.error_code = ErrorCode::CoordinatorNotAvailable.code();
            c.error_message = Some("no live broker".into());
        }
    }
    c
}

pub(crate) fn find(ctx: &Ctx<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let st = ctx.shared.state();
    if ctx.version >= 4 {
        let coordinators = req.coordinator_keys.iter().map(|k| lookup(&st, req.key_type, k)).collect();
        return FindCoordinatorResponse { coordinators, ..Default::default() };
    }
    let c = lookup(&st, req.key_type, &req.key);
    FindCoordinatorResponse {
        error_code: c.error_code,
        error_message: c.error_message,
        node_id: c.node_id,
        host: c.host,
        port: c.port,
        ..Default::default()
    }
}

pub(crate) fn error_response(
    ctx: &Ctx<'_>,
    req: &FindCoordinatorRequest,
    code: i16,
) -> FindCoordinatorResponse {
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| Coordinator {
                key: k.clone(),
                node_id: -1,
                port: -1,
                error_code: code,
                ..Default::default()
            })
            .collect();
        return FindCoordinatorResponse { coordinators, ..Default::default() };
    }
    FindCoordinatorResponse { error_code: code, node_id: -1, port: -1, ..Default::default() }
}

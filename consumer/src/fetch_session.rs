//! Incremental fetch sessions (KIP-227), after Java's `FetchSessionHandler`; sans-IO.
//!
//! One handler per broker. The first request is full (every partition, session id 0 or the
//! old one, epoch 0) and asks the broker for a session; if the answer carries a session id,
//! later requests are incremental: epoch 1, 2, …, listing only partitions that were added or
//! whose fetch parameters changed (offset, max bytes, leader epoch), and the partitions
//! dropped since the last request as forgotten topics. The broker keeps fetching the
//! partitions left out at the offsets it has cached. A broker that answers session id 0 (the
//! test broker, or one out of session slots) gets full requests every time.
//!
//! Any top-level error, or a request that got no answer, ends the session: the next request
//! is full (FETCH_SESSION_ID_NOT_FOUND starts over with id 0; other errors, such as
//! INVALID_FETCH_SESSION_EPOCH, close the old session and ask for a new one). A request whose
//! answer was never handled (a dropped fetch) leaves the epoch where it was, so the next
//! request repeats it and the broker's INVALID_FETCH_SESSION_EPOCH resets the session.

use std::collections::BTreeMap;

use kafka_protocol::ErrorCode;
use kafka_protocol::Uuid;

use crate::record::TopicPartition;

/// Session id meaning "no session".
const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full request that creates a session.
const INITIAL_EPOCH: i32 = 0;

/// What the request carries for one partition; a change means it must be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    pub(crate) topic_id: Uuid,
    pub(crate) fetch_offset: i64,
    pub(crate) max_bytes: i32,
    /// KIP-320 current leader epoch (-1 unknown).
    pub(crate) current_leader_epoch: i32,
    /// The epoch of the last fetched batch (-1 unknown); the broker answers a diverging
    /// epoch when its log does not hold the fetch offset under that epoch.
    pub(crate) last_fetched_epoch: i32,
}

/// The session part of one Fetch request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SessionRequest {
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// Partitions to list in the request (all of them when `full`).
    pub(crate) to_send: Vec<(TopicPartition, PartitionFetch)>,
    /// Partitions to list as forgotten (only in incremental requests).
    pub(crate) forgotten: Vec<(TopicPartition, Uuid)>,
    pub(crate) full: bool,
}

/// One broker's fetch session.
#[derive(Debug, Default)]
pub(crate) struct FetchSessionHandler {
    session_id: i32,
    /// The epoch the next request carries.
    epoch: i32,
    /// The partitions the broker has in the session, as last sent.
    session: BTreeMap<TopicPartition, PartitionFetch>,
    /// Whether the last request built was full (to read its answer).
    last_full: bool,
}

impl FetchSessionHandler {
    /// The request for fetching `next` (every fetchable partition led by this broker).
    pub(crate) fn build(&mut self, next: &BTreeMap<TopicPartition, PartitionFetch>) -> SessionRequest {
        let full = self.epoch == INITIAL_EPOCH;
        self.last_full = full;
        if full {
            self.session = next.clone();
            return SessionRequest {
                session_id: self.session_id,
                epoch: INITIAL_EPOCH,
                to_send: next.iter().map(|(tp, d)| (tp.clone(), *d)).collect(),
                forgotten: Vec::new(),
                full: true,
            };
        }
        let to_send: Vec<(TopicPartition, PartitionFetch)> = next
            .iter()
            .filter(|(tp, d)| self.session.get(*tp) != Some(*d))
            .map(|(tp, d)| (tp.clone(), *d))
            .collect();
        let forgotten: Vec<(TopicPartition, Uuid)> = self
            .session
            .iter()
            .filter(|(tp, _)| !next.contains_key(*tp))
            .map(|(tp, d)| (tp.clone(), d.topic_id))
            .collect();
        self.session = next.clone();
        SessionRequest { session_id: self.session_id, epoch: self.epoch, to_send, forgotten, full: false }
    }

    /// Reads a Fetch answer's session fields; `false` when the answer is a session error and
    /// carries no partition data.
    pub(crate) fn handle_response(&mut self, error: ErrorCode, session_id: i32) -> bool {
        if error != ErrorCode::None {
            tracing::debug!(?error, session_id = self.session_id, "fetch session error; next fetch is full");
            if error == ErrorCode::FetchSessionIdNotFound {
                self.session_id = INVALID_SESSION_ID;
            }
            self.epoch = INITIAL_EPOCH;
            return false;
        }
        if session_id == INVALID_SESSION_ID {
            // no session (full answer), or the broker closed it (incremental answer)
            self.session_id = INVALID_SESSION_ID;
            self.epoch = INITIAL_EPOCH;
        } else if self.last_full || session_id != self.session_id {
            self.session_id = session_id;
            self.epoch = 1;
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        true
    }

    /// The request failed or was never answered: the next one is full (closing the old session).
    pub(crate) fn handle_error(&mut self) {
        self.epoch = INITIAL_EPOCH;
    }

    /// Whether a session is open (incremental requests).
    #[cfg(test)]
    fn incremental(&self) -> bool {
        self.epoch != INITIAL_EPOCH
    }
}

/// Epochs wrap from `i32::MAX` to 1 (0 would mean a new session).
fn next_epoch(e: i32) -> i32 {
    if e == i32::MAX { 1 } else { e + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(offset: i64) -> PartitionFetch {
        PartitionFetch {
            topic_id: Uuid::default(),
            fetch_offset: offset,
            max_bytes: 1024,
            current_leader_epoch: 3,
            last_fetched_epoch: -1,
        }
    }

    fn next(parts: &[(i32, i64)]) -> BTreeMap<TopicPartition, PartitionFetch> {
        parts.iter().map(|(p, o)| (TopicPartition::new("t", *p), part(*o))).collect()
    }

    fn sent(r: &SessionRequest) -> Vec<(i32, i64)> {
        r.to_send.iter().map(|(tp, d)| (tp.partition, d.fetch_offset)).collect()
    }

    #[test]
    fn full_then_incremental_with_only_changes_and_forgotten_partitions() {
        let mut h = FetchSessionHandler::default();
        let r = h.build(&next(&[(0, 0), (1, 0), (2, 0)]));
        assert!(r.full);
        assert_eq!((r.session_id, r.epoch), (0, 0));
        assert_eq!(sent(&r), [(0, 0), (1, 0), (2, 0)]);
        assert!(h.handle_response(ErrorCode::None, 77));
        assert!(h.incremental());

        // partition 0 advanced, 1 unchanged, 2 dropped (buffered / paused), 3 added
        let r = h.build(&next(&[(0, 5), (1, 0), (3, 0)]));
        assert!(!r.full);
        assert_eq!((r.session_id, r.epoch), (77, 1));
        assert_eq!(sent(&r), [(0, 5), (3, 0)]);
        assert_eq!(r.forgotten.iter().map(|(tp, _)| tp.partition).collect::<Vec<_>>(), [2]);
        assert!(h.handle_response(ErrorCode::None, 77));

        // nothing changed: an empty incremental request keeps the long poll going
        let r = h.build(&next(&[(0, 5), (1, 0), (3, 0)]));
        assert_eq!((r.epoch, r.to_send.len(), r.forgotten.len()), (2, 0, 0));
        assert!(h.handle_response(ErrorCode::None, 77));
        // a changed leader epoch is a change
        let mut n = next(&[(0, 5), (1, 0), (3, 0)]);
        n.get_mut(&TopicPartition::new("t", 1)).unwrap().current_leader_epoch = 4;
        let r = h.build(&n);
        assert_eq!((r.epoch, sent(&r)), (3, vec![(1, 0)]));
    }

    #[test]
    fn a_broker_without_sessions_gets_full_fetches() {
        let mut h = FetchSessionHandler::default();
        for _ in 0..3 {
            let r = h.build(&next(&[(0, 0), (1, 0)]));
            assert!(r.full, "session id 0 means no session");
            assert_eq!((r.session_id, r.epoch, r.to_send.len()), (0, 0, 2));
            assert!(h.handle_response(ErrorCode::None, 0));
        }
    }

    #[test]
    fn session_errors_and_failures_fall_back_to_full_fetches() {
        let mut h = FetchSessionHandler::default();
        h.build(&next(&[(0, 0)]));
        h.handle_response(ErrorCode::None, 9);
        h.build(&next(&[(0, 1)]));
        // INVALID_FETCH_SESSION_EPOCH: close the old session, ask for a new one
        assert!(!h.handle_response(ErrorCode::InvalidFetchSessionEpoch, 0));
        let r = h.build(&next(&[(0, 1), (1, 0)]));
        assert!(r.full);
        assert_eq!((r.session_id, r.epoch, r.to_send.len()), (9, 0, 2));
        h.handle_response(ErrorCode::None, 10);
        let r = h.build(&next(&[(0, 2), (1, 0)]));
        assert_eq!((r.session_id, r.epoch), (10, 1));
        // FETCH_SESSION_ID_NOT_FOUND: start over without a session id
        assert!(!h.handle_response(ErrorCode::FetchSessionIdNotFound, 0));
        let r = h.build(&next(&[(0, 2), (1, 0)]));
        assert_eq!((r.session_id, r.epoch, r.full), (0, 0, true));
        h.handle_response(ErrorCode::None, 11);
        // a request that failed on the wire
        h.build(&next(&[(0, 3), (1, 0)]));
        h.handle_error();
        let r = h.build(&next(&[(0, 3), (1, 0)]));
        assert_eq!((r.session_id, r.epoch, r.full, r.to_send.len()), (11, 0, true, 2));
        // the broker closing the session in an incremental answer
        h.handle_response(ErrorCode::None, 11);
        h.build(&next(&[(0, 3), (1, 0)]));
        h.handle_response(ErrorCode::None, 0);
        assert!(h.build(&next(&[(0, 3)])).full);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(1), 2);
    }
}

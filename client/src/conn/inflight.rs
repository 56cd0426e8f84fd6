//! Requests in flight on one connection, matched to responses by correlation id.
//!
//! Pure bookkeeping (no I/O): the connection's reader task calls [`InFlight::complete`] for
//! each response frame; a request future that is dropped calls [`InFlight::abandon`], which
//! keeps a tombstone so its late response is recognised and discarded rather than taken for
//! a protocol violation.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ApiKey;
use tokio::sync::oneshot;

use crate::error::Error;

/// The receiving end a request future awaits.
pub(crate) type ResponseRx = oneshot::Receiver<Result<Bytes, Error>>;

#[derive(Debug)]
enum Entry {
    Waiting { api: ApiKey, tx: oneshot::Sender<Result<Bytes, Error>> },
    Abandoned { api: ApiKey },
}

/// What became of a response frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Handed to its waiter.
    Delivered(ApiKey),
    /// Its request was abandoned (the future was dropped); the frame is discarded.
    Discarded(ApiKey),
    /// No request has this correlation id: the stream is out of sync.
    Unexpected,
}

/// The requests in flight on one connection.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    entries: HashMap<i32, Entry>,
    next_id: i32,
}

impl InFlight {
    /// Allocates a correlation id for a request whose response will be awaited.
    pub(crate) fn register(&mut self, api: ApiKey) -> (i32, ResponseRx) {
        let id = self.next_correlation_id();
        let (tx, rx) = oneshot::channel();
        self.entries.insert(id, Entry::Waiting { api, tx });
        (id, rx)
    }

    /// Allocates a correlation id for a request that gets no response (produce with acks=0).
    pub(crate) fn next_correlation_id(&mut self) -> i32 {
        // Skip ids still in use after wrapping (2^31 requests on one connection).
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(0);
            if !self.entries.contains_key(&id) {
                return id;
            }
        }
    }

    /// The request's future was dropped: its response, when it comes, is discarded.
    pub(crate) fn abandon(&mut self, id: i32) {
        if let Some(Entry::Waiting { api, .. }) = self.entries.get(&id) {
            let api = *api;
            self.entries.insert(id, Entry::Abandoned { api });
        }
    }

    /// Forgets a request entirely (its response will be unexpected). Used when the connection
    /// is being closed anyway.
    pub(crate) fn remove(&mut self, id: i32) {
        self.entries.remove(&id);
    }

    /// Hands a response frame to the request with correlation id `id`.
    pub(crate) fn complete(&mut self, id: i32, frame: Bytes) -> Completion {
        match self.entries.remove(&id) {
            Some(Entry::Waiting { api, tx }) => {
                // The receiver may have gone between abandon-on-drop and now; nothing to do.
                let _ = tx.send(Ok(frame));
                Completion::Delivered(api)
            }
            Some(Entry::Abandoned { api }) => Completion::Discarded(api),
            None => Completion::Unexpected,
        }
    }

    /// Fails every waiter with `err` and forgets every request.
    pub(crate) fn fail_all(&mut self, err: &Error) {
        for (_, e) in self.entries.drain() {
            if let Entry::Waiting { tx, .. } = e {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }

    /// Requests still awaiting a response (abandoned ones included: the broker still owes them).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BrokerRef;

    #[test]
    fn responses_reach_their_own_waiters_in_any_order() {
        let mut f = InFlight::default();
        let (a, mut ra) = f.register(ApiKey::Metadata);
        let (b, mut rb) = f.register(ApiKey::Fetch);
        assert_ne!(a, b);
        assert_eq!(f.complete(b, Bytes::from_static(b"B")), Completion::Delivered(ApiKey::Fetch));
        assert_eq!(f.complete(a, Bytes::from_static(b"A")), Completion::Delivered(ApiKey::Metadata));
        assert_eq!(ra.try_recv().unwrap().unwrap(), "A");
        assert_eq!(rb.try_recv().unwrap().unwrap(), "B");
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn abandoned_responses_are_discarded_and_unknown_ids_flagged() {
        let mut f = InFlight::default();
        let (a, ra) = f.register(ApiKey::Produce);
        drop(ra);
        f.abandon(a);
        assert_eq!(f.len(), 1, "the broker still owes the response");
        assert_eq!(f.complete(a, Bytes::new()), Completion::Discarded(ApiKey::Produce));
        assert_eq!(
            f.complete(a, Bytes::new()),
            Completion::Unexpected,
            "a second response is a protocol error"
        );
        assert_eq!(f.complete(999, Bytes::new()), Completion::Unexpected);
    }

    #[test]
    fn fail_all_reaches_every_waiter() {
        let mut f = InFlight::default();
        let (_, mut r1) = f.register(ApiKey::Produce);
        let (_, mut r2) = f.register(ApiKey::Fetch);
        let err =
            Error::Disconnected { broker: BrokerRef { id: 1, addr: "a:1".into() }, reason: "eof".into() };
        f.fail_all(&err);
        assert!(r1.try_recv().unwrap().is_err());
        assert!(r2.try_recv().unwrap().is_err());
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn correlation_ids_wrap_without_reusing_live_ids() {
        let mut f = InFlight { next_id: i32::MAX, ..Default::default() };
        let (a, _ra) = f.register(ApiKey::Metadata);
        assert_eq!(a, i32::MAX);
        let (b, _rb) = f.register(ApiKey::Metadata);
        assert_eq!(b, 0);
        f.next_id = i32::MAX;
        let (c, _rc) = f.register(ApiKey::Metadata);
        assert_eq!(c, 1, "skips MAX and 0, both still in flight");
    }
}

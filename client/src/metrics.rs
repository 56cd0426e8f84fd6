//! Per-broker network counters (Java's `NetworkClient` metrics): requests, responses, errors,
//! bytes in and out, request latency and connection churn, readable at any time through
//! [`ClientMetrics::snapshot`].
//!
//! The counters are relaxed atomics owned by one [`BrokerCounters`] per node; a connection's
//! reader and writer bump them with no lock, so reading metrics never slows the I/O path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The live counters of one broker (node id), shared by all its connections.
#[derive(Debug, Default)]
pub struct BrokerCounters {
    requests: AtomicU64,
    responses: AtomicU64,
    failed_requests: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    latency_total_us: AtomicU64,
    latency_max_us: AtomicU64,
    connections_created: AtomicU64,
    connection_failures: AtomicU64,
    connections_closed: AtomicU64,
}

impl BrokerCounters {
    /// A request frame of `bytes` (size prefix included) was queued for the wire.
    pub(crate) fn request_sent(&self, bytes: usize) {
        self.requests.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }

    /// A frame of `bytes` (size prefix included) arrived.
    pub(crate) fn frame_received(&self, bytes: usize) {
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }

    /// A response was matched to its request after `latency`.
    pub(crate) fn response(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.responses.fetch_add(1, Relaxed);
        self.latency_total_us.fetch_add(us, Relaxed);
        self.latency_max_us.fetch_max(us, Relaxed);
    }

    /// A request ended without a response (timeout or lost connection).
    pub(crate) fn request_failed(&self) {
        self.failed_requests.fetch_add(1, Relaxed);
    }

    /// A connection attempt succeeded (`true`) or failed (`false`).
    pub(crate) fn connect_attempt(&self, ok: bool) {
        if ok {
            self.connections_created.fetch_add(1, Relaxed);
        } else {
            self.connection_failures.fetch_add(1, Relaxed);
        }
    }

    /// An established connection closed, for any reason.
    pub(crate) fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> BrokerMetrics {
        let responses = self.responses.load(Relaxed);
        let total = self.latency_total_us.load(Relaxed);
        BrokerMetrics {
            requests: self.requests.load(Relaxed),
            responses,
            failed_requests: self.failed_requests.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            request_latency_avg: (responses > 0).then(|| Duration::from_micros(total / responses)),
            request_latency_max: Duration::from_micros(self.latency_max_us.load(Relaxed)),
            connections_created: self.connections_created.load(Relaxed),
            connection_failures: self.connection_failures.load(Relaxed),
            connections_closed: self.connections_closed.load(Relaxed),
        }
    }
}

/// A point-in-time copy of one broker's counters (totals since the client started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerMetrics {
    /// Requests sent (`request-total`).
    pub requests: u64,
    /// Responses received (`response-total`).
    pub responses: u64,
    /// Requests that ended without a response: timed out, or their connection was lost.
    pub failed_requests: u64,
    /// Bytes written, size prefixes included (`outgoing-byte-total`).
    pub bytes_sent: u64,
    /// Bytes read, size prefixes included (`incoming-byte-total`).
    pub bytes_received: u64,
    /// Mean time from queueing a request to matching its response (`request-latency-avg`);
    /// `None` before the first response.
    pub request_latency_avg: Option<Duration>,
    /// Longest such time (`request-latency-max`).
    pub request_latency_max: Duration,
    /// Connections established, handshake included (`connection-creation-total`).
    pub connections_created: u64,
    /// Connection attempts that failed.
    pub connection_failures: u64,
    /// Established connections that closed (`connection-close-total`).
    pub connections_closed: u64,
}

/// Every broker's counters, keyed by node id. Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct ClientMetrics {
    brokers: Arc<Mutex<BTreeMap<i32, Arc<BrokerCounters>>>>,
}

impl ClientMetrics {
    /// The counters for node `id`, created on first use.
    pub(crate) fn broker(&self, id: i32) -> Arc<BrokerCounters> {
        self.brokers.lock().unwrap_or_else(PoisonError::into_inner).entry(id).or_default().clone()
    }

    /// A copy of every broker's counters (bootstrap nodes have negative ids).
    pub fn snapshot(&self) -> BTreeMap<i32, BrokerMetrics> {
        let brokers = self.brokers.lock().unwrap_or_else(PoisonError::into_inner);
        brokers.iter().map(|(id, c)| (*id, c.snapshot())).collect()
    }

    /// The sum over all brokers (the average latency weighted by responses).
    pub fn total(&self) -> BrokerMetrics {
        let brokers = self.brokers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut t = BrokerMetrics::default();
        let mut latency_total_us = 0u64;
        for c in brokers.values() {
            let s = c.snapshot();
            t.requests += s.requests;
            t.responses += s.responses;
            t.failed_requests += s.failed_requests;
            t.bytes_sent += s.bytes_sent;
            t.bytes_received += s.bytes_received;
            t.connections_created += s.connections_created;
            t.connection_failures += s.connection_failures;
            t.connections_closed += s.connections_closed;
            t.request_latency_max = t.request_latency_max.max(s.request_latency_max);
            latency_total_us = latency_total_us.saturating_add(c.latency_total_us.load(Relaxed));
        }
        t.request_latency_avg =
            (t.responses > 0).then(|| Duration::from_micros(latency_total_us / t.responses));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_per_broker_and_in_total() {
        let m = ClientMetrics::default();
        let b1 = m.broker(1);
        b1.request_sent(100);
        b1.request_sent(50);
        b1.frame_received(30);
        b1.response(Duration::from_millis(2));
        b1.response(Duration::from_millis(4));
        b1.connect_attempt(true);
        let b2 = m.broker(2);
        b2.request_sent(10);
        b2.request_failed();
        b2.connect_attempt(false);
        assert!(Arc::ptr_eq(&b1, &m.broker(1)), "one counter set per node");

        let s = m.snapshot();
        assert_eq!(s[&1].requests, 2);
        assert_eq!(s[&1].bytes_sent, 150);
        assert_eq!(s[&1].bytes_received, 30);
        assert_eq!(s[&1].request_latency_avg, Some(Duration::from_millis(3)));
        assert_eq!(s[&1].request_latency_max, Duration::from_millis(4));
        assert_eq!(s[&2].request_latency_avg, None);
        assert_eq!(s[&2].failed_requests, 1);
        assert_eq!(s[&2].connection_failures, 1);

        let t = m.total();
        assert_eq!((t.requests, t.responses, t.bytes_sent), (3, 2, 160));
        assert_eq!(t.request_latency_avg, Some(Duration::from_millis(3)));
        assert_eq!((t.connections_created, t.connection_failures), (1, 1));
    }
}

//! Producer metrics, after Java's `SenderMetrics`, `RecordAccumulator` and `BufferPool`
//! metrics: [`ProducerMetrics`], the snapshot [`Producer::metrics`](crate::Producer::metrics)
//! returns, and `Metrics`, the live state behind it.
//!
//! Nothing is updated per record: totals are relaxed atomics bumped once per batch (or per
//! record only on failure paths that never reach a batch); windowed statistics
//! ([`kafka_client::Windowed`], Java's 2 × 30 s samples) are updated under one mutex once
//! per produce request, and counters feed their rates by the difference since the last look.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_client::Windowed;
use tokio::time::Instant;

use crate::accumulator::ProducerBatch;
use crate::producer::{Shared, lock};

/// A snapshot of the producer's metrics (Java names in each field's docs). Windowed values
/// cover the last 30–60 s; `None` means nothing was observed in the window.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Records acknowledged (`record-send-total`).
    pub records_sent: u64,
    /// Records that failed, before or after they were queued (`record-error-total`).
    pub record_errors: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Batch retries.
    pub retries: u64,
    /// Records retried (`record-retry-total`: each batch retry counts its records).
    pub record_retries: u64,
    /// Bytes of batch memory in use (`buffer-total-bytes` minus `buffer-available-bytes`).
    pub buffer_used: usize,
    /// Records waiting for metadata or buffer space.
    pub records_waiting: usize,
    /// `record-send-rate`: records acknowledged per second.
    pub record_send_rate: f64,
    /// `record-error-rate`: records failed per second.
    pub record_error_rate: f64,
    /// `record-retry-rate`: records retried per second.
    pub record_retry_rate: f64,
    /// `batch-size-avg`: bytes per batch sent (as sent, i.e. compressed).
    pub batch_size_avg: Option<f64>,
    /// `batch-size-max`.
    pub batch_size_max: Option<u64>,
    /// `records-per-request-avg`: records per produce request.
    pub records_per_request_avg: Option<f64>,
    /// `compression-rate-avg`: compressed / uncompressed batch size (1.0 without compression).
    pub compression_rate_avg: Option<f64>,
    /// `record-queue-time-avg`: time a batch waited in the accumulator before its first send.
    pub record_queue_time_avg: Option<Duration>,
    /// `record-queue-time-max`.
    pub record_queue_time_max: Option<Duration>,
    /// `request-latency-avg`: produce request to response (or failure).
    pub request_latency_avg: Option<Duration>,
    /// `request-latency-max`.
    pub request_latency_max: Option<Duration>,
    /// `buffer-available-bytes`: `buffer.memory` not held by batches.
    pub buffer_available_bytes: usize,
    /// `buffer-total-bytes`: `buffer.memory`.
    pub buffer_total_bytes: usize,
    /// `bufferpool-wait-time-ns-total`: time records spent waiting for buffer memory.
    pub bufferpool_wait_time_total: Duration,
    /// `requests-in-flight`: produce requests awaiting a response.
    pub requests_in_flight: usize,
    /// `outgoing-byte-rate`: bytes written to all brokers per second (every request).
    pub outgoing_byte_rate: f64,
    /// `produce-throttle-time-avg`: the throttle time brokers reported in produce responses.
    pub produce_throttle_time_avg: Option<Duration>,
    /// `produce-throttle-time-max`.
    pub produce_throttle_time_max: Option<Duration>,
}

/// A windowed rate fed from a monotonic total.
#[derive(Debug)]
struct CounterRate {
    last: u64,
    window: Windowed,
}

impl CounterRate {
    fn new(now: Instant) -> Self {
        CounterRate { last: 0, window: Windowed::new(now) }
    }

    fn observe(&mut self, now: Instant, total: u64) {
        if total > self.last {
            self.window.record(now, (total - self.last) as f64);
        }
        self.last = self.last.max(total);
    }
}

#[derive(Debug)]
struct Stats {
    sent: CounterRate,
    errors: CounterRate,
    retries: CounterRate,
    outgoing: CounterRate,
    batch_size: Windowed,
    records_per_request: Windowed,
    compression: Windowed,
    /// Seconds.
    queue_time: Windowed,
    /// Seconds.
    latency: Windowed,
    /// Seconds.
    throttle: Windowed,
}

/// Totals the windowed rates are fed from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) sent: u64,
    pub(crate) errors: u64,
    pub(crate) retried: u64,
    pub(crate) bytes_out: u64,
}

/// The live metrics, shared by the handles and the sender task.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Windowed statistics: locked once per produce request and per snapshot.
    stats: Mutex<Stats>,
    /// Produce requests sent and not yet answered.
    pub(crate) in_flight: AtomicUsize,
    /// Records retried (each batch retry adds its record count).
    pub(crate) retried_records: AtomicU64,
    /// Nanoseconds records waited for buffer memory.
    pub(crate) pool_wait_ns: AtomicU64,
}

/// Counts one produce request in `requests-in-flight` while it lives (a request future that
/// is dropped, e.g. by a close that timed out, still leaves the gauge).
pub(crate) struct InFlightGuard(Arc<Shared>);

impl InFlightGuard {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.metrics.in_flight.fetch_add(1, Relaxed);
        InFlightGuard(shared)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Relaxed);
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn duration(s: Option<f64>) -> Option<Duration> {
    s.map(|s| Duration::from_secs_f64(s.max(0.0)))
}

impl Metrics {
    pub(crate) fn new(now: Instant) -> Self {
        Metrics {
            stats: Mutex::new(Stats {
                sent: CounterRate::new(now),
                errors: CounterRate::new(now),
                retries: CounterRate::new(now),
                outgoing: CounterRate::new(now),
                batch_size: Windowed::new(now),
                records_per_request: Windowed::new(now),
                compression: Windowed::new(now),
                queue_time: Windowed::new(now),
                latency: Windowed::new(now),
                throttle: Windowed::new(now),
            }),
            in_flight: AtomicUsize::new(0),
            retried_records: AtomicU64::new(0),
            pool_wait_ns: AtomicU64::new(0),
        }
    }

    /// A produce request carrying `batches` is about to be sent (`requests-in-flight` is
    /// counted by the [`InFlightGuard`] its future holds).
    pub(crate) fn request_sent(&self, now: Instant, batches: &[ProducerBatch], wire_sizes: &[usize]) {
        let mut st = lock(&self.stats);
        let records: i64 = batches.iter().map(|b| b.records as i64).sum();
        st.records_per_request.record(now, records as f64);
        for (b, &size) in batches.iter().zip(wire_sizes) {
            if b.attempts > 1 {
                continue; // a retry: counted when first sent
            }
            st.batch_size.record(now, size as f64);
            if b.uncompressed > 0 {
                st.compression.record(now, size as f64 / b.uncompressed as f64);
            }
            st.queue_time.record(now, secs(now.saturating_duration_since(b.created)));
        }
    }

    /// A produce request ended (answered, or failed) after `latency`; `throttle_ms` is the
    /// broker's throttle time when it answered.
    pub(crate) fn request_done(&self, now: Instant, latency: Duration, throttle_ms: Option<i32>, t: Totals) {
        let mut st = lock(&self.stats);
        st.latency.record(now, secs(latency));
        if let Some(ms) = throttle_ms {
            st.throttle.record(now, f64::from(ms.max(0)) / 1000.0);
        }
        Self::observe(&mut st, now, t);
    }

    fn observe(st: &mut Stats, now: Instant, t: Totals) {
        st.sent.observe(now, t.sent);
        st.errors.observe(now, t.errors);
        st.retries.observe(now, t.retried);
        st.outgoing.observe(now, t.bytes_out);
    }

    /// Fills in the windowed fields of `m` (its totals must be set).
    pub(crate) fn fill(&self, now: Instant, t: Totals, m: &mut ProducerMetrics) {
        let mut st = lock(&self.stats);
        Self::observe(&mut st, now, t);
        m.record_send_rate = st.sent.window.sum_rate(now);
        m.record_error_rate = st.errors.window.sum_rate(now);
        m.record_retry_rate = st.retries.window.sum_rate(now);
        m.outgoing_byte_rate = st.outgoing.window.sum_rate(now);
        m.batch_size_avg = st.batch_size.avg(now);
        m.batch_size_max = st.batch_size.max(now).map(|x| x as u64);
        m.records_per_request_avg = st.records_per_request.avg(now);
        m.compression_rate_avg = st.compression.avg(now);
        m.record_queue_time_avg = duration(st.queue_time.avg(now));
        m.record_queue_time_max = duration(st.queue_time.max(now));
        m.request_latency_avg = duration(st.latency.avg(now));
        m.request_latency_max = duration(st.latency.max(now));
        m.produce_throttle_time_avg = duration(st.throttle.avg(now));
        m.produce_throttle_time_max = duration(st.throttle.max(now));
        m.requests_in_flight = self.in_flight.load(Relaxed);
        m.record_retries = self.retried_records.load(Relaxed);
        m.bufferpool_wait_time_total = Duration::from_nanos(self.pool_wait_ns.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rates_follow_totals_and_requests_feed_latency_and_throttle() {
        let t0 = Instant::now();
        let m = Metrics::new(t0);
        let totals = Totals { sent: 30, errors: 3, retried: 0, bytes_out: 3000 };
        m.request_done(t0 + Duration::from_secs(1), Duration::from_millis(20), Some(100), totals);
        let mut s = ProducerMetrics::default();
        m.fill(t0 + Duration::from_secs(2), totals, &mut s);
        // one sample: divided by the sample length (30 s)
        assert!((s.record_send_rate - 1.0).abs() < 1e-9, "{s:?}");
        assert!((s.record_error_rate - 0.1).abs() < 1e-9, "{s:?}");
        assert!((s.outgoing_byte_rate - 100.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.record_retry_rate, 0.0);
        assert_eq!(s.request_latency_max, Some(Duration::from_millis(20)));
        assert_eq!(s.produce_throttle_time_avg, Some(Duration::from_millis(100)));
        assert_eq!(s.requests_in_flight, 0);
        // the same totals again add nothing
        m.fill(t0 + Duration::from_secs(3), totals, &mut s);
        assert!((s.record_send_rate - 1.0).abs() < 1e-9, "{s:?}");
        // and after two idle windows the rates are 0 again
        m.fill(t0 + Duration::from_secs(200), totals, &mut s);
        assert_eq!((s.record_send_rate, s.request_latency_avg), (0.0, None));
    }
}

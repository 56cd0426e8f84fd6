//! Consumer metrics, after Java's `FetchMetricsManager`, `ConsumerCoordinator` and
//! `KafkaConsumerMetrics`: counters and windowed statistics updated once per fetch response,
//! commit and rebalance (never per record), and [`ConsumerMetrics`], the snapshot
//! [`Consumer::metrics`](crate::Consumer::metrics) returns.
//!
//! Rates, averages and maxima cover a sliding window of two 30 s samples, like Java's
//! `metrics.sample.window.ms` × `metrics.num.samples` defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_client::Windowed;
use tokio::time::Instant;

use crate::record::TopicPartition;

/// A snapshot of the consumer's metrics (Java names in each field's docs).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConsumerMetrics {
    /// `records-consumed-total`: records handed out by `poll` / the stream.
    pub records_consumed_total: u64,
    /// `records-consumed-rate`: per second, over the window.
    pub records_consumed_rate: f64,
    /// `bytes-consumed-total`: record bytes fetched (batch sizes) for assigned partitions.
    pub bytes_consumed_total: u64,
    /// `bytes-consumed-rate`: per second, over the window.
    pub bytes_consumed_rate: f64,
    /// `fetch-total`: Fetch requests answered.
    pub fetch_total: u64,
    /// `fetch-rate`: Fetch requests answered per second, over the window.
    pub fetch_rate: f64,
    /// `fetch-latency-avg`: over the window (`None` before the first fetch in it).
    pub fetch_latency_avg: Option<Duration>,
    /// `fetch-latency-max`: over the window.
    pub fetch_latency_max: Option<Duration>,
    /// `commit-total`: OffsetCommit requests answered.
    pub commit_total: u64,
    /// `commit-latency-avg`: over the window.
    pub commit_latency_avg: Option<Duration>,
    /// `commit-latency-max`: over the window.
    pub commit_latency_max: Option<Duration>,
    /// `rebalance-total`: rebalances this member completed.
    pub rebalance_total: u64,
    /// `failed-rebalance-total`: joins that failed.
    pub failed_rebalance_total: u64,
    /// `rebalance-latency-total`: time spent in completed rebalances.
    pub rebalance_latency_total: Duration,
    /// The last completed rebalance's duration (Java: `rebalance-latency-max` over a window).
    pub last_rebalance_latency: Option<Duration>,
    /// `last-rebalance-seconds-ago`: since the last completed rebalance.
    pub last_rebalance_ago: Option<Duration>,
    /// `assigned-partitions`.
    pub assigned_partitions: usize,
    /// `records-lag` per partition: the high watermark (last stable offset with
    /// read_committed) of the latest fetch response minus the position; partitions not yet
    /// fetched are absent.
    pub records_lag: BTreeMap<TopicPartition, i64>,
    /// `records-lag-max`: the largest of `records_lag` now (`None` when it is empty).
    pub records_lag_max: Option<i64>,
    /// Per-node metrics (Java's `consumer-node-metrics`: `request-total`,
    /// `incoming-byte-total`, latency …), by node id; bootstrap connections have negative ids.
    /// Shows which brokers served the fetches (KIP-392: the preferred read replica).
    pub nodes: BTreeMap<i32, kafka_client::BrokerMetrics>,
}

/// The consumer's live metrics, owned by the consumer (its methods take `&mut self`, so no lock).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) records_total: u64,
    records: Windowed,
    pub(crate) bytes_total: u64,
    bytes: Windowed,
    pub(crate) fetch_total: u64,
    /// Fetch latencies in seconds.
    fetch_latency: Windowed,
    pub(crate) rebalance_total: u64,
    pub(crate) failed_rebalance_total: u64,
    rebalance_latency_total: Duration,
    last_rebalance_latency: Option<Duration>,
    last_rebalance_end: Option<Instant>,
    /// When the join in progress started.
    rebalance_started: Option<Instant>,
}

impl Metrics {
    pub(crate) fn new(now: Instant) -> Metrics {
        Metrics {
            records_total: 0,
            records: Windowed::new(now),
            bytes_total: 0,
            bytes: Windowed::new(now),
            fetch_total: 0,
            fetch_latency: Windowed::new(now),
            rebalance_total: 0,
            failed_rebalance_total: 0,
            rebalance_latency_total: Duration::ZERO,
            last_rebalance_latency: None,
            last_rebalance_end: None,
            rebalance_started: None,
        }
    }

    /// `n` records handed to the application (once per `poll`, not per record).
    pub(crate) fn consumed(&mut self, now: Instant, n: usize) {
        if n > 0 {
            self.records_total += n as u64;
            self.records.record(now, n as f64);
        }
    }

    /// One partition's fetched record bytes.
    pub(crate) fn fetched_bytes(&mut self, now: Instant, bytes: usize) {
        self.bytes_total += bytes as u64;
        self.bytes.record(now, bytes as f64);
    }

    /// A Fetch request answered after `latency`.
    pub(crate) fn fetched(&mut self, now: Instant, latency: Duration) {
        self.fetch_total += 1;
        self.fetch_latency.record(now, latency.as_secs_f64());
    }

    /// A join started (kept if one is already timed: a retried join is one rebalance).
    pub(crate) fn rebalance_started(&mut self, now: Instant) {
        self.rebalance_started.get_or_insert(now);
    }

    pub(crate) fn rebalance_completed(&mut self, now: Instant) {
        let started = self.rebalance_started.take().unwrap_or(now);
        let latency = now.saturating_duration_since(started);
        self.rebalance_total += 1;
        self.rebalance_latency_total += latency;
        self.last_rebalance_latency = Some(latency);
        self.last_rebalance_end = Some(now);
    }

    pub(crate) fn rebalance_failed(&mut self) {
        self.failed_rebalance_total += 1;
    }

    /// The snapshot; `lag` and `assigned` come from the consumer's partition states.
    pub(crate) fn snapshot(
        &self,
        now: Instant,
        assigned: usize,
        lag: BTreeMap<TopicPartition, i64>,
    ) -> ConsumerMetrics {
        let secs = |x: Option<f64>| x.map(Duration::from_secs_f64);
        ConsumerMetrics {
            records_consumed_total: self.records_total,
            records_consumed_rate: self.records.sum_rate(now),
            bytes_consumed_total: self.bytes_total,
            bytes_consumed_rate: self.bytes.sum_rate(now),
            fetch_total: self.fetch_total,
            fetch_rate: self.fetch_latency.count_rate(now),
            fetch_latency_avg: secs(self.fetch_latency.avg(now)),
            fetch_latency_max: secs(self.fetch_latency.max(now)),
            // filled in by the consumer from the commit task's counters
            commit_total: 0,
            commit_latency_avg: None,
            commit_latency_max: None,
            rebalance_total: self.rebalance_total,
            failed_rebalance_total: self.failed_rebalance_total,
            rebalance_latency_total: self.rebalance_latency_total,
            last_rebalance_latency: self.last_rebalance_latency,
            last_rebalance_ago: self.last_rebalance_end.map(|t| now.saturating_duration_since(t)),
            assigned_partitions: assigned,
            records_lag_max: lag.values().copied().max(),
            // filled in by the consumer from the connection pool
            nodes: BTreeMap::new(),
            records_lag: lag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebalance_latency_counts_from_the_first_join_attempt() {
        let t0 = Instant::now();
        let mut m = Metrics::new(t0);
        m.rebalance_started(t0);
        m.rebalance_failed();
        m.rebalance_started(t0 + Duration::from_secs(1)); // the retry: same rebalance
        m.rebalance_completed(t0 + Duration::from_secs(3));
        let s = m.snapshot(t0 + Duration::from_secs(5), 2, BTreeMap::new());
        assert_eq!(s.rebalance_total, 1);
        assert_eq!(s.failed_rebalance_total, 1);
        assert_eq!(s.last_rebalance_latency, Some(Duration::from_secs(3)));
        assert_eq!(s.last_rebalance_ago, Some(Duration::from_secs(2)));
        assert_eq!(s.assigned_partitions, 2);
        assert_eq!(s.records_lag_max, None);
    }
}

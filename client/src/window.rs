//! [`Windowed`]: count, sum and maximum of a value over a sliding window of samples, after
//! Java's `SampledStat` with the `metrics.sample.window.ms` (30 s) × `metrics.num.samples` (2)
//! defaults. Owners update it once per batch, request or poll (never per record) and read
//! rates, averages and maxima from it; it takes an explicit `now`, so tests drive time.

use std::time::Duration;

use tokio::time::Instant;

/// Java's `metrics.sample.window.ms` default.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(30);
/// Java's `metrics.num.samples` default.
pub const NUM_SAMPLES: usize = 2;

#[derive(Debug, Clone, Copy)]
struct Sample {
    start: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn empty(start: Instant) -> Sample {
        Sample { start, count: 0, sum: 0.0, max: f64::NEG_INFINITY }
    }
}

/// Count, sum and max over the last `NUM_SAMPLES` samples of `SAMPLE_WINDOW` each. A sample
/// older than the whole window no longer counts; rates divide by at least one sample's length
/// (Java's rule, so one early event does not read as a huge rate).
#[derive(Debug, Clone)]
pub struct Windowed {
    samples: [Sample; NUM_SAMPLES],
    /// The sample being filled.
    current: usize,
}

impl Windowed {
    /// An empty window starting at `now`.
    pub fn new(now: Instant) -> Windowed {
        Windowed { samples: [Sample::empty(now); NUM_SAMPLES], current: 0 }
    }

    /// Moves to a fresh sample once the current one is `SAMPLE_WINDOW` old.
    fn advance(&mut self, now: Instant) {
        let started = self.samples[self.current].start;
        if now.saturating_duration_since(started) < SAMPLE_WINDOW {
            return;
        }
        self.current = (self.current + 1) % NUM_SAMPLES;
        self.samples[self.current] = Sample::empty(now);
    }

    /// Adds one observation of `value` at `now`.
    pub fn record(&mut self, now: Instant, value: f64) {
        self.advance(now);
        let s = &mut self.samples[self.current];
        s.count += 1;
        s.sum += value;
        s.max = s.max.max(value);
    }

    fn live(&self, now: Instant) -> impl Iterator<Item = &Sample> + '_ {
        let span = SAMPLE_WINDOW * NUM_SAMPLES as u32;
        self.samples.iter().filter(move |s| now.saturating_duration_since(s.start) < span)
    }

    fn per_second(&self, now: Instant, part: impl Fn(&Sample) -> f64) -> f64 {
        let total: f64 = self.live(now).map(&part).sum();
        let Some(oldest) = self.live(now).filter(|s| s.count > 0).map(|s| s.start).min() else {
            return 0.0;
        };
        total / now.saturating_duration_since(oldest).max(SAMPLE_WINDOW).as_secs_f64()
    }

    /// Observations per second over the window (Java's `Rate` of a `WindowedCount`).
    pub fn count_rate(&self, now: Instant) -> f64 {
        self.per_second(now, |s| s.count as f64)
    }

    /// Sum of the values per second over the window (Java's `Rate`).
    pub fn sum_rate(&self, now: Instant) -> f64 {
        self.per_second(now, |s| s.sum)
    }

    /// Mean value over the window (`None` when it saw nothing).
    pub fn avg(&self, now: Instant) -> Option<f64> {
        let (n, sum) = self.live(now).fold((0u64, 0.0), |(n, sum), s| (n + s.count, sum + s.sum));
        (n > 0).then(|| sum / n as f64)
    }

    /// Largest value over the window (`None` when it saw nothing).
    pub fn max(&self, now: Instant) -> Option<f64> {
        self.live(now).filter(|s| s.count > 0).map(|s| s.max).reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_averages_and_maxima_cover_two_samples_then_age_out() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = Windowed::new(t0);
        assert_eq!((w.avg(t0), w.max(t0), w.count_rate(t0)), (None, None, 0.0));
        w.record(at(0), 10.0);
        w.record(at(5), 30.0);
        assert_eq!(w.avg(at(5)), Some(20.0));
        assert_eq!(w.max(at(5)), Some(30.0));
        // within the first sample the rate divides by one sample's length
        assert!((w.count_rate(at(5)) - 2.0 / 30.0).abs() < 1e-9);
        assert!((w.sum_rate(at(5)) - 40.0 / 30.0).abs() < 1e-9);
        // a second sample keeps the first in the window
        w.record(at(35), 2.0);
        assert_eq!(w.max(at(40)), Some(30.0));
        assert!((w.sum_rate(at(40)) - 42.0 / 40.0).abs() < 1e-9);
        // a third sample replaces the first
        w.record(at(65), 4.0);
        assert_eq!(w.max(at(65)), Some(4.0));
        assert_eq!(w.avg(at(65)), Some(3.0));
        // and after a long idle stretch nothing is left
        assert_eq!(w.avg(at(200)), None);
        assert_eq!(w.sum_rate(at(200)), 0.0);
    }
}

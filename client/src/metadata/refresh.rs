//! When to refresh metadata (sans-IO; Java's `Metadata.timeToNextUpdate`): every
//! `metadata.max.age.ms`, at once when an update is requested, but never sooner than the retry
//! backoff after the previous attempt (`retry.backoff.ms`, growing to `.max.ms` while attempts
//! keep failing), and a rebootstrap when nothing succeeded for
//! `metadata.recovery.rebootstrap.trigger.ms`.

use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::ExponentialBackoff;

/// Refresh scheduling state. Every method takes the current time explicitly.
#[derive(Debug, Clone)]
pub(crate) struct RefreshState {
    max_age: Duration,
    backoff: ExponentialBackoff,
    rebootstrap_trigger: Option<Duration>,
    need_update: bool,
    /// Update requests so far; a refresh that began before the latest one does not satisfy it.
    requests: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_success: Option<Instant>,
    /// Start of the current "no successful update" window (creation, last success or last
    /// rebootstrap).
    healthy_since: Instant,
}

impl RefreshState {
    pub(crate) fn new(
        now: Instant,
        max_age: Duration,
        backoff: ExponentialBackoff,
        rebootstrap_trigger: Option<Duration>,
    ) -> Self {
        RefreshState {
            max_age,
            backoff,
            rebootstrap_trigger,
            need_update: true,
            requests: 0,
            failures: 0,
            retry_at: None,
            last_success: None,
            healthy_since: now,
        }
    }

    /// Asks for an update as soon as the backoff allows.
    pub(crate) fn request_update(&mut self) {
        self.need_update = true;
        self.requests += 1;
    }

    /// Marks the start of a refresh; pass the result to [`RefreshState::on_success`].
    pub(crate) fn begin(&self) -> u64 {
        self.requests
    }

    /// How long until the next refresh is due (zero: now).
    pub(crate) fn time_to_next_update(&self, now: Instant) -> Duration {
        let expire = match self.last_success {
            Some(t) if !self.need_update => (t + self.max_age).saturating_duration_since(now),
            _ => Duration::ZERO,
        };
        let allow = self.retry_at.map(|t| t.saturating_duration_since(now)).unwrap_or_default();
        expire.max(allow)
    }

    /// A refresh that began at `begun` (from [`RefreshState::begin`]) succeeded. An update
    /// requested while it was in flight (say, for a topic it did not ask about) stays due.
    pub(crate) fn on_success(&mut self, now: Instant, begun: u64) {
        self.need_update = self.requests != begun;
        self.failures = 0;
        self.last_success = Some(now);
        self.healthy_since = now;
        self.retry_at = Some(now + self.backoff.backoff(0));
    }

    /// A refresh failed: retry after a growing backoff.
    pub(crate) fn on_failure(&mut self, now: Instant) {
        self.retry_at = Some(now + self.backoff.backoff(self.failures));
        self.failures = self.failures.saturating_add(1);
    }

    /// Consecutive failures.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether to rebootstrap because nothing succeeded for the trigger time.
    pub(crate) fn rebootstrap_due(&self, now: Instant) -> bool {
        self.rebootstrap_trigger.is_some_and(|t| now.saturating_duration_since(self.healthy_since) >= t)
    }

    /// A rebootstrap happened: restart the trigger window.
    pub(crate) fn on_rebootstrap(&mut self, now: Instant) {
        self.healthy_since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn state(now: Instant) -> RefreshState {
        // Jitter 0 so the schedule is exact.
        RefreshState::new(
            now,
            ms(10_000),
            ExponentialBackoff::new(ms(100), 2.0, ms(1000), 0.0),
            Some(ms(5000)),
        )
    }

    #[test]
    fn due_at_start_then_at_max_age_then_on_request() {
        let t0 = Instant::now();
        let mut s = state(t0);
        assert_eq!(s.time_to_next_update(t0), Duration::ZERO, "nothing fetched yet");
        {
            let b = s.begin();
            s.on_success(t0, b)
        };
        assert_eq!(s.time_to_next_update(t0 + ms(1)), ms(9_999));
        assert_eq!(s.time_to_next_update(t0 + ms(10_000)), Duration::ZERO);
        s.request_update();
        assert_eq!(
            s.time_to_next_update(t0 + ms(30)),
            ms(70),
            "at least retry.backoff.ms after the last refresh"
        );
        assert_eq!(s.time_to_next_update(t0 + ms(100)), Duration::ZERO);
    }

    #[test]
    fn a_request_made_during_a_refresh_is_not_lost() {
        let mut s = state(Instant::now());
        let now = Instant::now();
        let begun = s.begin();
        s.request_update(); // e.g. a new topic while the refresh was in flight
        s.on_success(now, begun);
        assert_eq!(s.time_to_next_update(now + ms(1000)), Duration::ZERO, "still due");
        let begun = s.begin();
        s.on_success(now + ms(1000), begun);
        assert!(s.time_to_next_update(now + ms(1000)) > Duration::ZERO);
    }

    #[test]
    fn failures_back_off_exponentially_and_success_resets() {
        let t0 = Instant::now();
        let mut s = state(t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            s.on_failure(now);
            let w = s.time_to_next_update(now);
            waits.push(w.as_millis());
            now += w;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        {
            let b = s.begin();
            s.on_success(now, b)
        };
        s.request_update();
        assert_eq!(s.time_to_next_update(now), ms(100));
        assert_eq!(s.failures(), 0);
    }

    #[test]
    fn rebootstrap_after_trigger_without_success() {
        let t0 = Instant::now();
        let mut s = state(t0);
        assert!(!s.rebootstrap_due(t0 + ms(4_999)));
        assert!(s.rebootstrap_due(t0 + ms(5_000)));
        s.on_rebootstrap(t0 + ms(5_000));
        assert!(!s.rebootstrap_due(t0 + ms(9_000)));
        let b = s.begin();
        s.on_success(t0 + ms(9_000), b);
        assert!(!s.rebootstrap_due(t0 + ms(13_000)));
        let none = RefreshState::new(t0, ms(1), ExponentialBackoff::kafka(ms(1), ms(1)), None);
        assert!(!none.rebootstrap_due(t0 + ms(1 << 30)));
    }
}

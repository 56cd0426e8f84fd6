//! Exponential backoff with jitter (KIP-580; Java's `ExponentialBackoff`).
//!
//! `backoff(n) = min(initial * multiplier^n * U(1 - jitter, 1 + jitter), max)`, where `n` is
//! the number of failures so far. Used for reconnects (`reconnect.backoff.ms` / `.max.ms`),
//! retries and metadata refreshes (`retry.backoff.ms` / `.max.ms`) and the growing
//! connection setup timeout (`socket.connection.setup.timeout.ms` / `.max.ms`).

use std::{
    cell::Cell,
    hash::{BuildHasher, Hasher},
    time::Duration,
};

/// Exponential backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: f64,
}

impl ExponentialBackoff {
    /// Backoff starting at `initial`, multiplied by `multiplier` per failure, capped at `max`,
    /// randomised by ±`jitter` (a fraction, e.g. 0.2). Kafka uses multiplier 2 and jitter 0.2.
    pub fn new(initial: Duration, multiplier: f64, max: Duration, jitter: f64) -> Self {
        ExponentialBackoff { initial, multiplier: multiplier.max(1.0), max, jitter: jitter.clamp(0.0, 1.0) }
    }

    /// Kafka's standard shape: multiplier 2, jitter 0.2.
    pub fn kafka(initial: Duration, max: Duration) -> Self {
        Self::new(initial, 2.0, max, 0.2)
    }

    /// The delay after `attempts` failures, with a random jitter.
    pub fn backoff(&self, attempts: u32) -> Duration {
        self.backoff_with(attempts, random_unit())
    }

    /// The delay after `attempts` failures with the jitter drawn from `unit` in `[0, 1)`
    /// (deterministic, for tests).
    pub fn backoff_with(&self, attempts: u32, unit: f64) -> Duration {
        let initial = self.initial.as_secs_f64();
        let max = self.max.as_secs_f64();
        if max <= initial {
            return self.initial.min(self.max);
        }
        // Cap the exponent where the term passes `max` so the power cannot overflow.
        let exp_max = if self.multiplier > 1.0 && initial > 0.0 {
            ((max / initial).ln() / self.multiplier.ln()).ceil()
        } else {
            0.0
        };
        let exp = (attempts as f64).min(exp_max);
        let term = initial * self.multiplier.powf(exp);
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((term * factor).min(max))
    }
}

/// A uniform random number in `[0, 1)` from a per-thread xorshift generator seeded by the
/// standard library's random hasher keys (jitter needs spread, not cryptographic quality).
pub(crate) fn random_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x9e37_79b9_7f4a_7c15);
            h.finish() | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn grows_exponentially_and_caps() {
        let b = ExponentialBackoff::kafka(ms(50), ms(1000));
        // unit 0.5 = no jitter
        assert_eq!(b.backoff_with(0, 0.5), ms(50));
        assert_eq!(b.backoff_with(1, 0.5), ms(100));
        assert_eq!(b.backoff_with(3, 0.5), ms(400));
        assert_eq!(b.backoff_with(5, 0.5), ms(1000));
        assert_eq!(b.backoff_with(u32::MAX, 0.5), ms(1000));
    }

    #[test]
    fn jitter_spans_plus_minus_twenty_percent() {
        let b = ExponentialBackoff::kafka(ms(100), ms(10_000));
        assert_eq!(b.backoff_with(0, 0.0), ms(80));
        let hi = b.backoff_with(0, 0.999_999);
        assert!(hi > ms(119) && hi <= ms(120), "{hi:?}");
        for _ in 0..1000 {
            let d = b.backoff(2);
            assert!(d >= ms(320) && d <= ms(480), "{d:?}");
        }
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| b.backoff(2)).collect();
        assert!(distinct.len() > 10, "jitter must vary");
    }

    #[test]
    fn max_below_initial_is_constant() {
        let b = ExponentialBackoff::kafka(ms(500), ms(100));
        assert_eq!(b.backoff_with(0, 0.9), ms(100));
        assert_eq!(b.backoff_with(7, 0.1), ms(100));
        let z = ExponentialBackoff::kafka(ms(0), ms(0));
        assert_eq!(z.backoff_with(3, 0.5), ms(0));
    }
}

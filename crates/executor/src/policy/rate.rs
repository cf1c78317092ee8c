//! Tasks launched per second, through governor's GCRA limiter on tokio's clock.
//!
//! Any positive finite rate is accepted: the period between launches is clamped to
//! [`MIN_PERIOD`]..=[`MAX_PERIOD`] (governor's quota panics past 584 years and refuses a
//! zero period), so `1e-300` per second means one launch per century and `1e300` one per
//! nanosecond.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// The shortest period between launches.
pub const MIN_PERIOD: Duration = Duration::from_nanos(1);
/// The longest period between launches: about a century.
pub const MAX_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// governor clock reading tokio's time, so a paused test clock drives the limiter too.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A launch-rate gate: `rate` launches per second with a burst of one second's worth.
#[derive(Debug)]
pub struct RateGate {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl RateGate {
    /// A gate for `per_second` launches per second (fractions allowed: 0.5 = one every 2 s).
    /// `None` when the rate is not a positive finite number.
    #[must_use]
    pub fn new(per_second: f64) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / per_second)
            .unwrap_or(MAX_PERIOD)
            .clamp(MIN_PERIOD, MAX_PERIOD);
        // A second's worth of launches at once (at least one, at most u32::MAX).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = NonZeroU32::new((per_second.floor().min(f64::from(u32::MAX)) as u32).max(1))?;
        let quota = Quota::with_period(period)?.allow_burst(burst);
        let clock = TokioClock {
            start: tokio::time::Instant::now(),
        };
        Some(Self {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        })
    }

    /// Takes a token now, or says how long until one is free.
    ///
    /// # Errors
    /// The wait until the next token.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_per_second_after_a_burst_of_one() {
        let gate = RateGate::new(1.0).expect("valid rate");
        assert_eq!(gate.try_acquire(), Ok(()));
        assert_eq!(gate.try_acquire(), Err(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(gate.try_acquire(), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn burst_is_one_seconds_worth() {
        let gate = RateGate::new(3.0).expect("valid rate");
        for _ in 0..3 {
            assert_eq!(gate.try_acquire(), Ok(()));
        }
        assert!(gate.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn extreme_rates_are_clamped_not_panics() {
        for rate in [
            1e-300,
            5e-324,
            f64::MIN_POSITIVE,
            1e-12,
            1e300,
            f64::MAX,
            1e12,
        ] {
            let gate = RateGate::new(rate).expect("positive finite rates are accepted");
            assert_eq!(gate.try_acquire(), Ok(()), "rate {rate}");
        }
        let slow = RateGate::new(1e-300).expect("valid");
        assert_eq!(slow.try_acquire(), Ok(()));
        assert_eq!(slow.try_acquire(), Err(MAX_PERIOD));
        let fast = RateGate::new(1e300).expect("valid");
        for _ in 0..10_000 {
            assert_eq!(fast.try_acquire(), Ok(()));
        }
    }

    #[test]
    fn nonsense_rates_mean_no_gate() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(RateGate::new(rate).is_none(), "rate {rate}");
        }
    }
}

//! Tasks launched per second, through governor's GCRA limiter on tokio's clock.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

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
        let period = Duration::from_secs_f64(1.0 / per_second);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let burst = NonZeroU32::new((per_second.floor() as u32).max(1))?;
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

//! Saturating time arithmetic. Every `Instant + Duration` the executor computes goes
//! through [`after`], so a duration of `Duration::MAX` (or a rate of one launch per 1e300
//! seconds) means "far in the future" instead of a panic.

use std::time::Duration;

use tokio::time::Instant;

/// The furthest the executor ever schedules a wake-up: about 30 years (tokio's own "far
/// future"). Anything later is treated as this.
pub const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + d`, capped at `now + FAR`; never panics.
#[must_use]
pub fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

/// `d × factor` for any factor, saturating at `Duration::MAX`; a factor that is not a
/// positive finite number gives `d` unchanged.
#[must_use]
pub fn scale(d: Duration, factor: f64) -> Duration {
    if !(factor.is_finite() && factor > 0.0) {
        return d;
    }
    if (factor - 1.0).abs() < f64::EPSILON {
        return d;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn huge_durations_saturate_at_the_far_future() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), now + FAR);
        assert_eq!(after(now, Duration::from_secs(u64::MAX)), now + FAR);
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        // Sleeping until the saturated instant is fine too (a timer, not a panic).
        tokio::select! {
            () = tokio::time::sleep_until(after(now, Duration::MAX)) => panic!("woke"),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }

    #[test]
    fn scaling_saturates_and_ignores_nonsense_factors() {
        let s = Duration::from_secs(1);
        assert_eq!(scale(s, 1e300), Duration::MAX);
        assert_eq!(scale(Duration::MAX, 1e300), Duration::MAX);
        assert_eq!(scale(Duration::MAX, 2.0), Duration::MAX);
        assert_eq!(scale(s, 0.5), Duration::from_millis(500));
        assert_eq!(scale(s, 1e-300), Duration::ZERO);
        assert_eq!(scale(s, f64::NAN), s);
        assert_eq!(scale(s, -1.0), s);
        assert_eq!(scale(s, f64::INFINITY), s);
        assert_eq!(scale(Duration::MAX, 1.0), Duration::MAX);
    }
}

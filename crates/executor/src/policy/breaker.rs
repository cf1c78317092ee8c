//! The circuit breaker: once more than `threshold` of finished tasks have failed (after at
//! least `min_finished` have finished), no new task starts.

/// Breaker settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerPolicy {
    /// Failure fraction that trips the breaker (0.5 = more than half failed).
    pub threshold: f64,
    /// Finished tasks needed before the breaker may trip.
    pub min_finished: usize,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_finished: 5,
        }
    }
}

/// Counts finished tasks and trips once.
#[derive(Debug)]
pub struct Breaker {
    policy: Option<BreakerPolicy>,
    finished: usize,
    failed: usize,
    tripped: bool,
}

impl Breaker {
    /// A breaker (disabled when `policy` is `None`).
    #[must_use]
    pub fn new(policy: Option<BreakerPolicy>) -> Self {
        Self {
            policy,
            finished: 0,
            failed: 0,
            tripped: false,
        }
    }

    /// Records a finished task; returns the reason when this record trips the breaker.
    pub fn record(&mut self, failed: bool) -> Option<String> {
        self.finished += 1;
        self.failed += usize::from(failed);
        let policy = self.policy?;
        #[allow(clippy::cast_precision_loss)]
        let fraction = self.failed as f64 / self.finished as f64;
        if !self.tripped && self.finished >= policy.min_finished && fraction > policy.threshold {
            self.tripped = true;
            return Some(format!(
                "circuit breaker opened: {} of {} finished tasks failed (threshold {:.0}%, minimum {} finished)",
                self.failed,
                self.finished,
                policy.threshold * 100.0,
                policy.min_finished
            ));
        }
        None
    }

    /// Whether it has tripped.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.tripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: f64, min_finished: usize) -> Breaker {
        Breaker::new(Some(BreakerPolicy {
            threshold,
            min_finished,
        }))
    }

    #[test]
    fn trips_once_past_the_threshold_after_the_minimum() {
        let mut b = breaker(0.5, 3);
        assert_eq!(b.record(true), None, "1 finished: below the minimum");
        assert_eq!(b.record(true), None, "2 finished: below the minimum");
        let why = b.record(false).expect("2 of 3 failed > 50%");
        assert!(why.contains("2 of 3 finished tasks failed"), "{why}");
        assert!(b.is_open());
        assert_eq!(b.record(true), None, "it trips once");
    }

    #[test]
    fn at_the_threshold_is_not_past_it() {
        let mut b = breaker(0.5, 2);
        assert_eq!(b.record(true), None);
        assert_eq!(b.record(false), None, "1 of 2 is exactly 50%");
        assert!(!b.is_open());
    }

    #[test]
    fn disabled_never_trips() {
        let mut b = Breaker::new(None);
        for _ in 0..100 {
            assert_eq!(b.record(true), None);
        }
        assert!(!b.is_open());
    }
}

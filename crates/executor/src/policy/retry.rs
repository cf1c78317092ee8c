//! Retry delays: the configured list (its last value repeating), with jitter, capped by the
//! maximum retry delay; a longer retry-after hint wins, unless it passes that maximum.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use dagent_core::{TaskError, format_duration};

use crate::RetryPolicy;

/// What to do after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry after this delay.
    After(Duration),
    /// Do not retry: the error is not retryable, or the retries are used up.
    No,
    /// The error asks for a wait longer than the maximum retry delay: give up, with this
    /// error (the original, its message naming the request).
    TooLong(TaskError),
}

/// Per-run retry state: the policy and the jitter seed.
#[derive(Debug)]
pub struct Retries {
    policy: RetryPolicy,
    seed: u64,
}

impl Retries {
    /// Retry decisions under `policy`.
    #[must_use]
    pub fn new(policy: RetryPolicy) -> Self {
        let seed = policy
            .jitter_seed
            .unwrap_or_else(|| RandomState::new().hash_one(0x5EED_u64));
        Self { policy, seed }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The delay before retrying `task` after `error` ended attempt `attempt` (1-based).
    #[must_use]
    pub fn decide(&self, task: usize, attempt: u32, error: &TaskError) -> RetryDecision {
        let p = &self.policy;
        if !error.kind().is_retryable() || attempt > p.max_retries {
            return RetryDecision::No;
        }
        if let Some(hint) = error.retry_after().filter(|&h| h > p.max_delay) {
            return RetryDecision::TooLong(TaskError::new(
                error.kind(),
                format!(
                    "{}; the server asked to retry after {} (Retry-After), more than the maximum retry delay of {}",
                    error.message(),
                    format_duration(hint),
                    format_duration(p.max_delay)
                ),
            ));
        }
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let base = p
            .delays
            .get(index)
            .or_else(|| p.delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(1));
        let jittered = if p.jitter {
            let extra =
                Duration::try_from_secs_f64(base.as_secs_f64() * self.fraction(task, attempt))
                    .unwrap_or(base);
            base.saturating_add(extra.min(base))
        } else {
            base
        };
        let delay = jittered.min(p.max_delay);
        RetryDecision::After(error.retry_after().map_or(delay, |hint| hint.max(delay)))
    }

    /// A fraction in [0, 1), fixed by the seed, the task and the attempt.
    fn fraction(&self, task: usize, attempt: u32) -> f64 {
        let mut z = self
            .seed
            .wrapping_add((task as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(u64::from(attempt) << 48);
        // splitmix64
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss)]
        let f = (z >> 11) as f64 / (1u64 << 53) as f64;
        f
    }
}

#[cfg(test)]
mod tests {
    use dagent_core::TaskErrorKind;

    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn plain(delays: &[u64], max_retries: u32) -> Retries {
        Retries::new(RetryPolicy {
            max_retries,
            delays: delays.iter().map(|&s| Duration::from_secs(s)).collect(),
            jitter: false,
            ..RetryPolicy::default()
        })
    }

    fn delays(r: &Retries, attempts: u32, error: &TaskError) -> Vec<RetryDecision> {
        (1..=attempts).map(|a| r.decide(0, a, error)).collect()
    }

    #[test]
    fn the_listed_delays_then_the_last_repeating() {
        use RetryDecision::{After, No};
        let r = plain(&[1, 5, 15], 5);
        assert_eq!(
            delays(&r, 6, &TaskError::transient("503")),
            [
                After(S),
                After(5 * S),
                After(15 * S),
                After(15 * S),
                After(15 * S),
                No
            ]
        );
    }

    #[test]
    fn permanent_budget_and_cancelled_errors_are_not_retried() {
        let r = plain(&[1], 3);
        for kind in [
            TaskErrorKind::Permanent,
            TaskErrorKind::Budget,
            TaskErrorKind::Cancelled,
        ] {
            assert_eq!(
                r.decide(0, 1, &TaskError::new(kind, "x")),
                RetryDecision::No
            );
        }
        assert_eq!(
            r.decide(0, 1, &TaskError::new(TaskErrorKind::Timeout, "slow")),
            RetryDecision::After(S)
        );
    }

    #[test]
    fn a_longer_hint_wins_a_shorter_one_does_not() {
        let r = plain(&[2], 3);
        let e = |h: u64| TaskError::transient("429").with_retry_after(Duration::from_secs(h));
        assert_eq!(r.decide(0, 1, &e(30)), RetryDecision::After(30 * S));
        assert_eq!(r.decide(0, 1, &e(1)), RetryDecision::After(2 * S));
    }

    #[test]
    fn a_hint_past_the_maximum_delay_fails_and_names_the_request() {
        let r = plain(&[1], 3);
        let hint = Duration::from_secs(95_684 * 3600);
        let d = r.decide(
            0,
            1,
            &TaskError::transient("429 Too Many Requests").with_retry_after(hint),
        );
        let RetryDecision::TooLong(e) = d else {
            panic!("expected TooLong, got {d:?}")
        };
        assert_eq!(
            e.message(),
            "429 Too Many Requests; the server asked to retry after 95684h (Retry-After), more than the maximum retry delay of 5m"
        );
        assert_eq!(e.kind(), TaskErrorKind::Transient);
        // Exactly the maximum is still waited for.
        let at_max = TaskError::transient("429").with_retry_after(300 * S);
        assert_eq!(r.decide(0, 1, &at_max), RetryDecision::After(300 * S));
    }

    #[test]
    fn delays_are_capped_by_the_maximum_and_huge_values_do_not_panic() {
        let r = Retries::new(RetryPolicy {
            max_retries: u32::MAX,
            delays: vec![Duration::MAX],
            jitter: true,
            jitter_seed: Some(1),
            ..RetryPolicy::default()
        });
        let e = TaskError::transient("x");
        assert_eq!(r.decide(0, 1, &e), RetryDecision::After(300 * S));
        assert_eq!(r.decide(0, u32::MAX, &e), RetryDecision::After(300 * S));
        let hint = TaskError::transient("x").with_retry_after(Duration::MAX);
        assert!(matches!(r.decide(0, 1, &hint), RetryDecision::TooLong(_)));
        let unlimited = Retries::new(RetryPolicy {
            max_delay: Duration::MAX,
            delays: vec![Duration::MAX],
            jitter: true,
            ..RetryPolicy::default()
        });
        assert_eq!(
            unlimited.decide(0, 1, &e),
            RetryDecision::After(Duration::MAX)
        );
    }

    #[test]
    fn jitter_adds_up_to_the_delay_itself_and_is_reproducible() {
        let policy = RetryPolicy {
            max_retries: 10,
            delays: vec![4 * S],
            jitter: true,
            jitter_seed: Some(7),
            ..RetryPolicy::default()
        };
        let (a, b) = (Retries::new(policy.clone()), Retries::new(policy));
        let e = TaskError::transient("x");
        let mut seen = std::collections::HashSet::new();
        for task in 0..50 {
            for attempt in 1..=10 {
                let RetryDecision::After(d) = a.decide(task, attempt, &e) else {
                    panic!("retryable")
                };
                assert!(d >= 4 * S && d < 8 * S, "{d:?}");
                assert_eq!(b.decide(task, attempt, &e), RetryDecision::After(d));
                seen.insert(d);
            }
        }
        assert!(
            seen.len() > 100,
            "jitter varies: {} distinct delays",
            seen.len()
        );
    }

    #[test]
    fn an_empty_list_waits_one_second() {
        assert_eq!(
            plain(&[], 1).decide(0, 1, &TaskError::transient("x")),
            RetryDecision::After(S)
        );
    }
}

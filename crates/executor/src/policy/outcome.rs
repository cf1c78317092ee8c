//! The outcome policy: the one place that maps an attempt's result to what happens next —
//! succeed, retry after a delay, fail, or (with either of the last two) stop the run.
//! Ordinary failures and batch timeouts both come through here, so the breaker and
//! `fail_fast` see every failure.

use std::time::Duration;

use dagent_core::{TaskError, TaskErrorKind, TaskId, TaskOutput};

use super::breaker::Breaker;
use super::failure::FailurePolicy;
use super::retry::{Retries, RetryDecision};
use crate::{BreakerPolicy, FailureMode, RetryPolicy, StopReason};

/// What becomes of the task.
#[derive(Debug)]
pub enum Verdict {
    /// It succeeded with this output.
    Succeed(TaskOutput),
    /// It tries again after `delay`.
    Retry {
        /// The wait before the next attempt.
        delay: Duration,
        /// Why this attempt failed.
        error: TaskError,
    },
    /// It failed with this error.
    Fail(TaskError),
    /// The runner reported cancellation.
    Cancelled(TaskError),
}

/// A verdict, whether the run stops because of it, and whether the attempt counts.
#[derive(Debug)]
pub struct Decision {
    /// What becomes of the task.
    pub verdict: Verdict,
    /// The run stops (fail-fast, or the breaker opened).
    pub stop: Option<StopReason>,
    /// Whether the attempt counts as one: a budget refusal sent no request, so it does not.
    pub counts: bool,
}

/// Retry, breaker and failure mode, consulted in that order.
#[derive(Debug)]
pub struct OutcomePolicy {
    retries: Retries,
    breaker: Breaker,
    failure: FailurePolicy,
}

impl OutcomePolicy {
    /// The policy of a run.
    #[must_use]
    pub fn new(retry: RetryPolicy, breaker: Option<BreakerPolicy>, mode: FailureMode) -> Self {
        Self {
            retries: Retries::new(retry),
            breaker: Breaker::new(breaker),
            failure: FailurePolicy::new(mode),
        }
    }

    /// The failure mode.
    #[must_use]
    pub fn failure(&self) -> &FailurePolicy {
        &self.failure
    }

    /// Decides what attempt `attempt` of `task` (id `id`) ending with `result` leads to.
    /// `may_retry` is false once the run has stopped, and for batch timeouts (the batch is
    /// over).
    pub fn decide(
        &mut self,
        task: usize,
        id: &TaskId,
        attempt: u32,
        result: Result<TaskOutput, TaskError>,
        may_retry: bool,
    ) -> Decision {
        let error = match result {
            Ok(output) => {
                let stop = self.breaker.record(false).map(StopReason::Breaker);
                return Decision {
                    verdict: Verdict::Succeed(output),
                    stop,
                    counts: true,
                };
            }
            Err(error) if error.kind() == TaskErrorKind::Cancelled => {
                return Decision {
                    verdict: Verdict::Cancelled(error),
                    stop: None,
                    counts: true,
                };
            }
            Err(error) => error,
        };
        let counts = error.kind() != TaskErrorKind::Budget;
        let error = if may_retry {
            match self.retries.decide(task, attempt, &error) {
                RetryDecision::After(delay) => {
                    return Decision {
                        verdict: Verdict::Retry { delay, error },
                        stop: None,
                        counts,
                    };
                }
                RetryDecision::No => error,
                RetryDecision::TooLong(named) => named,
            }
        } else {
            error
        };
        let tripped = self.breaker.record(true).map(StopReason::Breaker);
        Decision {
            verdict: Verdict::Fail(error),
            stop: self.failure.stops_run(id).or(tripped),
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn policy(mode: FailureMode, breaker: Option<BreakerPolicy>) -> OutcomePolicy {
        OutcomePolicy::new(
            RetryPolicy {
                max_retries: 1,
                delays: vec![S],
                jitter: false,
                ..RetryPolicy::default()
            },
            breaker,
            mode,
        )
    }

    fn id() -> TaskId {
        TaskId::new("a")
    }

    #[test]
    fn success_succeeds() {
        let mut p = policy(FailureMode::FailFast, None);
        let d = p.decide(0, &id(), 1, Ok(TaskOutput::text("x")), true);
        assert!(matches!(d.verdict, Verdict::Succeed(_)));
        assert_eq!(d.stop, None);
        assert!(d.counts);
    }

    #[test]
    fn transient_errors_retry_until_the_retries_run_out() {
        let mut p = policy(FailureMode::SkipDependents, None);
        let e = || Err(TaskError::transient("503"));
        let d = p.decide(0, &id(), 1, e(), true);
        assert!(matches!(d.verdict, Verdict::Retry { delay, .. } if delay == S));
        let d = p.decide(0, &id(), 2, e(), true);
        assert!(matches!(d.verdict, Verdict::Fail(_)));
        assert_eq!(d.stop, None);
        let d = p.decide(0, &id(), 1, e(), false);
        assert!(
            matches!(d.verdict, Verdict::Fail(_)),
            "no retry once stopped"
        );
    }

    #[test]
    fn fail_fast_stops_the_run_on_any_failure_including_timeouts() {
        let mut p = policy(FailureMode::FailFast, None);
        let timeout = TaskError::new(TaskErrorKind::Timeout, "batch 1 timed out after 3s");
        let d = p.decide(0, &id(), 1, Err(timeout), false);
        assert!(matches!(d.verdict, Verdict::Fail(_)));
        assert_eq!(d.stop, Some(StopReason::FailFast(id())));
    }

    #[test]
    fn the_breaker_trip_is_returned_not_dropped() {
        let mut p = policy(
            FailureMode::SkipDependents,
            Some(BreakerPolicy {
                threshold: 0.5,
                min_finished: 2,
            }),
        );
        let timeout = || Err(TaskError::new(TaskErrorKind::Timeout, "batch timed out"));
        assert_eq!(p.decide(0, &id(), 1, timeout(), false).stop, None);
        let d = p.decide(1, &TaskId::new("b"), 1, timeout(), false);
        assert!(matches!(d.stop, Some(StopReason::Breaker(ref why)) if why.contains("2 of 2")));
    }

    #[test]
    fn budget_refusals_fail_without_counting_an_attempt_or_retrying() {
        let mut p = policy(FailureMode::SkipDependents, None);
        let d = p.decide(
            0,
            &id(),
            1,
            Err(TaskError::new(TaskErrorKind::Budget, "over budget")),
            true,
        );
        assert!(matches!(d.verdict, Verdict::Fail(ref e) if e.kind() == TaskErrorKind::Budget));
        assert!(!d.counts);
    }

    #[test]
    fn cancellation_by_the_runner_is_not_a_failure() {
        let mut p = policy(
            FailureMode::FailFast,
            Some(BreakerPolicy {
                threshold: 0.0,
                min_finished: 1,
            }),
        );
        let d = p.decide(
            0,
            &id(),
            1,
            Err(TaskError::new(TaskErrorKind::Cancelled, "x")),
            true,
        );
        assert!(matches!(d.verdict, Verdict::Cancelled(_)));
        assert_eq!(d.stop, None);
    }

    #[test]
    fn a_retry_after_past_the_maximum_fails_naming_the_request() {
        let mut p = policy(FailureMode::SkipDependents, None);
        let e = TaskError::transient("429").with_retry_after(Duration::from_secs(3600));
        let d = p.decide(0, &id(), 1, Err(e), true);
        let Verdict::Fail(e) = d.verdict else {
            panic!("expected a failure")
        };
        assert!(
            e.message().contains("retry after 1h (Retry-After)"),
            "{}",
            e.message()
        );
    }
}

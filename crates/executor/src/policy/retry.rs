//! Retry delays: exponential back-off with optional jitter (backon), never shorter than a
//! retry-after hint.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use dagent_core::TaskError;

use crate::RetryPolicy;

/// Per-task back-off sequences, created lazily on a task's first failure.
#[derive(Debug)]
pub struct Retries {
    policy: RetryPolicy,
    sequences: Vec<Option<ExponentialBackoff>>,
}

impl Retries {
    /// Back-off state for `n` tasks.
    #[must_use]
    pub fn new(policy: RetryPolicy, n: usize) -> Self {
        let mut sequences = Vec::new();
        sequences.resize_with(n, || None);
        Self { policy, sequences }
    }

    fn builder(&self, task: usize) -> ExponentialBuilder {
        let p = &self.policy;
        let mut b = ExponentialBuilder::default()
            .with_min_delay(p.initial_backoff)
            .with_max_delay(p.max_backoff)
            .with_factor(p.factor)
            .with_max_times(p.max_retries as usize);
        if p.jitter {
            b = b.with_jitter();
            if let Some(seed) = p.jitter_seed {
                b = b.with_jitter_seed(seed.wrapping_add(task as u64));
            }
        }
        b
    }

    /// The delay before retrying `task` after `error` on attempt `attempt`, or `None` when
    /// the error is not retryable or the retries are used up.
    pub fn next_delay(&mut self, task: usize, attempt: u32, error: &TaskError) -> Option<Duration> {
        if !error.kind().is_retryable() || attempt > self.policy.max_retries {
            return None;
        }
        if self.sequences[task].is_none() {
            self.sequences[task] = Some(self.builder(task).build());
        }
        let backoff = self.sequences[task].as_mut()?.next()?;
        Some(
            error
                .retry_after()
                .map_or(backoff, |hint| hint.max(backoff)),
        )
    }
}

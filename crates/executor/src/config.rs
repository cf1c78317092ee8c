//! Executor settings.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::BreakerPolicy;

/// How tasks are released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Start each task as soon as its dependencies are done (default).
    #[default]
    Eager,
    /// Level barriers: a level starts only when the previous one has fully finished.
    Batched,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "eager" => Ok(Self::Eager),
            "batched" => Ok(Self::Batched),
            other => Err(format!("unknown mode {other:?}: expected eager or batched")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eager => "eager",
            Self::Batched => "batched",
        })
    }
}

/// What a failed task does to the rest of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Descendants of a failed task are skipped; independent branches go on (default).
    #[default]
    SkipDependents,
    /// Dependents run anyway and are told which inputs failed.
    PartialCompletion,
    /// The first failure cancels everything in flight and skips the rest.
    FailFast,
}

impl FromStr for FailureMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.replace('-', "_").as_str() {
            "skip_dependents" => Ok(Self::SkipDependents),
            "partial_completion" => Ok(Self::PartialCompletion),
            "fail_fast" => Ok(Self::FailFast),
            other => Err(format!(
                "unknown failure mode {other:?}: expected skip_dependents, partial_completion or fail_fast"
            )),
        }
    }
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SkipDependents => "skip_dependents",
            Self::PartialCompletion => "partial_completion",
            Self::FailFast => "fail_fast",
        })
    }
}

/// Retries of transient failures (rate limits, timeouts, 5xx): exponential back-off with
/// optional jitter, never shorter than a retry-after hint carried by the error.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Cap on any one delay (a retry-after hint may exceed it).
    pub max_backoff: Duration,
    /// Growth factor between delays.
    pub factor: f32,
    /// Add up to 100% random jitter to each delay.
    pub jitter: bool,
    /// Seed for the jitter, for reproducible runs.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            factor: 2.0,
            jitter: true,
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// No retries.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

/// Everything the executor needs to know besides the plan and the runner.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutorConfig {
    /// Eager (default) or batched.
    pub mode: Mode,
    /// Tasks running at once (at least 1; 1 is the sequential path).
    pub max_concurrent: usize,
    /// Tasks launched per second (retries included); `None` for no limit.
    pub max_tasks_per_second: Option<f64>,
    /// Separate concurrency limits per runner key (a provider or endpoint).
    pub key_limits: HashMap<String, usize>,
    /// Time limit of one attempt.
    pub task_timeout: Option<Duration>,
    /// Time limit of one level (batched mode only).
    pub batch_timeout: Option<Duration>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// What a failure does to the rest of the run.
    pub failure_mode: FailureMode,
    /// Stop launching when too many finished tasks failed.
    pub breaker: Option<BreakerPolicy>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Eager,
            max_concurrent: 10,
            max_tasks_per_second: None,
            key_limits: HashMap::new(),
            task_timeout: None,
            batch_timeout: None,
            retry: RetryPolicy::default(),
            failure_mode: FailureMode::SkipDependents,
            breaker: None,
        }
    }
}

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

/// Retries of transient failures (rate limits, timeouts, 5xx).
///
/// The wait before retry `n` is `delays[n - 1]`, the last value repeating for later retries
/// (`[1 s, 5 s, 15 s]` gives 1, 5, 15, 15, … seconds), plus up to 100% random jitter, and
/// never more than `max_delay`. A retry-after hint carried by the error wins when it is
/// longer; a hint longer than `max_delay` is not waited for: the task fails and its error
/// names the server's request.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The delays before the first, second, … retry; the last repeats (empty: 1 s).
    pub delays: Vec<Duration>,
    /// The longest wait before a retry, hints included (default 5 minutes).
    pub max_delay: Duration,
    /// Add up to 100% random jitter to each delay.
    pub jitter: bool,
    /// Seed for the jitter, for reproducible runs.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// Three retries after 1, 2 and 4 seconds (doubling up to a minute if more are
    /// allowed), with jitter; at most 5 minutes of waiting for a retry-after hint.
    fn default() -> Self {
        Self {
            max_retries: 3,
            delays: [1, 2, 4, 8, 16, 32, 60]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_delay: DEFAULT_MAX_RETRY_DELAY,
            jitter: true,
            jitter_seed: None,
        }
    }
}

/// The default [`RetryPolicy::max_delay`]: 5 minutes.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

impl RetryPolicy {
    /// No retries.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// `max_retries` retries after the given delays (the last repeating), with jitter.
    #[must_use]
    pub fn with_delays(max_retries: u32, delays: Vec<Duration>) -> Self {
        Self {
            max_retries,
            delays,
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
    /// Time limit of the whole run: when it passes, tasks in flight are cancelled and the
    /// rest skipped ([`StopReason::Deadline`](crate::StopReason::Deadline)).
    pub deadline: Option<Duration>,
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
            deadline: None,
        }
    }
}

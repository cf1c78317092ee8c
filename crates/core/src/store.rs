//! The run-store port: durable records of runs, their plans and every attempt, so a run
//! that is killed can be resumed without paying twice, and past runs can be listed and
//! compared.

use std::fmt;

use crate::{Money, TaskId, Usage};

/// A run's identifier: short, and sortable by start time as text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(String);

impl RunId {
    /// Wraps an identifier (stores make them; users pass them back).
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a run starts from: the plan as given, its resolved dependencies and the settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStart {
    /// The plan's title.
    pub plan_title: String,
    /// Where the plan came from (a path, for messages).
    pub plan_origin: String,
    /// The plan's text as read (a snapshot).
    pub plan_text: String,
    /// The plan format's name (`toml`, `json`, `deerflow`).
    pub plan_format: String,
    /// The task ids in plan order.
    pub task_ids: Vec<TaskId>,
    /// Per task, a hash of its content (title, description, kind, role, model, parameters)
    /// and, recursively, of its inputs': equal hashes mean a stored result can be reused.
    pub task_hashes: Vec<String>,
    /// The resolved direct dependencies, by position.
    pub deps: Vec<Vec<usize>>,
    /// The strategy that produced them.
    pub strategy: String,
    /// The effective settings as JSON text, without secrets.
    pub settings_json: String,
    /// The run this one resumes, if any.
    pub resumed_from: Option<RunId>,
    /// Wall-clock start, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

/// How one attempt, or one task without an attempt, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordStatus {
    /// The attempt produced the task's output.
    Succeeded,
    /// The attempt failed; another may follow.
    Failed,
    /// The attempt was cancelled (timeout of the run, fail-fast, Ctrl-C).
    Cancelled,
    /// The task never ran (terminal: a dependency failed, the breaker opened, …).
    Skipped,
}

impl RecordStatus {
    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    /// Parses [`RecordStatus::as_str`]'s names.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }
}

/// One finished attempt of a task, or (with `attempt == 0`) a task that ended without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The task's position in the plan.
    pub task: usize,
    /// The task's id.
    pub task_id: TaskId,
    /// 1 for the first attempt; 0 for a task that ended without running.
    pub attempt: u32,
    /// Start, in milliseconds from the start of the run.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the run.
    pub end_ms: u64,
    /// How it ended.
    pub status: RecordStatus,
    /// Whether this record is the task's terminal state.
    pub terminal: bool,
    /// The error's kind (`rate_limited`, `timeout`, …), if it failed.
    pub error_kind: Option<String>,
    /// The error's message, or why the task was skipped or cancelled.
    pub message: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
    /// The endpoint that served it.
    pub endpoint: Option<String>,
    /// Tokens used.
    pub usage: Option<Usage>,
    /// What it cost.
    pub cost: Option<Money>,
    /// The output text, when it succeeded.
    pub output: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunEnd {
    /// `succeeded` (every task), `failed` (some did not succeed) or `cancelled`.
    pub status: String,
    /// Makespan in milliseconds.
    pub makespan_ms: u64,
    /// The run report as JSON text, for `runs show`.
    pub report_json: String,
    /// What dependency analysis by a model cost in this session (it is paid like a task, and
    /// counts against the budget of later sessions).
    pub analysis_cost: Money,
}

/// A store failure, with a message that names the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// Where runs are recorded. Every method returns only once what it wrote is durable: the
/// executor records each finished attempt **before** it tells observers or the report, so
/// a kill at any instant loses at most the attempts in flight.
pub trait RunStore: Send + Sync {
    /// Records the start of a run and returns its id.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn begin(&self, start: &RunStart) -> Result<RunId, StoreError>;

    /// Records attempts (and terminal states) of `run`, all in one durable write.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn record(&self, run: &RunId, records: &[AttemptRecord]) -> Result<(), StoreError>;

    /// Records how `run` ended.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn finish(&self, run: &RunId, end: &RunEnd) -> Result<(), StoreError>;
}

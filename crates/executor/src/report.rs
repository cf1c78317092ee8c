//! What a run did to every task.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{TaskError, TaskId, TaskOutput, format_duration};

use crate::{FailureMode, Mode};

/// A task's terminal state. Every task of a run ends in exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// It ran and produced an output.
    Succeeded,
    /// It ran and its last attempt failed.
    Failed,
    /// It never started: a dependency failed, the breaker opened, fail-fast stopped the run,
    /// or its batch timed out first.
    Skipped,
    /// The run was cancelled (or stopped: fail-fast, deadline) while it was in flight, or
    /// cancelled before it started.
    Cancelled,
}

impl TaskStatus {
    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task's record.
#[derive(Clone, Debug)]
pub struct TaskReport {
    /// The task's id.
    pub id: TaskId,
    /// Its terminal state.
    pub status: TaskStatus,
    /// Attempts started (0 when it never ran; a call the budget refused before sending
    /// anything is not an attempt).
    pub attempts: u32,
    /// When its first attempt started, from the start of the run.
    pub start: Option<Duration>,
    /// When it reached its terminal state, from the start of the run.
    pub end: Option<Duration>,
    /// Time spent in attempts (back-off waits excluded).
    pub busy: Duration,
    /// The last error, for failed tasks (and cancelled ones that had failed before).
    pub error: Option<TaskError>,
    /// Why it was skipped or cancelled.
    pub reason: Option<String>,
    /// Its output, when it succeeded.
    pub output: Option<Arc<TaskOutput>>,
    /// Whether the output was reused from an earlier run (no attempt was made).
    pub reused: bool,
}

/// Why a run stopped launching tasks before finishing the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The cancellation token fired (Ctrl-C).
    Cancelled,
    /// `fail_fast`: this task failed.
    FailFast(TaskId),
    /// The circuit breaker opened, with its explanation.
    Breaker(String),
    /// The run's deadline (this long after its start) passed.
    Deadline(Duration),
    /// The run store could not record finished attempts (after retries), so no new task
    /// starts; tasks in flight finish, and every result from then on is in the report only
    /// (a resume would run those tasks again).
    Store(String),
}

impl StopReason {
    /// Whether attempts in flight are cancelled too (everything but the breaker, which lets
    /// them finish).
    #[must_use]
    pub fn cancels_in_flight(&self) -> bool {
        !matches!(self, Self::Breaker(_) | Self::Store(_))
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => f.write_str("run cancelled"),
            Self::FailFast(id) => write!(
                f,
                "fail_fast: task \"{id}\" failed, everything else was stopped"
            ),
            Self::Breaker(why) => f.write_str(why),
            Self::Store(why) => write!(
                f,
                "the run store failed ({why}): no new task starts; results from then on are in the report but not in the store"
            ),
            Self::Deadline(after) => write!(
                f,
                "the run deadline of {} passed: tasks in flight were cancelled, the rest skipped",
                format_duration(*after)
            ),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Every task, in plan order.
    pub tasks: Vec<TaskReport>,
    /// From the start of the run to the last terminal state.
    pub makespan: Duration,
    /// Sum of every task's busy time (what a one-at-a-time run would have taken).
    pub total_task_time: Duration,
    /// Retries performed (attempts beyond each task's first; budget refusals excluded).
    pub retries: u32,
    /// The scheduling mode used.
    pub mode: Mode,
    /// The concurrency limit used.
    pub max_concurrent: usize,
    /// The failure mode used.
    pub failure_mode: FailureMode,
    /// Why launching stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// When it stopped, from the start of the run.
    pub stopped_at: Option<Duration>,
    /// Every loop of the plan: its iterations, the judges' verdicts, why it stopped. Tasks
    /// appended for iterations 2 and later are in `tasks`, after the plan's own.
    pub loops: Vec<LoopReport>,
    /// The tasks appended for loop iterations, in order: `tasks[plan_len + k]` ran
    /// `appended[k]` (its `depends_on` lists the ids it received, in order).
    pub appended: Vec<dagent_core::Task>,
}

/// Why a loop stopped repeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoopStop {
    /// Every judge of the last iteration gave the `repeat_until` verdict.
    Approved,
    /// `max_iterations` ran and the last was not approved.
    MaxIterations,
    /// A body task of the last iteration did not succeed (failed, or skipped because
    /// something it needs failed).
    Failed,
    /// The run stopped (cancellation, deadline, fail-fast, breaker, store) before the loop
    /// could go on.
    Cancelled,
}

impl LoopStop {
    /// Stable lower-case name (`approved`, `max_iterations`, `failed`, `cancelled`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::MaxIterations => "max_iterations",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for LoopStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One judge's verdict in one iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeVerdict {
    /// The judge's id in the plan (`review-style`).
    pub judge: TaskId,
    /// Its copy that ran in this iteration (`review-style#2`; the same id in the first).
    pub task: TaskId,
    /// The verdict its answer gave ([`dagent_core::parse_verdict`]); `None` when it gave
    /// none or did not succeed.
    pub verdict: Option<String>,
    /// Whether the verdict is the loop's `repeat_until`.
    pub approved: bool,
}

/// One iteration of a loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IterationReport {
    /// 1 for the plan's own tasks, then 2, 3, …
    pub iteration: u32,
    /// Positions in [`RunReport::tasks`] of this iteration's tasks, in body order.
    pub tasks: Vec<usize>,
    /// The judges' verdicts, in plan order (empty when the iteration never finished).
    pub verdicts: Vec<JudgeVerdict>,
}

/// What a loop did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopReport {
    /// The loop's id.
    pub id: String,
    /// Positions in the plan of the body's tasks (the first iteration), in plan order.
    pub body: Vec<usize>,
    /// The verdict that ends it.
    pub repeat_until: String,
    /// Its bound.
    pub max_iterations: u32,
    /// The iterations that started, in order.
    pub iterations: Vec<IterationReport>,
    /// Why it stopped.
    pub stop: LoopStop,
}

impl RunReport {
    /// `total_task_time ÷ makespan`.
    #[must_use]
    pub fn speedup(&self) -> f64 {
        let m = self.makespan.as_secs_f64();
        if m == 0.0 {
            1.0
        } else {
            self.total_task_time.as_secs_f64() / m
        }
    }

    /// Average fraction of concurrency slots busy: `total_task_time ÷ (makespan × k)`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn utilisation(&self) -> f64 {
        let cap = self.makespan.as_secs_f64() * self.max_concurrent as f64;
        if cap == 0.0 {
            0.0
        } else {
            self.total_task_time.as_secs_f64() / cap
        }
    }

    /// Tasks in the given state.
    #[must_use]
    pub fn count(&self, status: TaskStatus) -> usize {
        self.tasks.iter().filter(|t| t.status == status).count()
    }

    /// The tasks of the plan itself (`tasks.len() - appended.len()`).
    #[must_use]
    pub fn plan_len(&self) -> usize {
        self.tasks.len().saturating_sub(self.appended.len())
    }

    /// Whether every task succeeded.
    #[must_use]
    pub fn all_succeeded(&self) -> bool {
        self.tasks.iter().all(|t| t.status == TaskStatus::Succeeded)
    }

    /// Where the final result of the plan's task `task` is: the position of its copy in its
    /// loop's last iteration, or `task` itself (not in a loop, or a plan without loops).
    #[must_use]
    pub fn latest(&self, task: usize) -> usize {
        for l in &self.loops {
            if let Some(b) = l.body.iter().position(|&t| t == task) {
                return l
                    .iterations
                    .last()
                    .and_then(|it| it.tasks.get(b))
                    .copied()
                    .unwrap_or(task);
            }
        }
        task
    }
}

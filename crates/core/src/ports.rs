//! The ports: traits the rest of dagent implements and consumes.
//!
//! Every asynchronous method returns a [`BoxFuture`], so each trait is dyn-compatible and
//! its futures are `Send` (a test in `dagent-tests` checks both).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    AnalyzeError, DependencyMap, Money, Plan, ProviderError, Task, TaskError, TaskId, TaskOutput,
    Usage,
};

/// A boxed, `Send` future — the return type of every asynchronous port method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Works out which tasks of a plan depend on which.
pub trait DependencyAnalyzer: Send + Sync {
    /// Short strategy name (`explicit`, `heuristic`, `llm`, `sequential`).
    fn name(&self) -> &str;

    /// Produces the direct dependencies of every task, or says why it cannot.
    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>>;
}

impl<T: DependencyAnalyzer + ?Sized> DependencyAnalyzer for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        (**self).analyze(plan)
    }
}

impl<T: DependencyAnalyzer + ?Sized> DependencyAnalyzer for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        (**self).analyze(plan)
    }
}

/// What became of one of a task's dependencies, as the task's runner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DependencyOutcome {
    /// It succeeded with this output.
    Succeeded(Arc<TaskOutput>),
    /// It failed (seen only under the `partial_completion` failure mode).
    Failed(TaskError),
    /// It was skipped, for the given reason (only under `partial_completion`).
    Skipped(String),
}

/// Everything a [`TaskRunner`] gets for one attempt of one task: the task, its position, the
/// attempt number, and its direct dependencies' outcomes **in plan order**.
#[derive(Clone, Debug)]
pub struct TaskContext {
    plan: Arc<Plan>,
    index: usize,
    attempt: u32,
    inputs: Vec<(usize, DependencyOutcome)>,
}

impl TaskContext {
    /// Builds a context (the executor does this; tests and custom drivers may too).
    #[must_use]
    pub fn new(
        plan: Arc<Plan>,
        index: usize,
        attempt: u32,
        inputs: Vec<(usize, DependencyOutcome)>,
    ) -> Self {
        Self {
            plan,
            index,
            attempt,
            inputs,
        }
    }

    /// The task to run.
    ///
    /// # Panics
    /// Never for a context built by the executor (the index is in range).
    #[must_use]
    pub fn task(&self) -> &Task {
        &self.plan.tasks[self.index]
    }

    /// The task's position in the plan.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The whole plan.
    #[must_use]
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// 1 for the first attempt, 2 for the first retry, …
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The direct dependencies, in plan order, with their outcomes.
    pub fn inputs(&self) -> impl Iterator<Item = (&Task, &DependencyOutcome)> {
        self.inputs.iter().map(|(i, o)| (&self.plan.tasks[*i], o))
    }

    /// Number of direct dependencies.
    #[must_use]
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }
}

/// Runs one task attempt. The executor calls it once per attempt, never for a task whose
/// dependencies are not done, and drops the future to cancel it.
pub trait TaskRunner: Send + Sync {
    /// Runs the attempt described by `ctx`.
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>>;

    /// The key whose separate concurrency limit this task counts against (a provider, an
    /// endpoint), if any. Called once per task before it is first launched.
    fn concurrency_key(&self, task: &Task) -> Option<String> {
        let _ = task;
        None
    }
}

impl<T: TaskRunner + ?Sized> TaskRunner for Arc<T> {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        (**self).run(ctx)
    }
    fn concurrency_key(&self, task: &Task) -> Option<String> {
        (**self).concurrency_key(task)
    }
}

impl<T: TaskRunner + ?Sized> TaskRunner for Box<T> {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        (**self).run(ctx)
    }
    fn concurrency_key(&self, task: &Task) -> Option<String> {
        (**self).concurrency_key(task)
    }
}

/// Who said a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The request.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Speaker.
    pub role: ChatRole,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }
}

/// A tool the model may call (OpenAI function-calling shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments, as JSON text.
    pub parameters_json: String,
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// Provider-assigned call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments, as JSON text.
    pub arguments_json: String,
}

/// A chat completion request, provider-neutral.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ChatRequest {
    /// Model id as the provider names it.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Cap on generated tokens.
    pub max_tokens: Option<u32>,
    /// Ask for a JSON object answer.
    pub json_mode: bool,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Stream the answer (the provider assembles it; the response is the same).
    pub stream: bool,
}

/// A chat completion answer, provider-neutral.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChatResponse {
    /// The model that answered.
    pub model: String,
    /// The answer's text.
    pub content: String,
    /// Why generation stopped (`stop`, `length`, …).
    pub finish_reason: Option<String>,
    /// Tokens used, as the provider reported them.
    pub usage: Option<Usage>,
    /// The provider's own cost figure, when it reports one.
    pub reported_cost: Option<Money>,
    /// Tool calls the model made.
    pub tool_calls: Vec<ToolCall>,
}

/// A chat model server: OpenAI-compatible, Ollama, or a test double.
pub trait ChatProvider: Send + Sync {
    /// Provider name, for reports and errors.
    fn name(&self) -> &str;

    /// Sends one chat completion request.
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;
}

/// Money set aside for a call that has not finished; settle or release it exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds budget until settled or released"]
pub struct Reservation {
    /// Tracker-assigned identifier.
    pub id: u64,
    /// The worst-case amount held.
    pub amount: Money,
}

/// Tracks spend and enforces a budget cap: reserve the worst case before a call, settle on
/// the actual usage after it.
pub trait CostTracker: Send + Sync {
    /// Holds `worst_case` against the budget, or refuses (a [`crate::TaskErrorKind::Budget`]
    /// error) if it could cross the cap.
    ///
    /// # Errors
    /// When the reservation could cross the budget cap.
    fn reserve(&self, model: &str, worst_case: Money) -> Result<Reservation, TaskError>;

    /// Replaces a reservation by the actual cost of the call.
    fn settle(
        &self,
        reservation: Reservation,
        task: &TaskId,
        model: &str,
        usage: Usage,
        actual: Money,
    );

    /// Gives a reservation back unused (the call failed before costing anything).
    fn release(&self, reservation: Reservation);

    /// Total settled spend so far.
    fn spent(&self) -> Money;
}

/// What happened to a task, as observers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEventKind {
    /// An attempt started.
    Started {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// An attempt failed and another will follow after `delay`.
    Retrying {
        /// The attempt that failed.
        attempt: u32,
        /// Wait before the next attempt.
        delay: Duration,
        /// Why it failed.
        error: TaskError,
    },
    /// The task succeeded (terminal).
    Succeeded,
    /// The task failed (terminal).
    Failed {
        /// The last attempt's error.
        error: TaskError,
    },
    /// The task was not run (terminal).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The task was cancelled (terminal).
    Cancelled,
}

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEvent {
    /// Time since the run started.
    pub at: Duration,
    /// The task's position in the plan.
    pub task: usize,
    /// The task's id.
    pub id: TaskId,
    /// What happened.
    pub kind: RunEventKind,
}

/// Receives run events as they happen (progress bars, logs, stores). Called from the
/// scheduler's loop: keep it quick.
pub trait RunObserver: Send + Sync {
    /// One event.
    fn on_event(&self, event: &RunEvent);
}

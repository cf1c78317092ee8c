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
    /// Provider-specific top-level fields of the request body, as `(name, JSON text)`:
    /// e.g. OpenRouter's `provider` routing preferences and its `models` fallback list.
    /// OpenAI-compatible clients add them to the body; others ignore them.
    pub extra_body: Vec<(String, String)>,
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

/// What a settled call cost, and on whose account: the record a [`Reservation`] is
/// settled with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// Who pays: task, role and model labels.
    pub billing: Billing,
    /// Tokens used (as reported, or the upper bound when the provider reported none).
    pub usage: Usage,
    /// Whether `usage` is an estimate because the provider reported none.
    pub usage_estimated: bool,
    /// dagent's own figure: `usage` at the model's price.
    pub cost: Money,
    /// The provider's own cost figure, when it reported one (OpenRouter's `usage.cost`).
    pub reported_cost: Option<Money>,
}

/// The labels a paid call is billed under.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Billing {
    /// The task the call was made for (`(dependency analysis)` for the analyzer).
    pub task: TaskId,
    /// The task's role, if any.
    pub role: Option<String>,
    /// The model's name in the configuration.
    pub model: String,
}

impl Billing {
    /// Labels for a call made for `task` to `model`.
    pub fn new(task: impl Into<TaskId>, model: impl Into<String>) -> Self {
        Self {
            task: task.into(),
            role: None,
            model: model.into(),
        }
    }

    /// Adds the role (builder style).
    #[must_use]
    pub fn with_role(mut self, role: Option<String>) -> Self {
        self.role = role;
        self
    }
}

/// The side of a [`CostTracker`] a [`Reservation`] reports back to: each reservation calls
/// exactly one of these methods, exactly once.
pub trait ReservationLedger: Send + Sync {
    /// Reservation `id` of `reserved` is replaced by the actual charge of its call.
    fn settle(&self, id: u64, reserved: Money, charge: Charge);

    /// Reservation `id` of `reserved` is given back unused.
    fn release(&self, id: u64, reserved: Money);
}

/// Money held against the budget for a call in flight — a guard.
///
/// It is settled ([`Reservation::settle`]) or released ([`Reservation::release`]) exactly
/// once: both consume it. A reservation dropped without either (the attempt timed out, the
/// run was cancelled and the executor dropped the future, a panic unwound) is **released**
/// by its `Drop`, so budget can never leak.
#[must_use = "a reservation holds budget until settled or released (dropping it releases it)"]
pub struct Reservation {
    id: u64,
    amount: Money,
    ledger: Option<Arc<dyn ReservationLedger>>,
}

impl Reservation {
    /// A reservation of `amount`, numbered `id` by `ledger` (trackers build these).
    pub fn new(id: u64, amount: Money, ledger: Arc<dyn ReservationLedger>) -> Self {
        Self {
            id,
            amount,
            ledger: Some(ledger),
        }
    }

    /// The tracker-assigned identifier.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The worst-case amount held.
    #[must_use]
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// Replaces the reservation by the actual charge of its call.
    pub fn settle(mut self, charge: Charge) {
        if let Some(ledger) = self.ledger.take() {
            ledger.settle(self.id, self.amount, charge);
        }
    }

    /// Gives the reservation back unused (the call failed before costing anything).
    pub fn release(mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.release(self.id, self.amount);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.release(self.id, self.amount);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .field("amount", &self.amount)
            .field("open", &self.ledger.is_some())
            .finish()
    }
}

/// Tracks spend and enforces a budget cap: reserve the worst case before a call, settle the
/// [`Reservation`] on the actual usage after it (see [`crate::metered_chat`], the one path
/// paid calls take).
pub trait CostTracker: Send + Sync {
    /// Holds `worst_case` against the budget for a call to `model`. A tracker may wait for
    /// calls in flight to settle or release before it decides; it refuses with a
    /// [`crate::TaskErrorKind::Budget`] error when the call could cross the cap (or when a
    /// provider already overran a reservation and no new paid call may start).
    fn reserve<'a>(
        &'a self,
        model: &'a str,
        worst_case: Money,
    ) -> BoxFuture<'a, Result<Reservation, TaskError>>;

    /// Total settled spend so far.
    fn spent(&self) -> Money;
}

impl<T: CostTracker + ?Sized> CostTracker for Arc<T> {
    fn reserve<'a>(
        &'a self,
        model: &'a str,
        worst_case: Money,
    ) -> BoxFuture<'a, Result<Reservation, TaskError>> {
        (**self).reserve(model, worst_case)
    }
    fn spent(&self) -> Money {
        (**self).spent()
    }
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
    /// The task's output was reused from an earlier run instead of running it again
    /// (terminal; the task counts as succeeded).
    Reused,
    /// The task was appended to the running plan (the next iteration of a review loop),
    /// at a position past the plan's own tasks. It comes before any other event of the
    /// task; the task then waits for its dependencies like any other.
    Appended {
        /// The position of the plan task it copies (its estimate, role and kind).
        copy_of: usize,
        /// Its title.
        title: String,
        /// Its dependencies' positions (plan tasks or tasks appended earlier).
        depends_on: Vec<usize>,
    },
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

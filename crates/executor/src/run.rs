//! The run loop: composes the policies over an index-based task table.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use dagent_core::{
    DependencyOutcome, Plan, RunEvent, RunEventKind, RunObserver, TaskContext, TaskError,
    TaskErrorKind, TaskOutput, TaskRunner, format_duration,
};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::policy::breaker::Breaker;
use crate::policy::concurrency::{KeyIndex, Slots};
use crate::policy::rate::RateGate;
use crate::policy::retry::Retries;
use crate::policy::timeout::with_timeout;
use crate::{
    ExecutorConfig, FailureMode, Mode, PlanGraph, RunReport, StopReason, TaskReport, TaskStatus,
};

/// Runs plans. Configure once, run many times.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use dagent_core::{DependencyMap, Plan, Task};
/// # use dagent_executor::{Executor, ExecutorConfig, PlanGraph, SimulatedRunner};
/// # async fn demo() {
/// let plan = Arc::new(Plan::new(vec![Task::new("a", "A"), Task::new("b", "B")]));
/// let graph = PlanGraph::new(&plan, DependencyMap::from_lists(vec![vec![], vec![0]])).unwrap();
/// let runner = Arc::new(SimulatedRunner::new(Duration::from_millis(10)));
/// let report = Executor::new(ExecutorConfig::default()).run(plan, &graph, runner).await;
/// assert!(report.all_succeeded());
/// # }
/// ```
pub struct Executor {
    config: ExecutorConfig,
    observer: Option<Arc<dyn RunObserver>>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor with these settings.
    #[must_use]
    pub fn new(config: ExecutorConfig) -> Self {
        Self {
            config,
            observer: None,
            cancel: CancellationToken::new(),
        }
    }

    /// Sends every run event to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Uses `token` to cancel runs (cancelling it stops launching, cancels in-flight tasks,
    /// and the run still returns its full report).
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The token that cancels this executor's runs.
    #[must_use]
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Runs `plan` over `graph` with `runner`; returns when every task is terminal.
    ///
    /// # Panics
    /// If `graph` was built for a plan of a different size.
    pub async fn run(
        &self,
        plan: Arc<Plan>,
        graph: &PlanGraph,
        runner: Arc<dyn TaskRunner>,
    ) -> RunReport {
        assert_eq!(
            plan.tasks.len(),
            graph.len(),
            "graph built for another plan"
        );
        let mut run = Run::new(self, plan, graph, runner);
        run.drive().await;
        run.finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Held,
    Ready,
    Running,
    Backoff,
    Done,
}

type Attempt = (usize, u32, Result<TaskOutput, TaskError>);
type InFlight = FuturesUnordered<Pin<Box<dyn Future<Output = Attempt> + Send>>>;

struct Run<'a> {
    exec: &'a Executor,
    cfg: &'a ExecutorConfig,
    plan: Arc<Plan>,
    graph: &'a PlanGraph,
    runner: Arc<dyn TaskRunner>,
    start: Instant,

    state: Vec<State>,
    unmet: Vec<u32>,
    attempt_start: Vec<Duration>,
    reports: Vec<TaskReport>,
    done: usize,

    keys: Vec<KeyIndex>,
    /// Ready tasks per key (index 0: no keyed limit), highest remaining path first.
    ready: Vec<BinaryHeap<(u64, Reverse<u32>)>>,
    backoff: BinaryHeap<Reverse<(Instant, u32)>>,
    rate_wake: Option<Instant>,

    slots: Slots,
    rate: Option<RateGate>,
    retries: Retries,
    breaker: Breaker,
    /// Attempts in flight, polled in place by the run loop (no task spawn per attempt:
    /// runners are I/O-bound; one that needs a CPU thread spawns its own work).
    in_flight: InFlight,
    stopped: Option<StopReason>,
    retry_count: u32,

    // Batched mode.
    level: usize,
    level_left: Vec<usize>,
    held: Vec<Vec<u32>>,
    level_deadline: Option<Instant>,
}

impl<'a> Run<'a> {
    fn new(
        exec: &'a Executor,
        plan: Arc<Plan>,
        graph: &'a PlanGraph,
        runner: Arc<dyn TaskRunner>,
    ) -> Self {
        let cfg = &exec.config;
        let n = plan.tasks.len();
        let mut slots = Slots::new(cfg.max_concurrent);
        let keys = if cfg.key_limits.is_empty() {
            vec![None; n]
        } else {
            slots.intern(
                &cfg.key_limits,
                plan.tasks.iter().map(|t| runner.concurrency_key(t)),
            )
        };
        let key_count = keys.iter().flatten().max().map_or(0, |&k| k as usize + 1);
        let depth = graph.level.iter().max().map_or(0, |&l| l as usize + 1);
        let mut level_left = vec![0usize; depth];
        for &l in &graph.level {
            level_left[l as usize] += 1;
        }
        let reports = plan
            .tasks
            .iter()
            .map(|t| TaskReport {
                id: t.id.clone(),
                status: TaskStatus::Skipped,
                attempts: 0,
                start: None,
                end: None,
                busy: Duration::ZERO,
                error: None,
                reason: None,
                output: None,
            })
            .collect();
        Self {
            exec,
            cfg,
            graph,
            runner,
            start: Instant::now(),
            state: vec![State::Waiting; n],
            unmet: (0..n)
                .map(|i| u32::try_from(graph.deps_of(i).len()).unwrap_or(u32::MAX))
                .collect(),
            attempt_start: vec![Duration::ZERO; n],
            reports,
            done: 0,
            keys,
            ready: (0..=key_count).map(|_| BinaryHeap::new()).collect(),
            backoff: BinaryHeap::new(),
            rate_wake: None,
            slots,
            rate: cfg.max_tasks_per_second.and_then(RateGate::new),
            retries: Retries::new(cfg.retry.clone(), n),
            breaker: Breaker::new(cfg.breaker),
            in_flight: FuturesUnordered::new(),
            stopped: None,
            retry_count: 0,
            level: 0,
            level_left,
            held: vec![Vec::new(); depth],
            level_deadline: None,
            plan,
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn emit(&self, task: usize, kind: RunEventKind) {
        if let Some(obs) = &self.exec.observer {
            obs.on_event(&RunEvent {
                at: self.now(),
                task,
                id: self.plan.tasks[task].id.clone(),
                kind,
            });
        }
    }

    async fn drive(&mut self) {
        let n = self.plan.tasks.len();
        if self.cfg.mode == Mode::Batched {
            self.level_deadline = self.cfg.batch_timeout.map(|t| Instant::now() + t);
        }
        for i in 0..n {
            if self.unmet[i] == 0 {
                self.make_ready(i);
            }
        }
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        while self.done < n {
            if self.exec.cancel.is_cancelled() {
                self.cancel_all();
                break;
            }
            self.wake_backoffs();
            self.launch_ready();
            // Take every attempt that is already finished before waiting on anything: this
            // keeps the per-task cost low when runners complete quickly.
            while self.done < n && !self.in_flight.is_empty() {
                let Some(Some((i, attempt, result))) = self.in_flight.next().now_or_never() else {
                    break;
                };
                self.finish_attempt(i, attempt, result);
                self.launch_ready();
            }
            if self.done == n || self.exec.cancel.is_cancelled() {
                continue;
            }
            let next_backoff = self.backoff.peek().map(|Reverse((at, _))| *at);
            let rate_wake = self.rate_wake;
            let deadline = self
                .level_deadline
                .filter(|_| self.cfg.mode == Mode::Batched);
            if self.in_flight.is_empty() && next_backoff.is_none() && rate_wake.is_none() {
                // Nothing can make progress: every remaining task waits on something that
                // will never finish. Unreachable for a valid graph; record it, never hang.
                self.abandon("internal: no runnable task remained");
                break;
            }
            tokio::select! {
                biased;
                () = self.exec.cancel.cancelled() => {
                    self.cancel_all();
                    break;
                }
                joined = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if let Some((i, attempt, result)) = joined {
                        self.finish_attempt(i, attempt, result);
                    }
                }
                () = tokio::time::sleep_until(next_backoff.unwrap_or(far)), if next_backoff.is_some() => {}
                () = tokio::time::sleep_until(rate_wake.unwrap_or(far)), if rate_wake.is_some() => {
                    self.rate_wake = None;
                }
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    self.batch_timed_out();
                }
            }
        }
        // Dropping attempts still in flight cancels them.
        self.in_flight.clear();
    }

    fn make_ready(&mut self, i: usize) {
        if self.cfg.mode == Mode::Batched && self.graph.level_of(i) > self.level {
            self.state[i] = State::Held;
            self.held[self.graph.level_of(i)].push(i as u32);
            return;
        }
        self.state[i] = State::Ready;
        let heap = self.keys[i].map_or(0, |k| k as usize + 1);
        self.ready[heap].push((self.graph.priority_of(i), Reverse(i as u32)));
    }

    fn wake_backoffs(&mut self) {
        if self.backoff.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(Reverse((at, i))) = self.backoff.peek().copied() {
            if at > now {
                break;
            }
            self.backoff.pop();
            if self.state[i as usize] == State::Backoff {
                self.make_ready(i as usize);
            }
        }
    }

    /// The highest-priority ready task whose key has a free slot.
    fn pick(&mut self) -> Option<usize> {
        let mut best: Option<(usize, (u64, Reverse<u32>))> = None;
        // Entries are removed lazily: a task stopped while queued stays in its heap.
        for heap in &mut self.ready {
            while heap
                .peek()
                .is_some_and(|&(_, Reverse(i))| self.state[i as usize] != State::Ready)
            {
                heap.pop();
            }
        }
        for (h, heap) in self.ready.iter().enumerate() {
            let Some(&top) = heap.peek() else { continue };
            let key = if h == 0 {
                None
            } else {
                Some(u32::try_from(h - 1).ok()?)
            };
            if !self.slots.available(key) {
                continue;
            }
            if best.is_none_or(|(_, b)| top > b) {
                best = Some((h, top));
            }
        }
        let (h, _) = best?;
        self.ready[h].pop().map(|(_, Reverse(i))| i as usize)
    }

    fn launch_ready(&mut self) {
        while self.stopped.is_none() && self.slots.global_free() {
            if self.rate_wake.is_some() {
                return;
            }
            let Some(i) = self.pick() else { return };
            if let Some(rate) = &self.rate {
                if let Err(wait) = rate.try_acquire() {
                    self.make_ready(i);
                    self.rate_wake = Some(Instant::now() + wait);
                    return;
                }
            }
            self.launch(i);
        }
    }

    fn inputs(&self, i: usize) -> Vec<(usize, DependencyOutcome)> {
        self.graph
            .deps_of(i)
            .iter()
            .map(|&d| {
                let r = &self.reports[d];
                let outcome = match (&r.output, &r.error) {
                    (Some(out), _) => DependencyOutcome::Succeeded(Arc::clone(out)),
                    (None, Some(err)) if r.status == TaskStatus::Failed => {
                        DependencyOutcome::Failed(err.clone())
                    }
                    _ => DependencyOutcome::Skipped(
                        r.reason.clone().unwrap_or_else(|| r.status.to_string()),
                    ),
                };
                (d, outcome)
            })
            .collect()
    }

    fn launch(&mut self, i: usize) {
        self.slots.acquire(self.keys[i]);
        self.state[i] = State::Running;
        let now = self.now();
        let report = &mut self.reports[i];
        report.attempts += 1;
        let attempt = report.attempts;
        if attempt > 1 {
            self.retry_count += 1;
        }
        report.start.get_or_insert(now);
        self.attempt_start[i] = now;
        let ctx = TaskContext::new(Arc::clone(&self.plan), i, attempt, self.inputs(i));
        self.emit(i, RunEventKind::Started { attempt });
        let runner = Arc::clone(&self.runner);
        let limit = self.cfg.task_timeout;
        self.in_flight.push(Box::pin(async move {
            let result = with_timeout(limit, CatchPanic(runner.run(ctx))).await;
            (i, attempt, result)
        }));
    }

    fn finish_attempt(&mut self, i: usize, attempt: u32, result: Result<TaskOutput, TaskError>) {
        if self.state[i] != State::Running || self.reports[i].attempts != attempt {
            return; // stale: the task was already stopped
        }
        self.slots.release(self.keys[i]);
        let now = self.now();
        self.reports[i].busy += now.saturating_sub(self.attempt_start[i]);
        self.state[i] = State::Waiting; // between attempts: neither running nor terminal
        match result {
            Ok(output) => self.succeed(i, output),
            Err(error) if error.kind() == TaskErrorKind::Cancelled => {
                self.terminate(
                    i,
                    TaskStatus::Cancelled,
                    Some(error),
                    Some("the runner reported cancellation".into()),
                );
            }
            Err(error) => {
                let delay = if self.stopped.is_none() {
                    self.retries.next_delay(i, attempt, &error)
                } else {
                    None
                };
                match delay {
                    Some(delay) => {
                        self.state[i] = State::Backoff;
                        self.backoff
                            .push(Reverse((Instant::now() + delay, i as u32)));
                        self.emit(
                            i,
                            RunEventKind::Retrying {
                                attempt,
                                delay,
                                error,
                            },
                        );
                    }
                    None => self.fail(i, error),
                }
            }
        }
    }

    fn succeed(&mut self, i: usize, output: TaskOutput) {
        self.reports[i].output = Some(Arc::new(output));
        self.terminate(i, TaskStatus::Succeeded, None, None);
        if let Some(why) = self.breaker.record(false) {
            self.trip(why);
        }
        for k in 0..self.graph.dependents[i].len() {
            let w = self.graph.dependents[i][k] as usize;
            self.resolve_dependency(w);
        }
    }

    fn resolve_dependency(&mut self, w: usize) {
        self.unmet[w] = self.unmet[w].saturating_sub(1);
        if self.unmet[w] == 0 && self.state[w] == State::Waiting {
            if self.stopped.is_some() {
                let why = self.stopped.as_ref().map(ToString::to_string);
                self.terminate(w, TaskStatus::Skipped, None, why);
            } else {
                self.make_ready(w);
            }
        }
    }

    fn fail(&mut self, i: usize, error: TaskError) {
        self.terminate(i, TaskStatus::Failed, Some(error), None);
        let tripped = self.breaker.record(true);
        if self.cfg.failure_mode == FailureMode::FailFast && self.stopped.is_none() {
            let id = self.plan.tasks[i].id.clone();
            self.stop_everything(StopReason::FailFast(id));
            return;
        }
        if let Some(why) = tripped {
            self.trip(why);
        }
        self.after_unsuccessful(i);
    }

    /// A task ended without output: its dependents are skipped, or run with the failure
    /// (partial completion).
    fn after_unsuccessful(&mut self, i: usize) {
        let id = self.plan.tasks[i].id.clone();
        match self.cfg.failure_mode {
            FailureMode::PartialCompletion => {
                for k in 0..self.graph.dependents[i].len() {
                    let w = self.graph.dependents[i][k] as usize;
                    self.resolve_dependency(w);
                }
            }
            FailureMode::SkipDependents | FailureMode::FailFast => {
                let verb = if self.reports[i].status == TaskStatus::Failed {
                    "failed"
                } else {
                    "did not run"
                };
                let mut stack: Vec<(usize, String)> = self.graph.dependents[i]
                    .iter()
                    .map(|&w| (w as usize, format!("dependency \"{id}\" {verb}")))
                    .collect();
                while let Some((w, why)) = stack.pop() {
                    if self.state[w] == State::Done {
                        continue;
                    }
                    let wid = self.plan.tasks[w].id.clone();
                    self.terminate(w, TaskStatus::Skipped, None, Some(why));
                    stack.extend(
                        self.graph.dependents[w]
                            .iter()
                            .map(|&x| (x as usize, format!("dependency \"{wid}\" did not run"))),
                    );
                }
            }
        }
    }

    fn terminate(
        &mut self,
        i: usize,
        status: TaskStatus,
        error: Option<TaskError>,
        reason: Option<String>,
    ) {
        if self.state[i] == State::Done {
            return;
        }
        if self.state[i] == State::Running {
            self.slots.release(self.keys[i]);
            let now = self.now();
            self.reports[i].busy += now.saturating_sub(self.attempt_start[i]);
        }
        self.state[i] = State::Done;
        self.done += 1;
        let now = self.now();
        let r = &mut self.reports[i];
        r.status = status;
        r.end = Some(now);
        if error.is_some() {
            r.error = error;
        }
        r.reason = reason;
        let kind = match status {
            TaskStatus::Succeeded => RunEventKind::Succeeded,
            TaskStatus::Failed => RunEventKind::Failed {
                error: r
                    .error
                    .clone()
                    .unwrap_or_else(|| TaskError::permanent("failed")),
            },
            TaskStatus::Skipped => RunEventKind::Skipped {
                reason: r.reason.clone().unwrap_or_default(),
            },
            TaskStatus::Cancelled => RunEventKind::Cancelled,
        };
        self.emit(i, kind);
        let l = self.graph.level_of(i);
        self.level_left[l] -= 1;
        if self.cfg.mode == Mode::Batched {
            self.advance_level();
        }
    }

    fn advance_level(&mut self) {
        let mut advanced = false;
        while self.level + 1 < self.level_left.len() && self.level_left[self.level] == 0 {
            self.level += 1;
            advanced = true;
            for i in std::mem::take(&mut self.held[self.level]) {
                let i = i as usize;
                if self.state[i] == State::Held {
                    self.make_ready(i);
                }
            }
        }
        if advanced {
            self.level_deadline = self.cfg.batch_timeout.map(|t| Instant::now() + t);
        }
    }

    fn batch_timed_out(&mut self) {
        let Some(limit) = self.cfg.batch_timeout else {
            return;
        };
        let level = self.level;
        let members: Vec<usize> = (0..self.state.len())
            .filter(|&i| self.graph.level_of(i) == level && self.state[i] != State::Done)
            .collect();
        self.level_deadline = None;
        let message = format!(
            "batch {} timed out after {}",
            level + 1,
            format_duration(limit)
        );
        for i in members {
            match self.state[i] {
                State::Running | State::Backoff => {
                    self.terminate(
                        i,
                        TaskStatus::Failed,
                        Some(TaskError::new(TaskErrorKind::Timeout, message.clone())),
                        None,
                    );
                    self.breaker.record(true);
                }
                _ => self.terminate(
                    i,
                    TaskStatus::Skipped,
                    None,
                    Some(format!("{message} before it started")),
                ),
            }
            self.after_unsuccessful(i);
        }
        // Dropping the batch's attempts still in flight cancels them.
        self.in_flight.clear();
    }

    /// The breaker opened: nothing new starts; in-flight tasks finish.
    fn trip(&mut self, why: String) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(StopReason::Breaker(why.clone()));
        for i in 0..self.state.len() {
            if !matches!(self.state[i], State::Running | State::Done) {
                self.terminate(i, TaskStatus::Skipped, None, Some(why.clone()));
            }
        }
    }

    /// Fail-fast: in-flight tasks are cancelled, the rest skipped.
    fn stop_everything(&mut self, reason: StopReason) {
        let why = reason.to_string();
        self.stopped = Some(reason);
        for i in 0..self.state.len() {
            match self.state[i] {
                State::Done => {}
                State::Running => self.terminate(i, TaskStatus::Cancelled, None, Some(why.clone())),
                _ => self.terminate(i, TaskStatus::Skipped, None, Some(why.clone())),
            }
        }
        self.in_flight.clear();
    }

    /// The cancellation token fired: every unfinished task is cancelled.
    fn cancel_all(&mut self) {
        self.stopped.get_or_insert(StopReason::Cancelled);
        for i in 0..self.state.len() {
            match self.state[i] {
                State::Done => {}
                State::Running => self.terminate(
                    i,
                    TaskStatus::Cancelled,
                    None,
                    Some("run cancelled while it was running".into()),
                ),
                _ => self.terminate(
                    i,
                    TaskStatus::Cancelled,
                    None,
                    Some("run cancelled before it started".into()),
                ),
            }
        }
        self.in_flight.clear();
    }

    fn abandon(&mut self, why: &str) {
        for i in 0..self.state.len() {
            if self.state[i] != State::Done {
                self.terminate(i, TaskStatus::Skipped, None, Some(why.to_owned()));
            }
        }
    }

    fn finish(self) -> RunReport {
        let makespan = self
            .reports
            .iter()
            .filter_map(|r| r.end)
            .max()
            .unwrap_or_default();
        let total_task_time = self.reports.iter().map(|r| r.busy).sum();
        RunReport {
            tasks: self.reports,
            makespan,
            total_task_time,
            retries: self.retry_count,
            mode: self.cfg.mode,
            max_concurrent: self.slots.limit(),
            failure_mode: self.cfg.failure_mode,
            stopped: self.stopped,
        }
    }
}

/// Turns a panic inside a runner's attempt into a permanent error, so a buggy runner
/// cannot lose a task.
struct CatchPanic<F>(F);

impl<F: Future<Output = Result<TaskOutput, TaskError>> + Unpin> Future for CatchPanic<F> {
    type Output = Result<TaskOutput, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = Pin::new(&mut self.0);
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Poll::Ready(Err(TaskError::permanent(format!(
                    "the task runner panicked: {msg}"
                ))))
            }
        }
    }
}

//! The run loop: a task table plus the policies of [`crate::policy`], driven as
//! `wake → admit → poll → apply`.
//!
//! * **wake** moves tasks whose retry delay has passed back to the ready queues;
//! * **admit** launches ready tasks, highest remaining path first, while a slot (global and
//!   per key) and a rate token are free and the run has not stopped;
//! * **poll** waits for the next thing that can change the table: an attempt finishing, a
//!   timer (retry, rate, batch timeout, run deadline) or cancellation;
//! * **apply** turns it into state changes — an attempt's result through the one
//!   outcome policy ([`crate::policy::outcome`]), which also handles batch timeouts.
//!
//! Every task reaches its terminal state through one function, `Run::terminate`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{
    AttemptRecord, DependencyOutcome, Plan, RecordStatus, RunEvent, RunEventKind, RunId,
    RunObserver, RunStore, TaskContext, TaskError, TaskErrorKind, TaskOutput, TaskRunner,
    iteration_id, parse_verdict,
};
use dagent_graph::{LoopSet, TaskGraph};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::loops::Loops;
use crate::policy::barrier::LevelBarrier;
use crate::policy::clock::after;
use crate::policy::concurrency::{KeyIndex, Slots};
use crate::policy::failure::Dependents;
use crate::policy::outcome::{Decision, OutcomePolicy, Verdict};
use crate::policy::panic::CatchPanic;
use crate::policy::rate::RateGate;
use crate::policy::timeout::with_timeout;
use crate::{
    ExecutorConfig, JudgeVerdict, LoopStop, Mode, RunReport, StopReason, TaskReport, TaskStatus,
};

/// Runs plans. Configure once, run many times.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use dagent_core::{DependencyMap, Plan, Task};
/// # use dagent_executor::{Executor, ExecutorConfig, SimulatedRunner, TaskGraph};
/// # async fn demo() {
/// let plan = Arc::new(Plan::new(vec![Task::new("a", "A"), Task::new("b", "B")]));
/// let graph = TaskGraph::new(&plan, DependencyMap::from_lists(vec![vec![], vec![0]])).unwrap();
/// let runner = Arc::new(SimulatedRunner::new(Duration::from_millis(10)));
/// let report = Executor::new(ExecutorConfig::default()).run(plan, &graph, runner).await;
/// assert!(report.all_succeeded());
/// # }
/// ```
pub struct Executor {
    config: ExecutorConfig,
    observer: Option<Arc<dyn RunObserver>>,
    cancel: CancellationToken,
    store: Option<(Arc<dyn RunStore>, RunId)>,
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
            store: None,
        }
    }

    /// Records every finished attempt, and every task's terminal state, of the next run in
    /// `store` under `run`. An attempt is written (durably, in batches of the attempts that
    /// finished together) **before** observers, the report or any dependent hear of it, so
    /// a process killed at any instant loses at most the attempts in flight. If the store
    /// fails, no new task starts ([`StopReason::Store`]).
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn RunStore>, run: RunId) -> Self {
        self.store = Some((store, run));
        self
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

    /// Runs `plan` over its validated `graph` with `runner`; returns when every task is
    /// terminal. Priorities are the graph's remaining paths, weighted by
    /// [`Plan::weights`] (estimates, or task counts when there are none).
    ///
    /// The plan's loops ([`Plan::loops`], checked by [`LoopSet::new`]) repeat: when every
    /// task of an iteration is terminal, its judges' answers are read
    /// ([`dagent_core::parse_verdict`]); unless all approve, a body task did not succeed,
    /// `max_iterations` ran or the run has stopped, the next iteration is appended as new
    /// tasks (`code#2`, …: body dependencies map to the new copies, the others stay, and the
    /// body's sources also depend on every judge of the iteration before). Tasks outside a
    /// loop that depend on its body wait for it to end and receive its last iteration's
    /// outputs. Appended tasks are scheduled, limited, recorded and reported like any other
    /// ([`RunReport::loops`] says what each loop did). Invalid loops start nothing: every
    /// task is skipped with the reason.
    ///
    /// # Panics
    /// If `graph` was built for a plan of a different size.
    pub async fn run(
        &self,
        plan: Arc<Plan>,
        graph: &TaskGraph,
        runner: Arc<dyn TaskRunner>,
    ) -> RunReport {
        self.resume(plan, graph, runner, Vec::new()).await
    }

    /// Like [`Executor::run`], but tasks given an output in `reused` (by position) are not
    /// run: they succeed at once with that output (reported with `reused: true` and no
    /// attempt), which their dependents receive exactly as if they had just run. A task is
    /// reused only when all its dependencies are too (otherwise its inputs may change, and
    /// it runs). `reused` may be shorter than the plan.
    ///
    /// # Panics
    /// If `graph` was built for a plan of a different size.
    pub async fn resume(
        &self,
        plan: Arc<Plan>,
        graph: &TaskGraph,
        runner: Arc<dyn TaskRunner>,
        reused: Vec<Option<TaskOutput>>,
    ) -> RunReport {
        assert_eq!(
            plan.tasks.len(),
            graph.len(),
            "graph built for another plan"
        );
        let span = tracing::info_span!(
            "run",
            run_id = self.store.as_ref().map_or("", |(_, id)| id.as_str()),
            // Signed: OpenTelemetry exports no unsigned integers.
            tasks = i64::try_from(plan.tasks.len()).unwrap_or(i64::MAX),
            max_concurrent = i64::try_from(self.config.max_concurrent).unwrap_or(i64::MAX),
        );
        let loops = LoopSet::new(&plan, graph);
        let mut run = Run::new(self, plan, graph, runner);
        run.run_span = span.clone();
        match loops {
            Ok(set) if set.is_empty() => {}
            Ok(set) => run.with_loops(set),
            Err(e) => run.abandon(&format!("invalid loop: {}", e.message())),
        }
        run.reuse(reused);
        run.drive().instrument(span.clone()).await;
        run.flush_records();
        let report = run.finish();
        span.in_scope(|| {
            tracing::info!(
                makespan_ms = u64::try_from(report.makespan.as_millis()).unwrap_or(u64::MAX),
                retries = report.retries,
                stopped = report.stopped.as_ref().map(ToString::to_string),
                "run finished"
            );
        });
        report
    }
}

/// Where a task is in its life. `Done` is terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Dependencies unmet (or between an attempt's end and the decision about it).
    Waiting,
    /// Ready, but its level has not opened (batched mode).
    Held,
    /// In a ready queue.
    Ready,
    /// An attempt is in flight.
    Running,
    /// Waiting out a retry delay.
    Backoff,
    Done,
}

type Attempt = (usize, u32, Result<TaskOutput, TaskError>);

/// Milliseconds of a duration, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Most attempts taken (and recorded) together in one pass of the loop.
const MAX_BATCH: usize = 512;
type InFlight = FuturesUnordered<Pin<Box<dyn Future<Output = Attempt> + Send>>>;

/// What `poll` saw.
enum Wake {
    /// Attempts finished (every one that had finished by the time of the poll, up to a
    /// batch: they are recorded in the store together).
    Attempts(Vec<Attempt>),
    /// A retry delay may have passed.
    Timer,
    /// The rate gate has a token again.
    RateToken,
    /// The open level's batch timeout passed.
    BatchTimeout,
    /// The run's deadline passed.
    Deadline,
    /// The cancellation token fired.
    Cancelled,
    /// Nothing can make progress (unreachable for a valid graph; recorded, never a hang).
    Stuck,
}

struct Run<'a> {
    exec: &'a Executor,
    cfg: &'a ExecutorConfig,
    plan: Arc<Plan>,
    graph: &'a TaskGraph,
    runner: Arc<dyn TaskRunner>,
    start: Instant,

    // The task table.
    state: Vec<State>,
    unmet: Vec<u32>,
    priority: Vec<u64>,
    attempt_start: Vec<Duration>,
    reports: Vec<TaskReport>,
    done: usize,
    keys: Vec<KeyIndex>,
    /// Ready tasks per key (index 0: no keyed limit), highest remaining path first.
    ready: Vec<BinaryHeap<(u64, Reverse<u32>)>>,
    backoff: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Attempts in flight, polled in place by the run loop (no task spawn per attempt:
    /// runners are I/O-bound; one that needs a CPU thread spawns its own work).
    in_flight: InFlight,

    // The policies.
    slots: Slots,
    rate: Option<RateGate>,
    rate_wake: Option<Instant>,
    barrier: LevelBarrier,
    outcome: OutcomePolicy,
    deadline: Option<Instant>,

    stopped: Option<StopReason>,
    stopped_at: Option<Duration>,
    retry_count: u32,
    /// Terminal records of tasks that ended without a success, written with the next batch
    /// (they cost nothing, so losing them to a kill loses nothing).
    pending_records: Vec<AttemptRecord>,
    /// The run's span, and each task's (open from its first attempt to its terminal state):
    /// attempts nest in their task, provider calls in their attempt.
    run_span: tracing::Span,
    task_spans: Vec<Option<tracing::Span>>,
    /// The plan's loops and the tasks appended for them (`None` without loops: the plan's
    /// own positions are then all there is, and nothing below looks further).
    loops: Option<Box<Loops>>,
}

impl<'a> Run<'a> {
    fn new(
        exec: &'a Executor,
        plan: Arc<Plan>,
        graph: &'a TaskGraph,
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
                reused: false,
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
            priority: graph.remaining_path(&plan.weights().values),
            attempt_start: vec![Duration::ZERO; n],
            reports,
            done: 0,
            keys,
            ready: (0..=key_count).map(|_| BinaryHeap::new()).collect(),
            backoff: BinaryHeap::new(),
            in_flight: FuturesUnordered::new(),
            slots,
            rate: cfg.max_tasks_per_second.and_then(RateGate::new),
            rate_wake: None,
            barrier: LevelBarrier::new(
                (0..n).map(|i| graph.level_of(i)),
                cfg.mode == Mode::Batched,
                cfg.batch_timeout,
            ),
            outcome: OutcomePolicy::new(cfg.retry.clone(), cfg.breaker, cfg.failure_mode),
            deadline: None,
            stopped: None,
            stopped_at: None,
            retry_count: 0,
            pending_records: Vec::new(),
            run_span: tracing::Span::none(),
            task_spans: vec![None; n],
            loops: None,
            plan,
        }
    }

    /// Adds the plan's loops: a task outside a loop that depends on its body waits for the
    /// loop to end (one more unmet dependency, released by `end_loop`).
    fn with_loops(&mut self, set: LoopSet) {
        for info in set.loops() {
            for &o in &info.dependents {
                self.unmet[o] = self.unmet[o].saturating_add(1);
            }
        }
        self.loops = Some(Box::new(Loops::new(set, self.graph.len())));
    }

    /// Task `i`'s dependencies (positions).
    fn deps(&self, i: usize) -> &[usize] {
        match &self.loops {
            Some(l) if i >= l.base => &l.deps[i - l.base],
            _ => self.graph.deps_of(i),
        }
    }

    /// Task `i`'s dependents (positions).
    fn dependents(&self, i: usize) -> &[usize] {
        match &self.loops {
            Some(l) if i >= l.base => &l.dependents[i - l.base],
            _ => self.graph.dependents_of(i),
        }
    }

    /// Task `i`'s level (an appended task has its original's).
    fn level(&self, i: usize) -> usize {
        match &self.loops {
            Some(l) if i >= l.base => self.graph.level_of(l.origin_of(i)),
            _ => self.graph.level_of(i),
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
        let now = Instant::now();
        self.barrier.start(now);
        self.deadline = self.cfg.deadline.map(|d| after(now, d));
        for i in 0..n {
            if self.unmet[i] == 0 && self.state[i] == State::Waiting {
                self.make_ready(i);
            }
        }
        self.advance_loops();
        while self.done < self.state.len() {
            self.wake();
            self.admit();
            let event = self.poll().await;
            self.apply(event);
            self.advance_loops();
        }
        // Dropping attempts still in flight cancels them.
        self.in_flight.clear();
    }

    // ---- wake ----------------------------------------------------------------------

    fn wake(&mut self) {
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

    fn make_ready(&mut self, i: usize) {
        if !self.barrier.admit(i, self.level(i)) {
            self.state[i] = State::Held;
            return;
        }
        self.state[i] = State::Ready;
        let heap = self.keys[i].map_or(0, |k| k as usize + 1);
        self.ready[heap].push((self.priority[i], Reverse(i as u32)));
    }

    // ---- admit ---------------------------------------------------------------------

    fn admit(&mut self) {
        while self.stopped.is_none() && self.slots.global_free() && self.rate_wake.is_none() {
            let Some(i) = self.pick() else { return };
            if let Some(rate) = &self.rate
                && let Err(wait) = rate.try_acquire()
            {
                self.make_ready(i);
                self.rate_wake = Some(after(Instant::now(), wait));
                return;
            }
            self.launch(i);
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

    fn inputs(&self, i: usize) -> Vec<(usize, DependencyOutcome)> {
        self.deps(i)
            .iter()
            .map(|&d| {
                // A dependency on a loop's body, from outside it, is its last iteration.
                let d = match &self.loops {
                    Some(l) if l.member(d).map(|m| m.0) != l.member(i).map(|m| m.0) => l.latest(d),
                    _ => d,
                };
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
        let task_span = self.task_spans[i]
            .get_or_insert_with(|| {
                tracing::info_span!(
                    parent: &self.run_span,
                    "task",
                    task = %self.plan.tasks[i].id,
                    status = tracing::field::Empty
                )
            })
            .clone();
        let attempt_span = tracing::info_span!(parent: &task_span, "attempt", attempt = i64::from(attempt), status = tracing::field::Empty);
        self.in_flight.push(Box::pin(
            async move {
                let result = with_timeout(limit, CatchPanic(runner.run(ctx))).await;
                let span = tracing::Span::current();
                match &result {
                    Ok(_) => span.record("status", "succeeded"),
                    Err(e) => span.record("status", e.kind().as_str()),
                };
                (i, attempt, result)
            }
            .instrument(attempt_span),
        ));
    }

    // ---- poll ----------------------------------------------------------------------

    async fn poll(&mut self) -> Wake {
        if self.exec.cancel.is_cancelled() {
            return Wake::Cancelled;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Wake::Deadline;
        }
        // Take an attempt that is already finished before waiting on anything: this keeps
        // the per-task cost low when runners complete quickly.
        if !self.in_flight.is_empty() {
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match self.in_flight.next().now_or_never() {
                    Some(Some(attempt)) => batch.push(attempt),
                    _ => break,
                }
            }
            if !batch.is_empty() {
                return Wake::Attempts(batch);
            }
        }
        let next_backoff = self.backoff.peek().map(|Reverse((at, _))| *at);
        let rate_wake = self.rate_wake;
        if self.in_flight.is_empty() && next_backoff.is_none() && rate_wake.is_none() {
            return Wake::Stuck;
        }
        let batch = self.barrier.deadline();
        let deadline = self.deadline;
        // Only the value of a disabled branch: never slept on.
        let far = self.start;
        tokio::select! {
            biased;
            () = self.exec.cancel.cancelled() => Wake::Cancelled,
            joined = self.in_flight.next(), if !self.in_flight.is_empty() => {
                joined.map_or(Wake::Timer, |a| {
                    // Others may have finished at the same instant: take them together, so
                    // they are recorded together and a stop cannot drop a finished one.
                    let mut batch = vec![a];
                    while batch.len() < MAX_BATCH {
                        match self.in_flight.next().now_or_never() {
                            Some(Some(more)) => batch.push(more),
                            _ => break,
                        }
                    }
                    Wake::Attempts(batch)
                })
            }
            () = tokio::time::sleep_until(next_backoff.unwrap_or(far)), if next_backoff.is_some() => Wake::Timer,
            () = tokio::time::sleep_until(rate_wake.unwrap_or(far)), if rate_wake.is_some() => Wake::RateToken,
            () = tokio::time::sleep_until(batch.unwrap_or(far)), if batch.is_some() => Wake::BatchTimeout,
            () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => Wake::Deadline,
        }
    }

    // ---- apply ---------------------------------------------------------------------

    fn apply(&mut self, wake: Wake) {
        match wake {
            Wake::Attempts(batch) => self.apply_attempts(batch),
            Wake::Timer => {}
            Wake::RateToken => self.rate_wake = None,
            Wake::BatchTimeout => self.batch_timed_out(),
            Wake::Deadline => {
                // Attempts that already finished are paid: record and apply them first.
                self.apply_finished_now();
                self.deadline = None; // it fires once
                let limit = self.cfg.deadline.unwrap_or_default();
                self.stop(StopReason::Deadline(limit));
            }
            Wake::Cancelled => {
                self.apply_finished_now();
                self.cancel_all();
            }
            Wake::Stuck => self.abandon("internal: no runnable task remained"),
        }
    }

    /// Records a batch of finished attempts, then applies them. Durable first: every
    /// attempt is in the store before anything — observers, dependents, the report — hears
    /// of it. Successes are applied first, so a failure in the same batch that stops the run
    /// (fail-fast) cannot turn a recorded, paid success into a cancellation.
    fn apply_attempts(&mut self, mut batch: Vec<Attempt>) {
        batch.sort_by_key(|(_, _, result)| result.is_err());
        if self.exec.store.is_some() {
            let records: Vec<AttemptRecord> = batch
                .iter()
                .filter(|(i, attempt, _)| {
                    self.state[*i] == State::Running && self.reports[*i].attempts == *attempt
                })
                .map(|(i, attempt, result)| self.attempt_record(*i, *attempt, result))
                .collect();
            self.persist(records);
        }
        for (i, attempt, result) in batch {
            self.finish_attempt(i, attempt, result);
        }
    }

    /// Takes and applies every attempt that has already finished (before a cancellation or
    /// the deadline clears the rest).
    fn apply_finished_now(&mut self) {
        let mut batch = Vec::new();
        while let Some(Some(attempt)) = self.in_flight.next().now_or_never() {
            batch.push(attempt);
        }
        if !batch.is_empty() {
            self.apply_attempts(batch);
        }
    }

    /// The store's record of one finished attempt.
    fn attempt_record(
        &self,
        i: usize,
        attempt: u32,
        result: &Result<TaskOutput, TaskError>,
    ) -> AttemptRecord {
        let (status, output, error) = match result {
            Ok(out) => (RecordStatus::Succeeded, Some(out), None),
            Err(e) if e.kind() == TaskErrorKind::Cancelled => {
                (RecordStatus::Cancelled, None, Some(e))
            }
            Err(e) => (RecordStatus::Failed, None, Some(e)),
        };
        AttemptRecord {
            task: i,
            task_id: self.plan.tasks[i].id.clone(),
            attempt,
            start_ms: millis(self.attempt_start[i]),
            end_ms: millis(self.now()),
            status,
            terminal: status == RecordStatus::Succeeded,
            error_kind: error.map(|e| e.kind().as_str().to_owned()),
            message: error.map(|e| e.message().to_owned()),
            model: output.and_then(|o| o.model.clone()),
            endpoint: None,
            usage: output.and_then(|o| o.usage),
            cost: output.and_then(|o| o.cost),
            output: output.map(|o| o.text.clone()),
        }
    }

    /// Writes `records` (and the terminal records waiting) to the store in one batch. If the
    /// store fails, the run stops launching: a result that cannot be recorded would not
    /// survive a crash, and paying for more of them is worse than stopping.
    fn persist(&mut self, mut records: Vec<AttemptRecord>) {
        let Some((store, run)) = &self.exec.store else {
            return;
        };
        if !self.pending_records.is_empty() {
            let mut all = std::mem::take(&mut self.pending_records);
            all.append(&mut records);
            records = all;
        }
        if records.is_empty() {
            return;
        }
        // A busy or briefly failing store gets a few more tries before the run gives up.
        let mut result = store.record(run, &records);
        for _ in 0..3 {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            result = store.record(run, &records);
        }
        if let Err(e) = &result {
            self.run_span.in_scope(|| {
                tracing::warn!(error = %e, "the run store failed: no new task starts");
            });
        }
        if let Err(e) = result {
            // These attempts' results stay in the report (they are paid), but they will not
            // survive a crash: stop launching, and say why.
            self.stop(StopReason::Store(e.message().to_owned()));
        }
    }

    /// Writes the terminal records still waiting (at the end of the run).
    fn flush_records(&mut self) {
        if self
            .stopped
            .as_ref()
            .is_some_and(|s| matches!(s, StopReason::Store(_)))
        {
            return;
        }
        self.persist(Vec::new());
    }

    /// Marks the tasks given an output as succeeded without running them, in topological
    /// order, and only when all their dependencies are reused too.
    fn reuse(&mut self, reused: Vec<Option<TaskOutput>>) {
        if reused.iter().all(Option::is_none) {
            return;
        }
        let mut reused: Vec<Option<TaskOutput>> = reused;
        reused.resize(self.plan.tasks.len(), None);
        let order: Vec<usize> = self.graph.topological_order().to_vec();
        // A task that waits for a loop to end is never reused: its inputs are the loop's
        // last iteration, not known yet.
        let mut waits_for_loop = Vec::new();
        if let Some(l) = &self.loops {
            waits_for_loop.resize(self.plan.tasks.len(), false);
            for info in l.set.loops() {
                for &o in &info.dependents {
                    waits_for_loop[o] = true;
                }
            }
        }
        for i in order {
            let Some(output) = reused[i].take() else {
                continue;
            };
            let inputs_reused = self.deps(i).iter().all(|&d| self.reports[d].reused);
            if !inputs_reused || waits_for_loop.get(i).copied().unwrap_or(false) {
                continue;
            }
            self.reports[i].output = Some(Arc::new(output));
            self.reports[i].reused = true;
            self.terminate(i, TaskStatus::Succeeded, None, None);
            for k in 0..self.dependents(i).len() {
                let w = self.dependents(i)[k];
                self.unmet[w] = self.unmet[w].saturating_sub(1);
            }
        }
    }

    fn finish_attempt(&mut self, i: usize, attempt: u32, result: Result<TaskOutput, TaskError>) {
        if self.state[i] != State::Running || self.reports[i].attempts != attempt {
            return; // stale: the task was already stopped
        }
        self.slots.release(self.keys[i]);
        let now = self.now();
        let busy = &mut self.reports[i].busy;
        *busy = busy.saturating_add(now.saturating_sub(self.attempt_start[i]));
        self.state[i] = State::Waiting; // between attempts: neither running nor terminal
        let may_retry = self.stopped.is_none();
        let id = &self.plan.tasks[i].id; // borrowed: the hot path must not touch the id
        let decision = self.outcome.decide(i, id, attempt, result, may_retry);
        if !decision.counts {
            // Refused before any request was sent: not an attempt, not a retry.
            let report = &mut self.reports[i];
            report.attempts -= 1;
            if report.attempts == 0 {
                report.start = None;
            } else {
                self.retry_count = self.retry_count.saturating_sub(1);
            }
        }
        self.apply_decision(i, attempt, decision);
    }

    fn apply_decision(&mut self, i: usize, attempt: u32, decision: Decision) {
        let Decision { verdict, stop, .. } = decision;
        let succeeded = match verdict {
            Verdict::Succeed(output) => {
                self.reports[i].output = Some(Arc::new(output));
                self.terminate(i, TaskStatus::Succeeded, None, None);
                true
            }
            Verdict::Retry { delay, error } => {
                if let Some(span) = &self.task_spans[i] {
                    span.in_scope(|| {
                        tracing::info!(
                            attempt,
                            retry_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            error_kind = error.kind().as_str(),
                            error = %error.message(),
                            "retrying"
                        );
                    });
                }
                self.state[i] = State::Backoff;
                let at = after(Instant::now(), delay);
                self.backoff.push(Reverse((at, i as u32)));
                self.emit(
                    i,
                    RunEventKind::Retrying {
                        attempt,
                        delay,
                        error,
                    },
                );
                return;
            }
            Verdict::Fail(error) => {
                self.terminate(i, TaskStatus::Failed, Some(error), None);
                false
            }
            Verdict::Cancelled(error) => {
                self.terminate(
                    i,
                    TaskStatus::Cancelled,
                    Some(error),
                    Some("the runner reported cancellation".into()),
                );
                false
            }
        };
        if let Some(reason) = stop {
            self.stop(reason);
        }
        if succeeded {
            for k in 0..self.dependents(i).len() {
                let w = self.dependents(i)[k];
                self.resolve_dependency(w);
            }
        } else {
            self.after_unsuccessful(i);
        }
    }

    fn resolve_dependency(&mut self, w: usize) {
        self.unmet[w] = self.unmet[w].saturating_sub(1);
        if self.unmet[w] == 0 && self.state[w] == State::Waiting {
            if let Some(why) = self.stopped.as_ref().map(ToString::to_string) {
                self.terminate(w, TaskStatus::Skipped, None, Some(why));
            } else {
                self.make_ready(w);
            }
        }
    }

    /// A task ended without output: its dependents are skipped, or run with the failure
    /// (partial completion).
    fn after_unsuccessful(&mut self, i: usize) {
        match self.outcome.failure().dependents() {
            Dependents::Run => {
                for k in 0..self.dependents(i).len() {
                    let w = self.dependents(i)[k];
                    self.resolve_dependency(w);
                }
            }
            Dependents::Skip => {
                let id = &self.plan.tasks[i].id;
                let verb = if self.reports[i].status == TaskStatus::Failed {
                    "failed"
                } else {
                    "did not run"
                };
                let mut stack: Vec<(usize, String)> = self
                    .dependents(i)
                    .iter()
                    .map(|&w| (w, format!("dependency \"{id}\" {verb}")))
                    .collect();
                while let Some((w, why)) = stack.pop() {
                    if self.state[w] == State::Done {
                        continue;
                    }
                    let wid = self.plan.tasks[w].id.clone();
                    self.terminate(w, TaskStatus::Skipped, None, Some(why));
                    stack.extend(
                        self.dependents(w)
                            .iter()
                            .map(|&x| (x, format!("dependency \"{wid}\" did not run"))),
                    );
                }
            }
        }
    }

    /// The one way a task becomes terminal.
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
        let at = Instant::now();
        let now = at.saturating_duration_since(self.start);
        if self.state[i] == State::Running {
            self.slots.release(self.keys[i]);
            let busy = &mut self.reports[i].busy;
            *busy = busy.saturating_add(now.saturating_sub(self.attempt_start[i]));
        }
        self.state[i] = State::Done;
        self.done += 1;
        let r = &mut self.reports[i];
        r.status = status;
        r.end = Some(now);
        if error.is_some() {
            r.error = error;
        }
        r.reason = reason;
        if self.exec.store.is_some() && (status != TaskStatus::Succeeded || r.reused) {
            let record = AttemptRecord {
                task: i,
                task_id: r.id.clone(),
                attempt: 0,
                start_ms: millis(now),
                end_ms: millis(now),
                status: match status {
                    TaskStatus::Succeeded => RecordStatus::Succeeded,
                    TaskStatus::Failed => RecordStatus::Failed,
                    TaskStatus::Skipped => RecordStatus::Skipped,
                    TaskStatus::Cancelled => RecordStatus::Cancelled,
                },
                terminal: true,
                error_kind: r.error.as_ref().map(|e| e.kind().as_str().to_owned()),
                message: r
                    .reason
                    .clone()
                    .or_else(|| r.error.as_ref().map(|e| e.message().to_owned())),
                model: None,
                endpoint: None,
                usage: None,
                cost: None,
                output: r
                    .output
                    .as_ref()
                    .filter(|_| r.reused)
                    .map(|o| o.text.clone()),
            };
            self.pending_records.push(record);
        }
        if let Some(span) = self.task_spans[i].take() {
            span.record("status", status.as_str());
            if status != TaskStatus::Succeeded {
                let r = &self.reports[i];
                span.in_scope(|| {
                    tracing::info!(
                        status = status.as_str(),
                        reason = r.reason.as_deref(),
                        error = r.error.as_ref().map(|e| e.message()),
                        "task ended without success"
                    );
                });
            }
        }
        let r = &self.reports[i];
        let kind = match status {
            TaskStatus::Succeeded if r.reused => RunEventKind::Reused,
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
        if let Some(loops) = &mut self.loops {
            loops.terminated(i);
        }
        for held in self.barrier.finished(self.level(i), at) {
            if self.state[held] == State::Held {
                self.make_ready(held);
            }
        }
    }

    // ---- loops ---------------------------------------------------------------------

    /// Decides about every loop whose current iteration has just ended.
    fn advance_loops(&mut self) {
        while let Some(l) = self.loops.as_mut().and_then(|loops| loops.pending.pop()) {
            self.end_iteration(l);
        }
    }

    /// Every task of loop `l`'s current iteration is terminal: read the judges' verdicts,
    /// then end the loop or append the next iteration.
    fn end_iteration(&mut self, l: usize) {
        let Some(loops) = self.loops.as_deref_mut() else {
            return;
        };
        let info = &loops.set.loops()[l];
        let run = &mut loops.runs[l];
        let current = run.current.clone();
        let all_succeeded = current
            .iter()
            .all(|&t| self.reports[t].status == TaskStatus::Succeeded);
        let verdicts: Vec<JudgeVerdict> = info
            .judges
            .iter()
            .map(|&j| {
                let b = info.body.binary_search(&j).unwrap_or_default();
                let t = current[b];
                let report = &self.reports[t];
                let verdict = report
                    .output
                    .as_ref()
                    .filter(|_| report.status == TaskStatus::Succeeded)
                    .and_then(|o| parse_verdict(&o.text))
                    .map(str::to_owned);
                let approved = verdict
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(&info.repeat_until));
                JudgeVerdict {
                    judge: self.plan.tasks[j].id.clone(),
                    task: report.id.clone(),
                    verdict,
                    approved,
                }
            })
            .collect();
        let approved = verdicts.iter().all(|v| v.approved);
        let k = u32::try_from(run.iterations.len()).unwrap_or(u32::MAX);
        if let Some(it) = run.iterations.last_mut() {
            it.verdicts = verdicts;
        }
        let stop = if !all_succeeded {
            Some(if self.stopped.is_some() {
                LoopStop::Cancelled
            } else {
                LoopStop::Failed
            })
        } else if approved {
            Some(LoopStop::Approved)
        } else if k >= info.max_iterations {
            Some(LoopStop::MaxIterations)
        } else if self.stopped.is_some() {
            Some(LoopStop::Cancelled)
        } else {
            None
        };
        self.run_span.in_scope(|| {
            tracing::info!(
                loop_id = %info.id,
                iteration = k,
                approved,
                stop = stop.map(LoopStop::as_str),
                "loop iteration ended"
            );
        });
        match stop {
            Some(stop) => {
                run.stop = Some(stop);
                self.end_loop(l);
            }
            None => self.append_iteration(l, k + 1),
        }
    }

    /// Appends iteration `k` of loop `l`: a copy of each body task, whose body dependencies
    /// are the new copies and whose other dependencies stay (the newest copy, for another
    /// loop's task); the body's sources also depend on their own copy and every judge of
    /// iteration `k - 1`, so the coder receives its last answer and every review.
    fn append_iteration(&mut self, l: usize, k: u32) {
        let Some(loops) = self.loops.as_deref_mut() else {
            return;
        };
        let info = loops.set.loops()[l].clone();
        let prev = loops.runs[l].current.clone();
        let first = self.state.len();
        let fresh: Vec<usize> = (first..first + info.body.len()).collect();
        let prev_judges: Vec<usize> = info
            .judges
            .iter()
            .map(|j| prev[info.body.binary_search(j).unwrap_or_default()])
            .collect();
        let mut tasks = Vec::with_capacity(fresh.len());
        let mut all_deps = Vec::with_capacity(fresh.len());
        for (b, &orig) in info.body.iter().enumerate() {
            let mut deps: Vec<usize> = self
                .graph
                .deps_of(orig)
                .iter()
                .map(|&d| match loops.member(d) {
                    Some((dl, db)) if dl == l => fresh[db],
                    _ => loops.latest(d),
                })
                .collect();
            if info.sources.binary_search(&orig).is_ok() {
                deps.push(prev[b]);
                deps.extend_from_slice(&prev_judges);
            }
            deps.sort_unstable();
            deps.dedup();
            let mut task = self.plan.tasks[orig].clone();
            task.id = iteration_id(&task.id, k);
            task.depends_on = Some(
                deps.iter()
                    .map(|&d| {
                        if d < first {
                            self.plan.tasks[d].id.clone()
                        } else {
                            iteration_id(&self.plan.tasks[info.body[d - first]].id, k)
                        }
                    })
                    .collect(),
            );
            loops.origin.push((orig, l, b));
            loops.dependents.push(Vec::new());
            tasks.push(task);
            all_deps.push(deps);
        }
        for (t, deps) in fresh.iter().zip(&all_deps) {
            for &d in deps {
                if d >= first {
                    loops.dependents[d - loops.base].push(*t);
                }
            }
        }
        let run = &mut loops.runs[l];
        run.current.clone_from(&fresh);
        run.left = fresh.len();
        run.iterations.push(crate::IterationReport {
            iteration: k,
            tasks: fresh.clone(),
            verdicts: Vec::new(),
        });
        let mut plan = (*self.plan).clone();
        for ((task, deps), &orig) in tasks.into_iter().zip(all_deps).zip(&info.body) {
            let unmet = deps
                .iter()
                .filter(|&&d| d >= first || self.state[d] != State::Done)
                .count();
            self.state.push(State::Waiting);
            self.unmet.push(u32::try_from(unmet).unwrap_or(u32::MAX));
            self.priority.push(self.priority[orig]);
            self.attempt_start.push(Duration::ZERO);
            self.keys.push(self.keys[orig]);
            self.task_spans.push(None);
            self.reports.push(TaskReport {
                id: task.id.clone(),
                status: TaskStatus::Skipped,
                attempts: 0,
                start: None,
                end: None,
                busy: Duration::ZERO,
                error: None,
                reason: None,
                output: None,
                reused: false,
            });
            self.barrier.add(self.graph.level_of(orig));
            loops.deps.push(deps);
            plan.tasks.push(task);
        }
        self.plan = Arc::new(plan);
        self.run_span.in_scope(|| {
            tracing::info!(loop_id = %info.id, iteration = k, tasks = fresh.len(), "loop iteration appended");
        });
        for (&t, &orig) in fresh.iter().zip(&info.body) {
            let depends_on = self
                .loops
                .as_deref()
                .and_then(|l| l.deps.get(t - l.base))
                .cloned()
                .unwrap_or_default();
            self.emit(
                t,
                RunEventKind::Appended {
                    copy_of: orig,
                    title: self.plan.tasks[t].title.clone(),
                    depends_on,
                },
            );
        }
        for t in fresh {
            if self.unmet[t] == 0 && self.state[t] == State::Waiting {
                self.make_ready(t);
            }
        }
    }

    /// Loop `l` has ended: the tasks that depend on its body may go on, with its last
    /// iteration as their input (skipped, when that did not succeed and dependents of
    /// failures are skipped).
    fn end_loop(&mut self, l: usize) {
        let Some(loops) = self.loops.as_deref() else {
            return;
        };
        let info = &loops.set.loops()[l];
        let waiting: Vec<(usize, Option<usize>)> = info
            .dependents
            .iter()
            .filter(|&&o| self.state[o] != State::Done)
            .map(|&o| {
                let unsuccessful = self
                    .graph
                    .deps_of(o)
                    .iter()
                    .filter(|&&d| loops.member(d).is_some_and(|(dl, _)| dl == l))
                    .map(|&d| loops.latest(d))
                    .find(|&t| self.reports[t].status != TaskStatus::Succeeded);
                (o, unsuccessful)
            })
            .collect();
        let skip = self.outcome.failure().dependents() == Dependents::Skip;
        for (o, unsuccessful) in waiting {
            if self.state[o] == State::Done {
                continue; // skipped meanwhile
            }
            match unsuccessful {
                Some(t) if skip => {
                    let verb = if self.reports[t].status == TaskStatus::Failed {
                        "failed"
                    } else {
                        "did not run"
                    };
                    let why = format!("dependency \"{}\" {verb}", self.reports[t].id);
                    self.terminate(o, TaskStatus::Skipped, None, Some(why));
                    self.after_unsuccessful(o);
                }
                _ => self.resolve_dependency(o),
            }
        }
    }

    /// The open level ran out of time. Its unfinished attempts end as timeouts through the
    /// outcome policy (so the breaker and fail-fast see them); its tasks that never started
    /// are skipped.
    fn batch_timed_out(&mut self) {
        let (level, message) = self.barrier.timed_out();
        let members: Vec<usize> = (0..self.state.len())
            .filter(|&i| self.level(i) == level && self.state[i] != State::Done)
            .collect();
        for i in members {
            match self.state[i] {
                State::Done => continue, // a stop ended it meanwhile
                State::Running | State::Backoff => {
                    let attempt = self.reports[i].attempts;
                    let error = TaskError::new(TaskErrorKind::Timeout, message.clone());
                    let id = &self.plan.tasks[i].id;
                    let decision = self.outcome.decide(i, id, attempt, Err(error), false);
                    self.apply_decision(i, attempt, decision);
                }
                _ => {
                    self.terminate(
                        i,
                        TaskStatus::Skipped,
                        None,
                        Some(format!("{message} before it started")),
                    );
                    self.after_unsuccessful(i);
                }
            }
        }
        // Dropping the batch's attempts still in flight cancels them.
        self.in_flight.clear();
    }

    /// The run stops: nothing new starts. Tasks not yet started are skipped; tasks in
    /// flight are cancelled, except when the breaker opened (they finish). A run the
    /// breaker stopped can still be stopped for good (the deadline passing): its tasks in
    /// flight are then cancelled, and the report keeps the first reason.
    fn stop(&mut self, reason: StopReason) {
        let cancel = reason.cancels_in_flight();
        if let Some(first) = &self.stopped
            && (!cancel || first.cancels_in_flight())
        {
            return;
        }
        let why = reason.to_string();
        let kind = match &reason {
            StopReason::Cancelled => "cancelled",
            StopReason::FailFast(_) => "fail_fast",
            StopReason::Breaker(_) => "breaker",
            StopReason::Deadline(_) => "deadline",
            StopReason::Store(_) => "store",
        };
        // `stop` says why for metrics (`breaker`: the circuit breaker opened).
        self.run_span
            .in_scope(|| tracing::info!(stop = kind, reason = %why, "run stopped"));
        if self.stopped.is_none() {
            self.stopped = Some(reason);
            self.stopped_at = Some(self.now());
        }
        for i in 0..self.state.len() {
            match self.state[i] {
                State::Done => {}
                State::Running if !cancel => {}
                State::Running => {
                    self.terminate(i, TaskStatus::Cancelled, None, Some(why.clone()));
                }
                _ => self.terminate(i, TaskStatus::Skipped, None, Some(why.clone())),
            }
        }
        if cancel {
            self.in_flight.clear();
        }
    }

    /// The cancellation token fired: every unfinished task is cancelled.
    fn cancel_all(&mut self) {
        self.stopped.get_or_insert(StopReason::Cancelled);
        self.stopped_at.get_or_insert(self.start.elapsed());
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
        let total_task_time = self
            .reports
            .iter()
            .fold(Duration::ZERO, |a, r| a.saturating_add(r.busy));
        RunReport {
            tasks: self.reports,
            makespan,
            total_task_time,
            retries: self.retry_count,
            mode: self.cfg.mode,
            max_concurrent: self.slots.limit(),
            failure_mode: self.cfg.failure_mode,
            stopped: self.stopped,
            stopped_at: self.stopped_at,
            appended: match &self.loops {
                Some(l) => self.plan.tasks[l.base..].to_vec(),
                None => Vec::new(),
            },
            loops: self.loops.map(|l| l.reports()).unwrap_or_default(),
        }
    }
}

//! The scheduler on tokio's paused clock: simulated durations are exact and instant.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dagent_adapters::load_plan;
use dagent_analyzers::{FallbackChain, Strategy};
use dagent_core::{
    BoxFuture, DependencyMap, Plan, RunEvent, RunEventKind, RunObserver, SimulateSpec, Task,
    TaskContext, TaskError, TaskErrorKind, TaskOutput, TaskRunner,
};
use dagent_executor::{
    BreakerPolicy, CancellationToken, Executor, ExecutorConfig, FailureMode, Mode, RetryPolicy,
    RunReport, SimulatedRunner, StopReason, TaskGraph, TaskStatus,
};

const S: Duration = Duration::from_secs(1);

/// Collects every event.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<RunEvent>>);

impl RunObserver for Recorder {
    fn on_event(&self, event: &RunEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<RunEvent> {
        self.0.lock().unwrap().clone()
    }

    fn starts(&self) -> Vec<(String, Duration)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e.kind, RunEventKind::Started { .. }))
            .map(|e| (e.id.to_string(), e.at))
            .collect()
    }
}

async fn example(name: &str) -> (Arc<Plan>, TaskGraph) {
    let loaded = load_plan(&crate::support::root().join("examples").join(name), None).unwrap();
    let chain = FallbackChain::for_strategy(Strategy::Auto);
    let res = chain.resolve(&loaded.plan).await.unwrap();
    (Arc::new(loaded.plan), res.graph)
}

fn plan_of(tasks: Vec<Task>, deps: Vec<Vec<usize>>) -> (Arc<Plan>, TaskGraph) {
    let plan = Plan::new(tasks);
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps)).unwrap();
    (Arc::new(plan), graph)
}

fn task(id: &str, secs: u64) -> Task {
    Task::new(id, id).with_estimate(Duration::from_secs(secs))
}

fn cfg(k: usize) -> ExecutorConfig {
    ExecutorConfig {
        max_concurrent: k,
        retry: RetryPolicy::none(),
        ..ExecutorConfig::default()
    }
}

async fn run(
    config: ExecutorConfig,
    plan: Arc<Plan>,
    graph: &TaskGraph,
) -> (RunReport, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let runner = Arc::new(SimulatedRunner::new(S).with_task_timeout(config.task_timeout));
    let report = Executor::new(config)
        .with_observer(rec.clone())
        .run(plan, graph, runner)
        .await;
    assert_terminal_once(&report, &rec);
    (report, rec)
}

/// Every task has exactly one terminal event, matching its reported status.
pub fn assert_terminal_once(report: &RunReport, rec: &Recorder) {
    let events = rec.0.lock().unwrap();
    for (i, t) in report.tasks.iter().enumerate() {
        let terminal: Vec<&RunEvent> = events
            .iter()
            .filter(|e| e.task == i)
            .filter(|e| {
                matches!(
                    e.kind,
                    RunEventKind::Succeeded
                        | RunEventKind::Failed { .. }
                        | RunEventKind::Skipped { .. }
                        | RunEventKind::Cancelled
                )
            })
            .collect();
        assert_eq!(
            terminal.len(),
            1,
            "task {} has {} terminal events",
            t.id,
            terminal.len()
        );
        let status = match terminal[0].kind {
            RunEventKind::Succeeded => TaskStatus::Succeeded,
            RunEventKind::Failed { .. } => TaskStatus::Failed,
            RunEventKind::Skipped { .. } => TaskStatus::Skipped,
            _ => TaskStatus::Cancelled,
        };
        assert_eq!(status, t.status, "task {}", t.id);
        match t.status {
            TaskStatus::Succeeded => assert!(t.output.is_some()),
            TaskStatus::Failed => assert!(t.error.is_some()),
            TaskStatus::Skipped | TaskStatus::Cancelled => {
                assert!(t.reason.is_some() || t.error.is_some())
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn ten_cities_at_k10_is_slowest_research_plus_analysis_plus_report() {
    let (plan, graph) = example("ten-cities.toml").await;
    let (report, _) = run(cfg(10), plan, &graph).await;
    assert!(report.all_succeeded());
    assert_eq!(report.makespan, Duration::from_secs(50 + 30 + 30));
    assert_eq!(report.total_task_time, Duration::from_secs(481));
}

#[tokio::test(start_paused = true)]
async fn ten_cities_at_k3_follows_longest_path_first() {
    let (plan, graph) = example("ten-cities.toml").await;
    let (report, rec) = run(cfg(3), plan, &graph).await;
    // Research by remaining path: new-york 50, sydney 47, tokyo 45 start first; then rome,
    // london, bangkok as slots free; paris, barcelona, singapore; dubai last (ends 163 s).
    assert_eq!(report.makespan, Duration::from_secs(163 + 30 + 30));
    let lower_bound = Duration::from_secs(481)
        .div_f64(3.0)
        .max(Duration::from_secs(110));
    assert!(report.makespan >= lower_bound);
    let first: Vec<String> = rec.starts().into_iter().take(3).map(|(id, _)| id).collect();
    assert_eq!(first, ["new-york", "sydney", "tokyo"]);
}

#[tokio::test(start_paused = true)]
async fn eager_beats_level_barriers() {
    // a(10) → c(1); b(1) → d(10). Eager: d starts at 1 s. Batched: d waits for a.
    let (plan, graph) = plan_of(
        vec![task("a", 10), task("b", 1), task("c", 1), task("d", 10)],
        vec![vec![], vec![], vec![0], vec![1]],
    );
    let (eager, _) = run(cfg(4), plan.clone(), &graph).await;
    assert_eq!(eager.makespan, Duration::from_secs(11));
    let (batched, rec) = run(
        ExecutorConfig {
            mode: Mode::Batched,
            ..cfg(4)
        },
        plan,
        &graph,
    )
    .await;
    assert_eq!(batched.makespan, Duration::from_secs(20));
    let starts = rec.starts();
    assert!(
        starts.contains(&("d".to_owned(), Duration::from_secs(10))),
        "{starts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn priority_is_longest_remaining_path_then_plan_order() {
    // x(1) and y(1) are independent; y heads a 5 s chain, so y goes first at k = 1.
    let (plan, graph) = plan_of(
        vec![task("x", 1), task("y", 1), task("z", 5), task("w", 1)],
        vec![vec![], vec![], vec![1], vec![]],
    );
    let (_, rec) = run(cfg(1), plan, &graph).await;
    let order: Vec<String> = rec.starts().into_iter().map(|(id, _)| id).collect();
    assert_eq!(order, ["y", "z", "x", "w"]);
}

#[tokio::test(start_paused = true)]
async fn inputs_arrive_in_plan_order_and_sequential_gives_the_same_outputs() {
    // d depends on a, b, c which finish in the order c, b, a.
    let (plan, graph) = plan_of(
        vec![task("a", 3), task("b", 2), task("c", 1), task("d", 1)],
        vec![vec![], vec![], vec![], vec![2, 0, 1]],
    );
    let (parallel, _) = run(cfg(10), plan.clone(), &graph).await;
    let (sequential, _) = run(cfg(1), plan, &graph).await;
    let out = |r: &RunReport| {
        r.tasks
            .iter()
            .map(|t| t.output.as_ref().unwrap().text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(out(&parallel)[3], "simulated output of d from [a, b, c]");
    assert_eq!(out(&parallel), out(&sequential));
    assert_eq!(parallel.makespan, Duration::from_secs(4));
    assert_eq!(sequential.makespan, Duration::from_secs(7));
}

fn failing(id: &str, secs: u64, kind: dagent_core::FailureKind, times: Option<u32>) -> Task {
    let mut t = task(id, secs);
    t.simulate = Some(SimulateSpec { fail: kind, times });
    t
}

fn diamond_with_failure() -> (Arc<Plan>, TaskGraph) {
    // a fails; b independent; c needs a and b; d needs c; e needs b.
    plan_of(
        vec![
            failing("a", 1, dagent_core::FailureKind::Permanent, None),
            task("b", 2),
            task("c", 1),
            task("d", 1),
            task("e", 1),
        ],
        vec![vec![], vec![], vec![0, 1], vec![2], vec![1]],
    )
}

#[tokio::test(start_paused = true)]
async fn skip_dependents_skips_descendants_only() {
    let (plan, graph) = diamond_with_failure();
    let (r, _) = run(cfg(4), plan, &graph).await;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    use TaskStatus::*;
    assert_eq!(st, [Failed, Succeeded, Skipped, Skipped, Succeeded]);
    assert_eq!(
        r.tasks[2].reason.as_deref(),
        Some("dependency \"a\" failed")
    );
    assert_eq!(
        r.tasks[3].reason.as_deref(),
        Some("dependency \"c\" did not run")
    );
    assert_eq!(
        r.tasks[0].error.as_ref().unwrap().kind(),
        TaskErrorKind::Permanent
    );
}

#[tokio::test(start_paused = true)]
async fn partial_completion_runs_dependents_with_the_failure() {
    let (plan, graph) = diamond_with_failure();
    let config = ExecutorConfig {
        failure_mode: FailureMode::PartialCompletion,
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    assert_eq!(r.tasks[2].status, TaskStatus::Succeeded);
    assert_eq!(
        r.tasks[2].output.as_ref().unwrap().text,
        "simulated output of c from [a (failed), b]"
    );
    assert_eq!(r.tasks[3].status, TaskStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_in_flight_and_skips_the_rest() {
    let (plan, graph) = diamond_with_failure();
    let config = ExecutorConfig {
        failure_mode: FailureMode::FailFast,
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    use TaskStatus::*;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    assert_eq!(st, [Failed, Cancelled, Skipped, Skipped, Skipped]);
    assert_eq!(r.stopped, Some(StopReason::FailFast("a".into())));
    assert_eq!(r.makespan, S);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_with_exponential_backoff() {
    let (plan, graph) = plan_of(
        vec![failing(
            "a",
            1,
            dagent_core::FailureKind::Transient,
            Some(2),
        )],
        vec![vec![]],
    );
    let retry = RetryPolicy {
        max_retries: 3,
        delays: vec![S, 2 * S],
        jitter: false,
        ..RetryPolicy::default()
    };
    let (r, rec) = run(ExecutorConfig { retry, ..cfg(1) }, plan, &graph).await;
    assert_eq!(r.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(r.tasks[0].attempts, 3);
    assert_eq!(r.retries, 2);
    // Attempt 1: 0–1 s; wait 1 s; attempt 2: 2–3 s; wait 2 s; attempt 3: 5–6 s.
    let starts: Vec<Duration> = rec.starts().into_iter().map(|(_, at)| at).collect();
    assert_eq!(starts, [Duration::ZERO, 2 * S, 5 * S]);
    assert_eq!(r.makespan, 6 * S);
    assert_eq!(r.tasks[0].busy, 3 * S);
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_and_permanent_errors_are_not_retried() {
    let (plan, graph) = plan_of(
        vec![
            failing("a", 1, dagent_core::FailureKind::Transient, None),
            failing("b", 1, dagent_core::FailureKind::Permanent, None),
        ],
        vec![vec![], vec![]],
    );
    let retry = RetryPolicy {
        max_retries: 2,
        delays: vec![S],
        jitter: false,
        ..RetryPolicy::default()
    };
    let (r, _) = run(ExecutorConfig { retry, ..cfg(2) }, plan, &graph).await;
    assert_eq!(
        (r.tasks[0].status, r.tasks[0].attempts),
        (TaskStatus::Failed, 3)
    );
    assert_eq!(
        (r.tasks[1].status, r.tasks[1].attempts),
        (TaskStatus::Failed, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_backoff_stays_within_bounds() {
    let (plan, graph) = plan_of(
        vec![failing(
            "a",
            1,
            dagent_core::FailureKind::Transient,
            Some(1),
        )],
        vec![vec![]],
    );
    let retry = RetryPolicy {
        max_retries: 1,
        delays: vec![4 * S],
        jitter: true,
        jitter_seed: Some(7),
        ..RetryPolicy::default()
    };
    let (_, rec) = run(ExecutorConfig { retry, ..cfg(1) }, plan, &graph).await;
    let second = rec.starts()[1].1;
    assert!(second >= 5 * S && second <= 9 * S, "retry at {second:?}");
}

/// Fails its first attempt with a retry-after hint.
struct RetryAfter(Duration);
impl TaskRunner for RetryAfter {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            if ctx.attempt() == 1 {
                Err(TaskError::transient("429 Too Many Requests").with_retry_after(self.0))
            } else {
                Ok(TaskOutput::text("ok"))
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_hint_is_honoured() {
    let (plan, graph) = plan_of(vec![task("a", 1)], vec![vec![]]);
    let rec = Arc::new(Recorder::default());
    let retry = RetryPolicy {
        max_retries: 2,
        delays: vec![S],
        jitter: false,
        ..RetryPolicy::default()
    };
    let report = Executor::new(ExecutorConfig { retry, ..cfg(1) })
        .with_observer(rec.clone())
        .run(plan, &graph, Arc::new(RetryAfter(Duration::from_secs(30))))
        .await;
    assert!(report.all_succeeded());
    assert_eq!(rec.starts()[1].1, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn task_timeout_fails_a_hanging_attempt() {
    let (plan, graph) = plan_of(
        vec![
            failing("a", 1, dagent_core::FailureKind::Timeout, None),
            task("b", 1),
        ],
        vec![vec![], vec![0]],
    );
    let config = ExecutorConfig {
        task_timeout: Some(5 * S),
        ..cfg(2)
    };
    let (r, _) = run(config, plan, &graph).await;
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert_eq!(
        r.tasks[0].error.as_ref().unwrap().kind(),
        TaskErrorKind::Timeout
    );
    assert_eq!(r.tasks[0].end, Some(5 * S));
    assert_eq!(r.tasks[1].status, TaskStatus::Skipped);
}

#[tokio::test(start_paused = true)]
async fn batch_timeout_stops_a_slow_level() {
    let (plan, graph) = plan_of(
        vec![task("a", 10), task("b", 1), task("c", 1)],
        vec![vec![], vec![], vec![1]],
    );
    let config = ExecutorConfig {
        mode: Mode::Batched,
        batch_timeout: Some(3 * S),
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert_eq!(r.tasks[0].end, Some(3 * S));
    assert_eq!(r.tasks[1].status, TaskStatus::Succeeded);
    assert_eq!(r.tasks[2].status, TaskStatus::Succeeded);
    assert_eq!(
        r.tasks[2].start,
        Some(3 * S),
        "level 2 opens when level 1 times out"
    );
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_stops_new_launches() {
    let tasks: Vec<Task> = (0..10)
        .map(|i| {
            failing(
                &format!("t{i}"),
                1,
                dagent_core::FailureKind::Permanent,
                None,
            )
        })
        .collect();
    let (plan, graph) = plan_of(tasks, vec![vec![]; 10]);
    let config = ExecutorConfig {
        breaker: Some(BreakerPolicy {
            threshold: 0.5,
            min_finished: 3,
        }),
        ..cfg(1)
    };
    let (r, _) = run(config, plan, &graph).await;
    assert_eq!(r.count(TaskStatus::Failed), 3);
    assert_eq!(r.count(TaskStatus::Skipped), 7);
    assert!(matches!(&r.stopped, Some(StopReason::Breaker(why)) if why.contains("3 of 3")));
}

#[tokio::test(start_paused = true)]
async fn cancellation_reports_every_task() {
    let (plan, graph) = example("ten-cities.toml").await;
    let token = CancellationToken::new();
    let rec = Arc::new(Recorder::default());
    let exec = Executor::new(cfg(3))
        .with_observer(rec.clone())
        .with_cancellation(token.clone());
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(46)).await;
        token.cancel();
    });
    let r = exec
        .run(plan, &graph, Arc::new(SimulatedRunner::new(S)))
        .await;
    canceller.await.unwrap();
    assert_terminal_once(&r, &rec);
    assert_eq!(r.stopped, Some(StopReason::Cancelled));
    assert_eq!(r.count(TaskStatus::Succeeded), 1, "tokio finished at 45 s");
    assert_eq!(r.count(TaskStatus::Cancelled), 11);
    assert_eq!(r.makespan, Duration::from_secs(46));
}

/// Reports a per-task key; counts the most tasks of one key running at once.
struct Keyed {
    running: Mutex<(usize, usize)>,
}
impl TaskRunner for Keyed {
    fn run(&self, _ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            {
                let mut g = self.running.lock().unwrap();
                g.0 += 1;
                g.1 = g.1.max(g.0);
            }
            tokio::time::sleep(S).await;
            self.running.lock().unwrap().0 -= 1;
            Ok(TaskOutput::text("ok"))
        })
    }
    fn concurrency_key(&self, task: &Task) -> Option<String> {
        task.id
            .as_str()
            .starts_with("local")
            .then(|| "local-server".to_owned())
    }
}

#[tokio::test(start_paused = true)]
async fn per_key_limit_caps_one_endpoint_only() {
    let mut tasks: Vec<Task> = (0..4).map(|i| task(&format!("local{i}"), 1)).collect();
    tasks.extend((0..4).map(|i| task(&format!("cloud{i}"), 1)));
    let (plan, graph) = plan_of(tasks, vec![vec![]; 8]);
    let runner = Arc::new(Keyed {
        running: Mutex::new((0, 0)),
    });
    let mut config = cfg(8);
    config.key_limits.insert("local-server".into(), 1);
    let r = Executor::new(config)
        .run(plan, &graph, runner.clone())
        .await;
    assert!(r.all_succeeded());
    assert_eq!(r.makespan, 4 * S, "the four local tasks run one at a time");
    assert_eq!(r.tasks[4].end, Some(S), "cloud tasks are not held back");
}

#[tokio::test(start_paused = true)]
async fn launch_rate_is_limited() {
    let tasks: Vec<Task> = (0..5)
        .map(|i| Task::new(format!("t{i}"), "t").with_estimate(Duration::from_millis(100)))
        .collect();
    let (plan, graph) = plan_of(tasks, vec![vec![]; 5]);
    let (_, rec) = run(
        ExecutorConfig {
            max_tasks_per_second: Some(1.0),
            ..cfg(10)
        },
        plan,
        &graph,
    )
    .await;
    let starts: Vec<Duration> = rec.starts().into_iter().map(|(_, at)| at).collect();
    assert_eq!(starts, [Duration::ZERO, S, 2 * S, 3 * S, 4 * S]);
}

struct Panics;
impl TaskRunner for Panics {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            if ctx.index() == 0 {
                panic!("boom");
            }
            Ok(TaskOutput::text("ok"))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_runner_fails_its_task_and_loses_nothing() {
    let (plan, graph) = plan_of(vec![task("a", 1), task("b", 1)], vec![vec![], vec![]]);
    let r = Executor::new(cfg(2))
        .run(plan, &graph, Arc::new(Panics))
        .await;
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert!(
        r.tasks[0]
            .error
            .as_ref()
            .unwrap()
            .message()
            .contains("boom")
    );
    assert_eq!(r.tasks[1].status, TaskStatus::Succeeded);
}

/// Outcome of each attempt decided by a seed: succeed, fail transiently, fail permanently
/// or time out — the same for the same (task, attempt).
struct Chaos(u64);
impl TaskRunner for Chaos {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            let h = (self.0
                ^ (ctx.index() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ u64::from(ctx.attempt()) << 40)
                .wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let ms = 1 + (h >> 20) % 50;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            match (h >> 8) % 10 {
                0 => Err(TaskError::transient("flaky")),
                1 => Err(TaskError::permanent("broken")),
                2 => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(TaskOutput::text("late"))
                }
                _ => Ok(TaskOutput::text("ok")),
            }
        })
    }
}

mod invariant {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Thousands of random plans with random failures: every task ends in exactly one
        /// terminal state, no task starts before its dependencies allow, and the report
        /// agrees with the events.
        #[test]
        fn every_task_ends_in_exactly_one_terminal_state(
            n in 1usize..30,
            edges in proptest::collection::vec((0usize..30, 0usize..30), 0..60),
            seed in any::<u64>(),
            k in 1usize..6,
            mode in 0u8..6,
            cancel_at in proptest::option::of(1u64..200),
        ) {
            let mut deps = vec![Vec::new(); n];
            for (a, b) in edges {
                let (a, b) = (a % n, b % n);
                if a < b { deps[b].push(a); }
            }
            let tasks: Vec<Task> = (0..n).map(|i| task(&format!("t{i}"), 1)).collect();
            let (plan, graph) = plan_of(tasks, deps.clone());
            let failure_mode = match mode % 3 { 0 => FailureMode::SkipDependents, 1 => FailureMode::PartialCompletion, _ => FailureMode::FailFast };
            let config = ExecutorConfig {
                max_concurrent: k,
                mode: if mode >= 3 { Mode::Batched } else { Mode::Eager },
                failure_mode,
                task_timeout: Some(Duration::from_millis(500)),
                batch_timeout: (mode == 5).then_some(Duration::from_millis(300)),
                retry: RetryPolicy { max_retries: 2, delays: vec![Duration::from_millis(10)], jitter: true, jitter_seed: Some(seed), ..RetryPolicy::default() },
                breaker: (seed % 4 == 0).then_some(BreakerPolicy { threshold: 0.6, min_finished: 4 }),
                deadline: (seed % 5 == 1).then(|| Duration::from_millis(20 + (seed >> 8) % 400)),
                ..ExecutorConfig::default()
            };
            let deadline = config.deadline;
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            let rec = Arc::new(Recorder::default());
            let token = CancellationToken::new();
            let exec = Executor::new(config).with_observer(rec.clone()).with_cancellation(token.clone());
            let report = rt.block_on(async {
                if let Some(ms) = cancel_at {
                    tokio::spawn(async move { tokio::time::sleep(Duration::from_millis(ms)).await; token.cancel(); });
                }
                exec.run(plan, &graph, Arc::new(Chaos(seed))).await
            });
            prop_assert_eq!(report.tasks.len(), n);
            assert_terminal_once(&report, &rec);
            let events = rec.0.lock().unwrap();
            for e in events.iter() {
                if let RunEventKind::Started { attempt } = e.kind {
                    prop_assert!(attempt <= 3);
                    for &d in &deps[e.task] {
                        let d_end = report.tasks[d].end.expect("a dependency is terminal before a dependent starts");
                        prop_assert!(d_end <= e.at);
                        if failure_mode != FailureMode::PartialCompletion {
                            prop_assert_eq!(report.tasks[d].status, TaskStatus::Succeeded);
                        }
                    }
                }
            }
            let max_running = {
                let mut running = 0i64; let mut peak = 0i64;
                for e in events.iter() {
                    match e.kind {
                        RunEventKind::Started { .. } => { running += 1; peak = peak.max(running); }
                        RunEventKind::Retrying { .. } => running -= 1,
                        RunEventKind::Succeeded | RunEventKind::Failed { .. } => running -= 1,
                        RunEventKind::Cancelled if report.tasks[e.task].attempts > 0 => running -= 1,
                        _ => {}
                    }
                }
                peak
            };
            prop_assert!(max_running as usize <= k, "{} running at once with k = {}", max_running, k);
            // Nothing starts after the run has stopped (breaker, fail_fast, cancellation,
            // deadline): not later in time, and not later in the event sequence than the
            // first task the stop ended.
            if let Some(stopped_at) = report.stopped_at {
                let why = report.stopped.as_ref().map(ToString::to_string).unwrap_or_default();
                let ended_by_stop = |e: &RunEvent| {
                    let reason = match &e.kind {
                        RunEventKind::Skipped { reason } => Some(reason.as_str()),
                        RunEventKind::Cancelled => report.tasks[e.task].reason.as_deref(),
                        _ => None,
                    };
                    reason.is_some_and(|r| r == why || r.starts_with("run cancelled"))
                };
                if let Some(first) = events.iter().position(ended_by_stop) {
                    for e in &events[first..] {
                        prop_assert!(!matches!(e.kind, RunEventKind::Started { .. }), "{:?} started after the run stopped", e);
                    }
                }
                for e in events.iter() {
                    if matches!(e.kind, RunEventKind::Started { .. }) {
                        prop_assert!(e.at <= stopped_at, "{:?} started after the stop at {:?}", e, stopped_at);
                    }
                }
            } else {
                prop_assert!(report.stopped.is_none());
            }
            if let Some(limit) = deadline {
                prop_assert!(report.makespan <= limit, "makespan {:?} past the deadline {:?}", report.makespan, limit);
            }
        }
    }
}

// ---- outcome policy, retry list, maximum delay, deadline, budget refusals, huge numbers ----

/// Level 0: three 10 s tasks and one 1 s task; level 1: one task after the short one.
fn batch_of_slow_tasks() -> (Arc<Plan>, TaskGraph) {
    plan_of(
        vec![
            task("a", 10),
            task("b", 10),
            task("c", 10),
            task("e", 1),
            task("f", 1),
        ],
        vec![vec![], vec![], vec![], vec![], vec![3]],
    )
}

#[tokio::test(start_paused = true)]
async fn batch_timeout_failures_trip_the_breaker() {
    let (plan, graph) = batch_of_slow_tasks();
    let config = ExecutorConfig {
        mode: Mode::Batched,
        batch_timeout: Some(3 * S),
        breaker: Some(BreakerPolicy {
            threshold: 0.5,
            min_finished: 4,
        }),
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    use TaskStatus::*;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    assert_eq!(st, [Failed, Failed, Failed, Succeeded, Skipped]);
    assert!(
        matches!(&r.stopped, Some(StopReason::Breaker(why)) if why.contains("3 of 4")),
        "{:?}",
        r.stopped
    );
    assert_eq!(
        r.tasks[4].attempts, 0,
        "nothing starts once the breaker opened"
    );
    assert_eq!(r.stopped_at, Some(3 * S));
}

#[tokio::test(start_paused = true)]
async fn batch_timeout_failures_stop_a_fail_fast_run() {
    let (plan, graph) = batch_of_slow_tasks();
    let config = ExecutorConfig {
        mode: Mode::Batched,
        batch_timeout: Some(3 * S),
        failure_mode: FailureMode::FailFast,
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    use TaskStatus::*;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    assert_eq!(st, [Failed, Cancelled, Cancelled, Succeeded, Skipped]);
    assert_eq!(r.stopped, Some(StopReason::FailFast("a".into())));
    assert_eq!(r.tasks[4].attempts, 0);
}

#[tokio::test(start_paused = true)]
async fn retry_delays_are_the_list_with_its_last_value_repeating() {
    let (plan, graph) = plan_of(
        vec![failing(
            "a",
            1,
            dagent_core::FailureKind::Transient,
            Some(4),
        )],
        vec![vec![]],
    );
    let retry = RetryPolicy {
        jitter: false,
        ..RetryPolicy::with_delays(4, vec![S, 5 * S, 15 * S])
    };
    let (r, rec) = run(ExecutorConfig { retry, ..cfg(1) }, plan, &graph).await;
    assert_eq!(r.tasks[0].status, TaskStatus::Succeeded);
    // Attempts of 1 s each, separated by waits of 1, 5, 15 and 15 s.
    let starts: Vec<Duration> = rec.starts().into_iter().map(|(_, at)| at).collect();
    assert_eq!(starts, [0, 2, 8, 24, 40].map(|s| s * S));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_maximum_delay_fails_at_once_naming_the_request() {
    let (plan, graph) = plan_of(vec![task("a", 1)], vec![vec![]]);
    let rec = Arc::new(Recorder::default());
    let config = ExecutorConfig {
        retry: RetryPolicy::with_delays(3, vec![S]),
        ..cfg(1)
    };
    let hint = Duration::from_secs(95_684 * 3600);
    let r = Executor::new(config)
        .with_observer(rec.clone())
        .run(plan, &graph, Arc::new(RetryAfter(hint)))
        .await;
    assert_terminal_once(&r, &rec);
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert_eq!(r.tasks[0].attempts, 1);
    assert_eq!(r.makespan, Duration::ZERO, "it did not wait");
    assert_eq!(
        r.tasks[0].error.as_ref().unwrap().message(),
        "429 Too Many Requests; the server asked to retry after 95684h (Retry-After), more than the maximum retry delay of 5m"
    );
}

#[tokio::test(start_paused = true)]
async fn the_run_deadline_cancels_in_flight_tasks_and_skips_the_rest() {
    let (plan, graph) = plan_of(
        vec![task("a", 2), task("b", 10), task("c", 1), task("d", 1)],
        vec![vec![], vec![], vec![0], vec![1]],
    );
    let config = ExecutorConfig {
        deadline: Some(5 * S),
        ..cfg(4)
    };
    let (r, _) = run(config, plan, &graph).await;
    use TaskStatus::*;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    assert_eq!(st, [Succeeded, Cancelled, Succeeded, Skipped]);
    assert_eq!(r.stopped, Some(StopReason::Deadline(5 * S)));
    assert_eq!(r.makespan, 5 * S);
    assert_eq!(
        r.tasks[3].reason.as_deref(),
        Some("the run deadline of 5s passed: tasks in flight were cancelled, the rest skipped")
    );
}

/// Refuses the call for budget at attempt `refuse_at` (after transient failures before it).
struct Refuses {
    refuse_at: u32,
}
impl TaskRunner for Refuses {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            if ctx.attempt() < self.refuse_at {
                tokio::time::sleep(S).await;
                return Err(TaskError::transient("503"));
            }
            Err(TaskError::new(
                TaskErrorKind::Budget,
                "the call could cross the budget cap",
            ))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn budget_refusals_are_not_attempts_and_are_not_retried() {
    let (plan, graph) = plan_of(vec![task("a", 1)], vec![vec![]]);
    let config = ExecutorConfig {
        retry: RetryPolicy::with_delays(3, vec![S]),
        ..cfg(1)
    };
    let r = Executor::new(config.clone())
        .run(
            Arc::clone(&plan),
            &graph,
            Arc::new(Refuses { refuse_at: 1 }),
        )
        .await;
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert_eq!(
        r.tasks[0].error.as_ref().unwrap().kind(),
        TaskErrorKind::Budget
    );
    assert_eq!(r.tasks[0].attempts, 0, "no request was sent");
    assert_eq!(r.tasks[0].start, None);
    assert_eq!(r.retries, 0);
    // Refused at the second attempt: one attempt, no retry counted.
    let r = Executor::new(config)
        .run(plan, &graph, Arc::new(Refuses { refuse_at: 2 }))
        .await;
    assert_eq!(r.tasks[0].status, TaskStatus::Failed);
    assert_eq!(r.tasks[0].attempts, 1);
    assert_eq!(r.retries, 0);
}

#[tokio::test(start_paused = true)]
async fn huge_durations_rates_and_time_scales_do_not_panic() {
    let tasks = vec![
        Task::new("a", "A").with_estimate(Duration::MAX),
        task("b", 1),
        failing("c", 1, dagent_core::FailureKind::Transient, Some(1)),
    ];
    let (plan, graph) = plan_of(tasks, vec![vec![], vec![], vec![]]);
    for rate in [1e-300, 1e300, f64::MAX, f64::MIN_POSITIVE] {
        for mode in [Mode::Eager, Mode::Batched] {
            let config = ExecutorConfig {
                mode,
                max_tasks_per_second: Some(rate),
                task_timeout: Some(Duration::MAX),
                batch_timeout: Some(Duration::MAX),
                deadline: Some(Duration::from_secs(3600)),
                retry: RetryPolicy {
                    delays: vec![Duration::MAX],
                    max_delay: Duration::MAX,
                    ..RetryPolicy::with_delays(u32::MAX, Vec::new())
                },
                ..cfg(4)
            };
            let runner = SimulatedRunner::new(Duration::MAX)
                .with_time_scale(1e300)
                .with_task_timeout(config.task_timeout);
            let rec = Arc::new(Recorder::default());
            let r = Executor::new(config)
                .with_observer(rec.clone())
                .run(Arc::clone(&plan), &graph, Arc::new(runner))
                .await;
            assert_terminal_once(&r, &rec);
            assert_eq!(
                r.stopped,
                Some(StopReason::Deadline(Duration::from_secs(3600)))
            );
            assert_eq!(r.makespan, Duration::from_secs(3600), "rate {rate}, {mode}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_still_cancels_tasks_left_running_by_the_breaker() {
    // The breaker opens at 1 s (two quick failures); "slow" keeps running until the
    // deadline at 5 s cancels it.
    let (plan, graph) = plan_of(
        vec![
            failing("a", 1, dagent_core::FailureKind::Permanent, None),
            failing("b", 1, dagent_core::FailureKind::Permanent, None),
            task("slow", 100),
            task("later", 1),
        ],
        vec![vec![], vec![], vec![], vec![0]],
    );
    let config = ExecutorConfig {
        breaker: Some(BreakerPolicy {
            threshold: 0.5,
            min_finished: 2,
        }),
        deadline: Some(5 * S),
        ..cfg(3)
    };
    let (r, _) = run(config, plan, &graph).await;
    use TaskStatus::*;
    let st: Vec<TaskStatus> = r.tasks.iter().map(|t| t.status).collect();
    assert_eq!(st, [Failed, Failed, Cancelled, Skipped]);
    assert!(
        matches!(r.stopped, Some(StopReason::Breaker(_))),
        "the first reason stays"
    );
    assert_eq!(r.stopped_at, Some(S));
    assert_eq!(r.tasks[2].end, Some(5 * S));
    assert_eq!(r.makespan, 5 * S);
}

/// An in-memory run store that remembers every record and can be told to fail.
#[derive(Default)]
struct MemoryStore {
    records: Mutex<Vec<dagent_core::AttemptRecord>>,
}

impl dagent_core::RunStore for MemoryStore {
    fn begin(
        &self,
        _: &dagent_core::RunStart,
    ) -> Result<dagent_core::RunId, dagent_core::StoreError> {
        Ok(dagent_core::RunId::new("mem"))
    }
    fn record(
        &self,
        _: &dagent_core::RunId,
        records: &[dagent_core::AttemptRecord],
    ) -> Result<(), dagent_core::StoreError> {
        self.records.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
    fn finish(
        &self,
        _: &dagent_core::RunId,
        _: &dagent_core::RunEnd,
    ) -> Result<(), dagent_core::StoreError> {
        Ok(())
    }
}

/// Both attempts finish at the same instant; the failing one is listed (and launched)
/// first. Under fail-fast the success must still be reported as the success the store
/// recorded — never a cancellation of a paid, stored result.
#[tokio::test(start_paused = true)]
async fn a_success_recorded_with_a_fail_fast_failure_stays_a_success() {
    struct Runner;
    impl TaskRunner for Runner {
        fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
            Box::pin(async move {
                tokio::time::sleep(S).await;
                if ctx.task().id.as_str() == "bad" {
                    Err(TaskError::permanent("broken"))
                } else {
                    Ok(TaskOutput::text("paid result"))
                }
            })
        }
    }
    let (plan, graph) = plan_of(vec![task("bad", 1), task("good", 1)], vec![vec![], vec![]]);
    let store = Arc::new(MemoryStore::default());
    let config = ExecutorConfig {
        failure_mode: FailureMode::FailFast,
        ..cfg(2)
    };
    let report = Executor::new(config)
        .with_store(store.clone(), dagent_core::RunId::new("mem"))
        .run(plan, &graph, Arc::new(Runner))
        .await;
    let good = &report.tasks[1];
    assert_eq!(good.status, TaskStatus::Succeeded, "{good:?}");
    assert_eq!(good.output.as_ref().unwrap().text, "paid result");
    let records = store.records.lock().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.task == 1 && r.status == dagent_core::RecordStatus::Succeeded),
        "the success was recorded"
    );
    assert!(
        !records
            .iter()
            .any(|r| r.task == 1 && r.status == dagent_core::RecordStatus::Cancelled),
        "and never recorded as cancelled: {records:?}"
    );
}

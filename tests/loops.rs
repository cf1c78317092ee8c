//! Review loops: the executor on tokio's paused clock (appended iterations, verdicts, every
//! limit, one terminal state each), the loop checks of `dagent-graph`, a property that a
//! loop-free plan schedules exactly as before, and the `dagent` binary against a loopback
//! stub provider answering verdict sequences.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dagent_core::{
    AttemptRecord, BoxFuture, DependencyMap, DependencyOutcome, LoopSpec, Plan, RunEnd, RunEvent,
    RunEventKind, RunId, RunStart, RunStore, StoreError, Task, TaskContext, TaskError, TaskOutput,
    TaskRunner,
};
use dagent_executor::{
    CancellationToken, Executor, ExecutorConfig, FailureMode, LoopSet, LoopStop, Mode, RetryPolicy,
    RunReport, TaskGraph, TaskStatus,
};

use crate::executor::{Recorder, assert_terminal_once};

const S: Duration = Duration::from_secs(1);

/// Answers by task: the answer for iteration k is `answers[id][k - 1]` (the last repeats);
/// `FAIL` fails the task. Every task takes one second. Records what each task received and
/// how many ran at once (overall, and of the keyed tasks).
#[derive(Default)]
struct Script {
    answers: HashMap<String, Vec<String>>,
    /// Tasks whose id starts with one of these count against key "reviews".
    keyed: Vec<String>,
    inputs: Mutex<Vec<(String, Vec<String>)>>,
    running: AtomicUsize,
    peak: AtomicUsize,
    keyed_running: AtomicUsize,
    keyed_peak: AtomicUsize,
}

impl Script {
    fn new(answers: &[(&str, &[&str])]) -> Self {
        Self {
            answers: answers
                .iter()
                .map(|(id, a)| {
                    (
                        (*id).to_owned(),
                        a.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
            ..Self::default()
        }
    }

    fn inputs_of(&self, id: &str) -> Vec<String> {
        self.inputs
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, i)| i.clone())
            .unwrap_or_else(|| panic!("{id} never ran"))
    }

    fn is_keyed(&self, id: &str) -> bool {
        self.keyed.iter().any(|k| id.starts_with(k.as_str()))
    }
}

impl TaskRunner for Script {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            let id = ctx.task().id.to_string();
            let (base, k) = match id.split_once('#') {
                Some((b, k)) => (b.to_owned(), k.parse::<usize>().unwrap()),
                None => (id.clone(), 1),
            };
            let inputs: Vec<String> = ctx
                .inputs()
                .map(|(t, o)| match o {
                    DependencyOutcome::Succeeded(_) => t.id.to_string(),
                    _ => format!("{}(failed)", t.id),
                })
                .collect();
            self.inputs.lock().unwrap().push((id.clone(), inputs));
            let keyed = self.is_keyed(&id);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            if keyed {
                let now = self.keyed_running.fetch_add(1, Ordering::SeqCst) + 1;
                self.keyed_peak.fetch_max(now, Ordering::SeqCst);
            }
            tokio::time::sleep(S).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if keyed {
                self.keyed_running.fetch_sub(1, Ordering::SeqCst);
            }
            let answer = self
                .answers
                .get(&base)
                .map(|a| a[(k - 1).min(a.len() - 1)].clone())
                .unwrap_or_else(|| format!("done {id}"));
            if answer == "FAIL" {
                return Err(TaskError::permanent(format!("{id} broke")));
            }
            Ok(TaskOutput::text(answer))
        })
    }

    fn concurrency_key(&self, task: &Task) -> Option<String> {
        self.is_keyed(task.id.as_str())
            .then(|| "reviews".to_owned())
    }
}

const REVIEWS: [&str; 3] = ["review-correctness", "review-security", "review-style"];

/// arch → code → three reviews; docs needs code and review-style. The loop's body is code
/// and the reviews.
fn review_plan(max_iterations: u32) -> (Arc<Plan>, TaskGraph) {
    let mut plan = Plan::new(vec![
        Task::new("arch", "Design"),
        Task::new("code", "Write the code"),
        Task::new(REVIEWS[0], "Review correctness"),
        Task::new(REVIEWS[1], "Review security"),
        Task::new(REVIEWS[2], "Review style"),
        Task::new("docs", "Document"),
    ]);
    plan.loops = vec![
        LoopSpec::new(
            "review",
            ["code", REVIEWS[0], REVIEWS[1], REVIEWS[2]],
            "APPROVED",
        )
        .with_max_iterations(max_iterations),
    ];
    let deps = vec![vec![], vec![0], vec![1], vec![1], vec![1], vec![1, 4]];
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps)).unwrap();
    (Arc::new(plan), graph)
}

fn cfg(k: usize) -> ExecutorConfig {
    ExecutorConfig {
        max_concurrent: k,
        retry: RetryPolicy::none(),
        ..ExecutorConfig::default()
    }
}

async fn run_with(
    config: ExecutorConfig,
    plan: Arc<Plan>,
    graph: &TaskGraph,
    script: Arc<Script>,
    cancel: Option<(CancellationToken, Duration)>,
) -> (RunReport, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let mut exec = Executor::new(config).with_observer(rec.clone());
    if let Some((token, after)) = cancel {
        exec = exec.with_cancellation(token.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            token.cancel();
        });
    }
    let report = exec.run(plan, graph, script).await;
    assert_terminal_once(&report, &rec);
    assert_eq!(
        report.tasks.len(),
        report.plan_len() + report.appended.len()
    );
    (report, rec)
}

fn ids(report: &RunReport) -> Vec<&str> {
    report.tasks.iter().map(|t| t.id.as_str()).collect()
}

fn by_id<'a>(report: &'a RunReport, id: &str) -> &'a dagent_executor::TaskReport {
    report.tasks.iter().find(|t| t.id.as_str() == id).unwrap()
}

fn verdicts(report: &RunReport) -> Vec<Vec<Option<String>>> {
    report.loops[0]
        .iterations
        .iter()
        .map(|it| it.verdicts.iter().map(|v| v.verdict.clone()).collect())
        .collect()
}

const OK: &[&str] = &["VERDICT: APPROVED"];

#[tokio::test(start_paused = true)]
async fn a_loop_approved_at_once_runs_its_body_once() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        (REVIEWS[0], OK),
        (REVIEWS[1], OK),
        (REVIEWS[2], OK),
    ]));
    let (report, _) = run_with(cfg(8), plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    assert_eq!(report.tasks.len(), 6, "{:?}", ids(&report));
    let l = &report.loops[0];
    assert_eq!(l.stop, LoopStop::Approved);
    assert_eq!(l.iterations.len(), 1);
    assert_eq!(
        verdicts(&report),
        vec![vec![Some("APPROVED".to_owned()); 3]]
    );
    // docs waited for the whole loop (the reviews end at 3 s), not only for its inputs.
    assert_eq!(by_id(&report, "docs").start, Some(3 * S));
    assert_eq!(script.inputs_of("docs"), ["code", "review-style"]);
    assert_eq!(report.makespan, 4 * S);
}

#[tokio::test(start_paused = true)]
async fn a_loop_approved_on_iteration_two_appends_one_iteration_with_every_review_as_input() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        (REVIEWS[0], OK),
        (REVIEWS[1], &["VERDICT: CHANGES", "VERDICT: APPROVED"]),
        (REVIEWS[2], &["no verdict here", "**Verdict: approved**"]),
    ]));
    let (report, _) = run_with(cfg(8), plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    assert_eq!(
        ids(&report),
        [
            "arch",
            "code",
            "review-correctness",
            "review-security",
            "review-style",
            "docs",
            "code#2",
            "review-correctness#2",
            "review-security#2",
            "review-style#2"
        ]
    );
    let l = &report.loops[0];
    assert_eq!(l.stop, LoopStop::Approved);
    assert_eq!(l.iterations.len(), 2);
    assert_eq!(l.iterations[1].tasks, [6, 7, 8, 9]);
    let v = |s: &str| Some(s.to_owned());
    assert_eq!(
        verdicts(&report),
        vec![
            vec![v("APPROVED"), v("CHANGES"), None],
            vec![v("APPROVED"), v("APPROVED"), v("approved")],
        ]
    );
    assert!(
        !l.iterations[0].verdicts[2].approved,
        "a missing verdict does not approve"
    );
    assert!(
        l.iterations[1].verdicts[2].approved,
        "verdicts compare case-insensitively"
    );
    assert_eq!(
        l.iterations[1].verdicts[1].task.as_str(),
        "review-security#2"
    );
    assert_eq!(
        l.iterations[1].verdicts[1].judge.as_str(),
        "review-security"
    );
    // The coder receives its own inputs, its last answer and every review of the iteration
    // before, in plan order; the reviewers the new code.
    assert_eq!(
        script.inputs_of("code#2"),
        [
            "arch",
            "code",
            "review-correctness",
            "review-security",
            "review-style"
        ]
    );
    assert_eq!(script.inputs_of("review-style#2"), ["code#2"]);
    assert_eq!(
        report.appended[0].depends_on.as_ref().unwrap(),
        &[
            "arch",
            "code",
            "review-correctness",
            "review-security",
            "review-style"
        ]
        .map(dagent_core::TaskId::from)
    );
    // Outside the loop: the last iteration's outputs, after the loop ended.
    assert_eq!(script.inputs_of("docs"), ["code#2", "review-style#2"]);
    assert_eq!(by_id(&report, "code#2").start, Some(3 * S));
    assert_eq!(by_id(&report, "docs").start, Some(5 * S));
    assert_eq!(report.makespan, 6 * S);
    assert_eq!(report.latest(1), 6);
    assert_eq!(report.latest(0), 0);
}

#[tokio::test(start_paused = true)]
async fn a_loop_never_approved_stops_at_max_iterations() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let (report, _) = run_with(cfg(8), plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    let l = &report.loops[0];
    assert_eq!(l.stop, LoopStop::MaxIterations);
    assert_eq!(l.iterations.len(), 3);
    assert_eq!(report.tasks.len(), 6 + 2 * 4);
    assert_eq!(report.tasks.last().unwrap().id.as_str(), "review-style#3");
    assert_eq!(script.inputs_of("docs"), ["code#3", "review-style#3"]);
    assert_eq!(
        script.inputs_of("code#3"),
        [
            "arch",
            "code#2",
            "review-correctness#2",
            "review-security#2",
            "review-style#2"
        ]
    );
    assert_eq!(report.makespan, 8 * S);
}

#[tokio::test(start_paused = true)]
async fn max_iterations_one_never_appends() {
    let (plan, graph) = review_plan(1);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let (report, _) = run_with(cfg(8), plan, &graph, script, None).await;
    assert_eq!(report.loops[0].stop, LoopStop::MaxIterations);
    assert_eq!(report.tasks.len(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_failed_body_task_ends_the_loop_and_skips_what_needs_it() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        ("code", &["code v1", "FAIL"]),
        (REVIEWS[1], &["VERDICT: CHANGES"]),
    ]));
    let (report, _) = run_with(cfg(8), plan, &graph, script, None).await;
    let l = &report.loops[0];
    assert_eq!(l.stop, LoopStop::Failed);
    assert_eq!(l.iterations.len(), 2);
    assert_eq!(by_id(&report, "code#2").status, TaskStatus::Failed);
    for r in REVIEWS {
        let t = by_id(&report, &format!("{r}#2"));
        assert_eq!(t.status, TaskStatus::Skipped);
        assert_eq!(t.reason.as_deref(), Some("dependency \"code#2\" failed"));
    }
    assert_eq!(verdicts(&report)[1], vec![None, None, None]);
    let docs = by_id(&report, "docs");
    assert_eq!(docs.status, TaskStatus::Skipped);
    assert_eq!(docs.reason.as_deref(), Some("dependency \"code#2\" failed"));
}

#[tokio::test(start_paused = true)]
async fn with_partial_completion_a_failed_loop_hands_its_failure_on() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        ("code", &["code v1", "FAIL"]),
        (REVIEWS[1], &["VERDICT: CHANGES"]),
    ]));
    let config = ExecutorConfig {
        failure_mode: FailureMode::PartialCompletion,
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script.clone(), None).await;
    assert_eq!(report.loops[0].stop, LoopStop::Failed);
    assert_eq!(by_id(&report, "docs").status, TaskStatus::Succeeded);
    assert_eq!(
        script.inputs_of("docs"),
        ["code#2(failed)", "review-style#2"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_the_first_iteration_ends_the_loop_there() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(REVIEWS[0], &["FAIL"])]));
    let (report, _) = run_with(cfg(8), plan, &graph, script, None).await;
    assert_eq!(report.loops[0].stop, LoopStop::Failed);
    assert_eq!(report.tasks.len(), 6);
    // docs does not read review-correctness, and every input it reads succeeded.
    assert_eq!(by_id(&report, "docs").status, TaskStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_loop_cancels_the_iteration_and_ends_the_loop() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let token = CancellationToken::new();
    // Iteration 2's reviews run from 4 s to 5 s.
    let (report, _) = run_with(
        cfg(8),
        plan,
        &graph,
        script,
        Some((token, Duration::from_millis(4500))),
    )
    .await;
    let l = &report.loops[0];
    assert_eq!(l.stop, LoopStop::Cancelled);
    assert_eq!(l.iterations.len(), 2);
    assert_eq!(by_id(&report, "code#2").status, TaskStatus::Succeeded);
    for r in REVIEWS {
        assert_eq!(
            by_id(&report, &format!("{r}#2")).status,
            TaskStatus::Cancelled
        );
    }
    assert_eq!(by_id(&report, "docs").status, TaskStatus::Cancelled);
    assert_eq!(
        report.tasks.len(),
        10,
        "nothing is appended once the run stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_and_fail_fast_stop_a_loop() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let config = ExecutorConfig {
        deadline: Some(Duration::from_millis(3500)),
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script, None).await;
    assert_eq!(report.loops[0].stop, LoopStop::Cancelled);
    assert_eq!(by_id(&report, "code#2").status, TaskStatus::Cancelled);
    assert!(matches!(
        report.stopped,
        Some(dagent_executor::StopReason::Deadline(_))
    ));

    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        ("code", &["v1", "FAIL"]),
        (REVIEWS[1], &["VERDICT: CHANGES"]),
    ]));
    let config = ExecutorConfig {
        failure_mode: FailureMode::FailFast,
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script, None).await;
    assert_eq!(report.loops[0].stop, LoopStop::Cancelled);
    assert_eq!(report.tasks.len(), 10);
    assert!(matches!(
        report.stopped,
        Some(dagent_executor::StopReason::FailFast(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn the_breaker_stops_appending() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[
        ("arch", &["FAIL"]),
        (REVIEWS[1], &["VERDICT: CHANGES"]),
    ]));
    let config = ExecutorConfig {
        breaker: Some(dagent_executor::BreakerPolicy {
            threshold: 0.1,
            min_finished: 1,
        }),
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script, None).await;
    assert_eq!(report.tasks.len(), 6);
    assert_eq!(report.loops[0].stop, LoopStop::Cancelled);
    assert_eq!(report.count(TaskStatus::Succeeded), 0);
}

#[tokio::test(start_paused = true)]
async fn appended_tasks_respect_global_and_keyed_concurrency() {
    // Three reviews are ready at once in every iteration: two slots run two of them.
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let (report, _) = run_with(cfg(2), plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    assert_eq!(report.loops[0].iterations.len(), 3);
    assert_eq!(script.peak.load(Ordering::SeqCst), 2);
    // Per iteration: the code (1 s), then two reviews and one (2 s); then docs.
    assert_eq!(report.makespan, 11 * S);

    // The reviews share a key limited to one: one review at a time, copies included.
    let (plan, graph) = review_plan(3);
    let mut script = Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]);
    script.keyed = vec!["review-".into()];
    let script = Arc::new(script);
    let mut config = cfg(8);
    config.key_limits = HashMap::from([("reviews".to_owned(), 1)]);
    let (report, _) = run_with(config, plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    assert_eq!(report.loops[0].iterations.len(), 3);
    assert_eq!(script.keyed_peak.load(Ordering::SeqCst), 1);
    assert_eq!(report.makespan, 14 * S);
}

#[tokio::test(start_paused = true)]
async fn appended_tasks_respect_the_launch_rate() {
    let (plan, graph) = review_plan(2);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let config = ExecutorConfig {
        max_tasks_per_second: Some(0.5),
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script, None).await;
    assert_eq!(report.tasks.len(), 10);
    let mut starts: Vec<Duration> = report.tasks.iter().filter_map(|t| t.start).collect();
    starts.sort();
    assert_eq!(starts.len(), 10);
    for w in starts.windows(2) {
        assert!(w[1] - w[0] >= 2 * S, "{starts:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn batched_mode_runs_appended_iterations() {
    let (plan, graph) = review_plan(2);
    let script = Arc::new(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])]));
    let config = ExecutorConfig {
        mode: Mode::Batched,
        ..cfg(8)
    };
    let (report, _) = run_with(config, plan, &graph, script.clone(), None).await;
    assert!(report.all_succeeded());
    assert_eq!(report.loops[0].stop, LoopStop::MaxIterations);
    assert_eq!(script.inputs_of("docs"), ["code#2", "review-style#2"]);
    assert_eq!(report.makespan, 6 * S);
}

#[tokio::test(start_paused = true)]
async fn retries_of_appended_tasks_count_like_any_other() {
    let (plan, graph) = review_plan(2);
    /// Fails the first attempt of code#2 with a transient error.
    struct Flaky(Script);
    impl TaskRunner for Flaky {
        fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
            if ctx.task().id.as_str() == "code#2" && ctx.attempt() == 1 {
                return Box::pin(async { Err(TaskError::transient("busy")) });
            }
            self.0.run(ctx)
        }
    }
    let runner = Arc::new(Flaky(Script::new(&[(REVIEWS[1], &["VERDICT: CHANGES"])])));
    let config = ExecutorConfig {
        retry: RetryPolicy {
            jitter: false,
            ..RetryPolicy::with_delays(2, vec![S])
        },
        ..cfg(8)
    };
    let rec = Arc::new(Recorder::default());
    let report = Executor::new(config)
        .with_observer(rec.clone())
        .run(plan, &graph, runner)
        .await;
    assert_terminal_once(&report, &rec);
    assert_eq!(by_id(&report, "code#2").attempts, 2);
    assert_eq!(report.retries, 1);
    assert!(report.all_succeeded());
}

#[tokio::test(start_paused = true)]
async fn resuming_with_stored_outputs_continues_the_loop_from_their_verdicts() {
    let (plan, graph) = review_plan(3);
    let stored = |s: &str| Some(TaskOutput::text(s));
    // Every task of the plan has a stored output; review-security asked for changes.
    let reused = vec![
        stored("design"),
        stored("code v1"),
        stored("VERDICT: APPROVED"),
        stored("VERDICT: CHANGES"),
        stored("VERDICT: APPROVED"),
        stored("old docs"),
    ];
    let script = Arc::new(Script::new(&[
        (REVIEWS[0], OK),
        (REVIEWS[1], OK),
        (REVIEWS[2], OK),
    ]));
    let rec = Arc::new(Recorder::default());
    let report = Executor::new(cfg(8))
        .with_observer(rec.clone())
        .resume(plan, &graph, script.clone(), reused)
        .await;
    assert!(report.all_succeeded());
    assert!(report.tasks[..5].iter().all(|t| t.reused));
    let l = &report.loops[0];
    assert_eq!(l.iterations.len(), 2);
    assert_eq!(l.stop, LoopStop::Approved);
    // docs waits for the loop: it is not reused, it runs on iteration 2's outputs.
    let docs = by_id(&report, "docs");
    assert!(!docs.reused);
    assert_eq!(docs.start, Some(2 * S));
    assert_eq!(script.inputs_of("docs"), ["code#2", "review-style#2"]);
}

/// Keeps every record in memory.
#[derive(Default)]
struct MemoryStore(Mutex<Vec<AttemptRecord>>);

impl RunStore for MemoryStore {
    fn begin(&self, _: &RunStart) -> Result<RunId, StoreError> {
        Ok(RunId::new("mem"))
    }
    fn record(&self, _: &RunId, records: &[AttemptRecord]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
    fn finish(&self, _: &RunId, _: &RunEnd) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn appended_tasks_are_recorded_by_their_position_and_id() {
    let (plan, graph) = review_plan(2);
    let script = Arc::new(Script::new(&[
        ("code", &["v1", "FAIL"]),
        (REVIEWS[1], &["VERDICT: CHANGES"]),
    ]));
    let store = Arc::new(MemoryStore::default());
    let report = Executor::new(cfg(8))
        .with_store(store.clone(), RunId::new("mem"))
        .run(plan, &graph, script)
        .await;
    let records = store.0.lock().unwrap();
    for (i, t) in report.tasks.iter().enumerate() {
        let terminal: Vec<&AttemptRecord> = records
            .iter()
            .filter(|r| r.task == i && r.terminal)
            .collect();
        // A task that failed is recorded by its failed attempt (not terminal) and its
        // terminal state; every other task by exactly one terminal record.
        assert_eq!(terminal.len(), 1, "{}: {terminal:?}", t.id);
        assert_eq!(terminal[0].task_id, t.id);
    }
    let code2 = records
        .iter()
        .filter(|r| r.task_id.as_str() == "code#2")
        .count();
    assert_eq!(code2, 2, "its failed attempt and its terminal state");
    assert!(
        records
            .iter()
            .any(|r| r.task == 9 && r.task_id.as_str() == "review-style#2")
    );
}

#[tokio::test(start_paused = true)]
async fn each_appended_task_is_announced_once_before_its_other_events() {
    let (plan, graph) = review_plan(3);
    let script = Arc::new(Script::new(&[(
        REVIEWS[1],
        &["VERDICT: CHANGES", "VERDICT: APPROVED"],
    )]));
    let (report, rec) = run_with(cfg(8), Arc::clone(&plan), &graph, script, None).await;
    assert!(report.appended.len() >= 4, "{:?}", ids(&report));
    let events = rec.events();
    let base = report.plan_len();
    let position = |id: &str| {
        report
            .tasks
            .iter()
            .position(|t| t.id.as_str() == id)
            .unwrap()
    };
    for (k, task) in report.appended.iter().enumerate() {
        let at = base + k;
        let mine: Vec<&RunEvent> = events.iter().filter(|e| e.task == at).collect();
        let RunEventKind::Appended {
            copy_of,
            ref title,
            ref depends_on,
        } = mine[0].kind
        else {
            panic!("{} starts with {:?}", task.id, mine[0]);
        };
        assert_eq!(mine[0].id, task.id);
        assert_eq!(
            mine.iter()
                .filter(|e| matches!(e.kind, RunEventKind::Appended { .. }))
                .count(),
            1
        );
        let original = &plan.tasks[copy_of];
        assert!(
            task.id.as_str().starts_with(&format!("{}#", original.id)),
            "{} copies {}",
            task.id,
            original.id
        );
        assert_eq!(title, &original.title);
        let want: Vec<usize> = task
            .depends_on
            .iter()
            .flatten()
            .map(|d| position(d.as_str()))
            .collect();
        let mut got = depends_on.clone();
        got.sort_unstable();
        let mut want = want;
        want.sort_unstable();
        assert_eq!(got, want, "{}", task.id);
    }
    // Plan tasks are never announced.
    assert!(
        events
            .iter()
            .filter(|e| matches!(e.kind, RunEventKind::Appended { .. }))
            .all(|e| e.task >= base)
    );
}

// ---- the checks of `LoopSet` ---------------------------------------------------------

fn check(loops: Vec<LoopSpec>) -> Result<LoopSet, String> {
    let (plan, graph) = review_plan(3);
    let mut plan = (*plan).clone();
    plan.loops = loops;
    LoopSet::new(&plan, &graph).map_err(|e| e.message().to_owned())
}

#[test]
fn bad_loops_are_refused_naming_the_ids() {
    let body = ["code", REVIEWS[0], REVIEWS[1], REVIEWS[2]];
    let cases: Vec<(Vec<LoopSpec>, &str)> = vec![
        (
            vec![LoopSpec::new("l", ["code", "revew"], "OK")],
            "loop \"l\": `tasks` names \"revew\", which is not a task of the plan",
        ),
        (
            vec![LoopSpec::new("l", Vec::<&str>::new(), "OK")],
            "loop \"l\": its body (`tasks`) is empty",
        ),
        (
            vec![
                LoopSpec::new("a", ["code", REVIEWS[0]], "OK"),
                LoopSpec::new("b", [REVIEWS[0]], "OK"),
            ],
            "loop \"b\": task \"review-correctness\" is already in loop \"a\": a task belongs to one loop at most",
        ),
        (
            vec![LoopSpec::new("l", body, "OK").with_judges(["docs"])],
            "loop \"l\": judge \"docs\" is not in the body: judges are body tasks",
        ),
        (
            vec![LoopSpec::new("l", body, "OK").with_judges(["ghost"])],
            "loop \"l\": `judges` names \"ghost\", which is not a task of the plan",
        ),
        (
            vec![LoopSpec::new("l", ["code", REVIEWS[2]], "OK").with_max_iterations(21)],
            "loop \"l\": `max_iterations` is 21: it must be from 1 to 20",
        ),
        (
            vec![LoopSpec::new("l", ["code", REVIEWS[2]], "OK").with_max_iterations(0)],
            "loop \"l\": `max_iterations` is 0: it must be from 1 to 20",
        ),
        (
            vec![LoopSpec::new("l", ["code"], " ")],
            "loop \"l\": `repeat_until` is empty: name the verdict that ends it, e.g. \"APPROVED\"",
        ),
        (
            vec![LoopSpec::new("l", ["code", "code"], "OK")],
            "loop \"l\": `tasks` lists \"code\" twice",
        ),
        (
            vec![
                LoopSpec::new("l", ["code"], "OK"),
                LoopSpec::new("l", ["arch"], "OK"),
            ],
            "loop \"l\": another loop has the same id",
        ),
        (
            // review-style is outside, between code and docs.
            vec![LoopSpec::new("l", ["code", "docs"], "OK")],
            "loop \"l\": its body is not closed: \"review-style\" outside the body both depends on a body task and is depended on by one, so it would have to run inside every iteration; add it to `tasks` or remove the dependency",
        ),
        (
            // Indirectly: arch → code → review → docs with arch and docs in the body.
            vec![LoopSpec::new("l", ["arch", "docs"], "OK")],
            "loop \"l\": its body is not closed: \"code\", \"review-style\" outside the body both depend on a body task and are depended on by one, so they would have to run inside every iteration; add them to `tasks` or remove the dependency",
        ),
    ];
    for (loops, want) in cases {
        assert_eq!(check(loops).unwrap_err(), want);
    }
    // A task already named like a later iteration's copy.
    let (plan, _) = review_plan(3);
    let mut plan = (*plan).clone();
    plan.tasks[5].id = "code#3".into();
    let graph = TaskGraph::new(
        &plan,
        DependencyMap::from_lists(vec![vec![], vec![0], vec![1], vec![1], vec![1], vec![1, 4]]),
    )
    .unwrap();
    assert_eq!(
        LoopSet::new(&plan, &graph).unwrap_err().message(),
        "loop \"review\": task \"code#3\" has the id that iteration 3 of \"code\" takes; rename it"
    );
    // Good loops: the default judges are the body's sinks, sources and dependents found.
    let set = check(vec![LoopSpec::new("l", body, "OK")]).unwrap();
    let info = &set.loops()[0];
    assert_eq!(info.judges, [2, 3, 4]);
    assert_eq!(info.sources, [1]);
    assert_eq!(info.dependents, [5]);
    assert_eq!(set.member(3), Some((0, 2)));
    assert_eq!(set.member(5), None);
}

#[test]
fn loops_that_wait_for_each_other_are_refused() {
    // a1 → z → b1 and b2 → y → a2: loop A's end needs a2, which needs y, which waits for
    // loop B, whose b1 needs z, which waits for loop A.
    let mut plan = Plan::new(
        ["a1", "a2", "b1", "b2", "z", "y"]
            .map(|id| Task::new(id, id))
            .to_vec(),
    );
    plan.loops = vec![
        LoopSpec::new("A", ["a1", "a2"], "OK"),
        LoopSpec::new("B", ["b1", "b2"], "OK"),
    ];
    let deps = vec![vec![], vec![5], vec![4], vec![], vec![0], vec![3]];
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps)).unwrap();
    let err = LoopSet::new(&plan, &graph).unwrap_err();
    assert_eq!(
        err.message(),
        "loop \"A\": loops \"A\" and \"B\" wait for each other through \"z\", \"y\": a task that depends on a loop waits until it ends, so none could end"
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_loops_given_to_the_executor_start_nothing() {
    let (plan, graph) = review_plan(3);
    let mut bad = (*plan).clone();
    bad.loops[0].tasks.push("ghost".into());
    let (report, _) = run_with(
        cfg(8),
        Arc::new(bad),
        &graph,
        Arc::new(Script::default()),
        None,
    )
    .await;
    assert_eq!(report.count(TaskStatus::Skipped), 6);
    assert!(
        report.tasks[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("invalid loop: loop \"review\": `tasks` names \"ghost\"")
    );
}

// ---- a loop-free schedule is unchanged -----------------------------------------------

mod unchanged {
    use proptest::prelude::*;

    use super::*;

    /// Answers "VERDICT: APPROVED" after each task's own duration, failing the tasks
    /// listed.
    struct Timed {
        secs: Vec<u64>,
        fail: Vec<bool>,
    }

    impl TaskRunner for Timed {
        fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
            let i = ctx.index();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(self.secs[i])).await;
                if self.fail[i] {
                    Err(TaskError::permanent("no"))
                } else {
                    Ok(TaskOutput::text("VERDICT: APPROVED"))
                }
            })
        }
    }

    type Schedule = Vec<(String, TaskStatus, Option<Duration>, Option<Duration>, u32)>;

    fn schedule(
        plan: Plan,
        deps: &[Vec<usize>],
        runner: Arc<Timed>,
        config: ExecutorConfig,
    ) -> (Schedule, usize) {
        let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps.to_vec())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let report = rt.block_on(Executor::new(config).run(Arc::new(plan), &graph, runner));
        let s = report
            .tasks
            .iter()
            .map(|t| (t.id.to_string(), t.status, t.start, t.end, t.attempts))
            .collect();
        (s, report.loops.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The same plan, with and without a loop that approves at once (over every task,
        /// or over its sinks, so nothing waits for it): the same schedule, task by task.
        #[test]
        fn a_loop_that_approves_at_once_changes_nothing(
            n in 1usize..16,
            edges in prop::collection::vec((0usize..16, 0usize..16), 0..30),
            secs in prop::collection::vec(1u64..5, 16),
            fail in prop::collection::vec(prop::bool::weighted(0.15), 16),
            k in 1usize..4,
            whole in any::<bool>(),
            batched in any::<bool>(),
        ) {
            let mut deps = vec![Vec::new(); n];
            for (a, b) in edges {
                let (a, b) = (a % n, b % n);
                if a < b && !deps[b].contains(&a) {
                    deps[b].push(a);
                }
            }
            for d in &mut deps {
                d.sort_unstable();
            }
            let tasks: Vec<Task> = (0..n).map(|i| Task::new(format!("t{i}"), "T")).collect();
            let sinks: Vec<String> = (0..n)
                .filter(|&i| !deps.iter().any(|d| d.contains(&i)))
                .map(|i| format!("t{i}"))
                .collect();
            let body: Vec<String> = if whole {
                (0..n).map(|i| format!("t{i}")).collect()
            } else {
                sinks
            };
            let runner = Arc::new(Timed { secs: secs.clone(), fail: fail.clone() });
            let config = ExecutorConfig {
                mode: if batched { Mode::Batched } else { Mode::Eager },
                ..cfg(k)
            };
            let plain = Plan::new(tasks.clone());
            let mut looped = Plan::new(tasks);
            looped.loops = vec![LoopSpec::new("l", body, "APPROVED")];
            let (a, la) = schedule(plain, &deps, Arc::clone(&runner), config.clone());
            let (b, lb) = schedule(looped, &deps, runner, config);
            prop_assert_eq!(la, 0);
            prop_assert_eq!(lb, 1);
            prop_assert_eq!(a, b);
        }
    }
}

// ---- the `dagent` binary ---------------------------------------------------------------

mod cli {
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    use serde_json::{Value, json};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;
    use crate::support::{command, dagent, dagent_env, scratch};

    const KEY: &str = "sk-test-loops-0123456789";
    /// How long the stub takes to answer (in-flight time, for counting concurrency).
    const DELAY: Duration = Duration::from_millis(150);

    /// The loopback provider: answers each task (found by the `# Task: TITLE` line of its
    /// prompt) from a script — its n-th request gets the n-th answer, the last repeating;
    /// `HTTP400` answers with a permanent error, `HANG` never answers in time. Records
    /// every prompt and when each request arrived.
    #[derive(Clone, Default)]
    struct Stub {
        script: Arc<HashMap<String, Vec<String>>>,
        seen: Arc<Mutex<Vec<(String, String, Instant)>>>,
        hung: Arc<AtomicBool>,
    }

    impl Stub {
        fn new(script: &[(&str, &[&str])]) -> Self {
            Self {
                script: Arc::new(
                    script
                        .iter()
                        .map(|(t, a)| {
                            ((*t).to_owned(), a.iter().map(|s| (*s).to_owned()).collect())
                        })
                        .collect(),
                ),
                ..Self::default()
            }
        }

        /// The prompts sent for the task with this title, in order.
        fn prompts(&self, title: &str) -> Vec<String> {
            self.seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _, _)| t == title)
                .map(|(_, p, _)| p.clone())
                .collect()
        }

        /// The most requests in flight at once: each is in flight for at least `DELAY`
        /// after it arrived, and a client sends the next only after an answer.
        fn peak(&self) -> usize {
            let seen = self.seen.lock().unwrap();
            let arrivals: Vec<Instant> = seen.iter().map(|(_, _, at)| *at).collect();
            arrivals
                .iter()
                .map(|&a| {
                    arrivals
                        .iter()
                        .filter(|&&b| b <= a && a < b + DELAY)
                        .count()
                })
                .max()
                .unwrap_or(0)
        }
    }

    impl Respond for Stub {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let prompt = body["messages"][1]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let title = prompt
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# Task: "))
                .unwrap_or("")
                .to_owned();
            let n = {
                let mut seen = self.seen.lock().unwrap();
                seen.push((title.clone(), prompt, Instant::now()));
                seen.iter().filter(|(t, _, _)| *t == title).count()
            };
            let answer = match self.script.get(&title) {
                Some(a) => a[(n - 1).min(a.len() - 1)].clone(),
                None => format!("{title}, version {n}"),
            };
            match answer.as_str() {
                "HTTP400" => ResponseTemplate::new(400)
                    .set_body_json(json!({ "error": { "message": "bad request" } })),
                "HANG" => {
                    self.hung.store(true, Ordering::SeqCst);
                    ResponseTemplate::new(200).set_delay(Duration::from_secs(60))
                }
                _ => ResponseTemplate::new(200)
                    .set_delay(DELAY)
                    .set_body_json(json!({
                        "model": body["model"],
                        "choices": [{ "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
                        "usage": { "prompt_tokens": 100, "completion_tokens": 20 }
                    })),
            }
        }
    }

    const PLAN: &str = r#"title = "Code with reviews"

[[tasks]]
id = "code"
title = "Write the code"

[[tasks]]
id = "review-correctness"
title = "Review correctness"
depends_on = ["code"]

[[tasks]]
id = "review-security"
title = "Review security"
depends_on = ["code"]

[[tasks]]
id = "review-style"
title = "Review style"
depends_on = ["code"]

[[tasks]]
id = "docs"
title = "Document"
depends_on = ["code", "review-style"]

[[loops]]
id = "review"
tasks = ["code", "review-correctness", "review-security", "review-style"]
repeat_until = "APPROVED"
max_iterations = 3
"#;

    fn config(url: &str, tasks_at_once: usize, provider_at_once: usize) -> String {
        format!(
            r#"[parallelization]
max_concurrent_tasks = {tasks_at_once}
retry_on_failure = false

[providers.stub]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "DAGENT_TEST_KEY"
max_concurrent = {provider_at_once}

[models.cheap]
provider = "stub"
id = "vendor/cheap"
pricing = {{ input = "0.25", output = "1.25" }}
context_window = 8192
max_output_tokens = 64

[routing]
default_model = "cheap"
"#
        )
    }

    const APPROVED: &[&str] = &["Looks right.\nVERDICT: APPROVED"];

    /// Runs the review plan against a stub with this script; returns what the binary
    /// printed, the JSON report and the stub.
    async fn run_loop(
        name: &str,
        script: &[(&str, &[&str])],
        tasks_at_once: usize,
        provider_at_once: usize,
    ) -> (crate::support::Output, Value, Stub) {
        let stub = Stub::new(script);
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(stub.clone())
            .mount(&server)
            .await;
        let dir = scratch(name);
        std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
        std::fs::write(
            dir.join("dagent.toml"),
            config(&server.uri(), tasks_at_once, provider_at_once),
        )
        .unwrap();
        let report = dir.join("report.json");
        let args: Vec<String> = [
            "run",
            dir.join("plan.toml").to_str().unwrap(),
            "--config",
            dir.join("dagent.toml").to_str().unwrap(),
            "--store",
            dir.join("runs.db").to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec();
        let out = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            dagent_env(&refs, &[("DAGENT_TEST_KEY", KEY)])
        })
        .await
        .unwrap();
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
        (out, r, stub)
    }

    fn task_ids(r: &Value) -> Vec<&str> {
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect()
    }

    fn loop_verdicts(r: &Value) -> Vec<Vec<Value>> {
        r["loops"][0]["iterations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|it| {
                it["verdicts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["verdict"].clone())
                    .collect()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reviewers_who_approve_at_once_end_the_loop_after_one_iteration() {
        let (out, r, stub) = run_loop(
            "loops-approve-at-once",
            &[
                ("Review correctness", APPROVED),
                ("Review security", APPROVED),
                ("Review style", APPROVED),
            ],
            4,
            4,
        )
        .await;
        assert_eq!(out.status, 0, "{out}");
        assert_eq!(
            task_ids(&r),
            [
                "code",
                "review-correctness",
                "review-security",
                "review-style",
                "docs"
            ]
        );
        assert_eq!(r["loops"][0]["stop"], "approved");
        assert_eq!(r["loops"][0]["iterations_run"], 1);
        assert_eq!(loop_verdicts(&r), vec![vec![json!("APPROVED"); 3]]);
        assert_eq!(r["tasks"][1]["loop"], "review");
        assert_eq!(r["tasks"][1]["iteration"], 1);
        assert!(
            r["tasks"][4].get("loop").is_none(),
            "docs is outside the loop"
        );
        assert_eq!(stub.prompts("Write the code").len(), 1);
        assert!(
            out.stdout.contains(
                "Loop \"review\" · 1 iteration of at most 3 · approved (repeat until APPROVED)"
            ),
            "{out}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reviewer_who_approves_on_iteration_two_gets_one_more_round() {
        let (out, r, stub) = run_loop(
            "loops-approve-second",
            &[
                ("Review correctness", APPROVED),
                (
                    "Review security",
                    &[
                        "The key is logged.\nVERDICT: CHANGES",
                        "Fixed.\nVERDICT: APPROVED",
                    ],
                ),
                ("Review style", APPROVED),
            ],
            4,
            4,
        )
        .await;
        assert_eq!(out.status, 0, "{out}");
        assert_eq!(
            task_ids(&r),
            [
                "code",
                "review-correctness",
                "review-security",
                "review-style",
                "docs",
                "code#2",
                "review-correctness#2",
                "review-security#2",
                "review-style#2"
            ]
        );
        assert_eq!(r["loops"][0]["stop"], "approved");
        assert_eq!(
            loop_verdicts(&r),
            vec![
                vec![json!("APPROVED"), json!("CHANGES"), json!("APPROVED")],
                vec![json!("APPROVED"); 3]
            ]
        );
        assert_eq!(
            r["tasks"][5]["depends_on"],
            json!([
                "code",
                "review-correctness",
                "review-security",
                "review-style"
            ])
        );
        assert_eq!(r["tasks"][5]["iteration"], 2);
        // The coder's second prompt carries its first code and every review; the docs the
        // last round's code.
        let second = &stub.prompts("Write the code")[1];
        for review in [
            "Write the code, version 1",
            "Looks right.",
            "The key is logged.",
        ] {
            assert!(second.contains(review), "{second}");
        }
        let docs = &stub.prompts("Document")[0];
        assert!(docs.contains("Write the code, version 2"), "{docs}");
        assert!(!docs.contains("Write the code, version 1"), "{docs}");
        assert!(out.stdout.contains("(+4 appended by loops)"), "{out}");
        // --resume refuses plans with loops, so the report does not suggest it.
        assert!(out.stdout.contains("(dagent runs show "), "{out}");
        assert!(!out.stdout.contains("--resume"), "{out}");
        assert!(
            out.stdout.contains(
                "  iteration 1: review-correctness APPROVED ✓ · review-security CHANGES · review-style APPROVED ✓"
            ),
            "{out}"
        );
        // The appended tasks are in the run store too.
        let shown = dagent(&[
            "runs",
            "show",
            "last",
            "--store",
            crate::support::root()
                .join("target/test-scratch/loops-approve-second/runs.db")
                .to_str()
                .unwrap(),
        ]);
        assert_eq!(shown.status, 0, "{shown}");
        // And a stored run's plan is written back with the last iteration's results.
        let written = dagent(&[
            "runs",
            "write-back",
            "last",
            "-",
            "--store",
            crate::support::root()
                .join("target/test-scratch/loops-approve-second/runs.db")
                .to_str()
                .unwrap(),
        ]);
        assert_eq!(written.status, 0, "{written}");
        assert!(
            written
                .stdout
                .contains("result = \"Write the code, version 2\""),
            "{written}"
        );
        assert!(
            !written.stdout.contains("Write the code, version 1"),
            "{written}"
        );
        for id in ["code#2", "review-security#2", "review-style#2"] {
            assert!(
                shown
                    .stdout
                    .lines()
                    .any(|l| l.trim_start().starts_with(id) && l.contains("succeeded")),
                "{id}: {shown}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reviewers_who_never_approve_stop_at_max_iterations() {
        let (out, r, stub) = run_loop(
            "loops-never-approve",
            &[("Review style", &["Rename everything.\nVERDICT: CHANGES"])],
            4,
            4,
        )
        .await;
        // Every task succeeded: the loop ran out of iterations, which the report says.
        assert_eq!(out.status, 0, "{out}");
        assert_eq!(r["loops"][0]["stop"], "max_iterations");
        assert_eq!(r["loops"][0]["iterations_run"], 3);
        assert_eq!(r["counts"]["succeeded"], 13);
        assert_eq!(stub.prompts("Write the code").len(), 3);
        // Reviews without a verdict line do not approve.
        assert_eq!(
            loop_verdicts(&r)[2],
            vec![Value::Null, Value::Null, json!("CHANGES")]
        );
        assert!(
            out.stdout
                .contains("3 iterations of at most 3 · stopped at max_iterations, not approved"),
            "{out}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_body_task_stops_the_loop() {
        let (out, r, _) = run_loop(
            "loops-failed",
            &[
                ("Write the code", &["code v1", "HTTP400"]),
                ("Review security", &["VERDICT: CHANGES"]),
            ],
            4,
            4,
        )
        .await;
        assert_eq!(out.status, 1, "{out}");
        assert_eq!(r["loops"][0]["stop"], "failed");
        assert_eq!(r["tasks"][5]["id"], "code#2");
        assert_eq!(r["tasks"][5]["status"], "failed");
        assert_eq!(r["tasks"][4]["status"], "skipped");
        assert_eq!(r["tasks"][4]["reason"], "dependency \"code#2\" failed");
        assert_eq!(r["counts"]["skipped"], 4, "three reviews and docs");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appended_tasks_respect_the_concurrency_limits() {
        // Three reviews ready at once, two task slots.
        let script: &[(&str, &[&str])] = &[("Review security", &["VERDICT: CHANGES"])];
        let (out, r, stub) = run_loop("loops-limit-tasks", script, 2, 8).await;
        assert_eq!(out.status, 0, "{out}");
        assert_eq!(r["loops"][0]["iterations_run"], 3);
        assert_eq!(stub.peak(), 2);
        // The provider serves one request at a time.
        let (out, r, stub) = run_loop("loops-limit-provider", script, 8, 1).await;
        assert_eq!(out.status, 0, "{out}");
        assert_eq!(r["loops"][0]["iterations_run"], 3);
        assert_eq!(stub.peak(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appended_tasks_are_paid_within_the_budget() {
        // Each call costs $0.00005; a loop that never approves would make 13 of them.
        let stub = Stub::new(&[("Review style", &["VERDICT: CHANGES"])]);
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(stub.clone())
            .mount(&server)
            .await;
        let dir = scratch("loops-budget");
        std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
        let mut cfg = config(&server.uri(), 1, 1);
        cfg.push_str("\n[budget]\nmax_usd = \"0.00035\"\n");
        std::fs::write(dir.join("dagent.toml"), cfg).unwrap();
        let report = dir.join("report.json");
        let args: Vec<String> = [
            "run",
            dir.join("plan.toml").to_str().unwrap(),
            "--config",
            dir.join("dagent.toml").to_str().unwrap(),
            "--no-store",
            "--report",
            report.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec();
        let out = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            dagent_env(&refs, &[("DAGENT_TEST_KEY", KEY)])
        })
        .await
        .unwrap();
        assert_eq!(out.status, 1, "{out}");
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["loops"][0]["stop"], "failed", "{r}");
        assert!(r["cost"]["refused_calls"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["cost"]["overruns"], json!([]));
        let spent: f64 = r["cost"]["total_usd"].as_str().unwrap().parse().unwrap();
        assert!(spent <= 0.00035, "{spent}");
        assert!(stub.seen.lock().unwrap().len() < 13);
        let refused: Vec<&Value> = r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["error"]["kind"] == "budget")
            .collect();
        assert!(!refused.is_empty(), "{r}");
        assert!(
            refused.iter().all(|t| t["attempts"] == 0),
            "a refusal is not an attempt"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_mid_loop_cancels_it_and_still_reports() {
        // Every review of iteration 2 hangs, so none can finish before the signal lands
        // (the correctness review answers as the stub's default would the first time).
        let stub = Stub::new(&[
            ("Review security", &["VERDICT: CHANGES", "HANG"]),
            ("Review style", &["VERDICT: APPROVED", "HANG"]),
            (
                "Review correctness",
                &["Review correctness, version 1", "HANG"],
            ),
        ]);
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(stub.clone())
            .mount(&server)
            .await;
        let dir = scratch("loops-sigterm");
        std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
        std::fs::write(dir.join("dagent.toml"), config(&server.uri(), 4, 4)).unwrap();
        let report = dir.join("report.json");
        let child = command()
            .args([
                "run",
                dir.join("plan.toml").to_str().unwrap(),
                "--config",
                dir.join("dagent.toml").to_str().unwrap(),
                "--no-store",
                "--report",
                report.to_str().unwrap(),
            ])
            .env("DAGENT_TEST_KEY", KEY)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Iteration 2's reviews hang: signal once one is in flight.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stub.hung.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "iteration 2 never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["stopped"], "run cancelled");
        assert_eq!(r["loops"][0]["stop"], "cancelled");
        assert_eq!(r["loops"][0]["iterations_run"], 2);
        assert_eq!(r["tasks"][5]["id"], "code#2");
        assert_eq!(r["tasks"][5]["status"], "succeeded");
        for t in &r["tasks"].as_array().unwrap()[6..] {
            assert_eq!(t["status"], "cancelled", "{t}");
        }
        assert_eq!(r["tasks"][4]["status"], "cancelled", "docs never started");
        assert_eq!(r["tasks"].as_array().unwrap().len(), 9);
    }

    /// Runs `dagent analyze` and snapshots exit status, stdout and stderr.
    fn check(name: &str, args: &[&str]) {
        let mut full = vec!["analyze"];
        full.extend_from_slice(args);
        let out = dagent(&full);
        insta::with_settings!({ snapshot_suffix => name.to_owned(), prepend_module_to_snapshot => false, omit_expression => true, description => full.join(" ") }, {
            insta::assert_snapshot!("loops", out.to_string());
        });
    }

    #[test]
    fn bad_loop_specs_are_errors_at_their_line_and_column() {
        for name in [
            "unknown-task.toml",
            "unknown-task.json",
            "judge-outside.toml",
            "two-loops.toml",
            "empty-body.toml",
            "not-closed.toml",
            "max-iterations.toml",
            "unknown-field.toml",
            "negative.toml",
        ] {
            let path = format!("tests/fixtures/loops/{name}");
            check(&format!("error-{name}"), &[&path]);
            let run = dagent(&["run", "--simulate", "--no-store", &path]);
            assert_eq!(run.status, 2, "{run}");
            assert!(run.stdout.is_empty(), "{run}");
        }
    }

    #[test]
    fn analysis_counts_one_iteration_and_says_so() {
        check("review-loop-text", &["examples/review-loop.toml"]);
        let out = dagent(&["analyze", "examples/review-loop.toml", "--format", "json"]);
        assert_eq!(out.status, 0, "{out}");
        let a: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            a["loops"],
            json!([{
                "id": "review",
                "tasks": ["code", "review-correctness", "review-security", "review-style"],
                "repeat_until": "APPROVE",
                "max_iterations": 3,
                "iterations_counted": 1
            }])
        );
        assert_eq!(a["tasks"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn a_simulated_loop_without_verdicts_runs_to_max_iterations() {
        let dir = scratch("loops-simulate");
        let report = dir.join("r.json");
        let out = dagent(&[
            "run",
            "--simulate",
            "--no-store",
            "--time-scale",
            "0.001",
            "examples/review-loop.toml",
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(out.status, 0, "{out}");
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["loops"][0]["stop"], "max_iterations");
        assert_eq!(r["tasks"].as_array().unwrap().len(), 6 + 8);
        assert!(
            out.stdout
                .contains("the prediction counts one iteration of each loop"),
            "{out}"
        );
    }

    #[test]
    fn resume_refuses_a_plan_with_loops_before_claiming_anything() {
        let dir = scratch("loops-resume");
        let store = dir.join("runs.db");
        let first = dagent(&[
            "run",
            "--simulate",
            "--time-scale",
            "0.001",
            "examples/review-loop.toml",
            "--store",
            store.to_str().unwrap(),
        ]);
        assert_eq!(first.status, 0, "{first}");
        let again = dagent(&[
            "run",
            "--simulate",
            "examples/review-loop.toml",
            "--store",
            store.to_str().unwrap(),
            "--resume",
        ]);
        assert_eq!(again.status, 2, "{again}");
        assert_eq!(
            again.stderr,
            "error: --resume does not support plans with loops yet (examples/review-loop.toml has loop \"review\"): its later iterations are appended while it runs, and a new session could not tell which stored iteration to continue from; run it again without --resume\n"
        );
        assert!(again.stdout.is_empty());
        // The same for a workflow whose plan has a loop (standard): refused before the stored
        // run is claimed, so nothing of the first run is reused and nothing runs again.
        let wf = |extra: &[&str]| {
            let mut a = vec![
                "run",
                "--workflow",
                "standard",
                "--request",
                "A CSV parser",
                "--simulate",
                "--time-scale",
                "0.001",
                "--out-dir",
                dir.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ];
            a.extend_from_slice(extra);
            dagent(&a)
        };
        let first = wf(&[]);
        assert_eq!(first.status, 0, "{first}");
        let again = wf(&["--resume"]);
        assert_eq!(again.status, 2, "{again}");
        assert!(
            again
                .stderr
                .contains("--resume does not support plans with loops yet"),
            "{again}"
        );
        assert!(again.stdout.is_empty(), "{again}");
        let runs = dagent(&["runs", "list", "--store", store.to_str().unwrap()]);
        assert!(!runs.stdout.contains("interrupted"), "{runs}");
    }
}

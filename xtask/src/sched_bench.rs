//! Scheduler benchmarks: schedule quality against the lower bound, and per-task overhead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dagent_core::{
    BoxFuture, DependencyMap, Plan, Task, TaskContext, TaskError, TaskOutput, TaskRunner,
};
use dagent_executor::{Executor, ExecutorConfig, Mode, RetryPolicy, SimulatedRunner, TaskGraph};

use crate::gen_plan::random_deps;
use crate::rng::Rng;

/// A plan shape with durations.
pub(crate) struct Shape {
    pub(crate) name: String,
    pub(crate) durations: Vec<Duration>,
    pub(crate) deps: Vec<Vec<usize>>,
}

fn lognormal_ms(rng: &mut Rng, median_ms: f64, sigma: f64) -> Duration {
    Duration::from_secs_f64((median_ms * (sigma * rng.normal()).exp()).clamp(5.0, 2_000.0) / 1000.0)
}

/// The spec's shapes and random layered DAGs, durations log-normal around 100 ms.
pub(crate) fn suite(seed: u64, random_dags: usize) -> Vec<Shape> {
    let mut rng = Rng::new(seed);
    let mut shapes = Vec::new();
    let shape = |name: &str, deps: Vec<Vec<usize>>, rng: &mut Rng| {
        let durations = (0..deps.len())
            .map(|_| lognormal_ms(rng, 100.0, 0.5))
            .collect();
        Shape {
            name: name.to_owned(),
            durations,
            deps,
        }
    };
    // Ten cities: 10 research → analysis → report.
    let mut d: Vec<Vec<usize>> = vec![vec![]; 10];
    d.push((0..10).collect());
    d.push(vec![10]);
    shapes.push(shape("ten cities", d, &mut rng));
    // Five sectors: 5 research → 5 analyses → comparison → report.
    let mut d: Vec<Vec<usize>> = vec![vec![]; 5];
    d.extend((0..5).map(|i| vec![i]));
    d.push((5..10).collect());
    d.push(vec![10]);
    shapes.push(shape("five sectors", d, &mut rng));
    // Regional: 5 + 5 research → two regional analyses → comparison.
    let mut d: Vec<Vec<usize>> = vec![vec![]; 10];
    d.push((0..5).collect());
    d.push((5..10).collect());
    d.push(vec![10, 11]);
    shapes.push(shape("regional", d, &mut rng));
    // Pipeline: 3 collections → clean → transform → analyse.
    shapes.push(shape(
        "data pipeline",
        vec![vec![], vec![], vec![], vec![0, 1, 2], vec![3], vec![4]],
        &mut rng,
    ));
    // Swarm "full" workflow: clarify → architect → code → [review, security, test] → [optimise, document].
    shapes.push(shape(
        "swarm full workflow",
        vec![
            vec![],
            vec![0],
            vec![1],
            vec![2],
            vec![2],
            vec![2],
            vec![3, 4, 5],
            vec![3, 4, 5],
        ],
        &mut rng,
    ));
    for r in 0..random_dags {
        let layers = 3 + rng.below(6);
        let mut deps: Vec<Vec<usize>> = Vec::new();
        let mut layer_start = Vec::new();
        for l in 0..layers {
            layer_start.push(deps.len());
            let width = 1 + rng.below(12);
            for _ in 0..width {
                if l == 0 {
                    deps.push(Vec::new());
                    continue;
                }
                let prev = layer_start[l - 1]..layer_start[l];
                let k = 1 + rng.below(3);
                let mut ds: Vec<usize> = (0..k)
                    .map(|_| {
                        if rng.below(4) == 0 {
                            rng.below(layer_start[l])
                        } else {
                            prev.start + rng.below(prev.len())
                        }
                    })
                    .collect();
                ds.sort_unstable();
                ds.dedup();
                deps.push(ds);
            }
        }
        let durations = (0..deps.len())
            .map(|_| lognormal_ms(&mut rng, 100.0, 0.6))
            .collect();
        shapes.push(Shape {
            name: format!("random layered #{r}"),
            durations,
            deps,
        });
    }
    shapes
}

fn plan_of(shape: &Shape) -> (Arc<Plan>, TaskGraph) {
    let tasks = shape
        .durations
        .iter()
        .enumerate()
        .map(|(i, d)| Task::new(format!("t{i}"), format!("t{i}")).with_estimate(*d))
        .collect();
    let plan = Plan::new(tasks);
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(shape.deps.clone()))
        .expect("acyclic suite");
    (Arc::new(plan), graph)
}

/// max(critical path, total ÷ k).
pub(crate) fn lower_bound(shape: &Shape, k: usize) -> Duration {
    let n = shape.deps.len();
    let mut finish = vec![Duration::ZERO; n];
    for i in 0..n {
        let ready = shape.deps[i]
            .iter()
            .map(|&d| finish[d])
            .max()
            .unwrap_or_default();
        finish[i] = ready + shape.durations[i];
    }
    let cp = finish.iter().copied().max().unwrap_or_default();
    let total: Duration = shape.durations.iter().sum();
    cp.max(total / u32::try_from(k).unwrap_or(1))
}

/// Makespan of one run; `paused` runs on tokio's paused clock (the pure schedule).
pub(crate) fn makespan(shape: &Shape, mode: Mode, k: usize, paused: bool) -> Duration {
    let (plan, graph) = plan_of(shape);
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time();
    if paused {
        builder.start_paused(true);
    }
    let rt = builder.build().expect("runtime");
    let config = ExecutorConfig {
        mode,
        max_concurrent: k,
        retry: RetryPolicy::none(),
        task_timeout: None,
        ..ExecutorConfig::default()
    };
    let runner = Arc::new(SimulatedRunner::new(Duration::from_millis(100)));
    let report = rt.block_on(Executor::new(config).run(plan, &graph, runner));
    assert!(report.all_succeeded());
    report.makespan
}

pub(crate) fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

struct Noop;
impl TaskRunner for Noop {
    fn run(&self, _ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async { Ok(TaskOutput::default()) })
    }
}

/// End-to-end time for `n` no-op tasks (graph build + run) at concurrency `k`, and the run
/// alone.
pub(crate) fn overhead(n: usize, k: usize) -> (Duration, Duration) {
    let deps = random_deps(n, 2, 7);
    let tasks: Vec<Task> = (0..n).map(|i| Task::new(format!("t{i}"), "noop")).collect();
    let plan = Arc::new(Plan::new(tasks));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let start = Instant::now();
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps)).expect("acyclic");
    let config = ExecutorConfig {
        max_concurrent: k,
        retry: RetryPolicy::none(),
        task_timeout: None,
        ..ExecutorConfig::default()
    };
    let run_start = Instant::now();
    let report = rt.block_on(Executor::new(config).run(plan, &graph, Arc::new(Noop)));
    let end = Instant::now();
    assert!(report.all_succeeded());
    (end - start, end - run_start)
}

/// The scheduler run alone for `n` no-op tasks with every attempt recorded in a SQLite run
/// store at `path` (a fresh file), and the number of attempts the store holds afterwards.
pub(crate) fn overhead_with_store(n: usize, k: usize, path: &std::path::Path) -> (Duration, usize) {
    use dagent_core::RunStore;
    let _ = std::fs::remove_file(path);
    let store = Arc::new(dagent_store::SqliteStore::open(path, true).expect("store"));
    let deps = random_deps(n, 2, 7);
    let tasks: Vec<Task> = (0..n).map(|i| Task::new(format!("t{i}"), "noop")).collect();
    let plan = Arc::new(Plan::new(tasks));
    let start = dagent_core::RunStart {
        plan_title: "overhead".into(),
        task_ids: plan.tasks.iter().map(|t| t.id.clone()).collect(),
        task_hashes: vec![String::new(); n],
        deps: deps.clone(),
        ..dagent_core::RunStart::default()
    };
    let run = store.begin(&start).expect("begin");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let graph = TaskGraph::new(&plan, DependencyMap::from_lists(deps)).expect("acyclic");
    let config = ExecutorConfig {
        max_concurrent: k,
        retry: RetryPolicy::none(),
        task_timeout: None,
        ..ExecutorConfig::default()
    };
    let executor =
        Executor::new(config).with_store(Arc::clone(&store) as Arc<dyn RunStore>, run.clone());
    let run_start = Instant::now();
    let report = rt.block_on(executor.run(plan, &graph, Arc::new(Noop)));
    let elapsed = run_start.elapsed();
    assert!(report.all_succeeded());
    let stored = store.detail(&run).expect("detail").attempts.len();
    (elapsed, stored)
}

/// Bare tokio: spawn `n` no-op tasks, then join them all.
pub(crate) fn bare_tokio(n: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let start = Instant::now();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(async move { i });
        }
        while set.join_next().await.is_some() {}
    });
    start.elapsed()
}

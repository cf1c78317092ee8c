//! Runs a plan with your own `TaskRunner` — no LLM, no CLI: each task here "builds" a
//! package by joining its dependencies' outputs, and one of them fails once to show retries.
//!
//! ```sh
//! cargo run -p dagent-executor --example custom_runner
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dagent_core::{
    BoxFuture, DependencyMap, DependencyOutcome, Plan, Task, TaskContext, TaskError, TaskOutput,
    TaskRunner,
};
use dagent_executor::{Executor, ExecutorConfig, RetryPolicy, TaskGraph};

/// "Builds" a task: waits a little, then joins what its dependencies produced.
struct Builder {
    flaky_failed: AtomicBool,
}

impl TaskRunner for Builder {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let task = ctx.task();
            if task.id.as_str() == "net" && !self.flaky_failed.swap(true, Ordering::SeqCst) {
                return Err(TaskError::transient("mirror timed out"));
            }
            // Inputs arrive in plan order, whatever order the dependencies finished in.
            let inputs: Vec<String> = ctx
                .inputs()
                .filter_map(|(_, outcome)| match outcome {
                    DependencyOutcome::Succeeded(out) => Some(out.text.clone()),
                    _ => None,
                })
                .collect();
            Ok(TaskOutput::text(format!(
                "{}[{}]",
                task.id,
                inputs.join(",")
            )))
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plan = Arc::new(Plan::new(vec![
        Task::new("core", "Build core"),
        Task::new("net", "Build net"),
        Task::new("db", "Build db"),
        Task::new("app", "Link the app"),
    ]));
    // app needs all three; the three libraries are independent of each other.
    let deps = DependencyMap::from_lists(vec![vec![], vec![], vec![], vec![0, 1, 2]]);
    let graph = TaskGraph::new(&plan, deps)?;
    let config = ExecutorConfig {
        max_concurrent: 2,
        retry: RetryPolicy::with_delays(2, vec![Duration::from_millis(10)]),
        ..ExecutorConfig::default()
    };
    let runner = Arc::new(Builder {
        flaky_failed: AtomicBool::new(false),
    });
    let report = Executor::new(config).run(plan, &graph, runner).await;
    for t in &report.tasks {
        println!(
            "{:<5} {:<10} attempts {}  {}",
            t.id,
            t.status.as_str(),
            t.attempts,
            t.output.as_ref().map_or("", |o| o.text.as_str())
        );
    }
    println!(
        "makespan {:?}, speed-up {:.2}x, retries {}",
        report.makespan,
        report.speedup(),
        report.retries
    );
    assert!(report.all_succeeded());
    Ok(())
}

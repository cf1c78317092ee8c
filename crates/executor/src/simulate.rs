//! A runner that simulates each task by sleeping its estimate.

use std::time::Duration;

use dagent_core::{
    BoxFuture, FailureKind, TaskContext, TaskError, TaskErrorKind, TaskOutput, TaskRunner,
};

/// Sleeps each task's estimate (or `default_estimate`) and succeeds with a short text naming
/// the task and the inputs it received, in order. A task's `simulate` spec makes its first
/// attempts fail: transient and permanent failures end the attempt after its estimate; a
/// timeout hangs until the executor's task timeout (or, without one, fails as a timeout
/// after ten times its estimate).
#[derive(Clone, Debug)]
pub struct SimulatedRunner {
    default_estimate: Duration,
    hang_limit: Option<Duration>,
}

impl SimulatedRunner {
    /// A simulator using `default_estimate` for tasks without an estimate.
    #[must_use]
    pub fn new(default_estimate: Duration) -> Self {
        Self {
            default_estimate,
            hang_limit: None,
        }
    }

    /// Tells the simulator the executor's task timeout, so simulated hangs outlast it.
    #[must_use]
    pub fn with_task_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.hang_limit = timeout;
        self
    }
}

impl TaskRunner for SimulatedRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            let task = ctx.task();
            let estimate = task.estimated_duration().unwrap_or(self.default_estimate);
            let failing = task
                .simulate
                .filter(|s| s.times.is_none_or(|n| ctx.attempt() <= n));
            if let Some(spec) = failing {
                return match spec.fail {
                    FailureKind::Timeout => {
                        match self.hang_limit {
                            Some(limit) => tokio::time::sleep(limit + estimate).await,
                            None => tokio::time::sleep(estimate * 10).await,
                        }
                        Err(TaskError::new(TaskErrorKind::Timeout, "simulated hang"))
                    }
                    FailureKind::Transient => {
                        tokio::time::sleep(estimate).await;
                        Err(TaskError::transient(format!(
                            "simulated transient failure (attempt {})",
                            ctx.attempt()
                        )))
                    }
                    FailureKind::Permanent => {
                        tokio::time::sleep(estimate).await;
                        Err(TaskError::permanent("simulated permanent failure"))
                    }
                };
            }
            tokio::time::sleep(estimate).await;
            let inputs: Vec<String> = ctx
                .inputs()
                .map(|(t, outcome)| match outcome {
                    dagent_core::DependencyOutcome::Succeeded(_) => t.id.to_string(),
                    dagent_core::DependencyOutcome::Failed(_) => format!("{} (failed)", t.id),
                    dagent_core::DependencyOutcome::Skipped(_) => format!("{} (skipped)", t.id),
                })
                .collect();
            let text = if inputs.is_empty() {
                format!("simulated output of {}", task.id)
            } else {
                format!(
                    "simulated output of {} from [{}]",
                    task.id,
                    inputs.join(", ")
                )
            };
            Ok(TaskOutput::text(text))
        })
    }
}

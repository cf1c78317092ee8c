//! A runner that simulates each task by sleeping its estimate.

use std::time::Duration;

use dagent_core::{
    BoxFuture, FailureKind, TaskContext, TaskError, TaskErrorKind, TaskOutput, TaskRunner,
};

use crate::policy::clock::scale;

/// Sleeps each task's estimate (or `default_estimate`) and succeeds with a short text naming
/// the task and the inputs it received, in order. A task's `simulate` spec makes its first
/// attempts fail: transient and permanent failures end the attempt after its estimate; a
/// timeout hangs until the executor's task timeout (or, without one, fails as a timeout
/// after ten times its estimate). A time scale multiplies every simulated duration
/// (saturating: any positive finite factor is accepted).
#[derive(Clone, Debug)]
pub struct SimulatedRunner {
    default_estimate: Duration,
    hang_limit: Option<Duration>,
    time_scale: f64,
}

impl SimulatedRunner {
    /// A simulator using `default_estimate` for tasks without an estimate.
    #[must_use]
    pub fn new(default_estimate: Duration) -> Self {
        Self {
            default_estimate,
            hang_limit: None,
            time_scale: 1.0,
        }
    }

    /// Multiplies every simulated duration (estimates and the default) by `factor`, without
    /// copying the plan: 0.01 previews a schedule a hundred times faster. A factor that is
    /// not a positive finite number is ignored; products past `Duration::MAX` saturate.
    #[must_use]
    pub fn with_time_scale(mut self, factor: f64) -> Self {
        if factor.is_finite() && factor > 0.0 {
            self.time_scale = factor;
        }
        self
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
            let estimate = scale(
                task.estimated_duration().unwrap_or(self.default_estimate),
                self.time_scale,
            );
            let failing = task
                .simulate
                .filter(|s| s.times.is_none_or(|n| ctx.attempt() <= n));
            if let Some(spec) = failing {
                return match spec.fail {
                    FailureKind::Timeout => {
                        match self.hang_limit {
                            Some(limit) => tokio::time::sleep(limit.saturating_add(estimate)).await,
                            None => tokio::time::sleep(estimate.saturating_mul(10)).await,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dagent_core::{Plan, Task};

    use super::*;

    async fn time_one(runner: &SimulatedRunner, task: Task) -> Duration {
        let plan = Arc::new(Plan::new(vec![task]));
        let start = tokio::time::Instant::now();
        let out = runner.run(TaskContext::new(plan, 0, 1, Vec::new())).await;
        assert!(out.is_ok());
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_scale_multiplies_estimates_and_the_default() {
        let s = Duration::from_secs(1);
        let runner = SimulatedRunner::new(4 * s).with_time_scale(0.5);
        let est = Task::new("a", "A").with_estimate(10 * s);
        assert_eq!(time_one(&runner, est).await, 5 * s);
        assert_eq!(time_one(&runner, Task::new("b", "B")).await, 2 * s);
        let ignored = SimulatedRunner::new(s).with_time_scale(f64::NAN);
        assert_eq!(time_one(&ignored, Task::new("c", "C")).await, s);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_scale_on_a_huge_estimate_saturates_instead_of_panicking() {
        let runner = SimulatedRunner::new(Duration::MAX).with_time_scale(1e300);
        let plan = Arc::new(Plan::new(vec![Task::new("a", "A")]));
        let attempt = runner.run(TaskContext::new(plan, 0, 1, Vec::new()));
        // It sleeps "forever"; a short timeout shows it started without a panic.
        assert!(
            tokio::time::timeout(Duration::from_secs(5), attempt)
                .await
                .is_err()
        );
        let hang = SimulatedRunner::new(Duration::MAX)
            .with_task_timeout(Some(Duration::MAX))
            .with_time_scale(1e300);
        let mut task = Task::new("h", "H");
        task.simulate = Some(dagent_core::SimulateSpec {
            fail: FailureKind::Timeout,
            times: None,
        });
        let plan = Arc::new(Plan::new(vec![task]));
        let attempt = hang.run(TaskContext::new(plan, 0, 1, Vec::new()));
        assert!(
            tokio::time::timeout(Duration::from_secs(5), attempt)
                .await
                .is_err()
        );
    }
}

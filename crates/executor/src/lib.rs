//! # dagent-executor
//!
//! The scheduler: runs any [`TaskRunner`](dagent_core::TaskRunner) over a plan in dependency
//! order, under concurrency, rate, timeout, retry and failure policies, and reports what
//! happened to every task. It knows nothing of HTTP or LLMs.
//!
//! The design choice to know: scheduling is **eager** — a task starts as soon as its
//! dependencies are done and a slot and a rate token are free — and among ready tasks the one
//! with the **longest remaining path** (by estimate, or by task count when there are none)
//! goes first, then plan order. Level barriers (`Mode::Batched`) are available for users who
//! want them. The loop is index-based (a task is its position in the plan) so it scales to
//! 100,000-task plans; each policy is a small piece in [`policy`].
//!
//! Every task ends in exactly one terminal state — succeeded, failed (with its error),
//! skipped (with the reason) or cancelled — and [`RunReport`] lists them all.
#![deny(missing_docs)]

mod config;
mod plan_graph;
pub mod policy;
mod report;
mod run;
mod simulate;

pub use config::{ExecutorConfig, FailureMode, Mode, RetryPolicy};
pub use plan_graph::{PlanGraph, PlanGraphError};
pub use policy::breaker::BreakerPolicy;
pub use report::{RunReport, StopReason, TaskReport, TaskStatus};
pub use run::Executor;
pub use simulate::SimulatedRunner;
pub use tokio_util::sync::CancellationToken;

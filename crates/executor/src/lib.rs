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
//! want them. The graph comes validated from `dagent-graph` ([`TaskGraph`], re-exported
//! here), which also computes the remaining paths; the executor contains no strategy code.
//!
//! The run is a task table (one state per task, index-based so it scales to 100,000-task
//! plans) and a loop that reads `wake → admit → poll → apply`. Each concern is a small
//! policy in [`policy`] with its own tests: slots and per-key limits, launch rate, level
//! barriers, per-attempt timeout, panic catching, retry delays, the breaker, the failure
//! mode, and the one outcome policy that maps an attempt's result to succeed, retry after a
//! delay, fail, or stop the run. A run may have a deadline ([`StopReason::Deadline`]). All
//! time arithmetic saturates: no duration, rate or time scale can make it panic.
//!
//! Every task ends in exactly one terminal state — succeeded, failed (with its error),
//! skipped (with the reason) or cancelled — and [`RunReport`] lists them all.
//!
//! Plans can grow while they run: a plan's review loops ([`dagent_core::LoopSpec`], checked
//! by [`LoopSet`]) append their next iteration as new tasks (`code#2`, …) until every judge
//! approves or `max_iterations` runs out. Appended tasks go through the same scheduling,
//! limits, store and report as the plan's own; a plan without loops has no loop state at all.
//! [`RunReport::loops`] says what each loop did.
#![deny(missing_docs)]

mod config;
mod loops;
pub mod policy;
mod report;
mod run;
mod simulate;

pub use config::{DEFAULT_MAX_RETRY_DELAY, ExecutorConfig, FailureMode, Mode, RetryPolicy};
pub use dagent_graph::{GraphError, LoopInfo, LoopSet, TaskGraph};
pub use policy::breaker::BreakerPolicy;
pub use report::{
    IterationReport, JudgeVerdict, LoopReport, LoopStop, RunReport, StopReason, TaskReport,
    TaskStatus,
};
pub use run::Executor;
pub use simulate::SimulatedRunner;
pub use tokio_util::sync::CancellationToken;

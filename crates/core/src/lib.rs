//! # dagent-core
//!
//! The domain of dagent — tasks, plans, dependency maps, task outcomes, token usage and exact
//! money — and the **ports** (traits) that every other crate implements or consumes:
//! [`DependencyAnalyzer`], [`TaskRunner`], [`ChatProvider`], [`CostTracker`] and
//! [`RunObserver`].
//!
//! The one design choice to know: this crate has **no dependencies** (serde is optional,
//! behind the `serde` feature) and does no I/O. Ports that do asynchronous work return a
//! [`BoxFuture`] — a hand-written `Pin<Box<dyn Future + Send>>` — so that they are usable as
//! `Box<dyn …>` / `Arc<dyn …>` trait objects (a fallback chain of analyzers, a provider chosen
//! from configuration) without pulling in `async-trait` or an executor. Implementations write
//! `Box::pin(async move { … })`.
#![deny(missing_docs)]

mod deps;
pub mod display;
mod error;
mod money;
mod plan;
mod ports;
mod task;
mod time;
mod usage;

pub use deps::DependencyMap;
pub use error::{AnalyzeError, ProviderError, ProviderErrorKind, TaskError, TaskErrorKind};
pub use money::{Money, ParseMoneyError, Price};
pub use plan::{Plan, Weights};
pub use ports::{
    BoxFuture, ChatMessage, ChatProvider, ChatRequest, ChatResponse, ChatRole, CostTracker,
    DependencyAnalyzer, DependencyOutcome, Reservation, RunEvent, RunEventKind, RunObserver,
    TaskContext, TaskRunner, ToolCall, ToolSpec,
};
pub use task::{Estimate, FailureKind, SimulateSpec, Task, TaskId, TaskKind, TaskOutput};
pub use time::{ParseDurationError, format_duration, parse_duration};
pub use usage::Usage;

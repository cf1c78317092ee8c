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
//!
//! Money is guarded, not trusted: a budget [`Reservation`] is settled or released exactly
//! once and releases itself when dropped, and every paid model call goes through one path,
//! [`metered_chat`] (worst case — a true upper bound — → reserve → call → settle).
#![deny(missing_docs)]

mod deps;
pub mod display;
mod error;
mod loops;
mod metering;
mod money;
mod plan;
mod ports;
mod store;
mod task;
mod time;
mod usage;

pub use deps::DependencyMap;
pub use error::{AnalyzeError, ProviderError, ProviderErrorKind, TaskError, TaskErrorKind};
pub use loops::{
    DEFAULT_MAX_ITERATIONS, LoopSpec, MAX_ITERATIONS, iteration_id, parse_verdict, verdict_approves,
};
pub use metering::{
    Alternative, MESSAGE_OVERHEAD_TOKENS, MeteredError, MeteredResponse, REQUEST_OVERHEAD_TOKENS,
    estimate_tokens, max_tokens_of, metered_chat, metered_chat_with, prompt_tokens_upper_bound,
    usage_upper_bound, worst_case_usage,
};
pub use money::{Money, ParseMoneyError, Price};
pub use plan::{Plan, Weights};
pub use ports::{
    Billing, BoxFuture, Charge, ChatMessage, ChatProvider, ChatRequest, ChatResponse, ChatRole,
    CostTracker, DependencyAnalyzer, DependencyOutcome, Reservation, ReservationLedger, RunEvent,
    RunEventKind, RunObserver, TaskContext, TaskRunner, ToolCall, ToolSpec,
};
pub use store::{AttemptRecord, RecordStatus, RunEnd, RunId, RunStart, RunStore, StoreError};
pub use task::{Estimate, Extract, FailureKind, SimulateSpec, Task, TaskId, TaskKind, TaskOutput};
pub use time::{ParseDurationError, format_duration, parse_duration};
pub use usage::Usage;

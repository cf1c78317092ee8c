//! # dagent-analyzers
//!
//! Turns a plan into a **validated task graph** and says how parallel it is.
//!
//! * [`validate_plan`] checks ids (non-empty, unique), explicit dependency references
//!   (known, not self) and cycles, with errors that name the tasks — a cycle is listed in order.
//! * [`TaskGraph`] (re-exported from `dagent-graph`, the kernel the executor shares) holds a
//!   validated DAG and computes levels, the critical path and the transitive reduction;
//!   [`Analysis`] adds width and speed-up bounds for a plan, weighted by
//!   [`Plan::weights`](dagent_core::Plan::weights).
//! * Strategies implement the core [`DependencyAnalyzer`](dagent_core::DependencyAnalyzer)
//!   port: [`ExplicitAnalyzer`], [`HeuristicAnalyzer`], [`SequentialAnalyzer`]; a
//!   [`FallbackChain`] tries them in order and records why earlier ones failed.
//!
//! The design choice to know: everything is index-based (a task is its position in the
//! plan) so that 100,000-task plans analyse in well under a second, and inferred graphs are
//! transitively reduced so they show direct needs only. Explicitly declared dependencies are
//! kept exactly as written: they decide what each task receives as input.
#![deny(missing_docs)]

mod analysis;
mod chain;
pub mod planner;
mod strategy;
mod validate;

pub use analysis::{Analysis, CriticalPath};
pub use chain::{FailedAttempt, FallbackChain, Resolution, Strategy};
pub use dagent_core::Weights;

/// The task name dependency analysis by a model is billed under in a cost tracker.
pub const ANALYSIS_TASK: &str = "(dependency analysis)";
pub use dagent_graph::{
    GraphError, GraphErrorKind, LoopInfo, LoopSet, TaskGraph, transitive_reduction,
};
pub use planner::{
    PLANNING_TASK, PlanComplexity, PlanFailure, PlanRequest, Planned, Planner, one_step_plan,
};
pub use strategy::{
    ConfidentHeuristic, Evidence, ExplicitAnalyzer, HeuristicAnalyzer, Independence, Inference,
    LOW_CONFIDENCE, LlmAnalyzer, Rule, SequentialAnalyzer,
};
pub use validate::{PlanIndex, validate_plan};

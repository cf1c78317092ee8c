//! # dagent-analyzers
//!
//! Turns a plan into a **validated task graph** and says how parallel it is.
//!
//! * [`validate_plan`] checks ids (non-empty, unique), explicit dependency references
//!   (known, not self) and cycles, with errors that name the tasks — a cycle is listed in order.
//! * [`TaskGraph`] holds a validated DAG (stored in a [`daggy::Dag`], with flat index arrays
//!   for the algorithms) and computes levels, the critical path, width and speed-up bounds;
//!   [`Analysis`] bundles them for a plan.
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
mod error;
mod graph;
mod strategy;
mod validate;

pub use analysis::{Analysis, CriticalPath, Weighting};
pub use chain::{FailedAttempt, FallbackChain, Resolution, Strategy};
pub use error::{GraphError, GraphErrorKind};
pub use graph::{TaskGraph, transitive_reduction};
pub use strategy::{
    ConfidentHeuristic, Evidence, ExplicitAnalyzer, HeuristicAnalyzer, Independence, Inference,
    LOW_CONFIDENCE, LlmAnalyzer, Rule, SequentialAnalyzer,
};
pub use validate::{PlanIndex, validate_plan};

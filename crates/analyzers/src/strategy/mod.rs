//! Dependency-inference strategies (implementations of the core `DependencyAnalyzer` port).

mod explicit;
mod heuristic;
pub(crate) mod llm;
mod sequential;

pub use explicit::ExplicitAnalyzer;
pub use heuristic::{
    ConfidentHeuristic, Evidence, HeuristicAnalyzer, Independence, Inference, LOW_CONFIDENCE, Rule,
};
pub use llm::LlmAnalyzer;
pub use sequential::SequentialAnalyzer;

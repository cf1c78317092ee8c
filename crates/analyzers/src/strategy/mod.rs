//! Dependency-inference strategies (implementations of the core `DependencyAnalyzer` port).

mod explicit;
mod heuristic;
mod llm;
mod sequential;

pub use explicit::ExplicitAnalyzer;
pub use heuristic::HeuristicAnalyzer;
pub use llm::LlmAnalyzer;
pub use sequential::SequentialAnalyzer;

//! The fallback chain of strategies.

use std::fmt;
use std::str::FromStr;

use dagent_core::{DependencyAnalyzer, DependencyMap, Plan};

use crate::{
    ExplicitAnalyzer, GraphError, HeuristicAnalyzer, SequentialAnalyzer, TaskGraph,
    transitive_reduction,
};

/// A strategy a user can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The plan's `depends_on` fields.
    Explicit,
    /// Rules over kinds and wording.
    Heuristic,
    /// Ask an LLM (needs a configured provider).
    Llm,
    /// Every task after the previous one.
    Sequential,
    /// Explicit when the plan declares dependencies, else heuristic, else sequential.
    Auto,
}

impl Strategy {
    /// The command-line name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Heuristic => "heuristic",
            Self::Llm => "llm",
            Self::Sequential => "sequential",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "explicit" => Ok(Self::Explicit),
            "heuristic" => Ok(Self::Heuristic),
            "llm" | "llm_based" => Ok(Self::Llm),
            "sequential" => Ok(Self::Sequential),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown dependency strategy {other:?}: expected explicit, heuristic, llm, sequential or auto"
            )),
        }
    }
}

/// A strategy that did not produce the graph, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    /// The strategy's name.
    pub strategy: String,
    /// Why it failed.
    pub reason: String,
}

/// The graph a chain settled on, which strategy produced it, and why earlier ones failed.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The validated graph (transitively reduced unless it came from `explicit`).
    pub graph: TaskGraph,
    /// The strategy that produced it.
    pub strategy: String,
    /// Strategies tried before it, in order.
    pub attempts: Vec<FailedAttempt>,
    /// Edges removed by transitive reduction.
    pub reduced_edges: usize,
}

/// Tries dependency analyzers in order until one produces a valid graph.
///
/// An analyzer fails when it returns an error or a map that is not a valid DAG for the plan;
/// either way the chain records the reason and moves on. Graphs from every strategy but
/// `explicit` are transitively reduced.
pub struct FallbackChain {
    analyzers: Vec<Box<dyn DependencyAnalyzer>>,
    /// Strategies asked for but not available (no model configured), reported first.
    unavailable: Vec<FailedAttempt>,
}

impl fmt::Debug for FallbackChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.analyzers.iter().map(|a| a.name()))
            .finish()
    }
}

impl FallbackChain {
    /// A chain of the given analyzers, tried in order.
    #[must_use]
    pub fn new(analyzers: Vec<Box<dyn DependencyAnalyzer>>) -> Self {
        Self {
            analyzers,
            unavailable: Vec::new(),
        }
    }

    /// The chain for `strategy` when a model may answer (`model` is the LLM analyzer, or
    /// why there is none):
    ///
    /// * `llm` — the model, then the heuristic, then sequential; without a model the chain
    ///   records why and starts at the heuristic;
    /// * `auto` — explicit, then the heuristic when it is confident, then the model, then
    ///   the heuristic, then sequential; without a model, explicit → heuristic → sequential;
    /// * the others ignore the model (see [`FallbackChain::for_strategy`]).
    #[must_use]
    pub fn with_model(
        strategy: Strategy,
        model: Result<Box<dyn DependencyAnalyzer>, String>,
    ) -> Self {
        match (strategy, model) {
            (Strategy::Llm, Ok(model)) => Self::new(vec![
                model,
                Box::new(HeuristicAnalyzer),
                Box::new(SequentialAnalyzer),
            ]),
            (Strategy::Llm, Err(reason)) => Self {
                unavailable: vec![FailedAttempt {
                    strategy: "llm".to_owned(),
                    reason,
                }],
                ..Self::new(vec![
                    Box::new(HeuristicAnalyzer),
                    Box::new(SequentialAnalyzer),
                ])
            },
            (Strategy::Auto, Ok(model)) => Self::new(vec![
                Box::new(ExplicitAnalyzer),
                Box::new(crate::ConfidentHeuristic::default()),
                model,
                Box::new(HeuristicAnalyzer),
                Box::new(SequentialAnalyzer),
            ]),
            (strategy, _) => Self::for_strategy(strategy),
        }
    }

    /// Adds `fallback` (the `fallback_strategy` setting) before the final sequential step
    /// when the chain does not already try it: `explicit` with fallback `heuristic` becomes
    /// explicit → heuristic → sequential. `model` is the LLM analyzer, used when the fallback
    /// is `llm`; `sequential` and `auto` add nothing (every chain ends in sequential, and
    /// `auto` is not a single strategy).
    #[must_use]
    pub fn with_fallback(
        mut self,
        fallback: Strategy,
        model: Option<Box<dyn DependencyAnalyzer>>,
    ) -> Self {
        let analyzer: Box<dyn DependencyAnalyzer> = match fallback {
            Strategy::Heuristic => Box::new(HeuristicAnalyzer),
            Strategy::Explicit => Box::new(ExplicitAnalyzer),
            Strategy::Llm => match model {
                Some(m) => m,
                None => return self,
            },
            Strategy::Sequential | Strategy::Auto => return self,
        };
        if self.names().contains(&analyzer.name()) {
            return self;
        }
        let at = self.analyzers.len().saturating_sub(1);
        self.analyzers.insert(at, analyzer);
        self
    }

    /// The built-in chain for a strategy: the strategy itself, then (for `auto`) heuristic,
    /// then sequential as the last resort. `llm` is supplied by the caller, who owns the
    /// provider; here it is treated as `auto` without the LLM step.
    #[must_use]
    pub fn for_strategy(strategy: Strategy) -> Self {
        let analyzers: Vec<Box<dyn DependencyAnalyzer>> = match strategy {
            Strategy::Explicit => vec![Box::new(ExplicitAnalyzer), Box::new(SequentialAnalyzer)],
            Strategy::Heuristic => vec![Box::new(HeuristicAnalyzer), Box::new(SequentialAnalyzer)],
            Strategy::Sequential => vec![Box::new(SequentialAnalyzer)],
            Strategy::Auto | Strategy::Llm => {
                vec![
                    Box::new(ExplicitAnalyzer),
                    Box::new(HeuristicAnalyzer),
                    Box::new(SequentialAnalyzer),
                ]
            }
        };
        Self::new(analyzers)
    }

    /// Inserts an analyzer at `position` (e.g. an LLM analyzer after `explicit`).
    pub fn insert(&mut self, position: usize, analyzer: Box<dyn DependencyAnalyzer>) {
        let at = position.min(self.analyzers.len());
        self.analyzers.insert(at, analyzer);
    }

    /// The analyzers' names, in order.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.analyzers.iter().map(|a| a.name()).collect()
    }

    /// Runs the chain on a plan.
    ///
    /// # Errors
    /// When every analyzer failed; the error lists each reason.
    pub async fn resolve(&self, plan: &Plan) -> Result<Resolution, GraphError> {
        let mut attempts = self.unavailable.clone();
        for analyzer in &self.analyzers {
            let name = analyzer.name().to_owned();
            let map = match analyzer.analyze(plan).await {
                Ok(map) => map,
                Err(e) => {
                    tracing::info!(strategy = %name, reason = %e.message(), "strategy failed; trying the next");
                    attempts.push(FailedAttempt {
                        strategy: name,
                        reason: e.message().to_owned(),
                    });
                    continue;
                }
            };
            match finish(plan, map, name != "explicit") {
                Ok((graph, reduced_edges)) => {
                    tracing::info!(
                        strategy = %name,
                        edges = graph.deps().edge_count(),
                        reduced_edges,
                        failed_before = attempts.len(),
                        "dependencies resolved"
                    );
                    return Ok(Resolution {
                        graph,
                        strategy: name,
                        attempts,
                        reduced_edges,
                    });
                }
                Err(e) => attempts.push(FailedAttempt {
                    strategy: name,
                    reason: e.message().to_owned(),
                }),
            }
        }
        let reasons: Vec<String> = attempts
            .iter()
            .map(|a| format!("{}: {}", a.strategy, a.reason))
            .collect();
        Err(GraphError::new(
            crate::GraphErrorKind::Malformed {
                detail: reasons.join("; "),
            },
            format!(
                "no dependency strategy produced a valid graph ({})",
                reasons.join("; ")
            ),
        ))
    }
}

fn finish(plan: &Plan, map: DependencyMap, reduce: bool) -> Result<(TaskGraph, usize), GraphError> {
    let graph = TaskGraph::new(plan, map)?;
    if !reduce {
        return Ok((graph, 0));
    }
    let before = graph.deps().edge_count();
    let reduced = transitive_reduction(&graph);
    let removed = before - reduced.edge_count();
    if removed == 0 {
        return Ok((graph, 0));
    }
    Ok((TaskGraph::new(plan, reduced)?, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands in for the LLM analyzer.
    struct Model;

    impl DependencyAnalyzer for Model {
        fn name(&self) -> &str {
            "llm"
        }
        fn analyze<'a>(
            &'a self,
            _plan: &'a Plan,
        ) -> dagent_core::BoxFuture<'a, Result<DependencyMap, dagent_core::AnalyzeError>> {
            Box::pin(async { Err(dagent_core::AnalyzeError::new("unused")) })
        }
    }

    #[test]
    fn the_chain_is_composed_here_for_every_strategy() {
        let with = |s, m: bool| {
            let model: Result<Box<dyn DependencyAnalyzer>, String> = if m {
                Ok(Box::new(Model))
            } else {
                Err("no model is configured".into())
            };
            FallbackChain::with_model(s, model)
        };
        assert_eq!(
            with(Strategy::Llm, true).names(),
            ["llm", "heuristic", "sequential"]
        );
        let without = with(Strategy::Llm, false);
        assert_eq!(without.names(), ["heuristic", "sequential"]);
        assert_eq!(without.unavailable[0].reason, "no model is configured");
        assert_eq!(
            with(Strategy::Auto, true).names(),
            ["explicit", "heuristic", "llm", "heuristic", "sequential"]
        );
        assert_eq!(
            with(Strategy::Auto, false).names(),
            ["explicit", "heuristic", "sequential"]
        );
        assert_eq!(
            with(Strategy::Explicit, true).names(),
            ["explicit", "sequential"]
        );
    }
}

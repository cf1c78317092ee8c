//! `dagent analyze --explain`: why each dependency of the final graph is there, and why
//! tasks listed one after another were left independent.

use dagent_adapters::LoadedPlan;
use dagent_analyzers::{HeuristicAnalyzer, Resolution};

/// One dependency of the final graph and what produced it.
pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// The rule: a heuristic rule name, or `declared`, `model`, `listed-order`.
    pub(crate) rule: String,
    /// The task's words that triggered it (may be empty).
    pub(crate) words: String,
    pub(crate) confidence: Option<f64>,
}

/// The explanation of a resolution.
pub(crate) struct Explanation {
    /// The plan's confidence (heuristic: the mean of its decisions; explicit: 1).
    pub(crate) confidence: Option<f64>,
    pub(crate) edges: Vec<Edge>,
    /// Tasks that do not depend on the task listed before them, and why.
    pub(crate) independent: Vec<(usize, String)>,
}

/// Explains the graph the chain settled on. The heuristic is deterministic, so running its
/// explanation again gives the evidence of exactly the edges it produced; edges the
/// transitive reduction removed are not listed.
pub(crate) fn explain(loaded: &LoadedPlan, resolution: &Resolution) -> Explanation {
    let plan = &loaded.plan;
    let graph = &resolution.graph;
    let all_edges =
        || (0..plan.tasks.len()).flat_map(move |t| graph.deps_of(t).iter().map(move |&d| (d, t)));
    let fixed = |rule: &str, words: &str, confidence: Option<f64>| Explanation {
        confidence,
        edges: all_edges()
            .map(|(from, to)| Edge {
                from,
                to,
                rule: rule.to_owned(),
                words: words.to_owned(),
                confidence,
            })
            .collect(),
        independent: (1..plan.tasks.len())
            .filter(|&t| !graph.deps_of(t).contains(&(t - 1)))
            .map(|t| {
                (
                    t,
                    format!("no {rule} dependency on {}", plan.tasks[t - 1].id),
                )
            })
            .collect(),
    };
    match resolution.strategy.as_str() {
        "heuristic" => {
            let inference = HeuristicAnalyzer.explain(plan);
            let evidence: std::collections::HashMap<(usize, usize), &_> = inference
                .edges
                .iter()
                .map(|e| ((e.from, e.to), e))
                .collect();
            let edges = all_edges()
                .map(|(from, to)| {
                    let e = evidence.get(&(from, to));
                    Edge {
                        from,
                        to,
                        rule: e.map_or("implied", |e| e.rule.as_str()).to_owned(),
                        words: e.map(|e| e.words.clone()).unwrap_or_default(),
                        confidence: e.map(|e| e.confidence),
                    }
                })
                .collect();
            let independent = inference
                .independent
                .into_iter()
                .filter(|i| !graph.deps_of(i.task).contains(&(i.task - 1)))
                .map(|i| (i.task, i.reason))
                .collect();
            Explanation {
                confidence: Some(inference.confidence),
                edges,
                independent,
            }
        }
        "explicit" => fixed("declared", "depends_on", Some(1.0)),
        "sequential" => fixed("listed-order", "", None),
        _ => fixed("model", "", None),
    }
}

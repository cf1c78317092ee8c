//! The stable JSON schema of `dagent analyze --format json` (see docs/analysis-json.md).

use serde::Serialize;

use super::View;

/// Bumped on any incompatible change.
const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    plan: PlanInfo<'a>,
    strategy: StrategyInfo<'a>,
    weighting: WeightingInfo,
    tasks: Vec<TaskInfo<'a>>,
    levels: Vec<Vec<&'a str>>,
    critical_path: PathInfo<'a>,
    width: usize,
    total_work: u64,
    speedup: Speedup,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<ExplanationInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projected_cost: Option<ProjectedInfo<'a>>,
    /// Only for plans with loops: every figure above counts one iteration of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    loops: Vec<LoopInfo<'a>>,
}

#[derive(Serialize)]
struct ProjectedInfo<'a> {
    tier: &'static str,
    expected_usd: String,
    worst_usd: String,
    expected_tokens: TokensInfo,
    worst_tokens: TokensInfo,
    tasks: Vec<ProjectedTask<'a>>,
    tiers: Vec<TierInfo>,
}

#[derive(Serialize)]
struct TokensInfo {
    prompt: u64,
    completion: u64,
}

#[derive(Serialize)]
struct ProjectedTask<'a> {
    id: &'a str,
    model: Option<&'a str>,
    expected_tokens: TokensInfo,
    worst_tokens: TokensInfo,
    expected_usd: String,
    worst_usd: String,
    tokens_from: &'static str,
}

#[derive(Serialize)]
struct TierInfo {
    tier: &'static str,
    expected_usd: String,
    worst_usd: String,
    savings_usd: String,
    savings_percent: f64,
}

fn usd(m: dagent_core::Money) -> String {
    m.to_string().trim_start_matches('$').to_owned()
}

fn tokens(u: dagent_core::Usage) -> TokensInfo {
    TokensInfo {
        prompt: u.prompt_tokens,
        completion: u.completion_tokens,
    }
}

fn projected(p: &super::Projected) -> ProjectedInfo<'_> {
    let c = &p.configured;
    ProjectedInfo {
        tier: c.tier.as_str(),
        expected_usd: usd(c.expected_cost),
        worst_usd: usd(c.worst_cost),
        expected_tokens: tokens(c.expected),
        worst_tokens: tokens(c.worst),
        tasks: c
            .tasks
            .iter()
            .map(|t| ProjectedTask {
                id: t.task.as_str(),
                model: t.model.as_deref(),
                expected_tokens: tokens(t.expected),
                worst_tokens: tokens(t.worst),
                expected_usd: usd(t.expected_cost),
                worst_usd: usd(t.worst_cost),
                tokens_from: t.source.as_str(),
            })
            .collect(),
        tiers: p
            .tiers
            .iter()
            .map(|t| {
                let (saving, pct) = p.saving(t);
                TierInfo {
                    tier: t.tier.as_str(),
                    expected_usd: usd(t.expected_cost),
                    worst_usd: usd(t.worst_cost),
                    savings_usd: usd(saving),
                    savings_percent: round3(pct),
                }
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct LoopInfo<'a> {
    id: &'a str,
    tasks: Vec<&'a str>,
    repeat_until: &'a str,
    max_iterations: u32,
    /// Always 1: analysis and prediction count one iteration.
    iterations_counted: u32,
}

#[derive(Serialize)]
struct ExplanationInfo<'a> {
    confidence: Option<f64>,
    edges: Vec<EdgeInfo<'a>>,
    independent: Vec<IndependentInfo<'a>>,
}

#[derive(Serialize)]
struct EdgeInfo<'a> {
    from: &'a str,
    to: &'a str,
    rule: &'a str,
    words: &'a str,
    confidence: Option<f64>,
}

#[derive(Serialize)]
struct IndependentInfo<'a> {
    task: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct PlanInfo<'a> {
    title: Option<&'a str>,
    source: &'a str,
    format: &'a str,
    task_count: usize,
    edge_count: usize,
}

#[derive(Serialize)]
struct StrategyInfo<'a> {
    used: &'a str,
    attempts: Vec<Attempt<'a>>,
    reduced_edges: usize,
    analysis_cost_usd: Option<String>,
    analysis_calls: u64,
}

#[derive(Serialize)]
struct Attempt<'a> {
    strategy: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct WeightingInfo {
    by: &'static str,
    unit: &'static str,
    missing_estimates: usize,
    assumed_ms: Option<u64>,
}

#[derive(Serialize)]
struct TaskInfo<'a> {
    id: &'a str,
    title: &'a str,
    kind: &'a str,
    role: Option<&'a str>,
    level: usize,
    estimate_ms: Option<u64>,
    depends_on: Vec<&'a str>,
    on_critical_path: bool,
}

#[derive(Serialize)]
struct PathInfo<'a> {
    tasks: Vec<&'a str>,
    length: u64,
}

#[derive(Serialize)]
struct Speedup {
    unbounded: f64,
    max_concurrent: usize,
    at_max_concurrent: f64,
    makespan_lower_bound: u64,
}

fn ms(micros: u64) -> u64 {
    micros.saturating_add(500) / 1000
}

pub(crate) fn json(v: &View<'_>) -> String {
    let a = v.analysis;
    let plan = &v.loaded.plan;
    let by_estimate = a.weights.by_estimate;
    let unit = |w: u64| if by_estimate { ms(w) } else { w };
    let mut on_path = vec![false; plan.tasks.len()];
    for &t in &a.critical_path.tasks {
        on_path[t] = true;
    }
    let doc = Doc {
        schema_version: SCHEMA_VERSION,
        plan: PlanInfo {
            title: plan.title.as_deref(),
            source: &v.loaded.origin,
            format: v.loaded.format.as_str(),
            task_count: plan.tasks.len(),
            edge_count: v.resolution.graph.deps().edge_count(),
        },
        strategy: StrategyInfo {
            used: &v.resolution.strategy,
            attempts: v
                .resolution
                .attempts
                .iter()
                .map(|x| Attempt {
                    strategy: &x.strategy,
                    reason: &x.reason,
                })
                .collect(),
            reduced_edges: v.resolution.reduced_edges,
            analysis_cost_usd: v
                .analysis_cost
                .map(|c| c.cost.to_string().trim_start_matches('$').to_owned()),
            analysis_calls: v.analysis_cost.map_or(0, |c| c.calls),
        },
        weighting: if by_estimate {
            WeightingInfo {
                by: "estimate",
                unit: "ms",
                missing_estimates: a.weights.missing,
                assumed_ms: a
                    .weights
                    .assumed
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }
        } else {
            WeightingInfo {
                by: "count",
                unit: "tasks",
                missing_estimates: plan.tasks.len(),
                assumed_ms: None,
            }
        },
        tasks: plan
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| TaskInfo {
                id: t.id.as_str(),
                title: &t.title,
                kind: t.kind.as_str(),
                role: t.role.as_deref(),
                level: v.resolution.graph.level_of(i),
                estimate_ms: t
                    .estimated_duration()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                depends_on: v
                    .resolution
                    .graph
                    .deps_of(i)
                    .iter()
                    .map(|&d| v.id(d))
                    .collect(),
                on_critical_path: on_path[i],
            })
            .collect(),
        levels: a
            .levels
            .iter()
            .map(|l| l.iter().map(|&t| v.id(t)).collect())
            .collect(),
        critical_path: PathInfo {
            tasks: a.critical_path.tasks.iter().map(|&t| v.id(t)).collect(),
            length: unit(a.critical_path.length),
        },
        width: a.width,
        total_work: unit(a.total_work),
        speedup: Speedup {
            unbounded: round3(a.speedup_unbounded()),
            max_concurrent: v.k,
            at_max_concurrent: round3(a.speedup_at(v.k)),
            makespan_lower_bound: unit(a.makespan_lower_bound(v.k)),
        },
        explanation: v.explanation.as_ref().map(|x| ExplanationInfo {
            confidence: x.confidence.map(round3),
            edges: x
                .edges
                .iter()
                .map(|e| EdgeInfo {
                    from: v.id(e.from),
                    to: v.id(e.to),
                    rule: &e.rule,
                    words: &e.words,
                    confidence: e.confidence.map(round3),
                })
                .collect(),
            independent: x
                .independent
                .iter()
                .map(|(t, reason)| IndependentInfo {
                    task: v.id(*t),
                    reason,
                })
                .collect(),
        }),
        projected_cost: v.projection.as_ref().map(projected),
        loops: plan
            .loops
            .iter()
            .map(|l| LoopInfo {
                id: &l.id,
                tasks: l.tasks.iter().map(dagent_core::TaskId::as_str).collect(),
                repeat_until: &l.repeat_until,
                max_iterations: l.max_iterations,
                iterations_counted: 1,
            })
            .collect(),
    };
    super::safe_json::to_json(&doc)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

//! The run report: a table for people and a stable JSON document (docs/run-report-json.md).
//!
//! The table shows ids, titles, errors and notes escaped for the terminal
//! (`dagent_core::display`); the JSON document keeps every string exact.

use std::fmt::Write as _;
use std::time::Duration;

use dagent_adapters::LoadedPlan;
use dagent_analyzers::Resolution;
use dagent_core::display::{Escaped, escape, escape_lines};
use dagent_core::format_duration;
use dagent_executor::{LoopStop, RunReport, TaskStatus};
use dagent_providers::CostSummary;
use serde::Serialize;

/// What the run renderers need.
pub(crate) struct RunView<'a> {
    pub(crate) loaded: &'a LoadedPlan,
    pub(crate) resolution: &'a Resolution,
    pub(crate) report: &'a RunReport,
    pub(crate) simulated: bool,
    pub(crate) costs: Option<&'a CostSummary>,
    pub(crate) runs_per_day: u64,
    /// The run's id in the run store (`None` with `--no-store`).
    pub(crate) run_id: Option<&'a str>,
    /// What earlier sessions of a resumed run spent (`None` for a fresh run).
    pub(crate) earlier_spend: Option<dagent_core::Money>,
    /// The makespan the estimates predicted, when the plan has estimates.
    pub(crate) predicted_makespan: Option<Duration>,
    /// The cost projected before the run at the configured tier (real runs only).
    pub(crate) projection: Option<&'a dagent_providers::Projection>,
    /// Tasks routed a tier down because the budget could not cover the rest of the plan.
    pub(crate) step_downs: &'a [dagent_providers::StepDownEvent],
    /// Per-endpoint state of the providers that balance several endpoints or adapt their
    /// concurrency (empty otherwise).
    pub(crate) endpoints: &'a [dagent_providers::EndpointStats],
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()))
}

pub(crate) fn run_text(v: &RunView<'_>) -> String {
    let r = v.report;
    let plan = &v.loaded.plan;
    let mut out = String::new();
    let title = escape(plan.title.as_deref().unwrap_or("Untitled plan"));
    let _ = writeln!(
        out,
        "\n{title} — {} tasks{} · {} · {} at a time · {}{}",
        plan.tasks.len(),
        match r.appended.len() {
            0 => String::new(),
            n => format!(" (+{n} appended by loops)"),
        },
        r.mode,
        r.max_concurrent,
        r.failure_mode,
        if v.simulated { " · simulated" } else { "" }
    );
    let id_w = r
        .tasks
        .iter()
        .map(|t| escape(t.id.as_str()).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 28);
    let _ = writeln!(
        out,
        "\n  {:<9}  {:<id_w$}  {:>8}  {:>8}  {:>8}  {:>3}  note",
        "status", "task", "start", "end", "time", "try"
    );
    for t in &r.tasks {
        let status = match t.status {
            TaskStatus::Succeeded if t.reused => "reused",
            TaskStatus::Succeeded => "ok",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
        };
        let note = match (&t.error, &t.reason) {
            (_, Some(reason)) => reason.clone(),
            (Some(e), None) => e.to_string(),
            (None, None) => String::new(),
        };
        let time = if t.attempts > 0 {
            secs(Some(t.busy))
        } else {
            "-".to_owned()
        };
        // Runs against models: which model, tokens, cost, and any notes.
        let note = match t.output.as_ref().filter(|_| v.costs.is_some()) {
            Some(o) => {
                let mut parts = vec![o.model.clone().unwrap_or_default()];
                if let Some(u) = o.usage {
                    parts.push(format!(
                        "{}+{} tokens",
                        u.prompt_tokens, u.completion_tokens
                    ));
                }
                if let Some(c) = o.cost {
                    parts.push(c.to_string());
                }
                parts.extend(o.notes.iter().cloned());
                parts.retain(|p| !p.is_empty());
                parts.join(" · ")
            }
            None => note,
        };
        // One cell: a line break or an escape sequence in an error stays visible text.
        let note = escape(&note);
        let line = format!(
            "  {status:<9}  {:<id_w$}  {:>8}  {:>8}  {:>8}  {:>3}  {note}",
            Escaped(t.id.as_str()),
            secs(t.start),
            secs(t.end),
            time,
            t.attempts
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "\nMakespan {} · task time {} · speed-up {:.2}× · utilisation {:.0}% · retries {}",
        format_duration(r.makespan),
        format_duration(r.total_task_time),
        r.speedup(),
        r.utilisation() * 100.0,
        r.retries
    );
    let _ = writeln!(
        out,
        "{} succeeded · {} failed · {} skipped · {} cancelled",
        r.count(TaskStatus::Succeeded),
        r.count(TaskStatus::Failed),
        r.count(TaskStatus::Skipped),
        r.count(TaskStatus::Cancelled)
    );
    if let Some(stop) = &r.stopped {
        let _ = writeln!(out, "Stopped early: {}", escape(&stop.to_string()));
    }
    loops_text(&mut out, r);
    if let Some(id) = v.run_id {
        if r.loops.is_empty() {
            let _ = writeln!(
                out,
                "Run {id} (dagent runs show {id}; resume with dagent run PLAN --resume {id})"
            );
        } else {
            // --resume refuses plans with loops: do not suggest it.
            let _ = writeln!(out, "Run {id} (dagent runs show {id})");
        }
    }
    if let Some(p) = v.predicted_makespan.and_then(|p| prediction(p, r.makespan)) {
        let _ = writeln!(
            out,
            "Predicted makespan {} from the estimates ({p:.2}× the actual){}",
            format_duration(v.predicted_makespan.unwrap_or_default()),
            if r.loops.is_empty() {
                ""
            } else {
                "; the prediction counts one iteration of each loop"
            }
        );
    }
    if let Some(c) = v.costs {
        let _ = writeln!(
            out,
            "Tokens {} in + {} out · cost {}{} · monthly at {} run{}/day: {}",
            c.total.usage.prompt_tokens,
            c.total.usage.completion_tokens,
            c.total.cost,
            c.budget
                .map_or_else(String::new, |b| format!(" of a {b} budget")),
            v.runs_per_day,
            if v.runs_per_day == 1 { "" } else { "s" },
            c.monthly_projection(v.runs_per_day)
        );
        for (model, t) in &c.by_model {
            let model = Escaped(model);
            let _ = writeln!(
                out,
                "  {model:<24} {:>4} calls  {:>8} in  {:>8} out  {}{}{}",
                t.calls,
                t.usage.prompt_tokens,
                t.usage.completion_tokens,
                t.cost,
                token_details(t.usage),
                drift_text(t)
            );
        }
        if let Some(earlier) = v.earlier_spend {
            let _ = writeln!(
                out,
                "  earlier sessions spent {earlier}, this one {}: {} in all",
                c.total.cost,
                earlier + c.total.cost
            );
        }
        if c.total.reported_calls > 0 {
            let _ = writeln!(
                out,
                "  the provider reported {} for {} call(s) (dagent's figure for all calls: {})",
                c.total.reported_cost, c.total.reported_calls, c.total.cost
            );
            if c.total.billed != c.total.cost {
                let _ = writeln!(
                    out,
                    "  the budget counts {} (per call, the larger of dagent's and the provider's figures)",
                    c.total.billed
                );
            }
        }
        for o in &c.overruns {
            let _ = writeln!(
                out,
                "  OVERRUN: {}; no paid call was launched after it",
                escape(&o.describe())
            );
        }
        if c.refused > 0 {
            let _ = writeln!(
                out,
                "  {} call(s) not launched: their worst case could cross the budget",
                c.refused
            );
        }
        if let Some(p) = v.projection {
            let _ = writeln!(
                out,
                "Projected before the run ({} tier): {} expected, {} worst case · actual {}",
                p.tier, p.expected_cost, p.worst_cost, c.total.cost
            );
        }
    }
    if let Some(first) = v.step_downs.first() {
        let _ = writeln!(
            out,
            "Stepped down a tier for {} task{} ({}): {}",
            v.step_downs.len(),
            if v.step_downs.len() == 1 { "" } else { "s" },
            escape(&first.reason),
            v.step_downs
                .iter()
                .map(|e| format!("{} → {}", escape(e.task.as_str()), e.to))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    endpoints_text(&mut out, v.endpoints);
    // Every plan or provider string above was escaped; this pass catches anything else.
    escape_lines(&out).into_owned()
}

/// ` (12 cached, 40 reasoning)` when the provider counted any.
fn token_details(u: dagent_core::Usage) -> String {
    let mut parts = Vec::new();
    if u.cached_prompt_tokens > 0 {
        parts.push(format!("{} cached", u.cached_prompt_tokens));
    }
    if u.reasoning_tokens > 0 {
        parts.push(format!("{} reasoning", u.reasoning_tokens));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// ` · provider $0.0012 (+$0.0002, +20.0%)` when the provider reported its own figure.
fn drift_text(t: &dagent_providers::Totals) -> String {
    t.drift().map_or_else(String::new, |d| {
        format!(
            " · provider {} vs dagent {} ({}{})",
            d.provider,
            d.dagent,
            d.delta_display(),
            d.percent()
                .map_or_else(String::new, |p| format!(", {p:+.1}%"))
        )
    })
}

fn endpoints_text(out: &mut String, endpoints: &[dagent_providers::EndpointStats]) {
    if endpoints.is_empty() {
        return;
    }
    out.push_str("Endpoints\n");
    for e in endpoints {
        let mut line = format!(
            "  {:<12} {:<32} {:>5} requests  {:>3} errors  {:>3} failovers  {:>3} cooldowns  {} in flight",
            Escaped(&e.provider),
            Escaped(&e.url),
            e.requests,
            e.errors,
            e.failovers,
            e.cooldowns,
            e.in_flight
        );
        if let Some(l) = e.latency_ms {
            let _ = write!(line, "  {l:.0} ms");
        }
        if let Some(l) = e.adaptive_limit {
            let _ = write!(line, "  limit {l}  {} rejected", e.rejected);
        }
        if e.cooling_down {
            line.push_str("  cooling down");
        }
        if e.healthy == Some(false) {
            line.push_str("  unhealthy");
        }
        out.push_str(&line);
        out.push('\n');
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    run_id: Option<&'a str>,
    plan: PlanInfo<'a>,
    dependency_strategy: &'a str,
    simulated: bool,
    mode: String,
    max_concurrent: usize,
    failure_mode: String,
    makespan_ms: u64,
    total_task_ms: u64,
    speedup: f64,
    utilisation: f64,
    retries: u32,
    stopped: Option<String>,
    stopped_at_ms: Option<u64>,
    predicted_makespan_ms: Option<u64>,
    prediction_ratio: Option<f64>,
    counts: Counts,
    cost: Option<CostDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    endpoints: Vec<EndpointDoc>,
    tasks: Vec<TaskDoc<'a>>,
    /// Projected (before the run) against actual cost; `null` for simulated runs.
    projected_cost: Option<ProjectedDoc<'a>>,
    /// Tasks routed a tier down under `[budget] on_exhaustion = "step_down"`.
    step_down: Vec<StepDownDoc<'a>>,
    /// Only for plans with loops (a loop-free report is unchanged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    loops: Vec<LoopDoc<'a>>,
}

#[derive(Serialize)]
struct ProjectedDoc<'a> {
    tier: &'static str,
    expected_usd: String,
    worst_usd: String,
    actual_usd: Option<String>,
    tasks: Vec<ProjectedTaskDoc<'a>>,
}

#[derive(Serialize)]
struct ProjectedTaskDoc<'a> {
    id: &'a str,
    model: Option<&'a str>,
    expected_usd: String,
    worst_usd: String,
    actual_usd: Option<String>,
}

#[derive(Serialize)]
struct StepDownDoc<'a> {
    task: &'a str,
    from: &'static str,
    to: &'static str,
    reason: &'a str,
}

#[derive(Serialize)]
struct EndpointDoc {
    provider: String,
    url: String,
    requests: u64,
    errors: u64,
    failovers: u64,
    cooldowns: u64,
    cooling_down: bool,
    in_flight: usize,
    latency_ms: Option<f64>,
    adaptive_limit: Option<usize>,
    rejected: u64,
    healthy: Option<bool>,
}

#[derive(Serialize)]
struct LoopDoc<'a> {
    id: &'a str,
    repeat_until: &'a str,
    max_iterations: u32,
    iterations_run: usize,
    stop: &'static str,
    iterations: Vec<IterationDoc<'a>>,
}

#[derive(Serialize)]
struct IterationDoc<'a> {
    iteration: u32,
    tasks: Vec<&'a str>,
    verdicts: Vec<VerdictDoc<'a>>,
}

#[derive(Serialize)]
struct VerdictDoc<'a> {
    judge: &'a str,
    task: &'a str,
    verdict: Option<&'a str>,
    approved: bool,
}

#[derive(Serialize)]
struct CostDoc {
    total_usd: String,
    earlier_usd: Option<String>,
    all_sessions_usd: Option<String>,
    provider_reported_usd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billed_usd: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    cached_prompt_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    reasoning_tokens: u64,
    overruns: Vec<String>,
    prompt_tokens: u64,
    completion_tokens: u64,
    budget_usd: Option<String>,
    refused_calls: u64,
    runs_per_day: u64,
    monthly_projection_usd: String,
    by_model: std::collections::BTreeMap<String, ModelCostDoc>,
}

#[derive(Serialize)]
struct ModelCostDoc {
    calls: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: String,
    #[serde(skip_serializing_if = "is_zero")]
    cached_prompt_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    reasoning_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<DriftDoc>,
}

/// dagent's figure against the provider's over the calls that reported one.
#[derive(Serialize)]
struct DriftDoc {
    calls: u64,
    dagent_usd: String,
    provider_usd: String,
    /// Provider minus dagent, signed.
    difference_usd: String,
    /// The difference as a percentage of dagent's figure.
    percent: Option<f64>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct PlanInfo<'a> {
    title: Option<&'a str>,
    source: &'a str,
    format: &'a str,
    task_count: usize,
}

#[derive(Serialize)]
struct Counts {
    succeeded: usize,
    failed: usize,
    skipped: usize,
    cancelled: usize,
}

#[derive(Serialize)]
struct TaskDoc<'a> {
    id: &'a str,
    title: &'a str,
    status: &'static str,
    reused: bool,
    attempts: u32,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    duration_ms: u64,
    depends_on: Vec<&'a str>,
    error: Option<ErrorDoc<'a>>,
    reason: Option<&'a str>,
    output: Option<&'a str>,
    model: Option<&'a str>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    cost_usd: Option<String>,
    notes: Vec<&'a str>,
    /// The loop a task belongs to and its iteration (absent outside loops).
    #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
    loop_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iteration: Option<u32>,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    kind: &'static str,
    message: &'a str,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Exact dollars as a decimal string without the sign ("0.000123"), so tools never parse floats.
fn usd(m: dagent_core::Money) -> String {
    m.to_string().trim_start_matches('$').to_owned()
}

/// The task that ran at position `i` of the report: the plan's own, or one appended for a
/// loop iteration.
fn task_of<'a>(
    r: &'a RunReport,
    plan: &'a dagent_core::Plan,
    i: usize,
) -> Option<&'a dagent_core::Task> {
    plan.tasks
        .get(i)
        .or_else(|| r.appended.get(i.checked_sub(plan.tasks.len())?))
}

/// The loop and iteration of the task at position `i`, when it is in a loop.
fn iteration_of(r: &RunReport, i: usize) -> Option<(&str, u32)> {
    r.loops.iter().find_map(|l| {
        l.iterations
            .iter()
            .find(|it| it.tasks.contains(&i))
            .map(|it| (l.id.as_str(), it.iteration))
    })
}

/// The loops section of the table: per loop, why it stopped and each iteration's verdicts.
fn loops_text(out: &mut String, r: &RunReport) {
    for l in &r.loops {
        let n = l.iterations.len();
        let why = match l.stop {
            LoopStop::Approved => "approved".to_owned(),
            LoopStop::MaxIterations => "stopped at max_iterations, not approved".to_owned(),
            LoopStop::Failed => "stopped: a task of its last iteration did not succeed".to_owned(),
            LoopStop::Cancelled => "stopped: the run stopped".to_owned(),
        };
        let _ = writeln!(
            out,
            "Loop {} · {n} iteration{} of at most {} · {why} (repeat until {})",
            dagent_core::display::quote(&l.id),
            if n == 1 { "" } else { "s" },
            l.max_iterations,
            escape(&l.repeat_until)
        );
        for it in &l.iterations {
            let verdicts: Vec<String> = it
                .verdicts
                .iter()
                .map(|v| {
                    format!(
                        "{} {}{}",
                        Escaped(v.judge.as_str()),
                        v.verdict.as_deref().map_or("(no verdict)".into(), escape),
                        if v.approved { " ✓" } else { "" }
                    )
                })
                .collect();
            let verdicts = if verdicts.is_empty() {
                "(did not finish)".to_owned()
            } else {
                verdicts.join(" · ")
            };
            let _ = writeln!(out, "  iteration {}: {verdicts}", it.iteration);
        }
    }
}

/// Predicted ÷ actual makespan.
fn prediction(predicted: Duration, actual: Duration) -> Option<f64> {
    (!actual.is_zero() && !predicted.is_zero())
        .then(|| predicted.as_secs_f64() / actual.as_secs_f64())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn run_json(v: &RunView<'_>) -> String {
    let r = v.report;
    let plan = &v.loaded.plan;
    let graph = &v.resolution.graph;
    let doc = Doc {
        schema_version: 1,
        run_id: v.run_id,
        plan: PlanInfo {
            title: plan.title.as_deref(),
            source: &v.loaded.origin,
            format: v.loaded.format.as_str(),
            task_count: plan.tasks.len(),
        },
        dependency_strategy: &v.resolution.strategy,
        simulated: v.simulated,
        mode: r.mode.to_string(),
        max_concurrent: r.max_concurrent,
        failure_mode: r.failure_mode.to_string(),
        makespan_ms: ms(r.makespan),
        total_task_ms: ms(r.total_task_time),
        speedup: round3(r.speedup()),
        utilisation: round3(r.utilisation()),
        retries: r.retries,
        stopped: r.stopped.as_ref().map(ToString::to_string),
        stopped_at_ms: r.stopped_at.map(ms),
        predicted_makespan_ms: v.predicted_makespan.map(ms),
        prediction_ratio: v
            .predicted_makespan
            .and_then(|p| prediction(p, r.makespan))
            .map(round3),
        counts: Counts {
            succeeded: r.count(TaskStatus::Succeeded),
            failed: r.count(TaskStatus::Failed),
            skipped: r.count(TaskStatus::Skipped),
            cancelled: r.count(TaskStatus::Cancelled),
        },
        cost: v.costs.map(|c| CostDoc {
            total_usd: usd(c.total.cost),
            earlier_usd: v.earlier_spend.map(usd),
            all_sessions_usd: v.earlier_spend.map(|e| usd(e + c.total.cost)),
            provider_reported_usd: (c.total.reported_calls > 0).then(|| usd(c.total.reported_cost)),
            billed_usd: (c.total.reported_calls > 0).then(|| usd(c.total.billed)),
            cached_prompt_tokens: c.total.usage.cached_prompt_tokens,
            reasoning_tokens: c.total.usage.reasoning_tokens,
            overruns: c
                .overruns
                .iter()
                .map(dagent_providers::Overrun::describe)
                .collect(),
            prompt_tokens: c.total.usage.prompt_tokens,
            completion_tokens: c.total.usage.completion_tokens,
            budget_usd: c.budget.map(usd),
            refused_calls: c.refused,
            runs_per_day: v.runs_per_day,
            monthly_projection_usd: usd(c.monthly_projection(v.runs_per_day)),
            by_model: c
                .by_model
                .iter()
                .map(|(m, t)| {
                    (
                        m.clone(),
                        ModelCostDoc {
                            calls: t.calls,
                            prompt_tokens: t.usage.prompt_tokens,
                            completion_tokens: t.usage.completion_tokens,
                            cost_usd: usd(t.cost),
                            cached_prompt_tokens: t.usage.cached_prompt_tokens,
                            reasoning_tokens: t.usage.reasoning_tokens,
                            drift: t.drift().map(|d| DriftDoc {
                                calls: d.calls,
                                dagent_usd: usd(d.dagent),
                                provider_usd: usd(d.provider),
                                difference_usd: d.delta_display().replacen('$', "", 1),
                                percent: d.percent().map(round3),
                            }),
                        },
                    )
                })
                .collect(),
        }),
        endpoints: v
            .endpoints
            .iter()
            .map(|e| EndpointDoc {
                provider: e.provider.clone(),
                url: e.url.clone(),
                requests: e.requests,
                errors: e.errors,
                failovers: e.failovers,
                cooldowns: e.cooldowns,
                cooling_down: e.cooling_down,
                in_flight: e.in_flight,
                latency_ms: e.latency_ms.map(round3),
                adaptive_limit: e.adaptive_limit,
                rejected: e.rejected,
                healthy: e.healthy,
            })
            .collect(),
        tasks: r
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| TaskDoc {
                id: t.id.as_str(),
                title: task_of(r, plan, i).map_or("", |t| t.title.as_str()),
                status: t.status.as_str(),
                reused: t.reused,
                attempts: t.attempts,
                start_ms: t.start.map(ms),
                end_ms: t.end.map(ms),
                duration_ms: ms(t.busy),
                depends_on: if i < plan.tasks.len() {
                    graph
                        .deps_of(i)
                        .iter()
                        .map(|&d| plan.tasks[d].id.as_str())
                        .collect()
                } else {
                    task_of(r, plan, i)
                        .and_then(|t| t.depends_on.as_ref())
                        .map(|d| d.iter().map(dagent_core::TaskId::as_str).collect())
                        .unwrap_or_default()
                },
                error: t.error.as_ref().map(|e| ErrorDoc {
                    kind: e.kind().as_str(),
                    message: e.message(),
                }),
                reason: t.reason.as_deref(),
                output: t.output.as_ref().map(|o| o.text.as_str()),
                model: t.output.as_ref().and_then(|o| o.model.as_deref()),
                prompt_tokens: t
                    .output
                    .as_ref()
                    .and_then(|o| o.usage)
                    .map(|u| u.prompt_tokens),
                completion_tokens: t
                    .output
                    .as_ref()
                    .and_then(|o| o.usage)
                    .map(|u| u.completion_tokens),
                cost_usd: t.output.as_ref().and_then(|o| o.cost).map(usd),
                notes: t
                    .output
                    .as_ref()
                    .map(|o| o.notes.iter().map(String::as_str).collect())
                    .unwrap_or_default(),
                loop_id: iteration_of(r, i).map(|(l, _)| l),
                iteration: iteration_of(r, i).map(|(_, k)| k),
            })
            .collect(),
        loops: r
            .loops
            .iter()
            .map(|l| LoopDoc {
                id: &l.id,
                repeat_until: &l.repeat_until,
                max_iterations: l.max_iterations,
                iterations_run: l.iterations.len(),
                stop: l.stop.as_str(),
                iterations: l
                    .iterations
                    .iter()
                    .map(|it| IterationDoc {
                        iteration: it.iteration,
                        tasks: it
                            .tasks
                            .iter()
                            .filter_map(|&t| r.tasks.get(t).map(|t| t.id.as_str()))
                            .collect(),
                        verdicts: it
                            .verdicts
                            .iter()
                            .map(|v| VerdictDoc {
                                judge: v.judge.as_str(),
                                task: v.task.as_str(),
                                verdict: v.verdict.as_deref(),
                                approved: v.approved,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        projected_cost: v.projection.map(|p| ProjectedDoc {
            tier: p.tier.as_str(),
            expected_usd: usd(p.expected_cost),
            worst_usd: usd(p.worst_cost),
            actual_usd: v.costs.map(|c| usd(c.total.cost)),
            tasks: p
                .tasks
                .iter()
                .zip(&r.tasks)
                .map(|(t, actual)| ProjectedTaskDoc {
                    id: t.task.as_str(),
                    model: t.model.as_deref(),
                    expected_usd: usd(t.expected_cost),
                    worst_usd: usd(t.worst_cost),
                    actual_usd: actual.output.as_ref().and_then(|o| o.cost).map(usd),
                })
                .collect(),
        }),
        step_down: v
            .step_downs
            .iter()
            .map(|e| StepDownDoc {
                task: e.task.as_str(),
                from: e.from.as_str(),
                to: e.to.as_str(),
                reason: &e.reason,
            })
            .collect(),
    };
    super::safe_json::to_json(&doc)
}

//! The human summary.

use std::fmt::Write as _;

use dagent_core::display::{Escaped, escape, escape_lines};

use super::View;

const MAX_LISTED_DEPS: usize = 4;

pub(crate) fn text(v: &View<'_>) -> String {
    let plan = &v.loaded.plan;
    let a = v.analysis;
    let mut out = String::new();
    let title = escape(plan.title.as_deref().unwrap_or("Untitled plan"));
    let n = plan.tasks.len();
    let _ = writeln!(out, "{title} — {n} task{}", plural(n));

    let mut decided = format!("Dependencies: {}", strategy_phrase(&v.resolution.strategy));
    for attempt in &v.resolution.attempts {
        let _ = write!(
            decided,
            "; {} not used: {}",
            escape(&attempt.strategy),
            escape(&attempt.reason)
        );
    }
    if v.resolution.reduced_edges > 0 {
        let e = v.resolution.reduced_edges;
        let _ = write!(decided, "; {e} implied edge{} removed", plural(e));
    }
    if let Some(c) = v.analysis_cost {
        let _ = write!(
            decided,
            "; the model's analysis cost {} ({} call{}, {}+{} tokens)",
            c.cost,
            c.calls,
            plural(usize::try_from(c.calls).unwrap_or(2)),
            c.usage.prompt_tokens,
            c.usage.completion_tokens
        );
    }
    let _ = writeln!(out, "{decided}");
    if let (true, Some(d), missing) = (a.weights.by_estimate, a.weights.assumed, a.weights.missing)
    {
        let _ = writeln!(
            out,
            "Estimates: {missing} task{} without one counted at the median, {}",
            plural(missing),
            dagent_core::format_duration(d)
        );
    }

    let id_width = plan
        .tasks
        .iter()
        .map(|t| escape(t.id.as_str()).chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    let title_width = plan
        .tasks
        .iter()
        .map(|t| escape(&t.title).chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for (b, batch) in a.levels.iter().enumerate() {
        let longest = batch
            .iter()
            .map(|&t| a.weights.values[t])
            .max()
            .unwrap_or(0);
        let span = if a.weights.by_estimate {
            format!(" · {}", v.weight(longest))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\nBatch {} · {} task{}{span}",
            b + 1,
            batch.len(),
            plural(batch.len())
        );
        for &t in batch {
            let task = &plan.tasks[t];
            let est = if a.weights.by_estimate {
                v.weight(a.weights.values[t])
            } else {
                String::new()
            };
            let mut line = format!(
                "  {:<id_width$}  {:<title_width$}  {est:>7}",
                Escaped(task.id.as_str()),
                truncate(&escape(&task.title), title_width)
            );
            let deps = v.resolution.graph.deps_of(t);
            if !deps.is_empty() {
                let mut names: Vec<_> = deps
                    .iter()
                    .take(MAX_LISTED_DEPS)
                    .map(|&d| v.shown_id(d))
                    .collect();
                let more = deps.len().saturating_sub(MAX_LISTED_DEPS);
                let extra = if more > 0 {
                    format!(", +{more} more")
                } else {
                    String::new()
                };
                names.dedup();
                let _ = write!(line, "  ← {}{extra}", names.join(", "));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    let cp = &a.critical_path;
    let path: Vec<_> = cp.tasks.iter().map(|&t| v.shown_id(t)).collect();
    let path = if path.len() > 8 {
        format!(
            "{} → … ({} more) … → {}",
            path[..3].join(" → "),
            path.len() - 6,
            path[path.len() - 3..].join(" → ")
        )
    } else {
        path.join(" → ")
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "Critical path  {path}  ({})", v.weight(cp.length));
    let _ = writeln!(
        out,
        "Width          {} task{} at most in one batch",
        a.width,
        plural(a.width)
    );
    let _ = writeln!(
        out,
        "Total work     {} if run one at a time",
        v.weight(a.total_work)
    );
    let _ = writeln!(
        out,
        "Speed-up       {:.2}× with unlimited concurrency · {:.2}× at most with {} at a time",
        a.speedup_unbounded(),
        a.speedup_at(v.k),
        v.k
    );
    if !a.weights.by_estimate {
        let _ = writeln!(
            out,
            "               (no estimates in the plan: every task counts as 1; add estimate = \"45s\" for timing)"
        );
    }
    for l in &plan_loops(v) {
        let _ = writeln!(out, "{l}");
    }
    if let Some(x) = &v.explanation {
        explanation(v, x, &mut out);
    }
    if let Some(p) = &v.projection {
        projection(p, &mut out);
    }
    // Every plan string above was escaped; this pass catches anything else.
    escape_lines(&out).into_owned()
}

/// The projected cost: per task at the configured tier, the plan's totals, and every tier
/// side by side with its savings against the most expensive.
fn projection(p: &super::Projected, out: &mut String) {
    let c = &p.configured;
    let _ = writeln!(
        out,
        "\nProjected cost ({} tier): {} expected, {} worst case · {} tokens expected, {} worst case",
        c.tier,
        c.expected_cost,
        c.worst_cost,
        c.expected.total(),
        c.worst.total()
    );
    let width = c
        .tasks
        .iter()
        .map(|t| escape(t.task.as_str()).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    let _ = writeln!(
        out,
        "  {:<width$}  {:<20}  {:>8}  {:>8}  {:>12}  {:>12}  from",
        "task", "model", "in", "out", "expected", "worst"
    );
    for t in &c.tasks {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<20}  {:>8}  {:>8}  {:>12}  {:>12}  {}",
            truncate(&escape(t.task.as_str()), width),
            truncate(&escape(t.model.as_deref().unwrap_or("(no model)")), 20),
            t.expected.prompt_tokens,
            t.expected.completion_tokens,
            t.expected_cost.to_string(),
            t.worst_cost.to_string(),
            t.source.as_str()
        );
    }
    let _ = writeln!(
        out,
        "Per tier (expected · worst case · saving against the dearest)"
    );
    for t in &p.tiers {
        let (saving, pct) = p.saving(t);
        let _ = writeln!(
            out,
            "  {:<9} {:>12}  {:>12}  {:>12} ({pct:.0}%)",
            t.tier.as_str(),
            t.expected_cost.to_string(),
            t.worst_cost.to_string(),
            saving.to_string()
        );
    }
}

/// One line per loop: what repeats, until what, and that the figures above count one
/// iteration.
fn plan_loops(v: &View<'_>) -> Vec<String> {
    v.loaded
        .plan
        .loops
        .iter()
        .map(|l| {
            let ids: Vec<String> = l
                .tasks
                .iter()
                .map(|t| dagent_core::display::escape(t.as_str()).into_owned())
                .collect();
            format!(
                "Loop {}  {} repeat until {} (at most {} iterations); the figures above count one iteration",
                dagent_core::display::quote(&l.id),
                ids.join(", "),
                dagent_core::display::escape(&l.repeat_until),
                l.max_iterations
            )
        })
        .collect()
}

/// The `--explain` section: one line per dependency, then the tasks left independent.
fn explanation(v: &View<'_>, x: &super::Explanation, out: &mut String) {
    let confidence = x
        .confidence
        .map(|c| format!(" · confidence {c:.2}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\nWhy these dependencies ({}{confidence})",
        v.resolution.strategy
    );
    if x.edges.is_empty() {
        let _ = writeln!(out, "  (no dependencies)");
    }
    let width = x
        .edges
        .iter()
        .map(|e| v.id(e.to).chars().count() + v.id(e.from).chars().count() + 3)
        .max()
        .unwrap_or(0)
        .min(48);
    for e in &x.edges {
        let pair = format!("{} ← {}", v.id(e.to), v.id(e.from));
        let words = if e.words.is_empty() {
            String::new()
        } else {
            format!("  \"{}\"", e.words)
        };
        let conf = e
            .confidence
            .map(|c| format!("  {c:.2}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {pair:<width$}  {:<12}{conf}{words}", e.rule);
    }
    if !x.independent.is_empty() {
        let _ = writeln!(out, "Independent of the task listed before them");
        let width = x
            .independent
            .iter()
            .map(|(t, _)| v.id(*t).chars().count())
            .max()
            .unwrap_or(0)
            .min(24);
        for (t, reason) in &x.independent {
            let _ = writeln!(out, "  {:<width$}  {reason}", v.id(*t));
        }
    }
}

fn strategy_phrase(strategy: &str) -> String {
    match strategy {
        "explicit" => "explicit (the plan's depends_on fields)".to_owned(),
        "heuristic" => "inferred by the heuristic (task kinds and wording)".to_owned(),
        "sequential" => "sequential (each task after the previous one)".to_owned(),
        other => format!("inferred by {other}"),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

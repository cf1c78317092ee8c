//! The human summary.

use std::fmt::Write as _;

use dagent_analyzers::Weighting;
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
    if let Weighting::Estimates {
        assumed: Some(d),
        missing,
    } = a.weighting
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
        let longest = batch.iter().map(|&t| a.weights[t]).max().unwrap_or(0);
        let span = match a.weighting {
            Weighting::Estimates { .. } => format!(" · {}", v.weight(longest)),
            Weighting::Count => String::new(),
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
            let est = match a.weighting {
                Weighting::Estimates { .. } => v.weight(a.weights[t]),
                Weighting::Count => String::new(),
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
    if a.weighting == Weighting::Count {
        let _ = writeln!(
            out,
            "               (no estimates in the plan: every task counts as 1; add estimate = \"45s\" for timing)"
        );
    }
    // Every plan string above was escaped; this pass catches anything else.
    escape_lines(&out).into_owned()
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

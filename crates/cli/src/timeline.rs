//! The timeline picture: a Gantt chart (SVG) of a run — one lane per task, every attempt as
//! a bar (retries and waits visible), the critical path highlighted, and the schedule the
//! estimates predicted drawn behind as ghost bars, so prediction and reality can be compared.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use dagent_core::{AttemptRecord, Plan, RecordStatus};

/// What the picture is drawn from.
pub(crate) struct TimelineInput<'a> {
    pub(crate) title: &'a str,
    pub(crate) plan: &'a Plan,
    /// Direct dependencies by position.
    pub(crate) deps: &'a [Vec<usize>],
    /// Every attempt (and terminal record) of one session.
    pub(crate) attempts: &'a [AttemptRecord],
    /// Tasks at once, for the predicted schedule.
    pub(crate) max_concurrent: usize,
    /// Factor applied to estimates (a simulated run's --time-scale), for the prediction.
    pub(crate) scale: f64,
}

/// The predicted schedule: start and end (ms) per task, from the estimates, with the
/// scheduler's own rule (eager; longest remaining path first, then plan order). `None` when
/// the plan has no estimates.
pub(crate) fn predicted(
    plan: &Plan,
    deps: &[Vec<usize>],
    k: usize,
    scale: f64,
) -> Option<Vec<(u64, u64)>> {
    let weights = plan.weights();
    if !weights.by_estimate {
        return None;
    }
    let n = plan.tasks.len();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let dur: Vec<u64> = weights
        .values
        .iter()
        .map(|&us| ((us as f64 / 1000.0) * scale).clamp(0.0, 1e15) as u64)
        .collect();
    let mut dependents = vec![Vec::new(); n];
    let mut unmet = vec![0usize; n];
    for (t, ds) in deps.iter().enumerate().take(n) {
        for &d in ds {
            if d < n {
                dependents[d].push(t);
                unmet[t] += 1;
            }
        }
    }
    // Remaining path (priority), over a topological order.
    let mut order: Vec<usize> = (0..n).filter(|&i| unmet[i] == 0).collect();
    let mut left = unmet.clone();
    let mut head = 0;
    while head < order.len() {
        let v = order[head];
        head += 1;
        for &w in &dependents[v] {
            left[w] -= 1;
            if left[w] == 0 {
                order.push(w);
            }
        }
    }
    if order.len() != n {
        return None;
    }
    let mut rest = vec![0u64; n];
    for &v in order.iter().rev() {
        let tail = dependents[v].iter().map(|&w| rest[w]).max().unwrap_or(0);
        rest[v] = dur[v].saturating_add(tail);
    }
    let mut ready: BinaryHeap<(u64, Reverse<usize>)> = (0..n)
        .filter(|&i| unmet[i] == 0)
        .map(|i| (rest[i], Reverse(i)))
        .collect();
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut out = vec![(0, 0); n];
    let mut now = 0u64;
    let k = k.max(1);
    let mut done = 0;
    while done < n {
        while running.len() < k {
            let Some((_, Reverse(i))) = ready.pop() else {
                break;
            };
            let end = now.saturating_add(dur[i]);
            out[i] = (now, end);
            running.push(Reverse((end, i)));
        }
        let Some(Reverse((end, i))) = running.pop() else {
            break;
        };
        now = end;
        done += 1;
        for &w in &dependents[i] {
            unmet[w] -= 1;
            if unmet[w] == 0 {
                ready.push((rest[w], Reverse(w)));
            }
        }
    }
    Some(out)
}

/// The tasks on the actual critical path: from the task that finished last, back through
/// the dependency that finished last, to a task without dependencies.
fn critical_path(deps: &[Vec<usize>], end: &[Option<u64>]) -> Vec<usize> {
    let Some(mut cur) = (0..end.len())
        .filter(|&i| end[i].is_some())
        .max_by_key(|&i| (end[i], Reverse(i)))
    else {
        return Vec::new();
    };
    let mut path = vec![cur];
    while let Some(&prev) = deps.get(cur).and_then(|ds| {
        ds.iter()
            .filter(|&&d| end.get(d).copied().flatten().is_some())
            .max_by_key(|&&d| end[d])
    }) {
        path.push(prev);
        cur = prev;
    }
    path.reverse();
    path
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A label for the picture: control characters shown escaped, cut to about `max` characters.
fn label(s: &str, max: usize) -> String {
    dagent_core::display::shorten(s, max).into_owned()
}

fn tick_step(span_ms: u64) -> u64 {
    let target = (span_ms / 8).max(1);
    let mut step = 1u64;
    for s in [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    ] {
        step = s;
        if s >= target {
            break;
        }
    }
    step.max(target.next_power_of_two().min(step))
}

/// The prediction error: predicted ÷ actual makespan.
pub(crate) fn prediction_ratio(predicted_ms: u64, actual_ms: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (actual_ms > 0 && predicted_ms > 0).then(|| predicted_ms as f64 / actual_ms as f64)
}

/// Draws the SVG.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
pub(crate) fn svg(input: &TimelineInput<'_>) -> String {
    let plan = input.plan;
    let n = plan.tasks.len();
    let mut end: Vec<Option<u64>> = vec![None; n];
    let mut first_start: Vec<Option<u64>> = vec![None; n];
    for a in input.attempts {
        if a.task >= n {
            continue;
        }
        end[a.task] = Some(end[a.task].map_or(a.end_ms, |e: u64| e.max(a.end_ms)));
        if a.attempt > 0 {
            first_start[a.task] =
                Some(first_start[a.task].map_or(a.start_ms, |s: u64| s.min(a.start_ms)));
        }
    }
    let actual = end.iter().flatten().copied().max().unwrap_or(0);
    let predicted = predicted(plan, input.deps, input.max_concurrent, input.scale);
    let predicted_makespan = predicted
        .as_ref()
        .map_or(0, |p| p.iter().map(|&(_, e)| e).max().unwrap_or(0));
    let span = actual.max(predicted_makespan).max(1);
    let critical = critical_path(input.deps, &end);
    let on_path = |i: usize| critical.contains(&i);

    let (left, top, lane_h, chart_w) = (250.0, 86.0, 24.0, 900.0);
    let height = top + lane_h * n as f64 + 50.0;
    let width = left + chart_w + 30.0;
    let x = |ms: u64| left + chart_w * (ms as f64 / span as f64);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">
<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#b8b8b8" stroke-width="2"/></pattern></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
"##
    );
    let ratio = prediction_ratio(predicted_makespan, actual).map_or_else(String::new, |r| {
        format!(
            " · predicted {} ({r:.2}× actual)",
            fmt_ms(predicted_makespan)
        )
    });
    let _ = writeln!(
        s,
        r##"<text x="20" y="28" font-size="17" font-weight="600" fill="#1f2328">{}</text>
<text x="20" y="48" fill="#57606a">{} tasks · makespan {}{ratio} · critical path {} task{}</text>"##,
        esc(&label(input.title, 110)),
        n,
        fmt_ms(actual),
        critical.len(),
        if critical.len() == 1 { "" } else { "s" }
    );
    // Legend.
    let legend = [
        ("#2da44e", "succeeded"),
        ("#cf222e", "failed attempt"),
        ("#8c959f", "cancelled"),
        ("url(#hatch)", "skipped"),
    ];
    let mut lx = 20.0;
    for (fill, name) in legend {
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="60" width="14" height="10" rx="2" fill="{fill}"/><text x="{}" y="69" fill="#57606a">{name}</text>"##,
            lx + 18.0
        );
        lx += 30.0 + 7.0 * name.len() as f64;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="60" width="14" height="10" rx="2" fill="#0969da" fill-opacity="0.12" stroke="#0969da" stroke-dasharray="3 2"/><text x="{}" y="69" fill="#57606a">predicted</text>"##,
        lx + 18.0
    );
    lx += 100.0;
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="60" width="14" height="10" rx="2" fill="none" stroke="#bf8700" stroke-width="2"/><text x="{}" y="69" fill="#57606a">critical path</text>"##,
        lx + 18.0
    );
    lx += 110.0;
    let _ = writeln!(
        s,
        r##"<line x1="{lx}" y1="65" x2="{}" y2="65" stroke="#8c959f" stroke-dasharray="2 3"/><text x="{}" y="69" fill="#57606a">waiting (slot or retry back-off)</text>"##,
        lx + 14.0,
        lx + 18.0
    );
    // Grid and axis.
    let step = tick_step(span);
    let mut t = 0;
    while t <= span {
        let gx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{:.1}" stroke="#eaeef2"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#57606a">{}</text>"##,
            top + lane_h * n as f64,
            top + lane_h * n as f64 + 16.0,
            fmt_ms(t)
        );
        t += step;
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        let y = top + lane_h * i as f64;
        if i % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="0" y="{y}" width="{width}" height="{lane_h}" fill="#f6f8fa"/>"##
            );
        }
        let weight = if on_path(i) { "600" } else { "400" };
        let _ = writeln!(
            s,
            r##"<text x="20" y="{:.1}" font-weight="{weight}" fill="#1f2328"><title>{}</title>{}</text>"##,
            y + 16.0,
            esc(&task.title),
            esc(&label(task.id.as_str(), 32))
        );
        if let Some(p) = predicted.as_ref().and_then(|p| p.get(i)) {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="#0969da" fill-opacity="0.10" stroke="#0969da" stroke-opacity="0.55" stroke-dasharray="3 2"><title>predicted {}–{}</title></rect>"##,
                x(p.0),
                y + 3.0,
                (x(p.1) - x(p.0)).max(1.5),
                lane_h - 6.0,
                fmt_ms(p.0),
                fmt_ms(p.1)
            );
        }
        // Waiting: from when every dependency was done to the first attempt.
        let ready = input.deps.get(i).map_or(0, |ds| {
            ds.iter()
                .filter_map(|&d| end.get(d).copied().flatten())
                .max()
                .unwrap_or(0)
        });
        let mut prev_end: Option<u64> = None;
        let mut attempts: Vec<&AttemptRecord> =
            input.attempts.iter().filter(|a| a.task == i).collect();
        attempts.sort_by_key(|a| (a.attempt, a.start_ms));
        if let Some(start) = first_start[i].filter(|&s| s > ready) {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#8c959f" stroke-dasharray="2 3"/>"##,
                x(ready),
                y + lane_h / 2.0,
                x(start),
                y + lane_h / 2.0
            );
        }
        for a in attempts {
            if a.attempt == 0 {
                // Ended without running: a hatched marker where it was decided.
                let _ = writeln!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="10" height="{:.1}" fill="url(#hatch)"><title>{} — {}</title></rect>"##,
                    x(a.end_ms),
                    y + 5.0,
                    lane_h - 10.0,
                    a.status.as_str(),
                    esc(a.message.as_deref().unwrap_or(""))
                );
                continue;
            }
            if let Some(pe) = prev_end.filter(|&pe| a.start_ms > pe) {
                let _ = writeln!(
                    s,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#8c959f" stroke-dasharray="2 3"/>"##,
                    x(pe),
                    y + lane_h / 2.0,
                    x(a.start_ms),
                    y + lane_h / 2.0
                );
            }
            prev_end = Some(a.end_ms);
            let fill = match a.status {
                RecordStatus::Succeeded => "#2da44e",
                RecordStatus::Failed => "#cf222e",
                RecordStatus::Cancelled | RecordStatus::Skipped => "#8c959f",
            };
            let stroke = if on_path(i) && a.status == RecordStatus::Succeeded {
                r##" stroke="#bf8700" stroke-width="2""##
            } else {
                ""
            };
            let detail = a
                .message
                .as_deref()
                .map_or_else(String::new, |m| format!(" — {}", esc(&label(m, 160))));
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="{fill}"{stroke}><title>{} attempt {}: {} {}–{}{detail}</title></rect>"##,
                x(a.start_ms),
                y + 5.0,
                (x(a.end_ms) - x(a.start_ms)).max(2.0),
                lane_h - 10.0,
                esc(task.id.as_str()),
                a.attempt,
                a.status.as_str(),
                fmt_ms(a.start_ms),
                fmt_ms(a.end_ms)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_ms(ms: u64) -> String {
    dagent_core::format_duration(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::{Task, TaskId};
    use std::time::Duration;

    fn rec(task: usize, attempt: u32, start: u64, end: u64, status: RecordStatus) -> AttemptRecord {
        AttemptRecord {
            task,
            task_id: TaskId::new(format!("t{task}")),
            attempt,
            start_ms: start,
            end_ms: end,
            status,
            terminal: status != RecordStatus::Failed,
            error_kind: None,
            message: None,
            model: None,
            endpoint: None,
            usage: None,
            cost: None,
            output: None,
        }
    }

    #[test]
    fn prediction_follows_the_eager_longest_path_first_rule() {
        let plan = Plan::new(vec![
            Task::new("a", "A").with_estimate(Duration::from_millis(100)),
            Task::new("b", "B").with_estimate(Duration::from_millis(300)),
            Task::new("c", "C").with_estimate(Duration::from_millis(50)),
        ]);
        let deps = vec![vec![], vec![], vec![0]];
        // One slot: b (longest remaining path 300) first, then a (150 with c), then c.
        let p = predicted(&plan, &deps, 1, 1.0).unwrap();
        assert_eq!(p, vec![(300, 400), (0, 300), (400, 450)]);
        let p = predicted(&plan, &deps, 2, 0.5).unwrap();
        assert_eq!(p, vec![(0, 50), (0, 150), (50, 75)]);
        assert!(predicted(&Plan::new(vec![Task::new("x", "X")]), &[vec![]], 1, 1.0).is_none());
    }

    #[test]
    fn the_picture_shows_attempts_waits_and_the_critical_path() {
        let plan = Plan::new(vec![
            Task::new("a", "A <fetch>").with_estimate(Duration::from_millis(100)),
            Task::new("b", "B").with_estimate(Duration::from_millis(100)),
        ]);
        let deps = vec![vec![], vec![0]];
        let attempts = [
            rec(0, 1, 0, 40, RecordStatus::Failed),
            rec(0, 2, 90, 150, RecordStatus::Succeeded),
            rec(1, 1, 170, 260, RecordStatus::Succeeded),
        ];
        let out = svg(&TimelineInput {
            title: "T & co",
            plan: &plan,
            deps: &deps,
            attempts: &attempts,
            max_concurrent: 2,
            scale: 1.0,
        });
        assert!(out.starts_with("<svg") && out.trim_end().ends_with("</svg>"));
        assert!(out.contains("T &amp; co") && out.contains("A &lt;fetch&gt;"));
        assert_eq!(
            out.matches("#cf222e\"").count(),
            2,
            "one failed bar + legend"
        );
        assert!(out.contains("predicted 200ms (0.77× actual)"), "{out}");
        assert!(out.contains("critical path 2 tasks"));
        assert!(out.contains("stroke-dasharray=\"2 3\"/>"), "waits drawn");
        assert_eq!(critical_path(&deps, &[Some(150), Some(260)]), vec![0, 1]);
    }
}

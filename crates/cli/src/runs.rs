//! `dagent runs`: the run history kept by the run store.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use dagent_core::{Money, RecordStatus, RunId, format_duration};
use dagent_store::{RunDetail, RunSummary, SqliteStore};
use serde_json::json;

use crate::args::{RunsArgs, RunsCommand, TableFormat};
use crate::diag::{Failure, write_output};
use crate::settings::Settings;

/// Opens the configured store; it must exist (history commands never create one).
fn open(args: &RunsArgs) -> Result<SqliteStore, Failure> {
    let mut flags = Vec::new();
    if let Some(s) = &args.store {
        flags.push(("--store", s.clone()));
    }
    let settings = Settings::load(args.config.as_deref(), &|k| std::env::var(k).ok(), &flags)?;
    let Some(path) = settings.store.path else {
        return Err(Failure::bad_input(
            "error: the run store is turned off ([store] enabled = false or DAGENT_STORE_ENABLED)",
        ));
    };
    if !path.exists() {
        return Err(Failure::bad_input(format!(
            "error: no run store at {}: `dagent run` records runs there (or pass --store PATH)",
            path.display()
        )));
    }
    SqliteStore::open(&path, false).map_err(|e| Failure::bad_input(format!("error: {e}")))
}

fn store_error(e: &dagent_core::StoreError) -> Failure {
    Failure::bad_input(format!("error: {e}"))
}

/// `2026-11-21 11:20:03` (UTC) from milliseconds since the Unix epoch.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn report_field(detail_json: Option<&str>, key: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(detail_json?).ok()?;
    v.get(key).cloned()
}

fn summary_json(r: &RunSummary) -> serde_json::Value {
    json!({
        "id": r.id.as_str(),
        "status": r.status,
        "plan": r.plan_title,
        "plan_origin": r.plan_origin,
        "started_at": utc(r.started_at_ms),
        "started_at_ms": r.started_at_ms,
        "finished_at_ms": r.finished_at_ms,
        "makespan_ms": r.makespan_ms,
        "sessions": r.sessions,
        "tasks": r.tasks,
        "succeeded": r.succeeded,
        "tokens_in": r.usage.prompt_tokens,
        "tokens_out": r.usage.completion_tokens,
        "cost_usd": r.cost.to_string().trim_start_matches('$'),
        "cost_nanos": r.cost.nanos(),
    })
}

/// Each task's last record in the latest session that touched it, with the number of
/// attempts over every session.
struct TaskRow {
    id: String,
    status: String,
    attempts: u32,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    model: Option<String>,
    tokens: u64,
    cost: Money,
    session: u32,
}

fn task_rows(d: &RunDetail) -> Vec<TaskRow> {
    let mut by_id: std::collections::HashMap<&str, usize> = d
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let mut rows: Vec<TaskRow> = d
        .tasks
        .iter()
        .map(|t| TaskRow {
            id: t.id.to_string(),
            status: "not started".into(),
            attempts: 0,
            start_ms: None,
            end_ms: None,
            model: None,
            tokens: 0,
            cost: Money::ZERO,
            session: 0,
        })
        .collect();
    // Attempts belong to tasks by id: a resumed run may have reordered its plan.
    for a in &d.attempts {
        // Tasks appended by a loop's later iterations (`code#2`) are not in the plan: they
        // get rows of their own, after the plan's, in the order they were recorded.
        let id = a.record.task_id.as_str();
        if !by_id.contains_key(id) && a.record.task >= d.tasks.len() {
            by_id.insert(id, rows.len());
            rows.push(TaskRow {
                id: id.to_owned(),
                status: "not started".into(),
                attempts: 0,
                start_ms: None,
                end_ms: None,
                model: None,
                tokens: 0,
                cost: Money::ZERO,
                session: a.session,
            });
        }
        let Some(row) = by_id.get(id).and_then(|&i| rows.get_mut(i)) else {
            continue;
        };
        let r = &a.record;
        if r.attempt > 0 {
            row.attempts += 1;
        }
        row.tokens = row.tokens.saturating_add(r.usage.map_or(0, |u| u.total()));
        row.cost += r.cost.unwrap_or(Money::ZERO);
        // The latest record wins.
        row.status = if r.status == RecordStatus::Failed && !r.terminal {
            "failed (retrying)".into()
        } else {
            r.status.as_str().into()
        };
        row.session = a.session;
        row.start_ms = Some(r.start_ms);
        row.end_ms = Some(r.end_ms);
        if r.model.is_some() {
            row.model.clone_from(&r.model);
        }
    }
    // A task whose current content has a success is succeeded, whatever came after it.
    for (row, t) in rows.iter_mut().zip(&d.tasks) {
        if let Some(s) = d.success_for(t.id.as_str(), &t.content_hash)
            && row.status != "succeeded"
        {
            row.status = format!("succeeded (session {})", s.session);
        }
    }
    rows
}

/// A task of a loop is written back with its last iteration's result: the newest copy
/// (`code#3`) that has a record, if it succeeded (nothing if it did not).
fn last_iterations(plan: &dagent_core::Plan, d: &RunDetail, results: &mut [Option<String>]) {
    for l in &plan.loops {
        for id in &l.tasks {
            let Some(slot) = plan.position(id).and_then(|i| results.get_mut(i)) else {
                continue;
            };
            let newest = (2..=l.max_iterations.min(dagent_core::MAX_ITERATIONS))
                .rev()
                .find_map(|k| {
                    let copy = dagent_core::iteration_id(id, k);
                    let mut records = d
                        .attempts
                        .iter()
                        .filter(|a| a.record.task_id == copy)
                        .peekable();
                    records.peek()?;
                    Some(
                        records
                            .rfind(|a| a.record.status == RecordStatus::Succeeded)
                            .and_then(|a| a.record.output.clone()),
                    )
                });
            if let Some(result) = newest {
                *slot = result;
            }
        }
    }
}

fn show(d: &RunDetail) -> String {
    let s = &d.summary;
    let mut out = String::new();
    let _ = writeln!(out, "Run {} · {} · {}", s.id, s.status, s.plan_title);
    let _ = writeln!(
        out,
        "Plan {} ({} tasks, dependencies: {}) · started {} UTC · {} session{}",
        s.plan_origin,
        s.tasks,
        d.strategy,
        utc(s.started_at_ms),
        s.sessions,
        if s.sessions == 1 { "" } else { "s" }
    );
    if let Some(ms) = s.makespan_ms {
        let speedup = report_field(d.report_json.as_deref(), "speedup")
            .and_then(|v| v.as_f64())
            .map_or_else(String::new, |x| format!(" · speed-up {x:.2}×"));
        let _ = writeln!(
            out,
            "Makespan {}{speedup} · tokens {} · cost {}",
            format_duration(std::time::Duration::from_millis(ms)),
            s.usage.total(),
            s.cost
        );
    }
    let _ = writeln!(
        out,
        "\n  {:<24} {:<18} {:>8} {:>9} {:>9}  {:<20} {:>8} {:>12}",
        "task", "status", "attempts", "start", "end", "model", "tokens", "cost"
    );
    for r in task_rows(d) {
        let _ = writeln!(
            out,
            "  {:<24} {:<18} {:>8} {:>9} {:>9}  {:<20} {:>8} {:>12}",
            dagent_core::display::shorten(&r.id, 24),
            r.status,
            r.attempts,
            ms(r.start_ms),
            ms(r.end_ms),
            r.model.as_deref().unwrap_or("-"),
            r.tokens,
            r.cost.to_string()
        );
    }
    out
}

fn compare(a: &RunDetail, b: &RunDetail) -> String {
    let mut out = String::new();
    let (sa, sb) = (&a.summary, &b.summary);
    let _ = writeln!(out, "{:<14} {:<24} {:<24}", "", sa.id, sb.id);
    let _ = writeln!(
        out,
        "{:<14} {:<24} {:<24}",
        "plan", sa.plan_title, sb.plan_title
    );
    let _ = writeln!(out, "{:<14} {:<24} {:<24}", "status", sa.status, sb.status);
    let _ = writeln!(
        out,
        "{:<14} {:<24} {:<24}",
        "makespan",
        ms(sa.makespan_ms),
        ms(sb.makespan_ms)
    );
    let _ = writeln!(
        out,
        "{:<14} {:<24} {:<24}",
        "cost",
        sa.cost.to_string(),
        sb.cost.to_string()
    );
    let _ = writeln!(
        out,
        "{:<14} {:<24} {:<24}",
        "tokens",
        sa.usage.total(),
        sb.usage.total()
    );
    if a.summary.plan_origin != b.summary.plan_origin || a.plan_hash != b.plan_hash {
        out.push_str("(the two runs ran different plans; tasks are matched by id)\n");
    }
    let rows_b: BTreeMap<String, TaskRow> = task_rows(b)
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let _ = writeln!(
        out,
        "\n  {:<24} {:<20} {:<20} {:>10} {:>10}",
        "task", "status", "", "time", ""
    );
    let dur = |r: &TaskRow| match (r.start_ms, r.end_ms) {
        (Some(s), Some(e)) => Some(e.saturating_sub(s)),
        _ => None,
    };
    for ra in task_rows(a) {
        let rb = rows_b.get(&ra.id);
        let sb_status = rb.map_or("(absent)", |r| r.status.as_str());
        let mark = if sb_status == ra.status { " " } else { "*" };
        let _ = writeln!(
            out,
            "{mark} {:<24} {:<20} {:<20} {:>10} {:>10}",
            dagent_core::display::shorten(&ra.id, 24),
            ra.status,
            sb_status,
            ms(dur(&ra)),
            ms(rb.and_then(dur))
        );
    }
    out.push_str("\n* status changed\n");
    out
}

/// A duration in milliseconds for people, or "-".
fn ms(x: Option<u64>) -> String {
    x.map_or_else(
        || "-".to_owned(),
        |v| format_duration(std::time::Duration::from_millis(v)),
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub(crate) fn run(args: &RunsArgs) -> Result<ExitCode, Failure> {
    let store = open(args)?;
    let resolve =
        |s: &str| -> Result<RunId, Failure> { store.resolve(s).map_err(|e| store_error(&e)) };
    let detail = |id: &RunId| store.detail(id).map_err(|e| store_error(&e));
    let text = match &args.command {
        RunsCommand::List { format } => {
            let runs = store.list().map_err(|e| store_error(&e))?;
            if *format == TableFormat::Json {
                serde_json::to_string_pretty(&runs.iter().map(summary_json).collect::<Vec<_>>())
                    .unwrap_or_default()
                    + "\n"
            } else if runs.is_empty() {
                format!("No runs in {} yet.\n", store.path().display())
            } else {
                let mut out = format!(
                    "{:<15} {:<10} {:<28} {:<20} {:>9} {:>8} {:>9} {:>12}\n",
                    "run",
                    "status",
                    "plan",
                    "started (UTC)",
                    "makespan",
                    "speed-up",
                    "tokens",
                    "cost"
                );
                for r in &runs {
                    let d = store.detail(&r.id).ok();
                    let speedup =
                        report_field(d.as_ref().and_then(|d| d.report_json.as_deref()), "speedup")
                            .and_then(|v| v.as_f64())
                            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"));
                    let _ = writeln!(
                        out,
                        "{:<15} {:<10} {:<28} {:<20} {:>9} {:>8} {:>9} {:>12}",
                        r.id,
                        r.status,
                        dagent_core::display::shorten(&r.plan_title, 28),
                        utc(r.started_at_ms),
                        ms(r.makespan_ms),
                        speedup,
                        r.usage.total(),
                        r.cost.to_string()
                    );
                }
                out
            }
        }
        RunsCommand::Show {
            run,
            format,
            timeline,
        } => {
            let d = detail(&resolve(run)?)?;
            if let Some(path) = timeline {
                write_output(path, &timeline_of(&d)?)?;
            }
            if *format == TableFormat::Json {
                let mut doc = summary_json(&d.summary);
                doc["strategy"] = json!(d.strategy);
                doc["report"] = d
                    .report_json
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .unwrap_or(serde_json::Value::Null);
                doc["attempts"] = json!(d.attempts.iter().map(attempt_json).collect::<Vec<_>>());
                serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
            } else {
                show(&d)
            }
        }
        RunsCommand::Compare { a, b } => {
            let (a, b) = (detail(&resolve(a)?)?, detail(&resolve(b)?)?);
            compare(&a, &b)
        }
        RunsCommand::Export { json: true, .. } => {
            let runs = store.list().map_err(|e| store_error(&e))?;
            let mut all = Vec::new();
            for r in &runs {
                let d = detail(&r.id)?;
                let mut doc = summary_json(r);
                doc["attempts"] = json!(d.attempts.iter().map(attempt_json).collect::<Vec<_>>());
                all.push(doc);
            }
            serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
        }
        RunsCommand::Export { .. } => {
            let runs = store.list().map_err(|e| store_error(&e))?;
            let mut out = String::from(
                "id,status,plan,plan_origin,started_at_utc,makespan_ms,sessions,tasks,succeeded,tokens_in,tokens_out,cost_usd\n",
            );
            for r in &runs {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(r.id.as_str()),
                    csv_field(&r.status),
                    csv_field(&r.plan_title),
                    csv_field(&r.plan_origin),
                    utc(r.started_at_ms),
                    r.makespan_ms.map_or_else(String::new, |m| m.to_string()),
                    r.sessions,
                    r.tasks,
                    r.succeeded,
                    r.usage.prompt_tokens,
                    r.usage.completion_tokens,
                    r.cost.to_string().trim_start_matches('$')
                );
            }
            out
        }
        RunsCommand::Gc { older_than } => {
            let age = dagent_core::parse_duration(older_than).map_err(|_| {
                Failure::bad_input(format!(
                    "error: --older-than {older_than}: expected an age such as 30d, 12h or 90m"
                ))
            })?;
            let now = u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
            )
            .unwrap_or(u64::MAX);
            let cutoff = now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            let n = store.gc(cutoff).map_err(|e| store_error(&e))?;
            format!(
                "Deleted {n} run{} that started before {} UTC.\n",
                if n == 1 { "" } else { "s" },
                utc(cutoff)
            )
        }
        RunsCommand::WriteBack { run, out } => {
            let d = detail(&resolve(run)?)?;
            let format: dagent_adapters::PlanFormat =
                d.plan_format.parse().map_err(|e: String| {
                    Failure::bad_input(format!("error: run {}: {e}", d.summary.id))
                })?;
            let loaded =
                dagent_adapters::parse_plan(d.plan_text.clone(), format, &d.summary.plan_origin)?;
            let deps = dagent_core::DependencyMap::from_lists(
                d.tasks.iter().map(|t| t.deps.clone()).collect(),
            );
            let mut results: Vec<Option<String>> = d
                .successes()
                .iter()
                .map(|a| a.and_then(|a| a.record.output.clone()))
                .collect();
            last_iterations(&loaded.plan, &d, &mut results);
            let text = dagent_adapters::write_back(&loaded, &deps, &results)?;
            write_output(out, &text)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The timeline of a stored run's latest session.
fn timeline_of(d: &RunDetail) -> Result<String, Failure> {
    let format: dagent_adapters::PlanFormat = d
        .plan_format
        .parse()
        .map_err(|e: String| Failure::bad_input(format!("error: run {}: {e}", d.summary.id)))?;
    let loaded = dagent_adapters::parse_plan(d.plan_text.clone(), format, &d.summary.plan_origin)?;
    let deps: Vec<Vec<usize>> = d.tasks.iter().map(|t| t.deps.clone()).collect();
    let session = d.attempts.iter().map(|a| a.session).max().unwrap_or(1);
    let attempts: Vec<dagent_core::AttemptRecord> = d
        .attempts
        .iter()
        .filter(|a| a.session == session)
        .map(|a| a.record.clone())
        .collect();
    let settings: serde_json::Value = serde_json::from_str(&d.settings_json).unwrap_or_default();
    let k = settings["max_concurrent"]
        .as_u64()
        .and_then(|k| usize::try_from(k).ok())
        .unwrap_or(10);
    let scale = settings["time_scale"].as_f64().unwrap_or(1.0);
    let title = format!("{} — run {}", d.summary.plan_title, d.summary.id);
    Ok(crate::timeline::svg(&crate::timeline::TimelineInput {
        title: &title,
        plan: &loaded.plan,
        deps: &deps,
        attempts: &attempts,
        max_concurrent: k,
        scale,
    }))
}

fn attempt_json(a: &dagent_store::StoredAttempt) -> serde_json::Value {
    let r = &a.record;
    json!({
        "session": a.session,
        "task": r.task_id.as_str(),
        "attempt": r.attempt,
        "start_ms": r.start_ms,
        "end_ms": r.end_ms,
        "status": r.status.as_str(),
        "terminal": r.terminal,
        "error_kind": r.error_kind,
        "message": r.message,
        "model": r.model,
        "endpoint": r.endpoint,
        "tokens_in": r.usage.map(|u| u.prompt_tokens),
        "tokens_out": r.usage.map(|u| u.completion_tokens),
        "cost_nanos": r.cost.map(Money::nanos),
        "output": r.output,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_763_723_003_000), "2025-11-21 11:03:23");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}

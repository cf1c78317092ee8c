//! `dagent run`: resolve the plan, run it, report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{Money, RunEnd, RunStart, RunStore, TaskRunner};
use dagent_executor::{Executor, ExecutorConfig, RetryPolicy, SimulatedRunner};
use dagent_providers::CostLedger;
use dagent_store::SqliteStore;

use crate::args::RunArgs;
use crate::diag::{Failure, write_output};
use crate::progress::Progress;
use crate::record::Recorder;
use crate::render;
use crate::settings::value::{Raw, Rule, Value};
use crate::settings::{Parallelization, Settings};

/// The executor's settings for this run, from the merged settings.
pub(crate) fn executor_config(p: &Parallelization) -> ExecutorConfig {
    let k = if p.enabled { p.max_concurrent_tasks } else { 1 };
    let retries = if p.retry_on_failure { p.max_retries } else { 0 };
    ExecutorConfig {
        mode: p.mode,
        max_concurrent: k.max(1),
        max_tasks_per_second: p.max_tasks_per_second,
        key_limits: std::collections::HashMap::new(),
        task_timeout: p.task_timeout,
        batch_timeout: p.batch_timeout,
        // `retry_backoff_seconds` is the list of delays, its last value repeating.
        retry: RetryPolicy {
            max_delay: p.max_retry_delay,
            ..RetryPolicy::with_delays(retries, p.retry_backoff.clone())
        },
        failure_mode: p.failure_mode,
        breaker: p
            .failure_threshold
            .map(|threshold| dagent_executor::BreakerPolicy {
                threshold,
                min_finished: p.failure_threshold_min_tasks,
            }),
        deadline: p.run_timeout,
    }
}

/// Opens the configured run store (creating the default `.dagent/` directory).
fn open_store(settings: &Settings) -> Result<Option<Arc<SqliteStore>>, Failure> {
    let Some(path) = &settings.store.path else {
        return Ok(None);
    };
    SqliteStore::open(path, settings.store.is_default)
        .map(|s| Some(Arc::new(s)))
        .map_err(|e| {
            Failure::bad_input(format!(
                "error: {e} (checked before running, so nothing was spent; --no-store runs without it)"
            ))
        })
}

fn store_failure(e: dagent_core::StoreError) -> Failure {
    Failure::bad_input(format!("error: {e}"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The effective settings as stored with a run (no secrets: the settings hold none).
fn settings_json(settings: &Settings, exec: &ExecutorConfig, simulate: bool, scale: f64) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("max_concurrent".into(), exec.max_concurrent.into());
    doc.insert("simulate".into(), simulate.into());
    doc.insert("time_scale".into(), scale.into());
    for e in &settings.entries {
        doc.insert(
            format!("{}.{}", e.def.section, e.def.key),
            serde_json::Value::String(e.shown().to_string()),
        );
    }
    serde_json::Value::Object(doc).to_string()
}

/// A run-only flag validated by the settings layer's rules.
fn flag(flag: &str, text: &str, rule: Rule) -> Result<Value, Failure> {
    rule.parse(&Raw::Text(text))
        .map_err(|m| Failure::bad_input(format!("error: {flag} {text}: {m}")))
}

/// An output path that is not stdout.
fn file_path(p: Option<&PathBuf>) -> Option<&Path> {
    p.map(PathBuf::as_path).filter(|p| p.as_os_str() != "-")
}

/// Checks, before anything is paid for, that `path` can be written: its directory exists,
/// it is not a directory, and a file can be created there.
pub(crate) fn check_writable(path: &Path, what: &str) -> Result<(), Failure> {
    let bad = |why: String| {
        Failure::bad_input(format!(
            "error: {}: cannot write the {what} there: {why} (checked before running, so nothing was spent)",
            path.display()
        ))
    };
    if path.is_dir() {
        return Err(bad("it is a directory".into()));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| bad(e.to_string()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Writes an output the run paid for; when the path fails, saves it elsewhere and says where.
fn save(path: &Path, text: &str, what: &str, name: &str) -> Result<(), String> {
    match write_output(path, text) {
        Ok(()) => Ok(()),
        Err(first) => {
            let fallback = std::env::temp_dir().join(format!(
                "dagent-{name}-{}.{}",
                std::process::id(),
                path.extension().and_then(|e| e.to_str()).unwrap_or("txt")
            ));
            let first = first.message().to_owned();
            match std::fs::write(&fallback, text) {
                Ok(()) => Err(format!(
                    "{first}; the {what} was saved to {} instead",
                    fallback.display()
                )),
                Err(e) => Err(format!(
                    "{first}; saving the {what} to {} failed too: {e}",
                    fallback.display()
                )),
            }
        }
    }
}

/// Runs the plan; with `json_logs`, stderr carries only JSON log lines (no progress lines).
/// The plan as it ran: its own tasks, then those appended for loop iterations, with their
/// dependencies by position.
fn with_appended(
    plan: &dagent_core::Plan,
    deps: &[Vec<usize>],
    report: &dagent_executor::RunReport,
) -> (dagent_core::Plan, Vec<Vec<usize>>) {
    let mut plan = plan.clone();
    let mut deps = deps.to_vec();
    let mut index: std::collections::HashMap<dagent_core::TaskId, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    for task in &report.appended {
        let ds = task
            .depends_on
            .iter()
            .flatten()
            .filter_map(|d| index.get(d).copied())
            .collect();
        index.insert(task.id.clone(), plan.tasks.len());
        plan.tasks.push(task.clone());
        deps.push(ds);
    }
    (plan, deps)
}

/// `--resume` and loops do not mix yet: a loop's later iterations are appended while it
/// runs, and a new session could not tell which stored iteration to continue from. Checked
/// before the stored run is claimed and before anything is paid for.
fn refuse_resuming_loops(args: &RunArgs, settings: &Settings) -> Result<(), Failure> {
    let loaded = match (&args.workflow, args.plan.plan.as_ref()) {
        // A workflow's plan is generated (no model call) to see its loops.
        (Some(w), _) => crate::workflow::run_plan(w, args, settings.max_input_bytes)?,
        (None, Some(path)) => match dagent_adapters::load_plan_with(
            path,
            dagent_adapters::LoadOptions::default()
                .format(args.plan.input_format)
                .max_bytes(settings.max_input_bytes),
        ) {
            Ok(loaded) => loaded,
            Err(_) => return Ok(()), // loading it again reports the error
        },
        (None, None) => return Ok(()),
    };
    match loaded.plan.loops.first() {
        None => Ok(()),
        Some(l) => Err(Failure::bad_input(format!(
            "error: --resume does not support plans with loops yet ({} has loop {}): its later iterations are appended while it runs, and a new session could not tell which stored iteration to continue from; run it again without --resume",
            loaded.origin,
            dagent_core::display::quote(&l.id)
        ))),
    }
}

/// `live` is the view `--metrics-addr` serves (its tracing layer is already installed).
pub(crate) fn run(
    args: &RunArgs,
    json_logs: bool,
    live: Option<Arc<crate::observe::Live>>,
) -> Result<ExitCode, Failure> {
    let mut flags = args.exec.values();
    flags.extend(args.plan.flag_values());
    let settings = Settings::load(
        args.plan.config.as_deref(),
        &|k| std::env::var(k).ok(),
        &flags,
    )?;
    let Value::Number(Some(time_scale)) = flag("--time-scale", &args.time_scale, Rule::Factor)?
    else {
        unreachable!("the factor rule yields a number")
    };
    let default_estimate = match flag(
        "--default-estimate",
        &args.default_estimate,
        Rule::Seconds {
            zero_disables: true,
        },
    )? {
        Value::Seconds(d) => d.unwrap_or(Duration::ZERO),
        _ => Duration::ZERO,
    };
    for (path, what) in [
        (file_path(args.report.as_ref()), "report"),
        (file_path(args.write_back.as_ref()), "written-back plan"),
        (file_path(args.timeline.as_ref()), "timeline"),
    ] {
        if let Some(path) = path {
            check_writable(path, what)?;
        }
    }
    // The metrics address is taken before anything is paid for: a port in use is bad input.
    let metrics_listener = match &args.metrics_addr {
        Some(addr) => Some(crate::observe::server::bind(addr).map_err(|e| {
            Failure::bad_input(format!(
                "error: --metrics-addr {addr}: {e} (checked before running, so nothing was spent)"
            ))
        })?),
        None => None,
    };
    // The run store is opened — and a store that cannot be used is reported — before
    // anything is paid for, dependency analysis by a model included.
    let store = open_store(&settings)?;
    let mut claimed = None;
    let stored = match &args.resume {
        Some(wanted) => {
            let store = store.as_ref().ok_or_else(|| {
                Failure::bad_input(
                    "error: --resume needs the run store (drop --no-store, or set [store] enabled = true)",
                )
            })?;
            refuse_resuming_loops(args, &settings)?;
            let id = store.resolve(wanted).map_err(store_failure)?;
            // What the run showed before, to give it back as it was when this command stops
            // before running anything (see below).
            let before = store.detail(&id).map_err(store_failure)?.summary;
            // Take the run before anything is paid for (a model may analyse the plan), and
            // read it only once it is ours: nothing else can change it now.
            let session = store.claim(&id).map_err(store_failure)?;
            claimed = Some((id.clone(), session, before.status, before.finished_at_ms));
            Some((session, store.detail(&id).map_err(store_failure)?))
        }
        None => None,
    };
    // Earlier sessions' spend counts against the budget: a resumed run cannot cross the
    // cap the first one had.
    let earlier_spend = stored.as_ref().map(|(_, d)| d.spent());
    let budget = settings
        .models
        .budget
        .map(|b| b.saturating_sub(earlier_spend.unwrap_or(Money::ZERO)));
    // One ledger for the whole run: dependency analysis by a model is paid like any call.
    let shared_ledger = Arc::new(CostLedger::new(budget, settings.models.warn_at));
    // The plan file or the workflow's plan; with --review, once a person accepted it.
    // Output files are checked before any task is paid for.
    let checked = crate::review::prepare_run(args, &settings, &shared_ledger).and_then(|p| {
        let files = crate::outputs::check(&p.loaded, args.out_dir.as_deref())?;
        Ok((p, files))
    });
    let (prepared, output_files) = match checked {
        Ok(v) => v,
        Err(e) => {
            // Stopped before running anything (review cancelled, a path refused): a resumed
            // run is given back as it was, not left looking interrupted.
            if let (Some(store), Some((id, session, status, finished))) = (&store, &claimed)
                && let Err(u) = store.unclaim(id, *session, status, *finished)
            {
                tracing::warn!(error = %u, "could not give the claimed run back");
            }
            return Err(e);
        }
    };
    let mut exec_config = executor_config(&settings.parallelization);
    let plan = Arc::new(prepared.loaded.plan.clone());
    let graph = &prepared.resolution.graph;
    let mut ledger = None;
    let mut step_down = None;
    let quiet = args.quiet || json_logs;
    // `[shared]`: limits and budget shared with other processes through Redis.
    let shared = crate::shared::Shared::from_settings(
        settings.shared.as_ref().filter(|_| !args.simulate),
        settings.models.budget,
        Arc::clone(&shared_ledger) as Arc<dyn dagent_core::CostTracker>,
        quiet,
    )?;
    let deps: Vec<Vec<usize>> = (0..plan.tasks.len())
        .map(|i| graph.deps_of(i).to_vec())
        .collect();
    let mut providers = None;
    let runner: Arc<dyn TaskRunner> = if args.simulate {
        Arc::new(
            SimulatedRunner::new(default_estimate)
                .with_time_scale(time_scale)
                .with_task_timeout(exec_config.task_timeout),
        )
    } else {
        let wired = crate::llm::wire(
            &settings.models,
            &plan,
            &prepared.loaded.origin,
            Arc::clone(&shared_ledger),
            shared.as_ref(),
            &deps,
        )?;
        step_down = wired.step_down;
        exec_config.key_limits = wired.key_limits;
        ledger = Some(wired.ledger);
        providers = Some(Arc::new(wired.providers));
        wired.runner
    };
    let scale = if args.simulate { time_scale } else { 1.0 };
    let predicted_makespan =
        crate::timeline::predicted(&plan, &deps, exec_config.max_concurrent, scale)
            .map(|p| Duration::from_millis(p.iter().map(|&(_, end)| end).max().unwrap_or(0)));
    let hashes = crate::record::task_hashes(
        &plan,
        &deps,
        (!args.simulate).then_some(&settings.models.router),
    );
    let recorder = Arc::new(Recorder::new(store.clone()));
    let start = RunStart {
        plan_title: plan.title.clone().unwrap_or_default(),
        plan_origin: prepared.loaded.origin.clone(),
        plan_text: prepared.loaded.source.clone(),
        plan_format: prepared.loaded.format.as_str().to_owned(),
        task_ids: plan.tasks.iter().map(|t| t.id.clone()).collect(),
        task_hashes: hashes.clone(),
        deps: deps.clone(),
        strategy: prepared.resolution.strategy.clone(),
        settings_json: settings_json(&settings, &exec_config, args.simulate, scale),
        resumed_from: None,
        started_at_ms: now_ms(),
    };
    let (run_id, reused) = match &stored {
        Some((session, detail)) => {
            let store = store
                .as_ref()
                .ok_or_else(|| Failure::bad_input("error: no run store"))?;
            let resume = crate::record::plan_resume(&plan, &deps, &hashes, detail);
            store
                .start_session(&detail.summary.id, *session, &start)
                .map_err(store_failure)?;
            if !(args.quiet || json_logs) {
                let n = resume.reused.iter().flatten().count();
                eprintln!(
                    "Resuming run {}: {n} task{} reused, {} to run",
                    detail.summary.id,
                    if n == 1 { "" } else { "s" },
                    plan.tasks.len() - n
                );
                for line in &resume.lines {
                    eprintln!("{}", dagent_core::display::escape(line));
                }
            }
            (detail.summary.id.clone(), resume.reused)
        }
        None => (recorder.begin(&start).map_err(store_failure)?, Vec::new()),
    };
    if let (Some(store), false) = (&store, args.quiet || json_logs) {
        eprintln!(
            "run {run_id} · recorded in {} (dagent runs show {run_id})",
            store.path().display()
        );
    }
    // Progress lines name each task's title and routed model; the ETA comes from the
    // estimates (observe::eta).
    let labels: Vec<crate::progress::TaskLabel> = plan
        .tasks
        .iter()
        .map(|t| crate::progress::TaskLabel {
            title: t.title.clone(),
            model: (!args.simulate)
                .then(|| settings.models.router.route(t).map(|r| r.model))
                .flatten(),
        })
        .collect();
    let eta = crate::observe::eta::EtaModel::of_plan(
        &plan,
        deps.clone(),
        graph.topological_order().to_vec(),
        exec_config.max_concurrent,
        scale,
    );
    let mut observers: Vec<Arc<dyn dagent_core::RunObserver>> = Vec::new();
    if let Some(live) = &live {
        live.begin(crate::observe::RunInfo {
            run_id: store.as_ref().map(|_| run_id.to_string()),
            tasks: plan
                .tasks
                .iter()
                .zip(&labels)
                .map(|(t, l)| (t.id.to_string(), t.title.clone(), l.model.clone()))
                .collect(),
            eta: eta.clone(),
            ledger: (!args.simulate).then(|| Arc::clone(&shared_ledger)),
        });
        if let Some(p) = &providers {
            // Per-endpoint series, read from the pools at each scrape.
            let p = Arc::clone(p);
            live.watch_endpoints(Arc::new(move || p.endpoint_stats()));
        }
        observers.push(Arc::clone(live) as Arc<dyn dagent_core::RunObserver>);
    }
    let progress = Arc::new(Progress::new(args.quiet || json_logs, labels, eta));
    observers.push(progress.clone());
    let executor = Executor::new(exec_config)
        .with_observer(Arc::new(crate::observe::Observers(observers)))
        .with_store(Arc::clone(&recorder) as Arc<dyn RunStore>, run_id.clone());
    let token = executor.cancellation_token();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("error: cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        // Register the signal handlers before the first task starts: Ctrl-C (SIGINT) and
        // SIGTERM both cancel the run cleanly, and it still reports.
        let signals = crate::signals::Signals::register()
            .map_err(|e| Failure::bad_input(format!("error: cannot listen for signals: {e}")))?;
        tokio::spawn(async move {
            signals.recv().await;
            token.cancel();
        });
        if progress.has_bars() {
            let bars = Arc::clone(&progress);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    bars.refresh();
                }
            });
        }
        if let (Some(listener), Some(live)) = (metrics_listener, &live) {
            if let Ok(addr) = listener.local_addr() {
                if args.quiet || json_logs {
                    tracing::info!(%addr, "serving /metrics, /health and /status");
                } else {
                    eprintln!("metrics: http://{addr}/metrics (and /status, /health)");
                }
            }
            tokio::spawn(crate::observe::server::serve(listener, Arc::clone(live)));
        }
        if let Some(p) = &providers {
            p.start_health_checks();
        }
        let report = executor
            .resume(Arc::clone(&plan), graph, runner, reused)
            .await;
        if let Some(shared) = &shared {
            for line in shared.finish(quiet).await {
                eprintln!("{}", dagent_core::display::escape(&line));
            }
        }
        Ok::<_, Failure>(report)
    })?;
    progress.finish();
    // Each task that succeeded writes its output file, before the report is made (it lists
    // them). A task in a loop writes its last iteration's answer (`code#3` for `code`).
    let files_written = output_files.as_ref().map(|files| {
        let outcomes = files.write((0..report.plan_len()).map(|i| {
            let last = &report.tasks[report.latest(i)];
            (
                &report.tasks[i].id,
                last.output
                    .as_deref()
                    .filter(|_| last.status == dagent_executor::TaskStatus::Succeeded),
            )
        }));
        (files, outcomes)
    });
    let files_section = files_written
        .as_ref()
        .map(|(files, outcomes)| files.render(outcomes));
    let costs = ledger.as_ref().map(|l| l.summary());
    if let Some(warning) = ledger.as_ref().and_then(|l| l.take_warning()) {
        eprintln!("warning: {warning}");
    }
    let projection = (!args.simulate).then(|| {
        dagent_providers::project(
            &plan,
            &deps,
            &settings.models.router,
            &settings.models.catalogue,
        )
    });
    let step_downs = step_down.as_ref().map(|s| s.events()).unwrap_or_default();
    let endpoints: Vec<dagent_providers::EndpointStats> = providers
        .as_ref()
        .map(|p| crate::llm::reported_endpoints(&settings.models, p))
        .unwrap_or_default();
    let view = render::RunView {
        loaded: &prepared.loaded,
        resolution: &prepared.resolution,
        report: &report,
        simulated: args.simulate,
        costs: costs.as_ref(),
        runs_per_day: args.runs_per_day,
        run_id: store.as_ref().map(|_| run_id.as_str()),
        earlier_spend,
        predicted_makespan,
        projection: projection.as_ref(),
        step_downs: &step_downs,
        endpoints: &endpoints,
    };
    let mut report_json = render::run_json(&view);
    if let Some((files, outcomes)) = &files_written {
        report_json = files.add_to_report(&report_json, outcomes);
    }
    let end = RunEnd {
        status: if report.all_succeeded() {
            "succeeded"
        } else if report.stopped == Some(dagent_executor::StopReason::Cancelled) {
            "cancelled"
        } else {
            "failed"
        }
        .to_owned(),
        makespan_ms: u64::try_from(report.makespan.as_millis()).unwrap_or(u64::MAX),
        report_json: report_json.clone(),
        analysis_cost: shared_ledger
            .summary()
            .by_task
            .get(dagent_analyzers::ANALYSIS_TASK)
            .map_or(Money::ZERO, |t| t.cost),
    };
    if let Err(e) = recorder.finish(&run_id, &end) {
        eprintln!("warning: {e}");
    }
    // Paid results are never thrown away: the report and the write-back are saved
    // independently, and a failing path saves elsewhere and says where.
    let mut output_errors = Vec::new();
    if let Some(path) = &args.report
        && let Err(e) = save(path, &report_json, "report", "report")
    {
        output_errors.push(e);
    }
    if let Some(path) = &args.write_back {
        // A task in a loop is written back with its last iteration's result.
        let results: Vec<Option<String>> = (0..report.plan_len())
            .map(|i| {
                report.tasks[report.latest(i)]
                    .output
                    .as_ref()
                    .map(|o| o.text.clone())
            })
            .collect();
        match dagent_adapters::write_back(
            &prepared.loaded,
            prepared.resolution.graph.deps(),
            &results,
        ) {
            Ok(text) => {
                if let Err(e) = save(path, &text, "written-back plan", "write-back") {
                    output_errors.push(e);
                }
            }
            Err(e) => output_errors.push(e.render()),
        }
    }
    if let Some(path) = &args.timeline {
        let title = plan
            .title
            .clone()
            .unwrap_or_else(|| prepared.loaded.origin.clone());
        // Loop iterations after the first are lanes too (their ghost bars predict them
        // from their estimates, like the first).
        let (tl_plan, tl_deps) = with_appended(&plan, &deps, &report);
        let svg = crate::timeline::svg(&crate::timeline::TimelineInput {
            title: &title,
            plan: &tl_plan,
            deps: &tl_deps,
            attempts: &recorder.records(),
            max_concurrent: report.max_concurrent,
            scale,
        });
        if let Err(e) = save(path, &svg, "timeline", "timeline") {
            output_errors.push(e);
        }
    }
    let to_stdout =
        |p: &Option<std::path::PathBuf>| p.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !to_stdout(&args.report) && !to_stdout(&args.write_back) {
        print!("{}", render::run_text(&view));
        if let Some((section, _)) = &files_section {
            print!("{section}");
        }
    }
    if let Some((_, true)) = &files_section {
        output_errors.push("error: some output files could not be written (see above)".to_owned());
    }
    for e in &output_errors {
        eprintln!("{e}");
    }
    Ok(if !output_errors.is_empty() {
        ExitCode::from(crate::diag::BAD_INPUT)
    } else if report.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_backoff_seconds_is_the_list_of_delays_not_a_growth_factor() {
        let env = |k: &str| {
            match k {
                "DAGENT_RETRY_BACKOFF_SECONDS" => Some("1,5,15"),
                "DAGENT_MAX_RETRY_DELAY_SECONDS" => Some("60"),
                "DAGENT_RUN_TIMEOUT_SECONDS" => Some("600"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let s = Settings::load(Some(std::path::Path::new("/dev/null")), &env, &[]);
        // /dev/null is not a regular file: the configuration is refused.
        assert!(s.is_err());
        let dir = std::env::temp_dir().join(format!("dagent-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cfg = dir.join("empty.toml");
        std::fs::write(&cfg, "").expect("write");
        let s = Settings::load(Some(&cfg), &env, &[]).expect("valid settings");
        let c = executor_config(&s.parallelization);
        assert_eq!(c.retry.delays, [1, 5, 15].map(Duration::from_secs));
        assert_eq!(c.retry.max_delay, Duration::from_secs(60));
        assert_eq!(c.deadline, Some(Duration::from_secs(600)));
    }
}

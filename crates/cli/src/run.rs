//! `dagent run`: resolve the plan, run it, report.

use std::process::ExitCode;
use std::sync::Arc;

use dagent_core::TaskRunner;
use dagent_executor::{Executor, ExecutorConfig, RetryPolicy, SimulatedRunner};
use dagent_providers::CostLedger;

use crate::analyze::prepare;
use crate::args::RunArgs;
use crate::config::Parallelization;
use crate::diag::{Failure, write_output};
use crate::progress::Progress;
use crate::render;

/// Flags over configuration: the executor's settings for this run.
pub(crate) fn settings(args: &RunArgs, p: &Parallelization) -> ExecutorConfig {
    let k = if p.enabled {
        args.max_concurrent
            .map_or(p.max_concurrent_tasks, |k| k as usize)
    } else {
        1
    };
    let retries = if args.no_retry || !p.retry_on_failure {
        0
    } else {
        args.max_retries.unwrap_or(p.max_retries)
    };
    ExecutorConfig {
        mode: args.mode.unwrap_or(p.mode),
        max_concurrent: k.max(1),
        max_tasks_per_second: args.rate.or(p.max_tasks_per_second),
        key_limits: std::collections::HashMap::new(),
        task_timeout: args
            .task_timeout
            .map_or(p.task_timeout, |d| (!d.is_zero()).then_some(d)),
        batch_timeout: args
            .batch_timeout
            .map_or(p.batch_timeout, |d| (!d.is_zero()).then_some(d)),
        // `retry_backoff_seconds` is the list of delays, its last value repeating.
        retry: RetryPolicy::with_delays(retries, p.retry_backoff.clone()),
        failure_mode: args.failure_mode.unwrap_or(p.failure_mode),
        breaker: args
            .failure_threshold
            .map(|threshold| dagent_executor::BreakerPolicy {
                threshold,
                min_finished: p.failure_threshold_min_tasks,
            })
            .or_else(|| p.breaker()),
        deadline: None,
    }
}

pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, Failure> {
    let config = crate::config::load(args.plan.config.as_deref())?;
    // One ledger for the whole run: dependency analysis by a model is paid like any call.
    let shared_ledger = Arc::new(CostLedger::new(config.models.budget, config.models.warn_at));
    let prepared = prepare(&args.plan, &config, &shared_ledger)?;
    let mut exec_config = settings(args, &config.parallelization);
    let plan = Arc::new(prepared.loaded.plan.clone());
    let graph = &prepared.resolution.graph;
    let mut ledger = None;
    let runner: Arc<dyn TaskRunner> = if args.simulate {
        Arc::new(
            SimulatedRunner::new(args.default_estimate)
                .with_time_scale(args.time_scale)
                .with_task_timeout(exec_config.task_timeout),
        )
    } else {
        let wired = crate::llm::wire(
            &config.models,
            &plan,
            &prepared.loaded.origin,
            Arc::clone(&shared_ledger),
        )?;
        exec_config.key_limits = wired.key_limits;
        ledger = Some(wired.ledger);
        wired.runner
    };
    let progress = Arc::new(Progress::new(args.quiet, plan.tasks.len()));
    let executor = Executor::new(exec_config).with_observer(progress.clone());
    let token = executor.cancellation_token();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("error: cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                token.cancel();
            }
        });
        executor.run(Arc::clone(&plan), graph, runner).await
    });
    progress.finish();
    let costs = ledger.as_ref().map(|l| l.summary());
    if let Some(warning) = ledger.as_ref().and_then(|l| l.take_warning()) {
        eprintln!("warning: {warning}");
    }
    let view = render::RunView {
        loaded: &prepared.loaded,
        resolution: &prepared.resolution,
        report: &report,
        simulated: args.simulate,
        costs: costs.as_ref(),
        runs_per_day: args.runs_per_day,
    };
    if let Some(path) = &args.write_back {
        let results: Vec<Option<String>> = report
            .tasks
            .iter()
            .map(|t| t.output.as_ref().map(|o| o.text.clone()))
            .collect();
        let text = dagent_adapters::write_back(
            &prepared.loaded,
            prepared.resolution.graph.deps(),
            &results,
        )?;
        write_output(path, &text)?;
    }
    if let Some(path) = &args.report {
        write_output(path, &render::run_json(&view))?;
    }
    let to_stdout =
        |p: &Option<std::path::PathBuf>| p.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !to_stdout(&args.report) && !to_stdout(&args.write_back) {
        print!("{}", render::run_text(&view));
    }
    Ok(if report.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    #[test]
    fn retry_backoff_seconds_is_the_list_of_delays_not_a_growth_factor() {
        let cli = Cli::try_parse_from(["dagent", "run", "plan.toml"]).expect("parses");
        let Command::Run(args) = cli.command else {
            panic!("run command expected")
        };
        let p = Parallelization {
            retry_backoff: [1, 5, 15].map(Duration::from_secs).to_vec(),
            ..Parallelization::default()
        };
        let retry = settings(&args, &p).retry;
        assert_eq!(retry.delays, [1, 5, 15].map(Duration::from_secs));
    }
}

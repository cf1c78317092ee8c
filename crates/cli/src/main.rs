//! # dagent — the command line
//!
//! Thin by design: parse flags ([`args`]), merge them into validated settings, call the
//! library crates, render. Exit status: 0 success, 1 a run had failures, 2 bad input
//! (unreadable or invalid plan or configuration, bad flags).

mod analyze;
mod args;
mod config_cmd;
mod cost;
mod diag;
mod llm;
mod models;
mod models_config;
mod observe;
mod outputs;
mod plan_cmd;
mod progress;
mod record;
mod render;
mod review;
mod roles_cmd;
mod run;
mod runs;
mod select;
mod settings;
mod shared;
mod signals;
mod timeline;
mod workflow;

use std::process::ExitCode;

use clap::Parser;

/// Analysis makes and drops many small strings per step; mimalloc does that in about
/// half the time glibc's malloc takes (`cargo xtask bench`, inference rows).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // The live view exists only when a run serves metrics; its layer reads the run's spans.
    let live = matches!(&cli.command, args::Command::Run(r) if r.metrics_addr.is_some())
        .then(|| std::sync::Arc::new(observe::Live::new()));
    let telemetry = match observe::telemetry::init(&cli, live.as_ref()) {
        Ok(t) => t,
        Err(failure) => return failure.report(),
    };
    let result = match cli.command {
        args::Command::Analyze(a) => analyze::run(&a),
        args::Command::Run(a) => run::run(&a, cli.log_format == args::LogFormat::Json, live),
        args::Command::Models(a) => models::run(&a),
        args::Command::Cost(a) => cost::run(&a),
        args::Command::Config(a) => config_cmd::run(&a),
        args::Command::Runs(a) => runs::run(&a),
        args::Command::Compare(a) => select::compare(&a),
        args::Command::BenchModels(a) => select::bench(&a),
        args::Command::Plan(a) => plan_cmd::run(&a),
        args::Command::Roles(a) => roles_cmd::run(&a),
    };
    // Spans still buffered are exported before the process exits, on every path (a
    // failure, a cancelled run) that returns here.
    let code = match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    };
    telemetry.shutdown();
    code
}

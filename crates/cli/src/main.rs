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
mod outputs;
mod plan_cmd;
mod progress;
mod record;
mod render;
mod review;
mod roles_cmd;
mod run;
mod runs;
mod settings;
mod signals;
mod timeline;
mod workflow;

use std::process::ExitCode;

use clap::Parser;

/// Installs the log subscriber: stderr only, level from RUST_LOG, else from -v / -q
/// (default: warnings), text or JSON lines.
fn init_logs(cli: &args::Cli) {
    use tracing_subscriber::EnvFilter;
    let quiet = matches!(&cli.command, args::Command::Run(r) if r.quiet);
    let level = match (quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    let ansi = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(true);
    let _ = match cli.log_format {
        args::LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        args::LogFormat::Text => builder.try_init(),
    };
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logs(&cli);
    let result = match cli.command {
        args::Command::Analyze(a) => analyze::run(&a),
        args::Command::Run(a) => run::run(&a, cli.log_format == args::LogFormat::Json),
        args::Command::Models(a) => models::run(&a),
        args::Command::Cost(a) => cost::run(&a),
        args::Command::Config(a) => config_cmd::run(&a),
        args::Command::Runs(a) => runs::run(&a),
        args::Command::Plan(a) => plan_cmd::run(&a),
        args::Command::Roles(a) => roles_cmd::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

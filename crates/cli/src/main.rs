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
mod progress;
mod record;
mod render;
mod run;
mod runs;
mod settings;
mod signals;
mod timeline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Analyze(a) => analyze::run(&a),
        args::Command::Run(a) => run::run(&a),
        args::Command::Models(a) => models::run(&a),
        args::Command::Cost(a) => cost::run(&a),
        args::Command::Config(a) => config_cmd::run(&a),
        args::Command::Runs(a) => runs::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

//! Development tasks for dagent: `cargo xtask <task>`.
//!
//! * `bench` — the benchmark suite of the design brief's bars; prints a table and writes
//!   `target/bench/report.json` and `target/bench/report.md`.
//! * `eval` — dependency-inference quality on `corpus/plans/` against two baselines.
//! * `gen-plan` — writes a large random plan with explicit dependencies (for timing
//!   `dagent analyze` by hand).

mod bench;
mod client_bench;
mod eval;
mod gen_plan;
mod rng;
mod sched_bench;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("gen-plan") => gen_plan::run(&args[1..]),
        Some("eval") => eval::run(&args[1..]),
        Some("analysis-child") => bench::analysis_child(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 bench [--quick] [--only inference|overhead]    run the benchmark suite (target/bench/report.{{json,md}})\n  \
                 eval [--verbose]                 score dependency inference on corpus/plans (target/bench/eval.{{json,md}})\n  \
                 gen-plan --tasks N --out FILE    write a random N-task plan with explicit dependencies (.json or .toml;\n                                   --no-deps: without depends_on, JSON)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Development tasks for dagent: `cargo xtask <task>`.
//!
//! * `bench` — the benchmark suite of the design brief's bars; prints a table and writes
//!   `target/bench/report.json` and `target/bench/report.md`.
//! * `eval` — dependency-inference quality on `corpus/plans/` (or `--plans DIR`) against two
//!   baselines.
//! * `fuzz` — hostile plans and configurations against the release binary: counts of
//!   panics, hangs, unexpected exit statuses and control-character leaks (all must be 0).
//! * `gen-plan` — writes a large random plan with explicit dependencies (for timing
//!   `dagent analyze` by hand).

mod adaptive_bench;
mod bench;
mod client_bench;
mod eval;
mod fuzz;
mod gen_plan;
mod hostile;
mod rng;
mod sched_bench;

use std::process::ExitCode;

/// The allocator of the `dagent` binary, so that timings here are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("gen-plan") => gen_plan::run(&args[1..]),
        Some("eval") => eval::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("analysis-child") => bench::analysis_child(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 bench [--quick] [--only GROUP]   run the benchmark suite (GROUP: schedule|overhead|analysis|inference|heuristic|client|adaptive) (target/bench/report.{{json,md}})\n  \
                 eval [--verbose [--part check]] score dependency inference on corpus/plans (target/bench/eval.{{json,md}})\n  \
                 eval --plans DIR [--verbose]     score another directory of annotated plans (target/bench/eval-plans.{{json,md}})\n  \
                 gen-plan --tasks N --out FILE    write a random N-task plan with explicit dependencies (.json or .toml);\n  \
                 \x20        [--no-deps]                    without depends_on; [--corpus-text] corpus wording, no depends_on (.json)\n  \
                 fuzz [--cases N] [--seed S]      hostile plans and configs against the release binary"
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

//! `cargo xtask fuzz [--cases N] [--seed S] [--timeout SECS] [--verbose]`: hostile plans and configurations
//! against the release `dagent` binary.
//!
//! The inputs and the checks are those of `hostile.rs`, which the bounded proptest suite in
//! `tests/hostile.rs` shares. Each case is written to a scratch directory under
//! `target/fuzz/`, run with a time limit in a clean environment (no `DAGENT_*` or provider
//! keys), and judged. Counts are printed at the end; inputs that showed a problem are kept in
//! `target/fuzz/failures/` with the command that ran them. Exits non-zero if any count of
//! problems is non-zero.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::hostile::{self, Kind, Problem};
use crate::rng::Rng;

#[derive(Default)]
struct Counts {
    tried: u64,
    plans: u64,
    configs: u64,
    exits: [u64; 3],
    panics: u64,
    hangs: u64,
    bad_exits: u64,
    unnamed: u64,
    leaks: u64,
    /// Cases with any problem, by kind of input: plans, configurations.
    failing: [u64; 2],
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn build_release() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "dagent-cli",
            "--bin",
            "dagent",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the release binary failed".to_owned());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target
        .join("release")
        .join(format!("dagent{}", std::env::consts::EXE_SUFFIX)))
}

fn value<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let cases: u64 = value(args, "--cases", 2_000)?;
    let seed: u64 = value(args, "--seed", 0x00da_6e47)?;
    let limit = Duration::from_secs(value(args, "--timeout", 20)?);
    let verbose = args.iter().any(|a| a == "--verbose");
    let bin = build_release()?;
    let work = root().join("target").join("fuzz");
    let scratch = work.join("scratch");
    let failures = work.join("failures");
    let _ = std::fs::remove_dir_all(&failures);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&failures).map_err(|e| e.to_string())?;

    let mut rng = Rng::new(seed);
    let mut counts = Counts::default();
    let started = Instant::now();
    println!(
        "fuzz: {cases} cases, seed {seed}, {}s limit each, binary {}",
        limit.as_secs(),
        bin.display()
    );
    for n in 0..cases {
        let case = if rng.below(4) == 0 {
            hostile::config_case(&mut rng)
        } else {
            hostile::plan_case(&mut rng)
        };
        let mut command = Command::new(&bin);
        // Runs are recorded in a store of the fuzzer's own, not in the checkout.
        command
            .current_dir(root())
            .env_clear()
            .env("NO_COLOR", "1")
            .env("DAGENT_STORE", root().join("target/fuzz/runs.db"));
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let (path, outcome) =
            hostile::run(&case, &scratch, command, limit).map_err(|e| format!("case {n}: {e}"))?;
        counts.tried += 1;
        match case.kind {
            Kind::Plan => counts.plans += 1,
            Kind::Config => counts.configs += 1,
        }
        if let Some(code @ 0..=2) = outcome.code {
            counts.exits[code as usize] += 1;
        }
        let found = hostile::problems(&path, &outcome);
        if verbose {
            let stderr = String::from_utf8_lossy(&outcome.stderr);
            let line: String = stderr
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect();
            println!(
                "{n:5} {:?} {:<20} {:?} {line}",
                case.kind, case.label, outcome.code
            );
        }
        for p in &found {
            match p {
                Problem::Panic => counts.panics += 1,
                Problem::Hang => counts.hangs += 1,
                Problem::BadExit(_) => counts.bad_exits += 1,
                Problem::Unnamed => counts.unnamed += 1,
                Problem::Leak(_) => counts.leaks += 1,
            }
        }
        if !found.is_empty() {
            counts.failing[usize::from(case.kind == Kind::Config)] += 1;
            let keep = failures.join(format!("{n:05}-{}", case.file_name));
            let _ = std::fs::write(&keep, &case.bytes);
            let stderr = String::from_utf8_lossy(&outcome.stderr);
            let first: String = stderr.chars().take(300).collect();
            println!(
                "case {n} ({:?}, {}): {found:?}\n  kept as {}\n  args {:?}\n  stderr {first:?}",
                case.kind,
                case.label,
                keep.display(),
                case.args
            );
        }
        if (n + 1) % 500 == 0 {
            println!("  … {} cases in {:.0?}", n + 1, started.elapsed());
        }
    }
    println!(
        "\ninputs tried      {} ({} plans, {} configurations) in {:.1?}",
        counts.tried,
        counts.plans,
        counts.configs,
        started.elapsed()
    );
    println!(
        "exit statuses     0: {} · 1: {} · 2: {}",
        counts.exits[0], counts.exits[1], counts.exits[2]
    );
    println!("panics            {}", counts.panics);
    println!("hangs (timeouts)  {}", counts.hangs);
    println!("other exits       {}", counts.bad_exits);
    println!("file not named    {}", counts.unnamed);
    println!("control leaks     {}", counts.leaks);
    println!(
        "failing inputs    {} plans · {} configurations",
        counts.failing[0], counts.failing[1]
    );
    let bad = counts.panics + counts.hangs + counts.bad_exits + counts.unnamed + counts.leaks;
    if bad > 0 {
        return Err(format!(
            "{bad} problem(s); inputs kept in {}",
            failures.display()
        ));
    }
    Ok(())
}

//! `cargo xtask bench`: measures the brief's bars and writes a report.
//!
//! Inputs are fixed by seeds; each measurement is repeated and the median reported.
//! Benchmarks print figures; they never fail on a slow machine.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use dagent_analyzers::{Analysis, TaskGraph, validate_plan};

use crate::gen_plan::{plan_json, plan_json_opt, plan_toml, random_deps};
use crate::sched_bench as sched;

struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    bar: &'static str,
    note: String,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn analysis_rows(reps: usize) -> Result<Vec<Row>, String> {
    let n = 100_000;
    let deps = random_deps(n, 2, 42);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (label, text, ext) in [
        ("JSON", plan_json(&deps, 42), "json"),
        ("TOML", plan_toml(&deps, 42), "toml"),
    ] {
        let path = dir.join(format!("plan-100k.{ext}"));
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        // Each measurement in a fresh process, so peak memory is the analysis's own.
        let mut times = Vec::new();
        let mut peaks = Vec::new();
        let mut levels = String::new();
        for _ in 0..reps {
            let (ms, peak, l) = analysis_in_child(&path, &[])?;
            times.push(ms);
            peaks.push(peak);
            levels = l;
        }
        rows.push(Row {
            name: format!("analysis: 100k-task plan, {label}"),
            value: median(times),
            unit: "ms",
            bar: "< 1000 ms",
            note: format!(
                "read + parse + validate + levels + critical path; {levels} levels; {} KiB input",
                text.len() / 1024
            ),
        });
        rows.push(Row {
            name: format!("analysis: 100k-task plan, {label}, peak memory"),
            value: median(peaks),
            unit: "MiB",
            bar: "< 300 MiB",
            note: "peak resident set (VmHWM) of a process doing only that".into(),
        });
    }
    Ok(rows)
}

/// One analysis of `path` in a fresh process (`xtask analysis-child`): milliseconds, peak
/// memory in MiB, and the number of levels.
fn analysis_in_child(path: &Path, extra: &[&str]) -> Result<(f64, f64, String), String> {
    let out = std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("analysis-child")
        .arg(path)
        .args(extra)
        .output()
        .map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let parts: Vec<&str> = line.split_whitespace().collect();
    if !out.status.success() || parts.len() != 3 {
        return Err(format!(
            "analysis child failed: {line} {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((
        parts[0].parse::<f64>().unwrap_or(f64::NAN),
        parts[1].parse::<f64>().unwrap_or(f64::NAN),
        parts[2].to_owned(),
    ))
}

/// The 100,000-step plan without any `depends_on`, analysed with an inference strategy
/// (what `dagent analyze --strategy sequential|heuristic` does: infer, validate, reduce,
/// levels, critical path), each measurement in a fresh process.
fn inference_rows(reps: usize) -> Result<Vec<Row>, String> {
    let n = 100_000;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("plan-100k-no-deps.json");
    std::fs::write(&path, plan_json_opt(None, n, 42)).map_err(|e| e.to_string())?;
    // Corpus wording makes the heuristic find references, joins and siblings, so the
    // inferred graph has fan-ins to reduce (generic titles give it nothing to find).
    let corpus_path = dir.join("plan-100k-corpus-wording.json");
    std::fs::write(&corpus_path, crate::gen_plan::corpus_plan_json(n)?)
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (strategy, path, what) in [
        ("sequential", &path, "no depends_on"),
        ("heuristic", &path, "no depends_on"),
        ("heuristic", &corpus_path, "corpus wording, no depends_on"),
    ] {
        let mut times = Vec::new();
        let mut levels = String::new();
        for _ in 0..reps {
            let (ms, _, l) = analysis_in_child(path, &["--strategy", strategy])?;
            times.push(ms);
            levels = l;
        }
        rows.push(Row {
            name: format!("analysis: 100k steps, {what}, --strategy {strategy}"),
            value: median(times),
            unit: "ms",
            bar: "< 1000 ms",
            note: format!(
                "read + infer + validate + transitive reduction + levels + critical path; {levels} levels; fresh process"
            ),
        });
    }
    Ok(rows)
}

/// `xtask analysis-child FILE [--strategy NAME]`: analyse one plan file (its `depends_on`,
/// or through the strategy's fallback chain), print "ms peak_mib levels".
pub(crate) fn analysis_child(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or("analysis-child needs a file")?;
    let strategy = match args.get(1..) {
        Some([flag, name]) if flag == "--strategy" => Some(
            name.parse::<dagent_analyzers::Strategy>()
                .map_err(|e| e.to_string())?,
        ),
        Some([]) | None => None,
        Some(other) => return Err(format!("unexpected arguments {other:?}")),
    };
    let start = Instant::now();
    let loaded = dagent_adapters::load_plan(Path::new(path), None).map_err(|e| e.to_string())?;
    let index = validate_plan(&loaded.plan).map_err(|e| e.to_string())?;
    let graph = match strategy {
        None => {
            let map = index
                .explicit_map(&loaded.plan)
                .map_err(|e| e.to_string())?;
            TaskGraph::new(&loaded.plan, map).map_err(|e| e.to_string())?
        }
        Some(strategy) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| e.to_string())?;
            let chain = dagent_analyzers::FallbackChain::for_strategy(strategy);
            rt.block_on(chain.resolve(&loaded.plan))
                .map_err(|e| e.to_string())?
                .graph
        }
    };
    let analysis = Analysis::new(&loaded.plan, &graph);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!("{ms:.3} {:.1} {}", peak_rss_mib(), analysis.levels.len());
    Ok(())
}

fn schedule_rows(quick: bool) -> Vec<Row> {
    use dagent_executor::Mode;
    let k = 10;
    let suite = sched::suite(2024, 25);
    let mut rows = Vec::new();
    let ratios =
        |mode: Mode, k_used: usize, paused: bool, shapes: &[sched::Shape]| -> (f64, String) {
            let rs: Vec<f64> = shapes
                .iter()
                .map(|s| {
                    sched::makespan(s, mode, k_used, paused).as_secs_f64()
                        / sched::lower_bound(s, k).as_secs_f64()
                })
                .collect();
            let worst = rs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            (
                sched::geomean(&rs),
                format!("worst {} at {:.3}", shapes[worst].name, rs[worst]),
            )
        };
    let n = suite.len();
    for (label, mode, k_used) in [
        ("eager", Mode::Eager, k),
        ("batched", Mode::Batched, k),
        ("sequential (k = 1)", Mode::Eager, 1),
    ] {
        let bar = if mode == Mode::Eager && k_used == k {
            "<= 1.03"
        } else {
            "(brief: batched ~1.31, sequential ~3.96)"
        };
        let (value, worst) = ratios(mode, k_used, true, &suite);
        rows.push(Row {
            name: format!("schedule quality, {label}, paused clock"),
            value,
            unit: "x LB",
            bar,
            note: format!(
                "geometric mean of makespan / max(critical path, work / 10) over {n} plans; {worst}"
            ),
        });
    }
    // Real time: the same schedules with real sleeps (~100 ms tasks), timer and runtime
    // overhead included. A subset keeps the suite short.
    let subset: Vec<sched::Shape> = suite.into_iter().take(if quick { 8 } else { 16 }).collect();
    let reps = if quick { 1 } else { 3 };
    for (label, mode) in [("eager", Mode::Eager), ("batched", Mode::Batched)] {
        let values: Vec<f64> = (0..reps)
            .map(|_| ratios(mode, k, false, &subset).0)
            .collect();
        rows.push(Row {
            name: format!("schedule quality, {label}, real time"),
            value: median(values),
            unit: "x LB",
            bar: if mode == Mode::Eager { "<= 1.03" } else { "" },
            note: format!(
                "{} plans with real ~100 ms sleeps; median of {reps}",
                subset.len()
            ),
        });
    }
    rows
}

fn overhead_rows(quick: bool) -> Vec<Row> {
    let n = 100_000;
    let reps = if quick { 3 } else { 7 };
    let mut e2e = Vec::new();
    let mut run_only = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..reps {
        let (total, run) = sched::overhead(n, 64);
        e2e.push(total.as_secs_f64() * 1e6 / n as f64);
        run_only.push(run.as_secs_f64() * 1e6 / n as f64);
        bare.push(sched::bare_tokio(n).as_secs_f64() * 1e6 / n as f64);
    }
    let (e2e, run_only, bare) = (median(e2e), median(run_only), median(bare));
    let store_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/overhead-store.db");
    let mut with_store = Vec::new();
    let mut stored = 0;
    for _ in 0..reps.min(3) {
        let (t, s) = sched::overhead_with_store(n, 64, &store_path);
        with_store.push(t.as_secs_f64() * 1e6 / n as f64);
        stored = s;
    }
    let with_store = median(with_store);
    vec![
        Row {
            name: "overhead: 100k no-op tasks, ~2 deps, k = 64, end to end".into(),
            value: e2e,
            unit: "us/task",
            bar: "<= 2 us",
            note: format!(
                "graph build + scheduling + spawn/join; {:.2}x bare tokio; median of {reps}",
                e2e / bare
            ),
        },
        Row {
            name: "overhead: same, scheduler run only".into(),
            value: run_only,
            unit: "us/task",
            bar: "",
            note: format!("{:.2}x bare tokio", run_only / bare),
        },
        Row {
            name: "overhead: same, every attempt recorded in the SQLite run store".into(),
            value: with_store,
            unit: "us/task",
            bar: "small",
            note: format!(
                "store cost {:.2} us/task ({stored} rows; batched, durable before reported)",
                with_store - run_only
            ),
        },
        Row {
            name: "overhead: bare tokio spawn-and-join of 100k tasks".into(),
            value: bare,
            unit: "us/task",
            bar: "reference",
            note: "multi-thread runtime, 2 workers".into(),
        },
    ]
}

/// The heuristic on a 100,000-step plan made of corpus plans one after another.
fn heuristic_rows(reps: usize) -> Result<Vec<Row>, String> {
    use dagent_core::DependencyAnalyzer;
    const N: usize = 100_000;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut tasks = Vec::new();
    let mut copy = 0;
    while tasks.len() < N {
        for f in &files {
            let loaded = dagent_adapters::load_plan(f, None).map_err(|e| e.to_string())?;
            for mut t in loaded.plan.tasks {
                t.id = dagent_core::TaskId::new(format!("{}-{copy}", t.id));
                t.depends_on = None;
                tasks.push(t);
            }
            copy += 1;
        }
    }
    tasks.truncate(N);
    let plan = dagent_core::Plan::new(tasks);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let map = rt
            .block_on(dagent_analyzers::HeuristicAnalyzer.analyze(&plan))
            .map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(map.len(), N);
    }
    Ok(vec![Row {
        name: "heuristic inference: 100,000-step plan".into(),
        value: median(times),
        unit: "ms",
        bar: "< 1000 ms",
        note: "corpus plans one after another, no depends_on".into(),
    }])
}

fn client_rows(quick: bool) -> Vec<Row> {
    let reps = if quick { 1 } else { 3 };
    let runs: Vec<(f64, std::time::Duration)> = (0..reps)
        .map(|_| crate::client_bench::measure(20_000, 64))
        .collect();
    let rps = median(runs.iter().map(|r| r.0).collect());
    let latency = median(runs.iter().map(|r| r.1.as_secs_f64() * 1e6).collect());
    vec![
        Row {
            name: "provider client: loopback stub, 64 in flight".into(),
            value: rps,
            unit: "req/s",
            bar: ">= 2000",
            note: format!("OpenAI-compatible client, 20,000 non-streaming calls; median of {reps}"),
        },
        Row {
            name: "provider client: one call alone (loopback round trip)".into(),
            value: latency,
            unit: "us",
            bar: "",
            note: "request build + HTTP/1.1 keep-alive round trip + JSON parse".into(),
        },
    ]
}

fn adaptive_rows(quick: bool) -> Vec<Row> {
    let n = if quick { 1_000 } else { 5_000 };
    let a = crate::adaptive_bench::measure(n, true);
    let f = crate::adaptive_bench::measure(n, false);
    let cap = crate::adaptive_bench::CAPACITY;
    vec![
        Row {
            name: format!("adaptive concurrency: time to settle at {cap} (stub 429s above {cap})"),
            value: a.settle.as_secs_f64() * 1e3,
            unit: "ms",
            bar: "",
            note: format!(
                "AIMD from 32 down to the stub's {cap}; limit at the end {}, {} cuts in all; {n} successful 20 ms calls, 64 callers retrying a 429 after 20 ms",
                a.final_limit, a.cuts
            ),
        },
        Row {
            name: "adaptive concurrency: share of calls rejected (429)".into(),
            value: a.rejected_share * 100.0,
            unit: "%",
            bar: "",
            note: format!(
                "{:.1}% after settling; {:.0} calls/s (the stub's ceiling is {:.0}); a fixed limit of 32: {:.1}% rejected, {:.0} calls/s",
                a.steady_rejected_share * 100.0,
                a.throughput,
                cap as f64 / 0.020,
                f.rejected_share * 100.0,
                f.throughput
            ),
        },
    ]
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 5 };
    // `--only heuristic` (or schedule, overhead, analysis, client, adaptive) runs one group of rows.
    let only = args
        .windows(2)
        .find(|w| w[0] == "--only")
        .map(|w| w[1].as_str());
    let wanted = |group: &str| only.is_none_or(|o| o == group);
    let mut rows = Vec::new();
    if wanted("schedule") {
        rows.extend(schedule_rows(quick));
    }
    if wanted("overhead") {
        rows.extend(overhead_rows(quick));
    }
    if wanted("analysis") {
        rows.extend(analysis_rows(reps)?);
    }
    if wanted("inference") {
        rows.extend(inference_rows(reps)?);
    }
    if wanted("heuristic") {
        rows.extend(heuristic_rows(reps)?);
    }
    if wanted("client") {
        rows.extend(client_rows(quick));
    }
    if wanted("adaptive") {
        rows.extend(adaptive_rows(quick));
    }
    if only.is_some() {
        // A partial run prints its rows; the report files keep the last full run.
        print_rows(&rows);
        return Ok(());
    }
    report(&rows)
}

fn print_rows(rows: &[Row]) {
    println!("{:<52} {:>12}  {:<12} notes", "benchmark", "value", "bar");
    for r in rows {
        println!(
            "{:<52} {:>9.3} {:<3} {:<12} {}",
            r.name, r.value, r.unit, r.bar, r.note
        );
    }
}

fn report(rows: &[Row]) -> Result<(), String> {
    let mut md = String::from(
        "# dagent benchmark report\n\n| benchmark | value | bar | notes |\n|---|---:|---|---|\n",
    );
    print_rows(rows);
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {:.3} {} | {} | {} |",
            r.name, r.value, r.unit, r.bar, r.note
        );
    }
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({ "name": r.name, "value": r.value, "unit": r.unit, "bar": r.bar, "note": r.note }))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&serde_json::json!({ "benchmarks": json_rows }))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.json"), json).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.md"), md).map_err(|e| e.to_string())?;
    println!("\nwrote target/bench/report.json and target/bench/report.md");
    Ok(())
}

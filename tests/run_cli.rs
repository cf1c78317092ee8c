//! `dagent run --simulate` through the real binary: report schema, exit codes, non-TTY
//! progress, configuration precedence and errors.

use crate::support::{dagent, dagent_env, scratch};

fn report_of(args: &[&str]) -> (crate::support::Output, serde_json::Value) {
    let dir = scratch(&format!("run-{}", args.join("-").replace(['/', '.'], "_")));
    let path = dir.join("report.json");
    let mut full = vec!["run", "--simulate"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--report", path.to_str().unwrap()]);
    let out = dagent(&full);
    let json = std::fs::read_to_string(&path)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, json)
}

#[test]
fn successful_run_writes_the_documented_report_and_exits_0() {
    let (out, r) = report_of(&["tests/fixtures/run/fast.toml", "-k", "4"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["counts"]["succeeded"], 4);
    assert_eq!(r["dependency_strategy"], "explicit");
    for key in [
        "makespan_ms",
        "total_task_ms",
        "speedup",
        "utilisation",
        "retries",
        "mode",
        "max_concurrent",
        "failure_mode",
    ] {
        assert!(!r[key].is_null(), "report lacks {key}");
    }
    let tasks = r["tasks"].as_array().unwrap();
    let end = |id: &str| {
        tasks.iter().find(|t| t["id"] == id).unwrap()["end_ms"]
            .as_u64()
            .unwrap()
    };
    let start = |id: &str| {
        tasks.iter().find(|t| t["id"] == id).unwrap()["start_ms"]
            .as_u64()
            .unwrap()
    };
    assert!(start("b") >= end("a") && start("c") >= end("a"));
    assert!(start("d") >= end("b").max(end("c")));
    assert!(
        r["makespan_ms"].as_u64().unwrap() >= 60,
        "critical path a→c→d is 60 ms"
    );
    assert_eq!(tasks[3]["output"], "simulated output of d from [b, c]");
    // Non-TTY progress: plain lines on stderr, the table on stdout.
    assert!(out.stderr.contains(" start     a"), "{}", out.stderr);
    assert!(out.stderr.contains(" ok        d"), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("4 succeeded · 0 failed · 0 skipped · 0 cancelled"),
        "{}",
        out.stdout
    );
}

#[test]
fn failures_are_retried_reported_and_exit_1() {
    let (out, r) = report_of(&["tests/fixtures/run/flaky.toml", "--max-retries", "3"]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    let tasks = r["tasks"].as_array().unwrap();
    let get = |id: &str| tasks.iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!(get("fetch-b")["status"], "succeeded");
    assert_eq!(get("fetch-b")["attempts"], 3);
    assert_eq!(get("fetch-c")["status"], "failed");
    assert_eq!(get("fetch-c")["error"]["kind"], "permanent");
    assert_eq!(
        get("fetch-c")["attempts"],
        1,
        "permanent errors are not retried"
    );
    assert_eq!(get("merge")["status"], "skipped");
    assert_eq!(get("merge")["reason"], "dependency \"fetch-c\" failed");
    assert!(get("merge")["start_ms"].is_null());
    assert_eq!(
        get("side")["status"],
        "succeeded",
        "independent branches go on"
    );
    assert_eq!(r["retries"], 2);
    assert!(out.stderr.contains("retry     fetch-b"), "{}", out.stderr);
}

#[test]
fn partial_completion_and_fail_fast_from_flags_and_config() {
    let (out, r) = report_of(&[
        "tests/fixtures/run/flaky.toml",
        "--failure-mode",
        "partial_completion",
        "--no-retry",
    ]);
    assert_eq!(out.status, 1);
    let merge = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "merge")
        .unwrap()
        .clone();
    assert_eq!(merge["status"], "succeeded");
    assert_eq!(
        merge["output"],
        "simulated output of merge from [fetch-a, fetch-b (failed), fetch-c (failed)]"
    );

    let (out, r) = report_of(&[
        "tests/fixtures/run/flaky.toml",
        "--config",
        "tests/fixtures/run/fail-fast.toml",
        "--no-retry",
    ]);
    assert_eq!(out.status, 1);
    assert_eq!(r["failure_mode"], "fail_fast");
    assert_eq!(r["max_concurrent"], 2);
    assert!(
        r["stopped"].as_str().unwrap().starts_with("fail_fast"),
        "{}",
        r["stopped"]
    );
    let statuses: Vec<&str> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 5);
    assert!(
        statuses
            .iter()
            .all(|s| ["succeeded", "failed", "skipped", "cancelled"].contains(s))
    );
}

#[test]
fn flags_beat_environment_beat_file() {
    let cfg = ["--config", "tests/fixtures/run/fail-fast.toml"];
    let (_, r) = report_of(&["tests/fixtures/run/fast.toml", cfg[0], cfg[1]]);
    assert_eq!(r["max_concurrent"], 2, "file");
    let dir = scratch("env-precedence");
    let path = dir.join("r.json");
    let args = [
        "run",
        "--simulate",
        "tests/fixtures/run/fast.toml",
        cfg[0],
        cfg[1],
        "--report",
        path.to_str().unwrap(),
    ];
    let out = dagent_env(&args, &[("DAGENT_MAX_CONCURRENT_TASKS", "3")]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(r["max_concurrent"], 3, "environment over file");
    let mut with_flag = args.to_vec();
    with_flag.extend_from_slice(&["-k", "1"]);
    let out = dagent_env(&with_flag, &[("DAGENT_MAX_CONCURRENT_TASKS", "3")]);
    assert_eq!(out.status, 0);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(r["max_concurrent"], 1, "flag over environment");
    let bad = dagent_env(&args, &[("DAGENT_MAX_CONCURRENT_TASKS", "lots")]);
    assert_eq!(bad.status, 2);
    assert!(
        bad.stderr.contains("DAGENT_MAX_CONCURRENT_TASKS"),
        "{}",
        bad.stderr
    );
}

#[test]
fn config_errors_point_at_line_and_column() {
    let out = dagent(&[
        "run",
        "--simulate",
        "tests/fixtures/run/fast.toml",
        "--config",
        "tests/fixtures/run/bad-config.toml",
    ]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.starts_with("error: tests/fixtures/run/bad-config.toml:2:24: max_concurrent_tasks must be at least 1"), "{}", out.stderr);
    let out = dagent(&[
        "run",
        "--simulate",
        "tests/fixtures/run/fast.toml",
        "--config",
        "tests/fixtures/run/unknown-key.toml",
    ]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("unknown-key.toml:2:1: unknown field `max_concurent_tasks`"),
        "{}",
        out.stderr
    );
}

#[test]
fn quiet_mode_json_to_stdout_and_bad_input() {
    let out = dagent(&[
        "run",
        "--simulate",
        "-q",
        "tests/fixtures/run/fast.toml",
        "--report",
        "-",
    ]);
    assert_eq!(out.status, 0);
    assert!(
        out.stderr.is_empty(),
        "quiet prints no progress: {}",
        out.stderr
    );
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["counts"]["succeeded"], 4);
    let out = dagent(&["run", "tests/fixtures/run/fast.toml"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("--simulate"));
    let out = dagent(&["run", "--simulate", "tests/fixtures/bad/cycle.toml"]);
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("dependency cycle"));
}

#[test]
fn sequential_and_batched_modes_through_the_cli() {
    let (out, seq) = report_of(&["tests/fixtures/run/fast.toml", "-k", "1"]);
    assert_eq!(out.status, 0);
    let (_, par) = report_of(&[
        "tests/fixtures/run/fast.toml",
        "-k",
        "4",
        "--mode",
        "batched",
    ]);
    assert_eq!(par["mode"], "batched");
    let outputs = |r: &serde_json::Value| {
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["output"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outputs(&seq),
        outputs(&par),
        "same outputs whatever the schedule"
    );
    // One at a time: no two tasks' intervals overlap (an ordering, not a duration).
    let mut spans: Vec<(u64, u64)> = seq["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["start_ms"].as_u64().unwrap(),
                t["end_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    spans.sort_unstable();
    assert!(
        spans.windows(2).all(|w| w[0].1 <= w[1].0),
        "with -k 1 tasks never overlap: {spans:?}"
    );
}

/// Starts a simulated run of the ten-cities plan, sends `signal` once the first task has
/// started, and returns the exit status, stdout and the report.
fn interrupted_run(name: &str, signal: &str) -> (Option<i32>, String, serde_json::Value) {
    let dir = scratch(name);
    let path = dir.join("report.json");
    let mut child = crate::support::command()
        .args([
            "run",
            "--simulate",
            "examples/ten-cities.toml",
            "--report",
            path.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has started tasks (a "start" line on stderr), then signal it.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("start") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "the run ended before starting a task"
        );
    }
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        r,
    )
}

#[test]
fn ctrl_c_cancels_and_still_reports_every_task() {
    let (status, stdout, r) = interrupted_run("ctrl-c", "-INT");
    assert_eq!(status, Some(1));
    assert_eq!(r["stopped"], "run cancelled");
    assert_eq!(r["counts"]["cancelled"], 12, "{r}");
    assert!(stdout.contains("Stopped early: run cancelled"), "{stdout}");
}

#[test]
fn sigterm_is_treated_like_ctrl_c() {
    let (status, stdout, r) = interrupted_run("sigterm", "-TERM");
    assert_eq!(
        status,
        Some(1),
        "SIGTERM must not kill the process without a report"
    );
    assert_eq!(r["stopped"], "run cancelled");
    assert_eq!(r["counts"]["cancelled"], 12, "{r}");
    assert!(stdout.contains("Stopped early: run cancelled"), "{stdout}");
}

#[test]
fn the_example_configuration_is_valid_and_applied() {
    let (out, r) = report_of(&[
        "tests/fixtures/run/fast.toml",
        "--config",
        "examples/dagent.toml",
        "-q",
    ]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(r["max_concurrent"], 10);
    assert_eq!(r["failure_mode"], "skip_dependents");
}

/// Out-of-range numbers in the file, the environment and flags are clear errors (exit 2,
/// naming where the value came from), never a panic — for `analyze` too.
#[test]
fn out_of_range_numbers_are_errors_not_panics() {
    let dir = scratch("huge-numbers");
    let plan = "tests/fixtures/run/fast.toml";
    let cases: &[(&str, &str)] = &[
        ("task_timeout_seconds = 1e20", "task_timeout_seconds"),
        ("batch_timeout_seconds = 1e20", "batch_timeout_seconds"),
        ("retry_backoff_seconds = [1, 1e20]", "retry_backoff_seconds"),
        ("max_tasks_per_second = 1e-300", "max_tasks_per_second"),
        ("max_tasks_per_second = nan", "max_tasks_per_second"),
        ("run_timeout_seconds = -1", "run_timeout_seconds"),
    ];
    for (i, (line, key)) in cases.iter().enumerate() {
        let cfg = dir.join(format!("c{i}.toml"));
        std::fs::write(&cfg, format!("[parallelization]\n{line}\n")).unwrap();
        for cmd in ["analyze", "run"] {
            let mut args = vec![cmd, plan, "--config", cfg.to_str().unwrap()];
            if cmd == "run" {
                args.push("--simulate");
            }
            let out = dagent(&args);
            assert_eq!(out.status, 2, "{line} ({cmd}): {}", out.stderr);
            assert!(
                out.stderr.contains(&format!("c{i}.toml:2:")) && out.stderr.contains(key),
                "{line} ({cmd}): {}",
                out.stderr
            );
        }
    }
    let provider = dir.join("provider.toml");
    std::fs::write(
        &provider,
        "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\ntimeout_seconds = 1e20\n",
    )
    .unwrap();
    let out = dagent(&["analyze", plan, "--config", provider.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("provider.toml:4:"), "{}", out.stderr);
    for (var, value) in [
        ("DAGENT_TASK_TIMEOUT_SECONDS", "1e20"),
        ("DAGENT_MAX_TASKS_PER_SECOND", "nan"),
        ("DAGENT_MAX_TASKS_PER_SECOND", "1e-300"),
        ("DAGENT_RETRY_BACKOFF_SECONDS", "1,1e20"),
    ] {
        let out = dagent_env(&["run", "--simulate", plan], &[(var, value)]);
        assert_eq!(out.status, 2, "{var}={value}: {}", out.stderr);
        assert!(out.stderr.contains(var), "{var}: {}", out.stderr);
    }
    for (flag, value) in [
        ("--rate", "1e-300"),
        ("--time-scale", "1e300"),
        ("--task-timeout", "1e20"),
        ("--deadline", "1e20"),
        ("--max-retry-delay", "0"),
        ("--default-estimate", "1e20"),
    ] {
        let out = dagent(&["run", "--simulate", plan, flag, value]);
        assert_eq!(out.status, 2, "{flag} {value}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("error: {flag} {value}: ")),
            "{flag}: {}",
            out.stderr
        );
    }
}

#[test]
fn dagent_config_shows_each_value_and_where_it_came_from() {
    let dir = scratch("config-cmd");
    let cfg = dir.join("team.toml");
    std::fs::write(
        &cfg,
        "[parallelization]\nmax_concurrent_tasks = 4\nfailure_mode = \"fail_fast\"\n\n[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"DAGENT_TEST_CONFIG_KEY\"\n\n[models.small]\nprovider = \"local\"\nmodel = \"smollm2-135m\"\n",
    )
    .unwrap();
    let out = dagent_env(
        &["config", "--config", cfg.to_str().unwrap(), "--rate", "2"],
        &[
            ("DAGENT_MAX_RETRIES", "5"),
            ("DAGENT_TEST_CONFIG_KEY", "sk-config-secret-123456"),
        ],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let line = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in {}", out.stdout))
            .to_owned()
    };
    assert!(
        line("max_concurrent_tasks").ends_with("team.toml:2"),
        "{}",
        out.stdout
    );
    assert!(
        line("failure_mode").ends_with("team.toml:3"),
        "{}",
        out.stdout
    );
    assert!(
        line("max_retries").ends_with("environment DAGENT_MAX_RETRIES"),
        "{}",
        out.stdout
    );
    assert!(
        line("max_tasks_per_second").ends_with("flag --rate"),
        "{}",
        out.stdout
    );
    assert!(
        line("task_timeout_seconds").contains("300"),
        "{}",
        out.stdout
    );
    assert!(
        line("task_timeout_seconds").ends_with("default"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("DAGENT_TEST_CONFIG_KEY (set)"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("sk-config-secret"),
        "a secret was printed: {}",
        out.stdout
    );
    // `model` is accepted as the model id, as the original specifications write it.
    let json = dagent_env(
        &[
            "config",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[("DAGENT_TEST_CONFIG_KEY", "sk-config-secret-123456")],
    );
    assert_eq!(json.status, 0, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let small = doc["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "small")
        .unwrap();
    assert_eq!(small["id"], "smollm2-135m");
    assert_eq!(doc["parallelization"]["max_concurrent_tasks"]["value"], 4);
    assert!(!json.stdout.contains("sk-config-secret"));
}

/// Output paths are checked before anything runs (nothing is paid for a run whose report
/// cannot be written), and an output that still fails at the end is saved elsewhere with
/// the summary printed.
#[test]
fn output_paths_are_checked_before_running_and_results_are_never_dropped() {
    let dir = scratch("output-paths");
    let missing = dir.join("no-such-dir").join("report.json");
    let out = dagent(&[
        "run",
        "--simulate",
        "tests/fixtures/run/fast.toml",
        "--report",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("checked before running"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("start"), "a task ran: {}", out.stderr);
    let out = dagent(&[
        "run",
        "--simulate",
        "tests/fixtures/run/fast.toml",
        "--write-back",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);

    // The directory disappears while the run goes on: the summary is still printed and the
    // report is saved elsewhere, at a path the message gives.
    let doomed = dir.join("doomed");
    std::fs::create_dir_all(&doomed).unwrap();
    let report = doomed.join("report.json");
    let mut child = crate::support::command()
        .args([
            "run",
            "--simulate",
            "examples/ten-cities.toml",
            "--time-scale",
            "0.02",
            "--report",
            report.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    std::fs::remove_dir_all(&doomed).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{rest}");
    assert!(stdout.contains("12 succeeded"), "summary printed: {stdout}");
    let saved = rest
        .split("saved to ")
        .nth(1)
        .and_then(|s| s.split(" instead").next())
        .unwrap_or_else(|| panic!("no fallback path in {rest}"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    assert_eq!(r["counts"]["succeeded"], 12);
    let _ = std::fs::remove_file(saved);
}

/// A FIFO or a device as the configuration is refused at once (it used to block forever or
/// grow without bound), naming the file.
#[test]
fn non_regular_configuration_files_are_refused() {
    let dir = scratch("config-fifo");
    let fifo = dir.join("dagent.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for cfg in [fifo.to_str().unwrap(), "/dev/zero"] {
        let out = dagent(&["analyze", "examples/ten-cities.toml", "--config", cfg]);
        assert_eq!(out.status, 2, "{cfg}: {}", out.stderr);
        assert!(
            out.stderr.contains(cfg) && out.stderr.contains("not a regular file"),
            "{}",
            out.stderr
        );
    }
}

/// The input size cap is a setting like any other: a flag, a variable, or `[input]
/// max_bytes` (which applies to the plan; the configuration itself is read under the
/// flag's, the variable's or the default cap).
#[test]
fn the_input_size_cap_is_configurable() {
    let plan = "examples/ten-cities.toml";
    let out = dagent(&["analyze", plan, "--max-input-bytes", "100"]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("ten-cities.toml"), "{}", out.stderr);
    let out = dagent_env(&["analyze", plan], &[("DAGENT_MAX_INPUT_BYTES", "100")]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    let dir = scratch("input-cap");
    let cfg = dir.join("small.toml");
    std::fs::write(&cfg, "[input]\nmax_bytes = 100\n").unwrap();
    let out = dagent(&["analyze", plan, "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("ten-cities.toml") && !out.stderr.contains("unknown field"),
        "the plan is refused as too large: {}",
        out.stderr
    );
    // The configuration's own cap is checked before the file is read.
    std::fs::write(dir.join("broken.toml"), "[parallelization\n").unwrap();
    let out = dagent_env(
        &[
            "analyze",
            plan,
            "--config",
            dir.join("broken.toml").to_str().unwrap(),
        ],
        &[("DAGENT_MAX_INPUT_BYTES", "lots")],
    );
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("DAGENT_MAX_INPUT_BYTES"),
        "{}",
        out.stderr
    );
    let out = dagent(&["analyze", plan, "--max-input-bytes", "1MiB"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let out = dagent(&["analyze", plan, "--max-input-bytes", "0"]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .starts_with("error: --max-input-bytes 0: must be a size in bytes"),
        "{}",
        out.stderr
    );
}

/// Logs go to stderr only: a report on stdout stays valid JSON at any verbosity, `-v` shows
/// the run, `--log-format json` gives one JSON object per stderr line, RUST_LOG overrides.
#[test]
fn logs_go_to_stderr_as_text_or_json_and_never_mix_with_the_report() {
    let plan = "tests/fixtures/run/flaky.toml";
    let base = [
        "run",
        "--simulate",
        plan,
        "--no-store",
        "--report",
        "-",
        "--retry-backoff",
        "0.01",
    ];
    let quiet = dagent(&base);
    assert!(
        !quiet.stderr.contains("dependencies resolved"),
        "warnings only by default"
    );
    let mut verbose = base.to_vec();
    verbose.push("-v");
    let out = dagent(&verbose);
    let report: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("stdout is the report alone");
    assert_eq!(report["counts"]["succeeded"], 3);
    assert!(
        out.stderr.contains("dependencies resolved") && out.stderr.contains("retrying"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("task=fetch-b"),
        "events carry their task span: {}",
        out.stderr
    );
    let mut json = verbose.clone();
    json.extend(["--log-format", "json"]);
    let out = dagent(&json);
    serde_json::from_str::<serde_json::Value>(&out.stdout).expect("stdout is the report alone");
    let lines: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "retrying" && l["span"]["task"] == "fetch-b"),
        "{}",
        out.stderr
    );
    let filtered = dagent_env(&verbose, &[("RUST_LOG", "error")]);
    assert!(
        !filtered.stderr.contains("retrying"),
        "RUST_LOG wins: {}",
        filtered.stderr
    );
}

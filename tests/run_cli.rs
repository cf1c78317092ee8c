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
    assert!(
        seq["makespan_ms"].as_u64().unwrap() >= 70,
        "one at a time: 30 + 10 + 20 + 10 ms"
    );
}

#[test]
fn ctrl_c_cancels_and_still_reports_every_task() {
    let dir = scratch("ctrl-c");
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
    // Wait until the run has started tasks (a line on stderr), then interrupt it.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.contains("start"), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(r["stopped"], "run cancelled");
    assert_eq!(r["counts"]["cancelled"], 12, "{r}");
    let stdout = String::from_utf8_lossy(&out.stdout);
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

//! The run store through the binary: run ids and history commands, resume without paying
//! twice (SIGKILL at many points of a 50-task run against a stub that counts requests), the
//! resume lock, plans that changed between sessions, and stores that cannot be used.

use std::io::BufRead;
use std::process::Stdio;

use dagent_store::SqliteStore;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{command, dagent, scratch};

/// 50 tasks; task i ≥ 10 needs task i − 10, so outputs feed dependents.
fn plan_text() -> String {
    let mut s = String::from("title = \"Fifty questions\"\n");
    for i in 0..50 {
        s.push_str(&format!(
            "\n[[tasks]]\nid = \"t{i:02}\"\ntitle = \"Task {i:02}\"\ndescription = \"Answer briefly.\"\nkind = \"research\"\ndepends_on = [{}]\n",
            if i >= 10 { format!("\"t{:02}\"", i - 10) } else { String::new() }
        ));
    }
    s
}

/// The task a request is for, from the first line of its prompt ("# Task: Task 07").
fn task_of(req: &Request) -> Option<usize> {
    let body: Value = serde_json::from_slice(&req.body).ok()?;
    let user = body["messages"][1]["content"].as_str()?;
    user.lines()
        .next()?
        .strip_prefix("# Task: Task ")?
        .trim()
        .parse()
        .ok()
}

async fn stub() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(25))
                .set_body_json(json!({
                    "model": body["model"],
                    "choices": [{ "message": { "role": "assistant", "content": "done" }, "finish_reason": "stop" }],
                    "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
                }))
        })
        .mount(&server)
        .await;
    server
}

/// $1 per 1M tokens in and out: 15 tokens cost 15,000 nano-dollars a call.
const CALL_NANOS: u64 = 15_000;

fn config(url: &str) -> String {
    format!(
        "[parallelization]\nmax_concurrent_tasks = 4\ndependency_strategy = \"explicit\"\n\n[providers.stub]\nkind = \"openai\"\nbase_url = \"{url}/v1\"\nmax_concurrent = 4\n\n[models.cheap]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"1\" }}\ncontext_window = 4096\nmax_output_tokens = 16\n\n[routing]\ndefault_model = \"cheap\"\n"
    )
}

async fn requests(server: &MockServer) -> Vec<usize> {
    let mut per_task = vec![0usize; 50];
    for r in server.received_requests().await.unwrap_or_default() {
        if let Some(t) = task_of(&r) {
            per_task[t] += 1;
        }
    }
    per_task
}

/// Runs `dagent ARGS` on a blocking thread (the stub lives on this runtime).
async fn run(args: Vec<String>) -> crate::support::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dagent(&refs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_twenty_points_then_resume_never_pays_twice() {
    let server = stub().await;
    let dir = scratch("store-sigkill");
    std::fs::write(dir.join("plan.toml"), plan_text()).unwrap();
    std::fs::write(dir.join("dagent.toml"), config(&server.uri())).unwrap();
    let (plan, cfg) = (
        dir.join("plan.toml").display().to_string(),
        dir.join("dagent.toml").display().to_string(),
    );
    let points: Vec<usize> = (0..20).map(|i| 1 + i * 47 / 19).collect();
    let mut summary = Vec::new();
    for (p, &kill_after) in points.iter().enumerate() {
        let store = dir.join(format!("runs-{p}.db")).display().to_string();
        let before = requests(&server).await;
        let args: Vec<String> = ["run", &plan, "--config", &cfg, "--store", &store]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        // Start the run; SIGKILL it once `kill_after` tasks have reported success.
        let mut child = command()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let seen = tokio::task::spawn_blocking(move || {
            let mut ok = 0;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("] ok ") {
                    ok += 1;
                    if ok == kill_after {
                        break;
                    }
                }
            }
            ok
        })
        .await
        .unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(
            seen, kill_after,
            "the run reported {seen} successes before the kill"
        );
        let first: Vec<usize> = requests(&server)
            .await
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect();
        let stored = SqliteStore::open(std::path::Path::new(&store), false).unwrap();
        let run_id = stored.resolve("last").unwrap();
        assert_eq!(
            stored.list().unwrap()[0].status,
            "interrupted",
            "a killed run is shown as interrupted"
        );
        let detail = stored.detail(&run_id).unwrap();
        let succeeded: Vec<usize> = detail
            .successes()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|_| i))
            .collect();
        // Durable before reported: every success the process announced is in the store.
        assert!(
            succeeded.len() >= kill_after,
            "{} stored successes, {kill_after} announced",
            succeeded.len()
        );
        let recorded = detail
            .attempts
            .iter()
            .filter(|a| a.record.attempt > 0)
            .count();
        let sent: usize = first.iter().sum();
        let in_flight = sent - recorded;
        assert!(in_flight <= 4, "{in_flight} attempts in flight at the kill");
        drop(stored);

        // Resume: completes, and never asks again for what had succeeded.
        let mid = requests(&server).await;
        let mut resume = args.clone();
        resume.extend(["--resume".to_owned(), "last".to_owned(), "-q".to_owned()]);
        let out = run(resume).await;
        assert_eq!(out.status, 0, "kill point {kill_after}: {}", out.stderr);
        let second: Vec<usize> = requests(&server)
            .await
            .iter()
            .zip(&mid)
            .map(|(a, b)| a - b)
            .collect();
        for &t in &succeeded {
            assert_eq!(
                second[t], 0,
                "task t{t:02} had succeeded and was requested again"
            );
        }
        let total: usize = sent + second.iter().sum::<usize>();
        assert_eq!(
            total,
            50 + in_flight,
            "billed calls = a run without kills + the attempts in flight at the kill"
        );
        let stored = SqliteStore::open(std::path::Path::new(&store), false).unwrap();
        let detail = stored.detail(&run_id).unwrap();
        assert!(detail.successes().iter().all(Option::is_some));
        assert_eq!(
            detail.spent().nanos(),
            (total - in_flight) as u64 * CALL_NANOS,
            "the store bills every call it recorded, once"
        );
        assert_eq!(stored.integrity_check().unwrap(), "ok");
        summary.push(format!(
            "kill after {kill_after:>2} ok: stored {:>2}, in flight {in_flight}, re-sent {}",
            succeeded.len(),
            in_flight
        ));
    }
    eprintln!("{}", summary.join("\n"));
}

fn sim(dir: &std::path::Path, plan: &str, extra: &[&str]) -> crate::support::Output {
    let store = dir.join("runs.db").display().to_string();
    let mut args = vec![
        "run",
        "--simulate",
        plan,
        "--time-scale",
        "0.01",
        "--store",
        &store,
    ];
    args.extend_from_slice(extra);
    dagent(&args)
}

#[test]
fn run_prints_its_id_and_the_history_commands_read_it_back() {
    let dir = scratch("store-history");
    let store = dir.join("runs.db").display().to_string();
    let a = sim(&dir, "examples/ten-cities.toml", &[]);
    assert_eq!(a.status, 0, "{}", a.stderr);
    let id_a = a
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Run "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        a.stderr.contains(&format!("run {id_a} · recorded in")),
        "{}",
        a.stderr
    );
    let b = sim(&dir, "tests/fixtures/run/flaky.toml", &["--report", "-"]);
    assert_eq!(b.status, 1);
    let report: Value = serde_json::from_str(&b.stdout).unwrap();
    let id_b = report["run_id"].as_str().unwrap().to_owned();
    assert!(id_a < id_b, "ids sort by start time");

    let list = dagent(&["runs", "list", "--store", &store]);
    assert_eq!(list.status, 0, "{}", list.stderr);
    assert!(list.stdout.contains(&id_a) && list.stdout.contains(&id_b));
    assert!(
        list.stdout.find(&id_b) < list.stdout.find(&id_a),
        "newest first"
    );

    let timeline = dir.join("t.svg");
    let show = dagent(&[
        "runs",
        "show",
        &id_b,
        "--store",
        &store,
        "--timeline",
        timeline.to_str().unwrap(),
    ]);
    assert_eq!(show.status, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("fetch-b") && show.stdout.contains("failed"),
        "{}",
        show.stdout
    );
    let svg = std::fs::read_to_string(&timeline).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("fetch-b attempt 3: succeeded"),
        "retries drawn"
    );

    let compare = dagent(&["runs", "compare", &id_a, &id_b, "--store", &store]);
    assert_eq!(compare.status, 0, "{}", compare.stderr);
    assert!(
        compare.stdout.contains("different plans"),
        "{}",
        compare.stdout
    );

    let csv = dagent(&["runs", "export", "--csv", "--store", &store]);
    assert_eq!(csv.stdout.lines().count(), 3, "{}", csv.stdout);
    let json = dagent(&["runs", "export", "--json", "--store", &store]);
    let all: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);

    let out = dir.join("back.toml");
    let wb = dagent(&[
        "runs",
        "write-back",
        &id_a,
        out.to_str().unwrap(),
        "--store",
        &store,
    ]);
    assert_eq!(wb.status, 0, "{}", wb.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("result = ") && text.contains("depends_on"),
        "{text}"
    );

    let mut typo = id_a.clone();
    typo.pop();
    typo.push('#');
    let unknown = dagent(&["runs", "show", &typo, "--store", &store]);
    assert_eq!(unknown.status, 2);
    assert!(
        unknown.stderr.contains(&format!("did you mean \"{id_a}\"")),
        "{}",
        unknown.stderr
    );

    let gc = dagent(&["runs", "gc", "--older-than", "0s", "--store", &store]);
    assert!(gc.stdout.starts_with("Deleted 2 runs"), "{}", gc.stdout);
}

#[test]
fn resume_reuses_unchanged_successes_and_reruns_what_changed() {
    let dir = scratch("store-resume-changed");
    let plan = dir.join("plan.toml");
    let text = "title = \"Pipeline\"\n\n[[tasks]]\nid = \"a\"\ntitle = \"Fetch A\"\nestimate = \"10ms\"\ndepends_on = []\n\n[[tasks]]\nid = \"b\"\ntitle = \"Fetch B\"\nestimate = \"10ms\"\nsimulate = { fail = \"permanent\" }\ndepends_on = []\n\n[[tasks]]\nid = \"c\"\ntitle = \"Clean A\"\nestimate = \"10ms\"\ndepends_on = [\"a\"]\n\n[[tasks]]\nid = \"d\"\ntitle = \"Merge\"\nestimate = \"10ms\"\ndepends_on = [\"b\", \"c\"]\n";
    std::fs::write(&plan, text).unwrap();
    let p = plan.to_str().unwrap();
    let first = sim(&dir, p, &[]);
    assert_eq!(first.status, 1, "{}", first.stderr);
    // Fix b and change c's title: a is reused, b runs (it failed), c runs (changed), d runs
    // (it never ran).
    std::fs::write(
        &plan,
        text.replace("simulate = { fail = \"permanent\" }\n", "")
            .replace("Clean A", "Clean A again"),
    )
    .unwrap();
    let second = sim(&dir, p, &["--resume", "--report", "-"]);
    assert_eq!(second.status, 0, "{}", second.stderr);
    for line in [
        "  reuse  a",
        "  run    b  (changed since the stored run)",
        "  run    c  (changed since the stored run)",
        "  run    d  (an input changed since the stored run)",
    ] {
        assert!(
            second.stderr.contains(line),
            "{line:?} in {}",
            second.stderr
        );
    }
    let r: Value = serde_json::from_str(&second.stdout).unwrap();
    let task = |id: &str| {
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(task("a")["reused"], true);
    assert_eq!(task("a")["attempts"], 0);
    assert_eq!(task("c")["reused"], false);
    assert_eq!(task("c")["attempts"], 1);
    // Once everything succeeded, resuming again reuses all of it and runs nothing.
    let third = sim(&dir, p, &["--resume", "--report", "-"]);
    let r: Value = serde_json::from_str(&third.stdout).unwrap();
    assert!(
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["reused"] == true),
        "{r}"
    );
}

/// A resume that stops before running anything (here `--review` without a terminal) gives
/// the run back as it was: still succeeded, one session, not shown as interrupted.
#[test]
fn a_resume_stopped_before_running_leaves_the_run_as_it_was() {
    let dir = scratch("store-resume-unclaim");
    let store = dir.join("runs.db").display().to_string();
    let first = sim(&dir, "examples/ten-cities.toml", &[]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    let list = || {
        let out = dagent(&["runs", "list", "--store", &store, "--format", "json"]);
        assert_eq!(out.status, 0, "{out}");
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v.as_array().unwrap()[0].clone()
    };
    let before = list();
    assert_eq!(before["status"], "succeeded", "{before}");
    let again = sim(&dir, "examples/ten-cities.toml", &["--resume", "--review"]);
    assert_eq!(again.status, 2, "{again}");
    assert!(again.stderr.contains("--review"), "{again}");
    let after = list();
    assert_eq!(after["status"], "succeeded", "{after}");
    assert_eq!(after["sessions"], before["sessions"], "{after}");
    assert_eq!(after["finished_at_ms"], before["finished_at_ms"], "{after}");
}

#[test]
fn a_run_still_running_cannot_be_resumed_by_another_process() {
    let dir = scratch("store-lock");
    let store = dir.join("runs.db").display().to_string();
    let plan = dir.join("slow.toml");
    std::fs::write(
        &plan,
        "[[tasks]]\nid = \"slow\"\ntitle = \"Slow\"\nestimate = \"60s\"\n",
    )
    .unwrap();
    let mut child = command()
        .args([
            "run",
            "--simulate",
            plan.to_str().unwrap(),
            "--store",
            &store,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("run ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no run id printed"
        );
    }
    let id = line.split_whitespace().nth(1).unwrap().to_owned();
    let second = dagent(&[
        "run",
        "--simulate",
        plan.to_str().unwrap(),
        "--store",
        &store,
        "--resume",
        &id,
    ]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(second.status, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "run {id} is still running in process {}",
            child.id()
        )),
        "{}",
        second.stderr
    );
    // Its process is gone now: the run can be resumed.
    let third = dagent(&[
        "run",
        "--simulate",
        "--time-scale",
        "0.0001",
        plan.to_str().unwrap(),
        "--store",
        &store,
        "--resume",
        &id,
    ]);
    assert_eq!(third.status, 0, "{}", third.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_used_is_an_error_before_any_paid_call() {
    let server = stub().await;
    let dir = scratch("store-unusable");
    std::fs::write(dir.join("plan.toml"), plan_text()).unwrap();
    std::fs::write(dir.join("dagent.toml"), config(&server.uri())).unwrap();
    let foreign = dir.join("notes.db");
    std::fs::write(&foreign, "not a database\n").unwrap();
    for (store, needle) in [
        (dir.join("missing/runs.db"), "does not exist"),
        (foreign.clone(), "not a dagent run store"),
        (dir.clone(), "not a regular file"),
    ] {
        let out = run([
            "run",
            dir.join("plan.toml").to_str().unwrap(),
            "--config",
            dir.join("dagent.toml").to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect())
        .await;
        assert_eq!(out.status, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(store.to_str().unwrap()) && out.stderr.contains(needle),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        requests(&server).await.iter().sum::<usize>(),
        0,
        "no call was made"
    );
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "not a database\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_reports_earlier_and_new_spend_separately() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = MockServer::start().await;
    let failed_once = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&failed_once);
    Mock::given(method("POST"))
        .respond_with(move |req: &Request| {
            // Task 02 fails (permanently) the first time it is asked.
            if task_of(req) == Some(2) && !flag.swap(true, Ordering::SeqCst) {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({"error": {"message": "bad request"}}));
            }
            ResponseTemplate::new(200).set_body_json(json!({
                "model": "cheap",
                "choices": [{ "message": { "role": "assistant", "content": "done" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
            }))
        })
        .mount(&server)
        .await;
    let dir = scratch("store-spend");
    let plan: String = plan_text()
        .split("\n[[tasks]]")
        .take(4)
        .collect::<Vec<_>>()
        .join("\n[[tasks]]");
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    std::fs::write(dir.join("dagent.toml"), config(&server.uri())).unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "run",
            dir.join("plan.toml").to_str().unwrap(),
            "--config",
            dir.join("dagent.toml").to_str().unwrap(),
            "--store",
            dir.join("runs.db").to_str().unwrap(),
            "--report",
            "-",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let first = run(args(&[])).await;
    assert_eq!(first.status, 1, "{}", first.stderr);
    let r1: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(
        r1["cost"]["total_usd"], "0.00003",
        "two calls of 15 tokens at $1/M"
    );
    let second = run(args(&["--resume"])).await;
    assert_eq!(second.status, 0, "{}", second.stderr);
    let r2: Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(r2["run_id"], r1["run_id"], "the same run continues");
    assert_eq!(r2["cost"]["total_usd"], "0.000015", "one new call");
    assert_eq!(r2["cost"]["earlier_usd"], "0.00003");
    assert_eq!(r2["cost"]["all_sessions_usd"], "0.000045");
    assert_eq!(
        requests(&server).await.iter().sum::<usize>(),
        4,
        "3 + the retried task"
    );
}

#[test]
fn two_processes_write_two_runs_into_one_store_at_once() {
    let dir = scratch("store-two-processes");
    let store = dir.join("runs.db").display().to_string();
    let children: Vec<_> = ["examples/ten-cities.toml", "examples/five-sectors.toml"]
        .iter()
        .map(|plan| {
            command()
                .args([
                    "run",
                    "--simulate",
                    plan,
                    "--time-scale",
                    "0.005",
                    "-q",
                    "--store",
                    &store,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stored = SqliteStore::open(std::path::Path::new(&store), false).unwrap();
    let runs = stored.list().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.status == "succeeded" && r.succeeded == r.tasks),
        "{runs:?}"
    );
    assert_eq!(stored.integrity_check().unwrap(), "ok");
}

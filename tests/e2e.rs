//! End to end against a real local model: llama.cpp's server with SmolLM2-135M, started by
//! `scripts/local-llm.sh` (`.ci/run` does it). These tests are `#[ignore]`d in a plain
//! `cargo test` and run with `cargo test -- --ignored` once the servers are up; they read the
//! base URLs from `DAGENT_E2E_LLM_URL` and `DAGENT_E2E_LLM_URL2`.

use std::time::Instant;

use dagent_core::{Money, Price, Usage};

use crate::support::{dagent, scratch};

fn url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: start a server with scripts/local-llm.sh start")
    })
}

fn config(base_urls: &[String]) -> String {
    let urls: Vec<String> = base_urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        r#"[parallelization]
max_concurrent_tasks = 8
task_timeout_seconds = 120
max_retries = 1

[providers.local]
kind = "openai"
base_urls = [{}]
max_concurrent = 1
timeout_seconds = 120

[models.smollm]
provider = "local"
id = "smollm2-135m"
pricing = {{ input = "0.50", output = "1.50" }}
context_window = 2048
max_output_tokens = 24

[routing]
default_model = "smollm"
"#,
        urls.join(", ")
    )
}

const PLAN: &str = r#"title = "Tiny research"

[[tasks]]
id = "fruit"
title = "Name a fruit"
description = "Answer with one word."
kind = "research"

[[tasks]]
id = "color"
title = "Name a color"
description = "Answer with one word."
kind = "research"

[[tasks]]
id = "combine"
title = "Combine the answers"
description = "Write one short sentence using the fruit and the color above."
kind = "report"
depends_on = ["fruit", "color"]
"#;

fn run_plan(
    dir: &std::path::Path,
    plan: &str,
    cfg: &str,
) -> (crate::support::Output, serde_json::Value, f64) {
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    std::fs::write(dir.join("dagent.toml"), cfg).unwrap();
    let report = dir.join("report.json");
    let start = Instant::now();
    let out = dagent(&[
        "run",
        dir.join("plan.toml").to_str().unwrap(),
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--write-back",
        dir.join("plan.out.toml").to_str().unwrap(),
    ]);
    let secs = start.elapsed().as_secs_f64();
    let r = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, r, secs)
}

#[test]
#[ignore = "needs the local LLM server (scripts/local-llm.sh); .ci/run runs it"]
fn a_real_plan_runs_against_the_local_model_with_real_tokens_and_exact_cost() {
    let dir = scratch("e2e-real");
    let (out, r, _) = run_plan(&dir, PLAN, &config(&[url("DAGENT_E2E_LLM_URL")]));
    assert_eq!(
        out.status, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let price = Price::new("0.50".parse().unwrap(), "1.50".parse().unwrap());
    let mut total = Money::ZERO;
    for t in r["tasks"].as_array().unwrap() {
        assert_eq!(t["status"], "succeeded", "{t}");
        assert_eq!(t["model"], "smollm");
        assert!(
            !t["output"].as_str().unwrap().trim().is_empty(),
            "real output: {t}"
        );
        let (p, c) = (
            t["prompt_tokens"].as_u64().unwrap(),
            t["completion_tokens"].as_u64().unwrap(),
        );
        assert!(p > 10 && c > 0, "real usage: {t}");
        let cost: Money = t["cost_usd"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            cost,
            price.cost(Usage::new(p, c)),
            "cost from the configured prices"
        );
        total += cost;
    }
    // The combining task's prompt carried both inputs: it is the longest prompt.
    let prompt = |id: &str| {
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["prompt_tokens"]
            .as_u64()
            .unwrap()
    };
    assert!(prompt("combine") > prompt("fruit").max(prompt("color")));
    assert_eq!(
        r["cost"]["total_usd"]
            .as_str()
            .unwrap()
            .parse::<Money>()
            .unwrap(),
        total
    );
    assert_eq!(r["cost"]["by_model"]["smollm"]["calls"], 3);
    let written = std::fs::read_to_string(dir.join("plan.out.toml")).unwrap();
    assert!(
        written.contains("result = "),
        "write-back records results:\n{written}"
    );
    assert!(out.stdout.contains("Tokens "), "{}", out.stdout);
}

#[test]
#[ignore = "needs two local LLM servers (scripts/local-llm.sh); .ci/run runs it"]
fn two_servers_as_two_endpoints_of_one_provider() {
    let mut plan = String::from("title = \"Eight questions\"\n");
    for (i, q) in [
        "a fruit",
        "a color",
        "an animal",
        "a city",
        "a tree",
        "a metal",
        "a planet",
        "a river",
    ]
    .iter()
    .enumerate()
    {
        plan.push_str(&format!("\n[[tasks]]\nid = \"q{i}\"\ntitle = \"Name {q}\"\ndescription = \"Answer with one word.\"\nkind = \"research\"\ndepends_on = []\n"));
    }
    let one = [url("DAGENT_E2E_LLM_URL")];
    let (out1, r1, _) = run_plan(&scratch("e2e-one"), &plan, &config(&one));
    // The two servers are reached through counting proxies on loopback, so the test can
    // tell that both of them served requests.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let counters = [
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    ];
    let two: Vec<String> = ["DAGENT_E2E_LLM_URL", "DAGENT_E2E_LLM_URL2"]
        .iter()
        .zip(&counters)
        .map(|(var, n)| runtime.block_on(counting_proxy(&url(var), std::sync::Arc::clone(n))))
        .collect();
    let (out2, r2, _) = run_plan(&scratch("e2e-two"), &plan, &config(&two));
    let served: Vec<usize> = counters
        .iter()
        .map(|n| n.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    assert!(
        served.iter().all(|&n| n >= 1) && served.iter().sum::<usize>() >= 8,
        "both servers must serve requests: {served:?}"
    );
    assert_eq!(out1.status, 0, "{}", out1.stderr);
    assert_eq!(out2.status, 0, "{}", out2.stderr);
    assert_eq!(r1["counts"]["succeeded"], 8);
    assert_eq!(r2["counts"]["succeeded"], 8);
    let (m1, m2) = (
        r1["makespan_ms"].as_f64().unwrap(),
        r2["makespan_ms"].as_f64().unwrap(),
    );
    // Figures for the record (timing is measured, never asserted).
    eprintln!(
        "e2e: 8 tasks, one server {m1:.0} ms, two servers {m2:.0} ms, speed-up {:.2}x",
        m1 / m2
    );
    let summary = format!(
        "one_server_ms={m1:.0}\ntwo_servers_ms={m2:.0}\nspeedup={:.2}\n",
        m1 / m2
    );
    let _ = std::fs::create_dir_all(crate::support::root().join("target/bench"));
    let _ = std::fs::write(
        crate::support::root().join("target/bench/two-servers.txt"),
        summary,
    );
}

/// A loopback TCP proxy in front of `base_url` (`http://127.0.0.1:PORT/v1`) that counts the
/// chat requests passing through; returns the proxy's base URL.
async fn counting_proxy(
    base_url: &str,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    let rest = base_url.trim_start_matches("http://");
    let (upstream, path) = rest.split_once('/').unwrap_or((rest, ""));
    let upstream = upstream.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let requests = std::sync::Arc::clone(&requests);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = tokio::io::split(server);
                let up = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut tail: Vec<u8> = Vec::new();
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tail.extend_from_slice(&buf[..n]);
                        let needle = b"POST /";
                        let hits = tail.windows(needle.len()).filter(|w| w == needle).count();
                        requests.fetch_add(hits, std::sync::atomic::Ordering::SeqCst);
                        let keep = tail.len().saturating_sub(needle.len() - 1);
                        tail.drain(..keep);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    format!("http://{addr}/{path}")
}

#[test]
#[ignore = "needs the local LLM server (scripts/local-llm.sh); .ci/run runs it"]
fn strategy_llm_against_the_local_model_ends_in_a_valid_graph() {
    let dir = scratch("e2e-llm-analyze");
    let mut cfg = config(&[url("DAGENT_E2E_LLM_URL")]);
    cfg = cfg.replace(
        "[parallelization]\n",
        "[parallelization]\nanalyzer_model = \"smollm\"\n",
    );
    std::fs::write(dir.join("dagent.toml"), cfg).unwrap();
    let out = dagent(&[
        "analyze",
        "examples/ten-cities.toml",
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
        "--strategy",
        "llm",
        "--format",
        "json",
    ]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let used = v["strategy"]["used"].as_str().unwrap().to_owned();
    assert!(["llm", "heuristic", "sequential"].contains(&used.as_str()));
    if used != "llm" {
        assert_eq!(
            v["strategy"]["attempts"][0]["strategy"], "llm",
            "the fallback says why the model's answer was not used"
        );
    }
    assert!(
        v["strategy"]["analysis_calls"].as_u64().unwrap() >= 1,
        "the model was asked"
    );
    assert_eq!(v["plan"]["task_count"], 12);
    let levels: usize = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_array().unwrap().len())
        .sum();
    assert_eq!(levels, 12, "a valid graph covering every task");
    eprintln!(
        "e2e: --strategy llm on ten cities decided by {used}; attempts {}; {} call(s)",
        v["strategy"]["attempts"], v["strategy"]["analysis_calls"]
    );
}

/// Two model entries on the two local servers, priced differently.
fn two_models() -> String {
    format!(
        r#"[providers.a]
kind = "openai"
base_url = "{}"
max_concurrent = 1
timeout_seconds = 120

[providers.b]
kind = "openai"
base_url = "{}"
max_concurrent = 1
timeout_seconds = 120

[models.small-a]
provider = "a"
id = "smollm2-135m"
pricing = {{ input = "0.50", output = "1.50" }}
context_window = 2048
max_output_tokens = 24

[models.small-b]
provider = "b"
id = "smollm2-135m"
pricing = {{ input = "0.10", output = "0.30" }}
context_window = 2048
max_output_tokens = 24
"#,
        url("DAGENT_E2E_LLM_URL"),
        url("DAGENT_E2E_LLM_URL2")
    )
}

#[test]
#[ignore = "needs the local LLM servers (scripts/local-llm.sh); .ci/run runs it"]
fn e2e_compare_runs_one_prompt_on_two_models_with_real_usage() {
    let dir = scratch("e2e-compare");
    std::fs::write(dir.join("dagent.toml"), two_models()).unwrap();
    let out = dagent(&[
        "compare",
        "Name one fruit.",
        "--models",
        "small-a,small-b",
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let prices = [("0.50", "1.50"), ("0.10", "0.30")];
    for (row, (i, o)) in doc["models"].as_array().unwrap().iter().zip(prices) {
        assert!(!row["answer"].as_str().unwrap().trim().is_empty(), "{row}");
        let (p, c) = (
            row["prompt_tokens"].as_u64().unwrap(),
            row["completion_tokens"].as_u64().unwrap(),
        );
        assert!(p > 0 && c > 0, "real usage: {row}");
        let price = Price::new(i.parse().unwrap(), o.parse().unwrap());
        let cost: Money = row["cost_usd"].as_str().unwrap().parse().unwrap();
        assert_eq!(cost, price.cost(Usage::new(p, c)));
    }
}

#[test]
#[ignore = "needs the local LLM servers (scripts/local-llm.sh); .ci/run runs it"]
fn e2e_bench_models_scores_real_answers_and_writes_the_report() {
    let dir = scratch("e2e-bench");
    std::fs::write(dir.join("dagent.toml"), two_models()).unwrap();
    let report = dir.join("bench.json");
    let out = dagent(&[
        "bench-models",
        "examples/bench-cases.toml",
        "--models",
        "small-a,small-b",
        "--min-pass-rate",
        "0",
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 0, "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for m in doc["models"].as_array().unwrap() {
        assert_eq!(m["total"], 4, "{m}");
        assert!(m["completion_tokens"].as_u64().unwrap() > 0, "{m}");
        for c in m["cases"].as_array().unwrap() {
            assert!(c["error"].is_null(), "every case got a real answer: {c}");
        }
    }
    // Every model qualifies at 0 %: the cheaper one is named.
    assert_eq!(doc["cheapest_qualifying"], "small-b");
    assert!(
        out.stdout
            .contains("Cheapest model with a pass rate of at least 0%: small-b"),
        "{out}"
    );
}

// --- From a request to results: `dagent plan` and `dagent run --workflow` against the
// local model. SmolLM2-135M rarely writes a valid plan, so these tests assert what dagent
// guarantees — a checked plan or a clear failure that keeps the answers, a shown cost, every
// workflow task in one terminal state and the output files written — not the content.

fn planning_config(base_url: &str) -> String {
    format!(
        r#"[parallelization]
task_timeout_seconds = 180
max_retries = 1

[providers.local]
kind = "openai"
base_url = "{base_url}"
max_concurrent = 1
timeout_seconds = 180

[models.smollm]
provider = "local"
id = "smollm2-135m"
pricing = {{ input = "0.50", output = "1.50" }}
context_window = 2048
max_output_tokens = 384

[routing]
default_model = "smollm"
"#
    )
}

#[test]
#[ignore = "needs the local LLM server (scripts/local-llm.sh); .ci/run runs it"]
fn plan_against_the_local_model_is_valid_or_fails_keeping_the_answers() {
    let dir = scratch("e2e-plan");
    let cfg = dir.join("dagent.toml");
    std::fs::write(&cfg, planning_config(&url("DAGENT_E2E_LLM_URL"))).unwrap();
    let out_file = dir.join("plan.toml");
    let out = dagent(&[
        "plan",
        "Research the history of tea, then write a short summary of it for a blog.",
        "--config",
        cfg.to_str().unwrap(),
        "--max-steps",
        "4",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    eprintln!("e2e plan: {out}");
    assert!(out.stderr.contains("cost $"), "the cost is shown: {out}");
    match out.status {
        0 => {
            let text = std::fs::read_to_string(&out_file).unwrap();
            let loaded = dagent_adapters::parse_plan(
                text.clone(),
                dagent_adapters::PlanFormat::Toml,
                "plan",
            )
            .unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
            assert!((1..=4).contains(&loaded.plan.tasks.len()), "{text}");
            dagent_analyzers::validate_plan(&loaded.plan).unwrap();
            assert!(loaded.plan.tasks.iter().all(|t| t.depends_on.is_some()));
        }
        1 => {
            assert!(out.stderr.contains("could not write a valid plan"), "{out}");
            let saved = dir.join("plan.toml.answers.txt");
            let answers = std::fs::read_to_string(&saved).unwrap();
            assert!(
                answers.contains("--- answer 2 ---"),
                "a repair was tried: {answers}"
            );
            assert!(!out_file.exists());
        }
        other => panic!("unexpected status {other}: {out}"),
    }
}

#[test]
#[ignore = "needs the local LLM server (scripts/local-llm.sh); .ci/run runs it"]
fn the_standard_workflow_runs_against_the_local_model_and_writes_its_files() {
    let dir = scratch("e2e-workflow");
    let cfg = dir.join("dagent.toml");
    std::fs::write(&cfg, planning_config(&url("DAGENT_E2E_LLM_URL"))).unwrap();
    let out_dir = dir.join("out");
    let report = dir.join("report.json");
    let out = dagent(&[
        "run",
        "--workflow",
        "standard",
        "--request",
        "A Python function that adds two numbers.",
        "--config",
        cfg.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--no-store",
    ]);
    eprintln!("e2e workflow: {out}");
    assert_eq!(out.status, 0, "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let tasks = r["tasks"].as_array().unwrap();
    assert!(tasks.iter().all(|t| t["status"] == "succeeded"), "{r}");
    // The review loop ran 1 to 3 times (the small model may not give a verdict line, which
    // does not approve): clarify and architect, then code and three reviews per iteration.
    let l = &r["loops"][0];
    let iterations = l["iterations_run"].as_u64().unwrap();
    assert!((1..=3).contains(&iterations), "{l}");
    assert_eq!(tasks.len() as u64, 2 + 4 * iterations, "{r}");
    let stop = l["stop"].as_str().unwrap();
    assert!(
        stop == "approved" || (stop == "max_iterations" && iterations == 3),
        "{l}"
    );
    for f in [
        "generated_code.txt",
        "review_results/correctness.md",
        "review_results/design.md",
        "review_results/performance.md",
    ] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
        assert!(!text.trim().is_empty(), "{f} is empty");
        assert!(out.stdout.contains(f), "the report lists {f}");
    }
}

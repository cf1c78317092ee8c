//! Seeing a run from outside, through the `dagent` binary: the OTLP trace export received
//! by an in-process collector (span tree, GenAI attributes, no key), and the live metrics
//! server scraped while a run is held in flight (counts agree with the final report).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{command, dagent_env, scratch};

const KEY: &str = "sk-obs-secret-0123456789abcdef";

/// A chat answer that echoes the key in its text and as the model name, with this usage.
fn echo_answer(req: &Request, prompt_tokens: u64, completion_tokens: u64) -> ResponseTemplate {
    let key = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map_or_else(String::new, |v| v.trim_start_matches("Bearer ").to_owned());
    ResponseTemplate::new(200).set_body_json(json!({
        "model": key,
        "choices": [{ "message": { "role": "assistant",
            "content": format!("done; your key is {key}") }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens }
    }))
}

/// Provider `a` (OpenAI-compatible, keyed) at `url`, models `remote` and `other`.
fn config(url: &str) -> String {
    format!(
        r#"[providers.a]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "DAGENT_TEST_KEY"

[models.remote]
provider = "a"
id = "vendor/remote"
pricing = {{ input = "1", output = "2" }}
context_window = 8192
max_output_tokens = 64

[models.other]
provider = "a"
id = "vendor/other"
pricing = {{ input = "3", output = "5" }}
context_window = 8192
max_output_tokens = 64

[routing]
default_model = "remote"
"#
    )
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str<'a>(span: &'a Span, key: &str) -> &'a str {
    match attr(span, key) {
        Some(Any::StringValue(s)) => s,
        other => panic!("{} has no string {key}: {other:?}", span.name),
    }
}

fn attr_int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(Any::IntValue(n)) => *n,
        other => panic!("{} has no integer {key}: {other:?}", span.name),
    }
}

/// Every span the collector received, and the raw bodies.
async fn received_spans(collector: &MockServer) -> (Vec<Span>, Vec<Vec<u8>>) {
    let requests = collector.received_requests().await.unwrap_or_default();
    let mut spans = Vec::new();
    let mut bodies = Vec::new();
    for r in requests {
        assert_eq!(r.url.path(), "/v1/traces");
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/x-protobuf")
        );
        let export = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("OTLP protobuf");
        for rs in export.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|res| res.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone());
            assert_eq!(service, Some(Any::StringValue("dagent".into())));
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        bodies.push(r.body);
    }
    (spans, bodies)
}

async fn collector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// A real run exports its spans over OTLP: run → task → attempt → model call, one trace,
/// GenAI attributes and dagent's own on the call, the run id on the run; the key the
/// server echoes appears nowhere in the export. The flag wins over
/// OTEL_EXPORTER_OTLP_ENDPOINT, which works alone too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_exports_its_span_tree_over_otlp_with_genai_attributes_and_no_key() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|req: &Request| echo_answer(req, 11, 5))
        .mount(&provider)
        .await;
    let flagged = collector().await;
    let by_env = collector().await;
    let dir = scratch("obs-otlp");
    std::fs::write(dir.join("dagent.toml"), config(&provider.uri())).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        "[[tasks]]\nid = \"draft\"\ntitle = \"Draft the note\"\n\n[[tasks]]\nid = \"polish\"\ntitle = \"Polish the note\"\ndepends_on = [\"draft\"]\n",
    )
    .unwrap();
    let cfg = dir.join("dagent.toml");
    let plan = dir.join("plan.toml");
    let store = dir.join("runs.db");
    let flagged_uri = flagged.uri();
    let by_env_uri = by_env.uri();
    let args = [
        "--otlp-endpoint",
        flagged_uri.as_str(),
        "run",
        plan.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--report",
        "-",
    ];
    // The binary blocks this thread; the stubs run on the runtime's other workers.
    let out = tokio::task::block_in_place(|| {
        dagent_env(
            &args,
            &[
                ("DAGENT_TEST_KEY", KEY),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", by_env_uri.as_str()),
            ],
        )
    });
    assert_eq!(out.status, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("the report");
    let run_id = report["run_id"].as_str().expect("a stored run has an id");

    let (spans, bodies) = received_spans(&flagged).await;
    assert!(
        by_env
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the flag wins over OTEL_EXPORTER_OTLP_ENDPOINT"
    );
    for body in &bodies {
        assert!(
            !body.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is in the export"
        );
    }
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let runs = named("run");
    assert_eq!(
        runs.len(),
        1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let run = runs[0];
    assert!(run.parent_span_id.is_empty(), "the run is the root");
    assert_eq!(attr_str(run, "run_id"), run_id);
    assert_eq!(attr_int(run, "tasks"), 2);
    assert!(
        spans.iter().all(|s| s.trace_id == run.trace_id),
        "one trace per run"
    );
    let tasks = named("task");
    assert_eq!(tasks.len(), 2);
    let calls = named("chat vendor/remote");
    assert_eq!(calls.len(), 2, "one model call per task");
    for task in &tasks {
        assert_eq!(task.parent_span_id, run.span_id, "task → run");
        let id = attr_str(task, "task");
        let attempts: Vec<&Span> = named("attempt")
            .into_iter()
            .filter(|a| a.parent_span_id == task.span_id)
            .collect();
        assert_eq!(attempts.len(), 1, "attempt → task {id}");
        assert_eq!(attr_int(attempts[0], "attempt"), 1);
        let call: Vec<&Span> = calls
            .iter()
            .copied()
            .filter(|c| c.parent_span_id == attempts[0].span_id)
            .collect();
        assert_eq!(call.len(), 1, "model call → attempt of {id}");
        let call = call[0];
        assert_eq!(call.kind, 3, "a client span");
        assert_eq!(attr_str(call, "gen_ai.operation.name"), "chat");
        assert_eq!(attr_str(call, "gen_ai.system"), "a");
        assert_eq!(attr_str(call, "gen_ai.provider.name"), "a");
        assert_eq!(attr_str(call, "gen_ai.request.model"), "vendor/remote");
        assert_eq!(attr_int(call, "gen_ai.request.max_tokens"), 64);
        assert_eq!(attr_int(call, "gen_ai.usage.input_tokens"), 11);
        assert_eq!(attr_int(call, "gen_ai.usage.output_tokens"), 5);
        assert!(attr(call, "gen_ai.response.model").is_some());
        assert_eq!(attr_str(call, "task"), id);
        assert_eq!(attr_int(call, "attempt"), 1);
        assert_eq!(attr_str(call, "model"), "remote");
        assert_eq!(attr_str(call, "endpoint"), "a");
        assert_eq!(attr_str(call, "status"), "ok");
        // 11 input tokens at $1/M and 5 output at $2/M: 21 µ$.
        assert_eq!(attr_int(call, "cost_nanos"), 21_000);
    }

    // OTEL_EXPORTER_OTLP_ENDPOINT alone switches the export on.
    let env_args = [
        "run",
        plan.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--no-store",
        "-q",
    ];
    let out = tokio::task::block_in_place(|| {
        dagent_env(
            &env_args,
            &[
                ("DAGENT_TEST_KEY", KEY),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", by_env_uri.as_str()),
            ],
        )
    });
    assert_eq!(out.status, 0, "{}", out.stderr);
    let (spans, _) = received_spans(&by_env).await;
    assert_eq!(spans.iter().filter(|s| s.name == "run").count(), 1);
    assert!(!out.stderr.contains(KEY) && !out.stdout.contains(KEY));
}

/// A bad endpoint is bad input, before anything runs.
#[test]
fn an_otlp_endpoint_that_is_not_an_http_url_is_refused() {
    let out = dagent_env(
        &[
            "--otlp-endpoint",
            "localhost:4318",
            "run",
            "examples/ten-cities.toml",
            "--simulate",
            "--no-store",
        ],
        &[],
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(out.stderr.contains("http://"), "{}", out.stderr);
}

/// An endpoint with credentials in it is refused, from the flag or the environment, and
/// the secret is not echoed.
#[test]
fn an_otlp_endpoint_with_credentials_is_refused_without_echoing_them() {
    let secret = "s3cretpw-otlp";
    let url = format!("http://user:{secret}@127.0.0.1:1");
    let run = [
        "run",
        "examples/ten-cities.toml",
        "--simulate",
        "--no-store",
    ];
    let mut by_flag = vec!["--otlp-endpoint", url.as_str()];
    by_flag.extend(run);
    for out in [
        dagent_env(&by_flag, &[]),
        dagent_env(&run, &[("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str())]),
    ] {
        assert_eq!(out.status, 2, "{}", out.stderr);
        assert!(out.stderr.contains("carries credentials"), "{}", out.stderr);
        assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    }
}

/// A gate the stub holds one answer behind.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    /// The held request reached the stub.
    waiting: AtomicBool,
    /// Answers served.
    served: AtomicUsize,
}

impl Gate {
    fn wait(&self) {
        self.waiting.store(true, Ordering::SeqCst);
        let open = self.open.lock().unwrap();
        // Bounded: a broken test fails instead of hanging.
        let _ = self
            .opened
            .wait_timeout_while(open, Duration::from_secs(120), |open| !*open)
            .unwrap();
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// One sample of a Prometheus text exposition: `name{k="v",…}` with labels in any order.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            if n != name {
                return None;
            }
            let got: HashMap<&str, &str> = rest
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            let want: HashMap<&str, &str> = labels.iter().copied().collect();
            (got == want).then(|| value.parse().ok())?
        })
}

/// `/metrics`, `/status` and `/health` scraped while a run is held with its last task in
/// flight agree with what the stub served; the final report agrees with the scrape plus
/// the released task. No scrape carries the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_a_live_run_matches_what_was_served_and_the_final_report() {
    let gate = Arc::new(Gate::default());
    let provider = MockServer::start().await;
    let g = Arc::clone(&gate);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |req: &Request| {
            if String::from_utf8_lossy(&req.body).contains("HOLD-THIS-ONE") {
                g.wait();
                g.served.fetch_add(1, Ordering::SeqCst);
                return echo_answer(req, 100, 40);
            }
            g.served.fetch_add(1, Ordering::SeqCst);
            echo_answer(req, 10, 4)
        })
        .mount(&provider)
        .await;
    let dir = scratch("obs-metrics");
    std::fs::write(dir.join("dagent.toml"), config(&provider.uri())).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        r#"[[tasks]]
id = "a"
title = "Collect the figures"
estimate = "20s"

[[tasks]]
id = "b"
title = "Collect the quotes"
model = "other"
estimate = "20s"

[[tasks]]
id = "c"
title = "Write it up"
description = "HOLD-THIS-ONE"
depends_on = ["a", "b"]
estimate = "30s"
"#,
    )
    .unwrap();
    let mut child = command()
        .args([
            "run",
            dir.join("plan.toml").to_str().unwrap(),
            "--config",
            dir.join("dagent.toml").to_str().unwrap(),
            "--no-store",
            "--report",
            "-",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("DAGENT_TEST_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dagent");
    // The server says where it listens on its first line of stderr.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr_lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("metrics: http://") {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the metrics address on stderr");
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let get = |p: &str| {
        let http = http.clone();
        let url = format!("{base}{p}");
        async move {
            let r = http.get(url).send().await.expect("scrape");
            assert!(r.status().is_success());
            r.text().await.unwrap()
        }
    };
    // Poll (bounded) until a and b are done and c is held at the stub.
    let mut status = Value::Null;
    for _ in 0..1200 {
        status = serde_json::from_str(&get("/status").await).unwrap();
        if gate.waiting.load(Ordering::SeqCst) && status["progress"]["succeeded"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gate.waiting.load(Ordering::SeqCst),
        "c reached the stub: {status}"
    );
    let metrics = get("/metrics").await;
    let status_text = get("/status").await;
    let health = get("/health").await;
    status = serde_json::from_str(&status_text).unwrap();
    for scraped in [&metrics, &status_text, &health] {
        assert!(
            !scraped.contains(KEY),
            "a scrape carries the key: {scraped}"
        );
    }
    assert_eq!(gate.served.load(Ordering::SeqCst), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&health).unwrap()["status"],
        "ok"
    );

    // Task states and in-flight counts.
    let m = |name: &str, labels: &[(&str, &str)]| {
        sample(&metrics, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{metrics}"))
    };
    assert_eq!(m("dagent_tasks", &[("state", "succeeded")]), 2.0);
    assert_eq!(m("dagent_tasks", &[("state", "running")]), 1.0);
    assert_eq!(m("dagent_tasks", &[("state", "pending")]), 0.0);
    assert_eq!(m("dagent_tasks_in_flight", &[]), 1.0);
    assert_eq!(m("dagent_provider_in_flight", &[("provider", "a")]), 1.0);
    // What the stub served: a on remote, b on other, 10 + 4 tokens each.
    for model in ["remote", "other"] {
        assert_eq!(
            m(
                "dagent_tokens_total",
                &[("model", model), ("direction", "input")]
            ),
            10.0
        );
        assert_eq!(
            m(
                "dagent_tokens_total",
                &[("model", model), ("direction", "output")]
            ),
            4.0
        );
        assert_eq!(
            m(
                "dagent_provider_latency_seconds_count",
                &[("provider", "a"), ("model", model)]
            ),
            1.0
        );
    }
    // remote: 10 × $1/M + 4 × $2/M = $0.000018; other: 10 × $3/M + 4 × $5/M = $0.00005.
    // Summed exactly (integer nano-dollars), so the text is the exact decimal.
    assert!(metrics.contains("dagent_cost_usd_total{model=\"remote\"} 0.000018\n"));
    assert!(metrics.contains("dagent_cost_usd_total{model=\"other\"} 0.00005\n"));
    assert!(metrics.contains("dagent_spent_usd 0.000068\n"));
    assert_eq!(m("dagent_breaker_open", &[]), 0.0);
    assert!(
        sample(&metrics, "dagent_budget_remaining_usd", &[]).is_none(),
        "no budget set"
    );
    // c's estimate is 30 s and it has just started: the ETA is at most that, and positive.
    let eta = m("dagent_eta_seconds", &[]);
    assert!(eta > 0.0 && eta <= 30.0, "{eta}");

    // /status: the running task with its title, model and attempt; progress; spend.
    assert!(status["run_id"].is_null(), "--no-store: no run id");
    assert_eq!(status["progress"]["total"], 3);
    assert_eq!(status["progress"]["done"], 2);
    assert_eq!(status["progress"]["running"], 1);
    let running = status["running"].as_array().unwrap();
    assert_eq!(running.len(), 1, "{status}");
    assert_eq!(running[0]["id"], "c");
    assert_eq!(running[0]["title"], "Write it up");
    assert_eq!(running[0]["model"], "remote");
    assert_eq!(running[0]["attempt"], 1);
    assert!(running[0]["elapsed_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(status["spent_usd"], "0.000068");
    assert!(status["eta_seconds"].as_f64().unwrap() > 0.0);

    // Release c; the report adds exactly it to what was scraped.
    gate.release();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = stderr_lines.join().unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(KEY));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report");
    assert_eq!(report["counts"]["succeeded"], 2 + 1);
    assert_eq!(gate.served.load(Ordering::SeqCst), 3);
    let by_model = &report["cost"]["by_model"];
    assert_eq!(by_model["other"]["prompt_tokens"], 10);
    assert_eq!(by_model["other"]["completion_tokens"], 4);
    assert_eq!(by_model["remote"]["prompt_tokens"], 10 + 100);
    assert_eq!(by_model["remote"]["completion_tokens"], 4 + 40);
    assert_eq!(by_model["remote"]["calls"], 2);
    // remote: $0.000018 scraped + 100 × $1/M + 40 × $2/M.
    assert_eq!(by_model["remote"]["cost_usd"], "0.000198");
}

/// A metrics address that cannot be used is bad input, found before the run starts.
#[test]
fn a_metrics_address_in_use_is_refused_before_anything_runs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = dagent_env(
        &[
            "run",
            "examples/ten-cities.toml",
            "--simulate",
            "--no-store",
            "--metrics-addr",
            &port,
        ],
        &[],
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--metrics-addr") && out.stderr.contains("nothing was spent"),
        "{}",
        out.stderr
    );
    let out = dagent_env(
        &[
            "run",
            "examples/ten-cities.toml",
            "--simulate",
            "--no-store",
            "--metrics-addr",
            "nowhere",
        ],
        &[],
    );
    assert_eq!(out.status, 2, "{}", out.stderr);
}

/// A collector that cannot be reached does not fail the run, but the user hears that the
/// traces went nowhere.
#[test]
fn an_unreachable_collector_is_reported_and_the_run_still_succeeds() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = dagent_env(
        &[
            "--otlp-endpoint",
            &url,
            "run",
            "examples/ten-cities.toml",
            "--simulate",
            "--time-scale",
            "0.001",
            "--no-store",
            "-q",
        ],
        &[],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "warning: traces could not be exported to {url}/v1/traces"
        )),
        "{}",
        out.stderr
    );
}

/// `dagent ARGS… --metrics-addr 127.0.0.1:0 --no-store --report -` started in the
/// background: the child, the metrics server's base URL and the thread collecting stderr.
async fn spawn_with_metrics(
    args: &[&str],
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut child = command()
        .args(args)
        .args([
            "--no-store",
            "--report",
            "-",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("DAGENT_TEST_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dagent");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("metrics: http://") {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the metrics address on stderr");
    (child, format!("http://{addr}"), lines)
}

async fn scrape(base: &str, p: &str) -> String {
    let r = reqwest::get(format!("{base}{p}")).await.expect("scrape");
    assert!(r.status().is_success());
    r.text().await.unwrap()
}

/// Waits (bounded) until the gate holds a request, then scrapes `/metrics` and `/status`.
async fn scrape_at_the_gate(gate: &Gate, base: &str) -> (String, Value) {
    for _ in 0..1200 {
        if gate.waiting.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gate.waiting.load(Ordering::SeqCst),
        "nothing reached the gate"
    );
    let metrics = scrape(base, "/metrics").await;
    let status = serde_json::from_str(&scrape(base, "/status").await).unwrap();
    (metrics, status)
}

/// The report of a finished child (its stdout), after checking it succeeded.
async fn report_of(child: std::process::Child, lines: std::thread::JoinHandle<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = lines.join().unwrap();
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("the report")
}

/// A review loop appends its second iteration while the run goes on: scraped with that
/// iteration's first task held at the stub, `/metrics` and `/status` count the appended
/// tasks (running and pending, with the title of the task they copy), the ETA counts what
/// is left of them, and the totals agree with the final report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_appended_by_a_review_loop_are_counted_live_and_agree_with_the_report() {
    let gate = Arc::new(Gate::default());
    let provider = MockServer::start().await;
    let g = Arc::clone(&gate);
    let asked: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let prompt = body["messages"][1]["content"].as_str().unwrap_or("");
            let title = prompt
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# Task: "))
                .unwrap_or("")
                .to_owned();
            let n = {
                let mut asked = asked.lock().unwrap();
                let n = asked.entry(title.clone()).or_default();
                *n += 1;
                *n
            };
            let answer = match (title.as_str(), n) {
                ("Write the code", 2) => {
                    // The second iteration's code: held until the test has scraped.
                    g.wait();
                    "fn main() {}".to_owned()
                }
                ("Review the code", 1) => "Needs tests.\nVERDICT: CHANGES".to_owned(),
                ("Review the code", _) => "VERDICT: APPROVED".to_owned(),
                _ => format!("{title}, version {n}"),
            };
            g.served.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(200).set_body_json(json!({
                "model": body["model"],
                "choices": [{ "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 4 }
            }))
        })
        .mount(&provider)
        .await;
    let dir = scratch("obs-loop");
    std::fs::write(dir.join("dagent.toml"), config(&provider.uri())).unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        r#"[[tasks]]
id = "code"
title = "Write the code"
estimate = "10s"

[[tasks]]
id = "review"
title = "Review the code"
depends_on = ["code"]
estimate = "5s"

[[tasks]]
id = "docs"
title = "Document it"
depends_on = ["code", "review"]
estimate = "2s"

[[loops]]
id = "review"
tasks = ["code", "review"]
repeat_until = "APPROVED"
max_iterations = 3
"#,
    )
    .unwrap();
    let (child, base, lines) = spawn_with_metrics(&[
        "run",
        dir.join("plan.toml").to_str().unwrap(),
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
    ])
    .await;
    let (metrics, status) = scrape_at_the_gate(&gate, &base).await;
    let m = |name: &str, labels: &[(&str, &str)]| {
        sample(&metrics, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{metrics}"))
    };
    // code and review (iteration 1) succeeded; code#2 runs; review#2 (appended) and docs
    // wait: 5 tasks, 2 of them appended, where the plan has 3.
    assert_eq!(m("dagent_tasks", &[("state", "succeeded")]), 2.0);
    assert_eq!(m("dagent_tasks", &[("state", "running")]), 1.0);
    assert_eq!(m("dagent_tasks", &[("state", "pending")]), 2.0);
    let states: f64 = [
        "pending",
        "running",
        "retrying",
        "succeeded",
        "failed",
        "skipped",
        "cancelled",
    ]
    .iter()
    .map(|s| m("dagent_tasks", &[("state", s)]))
    .sum();
    assert_eq!(states, 5.0, "{metrics}");
    assert_eq!(m("dagent_tasks_in_flight", &[]), 1.0);
    assert_eq!(status["progress"]["total"], 5, "{status}");
    assert_eq!(status["progress"]["done"], 2);
    assert_eq!(status["progress"]["pending"], 2);
    let running = status["running"].as_array().unwrap();
    assert_eq!(running.len(), 1, "{status}");
    assert_eq!(running[0]["id"], "code#2");
    assert_eq!(running[0]["title"], "Write the code");
    assert_eq!(running[0]["model"], "remote");
    // Left: what remains of code#2 (≤ 10 s), then review#2 (5 s, appended) and docs (2 s).
    // Without the appended tasks it would be docs' 2 s at most.
    let eta = m("dagent_eta_seconds", &[]);
    assert!((7.0..=17.0).contains(&eta), "{eta}");
    assert_eq!(status["eta_seconds"].as_f64().map(|e| e >= 7.0), Some(true));

    gate.release();
    let report = report_of(child, lines).await;
    let tasks = report["tasks"].as_array().unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    for id in ["code", "review", "docs", "code#2", "review#2"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    assert_eq!(report["counts"]["succeeded"], 5);
    // One more call after the scrape for each of code#2, review#2 and docs.
    assert_eq!(gate.served.load(Ordering::SeqCst), 2 + 3);
}

/// A provider with two base URLs, the first refusing connections: scraped after the first
/// calls with the third held at the stub, the per-endpoint series show each URL's requests,
/// errors, failovers and cooldown; `/status` lists the same; the report's Endpoints section
/// ends with the same figures (the held call then done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_endpoint_series_show_each_base_url_and_agree_with_the_report() {
    let gate = Arc::new(Gate::default());
    let good = MockServer::start().await;
    let g = Arc::clone(&gate);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |req: &Request| {
            if String::from_utf8_lossy(&req.body).contains("HOLD-THIS-ONE") {
                g.wait();
            }
            g.served.fetch_add(1, Ordering::SeqCst);
            echo_answer(req, 10, 4)
        })
        .mount(&good)
        .await;
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead_url = format!("http://{dead}/v1");
    let good_url = format!("{}/v1", good.uri());
    let dir = scratch("obs-endpoints");
    std::fs::write(
        dir.join("dagent.toml"),
        format!(
            r#"[parallelization]
max_concurrent_tasks = 1
max_retries = 0

[providers.pool]
kind = "openai"
base_urls = ["{dead_url}", "{good_url}"]
api_key_env = "DAGENT_TEST_KEY"
balance = "priority"
allowed_fails = 2
cooldown_seconds = 600

[models.m]
provider = "pool"
pricing = {{ input = "1", output = "1" }}

[routing]
default_model = "m"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        r#"[[tasks]]
id = "a"
title = "First"

[[tasks]]
id = "b"
title = "Second"
depends_on = ["a"]

[[tasks]]
id = "c"
title = "Third"
description = "HOLD-THIS-ONE"
depends_on = ["b"]
"#,
    )
    .unwrap();
    let (child, base, lines) = spawn_with_metrics(&[
        "run",
        dir.join("plan.toml").to_str().unwrap(),
        "--config",
        dir.join("dagent.toml").to_str().unwrap(),
    ])
    .await;
    let (metrics, status) = scrape_at_the_gate(&gate, &base).await;
    assert!(!metrics.contains(KEY) && !status.to_string().contains(KEY));
    let at = |name: &str, url: &str| {
        sample(&metrics, name, &[("provider", "pool"), ("endpoint", url)])
            .unwrap_or_else(|| panic!("no {name} for {url} in\n{metrics}"))
    };
    // a and b each failed at the dead URL and went on to the good one; after two failures
    // in a row the dead URL cools down, so c went straight to the good one, where it is held.
    assert_eq!(at("dagent_endpoint_requests_total", &dead_url), 2.0);
    assert_eq!(at("dagent_endpoint_errors_total", &dead_url), 2.0);
    assert_eq!(at("dagent_endpoint_failovers_total", &dead_url), 2.0);
    assert_eq!(at("dagent_endpoint_cooldowns_total", &dead_url), 1.0);
    assert_eq!(at("dagent_endpoint_cooling_down", &dead_url), 1.0);
    assert_eq!(at("dagent_endpoint_in_flight", &dead_url), 0.0);
    assert_eq!(at("dagent_endpoint_requests_total", &good_url), 3.0);
    assert_eq!(at("dagent_endpoint_errors_total", &good_url), 0.0);
    assert_eq!(at("dagent_endpoint_cooling_down", &good_url), 0.0);
    assert_eq!(at("dagent_endpoint_in_flight", &good_url), 1.0);
    assert!(
        !metrics.contains("dagent_endpoint_adaptive_limit"),
        "adaptive is off: {metrics}"
    );
    let live = status["endpoints"].as_array().unwrap();
    assert_eq!(live.len(), 2, "{status}");
    assert_eq!(live[0]["endpoint"], dead_url.as_str());
    assert_eq!(live[0]["errors"], 2);
    assert_eq!(live[0]["cooling_down"], true);
    assert_eq!(live[1]["endpoint"], good_url.as_str());
    assert_eq!(live[1]["in_flight"], 1);

    gate.release();
    let report = report_of(child, lines).await;
    let eps = report["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2, "{report}");
    for (ep, scraped) in eps.iter().zip(live) {
        assert_eq!(ep["url"], scraped["endpoint"]);
        for field in [
            "requests",
            "errors",
            "failovers",
            "cooldowns",
            "cooling_down",
        ] {
            assert_eq!(ep[field], scraped[field], "{field} of {}", ep["url"]);
        }
    }
    assert_eq!(eps[1]["in_flight"], 0);
    assert_eq!(gate.served.load(Ordering::SeqCst), 3);
}

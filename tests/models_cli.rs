//! `dagent run` against providers, `dagent models` and `dagent cost`, through the binary.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{dagent, dagent_env, scratch};

const KEY: &str = "sk-or-v1-THIS-IS-A-TEST-KEY-42";

fn completion(req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let user = body["messages"][1]["content"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let answer = format!("answer to: {}", user.lines().next().unwrap_or(""));
    ResponseTemplate::new(200).set_body_json(json!({
        "model": body["model"], "choices": [{ "message": { "role": "assistant", "content": answer }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 20 }
    }))
}

fn config(url: &str, extra: &str) -> String {
    format!(
        r#"[providers.stub]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "DAGENT_TEST_KEY"
max_concurrent = 2

[models.cheap]
provider = "stub"
id = "vendor/cheap"
pricing = {{ input = "0.25", output = "1.25" }}
context_window = 4096
max_output_tokens = 64

[routing]
default_model = "cheap"
{extra}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_against_a_provider_reports_models_tokens_and_exact_cost() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(completion)
        .mount(&server)
        .await;
    let dir = scratch("models-run");
    let heuristic = "\n[parallelization]\ndependency_strategy = \"heuristic\"\n";
    std::fs::write(dir.join("dagent.toml"), config(&server.uri(), heuristic)).unwrap();
    let report = dir.join("r.json");
    let out_plan = dir.join("out.json");
    let args = [
        "run".to_owned(),
        "examples/deerflow-ai-agents.json".to_owned(),
        "--config".to_owned(),
        dir.join("dagent.toml").display().to_string(),
        "--report".to_owned(),
        report.display().to_string(),
        "--write-back".to_owned(),
        out_plan.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dagent_env(&refs, &[("DAGENT_TEST_KEY", KEY)])
    })
    .await
    .unwrap();
    assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["simulated"], false);
    for t in r["tasks"].as_array().unwrap() {
        assert_eq!(t["model"], "cheap");
        assert_eq!(t["prompt_tokens"], 100);
        assert_eq!(t["completion_tokens"], 20);
        // 100 × $0.25/M + 20 × $1.25/M = $0.00005
        assert_eq!(t["cost_usd"], "0.00005");
    }
    assert_eq!(r["cost"]["total_usd"], "0.00025");
    assert!(
        out.stdout.contains("cheap · 100+20 tokens · $0.00005"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Tokens 500 in + 100 out · cost $0.00025"),
        "{}",
        out.stdout
    );
    assert_eq!(r["cost"]["by_model"]["cheap"]["calls"], 5);
    assert_eq!(r["cost"]["monthly_projection_usd"], "0.0075");
    // Every request carried the key; nothing the user sees does.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5);
    assert!(requests.iter().all(
        |q| q.headers.get("authorization").unwrap().to_str().unwrap() == format!("Bearer {KEY}")
    ));
    // The step that compares the frameworks received the tabulation's output (its dependency).
    let sent: Vec<Value> = requests
        .iter()
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    let compare = sent
        .iter()
        .find(|b| {
            b["messages"][1]["content"]
                .as_str()
                .unwrap()
                .starts_with("# Task: Compare")
        })
        .unwrap();
    assert!(
        compare["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("answer to: # Task: Tabulate GitHub activity")
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_plan).unwrap()).unwrap();
    assert_eq!(
        written["steps"][0]["execution_res"],
        "answer to: # Task: Research LangGraph"
    );
    for text in [
        &out.stdout,
        &out.stderr,
        &std::fs::read_to_string(&report).unwrap(),
        &std::fs::read_to_string(&out_plan).unwrap(),
    ] {
        assert!(!text.contains(KEY), "the key leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_by_the_server_is_scrubbed_and_auth_failures_exit_1() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let auth = req
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": format!("bad key {auth}")}}))
        })
        .mount(&server)
        .await;
    let dir = scratch("models-auth");
    std::fs::write(dir.join("dagent.toml"), config(&server.uri(), "")).unwrap();
    let report = dir.join("r.json");
    let (cfg, rep) = (
        dir.join("dagent.toml").display().to_string(),
        report.display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        dagent_env(
            &[
                "run",
                "tests/fixtures/run/fast.toml",
                "--config",
                &cfg,
                "--report",
                &rep,
            ],
            &[("DAGENT_TEST_KEY", KEY)],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status, 1, "{out}");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("bad key Bearer ***"), "{text}");
    assert!(!text.contains(KEY) && !out.stderr.contains(KEY) && !out.stdout.contains(KEY));
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["tasks"][0]["error"]["kind"], "permanent");
    assert_eq!(r["tasks"][0]["attempts"], 1, "auth errors are not retried");
}

#[test]
fn missing_key_unknown_models_and_bad_prices_are_input_errors() {
    let dir = scratch("models-errors");
    let cfg = dir.join("dagent.toml");
    std::fs::write(&cfg, "[providers.openrouter]\nkind = \"openrouter\"\n").unwrap();
    let out = dagent_env(
        &[
            "run",
            "examples/ten-cities.toml",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[("OPENROUTER_API_KEY", "")],
    );
    assert_eq!(out.status, 2);
    assert!(
        out.stderr
            .contains("set the environment variable OPENROUTER_API_KEY"),
        "{}",
        out.stderr
    );
    for (file, needle) in [
        (
            "bad-provider.toml",
            "bad-provider.toml:6:12: model \"small\" names provider \"lokal\", which is not configured (configured: local)",
        ),
        (
            "bad-price.toml",
            "bad-price.toml:7:37: pricing.output: invalid amount \"cheap\"",
        ),
        (
            "bad-route.toml",
            "bad-route.toml:3:31: unknown model \"gpt-9\"",
        ),
    ] {
        let out = dagent(&[
            "models",
            "--config",
            &format!("tests/fixtures/models/{file}"),
        ]);
        assert_eq!(out.status, 2, "{file}");
        assert!(out.stderr.contains(needle), "{file}: {}", out.stderr);
    }
    let out = dagent(&[
        "run",
        "examples/ten-cities.toml",
        "--config",
        "tests/fixtures/run/fail-fast.toml",
    ]);
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("no model provider is configured"),
        "{}",
        out.stderr
    );
}

#[test]
fn models_shows_the_routing_of_a_plan() {
    let dir = scratch("models-show");
    let cfg = dir.join("dagent.toml");
    std::fs::write(
        &cfg,
        "[providers.openrouter]\nkind = \"openrouter\"\n\n[routing]\ntier = \"budget\"\nfallbacks = [\"llama-3.3-70b\"]\n\n[roles.analyst]\nmodel = \"deepseek-r1\"\ntemperature = 0.3\n",
    )
    .unwrap();
    let out = dagent_env(
        &[
            "models",
            "--config",
            cfg.to_str().unwrap(),
            "--plan",
            "examples/ten-cities.toml",
            "--format",
            "json",
        ],
        &[("OPENROUTER_API_KEY", "")],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["routing"]["tier"], "budget");
    assert_eq!(v["providers"][0]["api_key_set"], false);
    let task = |id: &str| {
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(task("tokyo")["model"], "glm-4-9b", "budget tier, general");
    assert_eq!(task("patterns")["model"], "deepseek-r1", "role analyst");
    assert_eq!(task("patterns")["fallbacks"], json!(["llama-3.3-70b"]));
    let text = dagent(&["models", "--config", cfg.to_str().unwrap()]);
    assert!(text.stdout.contains("*budget"), "{}", text.stdout);
}

#[test]
fn cost_calculator_table_and_json() {
    let out = dagent(&[
        "cost",
        "--models",
        "deepseek-chat,llama-3.3-70b,claude-3.5-sonnet",
        "--input-tokens",
        "2000",
        "--output-tokens",
        "500",
        "--requests-per-day",
        "1000",
    ]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    insta::assert_snapshot!("cost_table", out.stdout);
    let out = dagent(&[
        "cost",
        "--models",
        "deepseek-chat,claude-3.5-sonnet",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let row = |m: &str| {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == m)
            .unwrap()
            .clone()
    };
    // 1000 in × $0.15/M + 500 out × $0.15/M = $0.000225 per request; × 30,000 requests.
    assert_eq!(row("deepseek-chat")["per_request_usd"], "0.000225");
    assert_eq!(row("deepseek-chat")["monthly_usd"], "6.75");
    assert_eq!(row("claude-3.5-sonnet")["monthly_usd"], "315.00");
    assert_eq!(row("deepseek-chat")["savings_vs_baseline_usd"], "308.25");
    assert_eq!(row("deepseek-chat")["savings_vs_baseline_percent"], 97.9);
    let bad = dagent(&["cost", "--models", "gpt-9"]);
    assert_eq!(bad.status, 2);
    assert!(bad.stderr.contains("unknown model \"gpt-9\""));
}

/// A config with provider `a` (OpenAI-compatible, with the key) and `b` (Ollama, no key of
/// its own) both under `{url}/{tag}`, routing tasks and dependency analysis to `model`.
fn echo_config(url: &str, tag: &str, stream: bool, model: &str) -> String {
    format!(
        r#"[parallelization]
analyzer_model = "{model}"

[providers.a]
kind = "openai"
base_url = "{url}/{tag}/v1"
api_key_env = "DAGENT_TEST_KEY"
stream = {stream}

[providers.b]
kind = "ollama"
base_url = "{url}/{tag}"
stream = {stream}

[models.remote]
provider = "a"
id = "vendor/remote"
pricing = {{ input = "1", output = "1" }}
context_window = 8192
max_output_tokens = 64

[models.local]
provider = "b"
id = "llama3"
pricing = {{ input = "0", output = "0" }}
context_window = 8192
max_output_tokens = 64

[routing]
default_model = "{model}"
"#
    )
}

/// The key echoed back in every place a hostile server can put it — a 200 carrying an error
/// object, a malformed body, an SSE error chunk, an error message with the key across the
/// 400-character cut, the answer itself (streamed and not), by the OpenAI-compatible
/// provider holding the key and by an Ollama provider that learnt it — never reaches
/// stdout, stderr, the `--report` JSON, or `analyze --strategy llm` output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_anywhere_never_reaches_the_user() {
    use crate::providers::{Echo, key_of, ollama_echo, openai_echo};
    use wiremock::matchers::path;
    let modes = [
        Echo::ErrorIn200,
        Echo::Malformed,
        Echo::AtTheCut,
        Echo::InTheAnswer,
        Echo::AsStepId,
    ];
    let server = MockServer::start().await;
    for echo in modes {
        for stream in [false, true] {
            let tag = format!("{echo:?}-{stream}").to_lowercase();
            Mock::given(path(format!("/{tag}/v1/chat/completions")))
                .respond_with(move |req: &Request| openai_echo(echo, &key_of(req), stream))
                .mount(&server)
                .await;
            Mock::given(path(format!("/{tag}/api/chat")))
                .respond_with(move |_: &Request| ollama_echo(echo, KEY, stream))
                .mount(&server)
                .await;
        }
    }
    let dir = scratch("models-echo");
    std::fs::write(
        dir.join("plan.toml"),
        "[[tasks]]\nid = \"tokyo\"\ntitle = \"Research Tokyo\"\n\n[[tasks]]\nid = \"paris\"\ntitle = \"Research Paris\"\n\n[[tasks]]\nid = \"compare\"\ntitle = \"Compare all cities\"\n",
    )
    .unwrap();
    let uri = server.uri();
    let dir2 = dir.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let half = &KEY[..KEY.len() / 2];
        let mut checked = 0;
        for echo in modes {
            for stream in [false, true] {
                for model in ["remote", "local"] {
                    let tag = format!("{echo:?}-{stream}").to_lowercase();
                    let cfg = dir2.join(format!("{tag}-{model}.toml"));
                    std::fs::write(&cfg, echo_config(&uri, &tag, stream, model)).unwrap();
                    let report = dir2.join(format!("{tag}-{model}.json"));
                    let (c, r, p) = (
                        cfg.display().to_string(),
                        report.display().to_string(),
                        dir2.join("plan.toml").display().to_string(),
                    );
                    let env = [("DAGENT_TEST_KEY", KEY)];
                    let run = dagent_env(
                        &[
                            "run",
                            "tests/fixtures/run/fast.toml",
                            "--config",
                            &c,
                            "--report",
                            &r,
                            "--no-retry",
                            // Logs at debug level, as text and as JSON: no secret in them.
                            "-vv",
                            "--log-format",
                            if stream { "json" } else { "text" },
                        ],
                        &env,
                    );
                    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
                    assert!(!report_text.is_empty(), "{tag} {model}: {}", run.stderr);
                    let mut texts = vec![run.stdout, run.stderr, report_text];
                    for format in ["json", "text"] {
                        let a = dagent_env(
                            &[
                                "analyze",
                                &p,
                                "--config",
                                &c,
                                "--strategy",
                                "llm",
                                "--format",
                                format,
                                "-vv",
                            ],
                            &env,
                        );
                        assert_eq!(a.status, 0, "{tag} {model}: {}", a.stderr);
                        texts.extend([a.stdout, a.stderr]);
                    }
                    for t in &texts {
                        assert!(
                            !t.contains(KEY) && !t.contains(half),
                            "{tag} {model}: the key leaked:\n{t}"
                        );
                    }
                    if matches!(echo, Echo::InTheAnswer) {
                        assert!(texts[2].contains("***"), "{tag} {model}: {}", texts[2]);
                    }
                    checked += 1;
                }
            }
        }
        checked
    })
    .await
    .unwrap();
    assert_eq!(checked, 20);
}

/// A base URL that is not an http(s) URL with a host stops the run before any call, as bad
/// input naming the provider (it used to fail every task at run time as a retried
/// "transient" error).
#[test]
fn an_invalid_base_url_is_bad_input_before_anything_runs() {
    let dir = scratch("models-bad-url");
    for (url, needle) in [
        ("not a url", "base_url \"not a url\" is not a URL"),
        ("file:///tmp/models", "uses the scheme \"file\""),
    ] {
        let cfg = dir.join("dagent.toml");
        std::fs::write(
            &cfg,
            format!(
                "[providers.stub]\nkind = \"openai\"\nbase_url = \"{url}\"\n\n[models.cheap]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"1\" }}\n\n[routing]\ndefault_model = \"cheap\"\n"
            ),
        )
        .unwrap();
        let out = dagent(&[
            "run",
            "tests/fixtures/run/fast.toml",
            "--config",
            cfg.to_str().unwrap(),
        ]);
        assert_eq!(out.status, 2, "{url}: {}", out.stderr);
        assert!(
            out.stderr.contains("provider \"stub\": ") && out.stderr.contains(needle),
            "{url}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "nothing ran: {}", out.stdout);
        // Found while loading the configuration, so it points at the value.
        assert!(
            out.stderr.contains("dagent.toml:3:12"),
            "{url}: {}",
            out.stderr
        );
        let analyze = dagent(&[
            "analyze",
            "tests/fixtures/run/fast.toml",
            "--config",
            cfg.to_str().unwrap(),
        ]);
        assert_eq!(analyze.status, 2, "{url}: {}", analyze.stderr);
    }
}

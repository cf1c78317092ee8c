//! Model selection and cost planning through the binary, against a loopback stub:
//! `dagent compare`, `dagent bench-models`, the projected cost of `dagent analyze`, and the
//! cost-aware step-down of `dagent run` under a budget.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{dagent, scratch};

/// `vendor/good` answers every case right; `vendor/cheap` gets the JSON case wrong;
/// `vendor/broken` fails with a 400.
fn answer(req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let prompt = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    if model == "vendor/broken" {
        return ResponseTemplate::new(400)
            .set_body_string("{\"error\":{\"message\":\"bad model\"}}");
    }
    let text = if prompt.contains("capital") {
        "The capital of France is Paris.".to_owned()
    } else if prompt.contains("JSON") {
        if model == "vendor/good" {
            "```json\n{\"name\": \"Ada\", \"age\": 36}\n```".to_owned()
        } else {
            "{\"name\": \"Ada\"}".to_owned()
        }
    } else if prompt.contains("digits") {
        "It is 2024.".to_owned()
    } else if prompt.contains("yes") {
        "  yes \n".to_owned()
    } else {
        format!("{model} says: {prompt}")
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "model": model,
        "choices": [{ "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
    }))
}

async fn stub() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

fn config(dir: &std::path::Path, url: &str, extra: &str) -> String {
    let text = format!(
        r#"[providers.stub]
kind = "openai"
base_url = "{url}/v1"
max_concurrent = 2

[models.good]
provider = "stub"
id = "vendor/good"
pricing = {{ input = "10", output = "20" }}
context_window = 8192
max_output_tokens = 64

[models.cheap]
provider = "stub"
id = "vendor/cheap"
pricing = {{ input = "1", output = "2" }}
context_window = 8192
max_output_tokens = 64

[models.broken]
provider = "stub"
id = "vendor/broken"
pricing = {{ input = "1", output = "1" }}
context_window = 8192
max_output_tokens = 64
{extra}"#
    );
    let path = dir.join("dagent.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn run(args: Vec<String>) -> crate::support::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dagent(&refs)
    })
    .await
    .unwrap()
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_shows_every_model_side_by_side_with_exact_cost() {
    let server = stub().await;
    let dir = scratch("compare");
    let cfg = config(&dir, &server.uri(), "");
    let mut args = strings(&["compare", "Say hello", "--models", "good,cheap", "--config"]);
    args.push(cfg.clone());
    args.extend(strings(&["--format", "json"]));
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let models = doc["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["model"], "good");
    assert_eq!(models[0]["answer"], "vendor/good says: Say hello");
    assert_eq!(models[1]["answer"], "vendor/cheap says: Say hello");
    // 10 × $10/M + 5 × $20/M = $0.0002; 10 × $1/M + 5 × $2/M = $0.00002.
    assert_eq!(models[0]["cost_usd"], "0.0002");
    assert_eq!(models[1]["cost_usd"], "0.00002");
    assert_eq!(models[0]["prompt_tokens"], 10);
    assert_eq!(doc["total_cost_usd"], "0.00022");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    // Text: a table, then each answer; a failing model does not hide the others (exit 1).
    let mut args = strings(&[
        "compare",
        "Say hello",
        "--models",
        "good,broken",
        "--config",
    ]);
    args.push(cfg.clone());
    let out = run(args).await;
    assert_eq!(out.status, 1, "{out}");
    assert!(
        out.stdout
            .contains("── good ──\nvendor/good says: Say hello"),
        "{out}"
    );
    assert!(out.stdout.contains("── broken ──\nFAILED:"), "{out}");

    // Bad input: an unknown model, a duplicate.
    for models in ["good,nope", "good,good"] {
        let mut args = strings(&["compare", "x", "--models", models, "--config"]);
        args.push(cfg.clone());
        let out = run(args).await;
        assert_eq!(out.status, 2, "{out}");
    }
}

const CASES: &str = r#"
[[cases]]
name = "capital"
prompt = "What is the capital of France?"
expect = { contains = "paris", ignore_case = true }

[[cases]]
name = "year"
prompt = "Answer with four digits"
expect = { regex = '\b\d{4}\b' }

[[cases]]
name = "yes"
prompt = "Say yes"
expect = { exact = "yes" }

[[cases]]
name = "person"
prompt = "Return a JSON object for Ada Lovelace with her name and age"
max_tokens = 32
[cases.expect.json_schema]
type = "object"
required = ["name", "age"]
properties = { name = { type = "string" }, age = { type = "integer" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_models_scores_cases_and_names_the_cheapest_model_that_qualifies() {
    let server = stub().await;
    let dir = scratch("bench-models");
    let cfg = config(&dir, &server.uri(), "");
    let cases = dir.join("cases.toml");
    std::fs::write(&cases, CASES).unwrap();
    let report = dir.join("bench.json");
    let base = |rate: &str| {
        let mut a = strings(&["bench-models"]);
        a.push(cases.display().to_string());
        a.extend(strings(&[
            "--models",
            "good,cheap",
            "--min-pass-rate",
            rate,
            "--config",
        ]));
        a.push(cfg.clone());
        a
    };
    let mut args = base("1");
    args.push("--report".into());
    args.push(report.display().to_string());
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let good = &doc["models"][0];
    let cheap = &doc["models"][1];
    assert_eq!(
        (good["passed"].as_u64(), good["total"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        (cheap["passed"].as_u64(), cheap["pass_rate"].as_f64()),
        (Some(3), Some(0.75))
    );
    let failed = cheap["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["passed"] == false)
        .unwrap();
    assert_eq!(failed["case"], "person");
    assert!(
        failed["reason"].as_str().unwrap().contains("schema"),
        "{failed}"
    );
    assert_eq!(good["cost_usd"], "0.0008");
    assert_eq!(doc["cheapest_qualifying"], "good");
    assert!(
        out.stdout
            .contains("Cheapest model with a pass rate of at least 100%: good"),
        "{out}"
    );
    // At 70 % the cheaper model qualifies.
    let mut args = base("0.7");
    args.extend(strings(&["--format", "json"]));
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["cheapest_qualifying"], "cheap");
    // No model qualifies: exit 1.
    let mut args = strings(&["bench-models"]);
    args.push(cases.display().to_string());
    args.extend(strings(&[
        "--models",
        "cheap,broken",
        "--min-pass-rate",
        "1",
        "--config",
    ]));
    args.push(cfg.clone());
    let out = run(args).await;
    assert_eq!(out.status, 1, "{out}");
    assert!(out.stdout.contains("No model reached"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cases_files_are_refused_before_any_call() {
    let server = stub().await;
    let dir = scratch("bench-bad");
    let cfg = config(&dir, &server.uri(), "");
    for (text, needle) in [
        (
            "[[cases]]\nname = \"a\"\nprompt = \"p\"\nexpect = { contains = \"x\", regex = \"y\" }\n",
            "exactly one",
        ),
        (
            "[[cases]]\nname = \"a\"\nprompt = \"p\"\nexpect = { regex = \"(\" }\n",
            "bad regex",
        ),
        (
            "[[cases]]\nname = \"a\"\nprompt = \"p\"\nexpect = { json_schema = { type = 5 } }\n",
            "bad json_schema",
        ),
        (
            "[[cases]]\nname = \"a\"\nprompt = \"p\"\nexpect = { contain = \"x\" }\n",
            "unknown field",
        ),
        ("cases = []\n", "no [[cases]]"),
    ] {
        let path = dir.join("cases.toml");
        std::fs::write(&path, text).unwrap();
        let mut args = strings(&["bench-models"]);
        args.push(path.display().to_string());
        args.extend(strings(&["--models", "good", "--config"]));
        args.push(cfg.clone());
        let out = run(args).await;
        assert_eq!(out.status, 2, "{text}: {out}");
        assert!(out.stderr.contains(needle), "{text}: {out}");
        if text.contains("expect") {
            // The error points at the expectation: file:line:col.
            assert!(out.stderr.contains("cases.toml:4:"), "{text}: {out}");
        }
    }
    let mut args = strings(&[
        "bench-models",
        "x.toml",
        "--models",
        "good",
        "--min-pass-rate",
        "2",
        "--config",
    ]);
    args.push(cfg.clone());
    let out = run(args).await;
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("--min-pass-rate 2"), "{out}");
    // A command refused before any call leaves an existing --report file as it was.
    let cases = dir.join("good-cases.toml");
    std::fs::write(
        &cases,
        "[[cases]]\nname = \"a\"\nprompt = \"p\"\nexpect = { contains = \"x\" }\n",
    )
    .unwrap();
    let old = dir.join("old.json");
    std::fs::write(&old, "{\"kept\": true}").unwrap();
    let mut args = strings(&["bench-models"]);
    args.push(cases.display().to_string());
    args.extend(strings(&["--models", "nosuch", "--report"]));
    args.push(old.display().to_string());
    args.push("--config".into());
    args.push(cfg);
    let out = run(args).await;
    assert_eq!(out.status, 2, "{out}");
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "{\"kept\": true}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Routing tables where premium uses `good` ($10/$20 per 1M) and budget uses `cheap`.
const TIERS: &str = r#"
[routing]
tier = "premium"
[routing.tiers.premium]
general = "good"
analysis = "good"
coding = "good"
structured = "good"
[routing.tiers.balanced]
general = "good"
analysis = "good"
coding = "good"
structured = "good"
[routing.tiers.budget]
general = "cheap"
analysis = "cheap"
coding = "cheap"
structured = "cheap"
"#;

fn plan(dir: &std::path::Path) -> String {
    let mut text = String::from("title = \"tiers\"\n");
    for i in 1..=6 {
        text.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ntitle = \"Analyse market {i} in depth\"\ndescription = \"Compare competitors, pricing and growth in detail.\"\nkind = \"analysis\"\nrole = \"analyst\"\ndepends_on = []\n"
        ));
    }
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_projects_cost_per_task_and_per_tier_with_a_configuration() {
    let server = stub().await;
    let dir = scratch("projection");
    let cfg = config(&dir, &server.uri(), TIERS);
    let plan = plan(&dir);
    let out = run(vec![
        "analyze".into(),
        plan.clone(),
        "--config".into(),
        cfg,
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(out.status, 0, "{out}");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let p = &doc["projected_cost"];
    assert_eq!(p["tier"], "premium");
    assert_eq!(p["tasks"].as_array().unwrap().len(), 6);
    assert_eq!(p["tasks"][0]["model"], "good");
    // The analyst role's max_tokens (2048) is capped by the model's 64.
    assert_eq!(p["tasks"][0]["expected_tokens"]["completion"], 64);
    assert_eq!(p["tasks"][0]["tokens_from"], "max_tokens");
    let tiers = p["tiers"].as_array().unwrap();
    assert_eq!(
        tiers
            .iter()
            .map(|t| t["tier"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["budget", "balanced", "premium"]
    );
    assert_eq!(tiers[2]["savings_usd"], "0.00");
    let saving = tiers[0]["savings_percent"].as_f64().unwrap();
    assert!((89.0..=91.0).contains(&saving), "{saving}");
    // Without a configuration there is no projection (no models to price).
    let out = run(vec![
        "analyze".into(),
        plan,
        "--format".into(),
        "json".into(),
    ])
    .await;
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(doc.get("projected_cost").is_none());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_too_small_for_the_tier_steps_the_rest_down_and_says_why() {
    let server = stub().await;
    let dir = scratch("step-down");
    let plan = plan(&dir);
    // Premium projects about 6 × $0.0035 = $0.02; budget about $0.002. A $0.01 budget
    // cannot cover premium but covers the budget tier.
    let run_with = |mode: &'static str| {
        let cfg = config(
            &dir,
            &server.uri(),
            &format!("{TIERS}\n[budget]\nmax_usd = \"0.01\"\non_exhaustion = \"{mode}\"\n"),
        );
        let report = dir.join(format!("{mode}.json"));
        let args = vec![
            "run".into(),
            plan.clone(),
            "--no-store".into(),
            "--config".into(),
            cfg,
            "--report".into(),
            report.display().to_string(),
        ];
        (args, report)
    };
    let (args, report) = run_with("step_down");
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let steps = r["step_down"].as_array().unwrap();
    assert!(!steps.is_empty(), "{r}");
    assert_eq!(steps[0]["from"], "premium");
    assert_eq!(steps[0]["to"], "budget");
    assert!(
        steps[0]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot cover"),
        "{steps:?}"
    );
    let cheap = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["model"] == "cheap")
        .count();
    assert_eq!(
        cheap,
        steps.len(),
        "every stepped-down task ran on the budget model"
    );
    assert!(out.stdout.contains("Stepped down a tier for"), "{out}");
    assert_eq!(r["projected_cost"]["tier"], "premium");
    assert!(r["projected_cost"]["expected_usd"].as_str().is_some());
    assert!(r["projected_cost"]["actual_usd"].as_str().is_some());
    assert!(
        out.stdout
            .contains("Projected before the run (premium tier)"),
        "{out}"
    );

    // "stop" keeps the tier (calls the budget cannot cover would be refused instead; these
    // cost far less than projected, so all fit).
    let (args, report) = run_with("stop");
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r["step_down"].as_array().unwrap().is_empty());
    assert!(
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["model"] == "good")
    );
}

/// On `--resume`, step-down measures against the budget left after the earlier sessions'
/// spend: the rest steps down instead of running at the configured tier into a budget it
/// cannot cover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_steps_down_against_the_budget_its_earlier_sessions_left() {
    // Every answer reports 400 + 64 tokens: $0.00528 on `good`, $0.000528 on `cheap`.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let model = body["model"].as_str().unwrap_or("").to_owned();
            if model == "vendor/broken" {
                return ResponseTemplate::new(400)
                    .set_body_string("{\"error\":{\"message\":\"bad model\"}}");
            }
            ResponseTemplate::new(200).set_body_json(json!({
                "model": model,
                "choices": [{ "message": { "role": "assistant", "content": "Done." }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 400, "completion_tokens": 64 }
            }))
        })
        .mount(&server)
        .await;
    let dir = scratch("step-down-resume");
    let cfg = config(
        &dir,
        &server.uri(),
        &format!("{TIERS}\n[budget]\nmax_usd = \"0.02\"\non_exhaustion = \"step_down\"\n"),
    );
    // Session 1: t1–t3 succeed on `good` ($0.01584); t4–t6 fail (a model that answers 400).
    let path = plan(&dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace(
        "role = \"analyst\"\ndepends_on = []\n[[tasks]]\nid = \"t4\"",
        "role = \"analyst\"\ndepends_on = []\n[[tasks]]\nid = \"t4\"\nmodel = \"broken\"",
    );
    let broken = broken
        .replace("id = \"t5\"", "id = \"t5\"\nmodel = \"broken\"")
        .replace("id = \"t6\"", "id = \"t6\"\nmodel = \"broken\"");
    assert_eq!(broken.matches("model = \"broken\"").count(), 3);
    std::fs::write(&path, broken).unwrap();
    let store = dir.join("runs.db").display().to_string();
    let session = |extra: &[&str]| {
        let mut args = strings(&["run", &path, "--config", &cfg, "--store", &store]);
        args.extend(strings(extra));
        run(args)
    };
    let first = session(&["--report", dir.join("r1.json").to_str().unwrap()]).await;
    assert_eq!(first.status, 1, "{first}");
    // Session 2: t4–t6 fixed. $0.02 − $0.01584 = $0.00416 is left; the three remaining tasks
    // project above that at premium (and balanced) but fit the budget tier.
    std::fs::write(&path, text).unwrap();
    let report = dir.join("r2.json");
    let second = session(&["--resume", "--report", report.to_str().unwrap()]).await;
    assert_eq!(second.status, 0, "{second}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let steps: Vec<&str> = r["step_down"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["task"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["t4", "t5", "t6"], "{r}");
    for t in r["tasks"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        assert_eq!(t["status"], "succeeded", "{t}");
        if ["t4", "t5", "t6"].contains(&id) {
            assert_eq!(t["model"], "cheap", "{t}");
        }
    }
}

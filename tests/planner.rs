//! From a request to results, through the binary: `dagent plan` against a loopback stub
//! model (good, malformed, cyclic and oversized answers), `dagent roles`, workflow templates,
//! output files and their path checks, and `dagent run --review` through a pseudo-terminal.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{Output, command, dagent, dagent_env, scratch};

const KEY: &str = "sk-test-planner-key-0042";

fn config(url: &str, extra: &str) -> String {
    format!(
        r#"[providers.stub]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "DAGENT_TEST_KEY"

[models.cheap]
provider = "stub"
id = "vendor/cheap"
pricing = {{ input = "0.25", output = "1.25" }}
context_window = 16384
max_output_tokens = 4096

[routing]
default_model = "cheap"
{extra}"#
    )
}

/// An OpenAI-style answer with fixed usage (200 + 100 tokens: $0.000175 at the stub's price).
fn reply(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "model": "vendor/cheap",
        "choices": [{ "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 200, "completion_tokens": 100 }
    }))
}

const GOOD: &str = r#"{"title": "Tokyo and Paris", "tasks": [
 {"id": "tokyo", "title": "Research Tokyo", "description": "Top attractions", "kind": "research", "role": "researcher", "estimate": "30s", "depends_on": []},
 {"id": "paris", "title": "Research Paris", "kind": "research", "role": "researcher", "estimate": "30s", "depends_on": []},
 {"id": "report", "title": "Write the report", "kind": "report", "role": "writer", "estimate": "45s", "depends_on": ["tokyo", "paris"]}]}"#;

const CYCLIC: &str = r#"{"tasks": [
 {"id": "a", "title": "A", "depends_on": ["b"]},
 {"id": "b", "title": "B", "depends_on": ["a"]}]}"#;

const REQUEST: &str =
    "Compare the tourist attractions of Tokyo and Paris, then write a short report.";

/// A stub that gives `answers` in turn (the last one repeating).
async fn stub(answers: &[&str]) -> MockServer {
    let server = MockServer::start().await;
    for (i, a) in answers.iter().enumerate() {
        let mock = Mock::given(method("POST")).respond_with(reply(a));
        let mock = if i + 1 < answers.len() {
            mock.up_to_n_times(1)
                .with_priority(u8::try_from(i + 1).unwrap())
        } else {
            mock.with_priority(100)
        };
        mock.mount(&server).await;
    }
    server
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dagent_env(&refs, &[("DAGENT_TEST_KEY", KEY)])
    })
    .await
    .unwrap()
}

fn write_config(dir: &Path, url: &str, extra: &str) -> String {
    let cfg = dir.join("dagent.toml");
    std::fs::write(&cfg, config(url, extra)).unwrap();
    cfg.display().to_string()
}

fn plan_args(cfg: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["plan", REQUEST, "--config", cfg, "--out"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    v.push(out.display().to_string());
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_answer_becomes_a_checked_plan_with_its_cost() {
    let server = stub(&[GOOD]).await;
    let dir = scratch("planner-good");
    let cfg = write_config(&dir, &server.uri(), "");
    let out_file = dir.join("plan.toml");
    let out = run(plan_args(&cfg, &out_file, &[])).await;
    assert_eq!(out.status, 0, "{out}");
    let plan = std::fs::read_to_string(&out_file).unwrap();
    let loaded =
        dagent_adapters::parse_plan(plan.clone(), dagent_adapters::PlanFormat::Toml, "p").unwrap();
    let ids: Vec<&str> = loaded.plan.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["tokyo", "paris", "report"]);
    assert!(
        plan.contains("depends_on = [\"tokyo\", \"paris\"]"),
        "{plan}"
    );
    assert!(
        out.stderr
            .contains("Plan: 3 steps in 2 batches, critical path 2 steps; medium request"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("planned by cheap · 200+100 tokens · cost $0.000175"),
        "{out}"
    );
    // One call, in JSON mode, with the planner role's prompt and parameters.
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["response_format"]["type"], "json_object");
    assert_eq!(sent[0]["temperature"], json!(0.2));
    assert!(
        sent[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("You are a planner."),
    );
    let user = sent[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains(REQUEST) && user.contains("2 to 20 steps"),
        "{user}"
    );
    assert!(!out.stderr.contains(KEY) && !plan.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_is_repaired_once() {
    let server = stub(&["{\"tasks\": [ {\"id\": \"a\", \"title\": ", GOOD]).await;
    let dir = scratch("planner-repaired");
    let cfg = write_config(&dir, &server.uri(), "");
    let out_file = dir.join("plan.json");
    let out = run(plan_args(&cfg, &out_file, &[])).await;
    assert_eq!(out.status, 0, "{out}");
    assert!(
        out.stderr
            .contains("the first answer was invalid, repaired"),
        "{out}"
    );
    // Two calls paid for: 2 × $0.000175.
    assert!(
        out.stderr.contains("400+200 tokens · cost $0.00035"),
        "{out}"
    );
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    let repair = sent[1]["messages"][3]["content"].as_str().unwrap();
    // The parse error is located in the answer, without a second "error:" prefix.
    assert!(
        repair.starts_with("That plan is invalid: answer:1:"),
        "{repair}"
    );
    assert!(!repair.contains("error:"), "{repair}");
    // --out plan.json: native JSON.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(written["tasks"][2]["depends_on"], json!(["tokyo", "paris"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrepairable_answer_fails_and_keeps_the_answers() {
    let server = stub(&["I cannot do that."]).await;
    let dir = scratch("planner-unrepairable");
    let cfg = write_config(&dir, &server.uri(), "");
    let out_file = dir.join("plan.toml");
    let out = run(plan_args(&cfg, &out_file, &[])).await;
    assert_eq!(out.status, 1, "{out}");
    let saved = dir.join("plan.toml.answers.txt");
    assert!(
        out.stderr
            .contains(&format!("the model's answers are in {}", saved.display())),
        "{out}"
    );
    assert!(out.stderr.contains("no JSON object found"), "{out}");
    assert!(
        out.stderr.contains("again after one repair attempt"),
        "{out}"
    );
    assert!(!out_file.exists(), "no plan is written");
    let answers = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(answers.matches("I cannot do that.").count(), 2, "{answers}");
    // With the plan meant for stdout, the answers go to a new private file in the
    // temporary directory (an unpredictable name, readable by its owner only).
    let out = run(plan_args(&cfg, Path::new("-"), &[])).await;
    assert_eq!(out.status, 1, "{out}");
    let line = out
        .stderr
        .split("the model's answers are in ")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    let path = PathBuf::from(line.split(" (cost").next().unwrap().trim());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("dagent-plan-answers-") && name.ends_with(".txt"),
        "{name}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    let answers = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    assert_eq!(answers.matches("I cannot do that.").count(), 2, "{answers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cyclic_answer_is_refused_by_the_graph_kernel() {
    let server = stub(&[CYCLIC]).await;
    let dir = scratch("planner-cyclic");
    let cfg = write_config(&dir, &server.uri(), "");
    let out_file = dir.join("plan.toml");
    let out = run(plan_args(&cfg, &out_file, &[])).await;
    assert_eq!(out.status, 1, "{out}");
    assert!(out.stderr.contains("cycle"), "{out}");
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2, "one repair attempt");
    assert!(
        sent[1]["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("cycle")
    );

    // A cyclic answer repaired by a good one is accepted.
    let server = stub(&[CYCLIC, GOOD]).await;
    let cfg = write_config(&dir, &server.uri(), "");
    let out = run(plan_args(&cfg, &out_file, &[])).await;
    assert_eq!(out.status, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_steps_are_refused() {
    let server = stub(&[GOOD]).await;
    let dir = scratch("planner-too-many");
    let cfg = write_config(&dir, &server.uri(), "");
    let out_file = dir.join("plan.toml");
    let out = run(plan_args(&cfg, &out_file, &["--max-steps", "2"])).await;
    assert_eq!(out.status, 1, "{out}");
    assert!(
        out.stderr
            .contains("the plan has 3 steps, more than the 2 allowed"),
        "{out}"
    );
    let sent = bodies(&server).await;
    assert!(
        sent[0]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("2 to 2 steps")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_request_is_one_step_without_a_model_call() {
    let server = stub(&[GOOD]).await;
    let dir = scratch("planner-simple");
    let cfg = write_config(&dir, &server.uri(), "");
    let args: Vec<String> = ["plan", "Write a haiku about rain", "--config", &cfg]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    assert!(out.stdout.contains("id = \"answer\""), "{out}");
    assert_eq!(out.stdout.matches("[[tasks]]").count(), 1);
    assert!(
        out.stderr
            .contains("simple request (inferred: 5 words, 1 part): one step, no model call"),
        "{out}"
    );
    assert!(bodies(&server).await.is_empty());

    // --complexity overrides the inference, and DeerFlow output goes through the writer.
    let args: Vec<String> = [
        "plan",
        REQUEST,
        "--config",
        &cfg,
        "--complexity",
        "simple",
        "--format",
        "deerflow",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let df: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(df["steps"].as_array().unwrap().len(), 1);
}

#[test]
fn plan_without_a_model_is_an_input_error() {
    let out = dagent(&["plan", REQUEST]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("no providers are configured"), "{out}");
}

fn check(name: &str, args: &[&str]) {
    let out = dagent(args);
    insta::with_settings!({ snapshot_suffix => name.to_owned(), prepend_module_to_snapshot => false, omit_expression => true, description => args.join(" ") }, {
        insta::assert_snapshot!("planner", out.to_string());
    });
}

#[test]
fn roles_are_listed_with_their_parameters_and_overrides() {
    check("roles", &["roles"]);
    let dir = scratch("planner-roles");
    let cfg = dir.join("dagent.toml");
    std::fs::write(
        &cfg,
        "[roles.coder]\ntemperature = 0.1\n\n[roles.translator]\nsystem_prompt = \"You translate.\"\nmax_tokens = 500\n",
    )
    .unwrap();
    let out = dagent(&[
        "roles",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status, 0, "{out}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let roles = v["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 15);
    let coder = roles.iter().find(|r| r["name"] == "coder").unwrap();
    assert_eq!(coder["temperature"], json!(0.1));
    assert_eq!(coder["max_tokens"], 6000);
    assert_eq!(coder["top_p"], json!(0.85));
    assert_eq!(coder["configured"], json!(["temperature"]));
    let t = roles.iter().find(|r| r["name"] == "translator").unwrap();
    assert_eq!(t["builtin"], false);
    assert_eq!(t["system_prompt"], "You translate.");
    assert_eq!(t["temperature"], Value::Null);
}

#[test]
fn workflow_templates_generate_the_expected_plans() {
    check(
        "workflow-standard",
        &[
            "plan",
            "--workflow",
            "standard",
            "A CSV parser with error handling",
        ],
    );
    check(
        "workflow-full",
        &[
            "plan",
            "--workflow",
            "full",
            "A CSV parser with error handling",
        ],
    );
    check(
        "workflow-review",
        &[
            "plan",
            "--workflow",
            "review",
            "def add(a, b):\n    return a - b",
        ],
    );
    check("workflow-unknown", &["plan", "--workflow", "standrd", "x"]);
    // DeerFlow plans have no loops: a plan with one is refused, not written without it.
    check(
        "workflow-standard-deerflow",
        &[
            "plan",
            "--workflow",
            "standard",
            "--format",
            "deerflow",
            "x",
        ],
    );
}

#[test]
fn a_user_template_with_bad_dependencies_is_refused_at_its_own_line_and_column() {
    let dir = scratch("planner-bad-template");
    let t = dir.join("t.toml");
    std::fs::write(
        &t,
        "[[tasks]]\nid = \"a\"\ntitle = \"A {request}\"\ndepends_on = []\n\n[[tasks]]\nid = \"b\"\ntitle = \"B\"\ndepends_on = [\"zz\"]\n",
    )
    .unwrap();
    let out_file = dir.join("plan.toml");
    for args in [
        vec![
            "plan",
            "--workflow",
            t.to_str().unwrap(),
            "x",
            "--out",
            out_file.to_str().unwrap(),
        ],
        vec![
            "run",
            "--workflow",
            t.to_str().unwrap(),
            "--request",
            "x",
            "--simulate",
            "--no-store",
        ],
    ] {
        let out = dagent(&args);
        assert_eq!(out.status, 2, "{out}");
        assert!(
            out.stderr.contains(&format!("{}:9:", t.display())),
            "the error points into the template: {out}"
        );
        assert!(out.stderr.contains("zz"), "{out}");
    }
    assert!(!out_file.exists(), "nothing is written");
}

#[test]
fn a_request_over_one_mebibyte_is_refused() {
    let dir = scratch("planner-big-request");
    let f = dir.join("request.txt");
    std::fs::write(&f, "x".repeat((1 << 20) + 1)).unwrap();
    let out = dagent(&[
        "plan",
        "--workflow",
        "standard",
        "--request-file",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn user_templates_fill_request_placeholders() {
    let dir = scratch("planner-user-template");
    let t = dir.join("translate.toml");
    std::fs::write(
        &t,
        "title = \"Translate\"\n[[tasks]]\nid = \"fr\"\ntitle = \"French\"\ndescription = \"Translate into French: {request}\"\ndepends_on = []\n\n[[tasks]]\nid = \"de\"\ntitle = \"German\"\ndescription = \"Translate into German: {request}\"\ndepends_on = []\n",
    )
    .unwrap();
    let out_file = dir.join("plan.json");
    let out = dagent(&[
        "plan",
        "--workflow",
        t.to_str().unwrap(),
        "Good \"morning\"",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 0, "{out}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(
        v["tasks"][1]["description"],
        "Translate into German: Good \"morning\""
    );
    // A template that never says {request} would drop the request: refused.
    std::fs::write(&t, "[[tasks]]\nid = \"fr\"\ntitle = \"French\"\n").unwrap();
    let out = dagent(&["plan", "--workflow", t.to_str().unwrap(), "x"]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("says {request} nowhere"), "{out}");
}

/// A stub answering every task by role: the coder with fenced code, everyone else in prose.
async fn role_stub() -> MockServer {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = MockServer::start().await;
    // The coder numbers its versions; the first three reviews ask for changes, later ones
    // approve (the standard workflow's review loop then runs twice).
    let (coded, reviewed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    Mock::given(method("POST"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let system = body["messages"][0]["content"].as_str().unwrap_or("");
            let prose = format!("prose from: {}", system.split('.').next().unwrap_or(""));
            let answer = if system.starts_with("You are a careful software engineer") {
                let v = coded.fetch_add(1, Ordering::SeqCst) + 1;
                format!(
                    "Here is the code:\n\n```python\ndef parse(line):  # v{v}\n    return line.split(',')\n```\n\nDone."
                )
            } else if system.starts_with("You are a demanding code reviewer") {
                let verdict = if reviewed.fetch_add(1, Ordering::SeqCst) < 3 {
                    "CHANGES REQUESTED"
                } else {
                    "APPROVE"
                };
                format!("{prose}\nVERDICT: {verdict}")
            } else {
                prose
            };
            reply(&answer)
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_workflow_uses_the_roles_and_writes_the_output_files() {
    let server = role_stub().await;
    let dir = scratch("planner-run-workflow");
    let cfg = write_config(&dir, &server.uri(), "\n[roles.reviewer]\ntop_p = 0.5\n");
    let out_dir = dir.join("out");
    let args: Vec<String> = [
        "run",
        "--workflow",
        "standard",
        "--request",
        "A CSV line parser",
        "--config",
        &cfg,
        "--no-store",
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--report",
        dir.join("report.json").to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    // The review loop ran twice (changes requested, then approved); the files hold the last
    // iteration's answers: the code file only the fenced block, review files the whole answer.
    assert_eq!(report["loops"][0]["stop"], "approved", "{report}");
    assert_eq!(report["loops"][0]["iterations_run"], 2, "{report}");
    let code = "def parse(line):  # v2\n    return line.split(',')\n";
    assert_eq!(
        report["output_files"][0],
        json!({"task": "code", "path": "generated_code.txt", "status": "written", "bytes": code.len(), "extract": "code", "note": null})
    );
    assert_eq!(report["output_files"].as_array().unwrap().len(), 4);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("generated_code.txt")).unwrap(),
        code
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("review_results/correctness.md")).unwrap(),
        "prose from: You are a demanding code reviewer\nVERDICT: APPROVE"
    );
    for f in [
        "generated_code.txt",
        "review_results/correctness.md",
        "review_results/design.md",
        "review_results/performance.md",
    ] {
        assert!(out.stdout.contains(f), "the report lists {f}: {out}");
    }
    // No temporary file is left behind.
    let leftovers: Vec<PathBuf> = walk(&out_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Every task's call used its role's system prompt and parameters ([roles.reviewer]
    // overriding top_p only).
    let sent = bodies(&server).await;
    assert_eq!(
        sent.len(),
        2 + 2 * 4,
        "clarify, architect, then code and 3 reviews twice"
    );
    let by_prompt = |start: &str| {
        sent.iter()
            .filter(|b| {
                b["messages"][0]["content"]
                    .as_str()
                    .unwrap()
                    .starts_with(start)
            })
            .collect::<Vec<_>>()
    };
    let coder = by_prompt("You are a careful software engineer");
    assert_eq!(coder.len(), 2);
    // The second version is asked for with the first one and every review as input.
    let second = serde_json::to_string(&coder[1]["messages"]).unwrap();
    assert!(
        second.contains("# v1") && second.contains("CHANGES REQUESTED"),
        "{second}"
    );
    assert_eq!(coder[0]["temperature"], json!(0.5));
    assert_eq!(coder[0]["top_p"], json!(0.85));
    let reviewers = by_prompt("You are a demanding code reviewer");
    assert_eq!(reviewers.len(), 6);
    for r in reviewers {
        assert_eq!(r["temperature"], json!(0.8));
        assert_eq!(r["top_p"], json!(0.5));
        assert_eq!(r["max_tokens"], 3000);
    }
    assert_eq!(by_prompt("You are a requirements analyst").len(), 1);
    assert_eq!(by_prompt("You are a software architect").len(), 1);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn plan_with_output(dir: &Path, output_file: &str) -> PathBuf {
    let p = dir.join("plan.toml");
    std::fs::write(
        &p,
        format!(
            "[[tasks]]\nid = \"a\"\ntitle = \"A\"\nestimate = \"1ms\"\noutput_file = {output_file:?}\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn output_paths_that_escape_the_directory_are_refused_before_running() {
    let dir = scratch("planner-escape");
    for (bad, why) in [
        ("../outside.txt", "it contains \"..\""),
        ("a/../../outside.txt", "it contains \"..\""),
        ("/tmp/outside.txt", "it is absolute"),
        ("", "it is empty"),
    ] {
        let plan = plan_with_output(&dir, bad);
        let out = dagent(&[
            "run",
            plan.to_str().unwrap(),
            "--simulate",
            "--no-store",
            "--out-dir",
            dir.join("out").to_str().unwrap(),
        ]);
        assert_eq!(out.status, 2, "{bad}: {out}");
        assert!(out.stderr.contains(why), "{bad}: {out}");
        // Located at the task, file:line:col.
        assert!(out.stderr.contains("plan.toml:2:6"), "{bad}: {out}");
        assert!(!out.stdout.contains("succeeded"), "nothing ran: {out}");
    }
    // A bad extract value is a schema error at its line and column.
    let p = dir.join("extract.toml");
    std::fs::write(&p, "[[tasks]]\nid = \"a\"\nextract = \"prose\"\n").unwrap();
    let out = dagent(&["analyze", p.to_str().unwrap()]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("extract.toml:3:11"), "{out}");
    assert!(out.stderr.contains("unknown extract \"prose\""), "{out}");
    // Two tasks on one file.
    std::fs::write(
        &p,
        "[[tasks]]\nid = \"a\"\noutput_file = \"x.txt\"\n[[tasks]]\nid = \"b\"\noutput_file = \"./x.txt\"\n",
    )
    .unwrap();
    let out = dagent(&["run", p.to_str().unwrap(), "--simulate", "--no-store"]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("is also task \"a\"'s"), "{out}");
}

#[test]
fn symbolic_links_inside_the_directory_are_not_followed() {
    let dir = scratch("planner-symlink");
    let outside = dir.join("outside");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    std::os::unix::fs::symlink(&outside, out_dir.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("target.txt"), out_dir.join("file.txt")).unwrap();
    for (path, link) in [("link/x.txt", "link"), ("file.txt", "file.txt")] {
        let plan = plan_with_output(&dir, path);
        let out = dagent(&[
            "run",
            plan.to_str().unwrap(),
            "--simulate",
            "--no-store",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status, 2, "{out}");
        assert!(
            out.stdout.contains(&format!("{path}  NOT WRITTEN: ")),
            "{out}"
        );
        assert!(
            out.stdout.contains(&format!(
                "{} is a symbolic link",
                out_dir.join(link).display()
            )),
            "{out}"
        );
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing escaped"
        );
    }
}

#[test]
fn a_failed_task_writes_no_file() {
    let dir = scratch("planner-failed-output");
    let p = dir.join("plan.toml");
    std::fs::write(
        &p,
        "[[tasks]]\nid = \"a\"\nestimate = \"1ms\"\noutput_file = \"a.txt\"\nsimulate = { fail = \"permanent\" }\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = dagent(&[
        "run",
        p.to_str().unwrap(),
        "--simulate",
        "--no-store",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 1, "{out}");
    assert!(
        out.stdout.contains("a.txt  not written: a did not succeed"),
        "{out}"
    );
    assert!(!out_dir.join("a.txt").exists());
}

#[test]
fn review_without_a_terminal_is_an_error_unless_yes() {
    let args = [
        "run",
        "--workflow",
        "review",
        "--request",
        "x = 1",
        "--simulate",
        "--time-scale",
        "0.001",
        "--no-store",
        "--review",
    ];
    let out = dagent(&args);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("there is none"), "{out}");
    assert!(out.stdout.is_empty(), "nothing ran: {out}");
    let mut yes = args.to_vec();
    let dir = scratch("planner-review-yes");
    let out_dir = dir.display().to_string();
    yes.extend(["--yes", "--out-dir", &out_dir]);
    let out = dagent(&yes);
    assert_eq!(out.status, 0, "{out}");
    assert!(out.stderr.contains("Batch 1 · 4 tasks"), "{out}");
    assert!(
        out.stderr.contains("Predicted time: 40s at 10 at a time"),
        "{out}"
    );
    assert!(
        out.stderr.contains("Predicted cost: $0 (simulated)"),
        "{out}"
    );
    assert!(out.stderr.contains("Accepted (--yes)."), "{out}");
    assert!(out.stdout.contains("4 succeeded"), "{out}");
}

/// `dagent ARGS…` on a pseudo-terminal, hermetic like every other run, with `env`.
fn pty(args: &[&str], env: &[(&str, &str)]) -> rexpect::session::PtySession {
    let mut cmd = command();
    cmd.args(args).envs(env.iter().copied());
    rexpect::session::spawn_command(cmd, Some(60_000)).unwrap()
}

fn exit_code(p: &rexpect::session::PtySession) -> i32 {
    match p.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

fn review_plan(dir: &Path) -> PathBuf {
    let p = dir.join("plan.toml");
    std::fs::write(
        &p,
        "title = \"Reviewed\"\n\n[[tasks]]\nid = \"a\"\ntitle = \"A\"\nestimate = \"2s\"\ndepends_on = []\n\n[[tasks]]\nid = \"b\"\ntitle = \"B\"\nestimate = \"3s\"\ndepends_on = [\"a\"]\n",
    )
    .unwrap();
    p
}

fn review_args(plan: &Path) -> Vec<String> {
    [
        "run",
        plan.to_str().unwrap(),
        "--simulate",
        "--time-scale",
        "0.001",
        "--no-store",
        "--review",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn review_on_a_terminal_accepts() {
    let dir = scratch("planner-pty-accept");
    let plan = review_plan(&dir);
    let args = review_args(&plan);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = pty(&refs, &[]);
    p.exp_string("Batch 2 ").unwrap();
    p.exp_string("Predicted time: 5s").unwrap();
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("a").unwrap();
    p.exp_string("2 succeeded").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
}

#[test]
fn review_on_a_terminal_cancels() {
    let dir = scratch("planner-pty-cancel");
    let plan = review_plan(&dir);
    let args = review_args(&plan);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = pty(&refs, &[]);
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("c").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Cancelled: nothing was run"), "{rest}");
    assert!(!rest.contains("succeeded"), "{rest}");
    assert_eq!(exit_code(&p), 1);
}

#[test]
fn review_on_a_terminal_edits_and_analyses_again() {
    let dir = scratch("planner-pty-edit");
    let plan = review_plan(&dir);
    // The "editor" makes b independent of a: two batches become one.
    let editor = dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/depends_on = \\[\"a\"\\]/depends_on = []/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let args = review_args(&plan);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = pty(&refs, &[("EDITOR", editor.to_str().unwrap())]);
    p.exp_string("Batch 2 ").unwrap();
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("e").unwrap();
    p.exp_string("Batch 1 ").unwrap();
    p.exp_string("2 tasks").unwrap();
    p.exp_string("Predicted time: 3s").unwrap();
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("a").unwrap();
    p.exp_string("2 succeeded").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    assert!(
        std::fs::read_to_string(&plan)
            .unwrap()
            .contains("title = \"B\"\nestimate = \"3s\"\ndepends_on = []")
    );
}

#[test]
fn editing_a_workflows_plan_uses_a_private_file_kept_only_when_edited() {
    let dir = scratch("planner-pty-edit-workflow");
    let editor = dir.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nprintf '\\n# edited\\n' >> \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out_dir = dir.join("out");
    let args = [
        "run",
        "--workflow",
        "review",
        "--request",
        "x = 1",
        "--simulate",
        "--time-scale",
        "0.001",
        "--no-store",
        "--review",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ];
    let mut p = pty(&args, &[("EDITOR", editor.to_str().unwrap())]);
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("e").unwrap();
    p.exp_string("[a]ccept, [e]dit, [c]ancel").unwrap();
    p.send_line("a").unwrap();
    let (_, kept) = p.exp_regex("kept in [^\\r\\n]+").unwrap();
    p.exp_string("4 succeeded").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    let path = PathBuf::from(kept.trim_start_matches("kept in ").trim());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    std::fs::remove_file(&path).unwrap();
    assert!(text.ends_with("# edited\n"), "{text}");
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("dagent-review-"),
        "{path:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_with_yes_shows_the_projected_cost_before_paying_anything() {
    let server = role_stub().await;
    let dir = scratch("planner-review-cost");
    let cfg = write_config(&dir, &server.uri(), "");
    let args: Vec<String> = [
        "run",
        "--workflow",
        "review",
        "--request",
        "x = 1",
        "--config",
        &cfg,
        "--no-store",
        "--review",
        "--yes",
        "--out-dir",
        dir.join("out").to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = run(args).await;
    assert_eq!(out.status, 0, "{out}");
    // Four tasks of at most 3000 answer tokens each at $1.25/M: the worst case (the
    // projection `dagent analyze` shows) is above $0.015, the expected cost no more.
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("Predicted cost: $"))
        .unwrap_or_else(|| panic!("{out}"));
    let usd_before = |marker: &str| -> f64 {
        let head = &line[..line.find(marker).unwrap_or_else(|| panic!("{line}"))];
        head.rsplit('$').next().unwrap().trim().parse().unwrap()
    };
    let expected = usd_before(" expected");
    let usd = usd_before(" worst case");
    assert!(expected > 0.0 && expected <= usd, "{line}");
    assert!(usd > 0.015 && usd < 0.02, "{line}");
    // The review came before the first call: the stub saw exactly the four tasks.
    assert_eq!(bodies(&server).await.len(), 4);
}

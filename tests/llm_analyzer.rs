//! The LLM dependency analyzer against a stub model server: every kind of answer ends in a
//! valid graph, with the deciding strategy and any fallback reason recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dagent_analyzers::{
    FallbackChain, HeuristicAnalyzer, LlmAnalyzer, Resolution, SequentialAnalyzer,
};
use dagent_core::{ChatProvider, CostTracker, Money, Plan, Price, Task, TaskKind};
use dagent_providers::{CostLedger, OpenAiCompatible};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn plan() -> Plan {
    Plan::new(vec![
        Task::new("step-1", "Research Tokyo").with_kind(TaskKind::Research),
        Task::new("step-2", "Research Paris").with_kind(TaskKind::Research),
        Task::new("step-3", "Compare all cities").with_kind(TaskKind::Analysis),
    ])
}

fn reply(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "model": "m", "choices": [{ "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 200, "completion_tokens": 30 }
    }))
}

/// A server answering the n-th request with `answers[n]` (the last one repeats).
async fn server(answers: Vec<String>, delay: Duration) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            reply(&answers[n.min(answers.len() - 1)]).set_delay(delay)
        })
        .mount(&server)
        .await;
    (server, count)
}

fn chain(server: &MockServer, ledger: &Arc<CostLedger>) -> (FallbackChain, Arc<LlmAnalyzer>) {
    let provider: Arc<dyn ChatProvider> = Arc::new(
        OpenAiCompatible::new("stub", server.uri()).with_timeout(Duration::from_millis(500)),
    );
    let costs: Arc<dyn CostTracker> = Arc::clone(ledger) as Arc<dyn CostTracker>;
    let llm = Arc::new(LlmAnalyzer::new(provider, "stub-model").with_costs(
        Price::new(Money::from_dollars(1), Money::from_dollars(2)),
        costs,
    ));
    let chain = FallbackChain::new(vec![
        Box::new(Arc::clone(&llm)),
        Box::new(HeuristicAnalyzer),
        Box::new(SequentialAnalyzer),
    ]);
    (chain, llm)
}

async fn resolve(answers: &[&str], delay: Duration) -> (Resolution, usize, Arc<CostLedger>) {
    let (server, count) = server(answers.iter().map(|s| (*s).to_owned()).collect(), delay).await;
    let ledger = Arc::new(CostLedger::new(None, None));
    let (chain, _) = chain(&server, &ledger);
    let res = chain.resolve(&plan()).await.unwrap();
    (res, count.load(Ordering::SeqCst), ledger)
}

const GOOD: &str = r#"{"step-1": [], "step-2": [], "step-3": ["step-1", "step-2"]}"#;

#[tokio::test]
async fn a_well_formed_answer_decides_and_its_cost_is_tracked() {
    let (res, calls, ledger) = resolve(&[GOOD], Duration::ZERO).await;
    assert_eq!(res.strategy, "llm");
    assert!(res.attempts.is_empty());
    assert_eq!(res.graph.deps_of(2), &[0, 1]);
    assert_eq!(calls, 1);
    // 200 × $1/M + 30 × $2/M = $0.00026
    assert_eq!(ledger.spent(), "0.00026".parse::<Money>().unwrap());
    assert_eq!(ledger.summary().by_model["stub-model"].calls, 1);
}

#[tokio::test]
async fn answers_in_prose_or_code_fences_are_accepted() {
    for answer in [
        format!("Sure, here it is:\n{GOOD}\nLet me know!"),
        format!("```json\n{GOOD}\n```"),
    ] {
        let (res, calls, _) = resolve(&[&answer], Duration::ZERO).await;
        assert_eq!(res.strategy, "llm", "{answer}");
        assert_eq!(res.graph.deps_of(2), &[0, 1]);
        assert_eq!(calls, 1);
    }
}

#[tokio::test]
async fn one_repair_attempt_shows_the_model_its_error() {
    let server = MockServer::start().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let s = Arc::clone(&seen);
    Mock::given(method("POST"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let mut seen = s.lock().unwrap();
            seen.push(body);
            if seen.len() == 1 {
                reply(r#"{"step-1": [], "step-2": ["step-7"], "step-3": []}"#)
            } else {
                reply(GOOD)
            }
        })
        .mount(&server)
        .await;
    let ledger = Arc::new(CostLedger::new(None, None));
    let (chain, _) = chain(&server, &ledger);
    let res = chain.resolve(&plan()).await.unwrap();
    assert_eq!(res.strategy, "llm");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0]["response_format"]["type"], "json_object",
        "JSON mode"
    );
    let repair = seen[1]["messages"].as_array().unwrap();
    assert_eq!(
        repair.len(),
        4,
        "system, request, the bad answer, the correction"
    );
    assert!(
        repair[3]["content"]
            .as_str()
            .unwrap()
            .contains("unknown step id \"step-7\"")
    );
    assert_eq!(ledger.summary().total.calls, 2, "both calls are paid for");
}

#[tokio::test]
async fn invalid_unknown_cyclic_and_slow_answers_fall_back_with_the_reason() {
    for (answers, delay, reason) in [
        (
            vec!["not json at all", "still not json"],
            Duration::ZERO,
            "no JSON object found",
        ),
        (
            vec![r#"{"step-1": [], "step-2": ["step-9"], "step-3": []}"#],
            Duration::ZERO,
            "unknown step id \"step-9\"",
        ),
        (
            vec![r#"{"step-1": ["step-3"], "step-2": [], "step-3": ["step-1"]}"#],
            Duration::ZERO,
            "dependency cycle",
        ),
        (
            vec![r#"{"step-1": [], "step-2": []}"#],
            Duration::ZERO,
            "steps missing from the answer: step-3",
        ),
        (vec![GOOD], Duration::from_secs(3), "timed out"),
    ] {
        let (res, _, _) = resolve(&answers, delay).await;
        assert_eq!(res.strategy, "heuristic", "{answers:?}");
        assert_eq!(res.attempts.len(), 1);
        assert_eq!(res.attempts[0].strategy, "llm");
        assert!(
            res.attempts[0].reason.contains(reason),
            "{}: {}",
            reason,
            res.attempts[0].reason
        );
        assert_eq!(res.graph.deps_of(2), &[0, 1], "the heuristic's valid graph");
    }
}

#[tokio::test]
async fn cached_analyses_make_no_second_request() {
    let (server, count) = server(vec![GOOD.to_owned()], Duration::ZERO).await;
    let ledger = Arc::new(CostLedger::new(None, None));
    let (chain, _) = chain(&server, &ledger);
    for _ in 0..3 {
        assert_eq!(chain.resolve(&plan()).await.unwrap().strategy, "llm");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(ledger.summary().total.calls, 1, "hits cost nothing");
    let mut other = plan();
    other.tasks[2].title = "Summarise Tokyo only".into();
    chain.resolve(&other).await.unwrap();
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "a different plan is a different key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_with_strategy_llm_through_the_cli() {
    let (server, _) = server(
        vec![
            GOOD.replace("step-", "s")
                .replace("s1", "tokyo")
                .replace("s2", "paris")
                .replace("s3", "compare"),
        ],
        Duration::ZERO,
    )
    .await;
    let dir = crate::support::scratch("llm-cli");
    std::fs::write(
        dir.join("plan.toml"),
        "[[tasks]]\nid = \"tokyo\"\ntitle = \"Research Tokyo\"\n\n[[tasks]]\nid = \"paris\"\ntitle = \"Research Paris\"\n\n[[tasks]]\nid = \"compare\"\ntitle = \"Compare all cities\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("dagent.toml"),
        format!(
            "[parallelization]\nanalyzer_model = \"tiny\"\n\n[providers.stub]\nkind = \"openai\"\nbase_url = \"{}\"\n\n[models.tiny]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"2\" }}\n",
            server.uri()
        ),
    )
    .unwrap();
    let (p, c) = (
        dir.join("plan.toml").display().to_string(),
        dir.join("dagent.toml").display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        crate::support::dagent(&[
            "analyze",
            &p,
            "--config",
            &c,
            "--strategy",
            "llm",
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["strategy"]["used"], "llm");
    assert_eq!(v["strategy"]["analysis_calls"], 1);
    assert_eq!(v["strategy"]["analysis_cost_usd"], "0.00026");
    assert_eq!(v["tasks"][2]["depends_on"], json!(["tokyo", "paris"]));
}

#[tokio::test]
async fn an_answer_without_usage_is_billed_at_its_upper_bound_through_the_metered_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m", "choices": [{ "message": { "role": "assistant", "content": GOOD }, "finish_reason": "stop" }]
        })))
        .mount(&server)
        .await;
    let ledger = Arc::new(CostLedger::new(None, None));
    let (chain, _) = chain(&server, &ledger);
    assert_eq!(chain.resolve(&plan()).await.unwrap().strategy, "llm");
    let s = ledger.summary();
    let m = s.by_model["stub-model"];
    assert_eq!((m.calls, m.estimated_calls), (1, 1));
    // Never zero: the prompt's bytes and the answer's bytes, at the model's price.
    assert!(m.usage.prompt_tokens > 200, "{m:?}");
    assert_eq!(m.usage.completion_tokens, GOOD.len() as u64);
    assert_eq!(
        m.cost,
        Price::new(Money::from_dollars(1), Money::from_dollars(2)).cost(m.usage)
    );
    assert_eq!(s.by_task["(dependency analysis)"].calls, 1);
    assert_eq!(s.reserved, Money::ZERO);
}

#[tokio::test]
async fn a_budget_too_small_for_the_analysis_falls_back_without_a_request() {
    let (server, count) = server(vec![GOOD.to_owned()], Duration::ZERO).await;
    let ledger = Arc::new(CostLedger::new(Some(Money::from_nanos(1)), None));
    let (chain, _) = chain(&server, &ledger);
    let res = chain.resolve(&plan()).await.unwrap();
    assert_eq!(res.strategy, "heuristic");
    assert!(
        res.attempts[0].reason.contains("not launched"),
        "{:?}",
        res.attempts
    );
    assert_eq!(count.load(Ordering::SeqCst), 0, "nothing was sent");
    assert_eq!(ledger.summary().refused, 1);
}

/// `--strategy auto` with a model configured: a plan the heuristic is confident about is
/// decided without a model call; a plan it is not sure about goes to the model, and the
/// output says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_asks_the_model_only_when_the_heuristic_is_unsure() {
    let (server, count) = server(
        vec![r#"{"a": [], "b": ["a"], "c": ["a"]}"#.to_owned()],
        Duration::ZERO,
    )
    .await;
    let dir = crate::support::scratch("llm-auto");
    std::fs::write(
        dir.join("sure.toml"),
        "[[tasks]]\nid = \"tokyo\"\ntitle = \"Research Tokyo\"\nkind = \"research\"\n\n[[tasks]]\nid = \"paris\"\ntitle = \"Research Paris\"\nkind = \"research\"\n\n[[tasks]]\nid = \"compare\"\ntitle = \"Compare both cities\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("unsure.toml"),
        "[[tasks]]\nid = \"a\"\ntitle = \"Alpha\"\n\n[[tasks]]\nid = \"b\"\ntitle = \"Beta\"\n\n[[tasks]]\nid = \"c\"\ntitle = \"Gamma\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("dagent.toml"),
        format!(
            "[parallelization]\nanalyzer_model = \"tiny\"\n\n[providers.stub]\nkind = \"openai\"\nbase_url = \"{}\"\n\n[models.tiny]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"2\" }}\n",
            server.uri()
        ),
    )
    .unwrap();
    let run = |plan: &str, format: &str| {
        let (p, c, f) = (
            dir.join(plan).display().to_string(),
            dir.join("dagent.toml").display().to_string(),
            format.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            crate::support::dagent(&["analyze", &p, "--config", &c, "--format", &f])
        })
    };
    let out = run("sure.toml", "json").await.unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["strategy"]["used"], "heuristic");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "no model call for a confident plan"
    );
    assert_eq!(v["tasks"][2]["depends_on"], json!(["tokyo", "paris"]));

    let out = run("unsure.toml", "text").await.unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the unsure plan went to the model"
    );
    assert!(
        out.stdout.contains("Dependencies: inferred by llm")
            && out
                .stdout
                .contains("heuristic not used: its confidence 0.50 is below 0.60"),
        "{}",
        out.stdout
    );
}

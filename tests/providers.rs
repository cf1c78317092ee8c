//! Provider clients against an in-process HTTP stub on 127.0.0.1 (wiremock).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{
    ChatMessage, ChatProvider, ChatRequest, CostTracker, DependencyMap, Money, Plan, Price,
    ProviderErrorKind, Task, TaskErrorKind, ToolSpec, Usage,
};
use dagent_executor::{Executor, ExecutorConfig, RetryPolicy, TaskGraph, TaskStatus};
use dagent_providers::{
    ApiKey, Catalogue, CostLedger, EndpointPool, LlmRunner, ModelInfo, Ollama, OpenAiCompatible,
    ProviderKind, ProviderSpec, Providers, Router, RoutingTable, WiringErrorKind,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-test-SECRET-0123456789";

fn request() -> ChatRequest {
    ChatRequest {
        model: "test/model".into(),
        messages: vec![ChatMessage::system("be brief"), ChatMessage::user("hello")],
        temperature: Some(0.2),
        top_p: Some(0.9),
        max_tokens: Some(64),
        ..ChatRequest::default()
    }
}

fn completion(content: &str) -> Value {
    json!({
        "id": "gen-1", "object": "chat.completion", "model": "test/model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "cost": 0.0000123 }
    })
}

async fn openai(server: &MockServer) -> OpenAiCompatible {
    OpenAiCompatible::new("stub", format!("{}/v1", server.uri()))
        .with_api_key(Some(ApiKey::new(KEY)))
        .with_header("HTTP-Referer", "https://example.invalid/dagent")
        .with_header("X-Title", "dagent tests")
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn openai_request_body_headers_and_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Hi!")))
        .mount(&server)
        .await;
    let client = openai(&server).await;
    let mut req = request();
    req.json_mode = true;
    req.tools = vec![ToolSpec {
        name: "search".into(),
        description: "web search".into(),
        parameters_json: r#"{"type":"object","properties":{"q":{"type":"string"}}}"#.into(),
    }];
    let resp = client.chat(&req).await.unwrap();
    assert_eq!(resp.content, "Hi!");
    assert_eq!(resp.usage, Some(Usage::new(12, 5)));
    assert_eq!(
        resp.reported_cost,
        Some("0.0000123".parse::<Money>().unwrap())
    );
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
    let received = server.received_requests().await.unwrap();
    let r = &received[0];
    assert_eq!(
        r.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {KEY}")
    );
    assert_eq!(
        r.headers.get("http-referer").unwrap().to_str().unwrap(),
        "https://example.invalid/dagent"
    );
    assert_eq!(
        r.headers.get("x-title").unwrap().to_str().unwrap(),
        "dagent tests"
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    insta::assert_json_snapshot!("openai_request_body", body);
}

#[tokio::test]
async fn openai_tool_calls_are_parsed() {
    let server = MockServer::start().await;
    let body = json!({
        "model": "m", "choices": [{ "message": { "role": "assistant", "content": null,
          "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "search", "arguments": "{\"q\":\"tokyo\"}" } }] },
          "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 3, "completion_tokens": 4 }
    });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let resp = openai(&server).await.chat(&request()).await.unwrap();
    assert_eq!(resp.tool_calls.len(), 1);
    assert_eq!(resp.tool_calls[0].name, "search");
    assert_eq!(resp.tool_calls[0].arguments_json, "{\"q\":\"tokyo\"}");
    assert_eq!(resp.finish_reason.as_deref(), Some("tool_calls"));
}

fn sse(events: &[Value], done: bool) -> String {
    let mut s = String::from(": OPENROUTER PROCESSING\n\n");
    for e in events {
        s.push_str(&format!("data: {e}\n\n"));
    }
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

#[tokio::test]
async fn openai_sse_streaming_assembles_content_tools_and_usage() {
    let server = MockServer::start().await;
    let events = [
        json!({"model": "m", "choices": [{"delta": {"role": "assistant", "content": "Hel"}}]}),
        json!({"choices": [{"delta": {"content": "lo"}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "sea", "arguments": "{\"q\":"}}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "rch", "arguments": "\"x\"}"}}]}, "finish_reason": "stop"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "cost": 0.5}}),
    ];
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(sse(&events, true), "text/event-stream"),
        )
        .mount(&server)
        .await;
    let mut req = request();
    req.stream = true;
    let resp = openai(&server).await.chat(&req).await.unwrap();
    assert_eq!(resp.content, "Hello");
    assert_eq!(resp.usage, Some(Usage::new(7, 2)));
    assert_eq!(resp.reported_cost, Some("0.5".parse::<Money>().unwrap()));
    assert_eq!(resp.tool_calls[0].name, "search");
    assert_eq!(resp.tool_calls[0].arguments_json, "{\"q\":\"x\"}");
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn truncated_and_malformed_responses_are_clear_errors() {
    let server = MockServer::start().await;
    let cut = sse(
        &[json!({"choices": [{"delta": {"content": "Hel"}}]})],
        false,
    );
    Mock::given(path("/cut/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(cut, "text/event-stream"))
        .mount(&server)
        .await;
    Mock::given(path("/bad/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/badsse/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("data: {not json}\n\n", "text/event-stream"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/empty/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": []})))
        .mount(&server)
        .await;
    for (base, stream, needle) in [
        ("cut", true, "ended before"),
        ("bad", false, "not valid JSON"),
        ("badsse", true, "not valid JSON"),
        ("empty", false, "no choices"),
    ] {
        let client = OpenAiCompatible::new("stub", format!("{}/{base}", server.uri()));
        let mut req = request();
        req.stream = stream;
        let err = client.chat(&req).await.unwrap_err();
        assert_eq!(
            err.kind(),
            ProviderErrorKind::InvalidResponse,
            "{base}: {err}"
        );
        assert!(err.message().contains(needle), "{base}: {err}");
        assert!(err.kind().is_transient());
    }
}

#[tokio::test]
async fn every_error_class_and_retry_after_in_both_forms() {
    let server = MockServer::start().await;
    let cases: Vec<(u16, Value, Option<&str>, ProviderErrorKind)> = vec![
        (
            429,
            json!({"error": {"message": "Rate limit exceeded"}}),
            Some("7"),
            ProviderErrorKind::RateLimited,
        ),
        (
            503,
            json!({"error": {"message": "overloaded"}}),
            Some("Wed, 21 Oct 2099 07:28:00 GMT"),
            ProviderErrorKind::Server,
        ),
        (
            500,
            json!({"error": "boom"}),
            None,
            ProviderErrorKind::Server,
        ),
        (408, json!({}), None, ProviderErrorKind::Timeout),
        (
            400,
            json!({"error": {"message": "This model's maximum context length is 4096 tokens"}}),
            None,
            ProviderErrorKind::ContextLength,
        ),
        (
            400,
            json!({"error": {"message": "temperature must be <= 2"}}),
            None,
            ProviderErrorKind::BadRequest,
        ),
        (
            401,
            json!({"error": {"message": "No auth credentials found"}}),
            None,
            ProviderErrorKind::Auth,
        ),
        (
            403,
            json!({"error": {"message": "forbidden"}}),
            None,
            ProviderErrorKind::Auth,
        ),
        (
            404,
            json!({"error": {"message": "model not found"}}),
            None,
            ProviderErrorKind::NotFound,
        ),
    ];
    for (i, (status, body, retry_after, _)) in cases.iter().enumerate() {
        let mut t = ResponseTemplate::new(*status).set_body_json(body.clone());
        if let Some(ra) = retry_after {
            t = t.insert_header("retry-after", *ra);
        }
        Mock::given(path(format!("/c{i}/chat/completions")))
            .respond_with(t)
            .mount(&server)
            .await;
    }
    for (i, (status, _, retry_after, kind)) in cases.iter().enumerate() {
        let client = OpenAiCompatible::new("stub", format!("{}/c{i}", server.uri()));
        let err = client.chat(&request()).await.unwrap_err();
        assert_eq!(err.kind(), *kind, "{status}: {err}");
        assert_eq!(err.status(), Some(*status));
        match *retry_after {
            Some("7") => assert_eq!(err.retry_after(), Some(Duration::from_secs(7))),
            Some(_) => assert!(
                err.retry_after().unwrap() > Duration::from_secs(86_400),
                "HTTP date in the future"
            ),
            None => assert_eq!(err.retry_after(), None),
        }
        let task_err: dagent_core::TaskError = err.clone().into();
        assert_eq!(
            task_err.kind().is_retryable(),
            kind.is_transient(),
            "{status}"
        );
        assert_eq!(task_err.retry_after(), err.retry_after());
    }
}

#[tokio::test]
async fn slow_responses_time_out_and_dead_servers_are_connection_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("late"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let client =
        OpenAiCompatible::new("stub", server.uri()).with_timeout(Duration::from_millis(200));
    let err = client.chat(&request()).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Timeout, "{err}");
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = OpenAiCompatible::new("gone", format!("http://127.0.0.1:{port}/v1"))
        .chat(&request())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Connection, "{err}");
}

#[tokio::test]
async fn ollama_native_chat_and_ndjson_streaming() {
    let server = MockServer::start().await;
    let done = json!({"model": "llama3", "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": "Hi there"},
        "done": true, "done_reason": "stop", "prompt_eval_count": 26, "eval_count": 3});
    Mock::given(path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(done))
        .mount(&server)
        .await;
    let client = Ollama::new("ollama", server.uri());
    let mut req = request();
    req.json_mode = true;
    let resp = client.chat(&req).await.unwrap();
    assert_eq!(resp.content, "Hi there");
    assert_eq!(resp.usage, Some(Usage::new(26, 3)));
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    insta::assert_json_snapshot!("ollama_request_body", body);

    let stream_server = MockServer::start().await;
    let lines = [
        json!({"model": "llama3", "message": {"role": "assistant", "content": "Hel"}, "done": false}),
        json!({"model": "llama3", "message": {"role": "assistant", "content": "lo"}, "done": false}),
        json!({"model": "llama3", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 2}),
    ];
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Mock::given(path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ndjson, "application/x-ndjson"))
        .mount(&stream_server)
        .await;
    let mut req = request();
    req.stream = true;
    let resp = Ollama::new("ollama", stream_server.uri())
        .chat(&req)
        .await
        .unwrap();
    assert_eq!(resp.content, "Hello");
    assert_eq!(resp.usage, Some(Usage::new(9, 2)));

    let cut_server = MockServer::start().await;
    Mock::given(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(format!("{}\n", lines[0]), "application/x-ndjson"),
        )
        .mount(&cut_server)
        .await;
    let err = Ollama::new("ollama", cut_server.uri())
        .chat(&req)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
    let missing = MockServer::start().await;
    Mock::given(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "model \"nope\" not found, try pulling it first"})),
        )
        .mount(&missing)
        .await;
    let err = Ollama::new("ollama", missing.uri())
        .chat(&request())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound);
    assert!(err.message().contains("try pulling it first"));
}

#[tokio::test]
async fn the_api_key_never_leaks() {
    let server = MockServer::start().await;
    // A hostile server echoes the Authorization header back in its error.
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let auth = req
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            ResponseTemplate::new(401).set_body_json(
                json!({"error": {"message": format!("invalid credentials: {auth}")}}),
            )
        })
        .mount(&server)
        .await;
    let client = openai(&server).await;
    let err = client.chat(&request()).await.unwrap_err();
    assert!(err.message().contains("invalid credentials"), "{err}");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        format!("{:?}", ApiKey::new(KEY)),
    ] {
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
    let task_err: dagent_core::TaskError = err.into();
    assert!(!task_err.to_string().contains(KEY));
}

fn model(name: &str, provider: &str, input: &str, output: &str) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        provider: provider.into(),
        id: format!("vendor/{name}"),
        price: Price::new(input.parse().unwrap(), output.parse().unwrap()),
        context_window: 8192,
        max_output_tokens: 100,
        capabilities: vec![],
        ..ModelInfo::default()
    }
}

fn plan(n: usize) -> (Arc<Plan>, TaskGraph) {
    let tasks: Vec<Task> = (0..n)
        .map(|i| Task::new(format!("t{i}"), format!("Task {i}")))
        .collect();
    let plan = Plan::new(tasks);
    let graph = TaskGraph::new(&plan, DependencyMap::new(n)).unwrap();
    (Arc::new(plan), graph)
}

#[tokio::test]
async fn fallback_routing_when_a_model_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            if body["model"] == "vendor/primary" {
                ResponseTemplate::new(404).set_body_json(
                    json!({"error": {"message": "No endpoints found for vendor/primary"}}),
                )
            } else {
                ResponseTemplate::new(200).set_body_json(completion("from the fallback"))
            }
        })
        .mount(&server)
        .await;
    let mut catalogue = Catalogue::new();
    catalogue.insert(model("primary", "stub", "1", "2"));
    catalogue.insert(model("backup", "stub", "0.5", "1"));
    let router = Router {
        default_model: Some("primary".into()),
        fallbacks: vec!["backup".into()],
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let ledger = Arc::new(CostLedger::new(None, None));
    let provider: Arc<dyn ChatProvider> = Arc::new(OpenAiCompatible::new("stub", server.uri()));
    let runner = Arc::new(LlmRunner::new(
        HashMap::from([("stub".to_owned(), provider)]),
        catalogue,
        router,
        ledger.clone(),
    ));
    let (plan, graph) = plan(1);
    let report = Executor::new(ExecutorConfig {
        retry: RetryPolicy::none(),
        ..ExecutorConfig::default()
    })
    .run(plan, &graph, runner)
    .await;
    let t = &report.tasks[0];
    assert_eq!(t.status, TaskStatus::Succeeded, "{:?}", t.error);
    let out = t.output.as_ref().unwrap();
    assert_eq!(out.model.as_deref(), Some("backup"));
    assert_eq!(out.text, "from the fallback");
    assert!(
        out.notes[0].contains("primary unavailable"),
        "{:?}",
        out.notes
    );
    // 12 prompt tokens at $0.5/M + 5 completion tokens at $1/M = 6,000 + 5,000 nano-dollars.
    assert_eq!(out.cost, Some(Money::from_nanos(11_000)));
    assert_eq!(
        ledger.summary().by_model["backup"].cost,
        Money::from_nanos(11_000)
    );
    // The provider's own figure (OpenRouter's usage.cost) travels next to dagent's.
    let reported: Money = "0.0000123".parse().unwrap();
    assert_eq!(out.reported_cost, Some(reported));
    let backup = ledger.summary().by_model["backup"];
    assert_eq!((backup.reported_cost, backup.reported_calls), (reported, 1));
    assert_eq!(ledger.summary().total.reported_cost, reported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_cap_is_never_crossed_under_concurrency() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("ok"))
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&server)
        .await;
    let mut catalogue = Catalogue::new();
    catalogue.insert(model("m", "stub", "1000", "1000")); // $1,000 per 1M tokens: a call costs cents
    let router = Router {
        default_model: Some("m".into()),
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let budget: Money = "0.5".parse().unwrap();
    // The worst case of a call (a true upper bound: prompt bytes, message overheads, all of
    // max_tokens) is ~20× what a call costs, so spend stops near a third of the cap.
    let ledger = Arc::new(CostLedger::new(Some(budget), Some(0.3)));
    let provider: Arc<dyn ChatProvider> = Arc::new(EndpointPool::new(
        "stub",
        vec![Arc::new(OpenAiCompatible::new("stub", server.uri()))],
    ));
    let runner = Arc::new(LlmRunner::new(
        HashMap::from([("stub".to_owned(), provider)]),
        catalogue,
        router,
        ledger.clone(),
    ));
    let (plan, graph) = plan(200);
    let config = ExecutorConfig {
        max_concurrent: 64,
        retry: RetryPolicy::none(),
        ..ExecutorConfig::default()
    };
    let report = Executor::new(config).run(plan, &graph, runner).await;
    let summary = ledger.summary();
    assert!(
        summary.total.cost <= budget,
        "spent {} over {budget}",
        summary.total.cost
    );
    assert_eq!(
        summary.reserved,
        Money::ZERO,
        "every reservation settled or released"
    );
    let ok = report.count(TaskStatus::Succeeded) as u64;
    assert!(ok > 0 && ok < 200, "{ok} succeeded");
    assert_eq!(summary.total.calls, ok);
    let refused = report
        .tasks
        .iter()
        .filter(|t| {
            t.error
                .as_ref()
                .is_some_and(|e| e.kind() == TaskErrorKind::Budget)
        })
        .count() as u64;
    assert_eq!(refused + ok, 200);
    assert_eq!(summary.refused, refused);
    assert_eq!(
        summary.total.cost,
        summary.by_task.values().map(|t| t.cost).sum()
    );
    assert!(
        ledger.take_warning().is_some() && ledger.take_warning().is_none(),
        "warns once: {summary:?}"
    );
    assert_eq!(ledger.spent(), summary.total.cost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_pool_spreads_calls_over_its_servers() {
    let a = MockServer::start().await;
    let b = MockServer::start().await;
    for s in [&a, &b] {
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(completion("ok"))
                    .set_delay(Duration::from_millis(50)),
            )
            .mount(s)
            .await;
    }
    let pool = Arc::new(EndpointPool::new(
        "pool",
        vec![
            Arc::new(OpenAiCompatible::new("pool", a.uri())),
            Arc::new(OpenAiCompatible::new("pool", b.uri())),
        ],
    ));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.chat(&request()).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let (na, nb) = (
        a.received_requests().await.unwrap().len(),
        b.received_requests().await.unwrap().len(),
    );
    assert_eq!(na + nb, 8);
    assert!(
        na >= 2 && nb >= 2,
        "least-busy spreads the load: {na} and {nb}"
    );
}

/// What a hostile server does with the key it received.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Echo {
    /// 200 carrying `{"error": {"message": …key…}}`.
    ErrorIn200,
    /// 200 with a malformed body quoting the key.
    Malformed,
    /// 500 whose message puts the key across the 400-character cut.
    AtTheCut,
    /// A successful answer whose content, model, finish reason and tool call carry the key.
    InTheAnswer,
    /// A dependency map naming the key as a step id (the analyzer quotes unknown ids).
    AsStepId,
}

pub(crate) fn key_of(req: &Request) -> String {
    req.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map_or_else(String::new, |v| v.trim_start_matches("Bearer ").to_owned())
}

/// An OpenAI-compatible body echoing `key` as `echo` says, streaming or not.
pub(crate) fn openai_echo(echo: Echo, key: &str, stream: bool) -> ResponseTemplate {
    let content = format!("here is your key: {key} (twice: {key})");
    match (echo, stream) {
        (Echo::AsStepId, _) => ResponseTemplate::new(200).set_body_json(json!({
            "model": "m", "choices": [{ "message": { "role": "assistant",
              "content": format!("{{\"tokyo\": [\"{key}\"], \"paris\": [], \"compare\": []}}") },
              "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 1 }
        })),
        (Echo::ErrorIn200, false) => ResponseTemplate::new(200)
            .set_body_json(json!({"error": {"message": format!("invalid key {key}"), "code": 401}})),
        (Echo::ErrorIn200, true) => ResponseTemplate::new(200).set_body_raw(
            sse(&[json!({"error": {"message": format!("upstream rejected {key}"), "code": 502}})], false),
            "text/event-stream",
        ),
        (Echo::Malformed, false) => ResponseTemplate::new(200)
            .set_body_raw(format!("{{\"choices\": [ {key} "), "application/json"),
        (Echo::Malformed, true) => ResponseTemplate::new(200)
            .set_body_raw(format!("data: {{not json {key}}}\n\n"), "text/event-stream"),
        (Echo::AtTheCut, _) => ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": format!("{}{key} and more", "x".repeat(396))}}),
        ),
        (Echo::InTheAnswer, false) => ResponseTemplate::new(200).set_body_json(json!({
            "model": key, "choices": [{ "message": { "role": "assistant", "content": content,
              "tool_calls": [{ "id": key, "type": "function", "function": { "name": "f", "arguments": format!("{{\"k\":\"{key}\"}}") } }] },
              "finish_reason": key }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 1 }
        })),
        (Echo::InTheAnswer, true) => {
            // The key split across two deltas: only the assembled answer contains it.
            let (a, b) = key.split_at(key.len() / 2);
            ResponseTemplate::new(200).set_body_raw(
                sse(
                    &[
                        json!({"model": key, "choices": [{"delta": {"content": format!("key: {a}")}}]}),
                        json!({"choices": [{"delta": {"content": format!("{b}!")}, "finish_reason": "stop"}]}),
                    ],
                    true,
                ),
                "text/event-stream",
            )
        }
    }
}

/// The same for Ollama's `/api/chat` (Ollama takes no key: it echoes one it learnt
/// elsewhere, e.g. provider A's key coming back from provider B).
pub(crate) fn ollama_echo(echo: Echo, key: &str, stream: bool) -> ResponseTemplate {
    let line = |v: Value| format!("{v}\n");
    let body = match echo {
        Echo::AsStepId => line(json!({"model": "m", "message": {"role": "assistant",
            "content": format!("{{\"tokyo\": [\"{key}\"], \"paris\": [], \"compare\": []}}")},
            "done": true, "prompt_eval_count": 1, "eval_count": 1})),
        Echo::ErrorIn200 => line(json!({"error": format!("bad key {key}")})),
        Echo::Malformed => format!("{{\"message\": {key}\n"),
        Echo::AtTheCut => {
            return ResponseTemplate::new(500)
                .set_body_json(json!({"error": format!("{}{key} and more", "x".repeat(396))}));
        }
        Echo::InTheAnswer if stream => {
            let (a, b) = key.split_at(key.len() / 2);
            line(
                json!({"model": "m", "message": {"role": "assistant", "content": a}, "done": false}),
            ) + &line(
                json!({"model": key, "message": {"role": "assistant", "content": b,
                    "tool_calls": [{"function": {"name": "f", "arguments": {"k": key}}}]},
                    "done": true, "done_reason": key, "prompt_eval_count": 1, "eval_count": 1}),
            )
        }
        Echo::InTheAnswer => line(
            json!({"model": key, "message": {"role": "assistant", "content": format!("key {key}"),
            "tool_calls": [{"function": {"name": "f", "arguments": {"k": key}}}]},
            "done": true, "done_reason": key, "prompt_eval_count": 1, "eval_count": 1}),
        ),
    };
    ResponseTemplate::new(200).set_body_raw(body, "application/x-ndjson")
}

fn assert_no_key(what: &str, texts: &[String], key: &str) {
    // No full key, and not its first half either (a cut key).
    let half = &key[..key.len() / 2];
    for t in texts {
        assert!(
            !t.contains(key) && !t.contains(half),
            "{what}: the key leaked: {t}"
        );
    }
}

#[tokio::test]
async fn a_key_echoed_anywhere_never_reaches_an_error_or_an_answer() {
    // Provider A's key; provider B (Ollama, no key of its own) learnt it and echoes it too.
    const ECHOED: &str = "sk-echo-A-0123456789abcdef";
    let _a = ApiKey::new(ECHOED);
    let server = MockServer::start().await;
    for echo in [
        Echo::ErrorIn200,
        Echo::Malformed,
        Echo::AtTheCut,
        Echo::InTheAnswer,
    ] {
        for stream in [false, true] {
            let tag = format!("{echo:?}-{stream}").to_lowercase();
            Mock::given(path(format!("/{tag}/chat/completions")))
                .respond_with(move |req: &Request| openai_echo(echo, &key_of(req), stream))
                .mount(&server)
                .await;
            Mock::given(path(format!("/{tag}/api/chat")))
                .respond_with(move |_: &Request| ollama_echo(echo, ECHOED, stream))
                .mount(&server)
                .await;
        }
    }
    let mut answers = 0;
    for echo in [
        Echo::ErrorIn200,
        Echo::Malformed,
        Echo::AtTheCut,
        Echo::InTheAnswer,
    ] {
        for stream in [false, true] {
            let tag = format!("{echo:?}-{stream}").to_lowercase();
            let openai: Arc<dyn ChatProvider> = Arc::new(
                OpenAiCompatible::new("a", format!("{}/{tag}", server.uri()))
                    .with_api_key(Some(ApiKey::new(ECHOED))),
            );
            let ollama: Arc<dyn ChatProvider> =
                Arc::new(Ollama::new("b", format!("{}/{tag}", server.uri())));
            for client in [openai, ollama] {
                let mut req = request();
                req.stream = stream;
                let what = format!("{} {tag}", client.name());
                match client.chat(&req).await {
                    Ok(resp) => {
                        answers += 1;
                        assert!(matches!(echo, Echo::InTheAnswer), "{what}: {resp:?}");
                        assert!(resp.content.contains("***"), "{what}: {resp:?}");
                        let mut texts = vec![
                            format!("{resp:?}"),
                            resp.content.clone(),
                            resp.model.clone(),
                        ];
                        texts.extend(resp.finish_reason.clone());
                        for t in &resp.tool_calls {
                            texts.extend([t.id.clone(), t.arguments_json.clone()]);
                        }
                        assert_no_key(&what, &texts, ECHOED);
                    }
                    Err(err) => {
                        assert!(!matches!(echo, Echo::InTheAnswer), "{what}: {err}");
                        let task: dagent_core::TaskError = err.clone().into();
                        assert_no_key(
                            &what,
                            &[err.to_string(), format!("{err:?}"), task.to_string()],
                            ECHOED,
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        answers, 4,
        "the answers with the key in them still arrive, scrubbed"
    );
}

#[tokio::test]
async fn ollama_tool_call_ids_are_numbered_without_gaps() {
    let server = MockServer::start().await;
    let call = |name: &str| json!({"function": {"name": name, "arguments": {"q": name}}});
    let lines = [
        json!({"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [call("a"), call("b")]}, "done": false}),
        json!({"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [call("c"), call("d")]}, "done": true, "prompt_eval_count": 1, "eval_count": 1}),
    ];
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Mock::given(path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ndjson, "application/x-ndjson"))
        .mount(&server)
        .await;
    let mut req = request();
    req.stream = true;
    let resp = Ollama::new("ollama", server.uri())
        .chat(&req)
        .await
        .unwrap();
    let ids: Vec<&str> = resp.tool_calls.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1", "call_2", "call_3"]);
    let names: Vec<&str> = resp.tool_calls.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused_unless_allowed() {
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("from the other host")))
        .mount(&target)
        .await;
    let origin = MockServer::start().await;
    let elsewhere = format!("{}/v1/chat/completions", target.uri());
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", elsewhere.as_str()))
        .mount(&origin)
        .await;
    // Same origin: followed.
    Mock::given(path("/moved/chat/completions"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", "/here/chat/completions"),
        )
        .mount(&origin)
        .await;
    Mock::given(path("/here/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("same host")))
        .mount(&origin)
        .await;

    let err = openai(&origin).await.chat(&request()).await.unwrap_err();
    let port = target.address().port();
    assert!(
        err.message()
            .contains(&format!("redirected the request to host 127.0.0.1:{port}"))
            && err.message().contains("follow_redirects"),
        "{err}"
    );
    assert!(!err.kind().is_transient(), "not retried: {err}");
    assert_eq!(err.status(), Some(307));
    assert!(
        target.received_requests().await.unwrap().is_empty(),
        "the prompt never reached the other host"
    );

    let same = OpenAiCompatible::new("stub", format!("{}/moved", origin.uri()));
    assert_eq!(same.chat(&request()).await.unwrap().content, "same host");

    let allowed = openai(&origin).await.follow_redirects(true);
    let resp = allowed.chat(&request()).await.unwrap();
    assert_eq!(resp.content, "from the other host");
    let got = target.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].headers.get("authorization").is_none(),
        "the key is not sent to another host"
    );
    // The same switch in a provider's configuration.
    let mut spec = ProviderSpec::new("stub", ProviderKind::OpenAi)
        .with_base_url(format!("{}/v1", origin.uri()));
    for (follow, sent) in [(false, 1), (true, 2)] {
        spec.follow_redirects = follow;
        let providers = Providers::from_specs(std::slice::from_ref(&spec)).unwrap();
        let result = providers.get("stub").unwrap().chat(&request()).await;
        assert_eq!(result.is_ok(), follow, "{result:?}");
        assert_eq!(target.received_requests().await.unwrap().len(), sent);
    }
}

/// A deterministic generator (SplitMix64) for the seeded property below.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A provider that answers in-process after a (paused-clock) delay, and may over-report
/// usage, never answer, or report none. It counts calls that reach it after an overrun.
struct Hostile {
    rng: std::sync::Mutex<Rng>,
    ledger: CostLedger,
    calls: std::sync::atomic::AtomicU64,
    after_overrun: std::sync::atomic::AtomicU64,
    over_reports: std::sync::atomic::AtomicU64,
}

impl ChatProvider for Hostile {
    fn name(&self) -> &str {
        "hostile"
    }
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> dagent_core::BoxFuture<'a, Result<dagent_core::ChatResponse, dagent_core::ProviderError>>
    {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        if !self.ledger.summary().overruns.is_empty() {
            self.after_overrun.fetch_add(1, SeqCst);
        }
        let (behaviour, delay, frac) = {
            let mut rng = self.rng.lock().unwrap();
            (rng.below(10), rng.below(300), rng.below(101))
        };
        let bound = dagent_core::worst_case_usage(request);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let usage = match behaviour {
                // Ten times the prompt the upper bound allows (or just over it), and every
                // output token.
                6 => {
                    self.over_reports.fetch_add(1, SeqCst);
                    let prompt = if frac % 2 == 0 {
                        bound.prompt_tokens * 10
                    } else {
                        bound.prompt_tokens + 1
                    };
                    Some(Usage::new(prompt, bound.completion_tokens))
                }
                7 | 8 => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    None
                }
                9 => None,
                _ => Some(Usage::new(
                    bound.prompt_tokens * frac / 100,
                    bound.completion_tokens * frac / 100,
                )),
            };
            Ok(dagent_core::ChatResponse {
                model: request.model.clone(),
                content: "x".repeat(20),
                usage,
                ..Default::default()
            })
        })
    }
}

/// Budget property under concurrency: providers that over-report usage, time out, and get
/// cancelled (futures dropped). Settled spend never exceeds the cap unless an overrun was
/// recorded; after an overrun no call reaches a provider; no reservation is left held.
#[tokio::test(start_paused = true)]
async fn budget_property_under_concurrency_with_overruns_timeouts_and_cancellations() {
    use std::sync::atomic::Ordering::SeqCst;
    let price = Price::new(Money::from_dollars(1), Money::from_dollars(2));
    let (mut overran, mut refused, mut dropped, mut within) = (0, 0, 0, 0);
    for seed in 0..120u64 {
        let mut rng = Rng(seed);
        let n = 1 + rng.below(24) as usize;
        let request = |i: usize| ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::user("y".repeat(50 + i * 7))],
            max_tokens: Some(40),
            ..ChatRequest::default()
        };
        let one = price.cost(dagent_core::worst_case_usage(&request(0)));
        let budget = one.saturating_mul(1 + rng.below(8));
        let ledger = CostLedger::new(Some(budget), None);
        let provider = Arc::new(Hostile {
            rng: std::sync::Mutex::new(Rng(seed ^ 0xA5A5)),
            ledger: ledger.clone(),
            calls: Default::default(),
            after_overrun: Default::default(),
            over_reports: Default::default(),
        });
        let mut handles = Vec::new();
        for i in 0..n {
            let (provider, ledger, req) = (Arc::clone(&provider), ledger.clone(), request(i));
            let start = Duration::from_millis(rng.below(200));
            let limit = Duration::from_millis(100 + rng.below(900));
            let handle = tokio::spawn(async move {
                tokio::time::sleep(start).await;
                let billing = dagent_core::Billing::new(format!("t{i}"), "m");
                tokio::time::timeout(
                    limit,
                    dagent_core::metered_chat(provider.as_ref(), &ledger, price, &req, billing),
                )
                .await
            });
            if rng.below(4) == 0 {
                // Cancelled: the executor drops the attempt's future.
                let abort = handle.abort_handle();
                let at = Duration::from_millis(rng.below(400));
                tokio::spawn(async move {
                    tokio::time::sleep(at).await;
                    abort.abort();
                });
            }
            handles.push(handle);
        }
        for h in handles {
            match h.await {
                Err(_) => dropped += 1,
                Ok(Err(_elapsed)) => dropped += 1,
                Ok(Ok(Err(dagent_core::MeteredError::Budget(e)))) => {
                    assert_eq!(e.kind(), TaskErrorKind::Budget);
                    refused += 1;
                }
                Ok(Ok(_)) => {}
            }
        }
        let s = ledger.summary();
        assert_eq!(
            s.reserved,
            Money::ZERO,
            "seed {seed}: a reservation is left held"
        );
        if s.overruns.is_empty() {
            assert!(
                s.total.cost <= budget,
                "seed {seed}: {} over {budget}",
                s.total.cost
            );
            within += 1;
        } else {
            overran += 1;
            assert!(provider.over_reports.load(SeqCst) > 0);
        }
        assert_eq!(
            provider.after_overrun.load(SeqCst),
            0,
            "seed {seed}: a call reached the provider after an overrun"
        );
        assert!(provider.calls.load(SeqCst) >= s.total.calls);
    }
    // Every path was exercised.
    assert!(
        overran > 0 && refused > 0 && dropped > 0 && within > 0,
        "{overran} {refused} {dropped} {within}"
    );
}

/// Eight slow calls and a 1 s timeout: the timed-out attempts give their reservations back,
/// so the other tasks run instead of waiting on leaked budget and failing unsent.
#[tokio::test(start_paused = true)]
async fn timed_out_attempts_release_their_budget_so_later_tasks_still_run() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    struct SlowFirst {
        calls: AtomicU64,
        worst: std::sync::Mutex<Money>,
        price: Price,
    }
    impl ChatProvider for SlowFirst {
        fn name(&self) -> &str {
            "stub"
        }
        fn chat<'a>(
            &'a self,
            request: &'a ChatRequest,
        ) -> dagent_core::BoxFuture<'a, Result<dagent_core::ChatResponse, dagent_core::ProviderError>>
        {
            let n = self.calls.fetch_add(1, SeqCst);
            *self.worst.lock().unwrap() = self.price.cost(dagent_core::worst_case_usage(request));
            Box::pin(async move {
                if n < 8 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok(dagent_core::ChatResponse {
                    content: "ok".into(),
                    usage: Some(Usage::new(12, 5)),
                    ..Default::default()
                })
            })
        }
    }
    let run = |budget: Option<Money>| async move {
        let mut catalogue = Catalogue::new();
        catalogue.insert(model("m", "stub", "1000", "1000"));
        let price = catalogue.get("m").unwrap().price;
        let router = Router {
            default_model: Some("m".into()),
            table: RoutingTable::empty(),
            ..Router::default()
        };
        let ledger = Arc::new(CostLedger::new(budget, None));
        let provider = Arc::new(SlowFirst {
            calls: AtomicU64::new(0),
            worst: std::sync::Mutex::new(Money::ZERO),
            price,
        });
        let runner = Arc::new(LlmRunner::new(
            HashMap::from([("stub".to_owned(), provider.clone() as Arc<dyn ChatProvider>)]),
            catalogue,
            router,
            ledger.clone(),
        ));
        // Titles of equal length: every call has the same worst case.
        let tasks: Vec<Task> = (0..16)
            .map(|i| Task::new(format!("t{i:02}"), format!("Task {i:02}")))
            .collect();
        let plan = Plan::new(tasks);
        let graph = TaskGraph::new(&plan, DependencyMap::new(16)).unwrap();
        let config = ExecutorConfig {
            max_concurrent: 16,
            task_timeout: Some(Duration::from_secs(1)),
            retry: RetryPolicy::none(),
            ..ExecutorConfig::default()
        };
        let report = Executor::new(config)
            .run(Arc::new(plan), &graph, runner)
            .await;
        let worst = *provider.worst.lock().unwrap();
        (report, ledger.summary(), provider.calls.load(SeqCst), worst)
    };
    // A probe without a cap measures one call's worst case.
    let (_, _, _, worst) = run(None).await;
    // Room for eight worst cases and a half: the eight slow calls take all of it at first.
    let budget = worst.saturating_mul(8) + Money::from_nanos(worst.nanos() / 2);
    let (report, summary, calls, _) = run(Some(budget)).await;
    assert_eq!(calls, 16, "every task's request was sent");
    assert_eq!(report.count(TaskStatus::Succeeded), 8, "{:?}", report.tasks);
    for t in report
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Failed)
    {
        assert_eq!(t.error.as_ref().unwrap().kind(), TaskErrorKind::Timeout);
    }
    assert_eq!(summary.reserved, Money::ZERO);
    assert_eq!(summary.total.calls, 8);
    assert!(summary.total.cost <= budget);
}

/// The worst case is a true upper bound: a provider counting one token per prompt byte (the
/// most a byte-level tokenizer can), ChatML's 5 tokens per message, and every allowed
/// output token never overruns, and the cap is never crossed.
#[tokio::test]
async fn a_byte_per_token_provider_never_overruns_the_reservation() {
    struct BytePerToken;
    impl ChatProvider for BytePerToken {
        fn name(&self) -> &str {
            "stub"
        }
        fn chat<'a>(
            &'a self,
            request: &'a ChatRequest,
        ) -> dagent_core::BoxFuture<'a, Result<dagent_core::ChatResponse, dagent_core::ProviderError>>
        {
            let prompt: usize = request.messages.iter().map(|m| m.content.len() + 5).sum();
            let out = u64::from(request.max_tokens.unwrap());
            Box::pin(async move {
                Ok(dagent_core::ChatResponse {
                    content: "ok".into(),
                    usage: Some(Usage::new(prompt as u64 + 3, out)),
                    ..Default::default()
                })
            })
        }
    }
    let mut catalogue = Catalogue::new();
    catalogue.insert(model("m", "stub", "1000", "1000"));
    let router = Router {
        default_model: Some("m".into()),
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let budget: Money = "2".parse().unwrap();
    let ledger = Arc::new(CostLedger::new(Some(budget), None));
    let runner = Arc::new(LlmRunner::new(
        HashMap::from([(
            "stub".to_owned(),
            Arc::new(BytePerToken) as Arc<dyn ChatProvider>,
        )]),
        catalogue,
        router,
        ledger.clone(),
    ));
    let (plan, graph) = plan(50);
    let report = Executor::new(ExecutorConfig {
        retry: RetryPolicy::none(),
        ..ExecutorConfig::default()
    })
    .run(plan, &graph, runner)
    .await;
    let s = ledger.summary();
    assert!(s.overruns.is_empty(), "{:?}", s.overruns);
    assert!(s.total.cost <= budget, "{} over {budget}", s.total.cost);
    assert!(s.total.calls > 0 && report.count(TaskStatus::Succeeded) as u64 == s.total.calls);
}

/// The wiring a library user needs, without the CLI: providers from specs, the pre-run
/// routing check, per-provider limits, the runner, and the analyzer's client.
#[tokio::test]
async fn providers_are_wired_from_specs_without_the_cli() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("wired")))
        .mount(&server)
        .await;
    let mut spec = ProviderSpec::new("stub", ProviderKind::OpenAi)
        .with_base_url(format!("{}/v1", server.uri()));
    spec.max_concurrent = Some(3);
    let mut catalogue = Catalogue::new();
    catalogue.insert(model("m", "stub", "1", "2"));
    catalogue.insert(model("elsewhere", "nowhere", "1", "2"));
    let router = Router {
        default_model: Some("m".into()),
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let providers = Providers::from_specs(std::slice::from_ref(&spec)).unwrap();
    assert_eq!(
        providers.key_limits(),
        HashMap::from([("stub".to_owned(), 3)])
    );
    let (plan, graph) = plan(3);
    providers.check_routes(&router, &catalogue, &plan).unwrap();

    // Every routing failure is named before anything runs.
    let mut unrouted = Router {
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let err = providers
        .check_routes(&unrouted, &catalogue, &plan)
        .unwrap_err();
    assert_eq!(err.kind(), WiringErrorKind::NoRoute);
    assert!(
        err.message()
            .starts_with("task \"t0\" (#1) routes to no model"),
        "{err}"
    );
    unrouted.default_model = Some("gpt-9".into());
    let err = providers
        .check_routes(&unrouted, &catalogue, &plan)
        .unwrap_err();
    assert_eq!(err.kind(), WiringErrorKind::UnknownModel);
    assert!(err.message().contains("add [models.gpt-9]"), "{err}");
    unrouted.default_model = Some("elsewhere".into());
    let err = providers
        .check_routes(&unrouted, &catalogue, &plan)
        .unwrap_err();
    assert_eq!(err.kind(), WiringErrorKind::ProviderNotConfigured);
    assert!(err.message().contains("add [providers.nowhere]"), "{err}");
    assert_eq!(
        Providers::from_specs(&[]).unwrap_err().kind(),
        WiringErrorKind::NoProviders
    );
    let mut openrouter = ProviderSpec::new("or", ProviderKind::OpenRouter);
    openrouter.api_key_env = Some("DAGENT_TEST_UNSET_KEY_VARIABLE".into());
    let err = Providers::from_specs(&[openrouter]).unwrap_err();
    assert_eq!(err.kind(), WiringErrorKind::MissingKey);
    assert!(
        err.message().contains("DAGENT_TEST_UNSET_KEY_VARIABLE"),
        "{err}"
    );

    // The analyzer's client, and a run through the wired runner.
    let (client, info) = providers.client_for_model(&catalogue, "m").unwrap();
    assert_eq!((client.name(), info.id.as_str()), ("stub", "vendor/m"));
    let ledger = Arc::new(CostLedger::new(None, None));
    let runner = Arc::new(providers.llm_runner(catalogue, router, ledger.clone()));
    let report = Executor::new(ExecutorConfig {
        key_limits: providers.key_limits(),
        ..ExecutorConfig::default()
    })
    .run(plan, &graph, runner)
    .await;
    assert!(report.all_succeeded(), "{:?}", report.tasks);
    assert_eq!(report.tasks[0].output.as_ref().unwrap().text, "wired");
    assert_eq!(ledger.summary().total.calls, 3);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

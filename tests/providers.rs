//! Provider clients against an in-process HTTP stub on 127.0.0.1 (wiremock).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{
    ChatMessage, ChatProvider, ChatRequest, CostTracker, DependencyMap, Money, Plan, Price,
    ProviderErrorKind, Task, TaskErrorKind, ToolSpec, Usage,
};
use dagent_executor::{Executor, ExecutorConfig, PlanGraph, RetryPolicy, TaskStatus};
use dagent_providers::{
    ApiKey, Catalogue, CostLedger, EndpointPool, LlmRunner, ModelInfo, Ollama, OpenAiCompatible,
    Router, RoutingTable,
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
    }
}

fn plan(n: usize) -> (Arc<Plan>, PlanGraph) {
    let tasks: Vec<Task> = (0..n)
        .map(|i| Task::new(format!("t{i}"), format!("Task {i}")))
        .collect();
    let plan = Plan::new(tasks);
    let graph = PlanGraph::new(&plan, DependencyMap::new(n)).unwrap();
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

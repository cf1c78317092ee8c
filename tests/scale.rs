//! Providers at scale: adaptive concurrency, per-minute limits, endpoint balancing with
//! cooldown and failover, and cost checked against the provider's own figure — against
//! in-process providers on tokio's paused clock, loopback HTTP stubs, and the CLI.
//! Rates and concurrency are counted at the stubs; nothing asserts wall-clock time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dagent_core::{
    Alternative, Billing, BoxFuture, ChatMessage, ChatProvider, ChatRequest, ChatResponse, Money,
    Price, ProviderError, ProviderErrorKind, Usage, metered_chat_with,
};
use dagent_providers::{
    Adaptive, AdaptiveLimit, Balance, CostLedger, Endpoint, EndpointPool, Ollama, OpenAiCompatible,
    PoolPolicy, RateLimited, RateLimits,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{dagent_env, scratch};

// ---------------------------------------------------------------------------------------
// In-process providers (no HTTP), for the paused clock.

/// A server that serves `capacity` calls at once, each taking `latency`, and answers
/// 429 to any call above that; it counts calls, rejections and the peak in flight.
struct Capped {
    name: String,
    capacity: usize,
    latency: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    calls: AtomicUsize,
    rejected: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
}

impl Capped {
    fn new(name: &str, capacity: usize, latency: Duration) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            capacity,
            latency,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            arrivals: Mutex::new(Vec::new()),
        })
    }
}

impl ChatProvider for Capped {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.arrivals.lock().unwrap().push(Instant::now());
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            if now > self.capacity {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                self.rejected.fetch_add(1, Ordering::SeqCst);
                return Err(
                    ProviderError::new(ProviderErrorKind::RateLimited, "busy").with_status(429)
                );
            }
            tokio::time::sleep(self.latency).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(ChatResponse {
                model: request.model.clone(),
                content: format!("from {}", self.name),
                usage: Some(Usage::new(10, 2)),
                ..ChatResponse::default()
            })
        })
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage::user("hello")],
        max_tokens: Some(8),
        ..ChatRequest::default()
    }
}

/// `callers` callers make `per_caller` successful calls each through `provider`, retrying
/// a rejected call after 50 ms (the executor's back-off, shortened).
async fn hammer(provider: Arc<dyn ChatProvider>, callers: usize, per_caller: usize) {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let p = Arc::clone(&provider);
            tokio::spawn(async move {
                let mut ok = 0;
                while ok < per_caller {
                    if p.chat(&request()).await.is_ok() {
                        ok += 1;
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn adaptive_concurrency_settles_at_what_the_server_allows() {
    let server = Capped::new("s", 5, Duration::from_millis(100));
    let limit = Arc::new(AdaptiveLimit::new(32));
    let adaptive: Arc<dyn ChatProvider> = Arc::new(Adaptive::new(
        server.clone() as Arc<dyn ChatProvider>,
        Arc::clone(&limit),
    ));
    hammer(adaptive, 40, 25).await;
    let (calls, rejected) = (
        server.calls.load(Ordering::SeqCst),
        server.rejected.load(Ordering::SeqCst),
    );
    assert_eq!(calls - rejected, 1_000);
    // It learned the capacity: the limit sits at or just around 5, never above the ceiling.
    let state = limit.state();
    assert!((3..=6).contains(&state.limit), "{state:?}");
    assert!(server.peak.load(Ordering::SeqCst) <= 32);
    assert!(state.decreases >= 4, "{state:?}");
    // Few calls were wasted on 429s.
    let share = rejected as f64 / calls as f64;
    assert!(share < 0.10, "{rejected} of {calls} rejected");

    // The same load with a fixed limit of 32 wastes most calls.
    let fixed_server = Capped::new("f", 5, Duration::from_millis(100));
    let fixed: Arc<dyn ChatProvider> = Arc::new(FixedLimit {
        inner: fixed_server.clone(),
        slots: tokio::sync::Semaphore::new(32),
    });
    hammer(fixed, 40, 25).await;
    let fixed_share = fixed_server.rejected.load(Ordering::SeqCst) as f64
        / fixed_server.calls.load(Ordering::SeqCst) as f64;
    assert!(
        fixed_share > 0.5 && fixed_share > 5.0 * share,
        "fixed {fixed_share}, adaptive {share}"
    );
}

/// Today's fixed per-provider limit, for comparison.
struct FixedLimit {
    inner: Arc<Capped>,
    slots: tokio::sync::Semaphore,
}

impl ChatProvider for FixedLimit {
    fn name(&self) -> &str {
        "fixed"
    }
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let _slot = self.slots.acquire().await.unwrap();
            self.inner.chat(request).await
        })
    }
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_are_paced_per_provider_and_per_model() {
    let server = Capped::new("s", 1_000, Duration::from_millis(10));
    let limited: Arc<dyn ChatProvider> = Arc::new(
        RateLimited::new(
            server.clone(),
            RateLimits {
                requests_per_minute: Some(60),
                tokens_per_minute: None,
            },
            [(
                "slow-model".to_owned(),
                RateLimits {
                    requests_per_minute: Some(6),
                    tokens_per_minute: None,
                },
            )],
        )
        .unwrap(),
    );
    let started = Instant::now();
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let p = Arc::clone(&limited);
            tokio::spawn(async move { p.chat(&request()).await.unwrap() })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    // Counted at the stub: never more than 60 in any 60-second window, one a second.
    let arrivals = server.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 30);
    for w in arrivals.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(999),
            "{:?}",
            w[1] - w[0]
        );
    }
    assert!(arrivals[29] - started >= Duration::from_secs(29));
    // A model's own limit is stricter: one call every 10 s.
    server.arrivals.lock().unwrap().clear();
    let slow = ChatRequest {
        model: "slow-model".into(),
        ..request()
    };
    for _ in 0..4 {
        limited.chat(&slow).await.unwrap();
    }
    let arrivals = server.arrivals.lock().unwrap().clone();
    for w in arrivals.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(9_999),
            "{:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn tokens_per_minute_hold_calls_until_the_bucket_refills() {
    let server = Capped::new("s", 1_000, Duration::from_millis(10));
    let limited: Arc<dyn ChatProvider> = Arc::new(
        RateLimited::new(
            server.clone(),
            RateLimits {
                requests_per_minute: None,
                tokens_per_minute: Some(1_000),
            },
            [],
        )
        .unwrap(),
    );
    // Each call is charged its estimated prompt (2 tokens) + max_tokens (398) = 400.
    let big = ChatRequest {
        max_tokens: Some(398),
        ..request()
    };
    assert_eq!(dagent_providers::request_tokens(&big), 400);
    let started = Instant::now();
    for _ in 0..7 {
        limited.chat(&big).await.unwrap();
    }
    // 7 × 400 = 2,800 tokens: a minute's bucket (1,000) at once, then 1,000 a minute, so
    // the stub sees the 7th call only after (2,800 − 1,000) ÷ 1,000 minutes ≈ 1.5 min
    // (by tokio's paused clock).
    let arrivals = server.arrivals.lock().unwrap().clone();
    let minutes = (arrivals[6] - started).as_secs_f64() / 60.0;
    assert!(minutes >= 1.55, "{minutes}");
    // At no point did the stub receive more than the bucket plus the refill.
    for (i, at) in arrivals.iter().enumerate() {
        let allowed = 1_000.0 + 1_000.0 * (*at - started).as_secs_f64() / 60.0;
        assert!(((i + 1) * 400) as f64 <= allowed + 1.0, "call {i}");
    }
}

// ---------------------------------------------------------------------------------------
// Balancing, cooldown, failover.

/// An endpoint that fails (connection refused) while `down` is set, and counts its calls.
struct Flaky {
    name: String,
    down: std::sync::atomic::AtomicBool,
    calls: AtomicUsize,
    latency: Duration,
}

impl Flaky {
    fn new(name: &str, down: bool, latency_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            down: std::sync::atomic::AtomicBool::new(down),
            calls: AtomicUsize::new(0),
            latency: Duration::from_millis(latency_ms),
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ChatProvider for Flaky {
    fn name(&self) -> &str {
        &self.name
    }
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.latency).await;
            if self.down.load(Ordering::SeqCst) {
                return Err(ProviderError::new(
                    ProviderErrorKind::Connection,
                    "connection refused",
                ));
            }
            Ok(ChatResponse {
                model: request.model.clone(),
                content: self.name.clone(),
                ..ChatResponse::default()
            })
        })
    }
}

fn pool(endpoints: &[Arc<Flaky>], policy: PoolPolicy) -> EndpointPool {
    EndpointPool::with_policy(
        "p",
        endpoints
            .iter()
            .map(|e| Endpoint::new(e.clone() as Arc<dyn ChatProvider>, e.name.clone()))
            .collect(),
        policy,
    )
}

#[tokio::test(start_paused = true)]
async fn each_balancing_strategy_spreads_calls_as_documented() {
    let policy = |balance, weights: Vec<u32>| PoolPolicy {
        balance,
        weights,
        ..PoolPolicy::default()
    };
    let eps = || {
        [
            Flaky::new("a", false, 10),
            Flaky::new("b", false, 10),
            Flaky::new("c", false, 10),
        ]
    };

    let e = eps();
    let p = pool(&e, policy(Balance::RoundRobin, vec![]));
    for _ in 0..30 {
        p.chat(&request()).await.unwrap();
    }
    assert_eq!(e.each_ref().map(|x| x.calls()), [10, 10, 10]);

    let e = eps();
    let p = pool(&e, policy(Balance::Weighted, vec![3, 1, 1]));
    for _ in 0..50 {
        p.chat(&request()).await.unwrap();
    }
    assert_eq!(e.each_ref().map(|x| x.calls()), [30, 10, 10]);

    let e = eps();
    let p = pool(&e, policy(Balance::Priority, vec![]));
    for _ in 0..10 {
        p.chat(&request()).await.unwrap();
    }
    assert_eq!(e.each_ref().map(|x| x.calls()), [10, 0, 0]);

    // Lowest latency: after one call each, the fastest server gets the rest.
    let e = [
        Flaky::new("a", false, 50),
        Flaky::new("b", false, 5),
        Flaky::new("c", false, 20),
    ];
    let p = pool(&e, policy(Balance::LowestLatency, vec![]));
    for _ in 0..20 {
        p.chat(&request()).await.unwrap();
    }
    assert_eq!(e.each_ref().map(|x| x.calls()), [1, 18, 1]);

    // Least busy (the default): three calls at once go to three servers.
    let e = eps();
    let p = Arc::new(pool(&e, PoolPolicy::default()));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.chat(&request()).await.unwrap() })
        })
        .collect();
    for c in calls {
        c.await.unwrap();
    }
    assert_eq!(e.each_ref().map(|x| x.calls()), [1, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_endpoint_fails_over_within_the_call_then_cools_down() {
    let e = [Flaky::new("dead", true, 1), Flaky::new("good", false, 1)];
    let p = pool(
        &e,
        PoolPolicy {
            balance: Balance::Priority,
            allowed_fails: 2,
            cooldown: Duration::from_secs(30),
            ..PoolPolicy::default()
        },
    );
    // Every call succeeds: the dead endpoint's failure is retried on the other at once.
    for _ in 0..5 {
        assert_eq!(p.chat(&request()).await.unwrap().content, "good");
    }
    // After two consecutive failures the dead endpoint cools down and is left alone.
    assert_eq!(e[0].calls(), 2);
    assert_eq!(e[1].calls(), 5);
    let stats = p.stats();
    assert_eq!(
        (
            stats[0].errors,
            stats[0].failovers,
            stats[0].cooldowns,
            stats[0].cooling_down
        ),
        (2, 2, 1, true)
    );
    assert_eq!((stats[1].requests, stats[1].errors), (5, 0));
    // The cooldown ends; the endpoint has recovered and, first in priority, serves again.
    tokio::time::advance(Duration::from_secs(31)).await;
    e[0].down.store(false, Ordering::SeqCst);
    assert_eq!(p.chat(&request()).await.unwrap().content, "dead");
    assert!(!p.stats()[0].cooling_down);
    // A permanent error is not failed over (it would fail anywhere).
    let bad = pool(&[Flaky::new("x", false, 1)], PoolPolicy::default());
    assert!(bad.chat(&request()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn when_every_endpoint_cools_down_the_first_to_recover_is_tried() {
    let e = [Flaky::new("a", true, 1), Flaky::new("b", true, 1)];
    let p = pool(
        &e,
        PoolPolicy {
            allowed_fails: 1,
            cooldown: Duration::from_secs(60),
            ..PoolPolicy::default()
        },
    );
    let err = p.chat(&request()).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Connection);
    assert!(p.stats().iter().all(|s| s.cooling_down));
    e[1].down.store(false, Ordering::SeqCst);
    // Both cool down; the call still goes out (to "a", whose cooldown ends first, then "b").
    assert_eq!(p.chat(&request()).await.unwrap().content, "b");
}

#[tokio::test]
async fn health_checks_mark_endpoints_and_end_a_cooldown() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&up)
        .await;
    let down = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let client = |uri: &str| OpenAiCompatible::new("p", format!("{uri}/v1"));
    let (a, b) = (client(&up.uri()), client(&down.uri()));
    let p = EndpointPool::with_policy(
        "p",
        vec![
            Endpoint::new(Arc::new(a.clone()), a.base_url()).with_health_url(a.health_url()),
            Endpoint::new(Arc::new(b.clone()), b.base_url()).with_health_url(b.health_url()),
        ],
        PoolPolicy {
            allowed_fails: 1,
            ..PoolPolicy::default()
        },
    );
    p.check_health(Duration::from_secs(5)).await;
    let s = p.stats();
    assert_eq!((s[0].healthy, s[1].healthy), (Some(true), Some(false)));
    assert!(s[1].cooling_down && !s[0].cooling_down);
    assert_eq!(up.received_requests().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// HTTP: 429 with Retry-After and X-RateLimit-*, Ollama's full queue.

type Handler = Arc<dyn Fn(usize) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

/// A keep-alive HTTP/1.1 stub on 127.0.0.1 answering each request by `handler(n)` (n counts
/// requests from 0), after `delay`.
async fn http_stub(handler: Handler, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (handler, counter) = (Arc::clone(&handler), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let (head_end, len) = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            break (pos + 4, len);
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let (status, headers, body) = handler(n);
                    let mut resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    resp.push_str(&body);
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), count)
}

fn ok_body() -> String {
    json!({
        "model": "m",
        "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}
    })
    .to_string()
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[tokio::test]
async fn a_429_with_retry_after_shrinks_the_limit_and_holds_new_calls() {
    let (url, count) = http_stub(
        Arc::new(|n| {
            if n == 0 {
                (
                    429,
                    vec![h("Retry-After", "3600")],
                    r#"{"error":{"message":"slow down"}}"#.into(),
                )
            } else {
                (200, vec![], ok_body())
            }
        }),
        Duration::ZERO,
    )
    .await;
    let limit = Arc::new(AdaptiveLimit::new(4));
    let client =
        OpenAiCompatible::new("p", format!("{url}/v1")).with_rate_signals(Arc::clone(&limit));
    let adaptive = Adaptive::new(Arc::new(client), Arc::clone(&limit));
    let err = adaptive.chat(&request()).await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    let s = limit.state();
    assert_eq!((s.limit, s.rejected, s.paused), (3, 1, true));
    // The next call is held by the hour-long pause: the stub sees nothing more.
    let held = tokio::time::timeout(Duration::from_millis(300), adaptive.chat(&request())).await;
    assert!(held.is_err(), "the call went out during the pause");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn spent_quota_headers_pause_new_calls_openrouter_and_openai_forms() {
    let reset_ms = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + Duration::from_secs(3600))
    .as_millis()
    .to_string();
    for headers in [
        // OpenRouter: epoch milliseconds.
        vec![
            h("X-RateLimit-Remaining", "0"),
            h("X-RateLimit-Reset", &reset_ms),
        ],
        // OpenAI: a Go duration.
        vec![
            h("x-ratelimit-remaining-requests", "0"),
            h("x-ratelimit-reset-requests", "6m0s"),
        ],
    ] {
        let (url, count) = http_stub(
            Arc::new(move |_| (200, headers.clone(), ok_body())),
            Duration::ZERO,
        )
        .await;
        let limit = Arc::new(AdaptiveLimit::new(4));
        let client =
            OpenAiCompatible::new("p", format!("{url}/v1")).with_rate_signals(Arc::clone(&limit));
        let adaptive = Adaptive::new(Arc::new(client), Arc::clone(&limit));
        // The answer itself is fine and counts as a success…
        adaptive.chat(&request()).await.unwrap();
        assert!(limit.state().paused);
        // …but the quota is spent: no new call goes out before the reset.
        let held =
            tokio::time::timeout(Duration::from_millis(300), adaptive.chat(&request())).await;
        assert!(held.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
    // Remaining above zero: nothing is held.
    let (url, count) = http_stub(
        Arc::new(|_| {
            (
                200,
                vec![
                    h("X-RateLimit-Remaining", "5"),
                    h("X-RateLimit-Reset", "60"),
                ],
                ok_body(),
            )
        }),
        Duration::ZERO,
    )
    .await;
    let limit = Arc::new(AdaptiveLimit::new(4));
    let client =
        OpenAiCompatible::new("p", format!("{url}/v1")).with_rate_signals(Arc::clone(&limit));
    let adaptive = Adaptive::new(Arc::new(client), Arc::clone(&limit));
    for _ in 0..3 {
        adaptive.chat(&request()).await.unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn ollama_queue_full_is_backpressure() {
    let (url, _) = http_stub(
        Arc::new(|_| {
            (
                503,
                vec![],
                r#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#
                    .into(),
            )
        }),
        Duration::ZERO,
    )
    .await;
    let limit = Arc::new(AdaptiveLimit::new(8));
    let client = Ollama::new("ollama", &url).with_rate_signals(Arc::clone(&limit));
    let adaptive = Adaptive::new(Arc::new(client), Arc::clone(&limit));
    let err = adaptive.chat(&request()).await.unwrap_err();
    assert!(err.kind().is_transient(), "{err}");
    assert!(dagent_providers::is_backpressure(&err));
    let s = limit.state();
    assert_eq!((s.limit, s.rejected, s.decreases), (6, 1, 1));
}

/// A loopback OpenAI-compatible stub serving `capacity` calls at once (each `delay` long)
/// and answering 429 to any call above that: (base URL, calls served, calls rejected).
async fn capped_http_stub(
    capacity: usize,
    delay: Duration,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let (in_flight, served, rejected) = (
            Arc::clone(&in_flight),
            Arc::clone(&served),
            Arc::clone(&rejected),
        );
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (in_flight, served, rejected) = (
                    Arc::clone(&in_flight),
                    Arc::clone(&served),
                    Arc::clone(&rejected),
                );
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let (head_end, len) = loop {
                            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head =
                                    String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| {
                                        l.strip_prefix("content-length:")
                                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                    })
                                    .unwrap_or(0);
                                break (pos + 4, len);
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + len);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        let (status, body) = if now > capacity {
                            rejected.fetch_add(1, Ordering::SeqCst);
                            (429, r#"{"error":{"message":"too many"}}"#.to_owned())
                        } else {
                            tokio::time::sleep(delay).await;
                            served.fetch_add(1, Ordering::SeqCst);
                            (200, ok_body())
                        };
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }
    (format!("http://{addr}/v1"), served, rejected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_over_http_keeps_a_five_slot_stub_mostly_within_its_capacity() {
    let (url, served, rejected) = capped_http_stub(5, Duration::from_millis(10)).await;
    let limit = Arc::new(AdaptiveLimit::new(32));
    let client = OpenAiCompatible::new("p", url).with_rate_signals(Arc::clone(&limit));
    let adaptive: Arc<dyn ChatProvider> =
        Arc::new(Adaptive::new(Arc::new(client), Arc::clone(&limit)));
    hammer(adaptive, 32, 20).await;
    let (served, rejected) = (
        served.load(Ordering::SeqCst),
        rejected.load(Ordering::SeqCst),
    );
    assert_eq!(served, 640);
    // Counted at the stub: most calls were within its capacity.
    assert!(
        (rejected as f64) < 0.25 * (served + rejected) as f64,
        "{rejected} rejected, {served} served"
    );
    assert!(
        (1..=8).contains(&limit.state().limit),
        "{:?}",
        limit.state()
    );
}

// ---------------------------------------------------------------------------------------
// Cost checked against the provider.

#[tokio::test]
async fn cached_and_reasoning_tokens_are_counted_apart_at_their_own_prices() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1000, "completion_tokens": 500,
                "prompt_tokens_details": {"cached_tokens": 800},
                "completion_tokens_details": {"reasoning_tokens": 300}
            }
        })))
        .mount(&server)
        .await;
    let client = OpenAiCompatible::new("p", format!("{}/v1", server.uri()));
    let m = |s: &str| s.parse::<Money>().unwrap();
    // $1/M in, $0.10/M cached, $2/M out, $4/M reasoning.
    let price = Price::new(m("1"), m("2")).with_details(Some(m("0.1")), Some(m("4")));
    let ledger = CostLedger::default();
    let req = ChatRequest {
        max_tokens: Some(600),
        ..request()
    };
    let done = metered_chat_with(&client, &ledger, price, &[], &req, Billing::new("t", "m"))
        .await
        .unwrap();
    assert_eq!(done.usage.cached_prompt_tokens, 800);
    assert_eq!(done.usage.reasoning_tokens, 300);
    // 200 × $1 + 800 × $0.1 + 200 × $2 + 300 × $4, per million = $0.00188
    assert_eq!(done.cost, m("0.00188"));
    // The reservation covered the dearer reasoning price for every output token.
    assert!(done.worst_case >= price.upper_bound().cost(Usage::new(0, 600)));
    assert_eq!(
        ledger.summary().by_model["m"].usage.cached_prompt_tokens,
        800
    );
}

#[tokio::test]
async fn the_budget_charges_the_larger_of_dagents_and_the_providers_figures() {
    // dagent's price table says $1/M each way; the provider reports 5× that.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 100, "cost": 0.001}
        })))
        .mount(&server)
        .await;
    let client = OpenAiCompatible::new("p", format!("{}/v1", server.uri()));
    let m = |s: &str| s.parse::<Money>().unwrap();
    let price = Price::new(m("1"), m("1"));
    let req = ChatRequest {
        max_tokens: Some(300),
        ..request()
    };
    // Worst case: (5 bytes + 16 + 16) prompt + 300 out = 337 tokens = $0.000337 < $0.001
    // reported, so each call overruns its reservation... keep the provider's figure below
    // the worst case instead: use a bigger max_tokens.
    let req = ChatRequest {
        max_tokens: Some(1_500),
        ..req
    };
    let worst = price.cost(dagent_core::worst_case_usage(&req));
    assert_eq!(worst, m("0.001537"));
    // A $0.0035 budget: by dagent's figure ($0.0002 a call) many calls fit; by the
    // provider's ($0.001 a call), after two calls only $0.0015 is left, less than a
    // worst case, so the third is refused.
    let ledger = CostLedger::new(Some(m("0.0035")), None);
    let mut answered = 0;
    let mut refused = None;
    for _ in 0..5 {
        match metered_chat_with(&client, &ledger, price, &[], &req, Billing::new("t", "m")).await {
            Ok(done) => {
                answered += 1;
                assert_eq!(done.cost, m("0.0002"));
                assert_eq!(done.reported_cost, Some(m("0.001")));
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(answered, 2);
    assert!(
        matches!(&refused, Some(dagent_core::MeteredError::Budget(_))),
        "{refused:?}"
    );
    let s = ledger.summary();
    assert_eq!((s.total.cost, s.total.billed), (m("0.0004"), m("0.002")));
    let d = s.by_model["m"].drift().unwrap();
    assert_eq!(d.percent(), Some(400.0));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_model_that_answered_is_billed_not_the_one_requested() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "vendor/backup-2025-01-01",
            "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000}
        })))
        .mount(&server)
        .await;
    let client = OpenAiCompatible::new("p", format!("{}/v1", server.uri()));
    let m = |s: &str| s.parse::<Money>().unwrap();
    let primary = Price::new(m("1"), m("1"));
    let backup = Alternative {
        id: "vendor/backup".into(),
        name: "backup".into(),
        price: Price::new(m("10"), m("20")),
    };
    let ledger = CostLedger::default();
    let req = ChatRequest {
        model: "vendor/primary".into(),
        ..request()
    };
    let done = metered_chat_with(
        &client,
        &ledger,
        primary,
        std::slice::from_ref(&backup),
        &req,
        Billing::new("t", "primary"),
    )
    .await
    .unwrap();
    assert_eq!(done.model, "backup");
    assert_eq!(done.cost, m("0.03"));
    // The reservation was priced at the dearer model.
    assert_eq!(
        done.worst_case,
        backup.price.cost(dagent_core::worst_case_usage(&req))
    );
    let s = ledger.summary();
    assert!(s.by_model.contains_key("backup") && !s.by_model.contains_key("primary"));
}

// ---------------------------------------------------------------------------------------
// Through the CLI.

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const PLAN: &str = r#"
title = "five independent"
[[tasks]]
id = "a"
title = "Alpha"
depends_on = []
[[tasks]]
id = "b"
title = "Beta"
depends_on = []
[[tasks]]
id = "c"
title = "Gamma"
depends_on = []
[[tasks]]
id = "d"
title = "Delta"
depends_on = []
[[tasks]]
id = "e"
title = "Epsilon"
depends_on = []
"#;

async fn run_cli(
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
) -> crate::support::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dagent_env(&refs, &env)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_a_dead_endpoint_fails_over_without_task_retries_and_the_report_shows_it() {
    let good = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2}
        })))
        .mount(&good)
        .await;
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = scratch("scale-failover");
    let config = format!(
        r#"
[parallelization]
max_concurrent_tasks = 1
max_retries = 0

[providers.local]
kind = "openai"
base_urls = ["http://{dead}/v1", "{}/v1"]
balance = "priority"
allowed_fails = 2
cooldown_seconds = 600

[models.m]
provider = "local"
pricing = {{ input = "1", output = "1" }}

[routing]
default_model = "m"
"#,
        good.uri()
    );
    let cfg = write(&dir, "dagent.toml", &config);
    let plan = write(&dir, "plan.toml", PLAN);
    let report = dir.join("r.json").display().to_string();
    let out = run_cli(
        vec![
            "run".into(),
            plan,
            "--config".into(),
            cfg,
            "--no-store".into(),
            "--report".into(),
            report.clone(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status, 0, "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["counts"]["succeeded"], 5);
    assert_eq!(r["retries"], 0, "failover is not a task retry");
    assert!(
        r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["attempts"] == 1)
    );
    let eps = r["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0]["url"], format!("http://{dead}/v1"));
    assert_eq!(
        (eps[0]["errors"].as_u64(), eps[0]["cooldowns"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(eps[0]["cooling_down"], true);
    assert_eq!(
        (eps[1]["requests"].as_u64(), eps[1]["errors"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(good.received_requests().await.unwrap().len(), 5);
    assert!(out.stdout.contains("Endpoints\n"), "{}", out.stdout);
    assert!(out.stdout.contains("cooling down"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_cost_drift_per_model_fallback_billing_and_routing_passed_through() {
    let server = MockServer::start().await;
    // "right" reports exactly dagent's figure; "wrong" reports 1.5× it; requests for
    // "vendor/flaky" are answered by its fallback "vendor/backup".
    Mock::given(method("POST"))
        .respond_with(|req: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let (model, cost) = match body["model"].as_str().unwrap() {
                "vendor/right" => ("vendor/right", 0.00012),
                "vendor/wrong" => ("vendor/wrong", 0.00018),
                _ => ("vendor/backup", 0.0012),
            };
            ResponseTemplate::new(200).set_body_json(json!({
                "model": model,
                "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "cost": cost,
                          "prompt_tokens_details": {"cached_tokens": 40}}
            }))
        })
        .mount(&server)
        .await;
    let dir = scratch("scale-drift");
    let config = format!(
        r#"
[providers.openrouter]
kind = "openrouter"
base_url = "{}/api/v1"
api_key_env = "DAGENT_TEST_KEY"
provider_routing = {{ sort = "price", ignore = ["slowco"] }}

[models.right]
provider = "openrouter"
id = "vendor/right"
pricing = {{ input = "1", output = "1" }}

[models.wrong]
provider = "openrouter"
id = "vendor/wrong"
pricing = {{ input = "1", output = "1" }}

[models.flaky]
provider = "openrouter"
id = "vendor/flaky"
pricing = {{ input = "1", output = "1" }}
fallback_models = ["backup"]
provider_routing = {{ order = ["acme"], max_price = {{ prompt = 1 }} }}

[models.backup]
provider = "openrouter"
id = "vendor/backup"
pricing = {{ input = "10", output = "10", cached_input = "1" }}

[routing]
default_model = "right"
"#,
        server.uri()
    );
    let cfg = write(&dir, "dagent.toml", &config);
    let plan = write(
        &dir,
        "plan.toml",
        r#"
[[tasks]]
id = "r1"
title = "One"
model = "right"
depends_on = []
[[tasks]]
id = "w1"
title = "Two"
model = "wrong"
depends_on = []
[[tasks]]
id = "w2"
title = "Three"
model = "wrong"
depends_on = []
[[tasks]]
id = "f1"
title = "Four"
model = "flaky"
depends_on = []
"#,
    );
    let report = dir.join("r.json").display().to_string();
    let out = run_cli(
        vec![
            "run".into(),
            plan,
            "--config".into(),
            cfg,
            "--no-store".into(),
            "--report".into(),
            report.clone(),
        ],
        vec![("DAGENT_TEST_KEY", "sk-test-scale-0123456789")],
    )
    .await;
    assert_eq!(out.status, 0, "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let by = &r["cost"]["by_model"];
    // 60 uncached + 40 cached + 20 out at $1/M = $0.00012: the provider agrees.
    assert_eq!(by["right"]["drift"]["dagent_usd"], "0.00012");
    assert_eq!(by["right"]["drift"]["provider_usd"], "0.00012");
    assert_eq!(by["right"]["drift"]["percent"], 0.0);
    assert_eq!(by["right"]["cached_prompt_tokens"], 40);
    // The wrong price table shows: +50 %.
    assert_eq!(by["wrong"]["drift"]["calls"], 2);
    assert_eq!(by["wrong"]["drift"]["difference_usd"], "+0.00012");
    assert_eq!(by["wrong"]["drift"]["percent"], 50.0);
    // The fallback answered: billed as "backup" at its price (60 × $10 + 40 × $1 + 20 × $10).
    assert!(by.get("flaky").is_none(), "{by}");
    assert_eq!(by["backup"]["cost_usd"], "0.00084");
    let f1 = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "f1")
        .unwrap();
    assert_eq!(f1["model"], "backup");
    // The budget counts the larger figure per call.
    assert_eq!(r["cost"]["total_usd"], "0.0012");
    // right $0.00012 + wrong 2 × $0.00018 (the provider's) + backup $0.0012 (the provider's).
    assert_eq!(r["cost"]["billed_usd"], "0.00168");
    assert!(out.stdout.contains("(+$0.00012, +50.0%)"), "{}", out.stdout);
    // OpenRouter's preferences and fallbacks went out as configured.
    let sent: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    let flaky = sent.iter().find(|b| b["model"] == "vendor/flaky").unwrap();
    assert_eq!(flaky["models"], json!(["vendor/flaky", "vendor/backup"]));
    assert_eq!(
        flaky["provider"],
        json!({"order": ["acme"], "max_price": {"prompt": 1}})
    );
    let right = sent.iter().find(|b| b["model"] == "vendor/right").unwrap();
    assert_eq!(
        right["provider"],
        json!({"sort": "price", "ignore": ["slowco"]})
    );
    assert!(right.get("models").is_none());
}

#[test]
fn cli_scale_configuration_errors_point_at_line_and_column() {
    let dir = scratch("scale-config-errors");
    let head = "[providers.local]\nkind = \"openai\"\nbase_urls = [\"http://127.0.0.1:9/v1\", \"http://127.0.0.1:10/v1\"]\n";
    for (extra, needle) in [
        (
            "balance = \"fastest\"\n",
            "4:11: unknown balance \"fastest\"",
        ),
        (
            "weights = [1]\n",
            "4:11: provider \"local\" has 1 weights for 2 base URLs",
        ),
        (
            "requests_per_minute = 0\n",
            "4:23: requests_per_minute must be a whole number from 1 to 1000000",
        ),
        (
            "tokens_per_minute = 10000000000\n",
            "4:21: tokens_per_minute must be a whole number from 1 to 1000000000",
        ),
        (
            "allowed_fails = 0\n",
            "4:17: allowed_fails must be a whole number from 1 to 1000",
        ),
        (
            "cooldown_seconds = -1\n",
            "4:20: cooldown_seconds must be a positive number of seconds",
        ),
        (
            "provider_routing = { sort = \"price\" }\n",
            "provider_routing is OpenRouter's",
        ),
        ("adaptive = \"yes\"\n", "4:12:"),
    ] {
        let cfg = write(&dir, "dagent.toml", &format!("{head}{extra}"));
        let out = dagent_env(&["models", "--config", &cfg], &[]);
        assert_eq!(out.status, 2, "{extra}: {out}");
        assert!(out.stderr.contains(needle), "{extra}: {}", out.stderr);
    }
    let or = "[providers.or]\nkind = \"openrouter\"\n[models.x]\nprovider = \"or\"\n";
    for (extra, needle) in [
        (
            "fallback_models = [\"nope\"]\n",
            "5:20: model \"x\": unknown fallback model \"nope\"",
        ),
        (
            "provider_routing = { colour = \"red\" }\n",
            "unknown provider_routing key \"colour\"",
        ),
        (
            "provider_routing = { sort = \"vibes\" }\n",
            "provider_routing.sort must be",
        ),
        (
            "pricing = { input = \"1\", output = \"1\", reasoning = \"x\" }\n",
            "pricing.reasoning",
        ),
    ] {
        let cfg = write(&dir, "dagent.toml", &format!("{or}{extra}"));
        let out = dagent_env(&["models", "--config", &cfg], &[]);
        assert_eq!(out.status, 2, "{extra}: {out}");
        assert!(out.stderr.contains(needle), "{extra}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_models_shows_endpoint_policy_and_health() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&up)
        .await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = scratch("scale-models");
    let cfg = write(
        &dir,
        "dagent.toml",
        &format!(
            "[providers.local]\nkind = \"openai\"\nbase_urls = [\"{}/v1\", \"http://{dead}/v1\"]\nadaptive = true\nmax_concurrent = 4\nrequests_per_minute = 120\nbalance = \"weighted\"\nweights = [3, 1]\nallowed_fails = 1\nhealth_check_seconds = 30\n",
            up.uri()
        ),
    );
    let args = vec![
        "models".to_owned(),
        "--config".to_owned(),
        cfg.clone(),
        "--health".to_owned(),
    ];
    let out = run_cli(args, vec![]).await;
    assert_eq!(out.status, 0, "{out}");
    assert!(out.stdout.contains("adaptive concurrency · 120 requests/min · weighted, cooldown 5s after 1 failures · health check every 30s"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("endpoint {}/v1: healthy", up.uri())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "endpoint http://{dead}/v1: UNHEALTHY, cooling down"
        )),
        "{}",
        out.stdout
    );
    let args = vec![
        "models".to_owned(),
        "--config".to_owned(),
        cfg,
        "--health".to_owned(),
        "-f".to_owned(),
        "json".to_owned(),
    ];
    let out = run_cli(args, vec![]).await;
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let p = &doc["providers"][0];
    assert_eq!(
        (p["adaptive"].as_bool(), p["balance"].as_str()),
        (Some(true), Some("weighted"))
    );
    assert_eq!(p["endpoints"][0]["healthy"], true);
    assert_eq!(p["endpoints"][1]["healthy"], false);
    // A provider that cannot be built (OpenRouter without its key) is left out and named;
    // the others are still checked.
    let with_openrouter = std::fs::read_to_string(dir.join("dagent.toml")).unwrap()
        + "\n[providers.or]\nkind = \"openrouter\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"DAGENT_TEST_NO_SUCH_KEY\"\n";
    let cfg = write(&dir, "dagent2.toml", &with_openrouter);
    let out = run_cli(
        vec![
            "models".to_owned(),
            "--config".to_owned(),
            cfg,
            "--health".to_owned(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status, 0, "{out}");
    assert!(
        out.stderr.contains("not checked") && out.stderr.contains("DAGENT_TEST_NO_SUCH_KEY"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("endpoint {}/v1: healthy", up.uri())),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_adaptive_run_learns_a_two_slot_server_and_reports_its_limit() {
    let (url, served, rejected) = capped_http_stub(2, Duration::from_millis(30)).await;
    let dir = scratch("scale-adaptive-cli");
    let config = format!(
        r#"
[parallelization]
max_concurrent_tasks = 10
max_retries = 30
retry_backoff_seconds = [0.02]

[providers.local]
kind = "openai"
base_url = "{url}"
adaptive = true
max_concurrent = 8

[models.m]
provider = "local"
pricing = {{ input = "0", output = "0" }}

[routing]
default_model = "m"
"#
    );
    let cfg = write(&dir, "dagent.toml", &config);
    let mut plan = String::new();
    for i in 0..20 {
        plan.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ntitle = \"Task {i}\"\ndepends_on = []\n"
        ));
    }
    let plan = write(&dir, "plan.toml", &plan);
    let report = dir.join("r.json").display().to_string();
    let out = run_cli(
        vec![
            "run".into(),
            plan,
            "--config".into(),
            cfg,
            "--no-store".into(),
            "--report".into(),
            report.clone(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status, 0, "{out}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["counts"]["succeeded"], 20);
    assert_eq!(served.load(Ordering::SeqCst), 20);
    let ep = &r["endpoints"][0];
    // The limit came down from 8 towards the server's 2, and the report counts what the
    // stub rejected.
    let limit = ep["adaptive_limit"].as_u64().unwrap();
    assert!((1..=4).contains(&limit), "{ep}");
    assert_eq!(
        ep["rejected"].as_u64().unwrap() as usize,
        rejected.load(Ordering::SeqCst)
    );
    assert!(out.stdout.contains("limit "), "{}", out.stdout);
}

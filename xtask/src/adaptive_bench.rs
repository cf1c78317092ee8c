//! Adaptive concurrency against a loopback stub that serves 5 calls at a time (20 ms each)
//! and answers 429 to any call above that: how long the limit takes to settle at the
//! server's capacity, and the share of calls rejected.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dagent_core::{ChatMessage, ChatProvider, ChatRequest};
use dagent_providers::{Endpoint, EndpointPool, OpenAiCompatible, PoolPolicy};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Calls the stub serves at once.
pub(crate) const CAPACITY: usize = 5;
const BODY: &str = r#"{"id":"x","model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1}}"#;
const BUSY: &str =
    r#"{"error":{"message":"rate limited: too many concurrent requests","code":429}}"#;

/// The stub: keep-alive HTTP/1.1; a call above [`CAPACITY`] in flight gets 429 at once.
async fn stub(peak: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    let in_flight = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let in_flight = Arc::clone(&in_flight);
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let mut buf = Vec::with_capacity(4096);
                loop {
                    if !crate::client_bench::read_request(&mut sock, &mut buf).await {
                        return;
                    }
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let resp = if now > CAPACITY {
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        format!(
                            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BUSY}",
                            BUSY.len()
                        )
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        )
                    };
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

/// What one run measured.
#[derive(Debug)]
pub(crate) struct Measured {
    /// From the first call until the limit first came down to the server's capacity.
    pub(crate) settle: Duration,
    /// Calls answered 429, over all calls sent.
    pub(crate) rejected_share: f64,
    /// The same share over the calls sent after settling.
    pub(crate) steady_rejected_share: f64,
    /// Successful calls per second.
    pub(crate) throughput: f64,
    /// Times the limit was cut.
    pub(crate) cuts: u64,
    /// The limit at the end.
    pub(crate) final_limit: usize,
}

/// Runs `successes` successful calls from 64 callers, each retrying a rejected call after
/// 20 ms, with
/// `adaptive` concurrency (ceiling 32) or a fixed 32.
pub(crate) fn measure(successes: usize, adaptive: bool) -> Measured {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let peak = Arc::new(AtomicUsize::new(0));
        let url = stub(Arc::clone(&peak)).await;
        let limit = Arc::new(dagent_providers::AdaptiveLimit::new(32));
        let client = OpenAiCompatible::new("stub", &url)
            .with_timeout(Duration::from_secs(10))
            .with_rate_signals(Arc::clone(&limit));
        let mut endpoint = Endpoint::new(Arc::new(client), url.clone());
        if adaptive {
            endpoint = endpoint.with_adaptive(Arc::clone(&limit));
        }
        let pool: Arc<dyn ChatProvider> = Arc::new(EndpointPool::with_policy(
            "stub",
            vec![endpoint],
            PoolPolicy {
                allowed_fails: u32::MAX,
                ..PoolPolicy::default()
            },
        ));
        let fixed = Arc::new(tokio::sync::Semaphore::new(32));
        let done = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(AtomicUsize::new(0));
        let settled: Arc<std::sync::Mutex<Option<(Instant, usize, usize)>>> = Arc::default();
        let start = Instant::now();
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let (pool, fixed, done, sent, rejected, settled, limit) = (
                    Arc::clone(&pool),
                    Arc::clone(&fixed),
                    Arc::clone(&done),
                    Arc::clone(&sent),
                    Arc::clone(&rejected),
                    Arc::clone(&settled),
                    Arc::clone(&limit),
                );
                tokio::spawn(async move {
                    let request = ChatRequest {
                        model: "stub".into(),
                        messages: vec![ChatMessage::user("hello")],
                        max_tokens: Some(8),
                        ..ChatRequest::default()
                    };
                    while done.load(Ordering::SeqCst) < successes {
                        let slot = fixed.acquire().await.expect("open semaphore");
                        sent.fetch_add(1, Ordering::SeqCst);
                        match pool.chat(&request).await {
                            Ok(_) => {
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(_) => {
                                rejected.fetch_add(1, Ordering::SeqCst);
                                drop(slot);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                continue;
                            }
                        }
                        let mut s = settled.lock().expect("lock");
                        if s.is_none() && (!adaptive || limit.state().limit <= CAPACITY) {
                            *s = Some((
                                Instant::now(),
                                sent.load(Ordering::SeqCst),
                                rejected.load(Ordering::SeqCst),
                            ));
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
        let elapsed = start.elapsed();
        let (sent, rejected) = (sent.load(Ordering::SeqCst), rejected.load(Ordering::SeqCst));
        let (at, sent_then, rejected_then) = settled.lock().expect("lock").unwrap_or((start, 0, 0));
        #[allow(clippy::cast_precision_loss)]
        Measured {
            settle: at - start,
            rejected_share: rejected as f64 / sent.max(1) as f64,
            steady_rejected_share: (rejected - rejected_then) as f64
                / (sent - sent_then).max(1) as f64,
            throughput: successes as f64 / elapsed.as_secs_f64(),
            cuts: limit.state().decreases,
            final_limit: limit.state().limit,
        }
    })
}

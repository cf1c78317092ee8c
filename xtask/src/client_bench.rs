//! The provider client against a loopback stub: requests per second at 64 in flight, and
//! the latency one call adds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dagent_core::{ChatMessage, ChatProvider, ChatRequest};
use dagent_providers::OpenAiCompatible;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BODY: &str = r#"{"id":"x","model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1}}"#;

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes of body) from `sock`,
/// keeping what follows it in `buf`; `false` when the connection ends first.
pub(crate) async fn read_request(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
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
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    while buf.len() < head_end + len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.drain(..head_end + len);
    true
}

/// A minimal HTTP/1.1 keep-alive server answering every request with a fixed completion.
async fn stub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let mut buf = Vec::with_capacity(4096);
                loop {
                    if !crate::client_bench::read_request(&mut sock, &mut buf).await {
                        return;
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "stub".into(),
        messages: vec![ChatMessage::user("hello")],
        max_tokens: Some(8),
        ..ChatRequest::default()
    }
}

/// (requests per second at `in_flight`, mean latency of one call alone).
pub(crate) fn measure(total: usize, in_flight: usize) -> (f64, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let base = stub().await;
        let client = Arc::new(OpenAiCompatible::new("stub", base));
        let req = Arc::new(request());
        // Warm up connections.
        for _ in 0..in_flight.min(16) {
            client.chat(&req).await.expect("warm-up call");
        }
        // Sequential latency.
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            client.chat(&req).await.expect("call");
        }
        let latency = start.elapsed() / u32::try_from(n).unwrap_or(1);
        // Throughput at `in_flight` concurrent callers.
        let per = total / in_flight;
        let start = Instant::now();
        let workers: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = Arc::clone(&client);
                let req = Arc::clone(&req);
                tokio::spawn(async move {
                    for _ in 0..per {
                        client.chat(&req).await.expect("call");
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("worker");
        }
        let secs = start.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        ((per * in_flight) as f64 / secs, latency)
    })
}

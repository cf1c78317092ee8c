//! HTTP plumbing shared by the clients: POST JSON, map failures, read lines of a stream.

use std::time::{Duration, SystemTime};

use dagent_core::{ProviderError, ProviderErrorKind};
use futures_util::StreamExt;

use crate::ApiKey;
use crate::error::{body_message, classify_status, parse_retry_after, shorten, transport};

/// The shared HTTP client: no system proxy (loopback servers stay direct), rustls.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Sends a JSON POST; non-2xx statuses become classified errors carrying the server's
/// message (scrubbed of the key) and any `Retry-After`.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: Option<&ApiKey>,
    headers: &[(String, String)],
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<reqwest::Response, ProviderError> {
    let mut rb = http.post(url).json(body).timeout(timeout);
    if let Some(k) = key {
        rb = rb.bearer_auth(k.expose());
    }
    for (name, value) in headers {
        rb = rb.header(name.as_str(), value.as_str());
    }
    let scrub = |s: String| key.map_or_else(|| s.clone(), |k| k.scrub(&s));
    let resp = rb.send().await.map_err(|e| {
        let err = transport(&e, &format!("request to {url} failed"));
        ProviderError::new(err.kind(), scrub(err.message().to_owned()))
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = resp.text().await.unwrap_or_default();
    Err(classify_status(
        status.as_u16(),
        &scrub(body_message(&body)),
        retry_after,
    ))
}

/// Reads a whole body as text, mapping transport failures (including the timeout).
pub(crate) async fn read_body(
    resp: reqwest::Response,
    key: Option<&ApiKey>,
) -> Result<String, ProviderError> {
    resp.text().await.map_err(|e| {
        let err = transport(&e, "reading the response failed");
        ProviderError::new(
            err.kind(),
            key.map_or_else(|| err.message().to_owned(), |k| k.scrub(err.message())),
        )
    })
}

/// Lines of a streamed body (SSE or NDJSON).
pub(crate) fn lines(
    resp: reqwest::Response,
) -> LinesOf<impl futures_util::Stream<Item = reqwest::Result<impl AsRef<[u8]>>>> {
    LinesOf {
        stream: Box::pin(resp.bytes_stream()),
        buf: Vec::new(),
        done: false,
    }
}

/// Line reader over any byte stream.
pub(crate) struct LinesOf<S> {
    stream: std::pin::Pin<Box<S>>,
    buf: Vec<u8>,
    done: bool,
}

impl<S, B> LinesOf<S>
where
    S: futures_util::Stream<Item = reqwest::Result<B>>,
    B: AsRef<[u8]>,
{
    /// The next line without its terminator; `None` at the end of the body.
    pub(crate) async fn next_line(&mut self) -> Result<Option<String>, ProviderError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return decode(line).map(Some);
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return decode(std::mem::take(&mut self.buf)).map(Some);
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(chunk.as_ref()),
                Some(Err(e)) => return Err(transport(&e, "the response stream failed")),
                None => self.done = true,
            }
        }
    }
}

fn decode(line: Vec<u8>) -> Result<String, ProviderError> {
    String::from_utf8(line).map_err(|_| {
        ProviderError::new(
            ProviderErrorKind::InvalidResponse,
            "the stream is not valid UTF-8",
        )
    })
}

/// A JSON parse failure of a response body, with a short excerpt.
pub(crate) fn malformed(what: &str, e: &serde_json::Error, body: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::InvalidResponse,
        format!(
            "{what} is not valid JSON ({e}); received: {}",
            shorten(body.trim())
        ),
    )
}

/// `f32` sampling parameters as the decimals people wrote (0.2, not 0.20000000298).
pub(crate) fn round6(x: f32) -> f64 {
    (f64::from(x) * 1e6).round() / 1e6
}

/// Tools in OpenAI's function-calling shape (Ollama accepts the same).
pub(crate) fn tools_json(tools: &[dagent_core::ToolSpec]) -> serde_json::Value {
    serde_json::Value::Array(
        tools
            .iter()
            .map(|t| {
                let params = serde_json::from_str::<serde_json::Value>(&t.parameters_json)
                    .unwrap_or_else(|_| serde_json::json!({"type": "object"}));
                serde_json::json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": params } })
            })
            .collect(),
    )
}

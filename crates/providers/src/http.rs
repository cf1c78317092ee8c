//! HTTP plumbing shared by the clients: POST JSON, map failures, read lines of a stream —
//! and the entry of the scrubbing layer: every body and every stream line is scrubbed of
//! known secrets here, as it is read, before anything parses or shortens it.

use std::time::{Duration, SystemTime};

use dagent_core::{ChatResponse, ProviderError, ProviderErrorKind};
use futures_util::StreamExt;

use crate::ApiKey;
use crate::error::{body_message, classify_status, rate_limit_wait, shorten, transport};
use crate::secret::{scrub_owned, scrub_secrets};

/// Redirects followed at most (same origin, or any origin when allowed).
const MAX_REDIRECTS: usize = 10;

/// The HTTP client of one provider: no system proxy (loopback servers stay direct), rustls.
/// Redirects are followed only within the same origin (scheme, host **and port**: the same
/// IP on another port is another server) unless `follow_redirects` allows any; a redirect
/// that is not followed comes back as a 3xx, which [`post_json`] turns into an error naming
/// the target host. (reqwest drops the `Authorization` header on a cross-host redirect in
/// any case.)
pub(crate) fn client(follow_redirects: bool) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.stop();
        }
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if follow_redirects || same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .no_proxy()
        .redirect(policy)
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Checks a provider's base URL at load time: an `http` or `https` URL with a host, and no
/// credentials, query or fragment.
///
/// # Errors
/// A message saying what is wrong, e.g. for `not a url`, `file:///tmp/x` or `http://`.
pub fn validate_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        format!("base_url \"{url}\" is not a URL ({e}): expected e.g. \"http://127.0.0.1:8080/v1\"")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "base_url \"{url}\" uses the scheme \"{}\": only http and https are supported",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("base_url \"{url}\" has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "base_url of host \"{}\" carries credentials: put the key in the variable named by api_key_env",
            parsed.host_str().unwrap_or_default()
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "base_url \"{url}\" has a query or fragment: give the API's base path only"
        ));
    }
    Ok(())
}

/// The exit of the scrubbing layer for answers: every string of a response scrubbed.
pub(crate) fn scrub_response(mut r: ChatResponse) -> ChatResponse {
    r.model = scrub_owned(r.model);
    r.content = scrub_owned(r.content);
    r.finish_reason = r.finish_reason.map(scrub_owned);
    for t in &mut r.tool_calls {
        t.id = scrub_owned(std::mem::take(&mut t.id));
        t.name = scrub_owned(std::mem::take(&mut t.name));
        t.arguments_json = scrub_owned(std::mem::take(&mut t.arguments_json));
    }
    r
}

/// The exit of the scrubbing layer for errors.
pub(crate) fn scrub_error(e: ProviderError) -> ProviderError {
    let message = scrub_secrets(e.message());
    if matches!(message, std::borrow::Cow::Borrowed(_)) {
        return e;
    }
    let mut out =
        ProviderError::new(e.kind(), message.into_owned()).with_retry_after(e.retry_after());
    if let Some(status) = e.status() {
        out = out.with_status(status);
    }
    out
}

/// Both exits at once, for a client's `chat` result.
pub(crate) fn scrubbed(
    result: Result<ChatResponse, ProviderError>,
) -> Result<ChatResponse, ProviderError> {
    result.map(scrub_response).map_err(scrub_error)
}

/// Sends a JSON POST; non-2xx statuses become classified errors carrying the server's
/// message (scrubbed of every known key) and any `Retry-After`.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    key: Option<&ApiKey>,
    headers: &[(String, String)],
    body: &serde_json::Value,
    timeout: Duration,
    signals: Option<&crate::adaptive::AdaptiveLimit>,
) -> Result<reqwest::Response, ProviderError> {
    let mut rb = http.post(url).json(body).timeout(timeout);
    if let Some(k) = key {
        rb = rb.bearer_auth(k.expose());
    }
    for (name, value) in headers {
        rb = rb.header(name.as_str(), value.as_str());
    }
    let resp = rb
        .send()
        .await
        .map_err(|e| transport(&e, &format!("request to {url} failed")))?;
    let status = resp.status();
    let wait = rate_limit_wait(resp.headers(), SystemTime::now());
    if status.is_success() {
        // A success that spent the quota (`X-RateLimit-Remaining: 0`): hold new calls
        // until the reset instead of collecting a 429.
        if let (Some(limit), Some(wait)) = (signals, wait) {
            limit.pause_for(wait);
        }
        return Ok(resp);
    }
    if status.is_redirection() {
        let target = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| resp.url().join(loc).ok());
        let host = target.as_ref().map_or_else(
            || "an unnamed location".to_owned(),
            |t| {
                let host = t.host_str().unwrap_or("?");
                t.port()
                    .map_or_else(|| format!("host {host}"), |p| format!("host {host}:{p}"))
            },
        );
        return Err(ProviderError::new(
            ProviderErrorKind::BadRequest,
            scrub_owned(format!(
                "the server redirected the request to {host} (HTTP {}); the prompt is not sent to another host unless the provider allows it (follow_redirects = true)",
                status.as_u16()
            )),
        )
        .with_status(status.as_u16()));
    }
    let retry_after = wait;
    let body = scrub_owned(read_limited(resp).await.unwrap_or_default());
    Err(classify_status(
        status.as_u16(),
        &body_message(&body),
        retry_after,
    ))
}

/// The most a response body (or, streamed, all of its lines together) may hold: a provider
/// that sends more is answering something else, and is not read into memory.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 20;

fn too_large() -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::InvalidResponse,
        format!(
            "the response is larger than {} MiB; it was not read",
            MAX_BODY_BYTES >> 20
        ),
    )
}

/// Reads a body up to [`MAX_BODY_BYTES`], as text (invalid UTF-8 replaced).
async fn read_limited(resp: reqwest::Response) -> Result<String, ProviderError> {
    let mut stream = Box::pin(resp.bytes_stream());
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport(&e, "reading the response failed"))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Reads a whole body (at most [`MAX_BODY_BYTES`]) as text, scrubbed of known secrets,
/// mapping transport failures (including the timeout).
pub(crate) async fn read_body(resp: reqwest::Response) -> Result<String, ProviderError> {
    read_limited(resp).await.map(scrub_owned)
}

/// Lines of a streamed body (SSE or NDJSON).
pub(crate) fn lines(
    resp: reqwest::Response,
) -> LinesOf<impl futures_util::Stream<Item = reqwest::Result<impl AsRef<[u8]>>>> {
    LinesOf {
        stream: Box::pin(resp.bytes_stream()),
        buf: Vec::new(),
        scanned: 0,
        total: 0,
        limit: MAX_BODY_BYTES,
        done: false,
    }
}

/// Line reader over any byte stream: each byte is searched for a line end once, and the
/// whole stream holds at most [`MAX_BODY_BYTES`].
pub(crate) struct LinesOf<S> {
    stream: std::pin::Pin<Box<S>>,
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end.
    scanned: usize,
    /// Bytes read from the stream so far.
    total: usize,
    /// The most `total` may reach.
    limit: usize,
    done: bool,
}

impl<S, B> LinesOf<S>
where
    S: futures_util::Stream<Item = reqwest::Result<B>>,
    B: AsRef<[u8]>,
{
    /// The next line without its terminator, scrubbed of known secrets; `None` at the end
    /// of the body.
    pub(crate) async fn next_line(&mut self) -> Result<Option<String>, ProviderError> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let pos = self.scanned + at;
                self.scanned = 0;
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
                self.scanned = 0;
                return decode(std::mem::take(&mut self.buf)).map(Some);
            }
            self.scanned = self.buf.len();
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    let chunk = chunk.as_ref();
                    self.total = self.total.saturating_add(chunk.len());
                    if self.total > self.limit {
                        return Err(too_large());
                    }
                    self.buf.extend_from_slice(chunk);
                }
                Some(Err(e)) => return Err(transport(&e, "the response stream failed")),
                None => self.done = true,
            }
        }
    }
}

fn decode(line: Vec<u8>) -> Result<String, ProviderError> {
    String::from_utf8(line).map(scrub_owned).map_err(|_| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(
        chunks: Vec<Vec<u8>>,
        limit: usize,
    ) -> LinesOf<impl futures_util::Stream<Item = reqwest::Result<Vec<u8>>>> {
        LinesOf {
            stream: Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok))),
            buf: Vec::new(),
            scanned: 0,
            total: 0,
            limit,
            done: false,
        }
    }

    #[tokio::test]
    async fn lines_split_across_chunks_and_a_last_line_without_its_end() {
        let chunks = vec![
            b"da".to_vec(),
            b"ta: 1\r\nda".to_vec(),
            b"ta: 2\n\nlast".to_vec(),
        ];
        let mut r = reader(chunks, 1 << 20);
        let mut got = Vec::new();
        while let Some(line) = r.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["data: 1", "data: 2", "", "last"]);
    }

    #[tokio::test]
    async fn a_long_line_is_searched_once_and_the_stream_is_capped() {
        // 2,000 chunks of one byte without a line end: found at the end, in one piece.
        let mut chunks: Vec<Vec<u8>> = (0..2000).map(|_| b"x".to_vec()).collect();
        chunks.push(b"\n".to_vec());
        let mut r = reader(chunks.clone(), 1 << 20);
        assert_eq!(r.next_line().await.unwrap().map(|l| l.len()), Some(2000));
        assert_eq!(r.next_line().await.unwrap(), None);
        // Past the limit, the stream is refused.
        let mut r = reader(chunks, 1000);
        let err = r.next_line().await.unwrap_err();
        assert_eq!(err.kind(), ProviderErrorKind::InvalidResponse);
        assert!(err.message().contains("larger than"), "{err}");
    }
}

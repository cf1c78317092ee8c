//! Ollama's native chat API: `POST /api/chat`, NDJSON streaming.

use std::time::Duration;

use dagent_core::{
    BoxFuture, ChatProvider, ChatRequest, ChatResponse, ChatRole, ProviderError, ProviderErrorKind,
    ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::shorten;
use crate::http::{client, lines, malformed, post_json, read_body, round6, scrubbed, tools_json};

/// A client for an Ollama server (default `http://localhost:11434`). Tokens come from
/// `prompt_eval_count` and `eval_count`.
#[derive(Clone, Debug)]
pub struct Ollama {
    name: String,
    base_url: String,
    timeout: Duration,
    http: reqwest::Client,
    signals: Option<std::sync::Arc<crate::AdaptiveLimit>>,
}

impl Ollama {
    /// A client for `base_url` (without `/api`).
    #[must_use]
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url
                .into()
                .trim_end_matches('/')
                .trim_end_matches("/api")
                .to_owned(),
            timeout: Duration::from_secs(300),
            http: client(false),
            signals: None,
        }
    }

    /// Feeds `limit` the rate-limit headers of successful answers (a spent quota pauses
    /// new calls until its reset).
    #[must_use]
    pub fn with_rate_signals(mut self, limit: std::sync::Arc<crate::AdaptiveLimit>) -> Self {
        self.signals = Some(limit);
        self
    }

    /// The URL a health check fetches: the local models list (`/api/tags`).
    #[must_use]
    pub fn health_url(&self) -> String {
        format!("{}/api/tags", self.base_url)
    }

    /// Time limit of one request.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Follows redirects to other hosts too (default: only within the same scheme, host
    /// and port; a redirect elsewhere is an error naming the target host).
    #[must_use]
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.http = client(follow);
        self
    }

    /// The JSON body sent for `request`.
    #[must_use]
    pub fn request_body(request: &ChatRequest) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    ChatRole::System => "system",
                    ChatRole::User => "user",
                    ChatRole::Assistant => "assistant",
                };
                json!({ "role": role, "content": m.content })
            })
            .collect();
        let mut options = serde_json::Map::new();
        if let Some(t) = request.temperature {
            options.insert("temperature".into(), json!(round6(t)));
        }
        if let Some(p) = request.top_p {
            options.insert("top_p".into(), json!(round6(p)));
        }
        if let Some(m) = request.max_tokens {
            options.insert("num_predict".into(), json!(m));
        }
        let mut body =
            json!({ "model": request.model, "messages": messages, "stream": request.stream });
        let obj = body.as_object_mut().expect("object literal");
        if !options.is_empty() {
            obj.insert("options".into(), Value::Object(options));
        }
        if request.json_mode {
            obj.insert("format".into(), json!("json"));
        }
        if !request.tools.is_empty() {
            obj.insert("tools".into(), tools_json(&request.tools));
        }
        body
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let url = format!("{}/api/chat", self.base_url);
        let resp = post_json(
            &self.http,
            &url,
            None,
            &[],
            &Self::request_body(request),
            self.timeout,
            self.signals.as_deref(),
        )
        .await?;
        let mut out = ChatResponse {
            model: request.model.clone(),
            ..ChatResponse::default()
        };
        if !request.stream {
            let text = read_body(resp).await?;
            let part: Part =
                serde_json::from_str(&text).map_err(|e| malformed("the response", &e, &text))?;
            absorb(&mut out, part)?;
            return Ok(out);
        }
        let mut lines = lines(resp);
        let mut done = false;
        while let Some(line) = lines.next_line().await? {
            if line.trim().is_empty() {
                continue;
            }
            let part: Part =
                serde_json::from_str(&line).map_err(|e| malformed("a stream line", &e, &line))?;
            done = part.done;
            absorb(&mut out, part)?;
            if done {
                break;
            }
        }
        if !done {
            return Err(ProviderError::new(
                ProviderErrorKind::InvalidResponse,
                format!(
                    "the stream from {} ended before its final message",
                    self.name
                ),
            ));
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct Part {
    model: Option<String>,
    message: Option<PartMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PartMessage {
    #[serde(default)]
    content: String,
    tool_calls: Option<Vec<PartToolCall>>,
}

#[derive(Deserialize)]
struct PartToolCall {
    function: PartFunction,
}

#[derive(Deserialize)]
struct PartFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

fn absorb(out: &mut ChatResponse, part: Part) -> Result<(), ProviderError> {
    if let Some(e) = part.error {
        return Err(ProviderError::new(ProviderErrorKind::Server, shorten(&e)));
    }
    if let Some(m) = part.model {
        out.model = m;
    }
    if let Some(msg) = part.message {
        out.content.push_str(&msg.content);
        for tc in msg.tool_calls.unwrap_or_default() {
            // Ollama assigns no ids: number the calls of the whole answer in order.
            out.tool_calls.push(ToolCall {
                id: format!("call_{}", out.tool_calls.len()),
                name: tc.function.name,
                arguments_json: tc.function.arguments.to_string(),
            });
        }
    }
    if part.done {
        out.finish_reason = part.done_reason.or_else(|| Some("stop".to_owned()));
        out.usage = Some(Usage::new(
            part.prompt_eval_count.unwrap_or(0),
            part.eval_count.unwrap_or(0),
        ));
    }
    Ok(())
}

impl ChatProvider for Ollama {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move { scrubbed(self.complete(request).await) })
    }
}

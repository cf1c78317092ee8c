//! OpenAI-compatible chat completions: OpenRouter, LM Studio, llama.cpp, vLLM, …

use std::time::Duration;

use dagent_core::{
    BoxFuture, ChatProvider, ChatRequest, ChatResponse, ChatRole, Money, ProviderError,
    ProviderErrorKind, ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiKey;
use crate::error::{body_message, classify_status, shorten};
use crate::http::{client, lines, malformed, post_json, read_body, round6, scrubbed, tools_json};

/// A client for any server speaking OpenAI's `/v1/chat/completions`.
#[derive(Clone)]
pub struct OpenAiCompatible {
    name: String,
    base_url: String,
    key: Option<ApiKey>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    http: reqwest::Client,
    signals: Option<std::sync::Arc<crate::AdaptiveLimit>>,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080/v1`), named `name` in errors.
    #[must_use]
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            key: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(300),
            http: client(false),
            signals: None,
        }
    }

    /// Feeds `limit` the rate-limit headers of successful answers (`X-RateLimit-Remaining:
    /// 0` pauses new calls until `X-RateLimit-Reset`).
    #[must_use]
    pub fn with_rate_signals(mut self, limit: std::sync::Arc<crate::AdaptiveLimit>) -> Self {
        self.signals = Some(limit);
        self
    }

    /// The URL a health check fetches: the models list (`/models`).
    #[must_use]
    pub fn health_url(&self) -> String {
        format!("{}/models", self.base_url)
    }

    /// OpenRouter (`https://openrouter.ai/api/v1`); the key usually comes from
    /// `OPENROUTER_API_KEY`.
    #[must_use]
    pub fn openrouter(key: Option<ApiKey>) -> Self {
        let mut c = Self::new("openrouter", "https://openrouter.ai/api/v1");
        c.key = key;
        c
    }

    /// LM Studio's local server (`http://localhost:1234/v1`, no key).
    #[must_use]
    pub fn lmstudio() -> Self {
        Self::new("lmstudio", "http://localhost:1234/v1")
    }

    /// Sends `Authorization: Bearer <key>`.
    #[must_use]
    pub fn with_api_key(mut self, key: Option<ApiKey>) -> Self {
        self.key = key;
        self
    }

    /// Adds a header to every request (OpenRouter's optional attribution headers:
    /// `HTTP-Referer` and `X-Title`).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Time limit of one request, body included.
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

    /// The base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The JSON body sent for `request` (public so tests and tools can inspect it).
    #[must_use]
    pub fn request_body(request: &ChatRequest) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": role(m.role), "content": m.content }))
            .collect();
        let mut body = json!({ "model": request.model, "messages": messages });
        let obj = body.as_object_mut().expect("object literal");
        if let Some(t) = request.temperature {
            obj.insert("temperature".into(), json!(round6(t)));
        }
        if let Some(p) = request.top_p {
            obj.insert("top_p".into(), json!(round6(p)));
        }
        if let Some(m) = request.max_tokens {
            obj.insert("max_tokens".into(), json!(m));
        }
        if request.json_mode {
            obj.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        if !request.tools.is_empty() {
            obj.insert("tools".into(), tools_json(&request.tools));
        }
        if request.stream {
            obj.insert("stream".into(), json!(true));
            obj.insert("stream_options".into(), json!({ "include_usage": true }));
        }
        // Provider-specific fields (OpenRouter's `provider` preferences and `models`
        // fallbacks), passed through; the fields dagent sets itself are never replaced.
        for (name, value) in &request.extra_body {
            if obj.contains_key(name.as_str()) {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(value) {
                obj.insert(name.clone(), v);
            }
        }
        body
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = Self::request_body(request);
        let resp = post_json(
            &self.http,
            &url,
            self.key.as_ref(),
            &self.headers,
            &body,
            self.timeout,
            self.signals.as_deref(),
        )
        .await?;
        if request.stream {
            return self.read_stream(resp, request).await;
        }
        let text = read_body(resp).await?;
        parse_completion(&text, &request.model)
    }

    async fn read_stream(
        &self,
        resp: reqwest::Response,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let mut lines = lines(resp);
        let mut out = ChatResponse {
            model: request.model.clone(),
            ..ChatResponse::default()
        };
        let mut partial_tools: Vec<(String, String, String)> = Vec::new();
        let mut finished = false;
        while let Some(line) = lines.next_line().await? {
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            }; // comments, event names
            let data = data.trim();
            if data == "[DONE]" {
                finished = true;
                break;
            }
            let chunk: Chunk =
                serde_json::from_str(data).map_err(|e| malformed("a stream chunk", &e, data))?;
            if let Some(err) = chunk.error {
                return Err(classify_status(
                    err.code.unwrap_or(500),
                    &shorten(&err.message.unwrap_or_default()),
                    None,
                ));
            }
            if let Some(m) = chunk.model {
                out.model = m;
            }
            for choice in chunk.choices {
                if let Some(delta) = choice.delta {
                    if let Some(c) = delta.content {
                        out.content.push_str(&c);
                    }
                    for tc in delta.tool_calls.unwrap_or_default() {
                        let idx = tc.index.unwrap_or(0);
                        while partial_tools.len() <= idx {
                            partial_tools.push(Default::default());
                        }
                        let slot = &mut partial_tools[idx];
                        if let Some(id) = tc.id {
                            slot.0 = id;
                        }
                        if let Some(f) = tc.function {
                            if let Some(n) = f.name {
                                slot.1.push_str(&n);
                            }
                            if let Some(a) = f.arguments {
                                slot.2.push_str(&a);
                            }
                        }
                    }
                }
                if choice.finish_reason.is_some() {
                    out.finish_reason = choice.finish_reason;
                }
            }
            if let Some(u) = chunk.usage {
                out.usage = Some(u.usage());
                out.reported_cost = u.cost.and_then(dollars);
            }
        }
        if !finished && out.finish_reason.is_none() {
            return Err(ProviderError::new(
                ProviderErrorKind::InvalidResponse,
                format!(
                    "the stream from {} ended before the answer was complete",
                    self.name
                ),
            ));
        }
        out.tool_calls = partial_tools
            .into_iter()
            .map(|(id, name, arguments_json)| ToolCall {
                id,
                name,
                arguments_json,
            })
            .collect();
        Ok(out)
    }
}

impl ChatProvider for OpenAiCompatible {
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

fn role(r: ChatRole) -> &'static str {
    match r {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
    }
}

/// A provider-reported cost in dollars, exactly as printed (no float sums).
fn dollars(x: f64) -> Option<Money> {
    (x.is_finite() && x >= 0.0)
        .then(|| format!("{x:.9}"))
        .and_then(|s| s.parse().ok())
}

#[derive(Deserialize)]
struct Completion {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    delta: Option<Message>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    index: Option<usize>,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    cost: Option<f64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage::new(self.prompt_tokens, self.completion_tokens).with_details(
            self.prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            self.completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        )
    }
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    code: Option<u16>,
}

type Chunk = Completion;

fn parse_completion(text: &str, requested_model: &str) -> Result<ChatResponse, ProviderError> {
    let c: Completion =
        serde_json::from_str(text).map_err(|e| malformed("the response", &e, text))?;
    if let Some(err) = c.error {
        let msg = err
            .message
            .map_or_else(|| body_message(text), |m| shorten(&m));
        return Err(classify_status(err.code.unwrap_or(500), &msg, None));
    }
    let choice = c.choices.into_iter().next().ok_or_else(|| {
        ProviderError::new(
            ProviderErrorKind::InvalidResponse,
            "the response has no choices",
        )
    })?;
    let message = choice.message.ok_or_else(|| {
        ProviderError::new(
            ProviderErrorKind::InvalidResponse,
            "the response choice has no message",
        )
    })?;
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let f = t.function.unwrap_or(WireFunction {
                name: None,
                arguments: None,
            });
            ToolCall {
                id: t.id.unwrap_or_default(),
                name: f.name.unwrap_or_default(),
                arguments_json: f.arguments.unwrap_or_default(),
            }
        })
        .collect();
    Ok(ChatResponse {
        model: c.model.unwrap_or_else(|| requested_model.to_owned()),
        content: message.content.unwrap_or_default(),
        finish_reason: choice.finish_reason,
        usage: c.usage.as_ref().map(WireUsage::usage),
        reported_cost: c.usage.and_then(|u| u.cost).and_then(dollars),
        tool_calls,
    })
}

//! Providers and models: where a model is served and what it costs.

use std::collections::BTreeMap;
use std::time::Duration;

use dagent_core::{Money, Price};

use crate::pool::PoolPolicy;
use crate::rate::RateLimits;

/// The protocol a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Any OpenAI-compatible server (`base_url` required).
    OpenAi,
    /// OpenRouter (OpenAI-compatible; default base URL and key variable).
    OpenRouter,
    /// LM Studio (OpenAI-compatible; `http://localhost:1234/v1`, no key).
    LmStudio,
    /// Ollama's native API (`http://localhost:11434`).
    Ollama,
}

impl ProviderKind {
    /// Parses `openai`, `openrouter`, `lmstudio` or `ollama`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "openai" | "openaicompatible" => Some(Self::OpenAi),
            "openrouter" => Some(Self::OpenRouter),
            "lmstudio" => Some(Self::LmStudio),
            "ollama" => Some(Self::Ollama),
            _ => None,
        }
    }

    /// The canonical name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::OpenRouter => "openrouter",
            Self::LmStudio => "lmstudio",
            Self::Ollama => "ollama",
        }
    }

    /// The default base URL.
    #[must_use]
    pub const fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => None,
            Self::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Self::LmStudio => Some("http://localhost:1234/v1"),
            Self::Ollama => Some("http://localhost:11434"),
        }
    }

    /// The default API-key variable.
    #[must_use]
    pub const fn default_key_env(self) -> Option<&'static str> {
        match self {
            Self::OpenRouter => Some("OPENROUTER_API_KEY"),
            _ => None,
        }
    }
}

/// One configured provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSpec {
    /// Its name in the configuration.
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// One or more endpoints (several servers of one provider).
    pub base_urls: Vec<String>,
    /// Environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// Calls in flight per endpoint (a local server handles one at a time: 1).
    pub max_concurrent: Option<usize>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Extra headers (OpenRouter attribution: `HTTP-Referer`, `X-Title`).
    pub headers: Vec<(String, String)>,
    /// Stream answers (SSE / NDJSON).
    pub stream: bool,
    /// Follow redirects to another origin (scheme, host or port). Off by default: a
    /// redirect elsewhere would re-send the whole prompt to a server nobody configured.
    pub follow_redirects: bool,
    /// Learn each endpoint's concurrency (AIMD between 1 and `max_concurrent`, shrinking on
    /// 429, 503 and timeouts) instead of holding it fixed.
    pub adaptive: bool,
    /// Per-minute limits of the whole provider.
    pub limits: RateLimits,
    /// How calls are spread over `base_urls`, cooldowns and health checks.
    pub pool: PoolPolicy,
    /// OpenRouter's provider-routing preferences for every model of this provider (the
    /// request's `provider` object, as JSON text); a model's own preferences win.
    pub provider_routing: Option<String>,
}

impl ProviderSpec {
    /// A provider named `name` of `kind` with the kind's defaults: its default base URL
    /// (none for `openai`: set `base_urls`), its default key variable, no concurrency
    /// limit, a 300 s timeout, no extra headers, no streaming, no cross-origin redirects.
    #[must_use]
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        Self {
            name: name.into(),
            kind,
            base_urls: kind
                .default_base_url()
                .map(str::to_owned)
                .into_iter()
                .collect(),
            api_key_env: kind.default_key_env().map(str::to_owned),
            max_concurrent: None,
            timeout: Duration::from_secs(300),
            headers: Vec::new(),
            stream: false,
            follow_redirects: false,
            adaptive: false,
            limits: RateLimits::default(),
            pool: PoolPolicy::default(),
            provider_routing: None,
        }
    }

    /// Sets the endpoints (builder style).
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_urls = vec![url.into()];
        self
    }
}

/// One model: where it is served, its price and limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelInfo {
    /// Its name in the configuration (what routing tables use).
    pub name: String,
    /// The provider serving it.
    pub provider: String,
    /// The id the provider knows it by.
    pub id: String,
    /// Price per 1M input/output tokens.
    pub price: Price,
    /// Context window, tokens.
    pub context_window: u32,
    /// Default cap on generated tokens.
    pub max_output_tokens: u32,
    /// Capabilities (`tools`, `json`, `streaming`, …).
    pub capabilities: Vec<String>,
    /// Per-minute limits of this model (on top of its provider's).
    pub limits: RateLimits,
    /// OpenRouter's provider-routing preferences for this model (the request's `provider`
    /// object, as JSON text: `order`, `only`, `ignore`, `sort`, `max_price`, …); overrides
    /// the provider's.
    pub provider_routing: Option<String>,
    /// Models (configuration names, served by the same provider) OpenRouter may fall back
    /// to, in order: sent as the request's `models` list. The call is reserved at the
    /// largest of their prices and billed as the model that answered.
    pub fallback_models: Vec<String>,
}

/// The models dagent knows: built-in examples, overridden and extended by `[models.*]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    models: BTreeMap<String, ModelInfo>,
}

/// When the built-in prices were taken (from the project's design notes). Prices change:
/// override them in `dagent.toml`.
pub const BUILTIN_PRICES_AS_OF: &str = "2025-10";

fn m(s: &str) -> Money {
    s.parse().unwrap_or(Money::ZERO)
}

impl Catalogue {
    /// An empty catalogue.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in example models (OpenRouter ids, prices as of [`BUILTIN_PRICES_AS_OF`]).
    #[must_use]
    pub fn builtin() -> Self {
        /// name, provider id, input $/1M, output $/1M, context window, capabilities
        type Row<'a> = (&'a str, &'a str, &'a str, &'a str, u32, &'a [&'a str]);
        let rows: &[Row<'_>] = &[
            (
                "deepseek-chat",
                "deepseek/deepseek-chat",
                "0.15",
                "0.15",
                128_000,
                &["tools", "json", "streaming"],
            ),
            (
                "llama-3.3-70b",
                "meta-llama/llama-3.3-70b-instruct",
                "0.10",
                "0.40",
                128_000,
                &["tools", "streaming"],
            ),
            (
                "qwen-2.5-coder-32b",
                "qwen/qwen-2.5-coder-32b-instruct",
                "0.23",
                "0.23",
                32_768,
                &["tools", "json", "streaming"],
            ),
            (
                "mistral-small-3.1",
                "mistralai/mistral-small-3.1-24b-instruct",
                "0.10",
                "0.30",
                128_000,
                &["tools", "json", "streaming"],
            ),
            (
                "glm-4-9b",
                "thudm/glm-4-9b:free",
                "0",
                "0",
                32_000,
                &["streaming"],
            ),
            (
                "deepseek-r1",
                "deepseek/deepseek-r1",
                "0.14",
                "0.14",
                128_000,
                &["reasoning", "streaming"],
            ),
            (
                "deepseek-r1-distill",
                "deepseek/deepseek-r1-distill-qwen-32b",
                "0.07",
                "0.07",
                128_000,
                &["reasoning", "streaming"],
            ),
            (
                "qwq-32b",
                "qwen/qwq-32b-preview",
                "0.08",
                "0.08",
                32_768,
                &["reasoning", "streaming"],
            ),
            (
                "claude-3.5-sonnet",
                "anthropic/claude-3.5-sonnet",
                "3",
                "15",
                200_000,
                &["tools", "json", "streaming"],
            ),
        ];
        let mut c = Self::new();
        for (name, id, input, output, ctx, caps) in rows {
            c.insert(ModelInfo {
                name: (*name).to_owned(),
                provider: "openrouter".to_owned(),
                id: (*id).to_owned(),
                price: Price::new(m(input), m(output)),
                context_window: *ctx,
                max_output_tokens: 4096,
                capabilities: caps.iter().map(|s| (*s).to_owned()).collect(),
                limits: RateLimits::default(),
                provider_routing: None,
                fallback_models: Vec::new(),
            });
        }
        c
    }

    /// Adds or replaces a model.
    pub fn insert(&mut self, model: ModelInfo) {
        self.models.insert(model.name.clone(), model);
    }

    /// The model named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ModelInfo> {
        self.models.get(name)
    }

    /// All models, by name.
    pub fn iter(&self) -> impl Iterator<Item = &ModelInfo> {
        self.models.values()
    }

    /// Names of all models.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.models.keys().map(String::as_str).collect()
    }
}

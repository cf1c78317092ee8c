//! The model side of `dagent.toml`: `[providers.*]`, `[models.*]`, `[routing]`,
//! `[roles.*]` and `[budget]`, validated with line:column errors.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use dagent_core::{Money, Price};
use dagent_providers::{
    Catalogue, ModelInfo, ProviderKind, ProviderSpec, RoleSettings, Router, TaskCategory, Tier,
};
use serde::Deserialize;
use toml::Spanned;

use crate::settings::value::{Raw, Rule, Value};

/// Providers, models, routing and budget, after validation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ModelConfig {
    pub(crate) providers: Vec<ProviderSpec>,
    pub(crate) catalogue: Catalogue,
    pub(crate) router: Router,
    pub(crate) budget: Option<Money>,
    pub(crate) warn_at: Option<f64>,
    /// `[budget] on_exhaustion`: stop (refuse) or step down a tier.
    pub(crate) on_exhaustion: dagent_providers::OnExhaustion,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            catalogue: Catalogue::builtin(),
            router: Router::default(),
            budget: None,
            warn_at: None,
            on_exhaustion: dagent_providers::OnExhaustion::Stop,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    kind: Spanned<String>,
    base_url: Option<Spanned<String>>,
    base_urls: Option<Vec<Spanned<String>>>,
    /// Follow HTTP redirects to another server (the prompt would be sent there).
    follow_redirects: Option<bool>,
    api_key_env: Option<String>,
    max_concurrent: Option<Spanned<i64>>,
    timeout_seconds: Option<Spanned<toml::Value>>,
    stream: Option<bool>,
    http_referer: Option<String>,
    x_title: Option<String>,
    // Scale: adaptive concurrency, per-minute limits, endpoint balancing, OpenRouter routing.
    adaptive: Option<bool>,
    requests_per_minute: Option<Spanned<i64>>,
    tokens_per_minute: Option<Spanned<i64>>,
    balance: Option<Spanned<String>>,
    weights: Option<Spanned<Vec<Spanned<i64>>>>,
    allowed_fails: Option<Spanned<i64>>,
    cooldown_seconds: Option<Spanned<toml::Value>>,
    health_check_seconds: Option<Spanned<toml::Value>>,
    provider_routing: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    provider: Spanned<String>,
    /// The provider's model id; `model` (the key the original specifications use) too.
    #[serde(alias = "model")]
    id: Option<String>,
    pricing: Option<RawPricing>,
    context_window: Option<Spanned<i64>>,
    max_output_tokens: Option<Spanned<i64>>,
    capabilities: Option<Vec<String>>,
    requests_per_minute: Option<Spanned<i64>>,
    tokens_per_minute: Option<Spanned<i64>>,
    provider_routing: Option<Spanned<toml::Value>>,
    fallback_models: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPricing {
    input: Spanned<String>,
    output: Spanned<String>,
    cached_input: Option<Spanned<String>>,
    reasoning: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    tier: Option<Spanned<String>>,
    default_model: Option<Spanned<String>>,
    fallbacks: Option<Vec<Spanned<String>>>,
    tiers: Option<BTreeMap<String, BTreeMap<String, Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    model: Option<Spanned<String>>,
    temperature: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<i64>>,
    top_p: Option<Spanned<f64>>,
    system_prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudget {
    max_usd: Spanned<String>,
    warn_at: Option<Spanned<f64>>,
    on_exhaustion: Option<Spanned<String>>,
}

/// The raw sections, as deserialized.
#[derive(Default)]
pub(crate) struct RawSections {
    pub(crate) providers: Option<BTreeMap<String, RawProvider>>,
    pub(crate) models: Option<BTreeMap<String, RawModel>>,
    pub(crate) routing: Option<RawRouting>,
    pub(crate) roles: Option<BTreeMap<String, RawRole>>,
    pub(crate) budget: Option<RawBudget>,
}

/// A validation error: the span and message.
pub(crate) type Problem = (Range<usize>, String);

fn price(s: &Spanned<String>, what: &str) -> Result<Money, Problem> {
    s.get_ref()
        .parse()
        .map_err(|e| (s.span(), format!("{what}: {e}")))
}

fn positive_u32(v: &Spanned<i64>, what: &str) -> Result<u32, Problem> {
    u32::try_from(*v.get_ref())
        .ok()
        .filter(|&x| x > 0)
        .ok_or_else(|| (v.span(), format!("{what} must be a positive whole number")))
}

/// The most requests per minute accepted (a million: far above any provider's quota).
const MAX_RPM: i64 = 1_000_000;
/// The most tokens per minute accepted (a billion).
const MAX_TPM: i64 = 1_000_000_000;
/// The longest cooldown or health-check interval accepted: a day.
const MAX_POOL_SECONDS: Duration = Duration::from_secs(86_400);
/// OpenRouter's provider-routing preferences dagent passes through.
const ROUTING_KEYS: &[&str] = &[
    "order",
    "only",
    "ignore",
    "sort",
    "max_price",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "quantizations",
    "zdr",
];

fn per_minute(v: Option<&Spanned<i64>>, what: &str, max: i64) -> Result<Option<u32>, Problem> {
    v.map(|v| {
        let x = *v.get_ref();
        if (1..=max).contains(&x) {
            Ok(u32::try_from(x).unwrap_or(u32::MAX))
        } else {
            Err((
                v.span(),
                format!("{what} must be a whole number from 1 to {max}"),
            ))
        }
    })
    .transpose()
}

fn pool_seconds(v: Option<&Spanned<toml::Value>>, what: &str) -> Result<Option<Duration>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let message = || {
        (
            v.span(),
            format!(
                "{what} must be a positive number of seconds up to 86400 (a day), or a duration such as \"30s\""
            ),
        )
    };
    match (Rule::Seconds {
        zero_disables: false,
    })
    .parse(&Raw::Toml(v.get_ref()))
    {
        Ok(Value::Seconds(Some(d))) if !d.is_zero() && d <= MAX_POOL_SECONDS => Ok(Some(d)),
        _ => Err(message()),
    }
}

/// OpenRouter's `provider` preferences as JSON text: a table of known keys only.
fn provider_routing(
    v: Option<&Spanned<toml::Value>>,
    owner: &str,
) -> Result<Option<String>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let toml::Value::Table(t) = v.get_ref() else {
        return Err((
            v.span(),
            format!(
                "{owner}: provider_routing must be a table, e.g. {{ order = [\"anthropic\"], sort = \"price\" }}"
            ),
        ));
    };
    if let Some(k) = t.keys().find(|k| !ROUTING_KEYS.contains(&k.as_str())) {
        return Err((
            v.span(),
            format!(
                "{owner}: unknown provider_routing key \"{k}\" (expected one of {})",
                ROUTING_KEYS.join(", ")
            ),
        ));
    }
    if let Some(s) = t.get("sort")
        && !matches!(s.as_str(), Some("price" | "throughput" | "latency"))
    {
        return Err((
            v.span(),
            format!(
                "{owner}: provider_routing.sort must be \"price\", \"throughput\" or \"latency\""
            ),
        ));
    }
    for list in ["order", "only", "ignore", "quantizations"] {
        if let Some(x) = t.get(list) {
            let ok = x
                .as_array()
                .is_some_and(|a| a.len() <= 64 && a.iter().all(toml::Value::is_str));
            if !ok {
                return Err((
                    v.span(),
                    format!("{owner}: provider_routing.{list} must be a list of at most 64 names"),
                ));
            }
        }
    }
    serde_json::to_string(t)
        .map(Some)
        .map_err(|e| (v.span(), format!("{owner}: provider_routing: {e}")))
}

/// Validates the raw sections into providers, catalogue, router and budget.
pub(crate) fn build(raw: RawSections) -> Result<ModelConfig, Problem> {
    let mut cfg = ModelConfig::default();
    for (name, p) in raw.providers.unwrap_or_default() {
        let kind = ProviderKind::parse(p.kind.get_ref()).ok_or_else(|| {
            (
                p.kind.span(),
                format!(
                    "unknown provider kind {:?}: expected openai, openrouter, lmstudio or ollama",
                    p.kind.get_ref()
                ),
            )
        })?;
        let mut given: Vec<Spanned<String>> = p.base_urls.unwrap_or_default();
        if let Some(u) = p.base_url {
            given.insert(0, u);
        }
        for u in &given {
            dagent_providers::validate_base_url(u.get_ref())
                .map_err(|m| (u.span(), format!("provider \"{name}\": {m}")))?;
        }
        let mut base_urls: Vec<String> = given.into_iter().map(Spanned::into_inner).collect();
        if base_urls.is_empty() {
            match kind.default_base_url() {
                Some(u) => base_urls.push(u.to_owned()),
                None => {
                    return Err((
                        p.kind.span(),
                        format!(
                            "provider \"{name}\" of kind openai needs base_url (e.g. \"http://127.0.0.1:8080/v1\")"
                        ),
                    ));
                }
            }
        }
        let max_concurrent = p
            .max_concurrent
            .map(|v| positive_u32(&v, "max_concurrent").map(|x| x as usize))
            .transpose()?;
        let timeout = match p.timeout_seconds {
            Some(v) => match (Rule::Seconds {
                zero_disables: false,
            })
            .parse(&Raw::Toml(v.get_ref()))
            {
                Ok(Value::Seconds(Some(d))) => d,
                Ok(_) => Duration::from_secs(300),
                Err(m) => return Err((v.span(), format!("timeout_seconds {m}"))),
            },
            None => Duration::from_secs(300),
        };
        let mut headers = Vec::new();
        if let Some(r) = p.http_referer {
            headers.push(("HTTP-Referer".to_owned(), r));
        }
        if let Some(t) = p.x_title {
            headers.push(("X-Title".to_owned(), t));
        }
        let requests_per_minute = per_minute(
            p.requests_per_minute.as_ref(),
            "requests_per_minute",
            MAX_RPM,
        )?;
        let tokens_per_minute =
            per_minute(p.tokens_per_minute.as_ref(), "tokens_per_minute", MAX_TPM)?;
        let mut pool = dagent_providers::PoolPolicy::default();
        if let Some(b) = &p.balance {
            pool.balance = dagent_providers::Balance::parse(b.get_ref()).ok_or_else(|| {
                (
                    b.span(),
                    format!(
                        "unknown balance {:?}: expected least_busy, round_robin, weighted, priority or lowest_latency",
                        b.get_ref()
                    ),
                )
            })?;
        }
        if let Some(w) = &p.weights {
            if w.get_ref().len() != base_urls.len() {
                return Err((
                    w.span(),
                    format!(
                        "provider \"{name}\" has {} weights for {} base URLs: give one per endpoint",
                        w.get_ref().len(),
                        base_urls.len()
                    ),
                ));
            }
            for x in w.get_ref() {
                let ok = (1..=1_000).contains(x.get_ref());
                if !ok {
                    return Err((
                        x.span(),
                        "a weight must be a whole number from 1 to 1000".into(),
                    ));
                }
                pool.weights.push(u32::try_from(*x.get_ref()).unwrap_or(1));
            }
        }
        if let Some(a) = &p.allowed_fails {
            pool.allowed_fails = u32::try_from(*a.get_ref())
                .ok()
                .filter(|x| (1..=1_000).contains(x))
                .ok_or_else(|| {
                    (
                        a.span(),
                        "allowed_fails must be a whole number from 1 to 1000".to_owned(),
                    )
                })?;
        }
        if let Some(d) = pool_seconds(p.cooldown_seconds.as_ref(), "cooldown_seconds")? {
            pool.cooldown = d;
        }
        pool.health_check_interval =
            pool_seconds(p.health_check_seconds.as_ref(), "health_check_seconds")?;
        let routing =
            provider_routing(p.provider_routing.as_ref(), &format!("provider \"{name}\""))?;
        if let (Some(r), false) = (&p.provider_routing, kind == ProviderKind::OpenRouter) {
            return Err((
                r.span(),
                format!(
                    "provider \"{name}\": provider_routing is OpenRouter's; this provider is of kind {}",
                    kind.as_str()
                ),
            ));
        }
        cfg.providers.push(ProviderSpec {
            name,
            kind,
            base_urls,
            api_key_env: p
                .api_key_env
                .or_else(|| kind.default_key_env().map(str::to_owned)),
            max_concurrent,
            timeout,
            headers,
            stream: p.stream.unwrap_or(false),
            follow_redirects: p.follow_redirects.unwrap_or(false),
            adaptive: p.adaptive.unwrap_or(false),
            limits: dagent_providers::RateLimits {
                requests_per_minute,
                tokens_per_minute,
            },
            pool,
            provider_routing: routing,
        });
    }
    let mut fallbacks_to_check = Vec::new();
    for (name, m) in raw.models.unwrap_or_default() {
        if !cfg
            .providers
            .iter()
            .any(|p| &p.name == m.provider.get_ref())
        {
            let known: Vec<&str> = cfg.providers.iter().map(|p| p.name.as_str()).collect();
            return Err((
                m.provider.span(),
                format!(
                    "model \"{name}\" names provider \"{}\", which is not configured (configured: {})",
                    m.provider.get_ref(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        let existing = cfg.catalogue.get(&name).cloned();
        let model_price = match (&m.pricing, &existing) {
            (Some(p), _) => Price::new(
                price(&p.input, "pricing.input")?,
                price(&p.output, "pricing.output")?,
            )
            .with_details(
                p.cached_input
                    .as_ref()
                    .map(|c| price(c, "pricing.cached_input"))
                    .transpose()?,
                p.reasoning
                    .as_ref()
                    .map(|r| price(r, "pricing.reasoning"))
                    .transpose()?,
            ),
            (None, Some(e)) => e.price,
            (None, None) => Price::default(),
        };
        let provider_kind = cfg
            .providers
            .iter()
            .find(|p| &p.name == m.provider.get_ref())
            .map(|p| p.kind);
        let openrouter_only = |span: Range<usize>, key: &str| -> Problem {
            (
                span,
                format!(
                    "model \"{name}\": {key} is OpenRouter's; provider \"{}\" is not of kind openrouter",
                    m.provider.get_ref()
                ),
            )
        };
        let model_routing =
            provider_routing(m.provider_routing.as_ref(), &format!("model \"{name}\""))?;
        if let (Some(r), false) = (
            &m.provider_routing,
            provider_kind == Some(ProviderKind::OpenRouter),
        ) {
            return Err(openrouter_only(r.span(), "provider_routing"));
        }
        let fallback_models = m.fallback_models.clone().unwrap_or_default();
        if let (Some(f), false) = (
            fallback_models.first(),
            provider_kind == Some(ProviderKind::OpenRouter),
        ) {
            return Err(openrouter_only(f.span(), "fallback_models"));
        }
        if fallback_models.len() > 8 {
            return Err((
                fallback_models[8].span(),
                format!("model \"{name}\": at most 8 fallback_models"),
            ));
        }
        fallbacks_to_check.push((
            name.clone(),
            m.provider.get_ref().clone(),
            fallback_models.clone(),
        ));
        let limits = dagent_providers::RateLimits {
            requests_per_minute: per_minute(
                m.requests_per_minute.as_ref(),
                "requests_per_minute",
                MAX_RPM,
            )?,
            tokens_per_minute: per_minute(
                m.tokens_per_minute.as_ref(),
                "tokens_per_minute",
                MAX_TPM,
            )?,
        };
        let context_window = match &m.context_window {
            Some(v) => positive_u32(v, "context_window")?,
            None => existing.as_ref().map_or(8192, |e| e.context_window),
        };
        let max_output_tokens = match &m.max_output_tokens {
            Some(v) => positive_u32(v, "max_output_tokens")?,
            None => existing
                .as_ref()
                .map_or(1024, |e| e.max_output_tokens)
                .min(context_window / 2),
        };
        cfg.catalogue.insert(ModelInfo {
            id: m
                .id
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.id.clone()))
                .unwrap_or_else(|| name.clone()),
            name,
            provider: m.provider.get_ref().clone(),
            price: model_price,
            context_window,
            max_output_tokens,
            capabilities: m.capabilities.unwrap_or_default(),
            limits,
            provider_routing: model_routing,
            fallback_models: fallback_models
                .iter()
                .map(|f| f.get_ref().clone())
                .collect(),
        });
    }
    // OpenRouter fallbacks name defined models of the same provider (their prices bound
    // the call's worst case and bill the model that answered).
    for (name, provider, fallbacks) in fallbacks_to_check {
        for f in fallbacks {
            match cfg.catalogue.get(f.get_ref()) {
                Some(info) if info.provider == provider && info.name != name => {}
                Some(_) => {
                    return Err((
                        f.span(),
                        format!(
                            "model \"{name}\": fallback model \"{}\" must be another model of provider \"{provider}\"",
                            f.get_ref()
                        ),
                    ));
                }
                None => {
                    return Err((
                        f.span(),
                        format!(
                            "model \"{name}\": unknown fallback model \"{}\": define it under [models.{}] with its price",
                            f.get_ref(),
                            f.get_ref()
                        ),
                    ));
                }
            }
        }
    }
    let known_model = |s: &Spanned<String>, cat: &Catalogue| -> Result<String, Problem> {
        let name = s.get_ref();
        if cat.get(name).is_some() {
            Ok(name.clone())
        } else {
            Err((
                s.span(),
                format!(
                    "unknown model \"{name}\": define it under [models.{name}] (known: {})",
                    cat.names().join(", ")
                ),
            ))
        }
    };
    let routing = raw.routing.unwrap_or_default();
    if routing.default_model.is_some() && routing.tier.is_none() && routing.tiers.is_none() {
        // Only a default model: it serves every task a role or the task itself does not route.
        cfg.router.table = dagent_providers::RoutingTable::empty();
    }
    if let Some(t) = &routing.tier {
        cfg.router.tier = Tier::parse(t.get_ref()).ok_or_else(|| {
            (
                t.span(),
                format!(
                    "unknown tier {:?}: expected budget, balanced or premium",
                    t.get_ref()
                ),
            )
        })?;
    }
    if let Some(d) = &routing.default_model {
        cfg.router.default_model = Some(known_model(d, &cfg.catalogue)?);
    }
    for f in routing.fallbacks.unwrap_or_default() {
        cfg.router.fallbacks.push(known_model(&f, &cfg.catalogue)?);
    }
    if let Some(tiers) = routing.tiers {
        let mut table = cfg.router.table.clone();
        for (tier_name, entries) in tiers {
            let Some(tier) = Tier::parse(&tier_name) else {
                let span = entries.values().next().map_or(0..0, Spanned::span);
                return Err((
                    span,
                    format!(
                        "unknown tier [routing.tiers.{tier_name}]: expected budget, balanced or premium"
                    ),
                ));
            };
            for (cat_name, model) in entries {
                let cat = TaskCategory::parse(&cat_name).ok_or_else(|| {
                    (model.span(), format!("unknown task category \"{cat_name}\": expected coding, analysis, general or structured"))
                })?;
                table.set(tier, cat, known_model(&model, &cfg.catalogue)?);
            }
        }
        cfg.router.table = table;
    }
    for (name, r) in raw.roles.unwrap_or_default() {
        let model = r
            .model
            .as_ref()
            .map(|m| known_model(m, &cfg.catalogue))
            .transpose()?;
        let unit =
            |v: &Option<Spanned<f64>>, what: &str, max: f64| -> Result<Option<f32>, Problem> {
                v.as_ref()
                    .map(|v| {
                        let x = *v.get_ref();
                        #[allow(clippy::cast_possible_truncation)]
                        if (0.0..=max).contains(&x) {
                            Ok(x as f32)
                        } else {
                            Err((v.span(), format!("{what} must be between 0 and {max}")))
                        }
                    })
                    .transpose()
            };
        cfg.router.roles.insert(
            name.to_ascii_lowercase(),
            RoleSettings {
                model,
                temperature: unit(&r.temperature, "temperature", 2.0)?,
                max_tokens: r
                    .max_tokens
                    .as_ref()
                    .map(|v| positive_u32(v, "max_tokens"))
                    .transpose()?,
                top_p: unit(&r.top_p, "top_p", 1.0)?,
                system_prompt: r.system_prompt,
            },
        );
    }
    if let Some(b) = raw.budget {
        cfg.budget = Some(price(&b.max_usd, "budget.max_usd")?);
        if let Some(w) = b.warn_at {
            if !(0.0..=1.0).contains(w.get_ref()) {
                return Err((
                    w.span(),
                    "warn_at must be a fraction between 0 and 1".into(),
                ));
            }
            cfg.warn_at = Some(*w.get_ref());
        }
        if let Some(o) = b.on_exhaustion {
            cfg.on_exhaustion =
                dagent_providers::OnExhaustion::parse(o.get_ref()).ok_or_else(|| {
                    (
                        o.span(),
                        "on_exhaustion must be \"stop\" or \"step_down\"".to_owned(),
                    )
                })?;
        }
    }
    Ok(cfg)
}

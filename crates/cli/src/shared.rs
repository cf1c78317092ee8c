//! `[shared]`: limits and the budget shared across dagent processes through Redis — the
//! settings (validated once, the URL's password never shown) and their wiring around the
//! providers' clients and the run's ledger.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{ChatProvider, CostTracker, Money};
use dagent_shared::{
    Limits, OnUnavailable, RedisUrl, SharedConfig, SharedLedger, SharedRateLimit, SharedRedis,
};
use toml::Spanned;

use crate::diag::Failure;
use crate::models_config::ModelConfig;
use crate::settings::Entry;
use crate::settings::value::Value;

/// The `on_unavailable` rule.
pub(crate) fn check_on_unavailable(s: &str) -> Result<(), String> {
    OnUnavailable::parse(s).map(drop)
}

/// `[shared.limits.PROVIDER]` tables as read from the file.
pub(crate) type RawLimits = BTreeMap<String, (Range<usize>, Limits)>;

/// The validated `[shared]` settings.
#[derive(Clone, Debug)]
pub(crate) struct SharedSettings {
    pub(crate) config: SharedConfig,
    /// Per-provider limits counted in Redis.
    pub(crate) limits: BTreeMap<String, Limits>,
}

fn whole(v: &toml::Value, what: &str, max: u64) -> Result<u64, String> {
    v.as_integer()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("{what} must be a whole number between 1 and {max}"))
}

/// Takes the `limits` sub-tables out of `[shared]` (the rest are plain keys).
pub(crate) fn take_limits(
    shared: Option<&mut BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
) -> Result<RawLimits, (Range<usize>, String)> {
    let mut out = RawLimits::new();
    let Some(table) = shared else {
        return Ok(out);
    };
    let Some(key) = table.keys().find(|k| k.get_ref() == "limits").cloned() else {
        return Ok(out);
    };
    let Some(value) = table.remove(&key) else {
        return Ok(out);
    };
    let span = value.span();
    let Some(providers) = value.get_ref().as_table() else {
        return Err((
            span,
            "shared.limits must be a table of [shared.limits.PROVIDER]".into(),
        ));
    };
    for (name, t) in providers {
        let Some(t) = t.as_table() else {
            return Err((
                span.clone(),
                format!(
                    "shared.limits.{name} must be a table (requests_per_minute, tokens_per_minute)"
                ),
            ));
        };
        let mut limits = Limits::default();
        for (k, v) in t {
            let at = |m: String| (span.clone(), format!("shared.limits.{name}.{m}"));
            match k.as_str() {
                "requests_per_minute" => {
                    let n = whole(v, k, 1_000_000).map_err(at)?;
                    limits.requests_per_minute = u32::try_from(n).ok();
                }
                "tokens_per_minute" => {
                    limits.tokens_per_minute = Some(whole(v, k, 1_000_000_000_000).map_err(at)?);
                }
                other => {
                    return Err(at(format!(
                        "{other}: unknown key, expected requests_per_minute or tokens_per_minute"
                    )));
                }
            }
        }
        out.insert(name.clone(), (span.clone(), limits));
    }
    Ok(out)
}

fn entry<'a>(entries: &'a [Entry], key: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.def.section == "shared" && e.def.key == key)
        .unwrap_or_else(|| unreachable!("every [shared] key has an entry"))
}

fn text(entries: &[Entry], key: &str) -> Option<String> {
    match &entry(entries, key).value {
        Value::Text(t) => t.clone(),
        _ => None,
    }
}

/// The `[shared]` settings, or `None` when no Redis URL is configured (everything then
/// stays in process).
pub(crate) fn settings(
    entries: &[Entry],
    limits: RawLimits,
    models: &ModelConfig,
) -> Result<Option<SharedSettings>, Failure> {
    let Some(url_text) = text(entries, "redis_url") else {
        if !limits.is_empty() {
            return Err(Failure::bad_input(
                "error: [shared.limits] needs [shared] redis_url (or DAGENT_REDIS_URL): shared limits live in Redis",
            ));
        }
        return Ok(None);
    };
    let origin = &entry(entries, "redis_url").origin;
    let url = RedisUrl::parse(&url_text)
        .map_err(|m| Failure::bad_input(format!("error: {origin}: shared.redis_url {m}")))?;
    let mut config = SharedConfig::new(url);
    config.on_unavailable = text(entries, "on_unavailable")
        .and_then(|s| OnUnavailable::parse(&s).ok())
        .unwrap_or_default();
    if let Some(prefix) = text(entries, "key_prefix") {
        config.prefix = prefix;
    }
    if let Value::Seconds(Some(d)) = entry(entries, "reservation_ttl_seconds").value {
        config.reservation_ttl = d.max(Duration::from_secs(1));
    }
    let mut out = BTreeMap::new();
    for (name, (_, l)) in limits {
        if !models.providers.iter().any(|p| p.name == name) {
            return Err(Failure::bad_input(format!(
                "error: [shared.limits.{name}] names no configured provider: add [providers.{name}]"
            )));
        }
        out.insert(name, l);
    }
    Ok(Some(SharedSettings {
        config,
        limits: out,
    }))
}

/// The shared pieces of one run: the Redis handle, and the ledger every paid call reserves
/// in.
pub(crate) struct Shared {
    pub(crate) ledger: SharedLedger,
    limits: BTreeMap<String, Limits>,
}

impl Shared {
    /// Connects lazily to Redis and builds the shared ledger over this process's `local`
    /// one; notices about Redis go to stderr unless `quiet`.
    pub(crate) fn new(
        s: &SharedSettings,
        budget: Option<Money>,
        local: Arc<dyn CostTracker>,
        quiet: bool,
    ) -> Result<Self, Failure> {
        let mut redis = SharedRedis::new(s.config.clone())
            .map_err(|m| Failure::bad_input(format!("error: {m}")))?;
        if !quiet {
            redis =
                redis.with_notice(|m| eprintln!("warning: {}", dagent_core::display::escape(m)));
        }
        Ok(Self {
            ledger: SharedLedger::new(redis, "default", budget, local),
            limits: s.limits.clone(),
        })
    }

    /// [`Shared::new`] when `[shared]` is configured (`s`), else `None`.
    pub(crate) fn from_settings(
        s: Option<&SharedSettings>,
        budget: Option<Money>,
        local: Arc<dyn CostTracker>,
        quiet: bool,
    ) -> Result<Option<Self>, Failure> {
        s.map(|s| Self::new(s, budget, local, quiet)).transpose()
    }

    /// `client` of provider `name`, counted against its shared limits when it has any.
    pub(crate) fn limit(&self, name: &str, client: Arc<dyn ChatProvider>) -> Arc<dyn ChatProvider> {
        match self.limits.get(name) {
            Some(l) => Arc::new(SharedRateLimit::new(
                client,
                self.ledger.redis().clone(),
                name,
                *l,
            )),
            None => client,
        }
    }

    /// At the end of a run: waits for settlements to reach Redis and says how the shared
    /// budget stands.
    pub(crate) async fn finish(&self, quiet: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let left = self.ledger.flush(Duration::from_secs(5)).await;
        if left > 0 {
            lines.push(format!(
                "warning: {left} settlement(s) could not be written to the shared ledger at {}; their reservations stay held there until they expire",
                self.ledger.redis().config().url
            ));
        }
        if !quiet && let Ok(t) = self.ledger.totals().await {
            lines.push(format!(
                "shared budget ({}): {} spent by {} call(s) of all processes, {} reserved",
                self.ledger.redis().config().url,
                t.spent,
                t.calls,
                t.reserved
            ));
        }
        lines
    }
}

/// Every configured provider, each endpoint's HTTP client under its shared limit when
/// `[shared]` is set (innermost, so a request is counted as it is sent, failovers included),
/// and the tracker paid calls reserve in: the shared ledger, else `local`.
pub(crate) fn providers(
    m: &ModelConfig,
    shared: Option<&Shared>,
    local: &Arc<dagent_providers::CostLedger>,
) -> Result<(dagent_providers::Providers, Arc<dyn CostTracker>), dagent_providers::WiringError> {
    let providers =
        dagent_providers::Providers::from_config_wrapped(&m.providers, &m.catalogue, |spec, c| {
            shared.map_or(c.clone(), |s| s.limit(&spec.name, c))
        })?;
    let tracker: Arc<dyn CostTracker> = match shared {
        Some(s) => Arc::new(s.ledger.clone()),
        None => local.clone(),
    };
    Ok((providers, tracker))
}

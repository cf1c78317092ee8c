//! `dagent models`: providers, models, prices and the routing table.

use std::fmt::Write as _;
use std::process::ExitCode;

use dagent_providers::{TaskCategory, Tier};
use serde_json::json;

use crate::args::{ModelsArgs, TableFormat};
use crate::diag::Failure;

pub(crate) fn run(args: &ModelsArgs) -> Result<ExitCode, Failure> {
    let config = crate::settings::Settings::from_env(args.config.as_deref())?;
    let m = &config.models;
    let plan = match &args.plan {
        Some(p) => Some(dagent_adapters::load_plan_with(
            p,
            dagent_adapters::LoadOptions::default().max_bytes(config.max_input_bytes),
        )?),
        None => None,
    };
    let routes: Vec<(String, Option<dagent_providers::Route>)> = plan
        .as_ref()
        .map(|l| {
            l.plan
                .tasks
                .iter()
                .map(|t| (t.id.to_string(), m.router.route(t)))
                .collect()
        })
        .unwrap_or_default();
    let endpoints = endpoint_state(m, args.health);
    if args.format == TableFormat::Json {
        let doc = json!({
            "providers": m.providers.iter().map(|p| json!({
                "name": p.name, "kind": p.kind.as_str(), "base_urls": p.base_urls,
                "api_key_env": p.api_key_env,
                "api_key_set": p.api_key_env.as_deref().is_some_and(|v| std::env::var(v).is_ok_and(|x| !x.is_empty())),
                "max_concurrent": p.max_concurrent, "stream": p.stream,
                "adaptive": p.adaptive,
                "requests_per_minute": p.limits.requests_per_minute,
                "tokens_per_minute": p.limits.tokens_per_minute,
                "balance": p.pool.balance.as_str(),
                "allowed_fails": p.pool.allowed_fails,
                "cooldown_seconds": p.pool.cooldown.as_secs_f64(),
                "health_check_seconds": p.pool.health_check_interval.map(|d| d.as_secs_f64()),
                "endpoints": endpoints.iter().filter(|e| e.provider == p.name).map(|e| json!({
                    "url": e.url, "requests": e.requests, "errors": e.errors,
                    "failovers": e.failovers, "cooldowns": e.cooldowns,
                    "cooling_down": e.cooling_down, "in_flight": e.in_flight,
                    "latency_ms": e.latency_ms, "adaptive_limit": e.adaptive_limit,
                    "healthy": e.healthy,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "models": m.catalogue.iter().map(|x| json!({
                "name": x.name, "provider": x.provider, "id": x.id,
                "input_per_million_usd": x.price.input_per_million.to_string().trim_start_matches('$'),
                "output_per_million_usd": x.price.output_per_million.to_string().trim_start_matches('$'),
                "context_window": x.context_window, "max_output_tokens": x.max_output_tokens, "capabilities": x.capabilities,
            })).collect::<Vec<_>>(),
            "routing": {
                "tier": m.router.tier.as_str(),
                "default_model": m.router.default_model,
                "fallbacks": m.router.fallbacks,
                "table": Tier::ALL.iter().map(|t| (t.as_str().to_owned(), serde_json::Value::Object(TaskCategory::ALL.iter().map(|c| (c.as_str().to_owned(), json!(m.router.table.get(*t, *c)))).collect()))).collect::<serde_json::Map<_, _>>(),
                "roles": m.router.roles.iter().map(|(k, r)| (k.clone(), json!({"model": r.model, "temperature": r.temperature, "max_tokens": r.max_tokens, "top_p": r.top_p}))).collect::<serde_json::Map<_, _>>(),
            },
            "tasks": routes.iter().map(|(id, r)| json!({"id": id, "model": r.as_ref().map(|r| r.model.clone()), "reason": r.as_ref().map(|r| r.reason.clone()), "fallbacks": r.as_ref().map(|r| r.fallbacks.clone())})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::from("Providers\n");
    if m.providers.is_empty() {
        out.push_str("  (none configured: add [providers.NAME] to dagent.toml)\n");
    }
    for p in &m.providers {
        let key = match &p.api_key_env {
            Some(v) if std::env::var(v).is_ok_and(|x| !x.is_empty()) => {
                format!("key from {v} (set)")
            }
            Some(v) => format!("key from {v} (NOT SET)"),
            None => "no key".to_owned(),
        };
        let conc = p.max_concurrent.map_or_else(
            || "no per-endpoint limit".to_owned(),
            |c| format!("{c} at a time per endpoint"),
        );
        let _ = writeln!(
            out,
            "  {:<12} {:<10} {}  {key}  {conc}",
            p.name,
            p.kind.as_str(),
            p.base_urls.join(", ")
        );
        let mut policy = Vec::new();
        if p.adaptive {
            policy.push("adaptive concurrency".to_owned());
        }
        if let Some(r) = p.limits.requests_per_minute {
            policy.push(format!("{r} requests/min"));
        }
        if let Some(t) = p.limits.tokens_per_minute {
            policy.push(format!("{t} tokens/min"));
        }
        if p.base_urls.len() > 1 {
            policy.push(format!(
                "{}, cooldown {}s after {} failures",
                p.pool.balance.as_str(),
                p.pool.cooldown.as_secs_f64(),
                p.pool.allowed_fails
            ));
        }
        if let Some(h) = p.pool.health_check_interval {
            policy.push(format!("health check every {}s", h.as_secs_f64()));
        }
        if !policy.is_empty() {
            let _ = writeln!(out, "  {:<12} {}", "", policy.join(" · "));
        }
        for e in endpoints.iter().filter(|e| e.provider == p.name) {
            let state = match e.healthy {
                Some(true) => "healthy",
                Some(false) if e.cooling_down => "UNHEALTHY, cooling down",
                Some(false) => "UNHEALTHY",
                None => "not checked",
            };
            let _ = writeln!(
                out,
                "  {:<12} endpoint {}: {state}, {} requests, {} errors, {} cooldowns",
                "", e.url, e.requests, e.errors, e.cooldowns
            );
        }
    }
    let _ = writeln!(
        out,
        "\nModels (USD per 1M tokens in / out; built-in prices as of {}, override under [models.NAME])",
        dagent_providers::BUILTIN_PRICES_AS_OF
    );
    for x in m.catalogue.iter() {
        let _ = writeln!(
            out,
            "  {:<22} {:<12} {:<44} {:>9} {:>9}  {:>7} ctx",
            x.name,
            x.provider,
            x.id,
            x.price.input_per_million.to_string(),
            x.price.output_per_million.to_string(),
            x.context_window
        );
    }
    let _ = writeln!(
        out,
        "\nRouting (tier in use: {}; simple tasks use the budget row except in premium)",
        m.router.tier
    );
    let _ = writeln!(
        out,
        "  {:<9} {:<20} {:<20} {:<20} {:<20}",
        "tier", "coding", "analysis", "general", "structured"
    );
    for t in Tier::ALL {
        let cell = |c| m.router.table.get(t, c).unwrap_or("-").to_owned();
        let mark = if t == m.router.tier { "*" } else { " " };
        let _ = writeln!(
            out,
            " {mark}{:<9} {:<20} {:<20} {:<20} {:<20}",
            t.as_str(),
            cell(TaskCategory::Coding),
            cell(TaskCategory::Analysis),
            cell(TaskCategory::General),
            cell(TaskCategory::Structured)
        );
    }
    let _ = writeln!(
        out,
        "  default model: {}",
        m.router.default_model.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "  fallbacks: {}",
        if m.router.fallbacks.is_empty() {
            "-".to_owned()
        } else {
            m.router.fallbacks.join(" → ")
        }
    );
    if !m.router.roles.is_empty() {
        out.push_str("\nRoles\n");
        for (name, r) in &m.router.roles {
            let _ = writeln!(
                out,
                "  {name:<12} model {}  temperature {}  max_tokens {}  top_p {}",
                r.model.as_deref().unwrap_or("(table)"),
                r.temperature.map_or("-".into(), |x| x.to_string()),
                r.max_tokens.map_or("-".into(), |x| x.to_string()),
                r.top_p.map_or("-".into(), |x| x.to_string()),
            );
        }
    }
    if !routes.is_empty() {
        out.push_str("\nTasks\n");
        for (id, r) in &routes {
            match r {
                Some(r) => {
                    let _ = writeln!(out, "  {id:<20} {:<22} {}", r.model, r.reason);
                }
                None => {
                    let _ = writeln!(out, "  {id:<20} (no model: set routing.default_model)");
                }
            }
        }
    }
    for line in out.lines() {
        println!("{}", dagent_core::display::escape_lines(line.trim_end()));
    }
    Ok(ExitCode::SUCCESS)
}

/// With `--health`: the endpoints of every configured provider after one health check
/// (a GET of each models list); empty otherwise. A provider that cannot be built (an
/// OpenRouter provider without its key, say) is left out and said why on stderr; the others
/// are still checked.
fn endpoint_state(
    m: &crate::models_config::ModelConfig,
    health: bool,
) -> Vec<dagent_providers::EndpointStats> {
    if !health || m.providers.is_empty() {
        return Vec::new();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let mut stats = Vec::new();
    for spec in &m.providers {
        match dagent_providers::Providers::from_config(std::slice::from_ref(spec), &m.catalogue) {
            Ok(providers) => {
                rt.block_on(providers.check_health(std::time::Duration::from_secs(5)));
                stats.extend(providers.endpoint_stats());
            }
            Err(e) => eprintln!(
                "{}",
                dagent_core::display::escape_lines(&format!("warning: not checked: {e}"))
            ),
        }
    }
    stats
}

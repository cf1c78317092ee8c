//! `dagent config`: the effective settings and where each value came from.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::json;

use crate::args::{ConfigArgs, TableFormat};
use crate::diag::Failure;
use crate::settings::Settings;
use crate::settings::value::Value;

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => json!(b),
        Value::Count(n) => json!(n),
        Value::Seconds(d) => json!(d.map(|d| d.as_secs_f64())),
        Value::SecondsList(l) => json!(l.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>()),
        Value::Number(x) => json!(x),
        Value::Text(t) => json!(t),
    }
}

fn section_json(s: &Settings, section: &str) -> serde_json::Value {
    serde_json::Value::Object(
        s.entries
            .iter()
            .filter(|e| e.def.section == section)
            .map(|e| {
                (
                    e.def.key.to_owned(),
                    json!({
                        "value": json_value(&e.shown()),
                        "origin": e.origin.to_string(),
                        "env": e.def.env,
                        "flag": e.def.flag,
                    }),
                )
            })
            .collect(),
    )
}

/// Whether the variable a provider names holds a key (the key itself is never read here).
fn key_state(var: Option<&str>) -> &'static str {
    match var {
        Some(v) if std::env::var_os(v).is_some_and(|x| !x.is_empty()) => "set",
        Some(_) => "not set",
        None => "no key",
    }
}

pub(crate) fn run(args: &ConfigArgs) -> Result<ExitCode, Failure> {
    let mut flags = args.exec.values();
    if let Some(s) = &args.strategy {
        flags.push(("--strategy", s.clone()));
    }
    let s = Settings::load(args.config.as_deref(), &|k| std::env::var(k).ok(), &flags)?;
    let file = s.source.as_ref().map(|p| p.display().to_string());
    let m = &s.models;
    let builtin = dagent_providers::Catalogue::builtin();
    let model_origin = |name: &str, info: &dagent_providers::ModelInfo| {
        if builtin.get(name) == Some(info) {
            "built-in".to_owned()
        } else {
            file.clone().unwrap_or_else(|| "built-in".to_owned())
        }
    };
    if args.format == TableFormat::Json {
        let doc = json!({
            "file": file,
            "parallelization": section_json(&s, "parallelization"),
            "input": section_json(&s, "input"),
            "store": section_json(&s, "store"),
            "shared": section_json(&s, "shared"),
            "providers": m.providers.iter().map(|p| json!({
                "name": p.name, "kind": p.kind.as_str(), "base_urls": p.base_urls,
                "api_key_env": p.api_key_env, "api_key": key_state(p.api_key_env.as_deref()),
                "max_concurrent": p.max_concurrent, "timeout_seconds": p.timeout.as_secs_f64(),
                "stream": p.stream, "origin": file,
            })).collect::<Vec<_>>(),
            "models": m.catalogue.iter().map(|x| json!({
                "name": x.name, "provider": x.provider, "id": x.id,
                "origin": model_origin(&x.name, x),
            })).collect::<Vec<_>>(),
            "routing": {
                "tier": m.router.tier.as_str(),
                "default_model": m.router.default_model,
                "fallbacks": m.router.fallbacks,
            },
            "budget": {
                "max_usd": m.budget.map(|b| b.to_string().trim_start_matches('$').to_owned()),
                "warn_at": m.warn_at,
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Configuration file: {}",
        file.as_deref()
            .unwrap_or("none (no --config, and no dagent.toml in this directory)")
    );
    out.push_str("Precedence: default < file < DAGENT_* environment < flags\n");
    for section in ["parallelization", "input", "store", "shared"] {
        let _ = writeln!(out, "\n[{section}]");
        for e in s.entries.iter().filter(|e| e.def.section == section) {
            let _ = writeln!(
                out,
                "  {:<28} {:<18} {}",
                e.def.key,
                e.shown().to_string(),
                e.origin
            );
        }
    }
    out.push_str("\n[providers]\n");
    if m.providers.is_empty() {
        out.push_str("  (none: add [providers.NAME]; `dagent run --simulate` needs none)\n");
    }
    for p in &m.providers {
        let _ = writeln!(
            out,
            "  {:<14} {:<10} {}  key {} ({})",
            p.name,
            p.kind.as_str(),
            p.base_urls.join(", "),
            p.api_key_env.as_deref().unwrap_or("-"),
            key_state(p.api_key_env.as_deref()),
        );
    }
    let from_file: Vec<&str> = m
        .catalogue
        .iter()
        .filter(|x| model_origin(&x.name, x) != "built-in")
        .map(|x| x.name.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\n[models]\n  {} models: {} from the file{}; `dagent models` shows prices and routing",
        m.catalogue.iter().count(),
        from_file.len(),
        if from_file.is_empty() {
            String::new()
        } else {
            format!(" ({})", from_file.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "\n[routing]\n  tier {}  default model {}  fallbacks {}",
        m.router.tier,
        m.router.default_model.as_deref().unwrap_or("-"),
        if m.router.fallbacks.is_empty() {
            "-".to_owned()
        } else {
            m.router.fallbacks.join(" → ")
        }
    );
    let _ = writeln!(
        out,
        "\n[budget]\n  max_usd {}  warn_at {}",
        m.budget
            .map_or_else(|| "none".to_owned(), |b| b.to_string()),
        m.warn_at
            .map_or_else(|| "none".to_owned(), |w| w.to_string())
    );
    for line in out.lines() {
        println!("{}", line.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

//! `dagent roles`: the built-in roles and those of `[roles.NAME]`, with the values in effect.

use std::fmt::Write as _;
use std::process::ExitCode;

use dagent_core::display::escape;
use dagent_providers::{BUILTIN_ROLES, RoleSettings, builtin_role};
use serde_json::{Value, json};

use crate::args::{RolesArgs, TableFormat};
use crate::diag::Failure;
use crate::settings::Settings;

/// One role as it is in effect: the built-in values with the configuration's over them.
struct Effective {
    name: String,
    purpose: String,
    builtin: bool,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    top_p: Option<f32>,
    model: Option<String>,
    system_prompt: Option<String>,
    /// The fields `[roles.NAME]` sets.
    configured: Vec<&'static str>,
}

fn effective(name: &str, configured: Option<&RoleSettings>) -> Effective {
    let b = builtin_role(name);
    let c = configured.cloned().unwrap_or_default();
    let mut set = Vec::new();
    for (field, present) in [
        ("model", c.model.is_some()),
        ("temperature", c.temperature.is_some()),
        ("max_tokens", c.max_tokens.is_some()),
        ("top_p", c.top_p.is_some()),
        ("system_prompt", c.system_prompt.is_some()),
    ] {
        if present {
            set.push(field);
        }
    }
    Effective {
        name: name.to_owned(),
        purpose: b.map_or_else(
            || "defined in dagent.toml".to_owned(),
            |b| b.purpose.to_owned(),
        ),
        builtin: b.is_some(),
        temperature: c.temperature.or(b.map(|b| b.temperature)),
        max_tokens: c.max_tokens.or(b.map(|b| b.max_tokens)),
        top_p: c.top_p.or(b.map(|b| b.top_p)),
        model: c.model,
        system_prompt: c
            .system_prompt
            .or_else(|| b.map(|b| b.system_prompt.to_owned())),
        configured: set,
    }
}

fn roles(settings: &Settings) -> Vec<Effective> {
    let configured = &settings.models.router.roles;
    let mut out: Vec<Effective> = BUILTIN_ROLES
        .iter()
        .map(|r| effective(r.name, configured.get(r.name)))
        .collect();
    for (name, c) in configured {
        if !out.iter().any(|r| &r.name == name) && builtin_role(name).is_none() {
            out.push(effective(name, Some(c)));
        }
    }
    out
}

/// An `f32` parameter as a JSON number with its short decimal form (0.3, not 0.30000001).
fn number(x: Option<f32>) -> Value {
    x.and_then(|x| format!("{x}").parse::<f64>().ok())
        .map_or(Value::Null, Value::from)
}

fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| x.to_string())
}

pub(crate) fn run(args: &RolesArgs) -> Result<ExitCode, Failure> {
    let settings = Settings::from_env(args.config.as_deref())?;
    let roles = roles(&settings);
    let out = match args.format {
        TableFormat::Json => {
            let list: Vec<Value> = roles
                .iter()
                .map(|r| {
                    json!({
                        "name": r.name,
                        "purpose": r.purpose,
                        "builtin": r.builtin,
                        "temperature": number(r.temperature),
                        "max_tokens": r.max_tokens,
                        "top_p": number(r.top_p),
                        "model": r.model,
                        "system_prompt": r.system_prompt,
                        "configured": r.configured,
                    })
                })
                .collect();
            crate::render::to_json(&json!({ "roles": list }))
        }
        TableFormat::Text => text(&roles),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn text(roles: &[Effective]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} roles ({} built in). A task's role picks its system prompt, parameters and model; \
[roles.NAME] in dagent.toml overrides them (* marks a configured value).\n",
        roles.len(),
        BUILTIN_ROLES.len()
    );
    let mark = |r: &Effective, f: &str, v: String| {
        if r.configured.contains(&f) {
            format!("{v}*")
        } else {
            v
        }
    };
    let rows: Vec<[String; 6]> = roles
        .iter()
        .map(|r| {
            [
                escape(&r.name).into_owned(),
                mark(r, "temperature", opt(r.temperature)),
                mark(r, "max_tokens", opt(r.max_tokens)),
                mark(r, "top_p", opt(r.top_p)),
                mark(
                    r,
                    "model",
                    escape(r.model.as_deref().unwrap_or("(routing)")).into_owned(),
                ),
                escape(&r.purpose).into_owned(),
            ]
        })
        .collect();
    let head = [
        "role",
        "temperature",
        "max_tokens",
        "top_p",
        "model",
        "purpose",
    ];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l
    };
    let _ = writeln!(s, "{}", line(&head.map(str::to_owned)));
    for row in &rows {
        let _ = writeln!(s, "{}", line(row));
    }
    let _ = writeln!(s, "\nSystem prompts:");
    for r in roles {
        let prompt = r
            .system_prompt
            .as_deref()
            .unwrap_or("(the default for the task's kind)");
        let _ = writeln!(
            s,
            "  {}{}: {}",
            escape(&r.name),
            if r.configured.contains(&"system_prompt") {
                "*"
            } else {
                ""
            },
            escape(prompt)
        );
    }
    s
}

//! The one settings layer: built-in defaults < `dagent.toml` < `DAGENT_*` variables < flags,
//! merged in one place, each key validated once by one rule ([`value::Rule`]), with one
//! error format that names where the value came from — `file:line:col` for the file, the
//! variable for the environment, the flag for flags — and remembered provenance, which
//! `dagent config` prints.
//!
//! Stage one is clap's raw flags (`crate::args`); this module is stage two (ripgrep's
//! lowargs → hiargs): every command gets typed settings from [`Settings::load`].

pub(crate) mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dagent_adapters::{PlanError, PlanErrorKind};
use dagent_analyzers::Strategy;
use dagent_executor::{FailureMode, Mode};
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Failure;
use crate::models_config::{self, ModelConfig};
use value::{Raw, Rule, Value};

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Built in.
    Default,
    /// The configuration file, at this line.
    File { path: String, line: usize },
    /// A `DAGENT_*` variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File { path, line } => write!(f, "{path}:{line}"),
            Self::Env(var) => write!(f, "environment {var}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One settings key: its section, its variable, its flag, its rule and its default.
#[derive(Debug)]
pub(crate) struct KeyDef {
    pub(crate) section: &'static str,
    pub(crate) key: &'static str,
    pub(crate) env: &'static str,
    pub(crate) flag: Option<&'static str>,
    rule: Rule,
    default: fn() -> Value,
}

fn check_mode(s: &str) -> Result<(), String> {
    s.parse::<Mode>().map(drop)
}
fn check_failure_mode(s: &str) -> Result<(), String> {
    s.parse::<FailureMode>().map(drop)
}
fn check_strategy(s: &str) -> Result<(), String> {
    s.parse::<Strategy>().map(drop)
}

const fn key(
    key: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    rule: Rule,
    default: fn() -> Value,
) -> KeyDef {
    KeyDef {
        section: "parallelization",
        key,
        env,
        flag,
        rule,
        default,
    }
}

/// Every key, in the order `dagent config` prints them: `[parallelization]`, then `[store]`.
pub(crate) const KEYS: &[KeyDef] = &[
    key("enabled", "DAGENT_ENABLED", None, Rule::Bool, || {
        Value::Bool(true)
    }),
    key(
        "mode",
        "DAGENT_MODE",
        Some("--mode"),
        Rule::Name(check_mode),
        || Value::Text(Some("eager".into())),
    ),
    key(
        "max_concurrent_tasks",
        "DAGENT_MAX_CONCURRENT_TASKS",
        Some("--max-concurrent"),
        Rule::Count { min: 1 },
        || Value::Count(10),
    ),
    key(
        "max_tasks_per_second",
        "DAGENT_MAX_TASKS_PER_SECOND",
        Some("--rate"),
        Rule::Rate,
        || Value::Number(None),
    ),
    key(
        "task_timeout_seconds",
        "DAGENT_TASK_TIMEOUT_SECONDS",
        Some("--task-timeout"),
        Rule::Seconds {
            zero_disables: true,
        },
        || Value::Seconds(Some(Duration::from_secs(300))),
    ),
    key(
        "batch_timeout_seconds",
        "DAGENT_BATCH_TIMEOUT_SECONDS",
        Some("--batch-timeout"),
        Rule::Seconds {
            zero_disables: true,
        },
        || Value::Seconds(None),
    ),
    key(
        "run_timeout_seconds",
        "DAGENT_RUN_TIMEOUT_SECONDS",
        Some("--deadline"),
        Rule::Seconds {
            zero_disables: true,
        },
        || Value::Seconds(None),
    ),
    key(
        "dependency_strategy",
        "DAGENT_DEPENDENCY_STRATEGY",
        Some("--strategy"),
        Rule::Name(check_strategy),
        || Value::Text(Some("auto".into())),
    ),
    key(
        "fallback_strategy",
        "DAGENT_FALLBACK_STRATEGY",
        None,
        Rule::Name(check_strategy),
        || Value::Text(Some("sequential".into())),
    ),
    key(
        "retry_on_failure",
        "DAGENT_RETRY_ON_FAILURE",
        Some("--no-retry"),
        Rule::Bool,
        || Value::Bool(true),
    ),
    key(
        "max_retries",
        "DAGENT_MAX_RETRIES",
        Some("--max-retries"),
        Rule::Count { min: 0 },
        || Value::Count(3),
    ),
    key(
        "retry_backoff_seconds",
        "DAGENT_RETRY_BACKOFF_SECONDS",
        Some("--retry-backoff"),
        Rule::SecondsList,
        || {
            Value::SecondsList(vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(15),
            ])
        },
    ),
    key(
        "max_retry_delay_seconds",
        "DAGENT_MAX_RETRY_DELAY_SECONDS",
        Some("--max-retry-delay"),
        Rule::Seconds {
            zero_disables: false,
        },
        || Value::Seconds(Some(Duration::from_secs(300))),
    ),
    key(
        "failure_mode",
        "DAGENT_FAILURE_MODE",
        Some("--failure-mode"),
        Rule::Name(check_failure_mode),
        || Value::Text(Some("skip_dependents".into())),
    ),
    key(
        "failure_threshold",
        "DAGENT_FAILURE_THRESHOLD",
        Some("--failure-threshold"),
        Rule::Fraction,
        || Value::Number(None),
    ),
    key(
        "failure_threshold_min_tasks",
        "DAGENT_FAILURE_THRESHOLD_MIN_TASKS",
        None,
        Rule::Count { min: 1 },
        || Value::Count(5),
    ),
    key(
        "analyzer_model",
        "DAGENT_ANALYZER_MODEL",
        None,
        Rule::Text,
        || Value::Text(None),
    ),
    KeyDef {
        section: "input",
        key: "max_bytes",
        env: "DAGENT_MAX_INPUT_BYTES",
        flag: Some("--max-input-bytes"),
        rule: Rule::Bytes,
        default: || Value::Count(dagent_adapters::DEFAULT_MAX_BYTES),
    },
    KeyDef {
        section: "store",
        key: "path",
        env: "DAGENT_STORE",
        flag: Some("--store"),
        rule: Rule::Text,
        default: || Value::Text(Some(dagent_store::DEFAULT_PATH.into())),
    },
    KeyDef {
        section: "store",
        key: "enabled",
        env: "DAGENT_STORE_ENABLED",
        flag: Some("--no-store"),
        rule: Rule::Bool,
        default: || Value::Bool(true),
    },
    // `[shared]`: limits and budget shared across processes through Redis (checked as a
    // whole by `crate::shared::settings`; the URL's password is never shown).
    KeyDef {
        section: "shared",
        key: "redis_url",
        env: "DAGENT_REDIS_URL",
        flag: None,
        rule: Rule::Text,
        default: || Value::Text(None),
    },
    KeyDef {
        section: "shared",
        key: "on_unavailable",
        env: "DAGENT_REDIS_ON_UNAVAILABLE",
        flag: None,
        rule: Rule::Name(crate::shared::check_on_unavailable),
        default: || Value::Text(Some("wait".into())),
    },
    KeyDef {
        section: "shared",
        key: "key_prefix",
        env: "DAGENT_REDIS_KEY_PREFIX",
        flag: None,
        rule: Rule::Text,
        default: || Value::Text(Some("dagent".into())),
    },
    KeyDef {
        section: "shared",
        key: "reservation_ttl_seconds",
        env: "DAGENT_REDIS_RESERVATION_TTL_SECONDS",
        flag: None,
        rule: Rule::Seconds {
            zero_disables: false,
        },
        default: || Value::Seconds(Some(Duration::from_secs(60))),
    },
];

/// A merged value and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) def: &'static KeyDef,
    pub(crate) value: Value,
    pub(crate) origin: Origin,
}

impl Entry {
    /// The value as it may be shown or stored: a Redis URL without its password.
    pub(crate) fn shown(&self) -> Value {
        match (&self.value, self.def.key) {
            (Value::Text(Some(url)), "redis_url") => Value::Text(Some(
                dagent_shared::RedisUrl::parse(url)
                    .map_or_else(|_| "(invalid)".to_owned(), |u| u.redacted().to_owned()),
            )),
            (v, _) => v.clone(),
        }
    }
}

/// The `[parallelization]` settings, typed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parallelization {
    pub(crate) enabled: bool,
    pub(crate) mode: Mode,
    pub(crate) max_concurrent_tasks: usize,
    pub(crate) max_tasks_per_second: Option<f64>,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) batch_timeout: Option<Duration>,
    pub(crate) run_timeout: Option<Duration>,
    pub(crate) dependency_strategy: Strategy,
    pub(crate) fallback_strategy: Strategy,
    pub(crate) retry_on_failure: bool,
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Vec<Duration>,
    pub(crate) max_retry_delay: Duration,
    pub(crate) failure_mode: FailureMode,
    pub(crate) failure_threshold: Option<f64>,
    pub(crate) failure_threshold_min_tasks: usize,
    pub(crate) analyzer_model: Option<String>,
}

/// Everything the commands need from configuration, with provenance.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) parallelization: Parallelization,
    /// The largest plan or configuration file read, in bytes.
    pub(crate) max_input_bytes: u64,
    pub(crate) store: StoreSettings,
    pub(crate) models: ModelConfig,
    /// `[shared]`: Redis-backed limits and budget, when a URL is configured.
    pub(crate) shared: Option<crate::shared::SharedSettings>,
    /// The merged `[parallelization]` entries, in [`KEYS`] order.
    pub(crate) entries: Vec<Entry>,
    /// The configuration file read, if any.
    pub(crate) source: Option<PathBuf>,
}

/// A flag's raw value, as clap parsed it: `(flag, text)`.
pub(crate) type FlagValue = (&'static str, String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    parallelization: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    store: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    input: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    providers: Option<BTreeMap<String, models_config::RawProvider>>,
    models: Option<BTreeMap<String, models_config::RawModel>>,
    routing: Option<models_config::RawRouting>,
    roles: Option<BTreeMap<String, models_config::RawRole>>,
    budget: Option<models_config::RawBudget>,
    shared: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

impl Settings {
    /// Loads the configuration file (`explicit`, which must exist, else `./dagent.toml`
    /// when it exists), then the environment (`env`), then `flags`, validating every value.
    pub(crate) fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &[FlagValue],
    ) -> Result<Self, Failure> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("dagent.toml")).filter(|p| p.is_file()),
        };
        let mut entries: Vec<Entry> = KEYS
            .iter()
            .map(|def| Entry {
                def,
                value: (def.default)(),
                origin: Origin::Default,
            })
            .collect();
        let mut models = ModelConfig::default();
        let mut shared_limits = crate::shared::RawLimits::default();
        if let Some(path) = &path {
            let origin = path.display().to_string();
            // The file's own size cap comes from the environment, a flag or the default
            // (a file cannot raise the limit it is read under).
            let given = flags
                .iter()
                .find(|(f, _)| *f == "--max-input-bytes")
                .map(|(f, v)| (format!("{f} {v}"), v.clone()))
                .or_else(|| {
                    env("DAGENT_MAX_INPUT_BYTES").map(|v| {
                        (
                            format!("environment variable DAGENT_MAX_INPUT_BYTES={v:?}"),
                            v,
                        )
                    })
                });
            let cap = match given {
                None => dagent_adapters::DEFAULT_MAX_BYTES,
                Some((source, v)) => match Rule::Bytes.parse(&Raw::Text(&v)) {
                    Ok(Value::Count(n)) => n,
                    Ok(_) => dagent_adapters::DEFAULT_MAX_BYTES,
                    Err(m) if source.starts_with("--") => {
                        return Err(Failure::bad_input(format!("error: {source}: {m}")));
                    }
                    Err(m) => {
                        return Err(Failure::bad_input(format!(
                            "error: {source}: max_bytes {m}"
                        )));
                    }
                },
            };
            let text = dagent_adapters::read_input(path, cap).map_err(Failure::from)?;
            (models, shared_limits) = apply_file(&mut entries, &text, &origin)?;
        }
        for entry in &mut entries {
            let var = entry.def.env;
            if let Some(text) = env(var) {
                entry.value = entry.def.rule.parse(&Raw::Text(&text)).map_err(|m| {
                    Failure::bad_input(format!(
                        "error: environment variable {var}={text:?}: {} {m}",
                        entry.def.key
                    ))
                })?;
                entry.origin = Origin::Env(var);
            }
        }
        for (flag, text) in flags {
            let Some(entry) = entries.iter_mut().find(|e| e.def.flag == Some(*flag)) else {
                continue;
            };
            // `--no-retry` and `--no-store` are switches: present means false.
            let text = if matches!(*flag, "--no-retry" | "--no-store") {
                "false"
            } else {
                text
            };
            entry.value = entry
                .def
                .rule
                .parse(&Raw::Text(text))
                .map_err(|m| Failure::bad_input(format!("error: {flag} {text}: {m}")))?;
            entry.origin = Origin::Flag(flag);
        }
        let parallelization = typed(&entries);
        let store = store_settings(&entries);
        let shared = crate::shared::settings(&entries, shared_limits, &models)?;
        let max_input_bytes = match get(&entries, "input.max_bytes") {
            Value::Count(n) => *n,
            _ => dagent_adapters::DEFAULT_MAX_BYTES,
        };
        if let Some(m) = &parallelization.analyzer_model
            && models.catalogue.get(m).is_none()
        {
            let at = &entries
                .iter()
                .find(|e| e.def.key == "analyzer_model")
                .map_or(Origin::Default, |e| e.origin.clone());
            return Err(Failure::bad_input(format!(
                "error: {at}: unknown analyzer model \"{m}\": define it under [models.{m}]"
            )));
        }
        Ok(Self {
            parallelization,
            max_input_bytes,
            store,
            models,
            shared,
            entries,
            source: path,
        })
    }

    /// Loads with the process environment and no flags.
    pub(crate) fn from_env(explicit: Option<&Path>) -> Result<Self, Failure> {
        Self::load(explicit, &|k| std::env::var(k).ok(), &[])
    }
}

fn at(text: &str, origin: &str, span: std::ops::Range<usize>, msg: impl Into<String>) -> Failure {
    Failure::from(PlanError::new(PlanErrorKind::Schema, origin, msg).with_span(text, Some(span)))
}

fn line_of(text: &str, origin: &str, span: std::ops::Range<usize>) -> usize {
    PlanError::new(PlanErrorKind::Schema, origin, "")
        .with_span(text, Some(span))
        .location()
        .map_or(0, |l| l.line)
}

/// Parses the file: `[parallelization]` into `entries`, the model sections into a
/// [`ModelConfig`].
fn apply_file(
    entries: &mut [Entry],
    text: &str,
    origin: &str,
) -> Result<(ModelConfig, crate::shared::RawLimits), Failure> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        Failure::from(
            PlanError::new(PlanErrorKind::Schema, origin, e.message().trim().to_owned())
                .with_span(text, e.span()),
        )
    })?;
    let mut shared = raw.shared;
    let limits = crate::shared::take_limits(shared.as_mut())
        .map_err(|(span, msg)| at(text, origin, span, msg))?;
    for (section, table) in [
        ("parallelization", raw.parallelization),
        ("input", raw.input),
        ("store", raw.store),
        ("shared", shared),
    ] {
        for (k, v) in table.unwrap_or_default() {
            let Some(entry) = entries
                .iter_mut()
                .find(|e| e.def.section == section && e.def.key == k.get_ref())
            else {
                let known: Vec<&str> = KEYS
                    .iter()
                    .filter(|d| d.section == section)
                    .map(|d| d.key)
                    .collect();
                return Err(at(
                    text,
                    origin,
                    k.span(),
                    format!(
                        "unknown field `{}` in [{section}], expected one of: {}",
                        k.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            entry.value = entry
                .def
                .rule
                .parse(&Raw::Toml(v.get_ref()))
                .map_err(|m| at(text, origin, v.span(), format!("{} {m}", entry.def.key)))?;
            entry.origin = Origin::File {
                path: origin.to_owned(),
                line: line_of(text, origin, v.span()),
            };
        }
    }
    let models = models_config::build(models_config::RawSections {
        providers: raw.providers,
        models: raw.models,
        routing: raw.routing,
        roles: raw.roles,
        budget: raw.budget,
    })
    .map_err(|(span, msg)| at(text, origin, span, msg))?;
    Ok((models, limits))
}

fn get<'a>(entries: &'a [Entry], key: &str) -> &'a Value {
    let (section, key) = key.split_once('.').unwrap_or(("parallelization", key));
    &entries
        .iter()
        .find(|e| e.def.section == section && e.def.key == key)
        .unwrap_or_else(|| unreachable!("every key has an entry"))
        .value
}

/// The typed view of validated entries (the rules guarantee each value's shape).
fn typed(entries: &[Entry]) -> Parallelization {
    let flag = |k| matches!(get(entries, k), Value::Bool(true));
    let count = |k| match get(entries, k) {
        Value::Count(n) => *n,
        _ => 0,
    };
    let secs = |k| match get(entries, k) {
        Value::Seconds(d) => *d,
        _ => None,
    };
    let number = |k| match get(entries, k) {
        Value::Number(x) => *x,
        _ => None,
    };
    let name = |k| match get(entries, k) {
        Value::Text(t) => t.clone(),
        _ => None,
    };
    let name_or = |k, d: &str| name(k).unwrap_or_else(|| d.to_owned());
    Parallelization {
        enabled: flag("enabled"),
        mode: name_or("mode", "eager").parse().unwrap_or_default(),
        max_concurrent_tasks: usize::try_from(count("max_concurrent_tasks"))
            .unwrap_or(1)
            .max(1),
        max_tasks_per_second: number("max_tasks_per_second"),
        task_timeout: secs("task_timeout_seconds"),
        batch_timeout: secs("batch_timeout_seconds"),
        run_timeout: secs("run_timeout_seconds"),
        dependency_strategy: name_or("dependency_strategy", "auto")
            .parse()
            .unwrap_or(Strategy::Auto),
        fallback_strategy: name_or("fallback_strategy", "sequential")
            .parse()
            .unwrap_or(Strategy::Sequential),
        retry_on_failure: flag("retry_on_failure"),
        max_retries: u32::try_from(count("max_retries")).unwrap_or(u32::MAX),
        retry_backoff: match get(entries, "retry_backoff_seconds") {
            Value::SecondsList(l) => l.clone(),
            _ => vec![Duration::from_secs(1)],
        },
        max_retry_delay: secs("max_retry_delay_seconds").unwrap_or(Duration::from_secs(300)),
        failure_mode: name_or("failure_mode", "skip_dependents")
            .parse()
            .unwrap_or_default(),
        failure_threshold: number("failure_threshold"),
        failure_threshold_min_tasks: usize::try_from(count("failure_threshold_min_tasks"))
            .unwrap_or(1)
            .max(1),
        analyzer_model: name("analyzer_model"),
    }
}

/// Where runs are recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreSettings {
    /// The store file; `None` with `--no-store` (or `[store] enabled = false`).
    pub(crate) path: Option<PathBuf>,
    /// Whether the path is the built-in default (its directory is then created).
    pub(crate) is_default: bool,
}

fn store_settings(entries: &[Entry]) -> StoreSettings {
    let enabled = matches!(get(entries, "store.enabled"), Value::Bool(true));
    let entry = entries
        .iter()
        .find(|e| e.def.section == "store" && e.def.key == "path");
    let path = match get(entries, "store.path") {
        Value::Text(Some(p)) => Some(PathBuf::from(p)),
        _ => None,
    };
    // A path given with --store is an explicit request for the store: it wins over
    // `enabled = false` from the file or the environment.
    let flagged = entry.is_some_and(|e| matches!(e.origin, Origin::Flag(_)));
    let is_default = path
        .as_deref()
        .is_some_and(|p| p == Path::new(dagent_store::DEFAULT_PATH));
    StoreSettings {
        path: path.filter(|_| enabled || flagged),
        is_default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(
        text: &str,
        env: &[(&str, &str)],
        flags: &[FlagValue],
    ) -> Result<Settings, String> {
        let dir = std::env::temp_dir().join(format!(
            "dagent-settings-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("dagent.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Settings::load(Some(&path), &lookup, flags).map_err(|f| f.message().to_owned())
    }

    #[test]
    fn file_then_env_then_flags_with_provenance() {
        let text = "[parallelization]\nmax_concurrent_tasks = 4\nfailure_mode = \"fail_fast\"\nretry_backoff_seconds = [1, 5, 15]\ntask_timeout_seconds = 0\n";
        let s = load_text(
            text,
            &[("DAGENT_MAX_RETRIES", "7")],
            &[("--rate", "2".into())],
        )
        .unwrap();
        let p = &s.parallelization;
        assert_eq!(p.max_concurrent_tasks, 4);
        assert_eq!(p.failure_mode, FailureMode::FailFast);
        assert_eq!(
            p.retry_backoff,
            [1, 5, 15].map(Duration::from_secs).to_vec()
        );
        assert_eq!(p.task_timeout, None);
        assert_eq!(p.max_retries, 7);
        assert_eq!(p.max_tasks_per_second, Some(2.0));
        let origin = |k: &str| {
            s.entries
                .iter()
                .find(|e| e.def.key == k)
                .unwrap()
                .origin
                .to_string()
        };
        assert!(origin("max_concurrent_tasks").ends_with("dagent.toml:2"));
        assert_eq!(origin("max_retries"), "environment DAGENT_MAX_RETRIES");
        assert_eq!(origin("max_tasks_per_second"), "flag --rate");
        assert_eq!(origin("mode"), "default");
    }

    #[test]
    fn one_rule_three_error_formats() {
        let file =
            load_text("[parallelization]\ntask_timeout_seconds = 1e20\n", &[], &[]).unwrap_err();
        assert!(
            file.contains("dagent.toml:2:24: task_timeout_seconds must be a number of seconds"),
            "{file}"
        );
        let env = load_text("", &[("DAGENT_TASK_TIMEOUT_SECONDS", "1e20")], &[]).unwrap_err();
        assert!(
            env.starts_with("error: environment variable DAGENT_TASK_TIMEOUT_SECONDS=\"1e20\": task_timeout_seconds must be a number of seconds"),
            "{env}"
        );
        let flag = load_text("", &[], &[("--task-timeout", "1e20".into())]).unwrap_err();
        assert!(
            flag.starts_with("error: --task-timeout 1e20: must be a number of seconds"),
            "{flag}"
        );
        // nan in the environment is refused like nan in the file (it was silently ignored).
        let nan = load_text("", &[("DAGENT_MAX_TASKS_PER_SECOND", "nan")], &[]).unwrap_err();
        assert!(nan.contains("DAGENT_MAX_TASKS_PER_SECOND"), "{nan}");
        let tiny = load_text(
            "[parallelization]\nmax_tasks_per_second = 1e-300\n",
            &[],
            &[],
        )
        .unwrap_err();
        assert!(tiny.contains("max_tasks_per_second must be"), "{tiny}");
    }

    #[test]
    fn unknown_keys_are_named_at_their_position() {
        let e = load_text("[parallelization]\nmax_concurent_tasks = 3\n", &[], &[]).unwrap_err();
        assert!(
            e.contains("dagent.toml:2:1: unknown field `max_concurent_tasks`"),
            "{e}"
        );
    }
}

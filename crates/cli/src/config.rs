//! `dagent.toml`: the configuration file, and its merge with `DAGENT_*` variables.
//!
//! Precedence: defaults < file < environment < flags. The file is `--config FILE`, else
//! `./dagent.toml` when it exists. Unknown keys and bad values are errors with line:column.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dagent_adapters::{PlanError, PlanErrorKind};
use dagent_analyzers::Strategy;
use dagent_executor::{BreakerPolicy, FailureMode, Mode};
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Failure;

/// The `[parallelization]` section, merged from file and environment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parallelization {
    pub(crate) enabled: bool,
    pub(crate) mode: Mode,
    pub(crate) max_concurrent_tasks: usize,
    pub(crate) max_tasks_per_second: Option<f64>,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) batch_timeout: Option<Duration>,
    pub(crate) dependency_strategy: Strategy,
    pub(crate) retry_on_failure: bool,
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Vec<Duration>,
    pub(crate) failure_mode: FailureMode,
    pub(crate) failure_threshold: Option<f64>,
    pub(crate) failure_threshold_min_tasks: usize,
    pub(crate) analyzer_model: Option<String>,
}

impl Default for Parallelization {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: Mode::Eager,
            max_concurrent_tasks: 10,
            max_tasks_per_second: None,
            task_timeout: Some(Duration::from_secs(300)),
            batch_timeout: None,
            dependency_strategy: Strategy::Auto,
            retry_on_failure: true,
            max_retries: 3,
            retry_backoff: vec![Duration::from_secs(1)],
            failure_mode: FailureMode::SkipDependents,
            failure_threshold: None,
            failure_threshold_min_tasks: 5,
            analyzer_model: None,
        }
    }
}

impl Parallelization {
    /// The breaker policy, when a threshold is set.
    pub(crate) fn breaker(&self) -> Option<BreakerPolicy> {
        self.failure_threshold.map(|threshold| BreakerPolicy {
            threshold,
            min_finished: self.failure_threshold_min_tasks,
        })
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Config {
    pub(crate) parallelization: Parallelization,
    pub(crate) models: crate::models_config::ModelConfig,
    /// Where it came from, for messages.
    pub(crate) source: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    parallelization: Option<RawParallelization>,
    providers: Option<std::collections::BTreeMap<String, crate::models_config::RawProvider>>,
    models: Option<std::collections::BTreeMap<String, crate::models_config::RawModel>>,
    routing: Option<crate::models_config::RawRouting>,
    roles: Option<std::collections::BTreeMap<String, crate::models_config::RawRole>>,
    budget: Option<crate::models_config::RawBudget>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawParallelization {
    enabled: Option<bool>,
    mode: Option<Spanned<String>>,
    max_concurrent_tasks: Option<Spanned<i64>>,
    max_tasks_per_second: Option<Spanned<f64>>,
    task_timeout_seconds: Option<Spanned<f64>>,
    batch_timeout_seconds: Option<Spanned<f64>>,
    dependency_strategy: Option<Spanned<String>>,
    fallback_strategy: Option<Spanned<String>>,
    retry_on_failure: Option<bool>,
    max_retries: Option<Spanned<i64>>,
    retry_backoff_seconds: Option<Spanned<Backoff>>,
    failure_mode: Option<Spanned<String>>,
    failure_threshold: Option<Spanned<f64>>,
    failure_threshold_min_tasks: Option<Spanned<i64>>,
    analyzer_model: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Backoff {
    One(f64),
    Many(Vec<f64>),
}

/// Loads the configuration: `explicit` if given (must exist), else `./dagent.toml` if it
/// exists, else defaults; then applies `DAGENT_*` environment variables.
pub(crate) fn load(explicit: Option<&Path>) -> Result<Config, Failure> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from("dagent.toml")).filter(|p| p.is_file()),
    };
    let mut config = Config::default();
    if let Some(path) = &path {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!(
                "error: {origin}: cannot read the configuration: {e}"
            ))
        })?;
        (config.parallelization, config.models) = parse(&text, &origin)?;
        config.source = Some(path.clone());
    }
    apply_env(&mut config.parallelization, |k| std::env::var(k).ok())?;
    Ok(config)
}

fn at(text: &str, origin: &str, span: std::ops::Range<usize>, msg: impl Into<String>) -> Failure {
    Failure::from(PlanError::new(PlanErrorKind::Schema, origin, msg).with_span(text, Some(span)))
}

fn parse(
    text: &str,
    origin: &str,
) -> Result<(Parallelization, crate::models_config::ModelConfig), Failure> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let kind = PlanErrorKind::Schema;
        Failure::from(
            PlanError::new(kind, origin, e.message().trim().to_owned()).with_span(text, e.span()),
        )
    })?;
    let models = crate::models_config::build(crate::models_config::RawSections {
        providers: raw.providers,
        models: raw.models,
        routing: raw.routing,
        roles: raw.roles,
        budget: raw.budget,
    })
    .map_err(|(span, msg)| at(text, origin, span, msg))?;
    if let Some(m) = raw
        .parallelization
        .as_ref()
        .and_then(|p| p.analyzer_model.as_ref())
    {
        if models.catalogue.get(m.get_ref()).is_none() {
            return Err(at(
                text,
                origin,
                m.span(),
                format!(
                    "unknown analyzer model \"{}\": define it under [models.{}]",
                    m.get_ref(),
                    m.get_ref()
                ),
            ));
        }
    }
    let p = parse_parallelization(raw.parallelization, text, origin)?;
    Ok((p, models))
}

fn parse_parallelization(
    r: Option<RawParallelization>,
    text: &str,
    origin: &str,
) -> Result<Parallelization, Failure> {
    let mut p = Parallelization::default();
    let Some(r) = r else {
        return Ok(p);
    };
    let err = |s: &std::ops::Range<usize>, m: String| at(text, origin, s.clone(), m);
    if let Some(v) = r.enabled {
        p.enabled = v;
    }
    if let Some(v) = r.mode {
        p.mode = v.get_ref().parse().map_err(|m| err(&v.span(), m))?;
    }
    if let Some(v) = r.max_concurrent_tasks {
        p.max_concurrent_tasks = positive(*v.get_ref())
            .ok_or_else(|| err(&v.span(), "max_concurrent_tasks must be at least 1".into()))?;
    }
    if let Some(v) = r.max_tasks_per_second {
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            return Err(err(
                &v.span(),
                "max_tasks_per_second must be a positive number".into(),
            ));
        }
        p.max_tasks_per_second = Some(x);
    }
    if let Some(v) = r.task_timeout_seconds {
        p.task_timeout = seconds(*v.get_ref())
            .map_err(|m| err(&v.span(), format!("task_timeout_seconds {m}")))?;
    }
    if let Some(v) = r.batch_timeout_seconds {
        p.batch_timeout = seconds(*v.get_ref())
            .map_err(|m| err(&v.span(), format!("batch_timeout_seconds {m}")))?;
    }
    if let Some(v) = r.dependency_strategy {
        p.dependency_strategy = v.get_ref().parse().map_err(|m| err(&v.span(), m))?;
    }
    if let Some(v) = r.fallback_strategy {
        // Every chain already ends in sequential; the value is checked so typos surface.
        v.get_ref()
            .parse::<Strategy>()
            .map_err(|m| err(&v.span(), m))?;
    }
    if let Some(v) = r.retry_on_failure {
        p.retry_on_failure = v;
    }
    if let Some(v) = r.max_retries {
        p.max_retries = u32::try_from(*v.get_ref())
            .map_err(|_| err(&v.span(), "max_retries must be 0 or more".into()))?;
    }
    if let Some(v) = r.retry_backoff_seconds {
        let list = match v.get_ref() {
            Backoff::One(x) => vec![*x],
            Backoff::Many(xs) => xs.clone(),
        };
        let durations: Option<Vec<Duration>> = list
            .iter()
            .map(|&x| (x.is_finite() && x >= 0.0).then(|| Duration::from_secs_f64(x)))
            .collect();
        p.retry_backoff = durations.filter(|d| !d.is_empty()).ok_or_else(|| {
            err(
                &v.span(),
                "retry_backoff_seconds must be a non-negative number or a non-empty list of them"
                    .into(),
            )
        })?;
    }
    if let Some(v) = r.failure_mode {
        p.failure_mode = v.get_ref().parse().map_err(|m| err(&v.span(), m))?;
    }
    if let Some(v) = r.failure_threshold {
        let x = *v.get_ref();
        if !(0.0..=1.0).contains(&x) {
            return Err(err(
                &v.span(),
                "failure_threshold must be between 0 and 1 (a fraction of finished tasks)".into(),
            ));
        }
        p.failure_threshold = Some(x);
    }
    p.analyzer_model = r.analyzer_model.map(Spanned::into_inner);
    if let Some(v) = r.failure_threshold_min_tasks {
        p.failure_threshold_min_tasks = positive(*v.get_ref()).ok_or_else(|| {
            err(
                &v.span(),
                "failure_threshold_min_tasks must be at least 1".into(),
            )
        })?;
    }
    Ok(p)
}

fn positive(v: i64) -> Option<usize> {
    usize::try_from(v).ok().filter(|&v| v >= 1)
}

/// `0` disables a timeout.
fn seconds(x: f64) -> Result<Option<Duration>, &'static str> {
    if !(x.is_finite() && x >= 0.0) {
        return Err("must be a non-negative number of seconds (0 disables it)");
    }
    Ok((x > 0.0).then(|| Duration::from_secs_f64(x)))
}

/// Applies `DAGENT_<KEY>` variables (e.g. `DAGENT_MAX_CONCURRENT_TASKS=4`).
pub(crate) fn apply_env(
    p: &mut Parallelization,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(), Failure> {
    let bad = |var: &str, value: &str, why: &str| {
        Failure::bad_input(format!(
            "error: environment variable {var}={value:?}: {why}"
        ))
    };
    let num = |var: &str| -> Result<Option<f64>, Failure> {
        get(var)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| bad(var, &v, "expected a number"))
            })
            .transpose()
    };
    let boolean = |var: &str| -> Result<Option<bool>, Failure> {
        get(var)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(bad(var, &v, "expected true or false")),
            })
            .transpose()
    };
    if let Some(v) = boolean("DAGENT_ENABLED")? {
        p.enabled = v;
    }
    if let Some(v) = get("DAGENT_MODE") {
        p.mode = v.parse().map_err(|m: String| bad("DAGENT_MODE", &v, &m))?;
    }
    if let Some(x) = num("DAGENT_MAX_CONCURRENT_TASKS")? {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = (x >= 1.0 && x.fract() == 0.0).then_some(x as usize);
        p.max_concurrent_tasks = k.ok_or_else(|| {
            bad(
                "DAGENT_MAX_CONCURRENT_TASKS",
                &x.to_string(),
                "must be a whole number, at least 1",
            )
        })?;
    }
    if let Some(x) = num("DAGENT_MAX_TASKS_PER_SECOND")? {
        p.max_tasks_per_second = Some(x).filter(|x| *x > 0.0);
    }
    if let Some(x) = num("DAGENT_TASK_TIMEOUT_SECONDS")? {
        p.task_timeout =
            seconds(x).map_err(|m| bad("DAGENT_TASK_TIMEOUT_SECONDS", &x.to_string(), m))?;
    }
    if let Some(x) = num("DAGENT_BATCH_TIMEOUT_SECONDS")? {
        p.batch_timeout =
            seconds(x).map_err(|m| bad("DAGENT_BATCH_TIMEOUT_SECONDS", &x.to_string(), m))?;
    }
    if let Some(v) = get("DAGENT_DEPENDENCY_STRATEGY") {
        p.dependency_strategy = v
            .parse()
            .map_err(|m: String| bad("DAGENT_DEPENDENCY_STRATEGY", &v, &m))?;
    }
    if let Some(v) = boolean("DAGENT_RETRY_ON_FAILURE")? {
        p.retry_on_failure = v;
    }
    if let Some(x) = num("DAGENT_MAX_RETRIES")? {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (x >= 0.0 && x.fract() == 0.0 && x < 1e6).then_some(x as u32);
        p.max_retries = n.ok_or_else(|| {
            bad(
                "DAGENT_MAX_RETRIES",
                &x.to_string(),
                "must be a whole number",
            )
        })?;
    }
    if let Some(v) = get("DAGENT_FAILURE_MODE") {
        p.failure_mode = v
            .parse()
            .map_err(|m: String| bad("DAGENT_FAILURE_MODE", &v, &m))?;
    }
    if let Some(x) = num("DAGENT_FAILURE_THRESHOLD")? {
        if !(0.0..=1.0).contains(&x) {
            return Err(bad(
                "DAGENT_FAILURE_THRESHOLD",
                &x.to_string(),
                "must be between 0 and 1",
            ));
        }
        p.failure_threshold = Some(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let text = "[parallelization]\nmax_concurrent_tasks = 4\nfailure_mode = \"fail_fast\"\nretry_backoff_seconds = [1, 5, 15]\ntask_timeout_seconds = 0\n";
        let (mut p, _) = parse(text, "dagent.toml").unwrap();
        assert_eq!(p.max_concurrent_tasks, 4);
        assert_eq!(p.failure_mode, FailureMode::FailFast);
        assert_eq!(p.retry_backoff.len(), 3);
        assert_eq!(p.task_timeout, None);
        apply_env(&mut p, |k| {
            (k == "DAGENT_MAX_CONCURRENT_TASKS").then(|| "7".to_owned())
        })
        .unwrap();
        assert_eq!(p.max_concurrent_tasks, 7);
        assert!(
            apply_env(&mut p, |k| (k == "DAGENT_MAX_RETRIES")
                .then(|| "many".to_owned()))
            .is_err()
        );
    }
}

//! The native plan format, in TOML and JSON.

use std::fmt;

use dagent_core::{
    DEFAULT_MAX_ITERATIONS, Estimate, Extract, FailureKind, LoopSpec, Plan, SimulateSpec, Task,
    TaskId, TaskKind, parse_duration,
};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::source::{SourceMap, Span, byte_offset};
use crate::{PlanError, PlanErrorKind};

/// Where an id's text is, for locating its errors.
pub(crate) struct Ctx<'a> {
    pub(crate) text: &'a str,
    pub(crate) origin: &'a str,
}

/// An id as the parser gives it: with a span (TOML; JSON ids, borrowed raw) or without (JSON
/// dependency entries).
pub(crate) trait RawId {
    fn into_parts(self, ctx: &Ctx<'_>) -> Result<(String, Option<Span>), PlanError>;
}

impl RawId for String {
    fn into_parts(self, _: &Ctx<'_>) -> Result<(String, Option<Span>), PlanError> {
        Ok((self, None))
    }
}

impl RawId for toml::Spanned<String> {
    fn into_parts(self, _: &Ctx<'_>) -> Result<(String, Option<Span>), PlanError> {
        let span = self.span();
        Ok((self.into_inner(), Some(span)))
    }
}

impl RawId for &RawValue {
    fn into_parts(self, ctx: &Ctx<'_>) -> Result<(String, Option<Span>), PlanError> {
        json_string(self, ctx)
    }
}

/// Decodes a JSON string value that the parser left raw, with its span.
///
/// serde_json keeps no spans, but a borrowed [`RawValue`] is a slice of the very text being
/// parsed: its address, less the text's, is the value's byte offset. Finding spans this way
/// costs one pass, whatever escapes the value has (`"\u0074okyo"`). A value of another type
/// gets serde_json's own message, located where serde_json would put it.
pub(crate) fn json_string(
    raw: &RawValue,
    ctx: &Ctx<'_>,
) -> Result<(String, Option<Span>), PlanError> {
    let s = raw.get();
    let start = s
        .as_ptr()
        .addr()
        .checked_sub(ctx.text.as_ptr().addr())
        .filter(|&start| start + s.len() <= ctx.text.len());
    let span = start.map(|start| start..start + s.len());
    serde_json::from_str::<String>(s)
        .map(|value| (value, span.clone()))
        .map_err(|e| {
            // serde_json reports a wrong scalar at its last character, a wrong object or
            // array at its opening bracket.
            let at = span.map(|sp| {
                if s.starts_with(['{', '[']) {
                    sp.start
                } else {
                    sp.end.saturating_sub(1)
                }
            });
            PlanError::new(PlanErrorKind::Schema, ctx.origin, json_message(&e))
                .with_span(ctx.text, at.map(|at| at..at + 1))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlan<I, D> {
    pub(crate) title: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default = "Vec::new")]
    pub(crate) tasks: Vec<RawTask<I, D>>,
    #[serde(default = "Vec::new")]
    pub(crate) loops: Vec<RawLoop<I>>,
}

/// A `[[loops]]` entry (checked against the graph later, by `dagent_graph::LoopSet`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoop<I> {
    id: I,
    tasks: Vec<String>,
    repeat_until: String,
    judges: Option<Vec<String>>,
    max_iterations: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask<I, D> {
    pub(crate) id: I,
    title: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    kind: Option<String>,
    role: Option<String>,
    estimate: Option<RawEstimate>,
    pub(crate) depends_on: Option<Vec<D>>,
    model: Option<String>,
    simulate: Option<RawSimulate>,
    output_file: Option<String>,
    extract: Option<RawExtract>,
    /// Written by `dagent run --write-back`; kept in the file, not used as input.
    #[allow(dead_code)]
    result: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulate {
    fail: RawFailure,
    times: Option<u32>,
}

struct RawFailure(FailureKind);

struct RawExtract(Extract);

impl<'de> Deserialize<'de> for RawExtract {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Extract::parse(&s).map(RawExtract).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown extract {s:?}: expected \"code\" (only the fenced code blocks)"
            ))
        })
    }
}

impl<'de> Deserialize<'de> for RawFailure {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FailureKind::parse(&s).map(RawFailure).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown failure kind {s:?}: expected \"transient\", \"permanent\" or \"timeout\""
            ))
        })
    }
}

/// Estimates of 10^12 seconds (31,700 years) or more are refused: no plan means them, and
/// `run --simulate` would sleep that long.
const MAX_ESTIMATE_SECONDS: u64 = 1_000_000_000_000;
const TOO_LONG: &str = "an estimate must be under 10^12 seconds";

/// `estimate = "45s"`, `estimate = 45` (seconds) or `estimate = { duration = "45s", tokens = 1200 }`.
pub(crate) struct RawEstimate(pub(crate) Estimate);

impl<'de> Deserialize<'de> for RawEstimate {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEstimate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"45s\", a number of seconds, or { duration = \"45s\", tokens = 1200 }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawEstimate, E> {
                let d = parse_duration(v).map_err(E::custom)?;
                if d.as_secs() >= MAX_ESTIMATE_SECONDS {
                    return Err(E::custom(TOO_LONG));
                }
                Ok(RawEstimate(Estimate::from_duration(d)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawEstimate, E> {
                if v >= MAX_ESTIMATE_SECONDS {
                    return Err(E::custom(TOO_LONG));
                }
                Ok(RawEstimate(Estimate::from_duration(
                    std::time::Duration::from_secs(v),
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawEstimate, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("an estimate cannot be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawEstimate, E> {
                if v.is_finite() && v >= 1e12 {
                    return Err(E::custom(TOO_LONG));
                }
                if !(v.is_finite() && (0.0..1e12).contains(&v)) {
                    return Err(E::custom(
                        "an estimate must be a non-negative number of seconds",
                    ));
                }
                Ok(RawEstimate(Estimate::from_duration(
                    std::time::Duration::from_secs_f64(v),
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEstimate, A::Error> {
                let mut duration = None;
                let mut tokens = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "duration" => duration = Some(map.next_value::<RawEstimate>()?.0.duration),
                        "tokens" => tokens = Some(map.next_value::<u64>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["duration", "tokens"]));
                        }
                    }
                }
                let duration = duration.ok_or_else(|| de::Error::missing_field("duration"))?;
                Ok(RawEstimate(Estimate { duration, tokens }))
            }
        }
        d.deserialize_any(V)
    }
}

fn build<I: RawId, D: RawId>(
    raw: RawPlan<I, D>,
    origin: &str,
    text: &str,
) -> Result<(Plan, SourceMap), PlanError> {
    let ctx = Ctx { text, origin };
    let mut spans = SourceMap::default();
    let mut tasks = Vec::with_capacity(raw.tasks.len());
    for (n, rt) in raw.tasks.into_iter().enumerate() {
        let (id, id_span) = rt.id.into_parts(&ctx)?;
        if id.trim().is_empty() {
            return Err(PlanError::new(
                PlanErrorKind::EmptyId,
                origin,
                format!(
                    "task #{} has an empty id: every task needs a unique, non-empty id",
                    n + 1
                ),
            )
            .with_span(text, id_span));
        }
        let (depends_on, dep_spans) = match rt.depends_on {
            None => (None, Vec::new()),
            Some(list) => {
                let mut ids = Vec::with_capacity(list.len());
                let mut spans = Vec::with_capacity(list.len());
                for d in list {
                    let (s, sp) = d.into_parts(&ctx)?;
                    ids.push(TaskId::new(s));
                    spans.push(sp);
                }
                (Some(ids), spans)
            }
        };
        spans.ids.push(id_span);
        spans.deps.push(dep_spans);
        tasks.push(Task {
            title: rt.title.unwrap_or_else(|| id.clone()),
            id: TaskId::new(id),
            description: rt.description,
            kind: rt.kind.as_deref().map(TaskKind::parse).unwrap_or_default(),
            role: rt.role,
            estimate: rt.estimate.map(|e| e.0),
            depends_on,
            model: rt.model,
            simulate: rt.simulate.map(|s| SimulateSpec {
                fail: s.fail.0,
                times: s.times,
            }),
            output_file: rt.output_file,
            extract: rt.extract.map(|e| e.0),
        });
    }
    let mut loops = Vec::with_capacity(raw.loops.len());
    for rl in raw.loops {
        let (id, id_span) = rl.id.into_parts(&ctx)?;
        spans.loops.push(id_span);
        loops.push(LoopSpec {
            id,
            tasks: rl.tasks.into_iter().map(TaskId::new).collect(),
            repeat_until: rl.repeat_until,
            judges: rl.judges.map(|j| j.into_iter().map(TaskId::new).collect()),
            max_iterations: rl.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS),
        });
    }
    Ok((
        Plan {
            title: raw.title,
            tasks,
            loops,
        },
        spans,
    ))
}

pub(crate) fn parse_toml(text: &str, origin: &str) -> Result<(Plan, SourceMap), PlanError> {
    parse_toml_in_groups(text, origin, crate::toml_sections::GROUP_BYTES)
}

/// [`parse_toml`], deserialising task sections in groups of about `group_bytes` where the
/// document allows (see [`crate::toml_sections`]), whole otherwise and for every error.
pub(crate) fn parse_toml_in_groups(
    text: &str,
    origin: &str,
    group_bytes: usize,
) -> Result<(Plan, SourceMap), PlanError> {
    match crate::toml_sections::parse(text, group_bytes) {
        Some(raw) => build(raw, origin, text),
        None => parse_toml_whole(text, origin),
    }
}

fn parse_toml_whole(text: &str, origin: &str) -> Result<(Plan, SourceMap), PlanError> {
    let raw: RawPlan<toml::Spanned<String>, toml::Spanned<String>> =
        toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_owned();
            let kind = if looks_like_schema_error(&msg) {
                PlanErrorKind::Schema
            } else {
                PlanErrorKind::Syntax
            };
            PlanError::new(kind, origin, msg).with_span(text, e.span())
        })?;
    build(raw, origin, text)
}

pub(crate) fn parse_json(text: &str, origin: &str) -> Result<(Plan, SourceMap), PlanError> {
    // Ids carry their spans; dependency entries are located at their task's id.
    let raw: RawPlan<&RawValue, String> =
        serde_json::from_str(text).map_err(|e| json_error(&e, origin, text))?;
    build(raw, origin, text)
}

fn looks_like_schema_error(msg: &str) -> bool {
    [
        "unknown field",
        "missing field",
        "invalid type",
        "invalid value",
        "invalid duration",
        "unknown failure",
        "unknown extract",
        "estimate",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

pub(crate) fn json_error(e: &serde_json::Error, origin: &str, text: &str) -> PlanError {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Data => PlanErrorKind::Schema,
        _ => PlanErrorKind::Syntax,
    };
    let err = PlanError::new(kind, origin, json_message(e));
    if e.line() == 0 {
        return err;
    }
    // serde_json's column counts bytes; locate the byte, then count characters.
    let at = byte_offset(text, e.line(), e.column());
    err.with_span(text, Some(at..at + 1))
}

/// serde_json's message without the " at line L column C" it appends (we report that
/// ourselves, in characters).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
}

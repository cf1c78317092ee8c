//! Tasks: what a plan is made of.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A task's identifier, unique within its plan.
///
/// Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(Arc<str>);

#[cfg(feature = "serde")]
impl serde::Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Self::from)
    }
}

impl TaskId {
    /// Creates an id from any string.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for TaskId {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What sort of work a task is. Drives default dependency inference (research tasks are
/// independent, analysis and processing follow research, reports come last) and model
/// routing. Any other string is kept as [`TaskKind::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum TaskKind {
    /// Gathering information (web search, crawling, reading).
    Research,
    /// Reasoning over gathered material.
    Analysis,
    /// Transforming data or code (DeerFlow's "processing" steps).
    Processing,
    /// Writing the final deliverable.
    Report,
    /// No kind given.
    #[default]
    Unspecified,
    /// Any other kind, kept verbatim.
    Other(String),
}

impl TaskKind {
    /// Parses a kind, case-insensitively; unknown names become [`TaskKind::Other`].
    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "research" => Self::Research,
            "analysis" | "analyze" | "analyse" => Self::Analysis,
            "processing" | "process" => Self::Processing,
            "report" | "reporting" => Self::Report,
            "" => Self::Unspecified,
            _ => Self::Other(s.trim().to_owned()),
        }
    }

    /// The kind's canonical name (`""` for [`TaskKind::Unspecified`]).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Research => "research",
            Self::Analysis => "analysis",
            Self::Processing => "processing",
            Self::Report => "report",
            Self::Unspecified => "",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a task is expected to take, and optionally how many tokens it will use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Estimate {
    /// Expected wall-clock duration.
    pub duration: Duration,
    /// Expected total tokens, when known.
    pub tokens: Option<u64>,
}

impl Estimate {
    /// An estimate of a duration alone.
    #[must_use]
    pub const fn from_duration(duration: Duration) -> Self {
        Self {
            duration,
            tokens: None,
        }
    }
}

/// The class of failure a simulated task produces (see [`SimulateSpec`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A retryable failure (like a 429 or 503).
    Transient,
    /// A failure that retrying will not fix (like a 400).
    Permanent,
    /// The task hangs until its timeout.
    Timeout,
}

impl FailureKind {
    /// Parses `transient`, `permanent` or `timeout`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transient" => Some(Self::Transient),
            "permanent" => Some(Self::Permanent),
            "timeout" => Some(Self::Timeout),
            _ => None,
        }
    }

    /// The canonical name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Timeout => "timeout",
        }
    }
}

/// Rehearsal of failure handling under `dagent run --simulate`: the task fails with `fail`
/// on its first `times` attempts (every attempt when `times` is `None`), then succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulateSpec {
    /// The kind of failure to produce.
    pub fail: FailureKind,
    /// How many attempts fail before one succeeds; `None` means all of them.
    pub times: Option<u32>,
}

/// What part of a task's answer its [`Task::output_file`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Extract {
    /// Only the fenced code blocks (```` ``` ````), joined by a blank line, without the fences.
    Code,
}

impl Extract {
    /// Parses `code`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "code" => Some(Self::Code),
            _ => None,
        }
    }

    /// The canonical name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
        }
    }
}

/// One unit of work in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Task {
    /// Unique identifier.
    pub id: TaskId,
    /// Short human title ("Research Tokyo attractions").
    pub title: String,
    /// Longer instructions.
    pub description: String,
    /// Kind of work.
    pub kind: TaskKind,
    /// Role that routes the task to a model and parameters (e.g. `researcher`).
    pub role: Option<String>,
    /// Expected duration (and tokens), for prediction and simulation.
    pub estimate: Option<Estimate>,
    /// Explicit dependencies; `None` when the plan does not say (inference decides).
    pub depends_on: Option<Vec<TaskId>>,
    /// Per-task model override.
    pub model: Option<String>,
    /// Simulated failure behaviour for `run --simulate`.
    pub simulate: Option<SimulateSpec>,
    /// A file (relative to the run's output directory) the task's answer is written to when
    /// it succeeds.
    pub output_file: Option<String>,
    /// What of the answer [`Self::output_file`] keeps (`None`: all of it).
    pub extract: Option<Extract>,
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new("")
    }
}

impl Task {
    /// A task with an id and title; everything else default.
    pub fn new(id: impl Into<TaskId>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            ..Self::default()
        }
    }

    /// Sets the kind (builder style).
    #[must_use]
    pub fn with_kind(mut self, kind: TaskKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the description (builder style).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the estimated duration (builder style).
    #[must_use]
    pub fn with_estimate(mut self, duration: Duration) -> Self {
        self.estimate = Some(Estimate::from_duration(duration));
        self
    }

    /// Sets explicit dependencies (builder style).
    #[must_use]
    pub fn with_deps<I, T>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<TaskId>,
    {
        self.depends_on = Some(deps.into_iter().map(Into::into).collect());
        self
    }

    /// The estimated duration, if any.
    #[must_use]
    pub fn estimated_duration(&self) -> Option<Duration> {
        self.estimate.map(|e| e.duration)
    }
}

/// What a successful task produced.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TaskOutput {
    /// The text result handed to dependents.
    pub text: String,
    /// Tokens used, when the runner called a model.
    pub usage: Option<crate::Usage>,
    /// Cost of producing it, when known.
    pub cost: Option<crate::Money>,
    /// The model that produced it, when a model did.
    pub model: Option<String>,
    /// The provider's own cost figure for it, when the provider reported one (OpenRouter's
    /// `usage.cost`), next to dagent's `cost`.
    pub reported_cost: Option<crate::Money>,
    /// Things the report should say about it (e.g. inputs shortened to fit the context).
    pub notes: Vec<String>,
}

impl TaskOutput {
    /// An output of text alone.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

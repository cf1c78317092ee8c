//! Errors shared across ports.

use std::fmt;
use std::time::Duration;

/// Why a task attempt failed, as the executor needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskErrorKind {
    /// Worth retrying: rate limits, timeouts, 5xx, dropped connections.
    Transient,
    /// Retrying will not help: bad request, auth, context too long, a bug in the task.
    Permanent,
    /// The attempt exceeded its time limit (transient: retried like other transient errors).
    Timeout,
    /// The run was cancelled while the attempt was in flight.
    Cancelled,
    /// Launching the attempt could cross the budget cap.
    Budget,
}

impl TaskErrorKind {
    /// Whether an attempt that failed this way may be retried.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::Timeout)
    }

    /// Stable lower-case name, as reports show it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Budget => "budget",
        }
    }
}

/// A failed task attempt: its class, a message for people, and an optional hint of when to
/// retry (from `Retry-After`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl TaskError {
    /// A new error.
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A transient (retryable) error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(TaskErrorKind::Transient, message)
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(TaskErrorKind::Permanent, message)
    }

    /// Adds a retry-after hint (builder style).
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The class of failure.
    #[must_use]
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// The message for people.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// When the failing service asked to be retried.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for TaskError {}

/// A dependency analyzer could not produce a graph. The fallback chain records these and
/// moves on to the next strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzeError {
    message: String,
}

impl AnalyzeError {
    /// A new error with a message for people.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AnalyzeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AnalyzeError {}

/// The class of a provider failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// 429: slow down (transient).
    RateLimited,
    /// The request timed out (transient).
    Timeout,
    /// The connection failed or was reset (transient).
    Connection,
    /// 5xx or 408 (transient).
    Server,
    /// 400 and other client errors (permanent).
    BadRequest,
    /// 401/403: the key is missing, wrong or lacks access (permanent).
    Auth,
    /// 404: unknown model or endpoint (permanent).
    NotFound,
    /// The prompt does not fit the model's context (permanent).
    ContextLength,
    /// The response could not be understood: malformed or truncated (transient).
    InvalidResponse,
}

impl ProviderErrorKind {
    /// A stable snake_case name (for logs, traces and metric labels).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Server => "server",
            Self::BadRequest => "bad_request",
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::ContextLength => "context_length",
            Self::InvalidResponse => "invalid_response",
        }
    }

    /// Whether a call that failed this way may be retried.
    #[must_use]
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Timeout
                | Self::Connection
                | Self::Server
                | Self::InvalidResponse
        )
    }
}

/// A failed provider call. Never carries an API key: providers build messages from the
/// server's answer, not from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    kind: ProviderErrorKind,
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
}

impl ProviderError {
    /// A new error.
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds the HTTP status (builder style).
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a retry-after hint (builder style).
    #[must_use]
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// The class of failure.
    #[must_use]
    pub fn kind(&self) -> ProviderErrorKind {
        self.kind
    }

    /// The HTTP status, when there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The message for people.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server's retry-after hint.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "provider error (HTTP {s}): {}", self.message),
            None => write!(f, "provider error: {}", self.message),
        }
    }
}

impl std::error::Error for ProviderError {}

impl From<ProviderError> for TaskError {
    fn from(e: ProviderError) -> Self {
        let kind = match e.kind {
            ProviderErrorKind::Timeout => TaskErrorKind::Timeout,
            k if k.is_transient() => TaskErrorKind::Transient,
            _ => TaskErrorKind::Permanent,
        };
        let mut t = TaskError::new(kind, e.to_string());
        t.retry_after = e.retry_after;
        t
    }
}

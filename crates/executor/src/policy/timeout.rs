//! Per-attempt time limits.

use std::future::Future;
use std::time::Duration;

use dagent_core::{TaskError, TaskErrorKind, TaskOutput, format_duration};

/// Runs an attempt under an optional time limit; over time, it fails with a
/// [`TaskErrorKind::Timeout`] error (retryable).
pub async fn with_timeout<F>(limit: Option<Duration>, attempt: F) -> Result<TaskOutput, TaskError>
where
    F: Future<Output = Result<TaskOutput, TaskError>>,
{
    match limit {
        None => attempt.await,
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(TaskError::new(
                    TaskErrorKind::Timeout,
                    format!("timed out after {}", format_duration(limit)),
                ))
            }),
    }
}

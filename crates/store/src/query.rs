//! Reading runs back: the history list, one run's details, id resolution and clean-up.

use dagent_core::{Money, RecordStatus, RunId, StoreError, TaskId, Usage};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;

/// One run in the history.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Its id.
    pub id: RunId,
    /// `running`, `succeeded`, `failed`, `cancelled`, or `interrupted` (marked running, but
    /// no process holds it: it was killed or crashed).
    pub status: String,
    /// The plan's title.
    pub plan_title: String,
    /// Where the plan came from.
    pub plan_origin: String,
    /// Start, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// End, when it finished.
    pub finished_at_ms: Option<u64>,
    /// Makespan of the last session, when it finished.
    pub makespan_ms: Option<u64>,
    /// Sessions: 1, plus one per resume.
    pub sessions: u32,
    /// Tasks in the plan.
    pub tasks: usize,
    /// Tasks whose latest record is a success.
    pub succeeded: usize,
    /// Tokens over every attempt of every session.
    pub usage: Usage,
    /// Money over every attempt of every session, dependency analysis included.
    pub cost: Money,
    /// The last finished session's report (JSON), if any.
    pub report_json: Option<String>,
}

/// A task of a stored run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTask {
    /// Its id.
    pub id: TaskId,
    /// Its content hash (content and, recursively, its inputs').
    pub content_hash: String,
    /// Its direct dependencies, by position.
    pub deps: Vec<usize>,
}

/// One stored attempt (or terminal record without attempt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttempt {
    /// The session it belongs to (1 for the first run, then one per resume).
    pub session: u32,
    /// The record.
    pub record: dagent_core::AttemptRecord,
}

/// Everything stored about one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunDetail {
    /// The history line.
    pub summary: RunSummary,
    /// The plan's text as it was read.
    pub plan_text: String,
    /// Its format's name.
    pub plan_format: String,
    /// Its content hash.
    pub plan_hash: String,
    /// The dependency strategy.
    pub strategy: String,
    /// Effective settings (JSON, no secrets).
    pub settings_json: String,
    /// The last session's report (JSON), when it finished.
    pub report_json: Option<String>,
    /// The run it resumed, if it was started as a resume of another.
    pub resumed_from: Option<RunId>,
    /// The tasks, in plan order.
    pub tasks: Vec<StoredTask>,
    /// Every attempt, by session, position and attempt.
    pub attempts: Vec<StoredAttempt>,
    /// Each session's content hash of each task, by (session, task id).
    hashes: std::collections::HashMap<(u32, String), String>,
}

impl RunDetail {
    /// The latest successful attempt of the task `id` made while the task's content hash
    /// was `content_hash`: what a resume may reuse for a task with that content now.
    #[must_use]
    pub fn success_for(&self, id: &str, content_hash: &str) -> Option<&StoredAttempt> {
        self.attempts.iter().rev().find(|a| {
            a.record.status == RecordStatus::Succeeded
                && a.record.task_id.as_str() == id
                && self
                    .hashes
                    .get(&(a.session, id.to_owned()))
                    .is_some_and(|h| h == content_hash)
        })
    }

    /// For each task of the latest session, its latest success that matches its content
    /// then: the run's current results.
    #[must_use]
    pub fn successes(&self) -> Vec<Option<&StoredAttempt>> {
        self.tasks
            .iter()
            .map(|t| self.success_for(t.id.as_str(), &t.content_hash))
            .collect()
    }

    /// Money spent over every session: every attempt, and dependency analysis.
    #[must_use]
    pub fn spent(&self) -> Money {
        self.summary.cost
    }
}

fn u(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// A sum SQLite computed as a float (`total()` never overflows), back to a count.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn f(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        x.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

impl SqliteStore {
    /// Every run, newest first.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn list(&self) -> Result<Vec<RunSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT r.id, r.status, r.plan_title, r.plan_origin, r.started_at_ms, r.finished_at_ms, r.makespan_ms, r.sessions,
                        (SELECT count(*) FROM tasks t WHERE t.run_id = r.id
                            AND t.session = (SELECT max(session) FROM tasks t2 WHERE t2.run_id = r.id)),
                        (SELECT count(*) FROM tasks t WHERE t.run_id = r.id
                            AND t.session = (SELECT max(session) FROM tasks t2 WHERE t2.run_id = r.id)
                            AND EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id
                                AND a.task_id = t.task_id AND a.status = 'succeeded')),
                        (SELECT total(tokens_in) FROM attempts a WHERE a.run_id = r.id),
                        (SELECT total(tokens_out) FROM attempts a WHERE a.run_id = r.id),
                        (SELECT total(cost_nanos) FROM attempts a WHERE a.run_id = r.id) + r.analysis_nanos,
                        r.report_json
                 FROM runs r ORDER BY r.id DESC",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunSummary {
                    id: RunId::new(r.get::<_, String>(0)?),
                    status: r.get(1)?,
                    plan_title: r.get(2)?,
                    plan_origin: r.get(3)?,
                    started_at_ms: u(r.get(4)?),
                    finished_at_ms: r.get::<_, Option<i64>>(5)?.map(u),
                    makespan_ms: r.get::<_, Option<i64>>(6)?.map(u),
                    sessions: r.get(7)?,
                    tasks: usize::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
                    succeeded: usize::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
                    usage: Usage::new(f(r.get(10)?), f(r.get(11)?)),
                    cost: Money::from_nanos(f(r.get(12)?)),
                    report_json: r.get(13)?,
                })
            })
            .map_err(|e| self.err(&e))?;
        let mut runs = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(&e))?;
        drop(stmt);
        drop(conn);
        // A run still marked running whose process is gone (killed, crashed) was interrupted.
        for r in &mut runs {
            if r.status == "running" && !self.is_held(&r.id) {
                r.status = "interrupted".to_owned();
            }
        }
        Ok(runs)
    }

    /// Resolves what a user typed — a full id, a unique prefix, or `last` — to a run id.
    ///
    /// # Errors
    /// An unknown id, with "did you mean" when a stored id is close; an ambiguous prefix.
    pub fn resolve(&self, wanted: &str) -> Result<RunId, StoreError> {
        let runs = self.list()?;
        if wanted == "last" {
            return runs.first().map(|r| r.id.clone()).ok_or_else(|| {
                StoreError::new(format!("no run is stored in {} yet", self.path().display()))
            });
        }
        if let Some(r) = runs.iter().find(|r| r.id.as_str() == wanted) {
            return Ok(r.id.clone());
        }
        let prefixed: Vec<&RunSummary> = runs
            .iter()
            .filter(|r| !wanted.is_empty() && r.id.as_str().starts_with(wanted))
            .collect();
        match prefixed.as_slice() {
            [one] => return Ok(one.id.clone()),
            [] => {}
            many => {
                let ids: Vec<&str> = many.iter().take(5).map(|r| r.id.as_str()).collect();
                return Err(StoreError::new(format!(
                    "run id \"{wanted}\" is ambiguous: it starts {} ids ({}…)",
                    many.len(),
                    ids.join(", ")
                )));
            }
        }
        let shown: String = wanted.chars().take(40).collect();
        let near = runs
            .iter()
            .filter(|_| wanted.len() <= 64)
            .map(|r| (strsim::levenshtein(wanted, r.id.as_str()), r))
            .filter(|(d, _)| *d <= 3)
            .min_by_key(|(d, _)| *d)
            .map(|(_, r)| format!(" (did you mean \"{}\"?)", r.id));
        Err(StoreError::new(format!(
            "no run \"{shown}\" in {}{}; `dagent runs list` shows the stored runs",
            self.path().display(),
            near.unwrap_or_default()
        )))
    }

    /// Everything stored about `run`.
    ///
    /// # Errors
    /// When the run is unknown or the store cannot be read.
    pub fn detail(&self, run: &RunId) -> Result<RunDetail, StoreError> {
        let summary = self
            .list()?
            .into_iter()
            .find(|r| &r.id == run)
            .ok_or_else(|| StoreError::new(format!("unknown run {run}")))?;
        let conn = self.conn();
        type Head = (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let head: Option<Head> = conn
            .query_row(
                "SELECT plan_text, plan_format, plan_hash, strategy, settings_json, report_json, resumed_from FROM runs WHERE id = ?1",
                params![run.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()
            .map_err(|e| self.err(&e))?;
        let Some((
            plan_text,
            plan_format,
            plan_hash,
            strategy,
            settings_json,
            report_json,
            resumed_from,
        )) = head
        else {
            return Err(StoreError::new(format!("unknown run {run}")));
        };
        let mut stmt = conn
            .prepare(
                "SELECT session, task_id, content_hash, deps FROM tasks WHERE run_id = ?1 ORDER BY session, position",
            )
            .map_err(|e| self.err(&e))?;
        let rows = stmt
            .query_map(params![run.as_str()], |r| {
                let deps: String = r.get(3)?;
                Ok((
                    r.get::<_, u32>(0)?,
                    StoredTask {
                        id: TaskId::new(r.get::<_, String>(1)?),
                        content_hash: r.get(2)?,
                        deps: deps.split(',').filter_map(|d| d.parse().ok()).collect(),
                    },
                ))
            })
            .map_err(|e| self.err(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(&e))?;
        let latest = rows.iter().map(|(s, _)| *s).max().unwrap_or(1);
        let mut hashes = std::collections::HashMap::new();
        let mut tasks = Vec::new();
        for (session, task) in rows {
            hashes.insert((session, task.id.to_string()), task.content_hash.clone());
            if session == latest {
                tasks.push(task);
            }
        }
        let mut stmt = conn
            .prepare(
                "SELECT session, position, task_id, attempt, start_ms, end_ms, status, terminal, error_kind, message, model, endpoint, tokens_in, tokens_out, cost_nanos, output
                 FROM attempts WHERE run_id = ?1 ORDER BY session, position, attempt",
            )
            .map_err(|e| self.err(&e))?;
        let attempts = stmt
            .query_map(params![run.as_str()], |r| {
                let tokens_in: Option<i64> = r.get(12)?;
                let tokens_out: Option<i64> = r.get(13)?;
                Ok(StoredAttempt {
                    session: r.get(0)?,
                    record: dagent_core::AttemptRecord {
                        task: usize::try_from(r.get::<_, i64>(1)?).unwrap_or(usize::MAX),
                        task_id: TaskId::new(r.get::<_, String>(2)?),
                        attempt: r.get(3)?,
                        start_ms: u(r.get(4)?),
                        end_ms: u(r.get(5)?),
                        status: RecordStatus::parse(&r.get::<_, String>(6)?)
                            .unwrap_or(RecordStatus::Failed),
                        terminal: r.get(7)?,
                        error_kind: r.get(8)?,
                        message: r.get(9)?,
                        model: r.get(10)?,
                        endpoint: r.get(11)?,
                        usage: match (tokens_in, tokens_out) {
                            (None, None) => None,
                            (i, o) => Some(Usage::new(u(i.unwrap_or(0)), u(o.unwrap_or(0)))),
                        },
                        cost: r
                            .get::<_, Option<i64>>(14)?
                            .map(|c| Money::from_nanos(u(c))),
                        output: r.get(15)?,
                    },
                })
            })
            .map_err(|e| self.err(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(&e))?;
        Ok(RunDetail {
            summary,
            plan_text,
            plan_format,
            plan_hash,
            strategy,
            settings_json,
            report_json,
            resumed_from: resumed_from.map(RunId::new),
            tasks,
            attempts,
            hashes,
        })
    }

    /// Deletes finished (or interrupted) runs that started before `before_ms` (ms since the
    /// Unix epoch); returns how many. Runs still running are kept.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn gc(&self, before_ms: u64) -> Result<usize, StoreError> {
        let cutoff = i64::try_from(before_ms).unwrap_or(i64::MAX);
        let interrupted: Vec<RunId> = self
            .list()?
            .into_iter()
            .filter(|r| r.status == "interrupted")
            .map(|r| r.id)
            .collect();
        let conn = self.conn();
        for id in &interrupted {
            conn.execute(
                "UPDATE runs SET status = 'interrupted' WHERE id = ?1 AND status = 'running'",
                params![id.as_str()],
            )
            .map_err(|e| self.err(&e))?;
        }
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM runs WHERE started_at_ms < ?1 AND status != 'running'")
            .and_then(|mut stmt| {
                stmt.query_map(params![cutoff], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .map_err(|e| self.err(&e))?;
        let n = conn
            .execute(
                "DELETE FROM runs WHERE started_at_ms < ?1 AND status != 'running'",
                params![cutoff],
            )
            .map_err(|e| self.err(&e))?;
        // Their lock files go too (a run that is gone cannot be held).
        for id in ids {
            let _ = std::fs::remove_file(crate::lock_dir(&self.path).join(format!("{id}.lock")));
        }
        Ok(n)
    }

    /// `PRAGMA integrity_check`: `ok`, or SQLite's list of problems.
    ///
    /// # Errors
    /// When the check cannot run.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(&e))
    }
}

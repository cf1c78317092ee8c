//! # dagent-store
//!
//! The run store: every run of `dagent run` — a snapshot of its plan, the resolved
//! dependencies, the effective settings (without secrets) and **every attempt** with its
//! status, tokens, cost and output — in an embedded SQLite database (rusqlite, bundled: no
//! server to install; default `.dagent/runs.db`).
//!
//! The one design choice to know: a write returns only once it is durable (WAL journal, one
//! transaction per batch of attempts), and the executor records each finished attempt
//! **before** observers or the report hear of it. A process killed at any instant therefore
//! loses at most the attempts that were in flight, and `dagent run --resume` reuses every
//! stored success instead of paying for it again. The schema is versioned
//! (`rusqlite_migration`, SQLite's `user_version`); a file that is not a dagent store is
//! never modified.
#![deny(missing_docs)]

mod ids;
mod query;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dagent_core::{AttemptRecord, RunEnd, RunId, RunStart, RunStore, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

pub use ids::content_hash;
pub use query::{RunDetail, RunSummary, StoredAttempt, StoredTask};

/// The default location, relative to the working directory.
pub const DEFAULT_PATH: &str = ".dagent/runs.db";

/// A run store in one SQLite file, safe to share between threads and between processes
/// (SQLite's locking; writers wait up to a few seconds for each other).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Lock files of the runs this process is running: the kernel releases them when the
    /// process ends, however it ends, so a killed run can be resumed at once.
    held: Mutex<Vec<(RunId, std::fs::File)>>,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`. With `create_dir`, a missing parent
    /// directory is created (the default `.dagent/`); otherwise it is an error.
    ///
    /// # Errors
    /// A message naming the file when it cannot be used: unreadable or read-only, a file
    /// that is not a dagent store (left untouched), a corrupt database, or a schema written
    /// by a newer dagent.
    pub fn open(path: &Path, create_dir: bool) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let fail = |why: String| StoreError::new(format!("run store {shown}: {why}"));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            if create_dir {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
            } else {
                return Err(fail(format!(
                    "the directory {} does not exist",
                    dir.display()
                )));
            }
        }
        schema::check_foreign_file(path).map_err(fail)?;
        let mut conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
        // Creating or migrating the schema is serialised between processes by a lock file
        // (two processes opening a new store at once would both try to create it).
        let dir = lock_dir(path);
        std::fs::create_dir_all(&dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let schema_lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("schema.lock"))
            .map_err(|e| fail(format!("cannot create its lock file: {e}")))?;
        schema_lock
            .lock()
            .map_err(|e| fail(format!("cannot lock it: {e}")))?;
        let prepared = schema::prepare(&mut conn);
        drop(schema_lock);
        prepared.map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            held: Mutex::new(Vec::new()),
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn err(&self, e: &rusqlite::Error) -> StoreError {
        StoreError::new(format!("run store {}: {e}", self.path.display()))
    }

    /// Takes the lock of `run` for this process (a lock file next to the store, held until
    /// the process ends). Refused while another process holds it.
    fn lock_run(&self, run: &RunId) -> Result<(), StoreError> {
        if self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(r, _)| r == run)
        {
            return Ok(());
        }
        let dir = lock_dir(&self.path);
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::new(format!(
                "run store {}: cannot create {}: {e}",
                self.path.display(),
                dir.display()
            ))
        })?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{}.lock", run.as_str())))
            .map_err(|e| StoreError::new(format!("run store {}: {e}", self.path.display())))?;
        // A moment's shared lock by a reader (`runs list` checking liveness) is not a holder:
        // try a few times before calling the run held.
        let mut attempt = file.try_lock();
        for _ in 0..5 {
            if !matches!(attempt, Err(std::fs::TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            attempt = file.try_lock();
        }
        match attempt {
            Ok(()) => {
                self.held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((run.clone(), file));
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid: Option<i64> = self
                    .conn()
                    .query_row(
                        "SELECT pid FROM runs WHERE id = ?1",
                        params![run.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .ok()
                    .flatten()
                    .flatten();
                Err(StoreError::new(format!(
                    "run {run} is still running in {}; wait for it to finish or stop it first",
                    pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"))
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::new(format!(
                "run store {}: cannot lock run {run}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Whether some process holds `run`'s lock (this one included).
    pub(crate) fn is_held(&self, run: &RunId) -> bool {
        if self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(r, _)| r == run)
        {
            return true;
        }
        let Ok(file) =
            std::fs::File::open(lock_dir(&self.path).join(format!("{}.lock", run.as_str())))
        else {
            return false;
        };
        matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    }

    /// Takes over `run` for this process, to continue it: refused while another process is
    /// running it (the run's lock is held until that process ends, however it ends).
    /// Returns the new session's number; the caller then reads the run
    /// ([`SqliteStore::detail`]) — nothing else can change it now — and records the
    /// session's plan with [`SqliteStore::start_session`].
    ///
    /// # Errors
    /// When the run is unknown, held by another process, or the store fails.
    pub fn claim(&self, run: &RunId) -> Result<u32, StoreError> {
        let known: Option<u32> = self
            .conn()
            .query_row(
                "SELECT sessions FROM runs WHERE id = ?1",
                params![run.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(&e))?;
        if known.is_none() {
            return Err(StoreError::new(format!("unknown run {run}")));
        }
        self.lock_run(run)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(&e))?;
        let sessions: u32 = tx
            .query_row(
                "SELECT sessions FROM runs WHERE id = ?1",
                params![run.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(&e))?;
        let session = sessions + 1;
        tx.execute(
            "UPDATE runs SET status = 'running', pid = ?2, sessions = ?3, finished_at_ms = NULL WHERE id = ?1",
            params![run.as_str(), i64::from(std::process::id()), session],
        )
        .map_err(|e| self.err(&e))?;
        tx.commit().map_err(|e| self.err(&e))?;
        Ok(session)
    }

    /// Gives back a run this process claimed as `session` when the command stops before the
    /// session recorded anything (a plan review cancelled, an output path refused): the run
    /// shows `status` and `finished_at_ms` again (an `interrupted` run: marked running, as
    /// before), and the session is not counted. Nothing changes when the run has moved on
    /// past `session`.
    ///
    /// # Errors
    /// When the store fails.
    pub fn unclaim(
        &self,
        run: &RunId,
        session: u32,
        status: &str,
        finished_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let status = if status == "interrupted" {
            "running"
        } else {
            status
        };
        let finished = finished_at_ms.and_then(|t| i64::try_from(t).ok());
        self.conn()
            .execute(
                "UPDATE runs SET status = ?2, finished_at_ms = ?3, sessions = ?4 - 1
                 WHERE id = ?1 AND sessions = ?4",
                params![run.as_str(), status, finished, session],
            )
            .map_err(|e| self.err(&e))?;
        Ok(())
    }

    /// Records the plan of a claimed run's new `session`: its tasks, their content hashes and
    /// dependencies, and the plan snapshot.
    ///
    /// # Errors
    /// When the store fails.
    pub fn start_session(
        &self,
        run: &RunId,
        session: u32,
        start: &RunStart,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(&e))?;
        tx.execute(
            "UPDATE runs SET plan_title = ?2, plan_origin = ?3, plan_text = ?4, plan_hash = ?5,
                 plan_format = ?6, strategy = ?7, settings_json = ?8 WHERE id = ?1",
            params![
                run.as_str(),
                start.plan_title,
                start.plan_origin,
                start.plan_text,
                ids::content_hash(start.plan_text.as_bytes()),
                start.plan_format,
                start.strategy,
                start.settings_json,
            ],
        )
        .map_err(|e| self.err(&e))?;
        insert_tasks(&tx, run, session, start).map_err(|e| self.err(&e))?;
        tx.commit().map_err(|e| self.err(&e))
    }
}

/// Writes a session's tasks: ids, content hashes, resolved dependencies.
fn insert_tasks(
    tx: &rusqlite::Transaction<'_>,
    run: &RunId,
    session: u32,
    start: &RunStart,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO tasks (run_id, session, position, task_id, content_hash, deps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (i, task) in start.task_ids.iter().enumerate() {
        let deps = start.deps.get(i).map_or_else(String::new, |d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        insert.execute(params![
            run.as_str(),
            session,
            i64::try_from(i).unwrap_or(i64::MAX),
            task.as_str(),
            start.task_hashes.get(i).map_or("", String::as_str),
            deps,
        ])?;
    }
    Ok(())
}

/// Where the lock files of a store's runs live: `runs.db` → `runs.db.locks/`.
pub(crate) fn lock_dir(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".locks");
    store.with_file_name(name)
}

impl RunStore for SqliteStore {
    fn begin(&self, start: &RunStart) -> Result<RunId, StoreError> {
        let mut conn = self.conn();
        let id = ids::new_run_id(start.started_at_ms);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(&e))?;
        tx.execute(
            "INSERT INTO runs (id, started_at_ms, status, pid, sessions, plan_title, plan_origin, plan_text, plan_hash, plan_format, strategy, settings_json, resumed_from)
             VALUES (?1, ?2, 'running', ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id.as_str(),
                i64::try_from(start.started_at_ms).unwrap_or(i64::MAX),
                i64::from(std::process::id()),
                start.plan_title,
                start.plan_origin,
                start.plan_text,
                ids::content_hash(start.plan_text.as_bytes()),
                start.plan_format,
                start.strategy,
                start.settings_json,
                start.resumed_from.as_ref().map(RunId::as_str),
            ],
        )
        .map_err(|e| self.err(&e))?;
        insert_tasks(&tx, &id, 1, start).map_err(|e| self.err(&e))?;
        tx.commit().map_err(|e| self.err(&e))?;
        self.lock_run(&id)?;
        Ok(id)
    }

    fn record(&self, run: &RunId, records: &[AttemptRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(&e))?;
        {
            let session: u32 = tx
                .query_row(
                    "SELECT sessions FROM runs WHERE id = ?1",
                    params![run.as_str()],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(&e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO attempts (run_id, session, position, task_id, attempt, start_ms, end_ms, status, terminal, error_kind, message, model, endpoint, tokens_in, tokens_out, cost_nanos, output)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )
                .map_err(|e| self.err(&e))?;
            for r in records {
                let big = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
                insert
                    .execute(params![
                        run.as_str(),
                        session,
                        big(r.task as u64),
                        r.task_id.as_str(),
                        r.attempt,
                        big(r.start_ms),
                        big(r.end_ms),
                        r.status.as_str(),
                        r.terminal,
                        r.error_kind,
                        r.message,
                        r.model,
                        r.endpoint,
                        r.usage.map(|u| big(u.prompt_tokens)),
                        r.usage.map(|u| big(u.completion_tokens)),
                        r.cost.map(|c| big(c.nanos())),
                        r.output,
                    ])
                    .map_err(|e| self.err(&e))?;
            }
        }
        tx.commit().map_err(|e| self.err(&e))?;
        tracing::debug!(run = %run, rows = records.len(), "attempts recorded");
        Ok(())
    }

    fn finish(&self, run: &RunId, end: &RunEnd) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE runs SET status = ?2, finished_at_ms = ?3, makespan_ms = ?4, report_json = ?5, pid = NULL,
                 analysis_nanos = min(analysis_nanos + ?6, 9223372036854775807) WHERE id = ?1",
            params![
                run.as_str(),
                end.status,
                i64::try_from(ids::now_ms()).unwrap_or(i64::MAX),
                i64::try_from(end.makespan_ms).unwrap_or(i64::MAX),
                end.report_json,
                i64::try_from(end.analysis_cost.nanos()).unwrap_or(i64::MAX),
            ],
        )
        .map_err(|e| self.err(&e))?;
        Ok(())
    }
}

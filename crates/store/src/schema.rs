//! The versioned schema, the pragmas, and the checks that keep foreign files untouched.

use std::io::Read;
use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};

/// `PRAGMA application_id` of a dagent store ("dag1").
const APPLICATION_ID: i64 = 0x6461_6731;

/// The migrations, oldest first. Never edit a released one: add the next.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        // 1: runs, their tasks per session, and every attempt.
        M::up(
            "CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started_at_ms INTEGER NOT NULL,
            finished_at_ms INTEGER,
            status TEXT NOT NULL,
            pid INTEGER,
            sessions INTEGER NOT NULL DEFAULT 1,
            plan_title TEXT NOT NULL,
            plan_origin TEXT NOT NULL,
            plan_text TEXT NOT NULL,
            plan_hash TEXT NOT NULL,
            plan_format TEXT NOT NULL,
            strategy TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            resumed_from TEXT,
            makespan_ms INTEGER,
            report_json TEXT
        );
        CREATE TABLE tasks (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            session INTEGER NOT NULL,
            position INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            deps TEXT NOT NULL,
            PRIMARY KEY (run_id, session, position)
        );
        CREATE TABLE attempts (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            session INTEGER NOT NULL,
            position INTEGER NOT NULL,
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            status TEXT NOT NULL,
            terminal INTEGER NOT NULL,
            error_kind TEXT,
            message TEXT,
            model TEXT,
            endpoint TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost_nanos INTEGER,
            output TEXT,
            PRIMARY KEY (run_id, session, position, attempt)
        );",
        ),
        // 2: what dependency analysis by a model cost, per run (it counts against the
        // budget of later sessions).
        M::up("ALTER TABLE runs ADD COLUMN analysis_nanos INTEGER NOT NULL DEFAULT 0;"),
        // 3: a run's attempts by task id, so the history counts a run's succeeded tasks in
        // O(n log n) (without it, `runs list` on an 8,000-task run took over two minutes).
        M::up("CREATE INDEX IF NOT EXISTS attempts_by_task ON attempts (run_id, task_id, status);"),
    ])
}

/// Refuses an existing, non-empty file that is not an SQLite database, before SQLite opens
/// (and could write to) it.
pub(crate) fn check_foreign_file(path: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // created on open
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let n = file
        .read(&mut head)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if n < 16 || &head != b"SQLite format 3\0" {
        return Err(
            "is not a dagent run store (not an SQLite database); it was left untouched".into(),
        );
    }
    Ok(())
}

/// Pragmas (WAL, waits for other writers, foreign keys), the ownership check, and the
/// migrations to the latest schema.
pub(crate) fn prepare(conn: &mut Connection) -> Result<(), String> {
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(describe)?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(describe)?;
    if app != APPLICATION_ID && (app != 0 || tables > 0) {
        return Err(
            "is an SQLite database of another program, not a dagent run store; it was left untouched"
                .into(),
        );
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(describe)?;
    // NORMAL in WAL mode: a commit survives the process being killed (the case resume is
    // for); only a power loss can take back the last commits.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(describe)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(describe)?;
    if app == 0 {
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(describe)?;
    }
    migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        ) => "was written by a newer version of dagent (its schema is newer than this one knows); upgrade dagent or use another --store".to_owned(),
        other => describe_migration(&other),
    })
}

fn describe(e: rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "is corrupt or not an SQLite database; it was left untouched".into()
        }
        Some(rusqlite::ErrorCode::ReadOnly) => "is read-only".into(),
        Some(rusqlite::ErrorCode::DiskFull) => "the disk is full".into(),
        Some(rusqlite::ErrorCode::CannotOpen) => format!("cannot be opened: {e}"),
        _ => e.to_string(),
    }
}

fn describe_migration(e: &rusqlite_migration::Error) -> String {
    match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => describe(clone_error(err)),
        other => other.to_string(),
    }
}

fn clone_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e.sqlite_error() {
        Some(inner) => rusqlite::Error::SqliteFailure(*inner, Some(e.to_string())),
        None => rusqlite::Error::InvalidQuery,
    }
}

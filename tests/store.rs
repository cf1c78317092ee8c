//! The run store (dagent-store) through its public API: round trips, concurrency between
//! writers, and files it must refuse without touching them.

use dagent_core::{AttemptRecord, Money, RecordStatus, RunEnd, RunStart, RunStore, TaskId, Usage};
use dagent_store::SqliteStore;

use crate::support::scratch;

fn start(title: &str, n: usize) -> RunStart {
    RunStart {
        plan_title: title.to_owned(),
        plan_origin: "plan.toml".into(),
        plan_text: format!("title = \"{title}\""),
        plan_format: "toml".into(),
        task_ids: (0..n).map(|i| TaskId::new(format!("t{i}"))).collect(),
        task_hashes: (0..n).map(|i| format!("h{i}")).collect(),
        deps: (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect(),
        strategy: "explicit".into(),
        settings_json: "{}".into(),
        resumed_from: None,
        started_at_ms: 1_700_000_000_000,
    }
}

fn attempt(task: usize, attempt: u32, status: RecordStatus, cost: u64) -> AttemptRecord {
    AttemptRecord {
        task,
        task_id: TaskId::new(format!("t{task}")),
        attempt,
        start_ms: 10,
        end_ms: 20,
        status,
        terminal: status != RecordStatus::Failed,
        error_kind: (status == RecordStatus::Failed).then(|| "rate_limited".to_owned()),
        message: None,
        model: Some("m".into()),
        endpoint: Some("http://127.0.0.1:1/v1".into()),
        usage: Some(Usage::new(100, 20)),
        cost: Some(Money::from_nanos(cost)),
        output: (status == RecordStatus::Succeeded).then(|| format!("out {task}")),
    }
}

#[test]
fn a_run_round_trips_with_every_attempt() {
    let dir = scratch("store-round-trip");
    let store = SqliteStore::open(&dir.join(".dagent/runs.db"), true).unwrap();
    let id = store.begin(&start("Plan", 3)).unwrap();
    store
        .record(
            &id,
            &[
                attempt(0, 1, RecordStatus::Failed, 5),
                attempt(0, 2, RecordStatus::Succeeded, 7),
            ],
        )
        .unwrap();
    store
        .record(&id, &[attempt(1, 1, RecordStatus::Succeeded, 11)])
        .unwrap();
    store
        .finish(
            &id,
            &RunEnd {
                status: "failed".into(),
                makespan_ms: 42,
                report_json: "{}".into(),
                analysis_cost: Money::from_nanos(100),
            },
        )
        .unwrap();
    let runs = store.list().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].succeeded, 2);
    assert_eq!(
        runs[0].cost,
        Money::from_nanos(123),
        "attempts + dependency analysis"
    );
    assert_eq!(runs[0].usage, Usage::new(300, 60));
    let d = store.detail(&id).unwrap();
    assert_eq!(d.attempts.len(), 3);
    assert_eq!(d.tasks[2].deps, vec![1]);
    let ok: Vec<Option<&str>> = d
        .successes()
        .iter()
        .map(|a| a.and_then(|a| a.record.output.as_deref()))
        .collect();
    assert_eq!(ok, vec![Some("out 0"), Some("out 1"), None]);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // Ids resolve by full id, unique prefix and `last`; unknown ones suggest a near id.
    assert_eq!(store.resolve("last").unwrap(), id);
    assert_eq!(store.resolve(&id.as_str()[..11]).unwrap(), id);
    let mut typo = id.as_str().to_owned();
    typo.replace_range(13..14, if typo.ends_with('z') { "y" } else { "z" });
    let e = store.resolve(&typo).unwrap_err();
    assert!(
        e.message().contains(&format!("did you mean \"{id}\"")),
        "{e}"
    );
    assert_eq!(
        store.detail(&id).unwrap().spent(),
        Money::from_nanos(123),
        "attempts + analysis"
    );
    // Another handle (as another process would) cannot take a run this one is running.
    let other = SqliteStore::open(&dir.join(".dagent/runs.db"), false).unwrap();
    let e = other.claim(&id).unwrap_err();
    assert!(e.message().contains("is still running"), "{e}");
    // This one can continue it, as a new session.
    assert_eq!(store.claim(&id).unwrap(), 2);
    store.start_session(&id, 2, &start("Plan", 3)).unwrap();
    assert_eq!(store.gc(u64::MAX).unwrap(), 0, "a running run is kept");
}

#[test]
fn two_writers_share_one_store_without_corruption() {
    let dir = scratch("store-two-writers");
    let path = dir.join("runs.db");
    SqliteStore::open(&path, false).unwrap();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path, false).unwrap();
                let id = store.begin(&start(&format!("w{w}"), 200)).unwrap();
                for t in 0..200 {
                    store
                        .record(&id, &[attempt(t, 1, RecordStatus::Succeeded, 1)])
                        .unwrap();
                }
                id
            })
        })
        .collect();
    let ids: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let store = SqliteStore::open(&path, false).unwrap();
    for id in &ids {
        assert_eq!(store.detail(id).unwrap().attempts.len(), 200);
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn files_that_are_not_a_dagent_store_are_refused_and_left_untouched() {
    let dir = scratch("store-foreign");
    let text = dir.join("notes.db");
    std::fs::write(&text, "my precious notes\n").unwrap();
    let e = SqliteStore::open(&text, false).unwrap_err();
    assert!(
        e.message().contains("notes.db") && e.message().contains("not a dagent run store"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "my precious notes\n"
    );

    let other = dir.join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    let e = SqliteStore::open(&other, false).unwrap_err();
    assert!(e.message().contains("another program"), "{e}");
    assert_eq!(std::fs::read(&other).unwrap(), before);

    let corrupt = dir.join("corrupt.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    std::fs::write(&corrupt, &bytes).unwrap();
    let e = SqliteStore::open(&corrupt, false).unwrap_err();
    assert!(e.message().contains("corrupt.db"), "{e}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), bytes);

    let newer = dir.join("newer.db");
    SqliteStore::open(&newer, false).unwrap();
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = SqliteStore::open(&newer, false).unwrap_err();
    assert!(e.message().contains("newer version of dagent"), "{e}");

    let e = SqliteStore::open(&dir.join("missing/runs.db"), false).unwrap_err();
    assert!(e.message().contains("does not exist"), "{e}");
    let e = SqliteStore::open(&dir, false).unwrap_err();
    assert!(e.message().contains("not a regular file"), "{e}");
}

#[test]
fn absurd_usage_from_a_provider_does_not_break_the_history() {
    let dir = scratch("store-overflow");
    let store = SqliteStore::open(&dir.join("runs.db"), false).unwrap();
    let id = store.begin(&start("Huge", 2)).unwrap();
    let mut huge = attempt(0, 1, RecordStatus::Succeeded, u64::MAX);
    huge.usage = Some(Usage::new(u64::MAX, u64::MAX));
    let mut again = huge.clone();
    again.task = 1;
    again.task_id = TaskId::new("t1");
    store.record(&id, &[huge, again]).unwrap();
    let runs = store.list().unwrap();
    assert_eq!(runs.len(), 1, "sums never overflow");
    assert!(runs[0].cost.nanos() > 0);
    assert_eq!(store.detail(&id).unwrap().attempts.len(), 2);
}

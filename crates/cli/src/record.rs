//! Recording a run: the recorder the executor writes through (the SQLite store, or memory
//! only with `--no-store`), task content hashes, and the resume plan (which stored results
//! are reused, which tasks run again, and why).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use dagent_core::{
    AttemptRecord, Plan, RecordStatus, RunEnd, RunId, RunStart, RunStore, StoreError, Task,
    TaskOutput,
};
use dagent_providers::Router;
use dagent_store::{RunDetail, SqliteStore, content_hash};

/// What the executor records through: every record is forwarded to the store (when there
/// is one) and kept in memory for the timeline.
pub(crate) struct Recorder {
    store: Option<Arc<SqliteStore>>,
    records: Mutex<Vec<AttemptRecord>>,
}

impl Recorder {
    pub(crate) fn new(store: Option<Arc<SqliteStore>>) -> Self {
        Self {
            store,
            records: Mutex::new(Vec::new()),
        }
    }

    /// Every record of this session, in the order they were written.
    pub(crate) fn records(&self) -> Vec<AttemptRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl RunStore for Recorder {
    fn begin(&self, start: &RunStart) -> Result<RunId, StoreError> {
        match &self.store {
            Some(s) => s.begin(start),
            None => Ok(RunId::new("unrecorded")),
        }
    }

    fn record(&self, run: &RunId, records: &[AttemptRecord]) -> Result<(), StoreError> {
        if let Some(s) = &self.store {
            s.record(run, records)?;
        }
        if let Ok(mut r) = self.records.lock() {
            r.extend_from_slice(records);
        }
        Ok(())
    }

    fn finish(&self, run: &RunId, end: &RunEnd) -> Result<(), StoreError> {
        match &self.store {
            Some(s) => s.finish(run, end),
            None => Ok(()),
        }
    }
}

/// What decides a task's result apart from its inputs: its own text and settings.
fn own_content(task: &Task, router: Option<&Router>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "title={:?}\ndescription={:?}\nkind={:?}\nrole={:?}\nmodel={:?}\n",
        task.title,
        task.description,
        task.kind.as_str(),
        task.role,
        task.model
    );
    if let Some(route) = router.and_then(|r| r.route(task)) {
        let _ = write!(
            s,
            "routed={:?}\ntemperature={:?}\nmax_tokens={:?}\ntop_p={:?}\nsystem={:?}\n",
            route.model, route.temperature, route.max_tokens, route.top_p, route.system_prompt
        );
    }
    let _ = write!(
        s,
        "estimate={:?}\nsimulate={:?}\n",
        task.estimate, task.simulate
    );
    s
}

/// Per task, `own/full`: the hash of its own content, and the hash of that together with
/// its inputs' full hashes in plan order (so a change anywhere upstream changes it).
pub(crate) fn task_hashes(
    plan: &Plan,
    deps: &[Vec<usize>],
    router: Option<&Router>,
) -> Vec<String> {
    let n = plan.tasks.len();
    let own: Vec<String> = plan
        .tasks
        .iter()
        .map(|t| content_hash(own_content(t, router).as_bytes()))
        .collect();
    // Dependencies always come earlier in some topological order; compute in one pass
    // over an order that puts dependencies first.
    let mut full: Vec<Option<String>> = vec![None; n];
    let mut remaining: Vec<usize> = (0..n).collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|&i| {
            let ds = deps.get(i).map_or(&[][..], Vec::as_slice);
            if ds.iter().all(|&d| full.get(d).is_some_and(Option::is_some)) {
                let mut text = own[i].clone();
                for &d in ds {
                    text.push('|');
                    text.push_str(full[d].as_deref().unwrap_or(""));
                }
                full[i] = Some(content_hash(text.as_bytes()));
                false
            } else {
                true
            }
        });
        if remaining.len() == before {
            break; // not a DAG: cannot happen for a validated graph
        }
    }
    own.into_iter()
        .zip(full)
        .map(|(o, f)| format!("{o}/{}", f.unwrap_or_default()))
        .collect()
}

/// Which tasks a resume reuses, and a `make -n`-style account of every decision.
pub(crate) struct ResumePlan {
    /// By position: the stored output to reuse.
    pub(crate) reused: Vec<Option<TaskOutput>>,
    /// One line per task.
    pub(crate) lines: Vec<String>,
}

/// Decides, for each task of the current plan, whether the stored run's success can be
/// reused: same id, same own content, same inputs (recursively), and a stored success.
pub(crate) fn plan_resume(
    plan: &Plan,
    deps: &[Vec<usize>],
    hashes: &[String],
    stored: &RunDetail,
) -> ResumePlan {
    let n = plan.tasks.len();
    let by_id: std::collections::HashMap<&str, usize> = stored
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let mut reused: Vec<Option<TaskOutput>> = vec![None; n];
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let id = plan.tasks[i].id.as_str();
        let inputs_reused = deps
            .get(i)
            .is_none_or(|ds| ds.iter().all(|&d| reused[d].is_some()));
        // A success made when the task's content and inputs were what they are now.
        let success = stored.success_for(id, &hashes[i]);
        let why_run = match (success, by_id.get(id)) {
            (Some(a), _) if inputs_reused => {
                reused[i] = Some(TaskOutput {
                    text: a.record.output.clone().unwrap_or_default(),
                    model: a.record.model.clone(),
                    notes: vec![format!(
                        "reused from run {} (session {})",
                        stored.summary.id, a.session
                    )],
                    ..TaskOutput::default()
                });
                None
            }
            (Some(_), _) => Some("an input runs again".to_owned()),
            (None, None) => Some("new task".to_owned()),
            (None, Some(&s)) => {
                let stored_hash = stored.tasks[s].content_hash.as_str();
                let (own, full) = hashes[i].split_once('/').unwrap_or((&hashes[i], ""));
                let (s_own, s_full) = stored_hash.split_once('/').unwrap_or((stored_hash, ""));
                // The task's terminal state in the latest session that ended it.
                let mine = || {
                    stored
                        .attempts
                        .iter()
                        .filter(|a| a.record.task_id.as_str() == id)
                };
                let last = mine()
                    .filter(|a| a.record.terminal)
                    .max_by_key(|a| a.session)
                    .or_else(|| mine().next_back())
                    .map(|a| a.record.status);
                Some(if s_own != own {
                    "changed since the stored run".to_owned()
                } else if s_full != full {
                    "an input changed since the stored run".to_owned()
                } else {
                    match last {
                        Some(RecordStatus::Failed) => "failed in the stored run".to_owned(),
                        Some(RecordStatus::Skipped) => "was skipped in the stored run".to_owned(),
                        Some(RecordStatus::Cancelled) => {
                            "was cancelled in the stored run".to_owned()
                        }
                        _ => "never finished in the stored run".to_owned(),
                    }
                })
            }
        };
        lines.push(match why_run {
            None => format!("  reuse  {id}"),
            Some(why) => format!("  run    {id}  ({why})"),
        });
    }
    ResumePlan { reused, lines }
}

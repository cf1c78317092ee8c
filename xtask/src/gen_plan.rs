//! `cargo xtask gen-plan`: large random plans with explicit dependencies.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::rng::Rng;

/// A random DAG of `n` tasks where each task depends on about `avg_deps` earlier tasks
/// chosen mostly from a recent window (like real plans: local structure, some long edges).
pub(crate) fn random_deps(n: usize, avg_deps: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            if i == 0 {
                return Vec::new();
            }
            let k = rng.below(2 * avg_deps + 1).min(i);
            let mut deps: Vec<usize> = (0..k)
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.below(i)
                    } else {
                        i - 1 - rng.below(i.min(64))
                    }
                })
                .collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}

/// The plan as JSON text (native format); `deps: None` writes no `depends_on` at all.
pub(crate) fn plan_json_opt(deps: Option<&[Vec<usize>]>, n: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xABCD);
    let mut out = String::with_capacity(n * 120);
    out.push_str("{\"title\":\"Generated plan\",\"tasks\":[\n");
    for i in 0..n {
        let ms = 50 + rng.below(200);
        let _ = write!(
            out,
            "{{\"id\":\"t{i}\",\"title\":\"Task {i}\",\"kind\":\"processing\",\"estimate\":\"{ms}ms\""
        );
        if let Some(deps) = deps {
            let list: Vec<String> = deps[i].iter().map(|x| format!("\"t{x}\"")).collect();
            let _ = write!(out, ",\"depends_on\":[{}]", list.join(","));
        }
        out.push('}');
        out.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    out
}

/// The plan as JSON text (native format).
pub(crate) fn plan_json(deps: &[Vec<usize>], seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xABCD);
    let mut out = String::with_capacity(deps.len() * 120);
    out.push_str("{\"title\":\"Generated plan\",\"tasks\":[\n");
    for (i, d) in deps.iter().enumerate() {
        let list: Vec<String> = d.iter().map(|x| format!("\"t{x}\"")).collect();
        let ms = 50 + rng.below(200);
        let _ = write!(
            out,
            "{{\"id\":\"t{i}\",\"title\":\"Task {i}\",\"kind\":\"processing\",\"estimate\":\"{ms}ms\",\"depends_on\":[{}]}}",
            list.join(",")
        );
        out.push_str(if i + 1 < deps.len() { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    out
}

/// The plan as TOML text (native format).
pub(crate) fn plan_toml(deps: &[Vec<usize>], seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xABCD);
    let mut out = String::with_capacity(deps.len() * 120);
    out.push_str("title = \"Generated plan\"\n");
    for (i, d) in deps.iter().enumerate() {
        let list: Vec<String> = d.iter().map(|x| format!("\"t{x}\"")).collect();
        let ms = 50 + rng.below(200);
        let _ = write!(
            out,
            "\n[[tasks]]\nid = \"t{i}\"\ntitle = \"Task {i}\"\nkind = \"processing\"\nestimate = \"{ms}ms\"\ndepends_on = [{}]\n",
            list.join(", ")
        );
    }
    out
}

/// `n` tasks copied from the corpus plans one after another (titles, descriptions, kinds;
/// ids made unique), without `depends_on`: input for timing inference on realistic wording.
pub(crate) fn corpus_plan_json(n: usize) -> Result<String, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut tasks = Vec::with_capacity(n);
    let mut copy = 0;
    while tasks.len() < n && !files.is_empty() {
        for f in &files {
            let loaded = dagent_adapters::load_plan(f, None).map_err(|e| e.to_string())?;
            for t in loaded.plan.tasks {
                tasks.push(serde_json::json!({
                    "id": format!("{}-{copy}", t.id),
                    "title": t.title,
                    "description": t.description,
                    "kind": t.kind.as_str(),
                }));
            }
            copy += 1;
        }
    }
    tasks.truncate(n);
    serde_json::to_string(
        &serde_json::json!({ "title": "Corpus plans one after another", "tasks": tasks }),
    )
    .map_err(|e| e.to_string())
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut tasks = 100_000usize;
    let mut no_deps = false;
    let mut corpus_text = false;
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--tasks" => {
                tasks = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--tasks needs a number")?
            }
            "--seed" => {
                seed = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seed needs a number")?
            }
            "--out" => out = it.next().map(PathBuf::from),
            "--no-deps" => no_deps = true,
            "--corpus-text" => corpus_text = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let out = out.ok_or("--out FILE is required (.json or .toml)")?;
    if corpus_text {
        if out.extension().is_some_and(|e| e == "toml") {
            return Err("--corpus-text writes JSON: use an --out FILE ending in .json".into());
        }
        std::fs::write(&out, corpus_plan_json(tasks)?)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!(
            "wrote {tasks} tasks of corpus wording, no depends_on, to {}",
            out.display()
        );
        return Ok(());
    }
    let deps = if no_deps {
        vec![Vec::new(); tasks]
    } else {
        random_deps(tasks, 2, seed)
    };
    let mut text = if out.extension().is_some_and(|e| e == "toml") {
        plan_toml(&deps, seed)
    } else {
        plan_json(&deps, seed)
    };
    if no_deps {
        // No field at all: an empty list would declare "no dependencies" explicitly.
        text = text
            .replace(",\"depends_on\":[]", "")
            .replace("depends_on = []\n", "");
    }
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "wrote {} tasks, {} edges to {}",
        tasks,
        deps.iter().map(Vec::len).sum::<usize>(),
        out.display()
    );
    Ok(())
}

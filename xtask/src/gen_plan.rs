//! `cargo xtask gen-plan`: large random plans, with explicit dependencies or (`--no-deps`)
//! without any `depends_on`, for timing the inference strategies.

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

/// The plan as JSON text (native format).
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
    plan_json_opt(Some(deps), deps.len(), seed)
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

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut tasks = 100_000usize;
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut no_deps = false;
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
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let out = out.ok_or("--out FILE is required (.json or .toml)")?;
    let deps = random_deps(tasks, 2, seed);
    if no_deps {
        if out.extension().is_some_and(|e| e == "toml") {
            return Err("--no-deps writes JSON only".into());
        }
        let text = plan_json_opt(None, tasks, seed);
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!(
            "wrote {tasks} tasks without depends_on to {}",
            out.display()
        );
        return Ok(());
    }
    let text = if out.extension().is_some_and(|e| e == "toml") {
        plan_toml(&deps, seed)
    } else {
        plan_json(&deps, seed)
    };
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "wrote {} tasks, {} edges to {}",
        tasks,
        deps.iter().map(Vec::len).sum::<usize>(),
        out.display()
    );
    Ok(())
}

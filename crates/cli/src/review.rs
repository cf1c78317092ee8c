//! The plan a run starts from — a plan file or a workflow template's — and `--review`: the
//! plan's batches, critical path, predicted time and cost, then Accept / Edit / Cancel
//! (DeerFlow's human feedback). Edit opens `$EDITOR` on the plan and analyses it again.
//!
//! The review needs a person: without a terminal on stdin and stderr it is refused unless
//! `--yes` accepts it (the review is still printed). Nothing has been paid for tasks when
//! the question is asked; only a model's dependency analysis may have cost something.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dagent_adapters::{LoadOptions, PlanFormat, load_plan_with};
use dagent_analyzers::Analysis;
use dagent_core::format_duration;
use dagent_providers::CostLedger;

use crate::analyze::{Prepared, load, prepare_loaded};
use crate::args::RunArgs;
use crate::diag::Failure;
use crate::settings::Settings;

/// Loads the run's plan (the file, or the workflow's), resolves its graph, and, with
/// `--review`, asks whether to run it.
pub(crate) fn prepare_run(
    args: &RunArgs,
    settings: &Settings,
    ledger: &Arc<CostLedger>,
) -> Result<Prepared, Failure> {
    let loaded = match &args.workflow {
        Some(w) => crate::workflow::run_plan(w, args, settings.max_input_bytes)?,
        None => load(&args.plan, settings)?,
    };
    if !args.review {
        return prepare_loaded(loaded, settings, ledger);
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive && !args.yes {
        return Err(Failure::bad_input(
            "error: --review asks Accept / Edit / Cancel on a terminal, and there is none (stdin or stderr is redirected): run it in a terminal, or add --yes to print the review and accept it",
        ));
    }
    // The file Edit opens: the plan file itself, or (a workflow's plan) a private temporary
    // file created on the first Edit, removed at the end unless it was edited.
    let source = loaded.source.clone();
    let mut scratch: Option<tempfile::NamedTempFile> = None;
    let plan_file = match &args.plan.plan {
        Some(p) if args.workflow.is_none() => Some((p.clone(), Some(loaded.format))),
        _ => None,
    };
    let mut current = Some(prepare_loaded(loaded, settings, ledger)?);
    loop {
        if let Some(p) = &current {
            eprint!("{}", render(p, args, settings));
        }
        if args.yes {
            eprintln!("Accepted (--yes).");
            return current.ok_or_else(|| Failure::bad_input("error: no valid plan"));
        }
        let choice = ask(current.is_some())?;
        match choice {
            Choice::Accept => {
                if let Some(p) = current {
                    if let Some(f) = scratch {
                        // The edited workflow plan is kept, so it can be run again.
                        if let Ok((_, kept)) = f.keep() {
                            eprintln!("The edited plan is kept in {}", kept.display());
                        }
                    }
                    return Ok(p);
                }
            }
            Choice::Cancel => {
                return Err(Failure::failed(
                    "Cancelled: nothing was run and no task was paid for.",
                ));
            }
            Choice::Edit => {
                let (path, format) = match &plan_file {
                    Some(f) => f.clone(),
                    None => {
                        if scratch.is_none() {
                            scratch = Some(workflow_scratch(&source)?);
                        }
                        let path = scratch.as_ref().map(|f| f.path().to_path_buf());
                        (path.unwrap_or_default(), Some(PlanFormat::Toml))
                    }
                };
                edit(&path)?;
                let reloaded = load_plan_with(
                    &path,
                    LoadOptions::default()
                        .format(format)
                        .max_bytes(settings.max_input_bytes),
                )
                .map_err(Failure::from)
                .and_then(|l| prepare_loaded(l, settings, ledger));
                match reloaded {
                    Ok(p) => current = Some(p),
                    Err(e) => {
                        eprintln!(
                            "{}\nThe edited plan is invalid: edit it again, or cancel.",
                            dagent_core::display::escape_lines(e.message())
                        );
                        current = None;
                    }
                }
            }
        }
    }
}

/// A workflow's plan written to a new private temporary file (unpredictable name, created
/// exclusively), for Edit.
fn workflow_scratch(source: &str) -> Result<tempfile::NamedTempFile, Failure> {
    let cannot = |e: std::io::Error| {
        Failure::bad_input(format!("error: cannot write the plan for review: {e}"))
    };
    let mut f = tempfile::Builder::new()
        .prefix("dagent-review-")
        .suffix(".toml")
        .tempfile()
        .map_err(cannot)?;
    f.write_all(source.as_bytes()).map_err(cannot)?;
    f.flush().map_err(cannot)?;
    Ok(f)
}

enum Choice {
    Accept,
    Edit,
    Cancel,
}

/// Asks on stderr, reads a line from stdin; end of input cancels.
fn ask(can_accept: bool) -> Result<Choice, Failure> {
    let stdin = std::io::stdin();
    loop {
        if can_accept {
            eprint!("Run this plan? [a]ccept, [e]dit, [c]ancel: ");
        } else {
            eprint!("[e]dit, [c]ancel: ");
        }
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::bad_input(format!("error: cannot read the answer: {e}")))?;
        if n == 0 {
            eprintln!();
            return Ok(Choice::Cancel);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "a" | "accept" | "y" | "yes" if can_accept => return Ok(Choice::Accept),
            "e" | "edit" => return Ok(Choice::Edit),
            "c" | "cancel" | "n" | "no" | "q" => return Ok(Choice::Cancel),
            _ => {}
        }
    }
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi`, on the file, through the shell (so an editor
/// with arguments, like `code --wait`, works), and waits for it.
fn edit(path: &Path) -> Result<(), Failure> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .map_err(|e| {
            Failure::bad_input(format!("error: cannot start the editor {editor:?}: {e}"))
        })?;
    if !status.success() {
        eprintln!("The editor exited with {status}; reading the plan as it is now.");
    }
    Ok(())
}

/// The projected cost of the plan (the same projection `dagent analyze` shows with a
/// configuration): at the configured tier, and at every tier.
fn projection(p: &Prepared, settings: &Settings) -> crate::render::Projected {
    let plan = &p.loaded.plan;
    let deps: Vec<Vec<usize>> = (0..plan.tasks.len())
        .map(|i| p.resolution.graph.deps_of(i).to_vec())
        .collect();
    let m = &settings.models;
    crate::render::Projected {
        configured: dagent_providers::project(plan, &deps, &m.router, &m.catalogue),
        tiers: dagent_providers::project_tiers(plan, &deps, &m.router, &m.catalogue),
    }
}

fn render(p: &Prepared, args: &RunArgs, settings: &Settings) -> String {
    use std::fmt::Write as _;
    let analysis = Analysis::new(&p.loaded.plan, &p.resolution.graph);
    let k = crate::run::executor_config(&settings.parallelization).max_concurrent;
    let view = crate::render::View {
        loaded: &p.loaded,
        resolution: &p.resolution,
        analysis: &analysis,
        k,
        analysis_cost: None,
        explanation: None,
        projection: None,
    };
    let mut s = format!("\n{}", crate::render::text(&view));
    let deps: Vec<Vec<usize>> = (0..p.loaded.plan.tasks.len())
        .map(|i| p.resolution.graph.deps_of(i).to_vec())
        .collect();
    let predicted = crate::timeline::predicted(&p.loaded.plan, &deps, k, 1.0)
        .map(|v| Duration::from_millis(v.iter().map(|&(_, end)| end).max().unwrap_or(0)));
    let _ = writeln!(
        s,
        "Predicted time: {}",
        predicted.map_or_else(
            || "unknown (no task has an estimate)".to_owned(),
            |d| format!("{} at {k} at a time", format_duration(d))
        )
    );
    let cost = if args.simulate {
        "$0 (simulated)".to_owned()
    } else {
        let proj = projection(p, settings);
        let c = &proj.configured;
        if c.tasks.iter().any(|t| t.model.is_none()) {
            "unknown (some task routes to no priced model)".to_owned()
        } else {
            format!(
                "{} expected, {} worst case ({} tier; see dagent analyze PLAN --config … for each task and tier)",
                c.expected_cost,
                c.worst_cost,
                c.tier.as_str()
            )
        }
    };
    let _ = writeln!(s, "Predicted cost: {cost}");
    let _ = writeln!(
        s,
        "Plan file: {}",
        dagent_core::display::escape(&p.loaded.origin)
    );
    s
}

//! `cargo xtask eval`: dependency-inference quality on the hand-written corpus.
//!
//! Every plan in `corpus/plans/` carries its gold direct dependencies in `depends_on`. A
//! strategy sees the plan without them; its (transitively reduced) graph is scored against
//! the gold one: edge precision, recall and F1 (micro), exact-graph matches, missed
//! dependencies (a gold edge d → t where d is not an inferred ancestor of t: t would run
//! without that input), and the predicted speed-up kept relative to gold.

use std::fmt::Write as _;
use std::path::Path;

use dagent_analyzers::{
    Analysis, HeuristicAnalyzer, SequentialAnalyzer, TaskGraph, transitive_reduction, validate_plan,
};
use dagent_core::{DependencyAnalyzer, DependencyMap, Plan};

struct Case {
    name: String,
    plan: Plan,
    gold: TaskGraph,
    chain: bool,
}

#[derive(Default, Clone)]
struct Score {
    plans: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
    exact: usize,
    gold_edges: usize,
    missed: usize,
    speedup_ratio_sum: f64,
}

impl Score {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    fn exact_rate(&self) -> f64 {
        ratio(self.exact, self.plans)
    }
    fn missed_rate(&self) -> f64 {
        ratio(self.missed, self.gold_edges)
    }
    fn speedup_kept(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.plans.max(1) as f64;
        self.speedup_ratio_sum / n
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn load(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let loaded = dagent_adapters::load_plan(path, None).map_err(|e| e.to_string())?;
            let index =
                validate_plan(&loaded.plan).map_err(|e| format!("{}: {e}", path.display()))?;
            let map = index
                .explicit_map(&loaded.plan)
                .map_err(|e| e.to_string())?;
            let graph = TaskGraph::new(&loaded.plan, map).map_err(|e| e.to_string())?;
            let gold = TaskGraph::new(&loaded.plan, transitive_reduction(&graph))
                .map_err(|e| e.to_string())?;
            let chain = (0..gold.len()).all(|i| {
                if i == 0 {
                    gold.deps_of(0).is_empty()
                } else {
                    gold.deps_of(i) == [i - 1]
                }
            });
            let mut plan = loaded.plan.clone();
            for t in &mut plan.tasks {
                t.depends_on = None;
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Case {
                name,
                plan,
                gold,
                chain,
            })
        })
        .collect()
}

fn ancestors(g: &TaskGraph) -> Vec<Vec<bool>> {
    let n = g.len();
    let mut anc = vec![vec![false; n]; n];
    for &v in g.topological_order() {
        let mut row = vec![false; n];
        for &d in g.deps_of(v) {
            row[d] = true;
            for (x, &a) in row.iter_mut().zip(&anc[d]) {
                *x |= a;
            }
        }
        anc[v] = row;
    }
    anc
}

fn score_case(case: &Case, predicted: &TaskGraph, s: &mut Score) {
    s.plans += 1;
    let mut exact = true;
    for t in 0..case.gold.len() {
        let gold = case.gold.deps_of(t);
        let pred = predicted.deps_of(t);
        let tp = pred.iter().filter(|d| gold.contains(d)).count();
        s.tp += tp;
        s.fp += pred.len() - tp;
        s.fn_ += gold.len() - tp;
        exact &= gold == pred;
    }
    s.exact += usize::from(exact);
    let anc = ancestors(predicted);
    for (t, inferred) in anc.iter().enumerate() {
        for &d in case.gold.deps_of(t) {
            s.gold_edges += 1;
            s.missed += usize::from(!inferred[d]);
        }
    }
    let gold_speedup = Analysis::new(&case.plan, &case.gold).speedup_unbounded();
    let pred_speedup = Analysis::new(&case.plan, predicted).speedup_unbounded();
    s.speedup_ratio_sum += pred_speedup / gold_speedup;
}

fn run_strategy(
    cases: &[Case],
    infer: &dyn Fn(&Plan) -> DependencyMap,
) -> (Score, Score, Vec<(String, String)>) {
    let (mut all, mut non_chain) = (Score::default(), Score::default());
    let mut per_plan = Vec::new();
    for case in cases {
        let map = infer(&case.plan);
        let graph = TaskGraph::new(&case.plan, map).expect("strategies produce valid graphs");
        let graph = TaskGraph::new(&case.plan, transitive_reduction(&graph))
            .expect("reduction stays valid");
        let mut one = Score::default();
        score_case(case, &graph, &mut one);
        let mut diff = String::new();
        for t in 0..case.gold.len() {
            let (gold, pred) = (case.gold.deps_of(t), graph.deps_of(t));
            let title = |i: usize| case.plan.tasks[i].title.clone();
            for &d in gold.iter().filter(|d| !pred.contains(d)) {
                let _ = writeln!(diff, "    missing  {:<40} <- {}", title(t), title(d));
            }
            for &d in pred.iter().filter(|d| !gold.contains(d)) {
                let _ = writeln!(diff, "    extra    {:<40} <- {}", title(t), title(d));
            }
        }
        per_plan.push((case.name.clone(), diff));
        score_case(case, &graph, &mut all);
        if !case.chain {
            score_case(case, &graph, &mut non_chain);
        }
    }
    (all, non_chain, per_plan)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases = load(&root.join("corpus/plans"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let chains = cases.iter().filter(|c| c.chain).count();
    let block = |a: &dyn DependencyAnalyzer, p: &Plan| {
        rt.block_on(a.analyze(p))
            .expect("built-in strategies cannot fail")
    };
    type Infer<'a> = Box<dyn Fn(&Plan) -> DependencyMap + 'a>;
    let strategies: Vec<(&str, Infer<'_>)> = vec![
        (
            "heuristic",
            Box::new(|p: &Plan| block(&HeuristicAnalyzer, p)),
        ),
        (
            "baseline: each step after the previous",
            Box::new(|p: &Plan| block(&SequentialAnalyzer, p)),
        ),
        (
            "baseline: all independent",
            Box::new(|p: &Plan| DependencyMap::new(p.len())),
        ),
    ];
    let verbose = args.iter().any(|a| a == "--verbose");
    let mut md = format!(
        "# Dependency inference on the corpus\n\n{} plans ({} plain chains, {} not).\n\n| strategy | subset | precision | recall | F1 | exact | missed deps | speed-up kept |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
        cases.len(),
        chains,
        cases.len() - chains
    );
    println!(
        "{} corpus plans ({chains} plain chains, {} not)\n",
        cases.len(),
        cases.len() - chains
    );
    println!(
        "{:<40} {:<10} {:>9} {:>7} {:>6} {:>6} {:>12} {:>14}",
        "strategy", "subset", "precision", "recall", "F1", "exact", "missed deps", "speed-up kept"
    );
    let mut json_rows = Vec::new();
    for (name, infer) in &strategies {
        let (all, non_chain, per_plan) = run_strategy(&cases, infer.as_ref());
        for (subset, s) in [("all", &all), ("non-chain", &non_chain)] {
            println!(
                "{name:<40} {subset:<10} {:>9.3} {:>7.3} {:>6.3} {:>6.3} {:>12.3} {:>14.3}",
                s.precision(),
                s.recall(),
                s.f1(),
                s.exact_rate(),
                s.missed_rate(),
                s.speedup_kept()
            );
            let _ = writeln!(
                md,
                "| {name} | {subset} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                s.precision(),
                s.recall(),
                s.f1(),
                s.exact_rate(),
                s.missed_rate(),
                s.speedup_kept()
            );
            json_rows.push(serde_json::json!({
                "strategy": name, "subset": subset, "plans": s.plans, "precision": s.precision(), "recall": s.recall(),
                "f1": s.f1(), "exact_match": s.exact_rate(), "missed_dependency_rate": s.missed_rate(), "speedup_kept": s.speedup_kept(),
            }));
        }
        if verbose && *name == "heuristic" {
            for (plan, diff) in &per_plan {
                if !diff.is_empty() {
                    println!("  {plan}\n{diff}");
                }
            }
        }
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("eval.md"), md).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(
        &serde_json::json!({ "corpus_plans": cases.len(), "rows": json_rows }),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("eval.json"), json).map_err(|e| e.to_string())?;
    println!("\nwrote target/bench/eval.md and target/bench/eval.json");
    Ok(())
}

//! `cargo xtask eval`: dependency-inference quality on the hand-written corpus.
//!
//! Every plan in `corpus/plans/` carries its gold direct dependencies in `depends_on` and
//! its style in a first-line comment (`# style: tool-pipeline`). The corpus is split once,
//! by a hash of the file name, into a development part and a check part (see
//! `corpus/README.md`); both are scored, so rules fitted to the development part show up as
//! a gap. A strategy sees each plan without its dependencies; its transitively reduced graph
//! is scored against the reduced gold graph: edge precision, recall and F1 (micro), closure
//! recall (the share of gold "needs, directly or not" pairs the inferred graph also orders:
//! 1 − closure recall is the share of needed inputs a run would miss), exact-graph matches,
//! and the predicted speed-up kept relative to gold. Baselines: every step after the
//! previous one (chain), and every step independent.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use dagent_analyzers::{
    Analysis, HeuristicAnalyzer, LOW_CONFIDENCE, SequentialAnalyzer, TaskGraph,
    transitive_reduction, validate_plan,
};
use dagent_core::{DependencyAnalyzer, DependencyMap, Plan};

/// The part of the corpus a plan is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Part {
    Development,
    Check,
}

/// The split rule of `corpus/README.md`: check part when FNV-1a-64(file name) % 3 == 0.
pub(crate) fn part_of(file_name: &str) -> Part {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file_name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if h.is_multiple_of(3) {
        Part::Check
    } else {
        Part::Development
    }
}

struct Case {
    name: String,
    style: String,
    part: Part,
    plan: Plan,
    gold: TaskGraph,
    gold_closure: Vec<Vec<bool>>,
    chain: bool,
}

#[derive(Default, Clone)]
struct Score {
    plans: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
    exact: usize,
    closure_pairs: usize,
    closure_kept: usize,
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
    fn closure_recall(&self) -> f64 {
        ratio(self.closure_kept, self.closure_pairs)
    }
    fn exact_rate(&self) -> f64 {
        ratio(self.exact, self.plans)
    }
    fn speedup_kept(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.plans.max(1) as f64;
        self.speedup_ratio_sum / n
    }
    fn add(&mut self, o: &Score) {
        self.plans += o.plans;
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.exact += o.exact;
        self.closure_pairs += o.closure_pairs;
        self.closure_kept += o.closure_kept;
        self.speedup_ratio_sum += o.speedup_ratio_sum;
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
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let style = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# style:"))
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| format!("{}: first line must be `# style: …`", path.display()))?;
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
            let file_name = path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Case {
                name,
                style,
                part: part_of(&file_name),
                gold_closure: ancestors(&gold),
                plan,
                gold,
                chain,
            })
        })
        .collect()
}

/// `anc[t][d]`: d is an ancestor of t.
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

fn score_case(case: &Case, predicted: &TaskGraph) -> Score {
    let mut s = Score {
        plans: 1,
        ..Score::default()
    };
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
    s.exact = usize::from(exact);
    let anc = ancestors(predicted);
    for (t, gold_row) in case.gold_closure.iter().enumerate() {
        for (d, &needed) in gold_row.iter().enumerate() {
            if needed {
                s.closure_pairs += 1;
                s.closure_kept += usize::from(anc[t][d]);
            }
        }
    }
    let gold_speedup = Analysis::new(&case.plan, &case.gold).speedup_unbounded();
    let pred_speedup = Analysis::new(&case.plan, predicted).speedup_unbounded();
    s.speedup_ratio_sum = pred_speedup / gold_speedup;
    s
}

fn diff(case: &Case, graph: &TaskGraph) -> String {
    let mut out = String::new();
    let title = |i: usize| case.plan.tasks[i].title.clone();
    for t in 0..case.gold.len() {
        let (gold, pred) = (case.gold.deps_of(t), graph.deps_of(t));
        for &d in gold.iter().filter(|d| !pred.contains(d)) {
            let _ = writeln!(out, "    missing  {:<44} <- {}", title(t), title(d));
        }
        for &d in pred.iter().filter(|d| !gold.contains(d)) {
            let _ = writeln!(out, "    extra    {:<44} <- {}", title(t), title(d));
        }
    }
    out
}

const STRATEGIES: [&str; 3] = ["heuristic", "chain", "independent"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // `--plans DIR` scores another directory of annotated plans (fresh plans nobody has
    // tuned on, or a user's own) as one part, without the corpus split.
    let external = match args.iter().position(|a| a == "--plans") {
        Some(k) => match args.get(k + 1).filter(|d| !d.starts_with("--")) {
            Some(dir) => Some(std::path::PathBuf::from(dir)),
            None => return Err("--plans needs a directory of plans".into()),
        },
        None => None,
    };
    let cases = load(external.as_deref().unwrap_or(&root.join("corpus/plans")))?;
    if cases.is_empty() {
        return Err("no plans (*.toml) to score".into());
    }
    let verbose = args.iter().any(|a| a == "--verbose");
    let show_check = args.windows(2).any(|w| w[0] == "--part" && w[1] == "check");
    if show_check && external.is_some() {
        return Err("--part check is the corpus's check part; --plans DIR has no parts".into());
    }
    let part_names: Vec<String> = match &external {
        Some(dir) => vec![dir.display().to_string()],
        None => vec!["development".into(), "check".into()],
    };
    let part_index = |c: &Case| usize::from(external.is_none() && c.part == Part::Check);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let block = |a: &dyn DependencyAnalyzer, p: &Plan| {
        rt.block_on(a.analyze(p))
            .expect("built-in strategies cannot fail")
    };
    let infer = |strategy: &str, p: &Plan| -> DependencyMap {
        match strategy {
            "heuristic" => block(&HeuristicAnalyzer, p),
            "chain" => block(&SequentialAnalyzer, p),
            _ => DependencyMap::new(p.len()),
        }
    };
    let mut styles: Vec<&str> = cases.iter().map(|c| c.style.as_str()).collect();
    styles.sort_unstable();
    styles.dedup();
    // "Plain chains" shows what the heuristic breaks where there is nothing to find.
    let mut subsets: Vec<String> = vec!["all".into(), "non-chain".into(), "plain chains".into()];
    subsets.extend(styles.iter().map(|s| format!("style: {s}")));
    // Plans by the heuristic's own confidence: is it low where the heuristic is wrong?
    let confident_subset = subsets.len();
    subsets.push(format!("heuristic confidence ≥ {LOW_CONFIDENCE:.2}"));
    subsets.push(format!("heuristic confidence < {LOW_CONFIDENCE:.2}"));

    // (part, subset, strategy) -> score
    let mut scores: BTreeMap<(usize, usize, usize), Score> = BTreeMap::new();
    let mut diffs = Vec::new();
    for case in &cases {
        let part = part_index(case);
        for (si, strategy) in STRATEGIES.iter().enumerate() {
            let map = infer(strategy, &case.plan);
            let graph = TaskGraph::new(&case.plan, map)
                .map_err(|e| format!("{}: {strategy}: {e}", case.name))?;
            let graph = TaskGraph::new(&case.plan, transitive_reduction(&graph))
                .map_err(|e| e.to_string())?;
            let one = score_case(case, &graph);
            if si == 0
                && verbose
                && (external.is_some() || (case.part == Part::Check) == show_check)
            {
                let d = diff(case, &graph);
                if !d.is_empty() {
                    diffs.push(format!("  {} [{}]\n{d}", case.name, case.style));
                }
            }
            let style_subset = 3 + styles.iter().position(|s| *s == case.style).unwrap_or(0);
            let by_confidence = confident_subset
                + usize::from(HeuristicAnalyzer.explain(&case.plan).confidence < LOW_CONFIDENCE);
            for subset in [
                Some(0),
                (!case.chain).then_some(1),
                case.chain.then_some(2),
                Some(style_subset),
                Some(by_confidence),
            ]
            .into_iter()
            .flatten()
            {
                scores.entry((part, subset, si)).or_default().add(&one);
            }
        }
    }

    let mut md = match &external {
        Some(dir) => format!("# Dependency inference on {}\n", dir.display()),
        None => String::from("# Dependency inference on the corpus\n"),
    };
    let mut json_rows = Vec::new();
    for (pi, part_name) in part_names.iter().enumerate() {
        let in_part: Vec<&Case> = cases.iter().filter(|c| part_index(c) == pi).collect();
        let chains = in_part.iter().filter(|c| c.chain).count();
        let _ = write!(
            md,
            "\n## {part_name}{}: {} plans ({chains} plain chains)\n\n\
             | subset | plans | strategy | precision | recall | F1 | closure recall | exact | speed-up kept |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|\n",
            if external.is_some() { "" } else { " part" },
            in_part.len()
        );
        for (subi, subset) in subsets.iter().enumerate() {
            for (si, strategy) in STRATEGIES.iter().enumerate() {
                let Some(s) = scores.get(&(pi, subi, si)) else {
                    continue;
                };
                let label = if si == 0 { subset.as_str() } else { "" };
                let plans = if si == 0 {
                    s.plans.to_string()
                } else {
                    String::new()
                };
                let _ = writeln!(
                    md,
                    "| {label} | {plans} | {strategy} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    s.precision(),
                    s.recall(),
                    s.f1(),
                    s.closure_recall(),
                    s.exact_rate(),
                    s.speedup_kept()
                );
                json_rows.push(serde_json::json!({
                    "part": part_name, "subset": subset, "strategy": strategy, "plans": s.plans,
                    "precision": s.precision(), "recall": s.recall(), "f1": s.f1(),
                    "closure_recall": s.closure_recall(), "exact_match": s.exact_rate(),
                    "speedup_kept": s.speedup_kept(),
                }));
            }
        }
    }
    // The bars that can be checked here.
    let f1 = |part: usize, subset: usize, strategy: usize| {
        scores.get(&(part, subset, strategy)).map_or(0.0, Score::f1)
    };
    let _ = writeln!(md, "\n## Bars\n");
    if part_names.len() == 2 {
        let gap = f1(0, 0, 0) - f1(1, 0, 0);
        let _ = writeln!(
            md,
            "* check part within 0.05 F1 of the development part: {:.3} vs {:.3} (gap {gap:+.3}) — {}",
            f1(1, 0, 0),
            f1(0, 0, 0),
            if gap.abs() <= 0.05 { "met" } else { "NOT met" }
        );
    }
    let mut below = Vec::new();
    for (pi, part_name) in part_names.iter().enumerate() {
        // Plain chains are the chain baseline's by construction: reported on their own.
        for (subi, subset) in subsets.iter().enumerate().filter(|(i, _)| *i != 2) {
            if scores.contains_key(&(pi, subi, 0)) && f1(pi, subi, 0) + 1e-9 < f1(pi, subi, 1) {
                below.push(format!("{subset} ({part_name})"));
            }
        }
    }
    let kept: Vec<String> = (0..part_names.len())
        .filter_map(|pi| {
            let s = scores.get(&(pi, 2, 0))?;
            Some(format!("{:.3} ({})", s.recall(), part_names[pi]))
        })
        .collect();
    if !kept.is_empty() {
        let _ = writeln!(
            md,
            "* do no harm: on plain chains the heuristic keeps this share of the edges: {}",
            kept.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "* heuristic ≥ chain baseline on every subset: {}",
        if below.is_empty() {
            "met".to_owned()
        } else {
            format!("NOT met on {}", below.join(", "))
        }
    );
    for (pi, part_name) in part_names.iter().enumerate() {
        let cr = scores.get(&(pi, 0, 0)).map_or(0.0, Score::closure_recall);
        let _ = writeln!(
            md,
            "* closure recall ≥ 0.90 ({part_name}): {cr:.3} — {}",
            if cr >= 0.90 { "met" } else { "NOT met" }
        );
    }
    print!("{md}");
    if verbose {
        println!(
            "\n## Heuristic vs gold, {}\n",
            match (&external, show_check) {
                (Some(_), _) => part_names[0].clone(),
                (None, true) => "check part".to_owned(),
                (None, false) => "development part".to_owned(),
            }
        );
        for d in &diffs {
            println!("{d}");
        }
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Another directory's scores do not overwrite the corpus report.
    let stem = if external.is_some() {
        "eval-plans"
    } else {
        "eval"
    };
    std::fs::write(dir.join(format!("{stem}.md")), &md).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "plans_dir": external.as_ref().map(|d| d.display().to_string()),
        "corpus_plans": cases.len(),
        "rows": json_rows,
    }))
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{stem}.json")), json).map_err(|e| e.to_string())?;
    println!("\nwrote target/bench/{stem}.md and target/bench/{stem}.json");
    Ok(())
}

//! The heuristic's graph for every corpus plan, as one snapshot: a change in any inferred
//! graph shows up in review. Also checks the corpus itself is well-formed.

use dagent_adapters::load_plan;
use dagent_analyzers::{FallbackChain, Strategy, validate_plan};
use std::fmt::Write as _;

#[tokio::test]
async fn heuristic_graphs_of_the_corpus() {
    let dir = crate::support::root().join("corpus/plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 60, "the corpus has at least 60 plans");
    let mut out = String::new();
    for path in &files {
        let loaded = load_plan(path, None).unwrap();
        validate_plan(&loaded.plan).unwrap();
        let n = loaded.plan.tasks.len();
        assert!((3..=15).contains(&n), "{}: {n} steps", path.display());
        assert!(
            loaded.plan.tasks.iter().all(|t| t.depends_on.is_some()),
            "every corpus task has gold deps"
        );
        let mut plan = loaded.plan.clone();
        for t in &mut plan.tasks {
            t.depends_on = None;
        }
        let res = FallbackChain::for_strategy(Strategy::Heuristic)
            .resolve(&plan)
            .await
            .unwrap();
        assert_eq!(res.strategy, "heuristic");
        let _ = writeln!(out, "{}", path.file_name().unwrap().to_string_lossy());
        for (i, t) in plan.tasks.iter().enumerate() {
            let deps: Vec<&str> = res
                .graph
                .deps_of(i)
                .iter()
                .map(|&d| plan.tasks[d].id.as_str())
                .collect();
            let _ = writeln!(out, "  {} <- [{}]", t.id, deps.join(", "));
        }
    }
    insta::assert_snapshot!("heuristic_corpus", out);
}

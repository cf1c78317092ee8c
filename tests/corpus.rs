//! The heuristic's graph for every plan of the corpus's development part, as one snapshot:
//! a change in any inferred graph shows up in review. The check part (see
//! `corpus/README.md`) is only checked for well-formedness here, so reviewing the snapshot
//! never means studying it. Also checks the corpus itself is well-formed.

use dagent_adapters::load_plan;
use dagent_analyzers::{FallbackChain, Strategy, validate_plan};
use std::fmt::Write as _;

/// The split rule of `corpus/README.md` (the same as `cargo xtask eval`): a plan is in the
/// check part when the FNV-1a-64 hash of its file name is divisible by 3.
fn in_check_part(file_name: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file_name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.is_multiple_of(3)
}

const STYLES: &[&str] = &[
    "research",
    "tool-pipeline",
    "api",
    "howto",
    "software",
    "terse",
];

#[tokio::test]
async fn heuristic_graphs_of_the_corpus() {
    let dir = crate::support::root().join("corpus/plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 150, "the corpus has at least 150 plans");
    let mut out = String::new();
    let mut check = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let style = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# style: "))
            .unwrap_or_else(|| panic!("{name}: the first line names the style"));
        assert!(STYLES.contains(&style), "{name}: unknown style {style}");
        let loaded = load_plan(path, None).unwrap();
        validate_plan(&loaded.plan).unwrap();
        let n = loaded.plan.tasks.len();
        assert!((2..=15).contains(&n), "{}: {n} steps", path.display());
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
        if in_check_part(&name) {
            check += 1;
            continue;
        }
        let _ = writeln!(out, "{name} [{style}]");
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
    assert!(
        (files.len() / 4..=files.len() / 2).contains(&check),
        "about a third of the corpus is the check part ({check} of {})",
        files.len()
    );
    insta::assert_snapshot!("heuristic_corpus", out);
}

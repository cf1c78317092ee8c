//! `dagent analyze` through the real binary: snapshots of every example and error case.

use crate::support::{dagent, scratch};

/// Runs `dagent analyze` with `args` and snapshots exit status, stdout and stderr.
fn check(name: &str, args: &[&str]) {
    let mut full = vec!["analyze"];
    full.extend_from_slice(args);
    let out = dagent(&full);
    insta::with_settings!({ snapshot_suffix => name.to_owned(), prepend_module_to_snapshot => false, omit_expression => true, description => full.join(" ") }, {
        insta::assert_snapshot!("analyze", out.to_string());
    });
}

const EXAMPLES: &[&str] = &[
    "ten-cities.toml",
    "five-sectors.toml",
    "regional.toml",
    "data-pipeline.toml",
    "deerflow-ai-agents.json",
];

#[test]
fn examples_as_text_and_json() {
    for ex in EXAMPLES {
        let path = format!("examples/{ex}");
        let stem = ex.rsplit_once('.').map_or(*ex, |(s, _)| s);
        check(&format!("{stem}-text"), &[&path]);
        check(&format!("{stem}-json"), &[&path, "--format", "json"]);
    }
}

#[test]
fn examples_as_diagrams() {
    check(
        "ten-cities-dot",
        &["examples/ten-cities.toml", "--format", "dot"],
    );
    check(
        "five-sectors-mermaid",
        &["examples/five-sectors.toml", "--format", "mermaid"],
    );
}

#[test]
fn strategies_and_concurrency() {
    check(
        "ten-cities-sequential",
        &["examples/ten-cities.toml", "--strategy", "sequential"],
    );
    check("ten-cities-k3", &["examples/ten-cities.toml", "-k", "3"]);
    check(
        "regional-heuristic",
        &["examples/regional.toml", "--strategy", "heuristic"],
    );
    check(
        "data-pipeline-explicit",
        &["examples/data-pipeline.toml", "--strategy", "explicit"],
    );
    check(
        "ten-cities-llm-without-provider",
        &["examples/ten-cities.toml", "--strategy", "llm"],
    );
}

#[test]
fn explain_as_text_and_json() {
    check(
        "ten-cities-explain",
        &["examples/ten-cities.toml", "--explain"],
    );
    check(
        "five-sectors-explain-json",
        &[
            "examples/five-sectors.toml",
            "--explain",
            "--format",
            "json",
        ],
    );
    check(
        "data-pipeline-explicit-explain",
        &[
            "examples/data-pipeline.toml",
            "--strategy",
            "explicit",
            "--explain",
        ],
    );
    check(
        "tool-pipeline-explain",
        &["tests/fixtures/explain/tool-pipeline.toml", "--explain"],
    );
    check(
        "tool-pipeline-explain-json",
        &[
            "tests/fixtures/explain/tool-pipeline.toml",
            "--explain",
            "--format",
            "json",
        ],
    );
}

#[test]
fn error_cases() {
    for (name, file) in [
        ("syntax-toml", "syntax.toml"),
        ("syntax-json", "syntax.json"),
        ("wrong-type", "wrong-type.toml"),
        ("unknown-field", "unknown-field.toml"),
        ("missing-id", "missing-id.toml"),
        ("empty-plan", "empty.toml"),
        ("empty-id", "empty-id.json"),
        ("duplicate-id", "duplicate.toml"),
        ("unknown-dependency", "unknown-dep.toml"),
        ("self-dependency", "self-dep.json"),
        ("cycle", "cycle.toml"),
        ("bad-estimate", "bad-estimate.toml"),
        ("deerflow-wrong-type", "deerflow-wrong-type.json"),
        ("not-utf8", "not-utf8.toml"),
        ("unknown-extension", "unknown-ext.yaml"),
        ("missing-file", "does-not-exist.toml"),
        ("control-chars", "control-chars.toml"),
    ] {
        check(
            &format!("error-{name}"),
            &[&format!("tests/fixtures/bad/{file}")],
        );
    }
    check("error-directory", &["tests/fixtures"]);
    check(
        "error-bad-strategy",
        &["examples/ten-cities.toml", "--strategy", "magic"],
    );
    check("error-bad-k", &["examples/ten-cities.toml", "-k", "0"]);
}

#[test]
fn every_error_exits_2_with_one_error_line_and_no_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let out = dagent(&["analyze", path.to_str().unwrap()]);
        assert_eq!(out.status, 2, "{}: {out:?}", path.display());
        assert!(
            out.stdout.is_empty(),
            "{}: printed to stdout",
            path.display()
        );
        assert!(
            out.stderr.starts_with("error: "),
            "{}: {}",
            path.display(),
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{}: {}",
            path.display(),
            out.stderr
        );
        assert!(
            out.stderr.contains(path.to_str().unwrap()),
            "error names the file: {}",
            out.stderr
        );
    }
}

#[test]
fn input_format_flag_overrides_extension() {
    let dir = scratch("input-format");
    let plan = dir.join("plan.txt");
    std::fs::copy("../examples/ten-cities.toml", &plan).unwrap();
    let out = dagent(&[
        "analyze",
        plan.to_str().unwrap(),
        "--input-format",
        "toml",
        "--format",
        "json",
    ]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["plan"]["task_count"], 12);
    let wrong = dagent(&["analyze", plan.to_str().unwrap(), "--input-format", "json"]);
    assert_eq!(wrong.status, 2);
    assert!(wrong.stderr.contains(":1:1:"), "{}", wrong.stderr);
}

#[test]
fn json_output_is_consistent_with_the_graph() {
    let out = dagent(&[
        "analyze",
        "examples/five-sectors.toml",
        "--format",
        "json",
        "-k",
        "4",
    ]);
    assert_eq!(out.status, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["strategy"]["used"], "heuristic");
    let tasks = v["tasks"].as_array().unwrap();
    let level_of = |id: &str| {
        tasks.iter().find(|t| t["id"] == id).unwrap()["level"]
            .as_u64()
            .unwrap()
    };
    for t in tasks {
        for d in t["depends_on"].as_array().unwrap() {
            assert!(level_of(d.as_str().unwrap()) < t["level"].as_u64().unwrap());
        }
    }
    let total: u64 = tasks
        .iter()
        .map(|t| t["estimate_ms"].as_u64().unwrap())
        .sum();
    assert_eq!(v["total_work"].as_u64().unwrap(), total);
    let bound = v["speedup"]["makespan_lower_bound"].as_u64().unwrap();
    assert_eq!(
        bound,
        v["critical_path"]["length"]
            .as_u64()
            .unwrap()
            .max(total.div_ceil(4))
    );
}

#[test]
fn annotate_writes_back_and_re_reads_as_explicit() {
    let dir = scratch("annotate");
    for (example, out_name) in [
        ("examples/ten-cities.toml", "cities.toml"),
        ("examples/deerflow-ai-agents.json", "deerflow.json"),
    ] {
        let out_path = dir.join(out_name);
        let first = dagent(&[
            "analyze",
            example,
            "--format",
            "json",
            "--annotate",
            out_path.to_str().unwrap(),
        ]);
        assert_eq!(first.status, 0, "{}", first.stderr);
        let again = dagent(&["analyze", out_path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(again.status, 0, "{}", again.stderr);
        let a: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
        let b: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
        assert_eq!(b["strategy"]["used"], "explicit", "{example}");
        assert_eq!(
            a["tasks"], b["tasks"],
            "{example}: same graph after write-back"
        );
    }
    let toml_text = std::fs::read_to_string(dir.join("cities.toml")).unwrap();
    assert!(
        toml_text.contains("# The spec's first pattern"),
        "comments preserved"
    );
    assert!(
        toml_text.contains("depends_on = [\"patterns\"]"),
        "{toml_text}"
    );
    let df: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("deerflow.json")).unwrap()).unwrap();
    assert_eq!(df["locale"], "en-US", "other fields preserved");
    assert_eq!(
        df["steps"][4]["dependencies"],
        serde_json::json!(["step-4"])
    );
    assert_eq!(df["steps"][0]["need_search"], true);
}

#[test]
fn help_teaches() {
    let out = dagent(&["analyze", "--help"]);
    assert_eq!(out.status, 0);
    for needle in [
        "--strategy",
        "--format",
        "--annotate",
        "--max-concurrent",
        "dagent analyze examples/ten-cities.toml",
    ] {
        assert!(
            out.stdout.contains(needle),
            "help lacks {needle}:\n{}",
            out.stdout
        );
    }
    let top = dagent(&["--help"]);
    assert!(top.stdout.contains("analyze"));
    let bad = dagent(&["analyse-this"]);
    assert_eq!(bad.status, 2);
}

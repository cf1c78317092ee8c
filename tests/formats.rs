//! Plan formats through the public dagent-adapters API.

use dagent_adapters::{PlanErrorKind, PlanFormat, annotate, parse_plan};
use dagent_analyzers::{FallbackChain, Strategy, validate_plan};
use dagent_core::{FailureKind, TaskKind};

fn resolve(plan: &dagent_core::Plan) -> dagent_analyzers::Resolution {
    let chain = FallbackChain::for_strategy(Strategy::Auto);
    let mut fut = std::pin::pin!(chain.resolve(plan));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.unwrap(),
        std::task::Poll::Pending => panic!("built-in strategies complete immediately"),
    }
}

#[test]
fn native_toml_and_json_read_the_same_plan() {
    let toml = r#"
title = "T"
[[tasks]]
id = "a"
title = "Research A"
kind = "research"
role = "researcher"
estimate = { duration = "1m30s", tokens = 1200 }
simulate = { fail = "transient", times = 2 }

[[tasks]]
id = "b"
depends_on = ["a"]
estimate = 12
model = "openrouter/some-model"
"#;
    let json = r#"{"title":"T","tasks":[
      {"id":"a","title":"Research A","kind":"research","role":"researcher",
       "estimate":{"duration":"1m30s","tokens":1200},"simulate":{"fail":"transient","times":2}},
      {"id":"b","depends_on":["a"],"estimate":12,"model":"openrouter/some-model"}]}"#;
    let a = parse_plan(toml.into(), PlanFormat::Toml, "p.toml").unwrap();
    let b = parse_plan(json.into(), PlanFormat::Json, "p.json").unwrap();
    assert_eq!(a.plan, b.plan);
    let t = &a.plan.tasks[0];
    assert_eq!(t.kind, TaskKind::Research);
    assert_eq!(t.estimate.unwrap().duration.as_secs(), 90);
    assert_eq!(t.estimate.unwrap().tokens, Some(1200));
    assert_eq!(t.simulate.unwrap().fail, FailureKind::Transient);
    assert_eq!(a.plan.tasks[1].title, "b", "title defaults to the id");
    assert_eq!(
        a.plan.tasks[1].model.as_deref(),
        Some("openrouter/some-model")
    );
    // Spans point at ids in both formats.
    let span = a.spans.task_span(1).unwrap();
    assert_eq!(&toml[span], "\"b\"");
    let span = b.spans.task_span(1).unwrap();
    assert_eq!(&json[span], "\"b\"");
}

#[test]
fn deerflow_plans_are_read_as_deerflow_writes_them() {
    let text = r#"{
  "locale": "en-US", "has_enough_context": false, "thought": "t", "title": "Plan",
  "steps": [
    {"need_web_search": true, "title": "Research X", "description": "find X", "step_type": "research", "execution_res": null},
    {"need_search": false, "title": "Process X", "description": "process the data", "step_type": "processing"},
    {"need_search": false, "title": "Analyse", "description": "analyse", "step_type": "analysis", "dependencies": ["step-2", 1]}
  ]}"#;
    let loaded = parse_plan(text.into(), PlanFormat::DeerFlow, "df.json").unwrap();
    let ids: Vec<&str> = loaded.plan.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["step-1", "step-2", "step-3"]);
    assert_eq!(loaded.plan.tasks[1].kind, TaskKind::Processing);
    assert_eq!(loaded.plan.tasks[1].role.as_deref(), Some("coder"));
    let deps: Vec<&str> = loaded.plan.tasks[2]
        .depends_on
        .as_ref()
        .unwrap()
        .iter()
        .map(|d| d.as_str())
        .collect();
    assert_eq!(deps, ["step-2", "step-1"]);
    validate_plan(&loaded.plan).unwrap();
}

#[test]
fn annotate_toml_preserves_comments_and_replaces_existing_dependencies() {
    let text = "# header comment\ntitle = \"T\"\n\n[[tasks]]\nid = \"a\" # the first\nkind = \"research\"\n\n[[tasks]]\nid = \"b\"\ntitle = \"Analyze a\"\nkind = \"analysis\"\n";
    let loaded = parse_plan(text.into(), PlanFormat::Toml, "t.toml").unwrap();
    let res = resolve(&loaded.plan);
    assert_eq!(res.strategy, "heuristic");
    let out = annotate(&loaded, res.graph.deps()).unwrap();
    assert!(out.starts_with("# header comment\n"));
    assert!(out.contains("id = \"a\" # the first"));
    let again = parse_plan(out, PlanFormat::Toml, "t.toml").unwrap();
    assert_eq!(
        again.plan.tasks[1].depends_on.as_ref().unwrap()[0].as_str(),
        "a"
    );
    assert_eq!(again.plan.tasks[0].depends_on.as_deref(), Some(&[][..]));
}

#[test]
fn errors_carry_kind_and_location() {
    type Case = (
        &'static str,
        PlanFormat,
        PlanErrorKind,
        Option<(usize, usize)>,
    );
    let cases: &[Case] = &[
        (
            "[[tasks]]\nid = 3\n",
            PlanFormat::Toml,
            PlanErrorKind::Schema,
            Some((2, 6)),
        ),
        (
            "[[tasks]]\nid = \"a\"\nbogus = 1\n",
            PlanFormat::Toml,
            PlanErrorKind::Schema,
            Some((3, 1)),
        ),
        (
            "{\"tasks\": [{\"id\": \"a\",}]}",
            PlanFormat::Json,
            PlanErrorKind::Syntax,
            Some((1, 23)),
        ),
        (
            "{\"tasks\": []}",
            PlanFormat::Json,
            PlanErrorKind::Empty,
            None,
        ),
        (
            "{\"steps\": [{\"title\": 1}]}",
            PlanFormat::DeerFlow,
            PlanErrorKind::Schema,
            Some((1, 22)),
        ),
        (
            "[[tasks]]\nid = \"a\"\nestimate = \"-3s\"\n",
            PlanFormat::Toml,
            PlanErrorKind::Schema,
            Some((3, 12)),
        ),
        (
            "[[tasks]]\nid = \"a\"\nsimulate = { fail = \"sometimes\" }\n",
            PlanFormat::Toml,
            PlanErrorKind::Schema,
            Some((3, 21)),
        ),
    ];
    for (text, format, kind, loc) in cases {
        let err = parse_plan((*text).to_owned(), *format, "x").unwrap_err();
        assert_eq!(err.kind(), *kind, "{text}: {err}");
        assert_eq!(
            err.location().map(|l| (l.line, l.column)),
            *loc,
            "{text}: {err}"
        );
    }
}

#[test]
fn a_huge_unknown_id_gets_no_suggestion_and_a_short_message() {
    // The suggestion used to compare every id with an unbounded edit distance: 100 KB took
    // 15 s and 10 MB never finished.
    let huge = "x".repeat(10 * 1024 * 1024);
    let mut report = dagent_core::Task::new("report", "Report");
    report.depends_on = Some(vec![dagent_core::TaskId::new(huge.as_str())]);
    let plan = dagent_core::Plan {
        title: None,
        loops: Vec::new(),
        tasks: vec![
            dagent_core::Task::new(&huge[1..], "Almost the same id"),
            dagent_core::Task::new("xx", "Short"),
            report,
        ],
    };
    let err = validate_plan(&plan).unwrap_err();
    match err.kind() {
        dagent_analyzers::GraphErrorKind::UnknownDependency {
            task,
            dependency,
            suggestion,
            ..
        } => {
            assert_eq!(*task, 2);
            assert_eq!(
                dependency.as_str().len(),
                huge.len(),
                "the kind keeps the exact id"
            );
            assert_eq!(*suggestion, None);
        }
        other => panic!("expected an unknown dependency, got {other:?}"),
    }
    assert!(err.message().len() < 400, "{}", err.message());
    assert!(err.message().contains('…'), "{}", err.message());
    // Close, short ids still get their suggestion.
    let mut b = dagent_core::Task::new("b", "B");
    b.depends_on = Some(vec![dagent_core::TaskId::new("tokio")]);
    let plan = dagent_core::Plan {
        title: None,
        loops: Vec::new(),
        tasks: vec![dagent_core::Task::new("tokyo", "Tokyo"), b],
    };
    let err = validate_plan(&plan).unwrap_err();
    assert!(
        err.message().contains("did you mean \"tokyo\"?"),
        "{}",
        err.message()
    );
}

#[test]
fn json_ids_written_with_unicode_escapes_are_located_in_one_pass() {
    // 50,000 tasks whose ids are written entirely as \u escapes: the span finder used to
    // search the whole rest of the text for each id (quadratic; 20,000 tasks took 20 s).
    const N: usize = 50_000;
    let esc = |s: &str| -> String { s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect() };
    let mut text = String::from("{\"tasks\": [\n");
    for i in 0..N {
        let deps = if i + 1 == N {
            // The last task names an unknown id; its error must point at its own line.
            format!(", \"depends_on\": [\"{}\"]", esc("nowhere"))
        } else if i > 0 {
            format!(
                ", \"depends_on\": [\"{}\"]",
                esc(&format!("task-{}", i - 1))
            )
        } else {
            String::new()
        };
        let sep = if i + 1 == N { "" } else { "," };
        text.push_str(&format!(
            "  {{\"id\": \"{}\", \"title\": \"T\"{deps}}}{sep}\n",
            esc(&format!("task-{i}"))
        ));
    }
    text.push_str("]}\n");
    let loaded = parse_plan(text.clone(), PlanFormat::Json, "big.json").unwrap();
    assert_eq!(loaded.plan.tasks.len(), N);
    assert_eq!(
        loaded.plan.tasks[N - 1].id.as_str(),
        format!("task-{}", N - 1)
    );
    let last = loaded.spans.task_span(N - 1).unwrap();
    assert_eq!(
        &text[last],
        format!("\"{}\"", esc(&format!("task-{}", N - 1)))
    );
    let err = validate_plan(&loaded.plan).unwrap_err();
    let (task, entry) = err.primary_task().unwrap();
    assert_eq!(task, N - 1);
    let located =
        loaded.error_at_task(PlanErrorKind::UnknownDependency, task, entry, err.message());
    let loc = located.location().unwrap();
    assert_eq!((loc.line, loc.column), (N + 1, 10), "{located}");
}

#[test]
fn every_truncation_of_a_deerflow_plan_reports_the_real_problem() {
    // 14 of 15 truncations used to be read as native plans and fail on "unknown field
    // `locale`".
    let full =
        std::fs::read(crate::support::root().join("examples/deerflow-ai-agents.json")).unwrap();
    let end = full.iter().rposition(|&b| b == b'}').unwrap();
    let mut checked = 0;
    for cut in 0..=end {
        let Ok(text) = std::str::from_utf8(&full[..cut]) else {
            continue; // cut inside a character: an encoding error (covered in tests/hostile.rs)
        };
        let format = PlanFormat::detect(std::path::Path::new("df.json"), text).unwrap();
        let err = parse_plan(text.to_owned(), format, "df.json").unwrap_err();
        assert!(!err.message().contains("locale"), "cut at {cut}: {err}");
        assert!(err.location().is_some(), "cut at {cut}: {err}");
        if cut > 40 {
            assert_eq!(format, PlanFormat::DeerFlow, "cut at {cut}");
            assert!(
                err.message().contains("EOF") || err.message().contains("missing field"),
                "cut at {cut}: {err}"
            );
        }
        checked += 1;
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn oversized_and_special_files_are_refused() {
    use dagent_adapters::{LoadOptions, load_plan_with, read_input};
    let dir = crate::support::scratch("size-cap");
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, "[[tasks]]\nid = \"a\"\n".repeat(10)).unwrap();
    let err = load_plan_with(&plan, LoadOptions::default().max_bytes(64)).unwrap_err();
    assert_eq!(err.kind(), PlanErrorKind::TooLarge);
    assert!(err.to_string().contains("plan.toml"), "{err}");
    assert!(err.to_string().contains("64 bytes limit"), "{err}");
    assert!(load_plan_with(&plan, LoadOptions::default().max_bytes(1000)).is_ok());
    assert_eq!(
        read_input(&plan, 10).unwrap_err().kind(),
        PlanErrorKind::TooLarge
    );
    assert_eq!(read_input(&plan, 1000).unwrap().len(), 190);
    let zero = read_input(std::path::Path::new("/dev/zero"), 1000).unwrap_err();
    assert_eq!(zero.kind(), PlanErrorKind::Io);
    assert!(
        zero.to_string()
            .contains("/dev/zero: is not a regular file"),
        "{zero}"
    );
}

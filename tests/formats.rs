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

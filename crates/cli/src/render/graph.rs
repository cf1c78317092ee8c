//! Graphviz DOT and Mermaid flowcharts; the critical path is highlighted.

use std::fmt::Write as _;

use dagent_core::display::{escape, escape_lines};

use super::View;

fn label(v: &View<'_>, i: usize) -> String {
    let title = escape(&v.loaded.plan.tasks[i].title);
    if v.analysis.weights.by_estimate {
        format!("{title}\n{}", v.weight(v.analysis.weights.values[i]))
    } else {
        title.into_owned()
    }
}

fn on_path(v: &View<'_>) -> Vec<bool> {
    let mut on = vec![false; v.loaded.plan.tasks.len()];
    for &t in &v.analysis.critical_path.tasks {
        on[t] = true;
    }
    on
}

fn critical_edge(v: &View<'_>, on: &[bool], from: usize, to: usize) -> bool {
    on[from] && on[to] && {
        let p = &v.analysis.critical_path.tasks;
        p.windows(2).any(|w| w[0] == from && w[1] == to)
    }
}

pub(crate) fn dot(v: &View<'_>) -> String {
    let esc = |s: &str| {
        escape_lines(s)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let on = on_path(v);
    let mut out = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
    );
    if let Some(title) = &v.loaded.plan.title {
        let _ = writeln!(out, "  label=\"{}\";\n  labelloc=t;", esc(&escape(title)));
    }
    for (i, &critical) in on.iter().enumerate() {
        let bold = if critical {
            ", penwidth=2, color=\"#c0392b\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\"{bold}];",
            esc(&v.shown_id(i)),
            esc(&label(v, i))
        );
    }
    for i in 0..v.loaded.plan.tasks.len() {
        for &d in v.resolution.graph.deps_of(i) {
            let style = if critical_edge(v, &on, d, i) {
                " [penwidth=2, color=\"#c0392b\"]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\"{style};",
                esc(&v.shown_id(d)),
                esc(&v.shown_id(i))
            );
        }
    }
    out.push_str("}\n");
    out
}

pub(crate) fn mermaid(v: &View<'_>) -> String {
    let esc = |s: &str| {
        escape_lines(s)
            .replace('"', "#quot;")
            .replace('\n', "<br/>")
    };
    let on = on_path(v);
    let mut out = String::from("flowchart LR\n");
    for i in 0..v.loaded.plan.tasks.len() {
        let _ = writeln!(out, "  t{i}[\"{}\"]", esc(&label(v, i)));
    }
    let mut edge_no = 0usize;
    let mut critical_edges = Vec::new();
    for i in 0..v.loaded.plan.tasks.len() {
        for &d in v.resolution.graph.deps_of(i) {
            let _ = writeln!(out, "  t{d} --> t{i}");
            if critical_edge(v, &on, d, i) {
                critical_edges.push(edge_no.to_string());
            }
            edge_no += 1;
        }
    }
    let path: Vec<String> = v
        .analysis
        .critical_path
        .tasks
        .iter()
        .map(|t| format!("t{t}"))
        .collect();
    if !path.is_empty() {
        let _ = writeln!(out, "  classDef critical stroke:#c0392b,stroke-width:2px");
        let _ = writeln!(out, "  class {} critical", path.join(","));
    }
    if !critical_edges.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#c0392b,stroke-width:2px",
            critical_edges.join(",")
        );
    }
    out
}

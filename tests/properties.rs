//! Property tests over random plans: the validator never panics, levels respect edges,
//! transitive reduction keeps reachability, the critical path is the longest path, and
//! heuristic inference always yields a valid DAG.

use std::time::Duration;

use dagent_analyzers::{
    Analysis, GraphErrorKind, HeuristicAnalyzer, TaskGraph, transitive_reduction, validate_plan,
};
use dagent_core::{DependencyAnalyzer, DependencyMap, Plan, Task, TaskKind};
use proptest::prelude::*;

fn plan_strategy() -> impl Strategy<Value = Plan> {
    (1usize..24)
        .prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(proptest::collection::vec(0..n, 0..4), n),
                proptest::collection::vec(proptest::option::of(1u64..500), n),
            )
        })
        .prop_map(|(n, deps, est)| {
            let tasks = (0..n)
                .map(|i| {
                    let mut t = Task::new(format!("t{i}"), format!("Task {i}"))
                        .with_deps(deps[i].iter().map(|d| format!("t{d}")));
                    if let Some(ms) = est[i] {
                        t = t.with_estimate(Duration::from_millis(ms));
                    }
                    t
                })
                .collect();
            Plan::new(tasks)
        })
}

/// Acyclic plans: dependencies only on earlier tasks (then shuffled ids are not needed).
fn dag_strategy() -> impl Strategy<Value = Plan> {
    plan_strategy().prop_map(|mut plan| {
        for (i, t) in plan.tasks.iter_mut().enumerate() {
            let deps: Vec<String> = t
                .depends_on
                .take()
                .unwrap_or_default()
                .iter()
                .filter_map(|d| d.as_str()[1..].parse::<usize>().ok())
                .filter(|&d| d < i)
                .map(|d| format!("t{d}"))
                .collect();
            t.depends_on = Some(deps.into_iter().map(Into::into).collect());
        }
        plan
    })
}

fn graph_of(plan: &Plan) -> TaskGraph {
    let index = validate_plan(plan).expect("valid");
    TaskGraph::new(plan, index.explicit_map(plan).unwrap()).unwrap()
}

fn reachability(deps: &DependencyMap) -> Vec<Vec<bool>> {
    let n = deps.len();
    (0..n)
        .map(|start| {
            let mut seen = vec![false; n];
            let mut stack: Vec<usize> = deps.deps_of(start).to_vec();
            while let Some(v) = stack.pop() {
                if !seen[v] {
                    seen[v] = true;
                    stack.extend_from_slice(deps.deps_of(v));
                }
            }
            seen
        })
        .collect()
}

fn brute_longest(deps: &DependencyMap, weights: &[u64]) -> u64 {
    fn best(v: usize, deps: &DependencyMap, w: &[u64], memo: &mut Vec<Option<u64>>) -> u64 {
        if let Some(x) = memo[v] {
            return x;
        }
        let x = w[v]
            + deps
                .deps_of(v)
                .iter()
                .map(|&d| best(d, deps, w, memo))
                .max()
                .unwrap_or(0);
        memo[v] = Some(x);
        x
    }
    let mut memo = vec![None; deps.len()];
    (0..deps.len())
        .map(|v| best(v, deps, weights, &mut memo))
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validator_never_panics_and_names_real_cycles(plan in plan_strategy()) {
        match validate_plan(&plan) {
            Ok(index) => {
                let graph = TaskGraph::new(&plan, index.explicit_map(&plan).unwrap());
                prop_assert!(graph.is_ok());
            }
            Err(e) => {
                prop_assert!(!e.message().is_empty());
                if let GraphErrorKind::Cycle { cycle } = e.kind() {
                    prop_assert!(cycle.len() >= 2);
                    for (i, &t) in cycle.iter().enumerate() {
                        let next = cycle[(i + 1) % cycle.len()];
                        let declared = plan.tasks[t].depends_on.as_ref().unwrap();
                        prop_assert!(declared.contains(&plan.tasks[next].id), "{} does not depend on {}", t, next);
                        prop_assert!(e.message().contains(plan.tasks[t].id.as_str()));
                    }
                }
            }
        }
    }

    #[test]
    fn levels_respect_every_edge(plan in dag_strategy()) {
        let graph = graph_of(&plan);
        let levels = graph.levels();
        prop_assert_eq!(levels.iter().map(Vec::len).sum::<usize>(), plan.len());
        for (t, deps) in graph.deps().iter() {
            for &d in deps {
                prop_assert!(graph.level_of(d) < graph.level_of(t));
            }
            if !deps.is_empty() {
                prop_assert_eq!(graph.level_of(t), 1 + deps.iter().map(|&d| graph.level_of(d)).max().unwrap());
            }
        }
    }

    #[test]
    fn transitive_reduction_keeps_reachability_and_is_minimal(plan in dag_strategy()) {
        let graph = graph_of(&plan);
        let reduced = transitive_reduction(&graph);
        let before = reachability(graph.deps());
        prop_assert_eq!(&reachability(&reduced), &before);
        for (t, deps) in reduced.iter() {
            for &d in deps {
                let mut without = reduced.clone();
                without.set(t, deps.iter().copied().filter(|&x| x != d).collect());
                prop_assert!(!reachability(&without)[t][d], "edge {}->{} is implied", d, t);
            }
        }
    }

    #[test]
    fn critical_path_is_the_longest_path(plan in dag_strategy()) {
        let graph = graph_of(&plan);
        let analysis = Analysis::new(&plan, &graph);
        let path = &analysis.critical_path.tasks;
        prop_assert!(!path.is_empty());
        for w in path.windows(2) {
            prop_assert!(graph.deps_of(w[1]).contains(&w[0]), "path must follow edges");
        }
        let sum: u64 = path.iter().map(|&t| analysis.weights.values[t]).sum();
        prop_assert_eq!(sum, analysis.critical_path.length);
        prop_assert_eq!(analysis.critical_path.length, brute_longest(graph.deps(), &analysis.weights.values));
        prop_assert!(analysis.speedup_at(3) <= analysis.speedup_unbounded() + 1e-9);
        prop_assert!(analysis.speedup_at(3) <= 3.0 + 1e-9);
    }

    #[test]
    fn heuristic_always_yields_a_valid_dag(
        titles in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                Just("research"), Just("analyze"), Just("all"), Just("then"), Just("finally"),
                Just("report"), Just("tokyo"), Just("paris"), Just("data"), Just("compare"),
                Just("the"), Just("based"), Just("on"), Just("findings"), Just("é"), Just(""),
                Just("a"), Just("it"), Just("meanwhile"), Just("get_weather"), Just("Speech-to-Text"),
                Just("photo.jpg"), Just("\"quoted\""), Just("/movie/{id}"), Just("."), Just("tips"),
                Just("Research"), Just("one"), Just("both"), Just("'s")
            ], 0..8),
            1..30),
        kinds in proptest::collection::vec(0u8..6, 30),
    ) {
        let tasks: Vec<Task> = titles.iter().enumerate().map(|(i, words)| {
            let kind = match kinds[i] { 0 => TaskKind::Research, 1 => TaskKind::Analysis, 2 => TaskKind::Processing, 3 => TaskKind::Report, 4 => TaskKind::Unspecified, _ => TaskKind::Other("x".into()) };
            Task::new(format!("s{i}"), words.join(" ")).with_kind(kind)
        }).collect();
        let plan = Plan::new(tasks);
        let fut = HeuristicAnalyzer.analyze(&plan);
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(map) = fut.as_mut().poll(&mut cx) else { panic!("pending") };
        let map = map.unwrap();
        for (t, deps) in map.iter() {
            prop_assert!(deps.iter().all(|&d| d < t));
        }
        // The explanation covers exactly the inferred edges.
        let inference = HeuristicAnalyzer.explain(&plan);
        let explained: Vec<(usize, usize)> = inference.edges.iter().map(|e| (e.from, e.to)).collect();
        let edges: Vec<(usize, usize)> = map.iter().flat_map(|(t, deps)| deps.iter().map(move |&d| (d, t))).collect();
        prop_assert_eq!(explained, edges);
        prop_assert!((0.0..=1.0).contains(&inference.confidence));
        prop_assert!(TaskGraph::new(&plan, map).is_ok());
    }
}

//! Review loops checked against the graph: [`LoopSet::new`] resolves a plan's `loops` to
//! task positions and refuses what could not run.
//!
//! A loop's body repeats as a unit, and a task outside it that depends on a body task waits
//! for the whole loop to end. So the body must be **closed**: no task outside it may both
//! depend on a body task and be depended on by one, directly or through other tasks (it
//! would have to run inside every iteration). More generally, with every loop contracted to
//! one node the graph must stay acyclic — two loops must not wait for each other. Both are
//! one O(V + E) pass (Kahn's algorithm over the contracted graph).

use std::collections::{HashMap, HashSet};

use dagent_core::display::quote;
use dagent_core::{MAX_ITERATIONS, Plan, TaskId, iteration_id};

use crate::{GraphError, GraphErrorKind, TaskGraph};

/// One loop resolved to positions. Every list is in plan order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopInfo {
    /// Position of the loop in [`Plan::loops`].
    pub index: usize,
    /// The loop's name.
    pub id: String,
    /// The body's tasks.
    pub body: Vec<usize>,
    /// The judges (a subset of the body).
    pub judges: Vec<usize>,
    /// The body's sources: body tasks that depend on no other body task. In every later
    /// iteration they also depend on all the judges of the one before.
    pub sources: Vec<usize>,
    /// Tasks outside the body that depend directly on a body task: they wait until the loop
    /// has ended and receive its last iteration's outputs.
    pub dependents: Vec<usize>,
    /// The verdict every judge must give.
    pub repeat_until: String,
    /// The most iterations.
    pub max_iterations: u32,
}

/// A plan's loops, validated against its graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopSet {
    loops: Vec<LoopInfo>,
    /// Per task: its loop and its index in that loop's body (empty when there are no loops).
    member: Vec<Option<(u32, u32)>>,
}

fn loop_error(index: usize, spec_id: &str, message: impl std::fmt::Display) -> GraphError {
    GraphError::new(
        GraphErrorKind::Loop { index },
        format!("loop {}: {message}", quote(spec_id)),
    )
}

fn names(plan: &Plan, tasks: &[usize]) -> String {
    let shown: Vec<String> = tasks
        .iter()
        .take(8)
        .map(|&t| quote(plan.tasks[t].id.as_str()))
        .collect();
    let more = tasks.len().saturating_sub(8);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl LoopSet {
    /// Resolves and checks `plan.loops` against `graph`.
    ///
    /// # Errors
    /// [`GraphErrorKind::Loop`], with a message naming the loop and the ids: an empty or
    /// repeated loop id, an empty body, an empty `repeat_until`, `max_iterations` outside
    /// 1..=[`MAX_ITERATIONS`], an unknown id, a task listed twice or in two loops, a task
    /// whose id a later iteration's copy would take (`code#2`), a judge
    /// outside the body, a task outside the body that both depends on it and is depended on
    /// by it (directly or not), or loops that wait for each other.
    ///
    /// # Panics
    /// If `graph` was built for a plan of a different size.
    pub fn new(plan: &Plan, graph: &TaskGraph) -> Result<Self, GraphError> {
        assert_eq!(
            plan.tasks.len(),
            graph.len(),
            "graph built for another plan"
        );
        if plan.loops.is_empty() {
            return Ok(Self::default());
        }
        let n = plan.tasks.len();
        let index: HashMap<&str, usize> = plan
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i))
            .collect();
        let mut member: Vec<Option<(u32, u32)>> = vec![None; n];
        let mut loops = Vec::with_capacity(plan.loops.len());
        let mut loop_ids: HashSet<&str> = HashSet::new();
        for (l, spec) in plan.loops.iter().enumerate() {
            let err = |m: String| loop_error(l, &spec.id, m);
            if spec.id.trim().is_empty() {
                return Err(GraphError::new(
                    GraphErrorKind::Loop { index: l },
                    format!("loop #{} has an empty id: every loop needs a name", l + 1),
                ));
            }
            if !loop_ids.insert(spec.id.as_str()) {
                return Err(err("another loop has the same id".into()));
            }
            if spec.tasks.is_empty() {
                return Err(err("its body (`tasks`) is empty".into()));
            }
            if spec.repeat_until.trim().is_empty() {
                return Err(err(
                    "`repeat_until` is empty: name the verdict that ends it, e.g. \"APPROVED\""
                        .into(),
                ));
            }
            if !(1..=MAX_ITERATIONS).contains(&spec.max_iterations) {
                return Err(err(format!(
                    "`max_iterations` is {}: it must be from 1 to {MAX_ITERATIONS}",
                    spec.max_iterations
                )));
            }
            let position = |id: &TaskId, field: &str| {
                index.get(id.as_str()).copied().ok_or_else(|| {
                    err(format!(
                        "{field} names {}, which is not a task of the plan",
                        quote(id.as_str())
                    ))
                })
            };
            let mut body = Vec::with_capacity(spec.tasks.len());
            for id in &spec.tasks {
                let t = position(id, "`tasks`")?;
                match member[t] {
                    Some((other, _)) if other as usize == l => {
                        return Err(err(format!("`tasks` lists {} twice", quote(id.as_str()))));
                    }
                    Some((other, _)) => {
                        return Err(err(format!(
                            "task {} is already in loop {}: a task belongs to one loop at most",
                            quote(id.as_str()),
                            quote(&plan.loops[other as usize].id)
                        )));
                    }
                    None => {}
                }
                member[t] = Some((u32::try_from(l).unwrap_or(u32::MAX), 0));
                body.push(t);
            }
            body.sort_unstable();
            for (b, &t) in body.iter().enumerate() {
                member[t] = Some((
                    u32::try_from(l).unwrap_or(u32::MAX),
                    u32::try_from(b).unwrap_or(u32::MAX),
                ));
            }
            // Later iterations take the ids `ID#2`, `ID#3`, …: no task of the plan may hold one.
            for &t in &body {
                for k in 2..=spec.max_iterations {
                    let copy = iteration_id(&plan.tasks[t].id, k);
                    if index.contains_key(copy.as_str()) {
                        return Err(err(format!(
                            "task {} has the id that iteration {k} of {} takes; rename it",
                            quote(copy.as_str()),
                            quote(plan.tasks[t].id.as_str())
                        )));
                    }
                }
            }
            let in_body = |t: usize| member[t].is_some_and(|(m, _)| m as usize == l);
            let judges = match &spec.judges {
                Some(list) => {
                    if list.is_empty() {
                        return Err(err(
                            "`judges` is empty: leave it out to use the body's last tasks".into(),
                        ));
                    }
                    let mut judges = Vec::with_capacity(list.len());
                    for id in list {
                        let t = position(id, "`judges`")?;
                        if !in_body(t) {
                            return Err(err(format!(
                                "judge {} is not in the body: judges are body tasks",
                                quote(id.as_str())
                            )));
                        }
                        if judges.contains(&t) {
                            return Err(err(format!(
                                "`judges` lists {} twice",
                                quote(id.as_str())
                            )));
                        }
                        judges.push(t);
                    }
                    judges.sort_unstable();
                    judges
                }
                None => body
                    .iter()
                    .copied()
                    .filter(|&t| !graph.dependents_of(t).iter().any(|&w| in_body(w)))
                    .collect(),
            };
            let sources = body
                .iter()
                .copied()
                .filter(|&t| !graph.deps_of(t).iter().any(|&d| in_body(d)))
                .collect();
            let mut dependents: Vec<usize> = body
                .iter()
                .flat_map(|&t| graph.dependents_of(t).iter().copied())
                .filter(|&w| !in_body(w))
                .collect();
            dependents.sort_unstable();
            dependents.dedup();
            loops.push(LoopInfo {
                index: l,
                id: spec.id.clone(),
                body,
                judges,
                sources,
                dependents,
                repeat_until: spec.repeat_until.trim().to_owned(),
                max_iterations: spec.max_iterations,
            });
        }
        let set = Self { loops, member };
        set.check_contracted(plan, graph)?;
        Ok(set)
    }

    /// Kahn's algorithm over the graph with each loop contracted to one node: a cycle there
    /// is an outside task between two body tasks, or two loops waiting for each other.
    fn check_contracted(&self, plan: &Plan, graph: &TaskGraph) -> Result<(), GraphError> {
        let n = plan.tasks.len();
        let node = |t: usize| self.member[t].map_or(t, |(l, _)| n + l as usize);
        let total = n + self.loops.len();
        let mut indegree = vec![0usize; total];
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); total];
        for t in 0..n {
            for &d in graph.deps_of(t) {
                let (a, b) = (node(d), node(t));
                if a != b {
                    edges[a].push(b);
                    indegree[b] += 1;
                }
            }
        }
        // Nodes that stand for nothing (a body task's own node) are simply never reached.
        let mut queue: Vec<usize> = (0..total).filter(|&v| indegree[v] == 0).collect();
        let mut seen = 0;
        while let Some(v) = queue.pop() {
            seen += 1;
            for &w in &edges[v] {
                indegree[w] -= 1;
                if indegree[w] == 0 {
                    queue.push(w);
                }
            }
        }
        if seen == total {
            return Ok(());
        }
        // Walk back through nodes left over (each has a predecessor left over) to a cycle.
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); total];
        for (a, list) in edges.iter().enumerate() {
            if indegree[a] == 0 {
                continue;
            }
            for &b in list {
                if indegree[b] > 0 {
                    preds[b].push(a);
                }
            }
        }
        let start = (0..total).find(|&v| indegree[v] > 0).unwrap_or(0);
        let mut order = vec![start];
        let mut on: HashMap<usize, usize> = HashMap::from([(start, 0)]);
        let mut v = start;
        let cycle = loop {
            let Some(&p) = preds[v].first() else {
                break order.clone();
            };
            if let Some(&at) = on.get(&p) {
                break order[at..].to_vec();
            }
            on.insert(p, order.len());
            order.push(p);
            v = p;
        };
        let mut loop_nodes: Vec<usize> =
            cycle.iter().filter(|&&v| v >= n).map(|&v| v - n).collect();
        let mut outside: Vec<usize> = cycle.iter().copied().filter(|&v| v < n).collect();
        loop_nodes.sort_unstable();
        outside.sort_unstable();
        let first = loop_nodes.first().copied().unwrap_or(0);
        let info = &self.loops[first];
        if loop_nodes.len() <= 1 {
            // Name every such task, not only those on the cycle found: the tasks left over
            // that the loop reaches and that reach the loop.
            let reach = |next: &Vec<Vec<usize>>| {
                let mut seen = vec![false; total];
                let mut stack = vec![n + first];
                while let Some(v) = stack.pop() {
                    for &w in &next[v] {
                        if indegree[w] > 0 && !seen[w] {
                            seen[w] = true;
                            stack.push(w);
                        }
                    }
                }
                seen
            };
            let (down, up) = (reach(&edges), reach(&preds));
            outside = (0..n).filter(|&v| down[v] && up[v]).collect();
            return Err(loop_error(
                info.index,
                &info.id,
                format!(
                    "its body is not closed: {} outside the body both depend{} on a body task and {} depended on by one, so {} would have to run inside every iteration; add {} to `tasks` or remove the dependency",
                    names(plan, &outside),
                    if outside.len() == 1 { "s" } else { "" },
                    if outside.len() == 1 { "is" } else { "are" },
                    if outside.len() == 1 { "it" } else { "they" },
                    if outside.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
        let loops: Vec<String> = loop_nodes
            .iter()
            .map(|&l| quote(&self.loops[l].id))
            .collect();
        Err(loop_error(
            info.index,
            &info.id,
            format!(
                "loops {} wait for each other{}: a task that depends on a loop waits until it ends, so none could end",
                loops.join(" and "),
                if outside.is_empty() {
                    String::new()
                } else {
                    format!(" through {}", names(plan, &outside))
                }
            ),
        ))
    }

    /// Whether the plan has no loops.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// The loops, in plan order.
    #[must_use]
    pub fn loops(&self) -> &[LoopInfo] {
        &self.loops
    }

    /// The loop task `task` belongs to, and its index in that loop's body.
    #[must_use]
    pub fn member(&self, task: usize) -> Option<(usize, usize)> {
        self.member
            .get(task)
            .copied()
            .flatten()
            .map(|(l, b)| (l as usize, b as usize))
    }
}

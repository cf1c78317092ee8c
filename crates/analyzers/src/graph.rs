//! The validated task graph.

use dagent_core::{DependencyMap, Plan};
use daggy::{Dag, NodeIndex};

use crate::{GraphError, GraphErrorKind};

/// A validated dependency DAG over a plan's tasks (node `i` is task `i`).
///
/// Construction checks positions, self-edges and cycles; afterwards every method is total.
/// Edges run from a dependency to its dependent. Besides the [`daggy::Dag`] (for users who
/// want petgraph's algorithms), the graph keeps flat arrays — dependencies, dependents, a
/// topological order and levels — that make every query linear in the size of the graph.
#[derive(Clone, Debug)]
pub struct TaskGraph {
    deps: DependencyMap,
    dependents: Vec<Vec<usize>>,
    topo: Vec<usize>,
    level: Vec<usize>,
    dag: Dag<usize, ()>,
}

impl TaskGraph {
    /// Validates `deps` against `plan` and builds the graph.
    ///
    /// # Errors
    /// [`GraphErrorKind::Malformed`] if the map does not fit the plan,
    /// [`GraphErrorKind::SelfDependency`], or [`GraphErrorKind::Cycle`] naming the cycle.
    pub fn new(plan: &Plan, deps: DependencyMap) -> Result<Self, GraphError> {
        let n = plan.tasks.len();
        if deps.len() != n {
            return Err(GraphError::new(
                GraphErrorKind::Malformed {
                    detail: format!("{} entries for {n} tasks", deps.len()),
                },
                format!(
                    "dependency map has {} entries but the plan has {n} tasks",
                    deps.len()
                ),
            ));
        }
        let mut dependents = vec![Vec::new(); n];
        let mut indegree = vec![0usize; n];
        for (task, list) in deps.iter() {
            for &d in list {
                if d >= n {
                    return Err(GraphError::new(
                        GraphErrorKind::Malformed {
                            detail: format!("position {d} out of range"),
                        },
                        format!(
                            "task \"{}\" depends on position {d}, outside the plan",
                            plan.tasks[task].id
                        ),
                    ));
                }
                if d == task {
                    return Err(GraphError::new(
                        GraphErrorKind::SelfDependency { task, entry: None },
                        format!("task \"{}\" depends on itself", plan.tasks[task].id),
                    ));
                }
                dependents[d].push(task);
                indegree[task] += 1;
            }
        }
        // Kahn's algorithm, taking ready tasks in plan order; computes levels as it goes.
        let mut topo = Vec::with_capacity(n);
        let mut level = vec![0usize; n];
        let mut remaining = indegree.clone();
        topo.extend((0..n).filter(|&i| remaining[i] == 0));
        let mut head = 0;
        while head < topo.len() {
            let v = topo[head];
            head += 1;
            for &w in &dependents[v] {
                level[w] = level[w].max(level[v] + 1);
                remaining[w] -= 1;
                if remaining[w] == 0 {
                    topo.push(w);
                }
            }
        }
        if topo.len() < n {
            let cycle = find_cycle(&deps, &remaining);
            // A long cycle is named by its first and last tasks, each id quoted and bounded.
            let name = |i: usize| dagent_core::display::quote(plan.tasks[i].id.as_str());
            let ring: Vec<usize> = cycle.iter().chain(cycle.first()).copied().collect();
            let names: Vec<String> = if ring.len() > 12 {
                let mut v: Vec<String> = ring[..6].iter().map(|&i| name(i)).collect();
                v.push(format!("… ({} more) …", ring.len() - 10));
                v.extend(ring[ring.len() - 4..].iter().map(|&i| name(i)));
                v
            } else {
                ring.iter().map(|&i| name(i)).collect()
            };
            return Err(GraphError::new(
                GraphErrorKind::Cycle { cycle },
                format!(
                    "dependency cycle: {} (each task depends on the next, so none can start); remove one of these dependencies",
                    names.join(" → ")
                ),
            ));
        }
        let mut dag = Dag::with_capacity(n, deps.edge_count());
        for i in 0..n {
            dag.add_node(i);
        }
        let edges = deps.iter().flat_map(|(t, list)| {
            list.iter()
                .map(move |&d| (NodeIndex::new(d), NodeIndex::new(t), ()))
        });
        // Acyclicity was established above, so this cannot fail; map it to an error anyway.
        dag.add_edges(edges).map_err(|_| {
            GraphError::new(
                GraphErrorKind::Malformed {
                    detail: "daggy rejected an acyclic graph".to_owned(),
                },
                "internal error: graph construction failed".to_owned(),
            )
        })?;
        Ok(Self {
            deps,
            dependents,
            topo,
            level,
            dag,
        })
    }

    /// Number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.topo.len()
    }

    /// Whether the graph has no tasks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.topo.is_empty()
    }

    /// The dependency map the graph was built from.
    #[must_use]
    pub fn deps(&self) -> &DependencyMap {
        &self.deps
    }

    /// Direct dependencies of `task`, in plan order.
    #[must_use]
    pub fn deps_of(&self, task: usize) -> &[usize] {
        self.deps.deps_of(task)
    }

    /// Direct dependents of `task`, in plan order.
    #[must_use]
    pub fn dependents_of(&self, task: usize) -> &[usize] {
        self.dependents.get(task).map_or(&[], Vec::as_slice)
    }

    /// A topological order (dependencies first; among ready tasks, plan order).
    #[must_use]
    pub fn topological_order(&self) -> &[usize] {
        &self.topo
    }

    /// Level of each task: 0 for tasks without dependencies, else 1 + the deepest dependency.
    #[must_use]
    pub fn level_of(&self, task: usize) -> usize {
        self.level[task]
    }

    /// Tasks grouped by level (the batches of a level-barrier schedule), in plan order.
    #[must_use]
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let depth = self.level.iter().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (task, &l) in self.level.iter().enumerate() {
            levels[l].push(task);
        }
        levels
    }

    /// The underlying daggy DAG (node weights are task positions).
    #[must_use]
    pub fn dag(&self) -> &Dag<usize, ()> {
        &self.dag
    }

    /// For each task, the heaviest path from it to the end of the graph, itself included
    /// ("remaining path" — what a longest-path-first scheduler ranks by).
    #[must_use]
    pub fn remaining_path(&self, weights: &[u64]) -> Vec<u64> {
        let mut rest = vec![0u64; self.len()];
        for &v in self.topo.iter().rev() {
            let tail = self.dependents[v]
                .iter()
                .map(|&w| rest[w])
                .max()
                .unwrap_or(0);
            rest[v] = weights.get(v).copied().unwrap_or(0).saturating_add(tail);
        }
        rest
    }

    /// The heaviest path through the graph by `weights` (ties broken by plan order) and its
    /// total weight.
    #[must_use]
    pub fn longest_path(&self, weights: &[u64]) -> (Vec<usize>, u64) {
        let n = self.len();
        let mut dist = vec![0u64; n];
        let mut pred = vec![usize::MAX; n];
        for &v in &self.topo {
            // Heaviest dependency; ties go to the earliest in plan order.
            let mut best: Option<usize> = None;
            for &d in self.deps.deps_of(v) {
                if best.is_none_or(|b| dist[d] > dist[b]) {
                    best = Some(d);
                }
            }
            pred[v] = best.unwrap_or(usize::MAX);
            dist[v] = best
                .map_or(0, |b| dist[b])
                .saturating_add(weights.get(v).copied().unwrap_or(0));
        }
        let Some(end) = (0..n).max_by(|&a, &b| dist[a].cmp(&dist[b]).then(b.cmp(&a))) else {
            return (Vec::new(), 0);
        };
        let mut path = vec![end];
        let mut cur = end;
        while pred[cur] != usize::MAX {
            cur = pred[cur];
            path.push(cur);
        }
        path.reverse();
        (path, dist[end])
    }
}

/// Finds one cycle among the tasks left with unmet dependencies after Kahn's algorithm,
/// returned in dependency order: each task depends on the next, the last on the first.
fn find_cycle(deps: &DependencyMap, remaining: &[usize]) -> Vec<usize> {
    let n = remaining.len();
    let stuck = |v: usize| remaining[v] > 0;
    // Every stuck task has a stuck dependency, so walking "depends on" edges among stuck
    // tasks must revisit a task; the first revisit closes a cycle.
    let Some(start) = (0..n).find(|&v| stuck(v)) else {
        return Vec::new();
    };
    let mut seen_at = vec![usize::MAX; n];
    let mut walk = Vec::new();
    let mut v = start;
    loop {
        if seen_at[v] != usize::MAX {
            return walk[seen_at[v]..].to_vec();
        }
        seen_at[v] = walk.len();
        walk.push(v);
        match deps.deps_of(v).iter().copied().find(|&d| stuck(d)) {
            Some(d) => v = d,
            None => return walk, // unreachable for a genuinely stuck set
        }
    }
}

/// Removes every edge implied by others: `a → c` goes when `a → b → … → c` exists.
/// Reachability is unchanged. `deps` must be acyclic (as in a [`TaskGraph`]).
#[must_use]
pub fn transitive_reduction(graph: &TaskGraph) -> DependencyMap {
    let n = graph.len();
    let mut order_pos = vec![0usize; n];
    for (pos, &v) in graph.topo.iter().enumerate() {
        order_pos[v] = pos;
    }
    let mut stamp = vec![usize::MAX; n];
    let mut stack = Vec::new();
    let mut lists = Vec::with_capacity(n);
    for v in 0..n {
        let mut ds: Vec<usize> = graph.deps_of(v).to_vec();
        ds.sort_unstable_by_key(|&d| std::cmp::Reverse(order_pos[d]));
        let mut kept = Vec::with_capacity(ds.len());
        for d in ds {
            if stamp[d] == v {
                continue; // reachable through a dependency already kept
            }
            kept.push(d);
            stack.push(d);
            while let Some(u) = stack.pop() {
                for &a in graph.deps_of(u) {
                    if stamp[a] != v {
                        stamp[a] = v;
                        stack.push(a);
                    }
                }
            }
        }
        lists.push(kept);
    }
    DependencyMap::from_lists(lists)
}

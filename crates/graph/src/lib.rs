//! # dagent-graph
//!
//! The one task-graph kernel of dagent, shared by the analyzers (which report on a plan's
//! graph) and the executor (which schedules it).
//!
//! [`TaskGraph::new`] validates a [`DependencyMap`] against a [`Plan`] — sizes, positions,
//! self-dependencies and cycles, a cycle named in order — and keeps flat, index-based arrays
//! (dependencies, dependents, a topological order, levels). Every query afterwards is total:
//! levels, the longest (critical) path, the remaining path a longest-path-first scheduler
//! ranks by, and the transitive reduction.
//!
//! The design choice to know: this crate sits between `dagent-core` (dependency-free) and
//! its two users, so the executor gets the graph without any strategy code. Validation, the
//! topological order, levels, the longest and remaining paths are O(V + E). The transitive
//! reduction is skipped when no task has two dependencies (such a graph is its own
//! reduction, which keeps chains linear); otherwise it is petgraph's `algo::tred`
//! (Habib–Morvan–Rampon) up to [`TRED_MAX_TASKS`] tasks, and beyond that, where tred's
//! transitive closure could need O(V²) memory, a search bounded to each fan-in task's
//! topological window, in O(V + E) memory.
#![deny(missing_docs)]

mod error;
mod loops;

use dagent_core::{DependencyMap, Plan};
use petgraph::algo::tred::{dag_to_toposorted_adjacency_list, dag_transitive_reduction_closure};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::IntoNeighbors;

pub use error::{GraphError, GraphErrorKind};
pub use loops::{LoopInfo, LoopSet};

/// A validated dependency DAG over a plan's tasks (node `i` is task `i`).
///
/// Construction checks positions, self-edges and cycles; afterwards every method is total.
/// Edges run from a dependency to its dependent.
#[derive(Clone, Debug)]
pub struct TaskGraph {
    deps: DependencyMap,
    dependents: Vec<Vec<usize>>,
    topo: Vec<usize>,
    level: Vec<usize>,
}

impl TaskGraph {
    /// Validates `deps` against `plan` and builds the graph, in O(V + E).
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
        let mut remaining = indegree;
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
        Ok(Self {
            deps,
            dependents,
            topo,
            level,
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

    /// Direct dependents of `task`, in plan order (empty when out of range).
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
    ///
    /// # Panics
    /// If `task` is out of range.
    #[must_use]
    pub fn level_of(&self, task: usize) -> usize {
        self.level[task]
    }

    /// Number of levels (0 for an empty graph).
    #[must_use]
    pub fn depth(&self) -> usize {
        self.level.iter().max().map_or(0, |m| m + 1)
    }

    /// Tasks grouped by level (the batches of a level-barrier schedule), in plan order.
    #[must_use]
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut levels = vec![Vec::new(); self.depth()];
        for (task, &l) in self.level.iter().enumerate() {
            levels[l].push(task);
        }
        levels
    }

    /// For each task, the heaviest path from it to the end of the graph, itself included
    /// ("remaining path": what a longest-path-first scheduler ranks by). `weights` come from
    /// [`Plan::weights`] (estimates, or 1 per task); missing weights count 0. O(V + E).
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
    /// total weight. O(V + E).
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

    /// The transitive reduction: every edge implied by others goes (`a → c` when
    /// `a → b → … → c` exists); reachability is unchanged.
    ///
    /// Only edges into a task with two or more dependencies can be implied, so a graph in
    /// which no task has two (a forest, e.g. a chain) is returned as is, in O(V + E). Up to
    /// [`TRED_MAX_TASKS`] tasks the reduction is petgraph's `algo::tred`; it materialises
    /// the transitive closure, which can take O(V²) memory (a long history of fan-ins), so
    /// larger graphs use a search from each fan-in task's dependencies, bounded to the
    /// topological window between its earliest dependency and itself, in O(V + E) memory.
    /// Both give the same (unique) reduction.
    #[must_use]
    pub fn transitive_reduction(&self) -> DependencyMap {
        self.reduce(TRED_MAX_TASKS)
    }

    fn reduce(&self, tred_max: usize) -> DependencyMap {
        let fan_in = self.deps.iter().any(|(_, list)| list.len() > 1);
        if !fan_in {
            return self.deps.clone();
        }
        if self.len() <= tred_max
            && let Some(reduced) = self.petgraph_reduction()
        {
            return reduced;
        }
        let threads = if self.len() >= PARALLEL_MIN_TASKS {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            1
        };
        self.windowed_reduction(SEARCH_BUDGET, threads.min(MAX_THREADS))
    }

    /// petgraph's `algo::tred` over the graph in topological order (`None` past `u32`).
    fn petgraph_reduction(&self) -> Option<DependencyMap> {
        let n = self.len();
        u32::try_from(n).ok()?;
        let mut g: DiGraph<(), (), u32> = DiGraph::with_capacity(n, self.deps.edge_count());
        for _ in 0..n {
            g.add_node(());
        }
        for (task, list) in self.deps.iter() {
            for &d in list {
                g.add_edge(NodeIndex::new(d), NodeIndex::new(task), ());
            }
        }
        let order: Vec<NodeIndex<u32>> = self.topo.iter().map(|&v| NodeIndex::new(v)).collect();
        let (sorted, _revmap) = dag_to_toposorted_adjacency_list::<_, u32>(&g, &order);
        let (reduced, _closure) = dag_transitive_reduction_closure(&sorted);
        let mut lists = vec![Vec::new(); n];
        for rank in reduced.node_indices() {
            let dep = self.topo[rank as usize];
            for succ in reduced.neighbors(rank) {
                lists[self.topo[succ as usize]].push(dep);
            }
        }
        Some(DependencyMap::from_lists(lists))
    }

    /// Positions in the topological order closest to plan order (among ready tasks, always
    /// the earliest in the plan): plan order itself when it is topological, as it is for
    /// every inferred graph. Windows are then local to where tasks sit in the plan.
    fn plan_order_topological_positions(&self) -> Vec<usize> {
        let n = self.len();
        let mut pos = vec![0usize; n];
        if self
            .deps
            .iter()
            .all(|(t, list)| list.iter().all(|&d| d < t))
        {
            for (p, slot) in pos.iter_mut().enumerate() {
                *slot = p;
            }
            return pos;
        }
        let mut unmet: Vec<usize> = (0..n).map(|t| self.deps_of(t).len()).collect();
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
            .filter(|&t| unmet[t] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut next = 0;
        while let Some(std::cmp::Reverse(v)) = ready.pop() {
            pos[v] = next;
            next += 1;
            for &w in &self.dependents[v] {
                unmet[w] -= 1;
                if unmet[w] == 0 {
                    ready.push(std::cmp::Reverse(w));
                }
            }
        }
        pos
    }

    /// For each task with two or more dependencies, keeps a dependency unless it is an
    /// ancestor of another one: dependencies are visited latest-first (topologically), each
    /// kept one marks its ancestors, and the search never goes below the earliest
    /// dependency's position (no ancestor there can be a dependency of the task).
    ///
    /// Three things keep this near-linear however the graph is shaped. A spanning forest
    /// (each task's latest dependency is its parent, with entry and exit times) answers
    /// "is `d` an ancestor of `k` along the forest" in O(1), which settles the common case —
    /// a long chain plus a reference far back — without walking the chain. Two interval
    /// labellings ([`Node::labels`]) answer "`d` is certainly not an ancestor of `k`" in O(1): a
    /// dependency they prove is no ancestor of the others is kept without a search, and a
    /// search does not go above a task none of the open dependencies can be an ancestor of.
    /// And the search for one task looks at most `budget` edges: past that, the
    /// dependencies it could not settle are kept. A kept implied edge changes no
    /// reachability (the graph schedules the same), so the result is always correct and,
    /// within the budget, minimal.
    ///
    /// The searches of different tasks share only what they read, so `threads` threads take
    /// ranges of tasks in turn, each with its own copy of the per-task marks; the result
    /// does not depend on the split.
    fn windowed_reduction(&self, budget: usize, threads: usize) -> DependencyMap {
        let n = self.len();
        // Every per-task number below fits in a `u32` (forest times reach 2n); a graph too
        // large for that could not be held in memory anyway, and keeps its edges.
        if u32::try_from(n.saturating_mul(2)).is_err() {
            return self.deps.clone();
        }
        let pos = self.plan_order_topological_positions();
        let (tin, tout) = self.forest_times(&pos);
        let labels = [self.interval_labels(false), self.interval_labels(true)];
        // What the searches read about a task, in one place, so that each task a search
        // reaches costs one cache miss rather than one per array.
        let mut node: Vec<Node> = (0..n)
            .map(|t| Node {
                pos: pos[t] as u32,
                stamp: u32::MAX,
                candidate: u32::MAX,
                sure: u32::MAX,
                tin: tin[t] as u32,
                tout: tout[t] as u32,
                labels: [labels[0][t], labels[1][t]],
            })
            .collect();
        drop((pos, tin, tout, labels));
        // Dependencies in one flat array (contiguous, so the searches stay in cache).
        let mut start = Vec::with_capacity(n + 1);
        let mut flat = Vec::with_capacity(self.deps.edge_count());
        for (_, list) in self.deps.iter() {
            start.push(flat.len());
            flat.extend(list.iter().map(|&d| d as u32));
        }
        start.push(flat.len());
        let search = Search {
            graph: self,
            flat: &flat,
            start: &start,
            budget,
        };
        // Threads take ranges of tasks in turn, so that one with heavy searches does not
        // hold the others up; the lists are put back in plan order.
        let chunks = n.div_ceil(SEARCH_CHUNK);
        let range = |c: usize| c * SEARCH_CHUNK..((c + 1) * SEARCH_CHUNK).min(n);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = |node: &mut [Node]| {
            let mut done = Vec::new();
            loop {
                let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if c >= chunks {
                    return done;
                }
                done.push((c, search.lists(range(c), node)));
            }
        };
        let work = &work;
        let mut parts: Vec<Option<Vec<Vec<usize>>>> = vec![None; chunks];
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads.max(1))
                .filter_map(|_| {
                    let mut marks = node.clone();
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || work(&mut marks))
                        .ok()
                })
                .collect();
            for (c, lists) in work(&mut node) {
                parts[c] = Some(lists);
            }
            for done in helpers.into_iter().filter_map(|h| h.join().ok()) {
                for (c, lists) in done {
                    parts[c] = Some(lists);
                }
            }
        });
        let mut lists = Vec::with_capacity(n);
        for (c, part) in parts.into_iter().enumerate() {
            // A range a failed thread took is searched here.
            lists.extend(part.unwrap_or_else(|| search.lists(range(c), &mut node)));
        }
        DependencyMap::from_lists(lists)
    }

    /// Each task's interval label `(low, rank)` from one depth-first walk along dependents
    /// (see [`Node::labels`]), visiting roots and dependents in plan order, or both in
    /// reverse, in O(V + E).
    fn interval_labels(&self, reverse: bool) -> Vec<(u32, u32)> {
        let n = self.len();
        let mut label = vec![(u32::MAX, u32::MAX); n];
        let mut visited = vec![false; n];
        let mut clock = 0u32;
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut roots: Vec<usize> = (0..n).filter(|&v| self.deps_of(v).is_empty()).collect();
        if reverse {
            roots.reverse();
        }
        let child = |u: usize, i: usize| {
            let list = &self.dependents[u];
            if reverse {
                list.len().checked_sub(i + 1).map(|j| list[j])
            } else {
                list.get(i).copied()
            }
        };
        for root in roots {
            visited[root] = true;
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (u, i) = *top;
                if let Some(c) = child(u, i) {
                    top.1 += 1;
                    if !visited[c] {
                        visited[c] = true;
                        stack.push((c, 0));
                    }
                } else {
                    // Every dependent is finished first (a DAG has no back edges).
                    let below = self.dependents[u].iter().map(|&w| label[w].0).min();
                    label[u] = (below.map_or(clock, |b| b.min(clock)), clock);
                    clock = clock.saturating_add(1);
                    stack.pop();
                }
            }
        }
        label
    }

    /// Entry and exit times of a depth-first walk of the spanning forest in which each
    /// task's parent is its latest dependency (by `pos`): `a` is a forest ancestor of `b`
    /// (so a graph ancestor) exactly when `a`'s interval holds `b`'s.
    fn forest_times(&self, pos: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let n = self.len();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for v in 0..n {
            match self.deps_of(v).iter().max_by_key(|&&d| pos[d]) {
                Some(&parent) => children[parent].push(v),
                None => roots.push(v),
            }
        }
        let (mut tin, mut tout) = (vec![0; n], vec![0; n]);
        let mut clock = 0;
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in roots {
            tin[root] = clock;
            clock += 1;
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (u, i) = *top;
                if let Some(&c) = children[u].get(i) {
                    top.1 += 1;
                    tin[c] = clock;
                    clock += 1;
                    stack.push((c, 0));
                } else {
                    tout[u] = clock;
                    clock += 1;
                    stack.pop();
                }
            }
        }
        (tin, tout)
    }
}

/// What every reduction search reads: the graph and its dependencies in one flat array.
#[derive(Clone, Copy)]
struct Search<'g> {
    graph: &'g TaskGraph,
    flat: &'g [u32],
    start: &'g [usize],
    budget: usize,
}

impl Search<'_> {
    /// The reduced dependency lists of the tasks in `range` (see `windowed_reduction`).
    /// `node` holds the per-task marks, set only to the searching task's number, so any
    /// copy of the starting state gives the same result.
    fn lists(self, range: std::ops::Range<usize>, node: &mut [Node]) -> Vec<Vec<usize>> {
        let Self {
            graph,
            flat,
            start,
            budget,
        } = self;
        let mut stack: Vec<u32> = Vec::new();
        let mut lists = Vec::with_capacity(range.len());
        for v in range {
            let deps = graph.deps_of(v);
            if deps.len() < 2 {
                lists.push(deps.to_vec());
                continue;
            }
            let me = v as u32;
            let mut ds: Vec<u32> = deps.iter().map(|&d| d as u32).collect();
            ds.sort_unstable_by_key(|&d| std::cmp::Reverse(node[d as usize].pos));
            let floor = ds.last().map_or(0, |&d| node[d as usize].pos);
            let mut kept: Vec<u32> = Vec::with_capacity(ds.len());
            let mut left = budget;
            // Dependencies not yet known to be implied or kept: the search stops when none
            // is. One the labels prove is no ancestor of any other is kept without a search.
            let mut open = 0;
            for (i, &d) in ds.iter().enumerate() {
                let sure = ds.len() <= LABEL_PROBES
                    && ds[..i]
                        .iter()
                        .all(|&later| !node[d as usize].may_be_ancestor(&node[later as usize]));
                let slot = &mut node[d as usize];
                slot.candidate = me;
                if sure {
                    slot.sure = me;
                } else {
                    open += 1;
                }
            }
            for (i, &d) in ds.iter().enumerate() {
                let dn = node[d as usize];
                if dn.stamp == me {
                    continue; // an ancestor of a dependency already kept (counted)
                }
                if dn.sure != me {
                    open -= 1;
                }
                if kept
                    .iter()
                    .take(FOREST_PROBES)
                    .any(|&k| dn.forest_ancestor(&node[k as usize]))
                {
                    continue;
                }
                kept.push(d);
                stack.clear();
                stack.push(d);
                let rest = &ds[i + 1..];
                // Every edge looked at costs one unit of the budget.
                'search: while let Some(u) = stack.pop() {
                    let u = u as usize;
                    for &a in &flat[start[u]..start[u + 1]] {
                        if open == 0 || left == 0 {
                            break 'search;
                        }
                        left -= 1;
                        let an = node[a as usize];
                        if an.pos < floor || an.stamp == me {
                            continue;
                        }
                        // Nothing to find above `a` when no open dependency can be an
                        // ancestor of it (checked while few are left to check).
                        if rest.len() <= LABEL_PROBES
                            && an.candidate != me
                            && rest.iter().all(|&c| {
                                let cn = &node[c as usize];
                                cn.stamp == me || cn.sure == me || !cn.may_be_ancestor(&an)
                            })
                        {
                            continue;
                        }
                        node[a as usize].stamp = me;
                        if an.candidate == me {
                            open -= 1;
                        }
                        stack.push(a);
                        // A dependency on `a`'s forest path is implied as well, and so is
                        // everything above it: searched like `a`.
                        for &c in ds.iter().take(FOREST_PROBES) {
                            let cn = &mut node[c as usize];
                            if cn.stamp != me && cn.forest_ancestor(&an) {
                                cn.stamp = me;
                                open -= 1;
                                stack.push(c);
                            }
                        }
                    }
                }
            }
            lists.push(kept.into_iter().map(|d| d as usize).collect());
        }
        lists
    }
}

/// Tasks a reduction thread takes at a time.
const SEARCH_CHUNK: usize = 512;

/// Graphs from this many tasks have their reduction searches split across threads.
const PARALLEL_MIN_TASKS: usize = 16_384;

/// At most this many threads share the reduction searches.
const MAX_THREADS: usize = 4;

/// Edges one reduction search may look at for a single fan-in task (see
/// `windowed_reduction`): with at most [`FOREST_PROBES`] forest checks per edge, the work
/// on any graph is O(V × budget) beyond reading each task's dependencies once.
const SEARCH_BUDGET: usize = 1024;

/// Dependencies of one task checked against the spanning forest at each step of its search.
const FOREST_PROBES: usize = 8;

/// Dependencies of one task checked against the interval labels: a task with more is
/// searched without them.
const LABEL_PROBES: usize = 16;

/// One task as the windowed reduction sees it: its position, the fan-in task whose search
/// last reached it (`stamp`), whose dependency it is (`candidate`) or which keeps it for
/// sure (`sure`), its spanning-forest times and its two interval labels.
#[derive(Clone, Copy)]
struct Node {
    pos: u32,
    stamp: u32,
    candidate: u32,
    sure: u32,
    tin: u32,
    tout: u32,
    /// `(low, rank)` of two depth-first walks along dependents (GRAIL: Yildirim, Chaoji
    /// and Zaki, 2010): `rank` is the task's post-order number, `low` the least rank among
    /// it and its descendants. When `a` is an ancestor of `b`, `b`'s interval `[low, rank]`
    /// lies inside `a`'s, so an interval outside proves `a` is not an ancestor of `b`; an
    /// interval inside proves nothing.
    labels: [(u32, u32); 2],
}

impl Node {
    /// `self` is an ancestor of `other` along the spanning forest (so in the graph).
    fn forest_ancestor(&self, other: &Node) -> bool {
        self.tin <= other.tin && other.tout <= self.tout
    }

    /// False when the interval labels prove `self` is not an ancestor of `other`.
    fn may_be_ancestor(&self, other: &Node) -> bool {
        self.labels
            .iter()
            .zip(&other.labels)
            .all(|(&(low, rank), &(other_low, other_rank))| low <= other_low && other_rank <= rank)
    }
}

/// Graphs up to this many tasks are reduced with petgraph's `algo::tred` (its transitive
/// closure then takes at most ~8 million entries); larger ones with the windowed search.
pub const TRED_MAX_TASKS: usize = 4096;

/// The transitive reduction of `graph` (see [`TaskGraph::transitive_reduction`]).
#[must_use]
pub fn transitive_reduction(graph: &TaskGraph) -> DependencyMap {
    graph.transitive_reduction()
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

#[cfg(test)]
mod tests {
    use dagent_core::Task;

    use super::*;

    fn plan(n: usize) -> Plan {
        Plan::new(
            (0..n)
                .map(|i| Task::new(format!("t{i}"), format!("T{i}")))
                .collect(),
        )
    }

    fn graph(deps: Vec<Vec<usize>>) -> TaskGraph {
        TaskGraph::new(&plan(deps.len()), DependencyMap::from_lists(deps)).expect("valid")
    }

    /// The reduction by definition: keep `d → v` unless `d` reaches another dependency of `v`.
    fn naive_reduction(g: &TaskGraph) -> DependencyMap {
        let n = g.len();
        let reaches = |from: usize, to: usize| {
            let mut seen = vec![false; n];
            let mut stack = vec![from];
            while let Some(u) = stack.pop() {
                if u == to {
                    return true;
                }
                for &w in g.dependents_of(u) {
                    if !std::mem::replace(&mut seen[w], true) {
                        stack.push(w);
                    }
                }
            }
            false
        };
        DependencyMap::from_lists(
            (0..n)
                .map(|v| {
                    let ds = g.deps_of(v);
                    ds.iter()
                        .copied()
                        .filter(|&d| !ds.iter().any(|&o| o != d && reaches(d, o)))
                        .collect()
                })
                .collect(),
        )
    }

    #[test]
    fn levels_topo_and_dependents_in_plan_order() {
        let g = graph(vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(g.topological_order(), &[0, 1, 2, 3]);
        assert_eq!(g.levels(), vec![vec![0], vec![1, 2], vec![3]]);
        assert_eq!(g.dependents_of(0), &[1, 2]);
        assert_eq!(g.dependents_of(9), &[] as &[usize]);
        assert_eq!(g.depth(), 3);
    }

    #[test]
    fn cycle_is_named_in_order() {
        let err = TaskGraph::new(
            &plan(3),
            DependencyMap::from_lists(vec![vec![2], vec![0], vec![1]]),
        )
        .expect_err("cycle");
        assert_eq!(
            err.kind(),
            &GraphErrorKind::Cycle {
                cycle: vec![0, 2, 1]
            }
        );
        assert!(
            err.message()
                .starts_with("dependency cycle: \"t0\" → \"t2\" → \"t1\" → \"t0\""),
            "{}",
            err.message()
        );
    }

    #[test]
    fn malformed_maps_and_self_edges_are_errors() {
        let p = plan(2);
        let e = TaskGraph::new(&p, DependencyMap::new(3)).expect_err("size");
        assert!(matches!(e.kind(), GraphErrorKind::Malformed { .. }));
        let e = TaskGraph::new(&p, DependencyMap::from_lists(vec![vec![], vec![5]]))
            .expect_err("range");
        assert!(matches!(e.kind(), GraphErrorKind::Malformed { .. }));
        let e =
            TaskGraph::new(&p, DependencyMap::from_lists(vec![vec![], vec![1]])).expect_err("self");
        assert_eq!(
            e.kind(),
            &GraphErrorKind::SelfDependency {
                task: 1,
                entry: None
            }
        );
    }

    #[test]
    fn longest_path_breaks_ties_by_plan_order() {
        let g = graph(vec![vec![], vec![], vec![0, 1]]);
        assert_eq!(g.longest_path(&[1, 1, 1]), (vec![0, 2], 2));
        assert_eq!(g.longest_path(&[1, 5, 1]), (vec![1, 2], 6));
        assert_eq!(graph(vec![]).longest_path(&[]), (vec![], 0));
    }

    #[test]
    fn remaining_path_counts_itself_and_the_heaviest_tail() {
        let g = graph(vec![vec![], vec![0], vec![0], vec![1]]);
        assert_eq!(g.remaining_path(&[1, 1, 1, 1]), vec![3, 2, 1, 1]);
        assert_eq!(g.remaining_path(&[10, 1, 5, 1]), vec![15, 2, 5, 1]);
        assert_eq!(g.remaining_path(&[u64::MAX, u64::MAX, 0, 1])[0], u64::MAX);
    }

    #[test]
    fn reduction_drops_implied_edges_only() {
        let g = graph(vec![vec![], vec![0], vec![0, 1], vec![0, 1, 2]]);
        assert_eq!(
            g.transitive_reduction(),
            DependencyMap::from_lists(vec![vec![], vec![0], vec![1], vec![2]])
        );
        // A chain is already reduced (fast path).
        let chain = graph((0..50).map(|i| (0..i).rev().take(1).collect()).collect());
        assert_eq!(&chain.transitive_reduction(), chain.deps());
    }

    #[test]
    fn a_long_history_of_fan_ins_past_the_tred_limit_is_reduced_in_linear_memory() {
        // Each task after the first two depends on the two before it: the reduction is the
        // chain, and the transitive closure (what petgraph's tred builds) would have
        // n²/2 = 50 million entries.
        let n = 10_000;
        let g = graph((0..n).map(|i| (0..i).rev().take(2).collect()).collect());
        let chain =
            DependencyMap::from_lists((0..n).map(|i| (0..i).rev().take(1).collect()).collect());
        assert!(n > TRED_MAX_TASKS);
        assert_eq!(g.transitive_reduction(), chain);
    }

    /// A deterministic generator of numbers below `m` (xorshift64).
    fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |m| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % m as u64) as usize
        }
    }

    #[test]
    fn reduction_matches_the_definition_on_random_dags() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        // The smallest graph where an implied dependency is found through another one the
        // forest already settled (0 → 2 → 3 → 4): 5 keeps only 4.
        let g = graph(vec![
            vec![],
            vec![],
            vec![0, 1],
            vec![2],
            vec![1, 3],
            vec![0, 2, 4],
            vec![2, 3, 5],
        ]);
        assert_eq!(g.reduce(0), naive_reduction(&g));
        for round in 0..260 {
            // Small graphs, then larger and denser ones.
            let (size, fan) = if round < 200 { (25, 4) } else { (120, 12) };
            let n = 1 + next(size);
            // Random edges, with tasks shuffled so plan order is not a topological order.
            let perm: Vec<usize> = {
                let mut p: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    p.swap(i, next(i + 1));
                }
                p
            };
            let mut lists = vec![Vec::new(); n];
            for v in 1..n {
                for _ in 0..next(fan) {
                    lists[perm[v]].push(perm[next(v)]);
                }
            }
            let g = graph(lists);
            let expected = naive_reduction(&g);
            assert_eq!(g.transitive_reduction(), expected);
            assert_eq!(g.reduce(0), expected, "the windowed search agrees");
            assert_eq!(
                g.windowed_reduction(SEARCH_BUDGET, 3),
                expected,
                "searches split across threads agree"
            );
            assert_eq!(g.reduce(usize::MAX), expected, "petgraph's tred agrees");
            // Out of search budget, implied edges may stay, but only original edges do,
            // every necessary one does, and reachability is unchanged.
            for budget in [0, 1, 2] {
                let partial = g.windowed_reduction(budget, 1 + budget);
                for v in 0..n {
                    let kept = partial.deps_of(v);
                    assert!(kept.iter().all(|d| g.deps_of(v).contains(d)));
                    assert!(expected.deps_of(v).iter().all(|d| kept.contains(d)));
                }
                let again = graph((0..n).map(|v| partial.deps_of(v).to_vec()).collect());
                assert_eq!(naive_reduction(&again), expected);
            }
        }
    }

    #[test]
    fn interval_labels_spare_the_search_branches_that_cannot_hold_a_dependency() {
        // `x` needs `p` (which needs `d` and, later in the plan, `q`, so the spanning forest
        // runs through `q`) and the ends of three long independent chains; `v` needs `x` and
        // `d`, implied through `p`. Walking any chain would spend the whole search budget
        // before reaching `p`; the labels prove no chain holds `d`.
        let len = 1_500;
        let mut lists: Vec<Vec<usize>> = vec![vec![], vec![], vec![0, 1]];
        let mut ends = Vec::new();
        for _ in 0..3 {
            let first = lists.len();
            lists.push(vec![]);
            for t in first + 1..first + len {
                lists.push(vec![t - 1]);
            }
            ends.push(lists.len() - 1);
        }
        let x = lists.len();
        lists.push([vec![2], ends.clone()].concat());
        let v = lists.len();
        lists.push(vec![x, 0]);
        let g = graph(lists);
        assert!(3 * len > SEARCH_BUDGET);
        let reduced = g.reduce(0);
        assert_eq!(reduced.deps_of(v), &[x]);
        assert_eq!(reduced, naive_reduction(&g));
    }

    #[test]
    fn a_large_graph_is_reduced_alike_on_one_thread_and_on_several() {
        // 40,000 tasks, each needing one to four of the 300 before it: past
        // `PARALLEL_MIN_TASKS`, so `transitive_reduction` splits the searches.
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let n = 40_000;
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|v| {
                let mut d: Vec<usize> = (0..next(5).min(v))
                    .map(|_| v - 1 - next(v.min(300)))
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        let g = graph(lists);
        assert!(n >= PARALLEL_MIN_TASKS);
        let one = g.windowed_reduction(SEARCH_BUDGET, 1);
        assert!(
            one.edge_count() < g.deps().edge_count(),
            "some edges are implied"
        );
        for threads in [2, 3, MAX_THREADS] {
            assert_eq!(g.windowed_reduction(SEARCH_BUDGET, threads), one);
        }
        assert_eq!(g.transitive_reduction(), one);
    }

    #[test]
    fn a_task_with_a_hundred_thousand_dependencies_is_reduced() {
        // "Finally, water everything" after 100,000 independent steps, then a step needing
        // it and the first one: every dependency stays, the late one loses the implied edge.
        let n = 100_000;
        let mut lists: Vec<Vec<usize>> = vec![Vec::new(); n];
        lists.push((0..n).collect());
        lists.push(vec![0, n]);
        let g = graph(lists);
        let reduced = g.transitive_reduction();
        assert_eq!(reduced.deps_of(n).len(), n);
        assert_eq!(reduced.deps_of(n + 1), &[n]);
    }

    #[test]
    fn a_long_chain_with_references_far_back_is_reduced_to_the_chain() {
        // Every seventh task also names one 5,000 tasks back: implied by the chain. The
        // spanning forest settles each in O(1); a plain search would walk 5,000 tasks each.
        let n = 100_000;
        let g = graph(
            (0..n)
                .map(|i| {
                    let mut d: Vec<usize> = (0..i).rev().take(1).collect();
                    if i % 7 == 0 && i >= 5_000 {
                        d.push(i - 5_000);
                    }
                    d
                })
                .collect(),
        );
        let chain =
            DependencyMap::from_lists((0..n).map(|i| (0..i).rev().take(1).collect()).collect());
        assert_eq!(g.transitive_reduction(), chain);
    }
}

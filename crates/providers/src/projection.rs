//! Projected tokens and cost of a plan before it runs: per task (its routed model, its
//! prompt with its inputs, its role's `max_tokens` or the plan's token estimate), for the
//! whole plan (expected and worst case), and per routing tier.
//!
//! The design choice to know: a projection is a forecast, not the budget's bound. The
//! expected figure counts prompts at the typical three bytes per token and each input as
//! its dependency's expected answer; the worst case counts prompt bytes as tokens, every
//! input at its dependency's `max_tokens`, and every answer at its `max_tokens`. The budget
//! itself still reserves the true upper bound of each call as it is made
//! ([`dagent_core::metered_chat`]).

use dagent_core::{
    MESSAGE_OVERHEAD_TOKENS, Money, Plan, REQUEST_OVERHEAD_TOKENS, Task, TaskId, Usage,
    estimate_tokens, max_tokens_of,
};

use crate::prompt::default_system_prompt;
use crate::{Catalogue, Router, Tier};

/// Where a task's expected answer length comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// The plan's token estimate (`estimate = { tokens = … }`, the task's total).
    PlanEstimate,
    /// The role's (or the model's) `max_tokens`.
    MaxTokens,
}

impl TokenSource {
    /// `plan_estimate` or `max_tokens`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PlanEstimate => "plan_estimate",
            Self::MaxTokens => "max_tokens",
        }
    }
}

/// One task's projection at one tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskProjection {
    /// The task.
    pub task: TaskId,
    /// The model it routes to (`None`: no route, or a model the catalogue lacks).
    pub model: Option<String>,
    /// Expected tokens.
    pub expected: Usage,
    /// Worst-case tokens.
    pub worst: Usage,
    /// Expected cost.
    pub expected_cost: Money,
    /// Worst-case cost.
    pub worst_cost: Money,
    /// Where the expected answer length comes from.
    pub source: TokenSource,
}

/// A plan's projection at one tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// The routing tier.
    pub tier: Tier,
    /// Every task, in plan order.
    pub tasks: Vec<TaskProjection>,
    /// Expected tokens of the whole plan.
    pub expected: Usage,
    /// Worst-case tokens of the whole plan.
    pub worst: Usage,
    /// Expected cost of the whole plan.
    pub expected_cost: Money,
    /// Worst-case cost of the whole plan.
    pub worst_cost: Money,
}

impl Projection {
    /// The expected cost of the tasks `include` selects.
    #[must_use]
    pub fn expected_cost_of(&self, include: impl Fn(usize) -> bool) -> Money {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(i, _)| include(*i))
            .fold(Money::ZERO, |acc, (_, t)| acc + t.expected_cost)
    }
}

/// The tier one step cheaper (`None` below budget).
#[must_use]
pub const fn tier_below(tier: Tier) -> Option<Tier> {
    match tier {
        Tier::Premium => Some(Tier::Balanced),
        Tier::Balanced => Some(Tier::Budget),
        Tier::Budget => None,
    }
}

fn own_prompt_text(task: &Task, system: &str) -> String {
    let mut s = format!("{system}\n# Task: {}\n", task.title);
    if !task.description.is_empty() {
        s.push_str(&task.description);
        s.push('\n');
    }
    s
}

/// Projects `plan` (with `deps[i]` the direct dependencies of task `i`) at `router`'s tier.
#[must_use]
pub fn project(
    plan: &Plan,
    deps: &[Vec<usize>],
    router: &Router,
    catalogue: &Catalogue,
) -> Projection {
    let overhead = 2 * MESSAGE_OVERHEAD_TOKENS + REQUEST_OVERHEAD_TOKENS;
    let mut tasks: Vec<TaskProjection> = Vec::with_capacity(plan.tasks.len());
    for (i, task) in plan.tasks.iter().enumerate() {
        let route = router.route(task);
        let info = route.as_ref().and_then(|r| catalogue.get(&r.model));
        let (inputs_expected, inputs_worst) = deps
            .get(i)
            .map(|d| {
                d.iter()
                    .filter(|&&j| j < i)
                    .fold((0u64, 0u64), |(e, w), &j| {
                        (
                            e.saturating_add(tasks[j].expected.completion_tokens),
                            w.saturating_add(tasks[j].worst.completion_tokens),
                        )
                    })
            })
            .unwrap_or((0, 0));
        let (Some(route), Some(info)) = (route, info) else {
            tasks.push(TaskProjection {
                task: task.id.clone(),
                model: None,
                expected: Usage::default(),
                worst: Usage::default(),
                expected_cost: Money::ZERO,
                worst_cost: Money::ZERO,
                source: TokenSource::MaxTokens,
            });
            continue;
        };
        let max_tokens = u64::from(
            route
                .max_tokens
                .unwrap_or(info.max_output_tokens)
                .min(info.max_output_tokens.max(1)),
        );
        let system = route
            .system_prompt
            .clone()
            .unwrap_or_else(|| default_system_prompt(task.role.as_deref(), &task.kind));
        let own = own_prompt_text(task, &system);
        let window = u64::from(info.context_window).saturating_sub(max_tokens);
        let own_expected = estimate_tokens(&own) + overhead;
        let own_worst = max_tokens_of(&own) + overhead;
        let prompt_expected = own_expected
            .saturating_add(inputs_expected)
            .min(window.max(own_expected));
        let prompt_worst = own_worst
            .saturating_add(inputs_worst)
            .min(window.max(own_worst));
        let (completion_expected, source) = match task.estimate.and_then(|e| e.tokens) {
            Some(total) => (
                total.saturating_sub(prompt_expected).min(max_tokens),
                TokenSource::PlanEstimate,
            ),
            None => (max_tokens, TokenSource::MaxTokens),
        };
        let expected = Usage::new(prompt_expected, completion_expected);
        let worst = Usage::new(prompt_worst, max_tokens);
        tasks.push(TaskProjection {
            task: task.id.clone(),
            model: Some(info.name.clone()),
            expected,
            worst,
            expected_cost: info.price.cost(expected),
            worst_cost: info.price.cost(worst),
            source,
        });
    }
    // A loop may run its body up to `max_iterations` times: the worst case counts every
    // iteration (the expected figures count one, as the analysis does).
    for l in &plan.loops {
        let times = l.max_iterations.clamp(1, dagent_core::MAX_ITERATIONS);
        for t in tasks.iter_mut().filter(|t| l.tasks.contains(&t.task)) {
            let (once, once_cost) = (t.worst, t.worst_cost);
            for _ in 1..times {
                t.worst += once;
                t.worst_cost += once_cost;
            }
        }
    }
    let sum = |f: fn(&TaskProjection) -> Usage| {
        tasks.iter().fold(Usage::default(), |mut acc, t| {
            acc += f(t);
            acc
        })
    };
    let expected = sum(|t| t.expected);
    let worst = sum(|t| t.worst);
    let expected_cost = tasks.iter().fold(Money::ZERO, |a, t| a + t.expected_cost);
    let worst_cost = tasks.iter().fold(Money::ZERO, |a, t| a + t.worst_cost);
    Projection {
        tier: router.tier,
        tasks,
        expected,
        worst,
        expected_cost,
        worst_cost,
    }
}

/// The projection at every tier (budget, balanced, premium), in that order.
#[must_use]
pub fn project_tiers(
    plan: &Plan,
    deps: &[Vec<usize>],
    router: &Router,
    catalogue: &Catalogue,
) -> Vec<Projection> {
    Tier::ALL
        .iter()
        .map(|&tier| {
            let mut r = router.clone();
            r.tier = tier;
            project(plan, deps, &r, catalogue)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::{Estimate, Price};

    fn catalogue() -> Catalogue {
        let mut c = Catalogue::new();
        for (name, input) in [("cheap", "1"), ("dear", "10")] {
            c.insert(crate::ModelInfo {
                name: name.into(),
                provider: "p".into(),
                id: name.into(),
                price: Price::new(input.parse().unwrap(), input.parse().unwrap()),
                context_window: 100_000,
                max_output_tokens: 100,
                capabilities: Vec::new(),
                ..crate::ModelInfo::default()
            });
        }
        c
    }

    #[test]
    fn the_worst_case_counts_every_iteration_of_a_loop_and_the_expected_one() {
        let mut plan = Plan::new(vec![
            Task::new("code", "Write the code"),
            Task::new("review", "Review the code").with_deps(["code"]),
            Task::new("docs", "Document it").with_deps(["code"]),
        ]);
        let deps = vec![vec![], vec![0], vec![0]];
        let mut router = Router {
            table: crate::RoutingTable::empty(),
            ..Router::default()
        };
        for cat in crate::TaskCategory::ALL {
            router.table.set(router.tier, cat, "cheap");
        }
        let once = project(&plan, &deps, &router, &catalogue());
        plan.loops.push(
            dagent_core::LoopSpec::new("r", ["code", "review"], "APPROVE").with_max_iterations(3),
        );
        let looped = project(&plan, &deps, &router, &catalogue());
        assert_eq!(looped.expected_cost, once.expected_cost);
        for i in 0..2 {
            assert_eq!(
                looped.tasks[i].worst_cost.nanos(),
                once.tasks[i].worst_cost.nanos() * 3
            );
        }
        assert_eq!(looped.tasks[2].worst_cost, once.tasks[2].worst_cost);
        let n = |i: usize| once.tasks[i].worst_cost.nanos();
        assert_eq!(looped.worst_cost.nanos(), n(0) * 3 + n(1) * 3 + n(2));
        assert!(n(0) > 0 && n(1) > 0 && n(2) > 0);
    }

    #[test]
    fn inputs_count_their_dependencies_answers_and_tiers_change_models() {
        let mut plan = Plan::new(vec![
            Task::new("a", "Research one"),
            Task::new("b", "Write the report"),
        ]);
        plan.tasks[0].estimate = Some(Estimate {
            duration: std::time::Duration::from_secs(1),
            tokens: Some(1_000),
        });
        let deps = vec![vec![], vec![0]];
        let mut router = Router {
            table: crate::RoutingTable::empty(),
            ..Router::default()
        };
        for cat in crate::TaskCategory::ALL {
            router.table.set(Tier::Budget, cat, "cheap");
            router.table.set(Tier::Balanced, cat, "dear");
            router.table.set(Tier::Premium, cat, "dear");
        }
        router.tier = Tier::Balanced;
        let p = project(&plan, &deps, &router, &catalogue());
        let (a, b) = (&p.tasks[0], &p.tasks[1]);
        assert_eq!(a.source, TokenSource::PlanEstimate);
        assert_eq!(a.expected.completion_tokens, 100, "capped by max_tokens");
        assert_eq!(b.source, TokenSource::MaxTokens);
        assert!(
            b.expected.prompt_tokens >= 100,
            "b's prompt holds a's answer"
        );
        assert!(p.worst_cost >= p.expected_cost);
        let tiers = project_tiers(&plan, &deps, &router, &catalogue());
        assert_eq!(tiers.len(), 3);
        assert!(tiers[0].expected_cost < tiers[1].expected_cost);
        assert_eq!(tiers[0].tasks[1].model.as_deref(), Some("cheap"));
    }
}

//! Cost-aware step-down: when the budget left cannot cover the projected cost of the rest
//! of the plan at the current tier, the remaining tasks are routed one tier down (premium →
//! balanced → budget) instead of being refused.

use std::sync::{Arc, Mutex};

use dagent_core::{CostTracker, Money, Plan, TaskId};

use crate::projection::{Projection, project_tiers, tier_below};
use crate::{Catalogue, Router, Tier};

/// What to do when the budget cannot cover the rest of the plan (`[budget] on_exhaustion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnExhaustion {
    /// Keep the tier; calls the budget cannot cover are refused (the default).
    #[default]
    Stop,
    /// Route the remaining tasks one tier down, as often as needed.
    StepDown,
}

impl OnExhaustion {
    /// Parses `stop` or `step_down`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stop" => Some(Self::Stop),
            "step_down" => Some(Self::StepDown),
            _ => None,
        }
    }

    /// `stop` or `step_down`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::StepDown => "step_down",
        }
    }
}

/// A task routed below the configured tier, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepDownEvent {
    /// The task.
    pub task: TaskId,
    /// The configured tier.
    pub from: Tier,
    /// The tier it was routed at.
    pub to: Tier,
    /// Why: the budget left against the projected cost of the rest of the plan.
    pub reason: String,
}

#[derive(Debug)]
struct State {
    tier: Tier,
    finished: Vec<bool>,
    why: Option<String>,
    events: Vec<StepDownEvent>,
}

/// The step-down policy of one run (see the module documentation). The LLM runner asks it
/// for the tier of each attempt and tells it which tasks succeeded.
pub struct StepDown {
    budget: Money,
    configured: Tier,
    tracker: Arc<dyn CostTracker>,
    projections: Vec<Projection>,
    ids: Vec<TaskId>,
    state: Mutex<State>,
}

impl std::fmt::Debug for StepDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepDown")
            .field("budget", &self.budget)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl StepDown {
    /// The policy for `plan` (`deps[i]`: task `i`'s direct dependencies) under `budget`,
    /// reading spend from `tracker`.
    #[must_use]
    pub fn new(
        plan: &Plan,
        deps: &[Vec<usize>],
        router: &Router,
        catalogue: &Catalogue,
        budget: Money,
        tracker: Arc<dyn CostTracker>,
    ) -> Self {
        Self {
            budget,
            configured: router.tier,
            tracker,
            projections: project_tiers(plan, deps, router, catalogue),
            ids: plan.tasks.iter().map(|t| t.id.clone()).collect(),
            state: Mutex::new(State {
                tier: router.tier,
                finished: vec![false; plan.tasks.len()],
                why: None,
                events: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn at(&self, tier: Tier) -> &Projection {
        let i = Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0);
        &self.projections[i.min(self.projections.len() - 1)]
    }

    /// The tier task `index` (id `id`) is routed at now, stepping down while the budget left
    /// cannot cover the expected cost of every unfinished task at the current tier. The tier
    /// never goes back up within a run. A task appended while the plan runs (a loop's later
    /// iteration, `index` past the plan's tasks) is routed at the current tier; the
    /// projection counts one iteration of each loop.
    pub fn tier_for(&self, index: usize, id: &TaskId) -> Tier {
        let left = self.budget.saturating_sub(self.tracker.spent());
        let mut s = self.lock();
        loop {
            let unfinished = |i: usize| !s.finished.get(i).copied().unwrap_or(true);
            let rest = self.at(s.tier).expected_cost_of(unfinished);
            let Some(below) = tier_below(s.tier) else {
                break;
            };
            if rest <= left {
                break;
            }
            let count = s.finished.iter().filter(|f| !**f).count();
            s.why = Some(format!(
                "{left} of the {} budget left cannot cover the {rest} projected for the {count} unfinished task{} at the {} tier",
                self.budget,
                if count == 1 { "" } else { "s" },
                s.tier
            ));
            tracing::info!(from = %s.tier, to = %below, "budget: stepping down a tier");
            s.tier = below;
        }
        let tier = s.tier;
        let id = self.ids.get(index).unwrap_or(id);
        if tier != self.configured && !s.events.iter().any(|e| &e.task == id) {
            let reason = s.why.clone().unwrap_or_default();
            s.events.push(StepDownEvent {
                task: id.clone(),
                from: self.configured,
                to: tier,
                reason,
            });
        }
        tier
    }

    /// Task `index` succeeded: its cost is now in the spend, no longer in the projection.
    pub fn finished(&self, index: usize) {
        if let Some(f) = self.lock().finished.get_mut(index) {
            *f = true;
        }
    }

    /// Every task routed below the configured tier, in the order they started.
    #[must_use]
    pub fn events(&self) -> Vec<StepDownEvent> {
        self.lock().events.clone()
    }

    /// The projection at the configured tier.
    #[must_use]
    pub fn projection(&self) -> &Projection {
        self.at(self.configured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::{BoxFuture, Price, Reservation, Task, TaskError};

    struct Spent(Money);
    impl CostTracker for Spent {
        fn reserve<'a>(
            &'a self,
            _model: &'a str,
            _worst: Money,
        ) -> BoxFuture<'a, Result<Reservation, TaskError>> {
            Box::pin(async { Err(TaskError::permanent("unused")) })
        }
        fn spent(&self) -> Money {
            self.0
        }
    }

    fn setup(budget: &str) -> StepDown {
        let mut c = Catalogue::new();
        for (name, p) in [("dear", "100"), ("mid", "10"), ("cheap", "1")] {
            c.insert(crate::ModelInfo {
                name: name.into(),
                provider: "p".into(),
                id: name.into(),
                price: Price::new(p.parse().unwrap(), p.parse().unwrap()),
                context_window: 100_000,
                max_output_tokens: 1_000,
                capabilities: Vec::new(),
                ..crate::ModelInfo::default()
            });
        }
        let mut router = Router {
            table: crate::RoutingTable::empty(),
            tier: Tier::Premium,
            ..Router::default()
        };
        for cat in crate::TaskCategory::ALL {
            router.table.set(Tier::Premium, cat, "dear");
            router.table.set(Tier::Balanced, cat, "mid");
            router.table.set(Tier::Budget, cat, "cheap");
        }
        let plan = Plan::new(
            (0..4)
                .map(|i| Task::new(format!("t{i}"), "Analyse the market in depth"))
                .collect(),
        );
        let deps = vec![Vec::new(); 4];
        StepDown::new(
            &plan,
            &deps,
            &router,
            &c,
            budget.parse().unwrap(),
            Arc::new(Spent(Money::ZERO)),
        )
    }

    #[test]
    fn steps_down_only_as_far_as_the_budget_needs_and_records_each_task() {
        // About 1,100 tokens a task: premium ≈ $0.11, balanced ≈ $0.011, budget ≈ $0.0011.
        let s = setup("1");
        assert_eq!(
            s.tier_for(0, &"t0".into()),
            Tier::Premium,
            "4 × $0.11 fits $1"
        );
        assert!(s.events().is_empty());
        let s = setup("0.1");
        assert_eq!(s.tier_for(0, &"t0".into()), Tier::Balanced);
        s.finished(0);
        assert_eq!(s.tier_for(1, &"t1".into()), Tier::Balanced, "never back up");
        let e = s.events();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].from, e[0].to), (Tier::Premium, Tier::Balanced));
        assert!(e[0].reason.contains("cannot cover"), "{}", e[0].reason);
        // A task appended while the plan runs (a loop's next iteration, past the plan's
        // tasks) is routed at the current tier and recorded by its own id.
        assert_eq!(s.tier_for(4, &"t0#2".into()), Tier::Balanced);
        s.finished(4);
        assert_eq!(s.events().last().map(|e| e.task.as_str()), Some("t0#2"));
        let s = setup("0.01");
        assert_eq!(s.tier_for(0, &"t0".into()), Tier::Budget);
        let s = setup("0.000001");
        assert_eq!(
            s.tier_for(0, &"t0".into()),
            Tier::Budget,
            "no tier below budget"
        );
    }
}

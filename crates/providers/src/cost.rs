//! Exact cost accounting with a budget cap that is never crossed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use dagent_core::{CostTracker, Money, Reservation, TaskError, TaskErrorKind, TaskId, Usage};

/// Calls, tokens and money for one model, task or role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls settled.
    pub calls: u64,
    /// Tokens used.
    pub usage: Usage,
    /// Money spent.
    pub cost: Money,
}

impl Totals {
    fn add(&mut self, usage: Usage, cost: Money) {
        self.calls += 1;
        self.usage += usage;
        self.cost += cost;
    }
}

/// A snapshot of the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CostSummary {
    /// Everything settled.
    pub total: Totals,
    /// Per model.
    pub by_model: BTreeMap<String, Totals>,
    /// Per task.
    pub by_task: BTreeMap<String, Totals>,
    /// Per role.
    pub by_role: BTreeMap<String, Totals>,
    /// Held for calls in flight.
    pub reserved: Money,
    /// The cap, if any.
    pub budget: Option<Money>,
    /// Calls refused because their worst case could cross the cap.
    pub refused: u64,
}

impl CostSummary {
    /// What a month would cost at `runs_per_day` runs like this one (30-day month).
    #[must_use]
    pub fn monthly_projection(&self, runs_per_day: u64) -> Money {
        self.total
            .cost
            .saturating_mul(runs_per_day.saturating_mul(30))
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    reserved: Money,
    summary: CostSummary,
    warned: bool,
}

/// The cost tracker: totals per call, task, model and role, correct under concurrency (one
/// lock, no float sums), and a budget cap checked against spent + reserved + worst case
/// before every call.
#[derive(Debug, Default)]
pub struct CostLedger {
    budget: Option<Money>,
    warn_fraction: Option<f64>,
    state: Mutex<State>,
    freed: tokio::sync::Notify,
}

impl CostLedger {
    /// A ledger with an optional cap and an optional warning fraction (0.8 = warn once at
    /// 80 % of the cap).
    #[must_use]
    pub fn new(budget: Option<Money>, warn_fraction: Option<f64>) -> Self {
        let state = State {
            summary: CostSummary {
                budget,
                ..CostSummary::default()
            },
            ..State::default()
        };
        Self {
            budget,
            warn_fraction,
            state: Mutex::new(state),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// Like [`CostTracker::reserve`], but while other calls hold reservations that may be
    /// given back, waits for them instead of refusing: a call is refused only when, with
    /// nothing else in flight, its worst case could still cross the cap.
    ///
    /// # Errors
    /// A [`TaskErrorKind::Budget`] error when the call can never fit.
    pub async fn reserve_when_possible(
        &self,
        model: &str,
        worst_case: Money,
    ) -> Result<Reservation, TaskError> {
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(r) = self.try_reserve(model, worst_case) {
                return Ok(r);
            }
            if self.lock().reserved == Money::ZERO {
                // Nothing in flight can free budget: decide now (once more, in case a call
                // settled between the two checks).
                return self.reserve(model, worst_case);
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Settles a reservation with the role recorded too.
    pub fn settle_with_role(
        &self,
        reservation: Reservation,
        task: &TaskId,
        role: Option<&str>,
        model: &str,
        usage: Usage,
        actual: Money,
    ) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(reservation.amount);
        s.summary.total.add(usage, actual);
        s.summary
            .by_model
            .entry(model.to_owned())
            .or_default()
            .add(usage, actual);
        s.summary
            .by_task
            .entry(task.to_string())
            .or_default()
            .add(usage, actual);
        if let Some(role) = role {
            s.summary
                .by_role
                .entry(role.to_owned())
                .or_default()
                .add(usage, actual);
        }
        drop(s);
        self.freed.notify_waiters();
    }

    /// A snapshot.
    #[must_use]
    pub fn summary(&self) -> CostSummary {
        let s = self.lock();
        let mut out = s.summary.clone();
        out.reserved = s.reserved;
        out
    }

    /// The warning, once, when spend plus reservations first reach the warning fraction.
    pub fn take_warning(&self) -> Option<String> {
        let (budget, fraction) = (self.budget?, self.warn_fraction?);
        let mut s = self.lock();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let threshold = Money::from_nanos((budget.nanos() as f64 * fraction) as u64);
        let committed = s.summary.total.cost + s.reserved;
        if s.warned || committed < threshold {
            return None;
        }
        s.warned = true;
        Some(format!(
            "spend {} has reached {:.0}% of the {} budget",
            s.summary.total.cost,
            fraction * 100.0,
            budget
        ))
    }
}

impl CostLedger {
    fn try_reserve(&self, model: &str, worst_case: Money) -> Result<Reservation, TaskError> {
        let mut s = self.lock();
        if let Some(budget) = self.budget {
            let committed = s.summary.total.cost + s.reserved;
            if committed + worst_case > budget {
                return Err(TaskError::new(
                    TaskErrorKind::Budget,
                    format!(
                        "not launched: a call to {model} could cost up to {worst_case}, and {committed} of the {budget} budget is spent or reserved"
                    ),
                ));
            }
        }
        s.next_id += 1;
        s.reserved += worst_case;
        Ok(Reservation {
            id: s.next_id,
            amount: worst_case,
        })
    }
}

impl CostTracker for CostLedger {
    fn reserve(&self, model: &str, worst_case: Money) -> Result<Reservation, TaskError> {
        self.try_reserve(model, worst_case)
            .inspect_err(|_| self.lock().summary.refused += 1)
    }

    fn settle(
        &self,
        reservation: Reservation,
        task: &TaskId,
        model: &str,
        usage: Usage,
        actual: Money,
    ) {
        self.settle_with_role(reservation, task, None, model, usage, actual);
    }

    fn release(&self, reservation: Reservation) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(reservation.amount);
        drop(s);
        self.freed.notify_waiters();
    }

    fn spent(&self) -> Money {
        self.lock().summary.total.cost
    }
}

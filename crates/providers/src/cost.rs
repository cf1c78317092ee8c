//! Exact cost accounting with a budget cap: reservations are guards, overruns stop new
//! paid calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dagent_core::{
    BoxFuture, Charge, CostTracker, Money, Reservation, ReservationLedger, TaskError,
    TaskErrorKind, Usage,
};

/// Calls, tokens and money for one model, task or role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls settled.
    pub calls: u64,
    /// Tokens used.
    pub usage: Usage,
    /// Money spent (dagent's figure: usage at the configured price).
    pub cost: Money,
    /// The providers' own cost figures, summed over the calls that reported one.
    pub reported_cost: Money,
    /// Calls whose provider reported a cost figure.
    pub reported_calls: u64,
    /// Calls whose provider reported no usage (billed at the upper bound).
    pub estimated_calls: u64,
    /// dagent's figure for the calls whose provider reported a cost (the other side of
    /// the drift).
    pub checked_cost: Money,
    /// What the budget counts: per call, the larger of dagent's and the provider's figures.
    pub billed: Money,
}

/// dagent's figure against the provider's, over the calls whose provider reported a cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drift {
    /// dagent's figure for those calls.
    pub dagent: Money,
    /// The provider's figure for the same calls.
    pub provider: Money,
    /// Calls compared.
    pub calls: u64,
}

impl Drift {
    /// Provider minus dagent, in nano-dollars (positive: the provider charged more than
    /// dagent's price table says).
    #[must_use]
    pub fn delta_nanos(&self) -> i128 {
        i128::from(self.provider.nanos()) - i128::from(self.dagent.nanos())
    }

    /// The difference as a percentage of dagent's figure (`None` when dagent's is zero).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn percent(&self) -> Option<f64> {
        (self.dagent.nanos() > 0)
            .then(|| self.delta_nanos() as f64 * 100.0 / self.dagent.nanos() as f64)
    }

    /// The difference as a signed dollar amount (`+$0.0012`, `-$0.000003`).
    #[must_use]
    pub fn delta_display(&self) -> String {
        let d = self.delta_nanos();
        let sign = if d < 0 { '-' } else { '+' };
        format!(
            "{sign}{}",
            Money::from_nanos(u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX))
        )
    }
}

impl Totals {
    /// dagent's figure against the provider's, when any call reported a cost.
    #[must_use]
    pub fn drift(&self) -> Option<Drift> {
        (self.reported_calls > 0).then_some(Drift {
            dagent: self.checked_cost,
            provider: self.reported_cost,
            calls: self.reported_calls,
        })
    }

    fn add(&mut self, charge: &Charge) {
        self.calls += 1;
        self.usage += charge.usage;
        self.cost += charge.cost;
        self.billed += billed(charge);
        if let Some(r) = charge.reported_cost {
            self.reported_cost += r;
            self.reported_calls += 1;
            self.checked_cost += charge.cost;
        }
        if charge.usage_estimated {
            self.estimated_calls += 1;
        }
    }
}

/// What a call counts against the budget: the larger of dagent's figure and the provider's.
fn billed(charge: &Charge) -> Money {
    charge
        .reported_cost
        .map_or(charge.cost, |r| r.max(charge.cost))
}

/// A call that cost more than the worst case reserved for it: the provider reported more
/// tokens than the upper bound allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overrun {
    /// The task the call was for.
    pub task: String,
    /// The model called.
    pub model: String,
    /// What was reserved.
    pub reserved: Money,
    /// What the call cost.
    pub actual: Money,
    /// The usage the provider reported.
    pub usage: Usage,
}

impl Overrun {
    /// One line for people: which call overran, by how much.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "the call to {} for task \"{}\" cost {}, {} over the worst case of {} reserved for it ({} prompt + {} completion tokens reported)",
            self.model,
            self.task,
            self.actual,
            self.actual.saturating_sub(self.reserved),
            self.reserved,
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
        )
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
    /// Calls refused because their worst case could cross the cap (or after an overrun).
    pub refused: u64,
    /// Calls that cost more than their reservation, in settlement order. Under a cap, the
    /// first one stops every new paid call.
    pub overruns: Vec<Overrun>,
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
    open: u64,
    summary: CostSummary,
    warned: bool,
}

#[derive(Debug)]
struct Inner {
    budget: Option<Money>,
    state: Mutex<State>,
    freed: tokio::sync::Notify,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ReservationLedger for Inner {
    fn settle(&self, _id: u64, reserved: Money, charge: Charge) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(reserved);
        s.open = s.open.saturating_sub(1);
        s.summary.total.add(&charge);
        let b = &charge.billing;
        s.summary
            .by_model
            .entry(b.model.clone())
            .or_default()
            .add(&charge);
        s.summary
            .by_task
            .entry(b.task.to_string())
            .or_default()
            .add(&charge);
        if let Some(role) = &b.role {
            s.summary
                .by_role
                .entry(role.clone())
                .or_default()
                .add(&charge);
        }
        let billed = billed(&charge);
        if billed > reserved {
            s.summary.overruns.push(Overrun {
                task: b.task.to_string(),
                model: b.model.clone(),
                reserved,
                actual: billed,
                usage: charge.usage,
            });
        }
        drop(s);
        self.freed.notify_waiters();
    }

    fn release(&self, _id: u64, reserved: Money) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(reserved);
        s.open = s.open.saturating_sub(1);
        drop(s);
        self.freed.notify_waiters();
    }
}

/// The cost tracker: totals per call, task, model and role, correct under concurrency (one
/// lock, no float sums), and a budget cap checked against spent + reserved + worst case
/// before every call.
///
/// Reservations are guards ([`Reservation`]): a call that times out or is cancelled gives
/// its reservation back when its future is dropped. While other calls hold reservations, a
/// call that does not fit **waits** for them instead of being refused; it is refused only
/// when, with nothing in flight, its worst case could still cross the cap. Under a cap, a
/// settled call that cost more than its reservation (an [`Overrun`]) stops every new paid
/// call: later reservations are refused with a message naming the overrun.
#[derive(Debug, Clone)]
pub struct CostLedger {
    inner: Arc<Inner>,
    warn_fraction: Option<f64>,
}

impl Default for CostLedger {
    fn default() -> Self {
        Self::new(None, None)
    }
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
            inner: Arc::new(Inner {
                budget,
                state: Mutex::new(state),
                freed: tokio::sync::Notify::new(),
            }),
            warn_fraction,
        }
    }

    /// The cap this ledger enforces (`None`: no budget).
    #[must_use]
    pub fn budget(&self) -> Option<Money> {
        self.inner.budget
    }

    /// Holds `worst_case` for a call to `model`, waiting while calls in flight may free
    /// budget (see the type's documentation).
    ///
    /// # Errors
    /// A [`TaskErrorKind::Budget`] error when the call can never fit, or after an overrun.
    pub async fn reserve(&self, model: &str, worst_case: Money) -> Result<Reservation, TaskError> {
        loop {
            let notified = self.inner.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_reserve(model, worst_case) {
                Ok(r) => return Ok(r),
                Err((e, can_wait)) => {
                    if !can_wait {
                        self.inner.lock().summary.refused += 1;
                        return Err(e);
                    }
                }
            }
            notified.await;
        }
    }

    /// `Err((error, worth waiting))`.
    fn try_reserve(
        &self,
        model: &str,
        worst_case: Money,
    ) -> Result<Reservation, (TaskError, bool)> {
        let mut s = self.inner.lock();
        if let Some(budget) = self.inner.budget {
            if let Some(first) = s.summary.overruns.first() {
                return Err((
                    TaskError::new(
                        TaskErrorKind::Budget,
                        format!(
                            "not launched: no new paid call starts after a provider overran its reservation ({}); the {budget} budget cannot be guaranteed",
                            first.describe()
                        ),
                    ),
                    false,
                ));
            }
            let committed = s.summary.total.billed + s.reserved;
            if committed + worst_case > budget {
                return Err((
                    TaskError::new(
                        TaskErrorKind::Budget,
                        format!(
                            "not launched: a call to {model} could cost up to {worst_case}, and {committed} of the {budget} budget is spent or reserved"
                        ),
                    ),
                    s.open > 0 && s.summary.total.billed + worst_case <= budget,
                ));
            }
        }
        s.next_id += 1;
        s.reserved += worst_case;
        s.open += 1;
        let id = s.next_id;
        drop(s);
        let ledger: Arc<dyn ReservationLedger> = self.inner.clone();
        Ok(Reservation::new(id, worst_case, ledger))
    }

    /// A snapshot.
    #[must_use]
    pub fn summary(&self) -> CostSummary {
        let s = self.inner.lock();
        let mut out = s.summary.clone();
        out.reserved = s.reserved;
        out
    }

    /// Total settled spend so far, as the budget counts it: per call, the larger of
    /// dagent's figure and the provider's.
    #[must_use]
    pub fn spent(&self) -> Money {
        self.inner.lock().summary.total.billed
    }

    /// The warning, once, when spend plus reservations first reach the warning fraction.
    pub fn take_warning(&self) -> Option<String> {
        let (budget, fraction) = (self.inner.budget?, self.warn_fraction?);
        let mut s = self.inner.lock();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let threshold = Money::from_nanos((budget.nanos() as f64 * fraction) as u64);
        let committed = s.summary.total.billed + s.reserved;
        if s.warned || committed < threshold {
            return None;
        }
        s.warned = true;
        Some(format!(
            "spend {} has reached {:.0}% of the {} budget",
            s.summary.total.billed,
            fraction * 100.0,
            budget
        ))
    }
}

impl CostTracker for CostLedger {
    fn reserve<'a>(
        &'a self,
        model: &'a str,
        worst_case: Money,
    ) -> BoxFuture<'a, Result<Reservation, TaskError>> {
        Box::pin(CostLedger::reserve(self, model, worst_case))
    }

    fn spent(&self) -> Money {
        CostLedger::spent(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::Billing;

    fn charge(cost: u64) -> Charge {
        Charge {
            billing: Billing::new("t", "m"),
            usage: Usage::new(1, 1),
            usage_estimated: false,
            cost: Money::from_nanos(cost),
            reported_cost: None,
        }
    }

    #[tokio::test]
    async fn the_budget_charges_the_larger_figure_and_the_drift_is_kept() {
        let ledger = CostLedger::new(Some(Money::from_nanos(1_000)), None);
        // The provider says more than dagent's table: the budget counts the provider's.
        let r = ledger.reserve("m", Money::from_nanos(500)).await.unwrap();
        r.settle(Charge {
            reported_cost: Some(Money::from_nanos(300)),
            ..charge(200)
        });
        // The provider says less: the budget counts dagent's.
        let r = ledger.reserve("m", Money::from_nanos(500)).await.unwrap();
        r.settle(Charge {
            reported_cost: Some(Money::from_nanos(50)),
            ..charge(100)
        });
        let s = ledger.summary();
        assert_eq!(s.total.cost, Money::from_nanos(300));
        assert_eq!(s.total.billed, Money::from_nanos(400));
        assert_eq!(ledger.spent(), Money::from_nanos(400));
        let d = s.by_model["m"].drift().unwrap();
        assert_eq!(
            (d.dagent, d.provider, d.calls),
            (Money::from_nanos(300), Money::from_nanos(350), 2)
        );
        assert_eq!(d.delta_nanos(), 50);
        assert!((d.percent().unwrap() - 16.666).abs() < 0.01);
        assert_eq!(d.delta_display(), "+$0.00000005");
        // 400 billed: a call whose worst case is 601 no longer fits the 1,000 cap.
        let err = ledger
            .reserve("m", Money::from_nanos(601))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), TaskErrorKind::Budget);
        // A provider figure above the reservation is an overrun.
        let r = ledger.reserve("m", Money::from_nanos(10)).await.unwrap();
        r.settle(Charge {
            reported_cost: Some(Money::from_nanos(20)),
            ..charge(5)
        });
        assert_eq!(ledger.summary().overruns.len(), 1);
    }

    #[tokio::test]
    async fn a_dropped_reservation_is_released_and_settling_consumes_it() {
        let ledger = CostLedger::new(Some(Money::from_nanos(100)), None);
        let r = ledger.reserve("m", Money::from_nanos(60)).await.unwrap();
        assert_eq!(ledger.summary().reserved, Money::from_nanos(60));
        drop(r);
        assert_eq!(ledger.summary().reserved, Money::ZERO);
        let r = ledger.reserve("m", Money::from_nanos(60)).await.unwrap();
        r.settle(charge(10));
        let s = ledger.summary();
        assert_eq!(
            (s.reserved, s.total.cost),
            (Money::ZERO, Money::from_nanos(10))
        );
        assert!(s.overruns.is_empty());
    }

    #[tokio::test]
    async fn an_overrun_is_recorded_and_stops_new_calls_with_the_reason() {
        let ledger = CostLedger::new(Some(Money::from_nanos(1_000)), None);
        let r = ledger.reserve("m", Money::from_nanos(10)).await.unwrap();
        r.settle(charge(25));
        let s = ledger.summary();
        assert_eq!(s.overruns.len(), 1);
        assert_eq!(s.overruns[0].actual, Money::from_nanos(25));
        let err = ledger.reserve("m", Money::from_nanos(1)).await.unwrap_err();
        assert_eq!(err.kind(), TaskErrorKind::Budget);
        assert!(
            err.message().contains("overran its reservation")
                && err.message().contains("task \"t\""),
            "{err}"
        );
        assert_eq!(ledger.summary().refused, 1);
    }
}

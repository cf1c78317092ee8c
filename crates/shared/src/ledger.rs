//! The budget's reserve-then-settle ledger in Redis: one spend figure and one set of open
//! reservations per budget name, shared by every process that names it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use dagent_core::{
    BoxFuture, Charge, CostTracker, Money, Reservation, ReservationLedger, TaskError, TaskErrorKind,
};
use redis::Script;

use crate::SharedRedis;

/// Amounts kept in Redis stay below 2^53 nano-dollars (about $9 million), so Lua's numbers
/// are exact.
const MAX_SAFE: u64 = (1 << 53) - 1;

fn safe(m: Money) -> u64 {
    m.nanos().min(MAX_SAFE)
}

/// KEYS: state hash, expiry zset, amount hash. ARGV: cap (-1 = none), worst, ttl ms, member.
/// Returns {0, spent, reserved} when reserved, {1, spent, reserved, open} when it does not
/// fit, {2, spent, reserved} after an overrun.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(dead) do
  local a = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  redis.call('HINCRBY', KEYS[1], 'reserved', -a)
  redis.call('HINCRBY', KEYS[1], 'expired', 1)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local cap = tonumber(ARGV[1])
local worst = tonumber(ARGV[2])
if cap >= 0 then
  if redis.call('HEXISTS', KEYS[1], 'overrun') == 1 then
    return {2, spent, reserved}
  end
  if spent + reserved + worst > cap then
    return {1, spent, reserved, redis.call('ZCARD', KEYS[2])}
  end
end
redis.call('HINCRBY', KEYS[1], 'reserved', worst)
redis.call('HSET', KEYS[3], ARGV[4], worst)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
return {0, spent, reserved}
",
    )
});

/// KEYS as above. ARGV: member, charged (-1 = release), overrun flag (1/0). Returns {spent}.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local a = redis.call('HGET', KEYS[3], ARGV[1])
if a then
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(a))
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local charged = tonumber(ARGV[2])
if charged >= 0 then
  redis.call('HINCRBY', KEYS[1], 'spent', charged)
  redis.call('HINCRBY', KEYS[1], 'calls', 1)
end
if ARGV[3] == '1' then
  redis.call('HSETNX', KEYS[1], 'overrun', ARGV[1])
end
return {tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')}
",
    )
});

/// KEYS[1]: expiry zset. ARGV: ttl ms, members… — renews this process's reservations.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
return {#ARGV - 1}
",
    )
});

/// KEYS[1]: state hash. Returns {spent, reserved, calls, expired}.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h = KEYS[1]
return {tonumber(redis.call('HGET', h, 'spent') or '0'), tonumber(redis.call('HGET', h, 'reserved') or '0'),
  tonumber(redis.call('HGET', h, 'calls') or '0'), tonumber(redis.call('HGET', h, 'expired') or '0')}
",
    )
});

/// The shared ledger's figures, as Redis holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedTotals {
    /// Settled spend of every process (each call charged the larger of dagent's and the
    /// provider's figure).
    pub spent: Money,
    /// Held for calls in flight.
    pub reserved: Money,
    /// Calls settled.
    pub calls: u64,
    /// Reservations that expired because their process stopped renewing them.
    pub expired: u64,
}

struct Open {
    member: String,
    local: Reservation,
}

struct Inner {
    redis: SharedRedis,
    keys: Vec<String>,
    budget: Option<Money>,
    local: Arc<dyn CostTracker>,
    instance: String,
    next: AtomicU64,
    /// All processes' settled spend, as Redis last reported it (nano-dollars).
    global_spent: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
    renewing: std::sync::Once,
}

impl Inner {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ReservationLedger for Inner {
    fn settle(&self, id: u64, reserved: Money, charge: Charge) {
        let Some(open) = self.open().remove(&id) else {
            return;
        };
        let charged = charge
            .reported_cost
            .map_or(charge.cost, |r| r.max(charge.cost));
        let overrun = charged > reserved;
        open.local.settle(charge);
        self.redis.record(
            &SETTLE,
            self.keys.clone(),
            vec![
                open.member,
                safe(charged).to_string(),
                if overrun && self.budget.is_some() {
                    "1"
                } else {
                    "0"
                }
                .into(),
            ],
        );
    }

    fn release(&self, id: u64, _reserved: Money) {
        let Some(open) = self.open().remove(&id) else {
            return;
        };
        open.local.release();
        self.redis.record(
            &SETTLE,
            self.keys.clone(),
            vec![open.member, "-1".into(), "0".into()],
        );
    }
}

/// The budget ledger shared by every dagent process that names the same budget on the same
/// Redis server: a [`CostTracker`] with [`dagent_providers`]' `CostLedger` semantics.
///
/// * A reservation is a guard: settled or released exactly once, released on drop. It is
///   first taken in the `local` tracker (this process's totals, for its report), then in
///   Redis by an atomic script that checks spent + reserved + worst case against the cap.
/// * Settling charges the larger of the call's cost and the provider's own figure.
/// * While reservations of any process are open, a call that does not fit waits (polling)
///   for them; with nothing open it is refused. After an overrun no new paid call starts.
/// * Each reservation carries an expiry, renewed by its process while it lives: a process
///   that crashes cannot hold budget longer than `reservation_ttl`.
/// * When Redis cannot be reached, no paid call starts: the tracker waits or refuses, per
///   [`crate::OnUnavailable`]. Settlements are queued and retried (see
///   [`SharedRedis::flush`]).
///
/// [`dagent_providers`]: https://docs.rs/dagent-providers
#[derive(Clone)]
pub struct SharedLedger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLedger")
            .field("keys", &self.inner.keys[0])
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

impl SharedLedger {
    /// A ledger for budget `name` capped at `budget` (every process sharing it should give
    /// the same cap), recording this process's calls in `local` too.
    #[must_use]
    pub fn new(
        redis: SharedRedis,
        name: &str,
        budget: Option<Money>,
        local: Arc<dyn CostTracker>,
    ) -> Self {
        let keys = vec![
            redis.key(&["budget", name]),
            redis.key(&["budget", name, "expiry"]),
            redis.key(&["budget", name, "amounts"]),
        ];
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            inner: Arc::new(Inner {
                redis,
                keys,
                budget,
                local,
                instance: format!("{}-{nanos:x}", std::process::id()),
                next: AtomicU64::new(0),
                global_spent: AtomicU64::new(0),
                open: Mutex::new(HashMap::new()),
                renewing: std::sync::Once::new(),
            }),
        }
    }

    /// The Redis handle.
    #[must_use]
    pub fn redis(&self) -> &SharedRedis {
        &self.inner.redis
    }

    /// The figures in Redis (all processes together).
    ///
    /// # Errors
    /// Redis cannot be reached.
    pub async fn totals(&self) -> Result<SharedTotals, String> {
        let v = self
            .inner
            .redis
            .eval_once(&READ, vec![self.inner.keys[0].clone()], Vec::new())
            .await
            .map_err(|e| e.0)?;
        let at = |i: usize| u64::try_from(v.get(i).copied().unwrap_or(0)).unwrap_or(0);
        Ok(SharedTotals {
            spent: Money::from_nanos(at(0)),
            reserved: Money::from_nanos(at(1)),
            calls: at(2),
            expired: at(3),
        })
    }

    fn start_renewing(&self) {
        self.inner.renewing.call_once(|| {
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            let ttl = self.inner.redis.config().reservation_ttl;
            let every = (ttl / 3).max(Duration::from_millis(100));
            self.inner.redis.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(inner) = weak.upgrade() else { return };
                    let mut args = vec![ttl.as_millis().to_string()];
                    args.extend(inner.open().values().map(|o| o.member.clone()));
                    if args.len() > 1 {
                        let _ = inner
                            .redis
                            .eval_once(&RENEW, vec![inner.keys[1].clone()], args)
                            .await;
                    }
                }
            });
        });
    }

    /// Holds `worst_case` for a call to `model`, here and in Redis (see the type's
    /// documentation).
    ///
    /// # Errors
    /// A [`TaskErrorKind::Budget`] error when the call can never fit, after an overrun, or
    /// when Redis is unavailable and `on_unavailable = "fail"`.
    pub async fn reserve(&self, model: &str, worst_case: Money) -> Result<Reservation, TaskError> {
        if let Some(cap) = self.inner.budget
            && worst_case > cap
        {
            return Err(TaskError::new(
                TaskErrorKind::Budget,
                format!(
                    "not launched: a call to {model} could cost up to {worst_case}, more than the whole {cap} shared budget"
                ),
            ));
        }
        self.start_renewing();
        let local = self.inner.local.reserve(model, worst_case).await?;
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed) + 1;
        let member = format!("{}-{id}", self.inner.instance);
        let ttl = self.inner.redis.config().reservation_ttl;
        let cap = self
            .inner
            .budget
            .map_or_else(|| "-1".to_owned(), |b| safe(b).to_string());
        let args = vec![
            cap,
            safe(worst_case).to_string(),
            ttl.as_millis().to_string(),
            member.clone(),
        ];
        let mut delay = Duration::from_millis(25);
        loop {
            let v = self
                .inner
                .redis
                .eval(&RESERVE, &self.inner.keys, &args)
                .await
                .map_err(|e| TaskError::new(TaskErrorKind::Budget, e.0))?;
            let money = |i: usize| {
                Money::from_nanos(u64::try_from(v.get(i).copied().unwrap_or(0)).unwrap_or(0))
            };
            self.inner
                .global_spent
                .fetch_max(money(1).nanos(), Ordering::Relaxed);
            match v.first().copied() {
                Some(0) => {
                    self.inner.open().insert(id, Open { member, local });
                    let ledger: Arc<dyn ReservationLedger> = self.inner.clone();
                    return Ok(Reservation::new(id, worst_case, ledger));
                }
                Some(2) => {
                    return Err(TaskError::new(
                        TaskErrorKind::Budget,
                        "not launched: a call billed to the shared budget cost more than its reservation, so no new paid call starts".to_owned(),
                    ));
                }
                _ => {
                    let (spent, reserved, open) = (money(1), money(2), v.get(3).copied());
                    let cap = self.inner.budget.unwrap_or(Money::ZERO);
                    if open.unwrap_or(0) > 0 && spent + worst_case <= cap {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                        continue;
                    }
                    return Err(TaskError::new(
                        TaskErrorKind::Budget,
                        format!(
                            "not launched: a call to {model} could cost up to {worst_case}, and {} of the {cap} shared budget is spent or reserved by all processes",
                            spent + reserved
                        ),
                    ));
                }
            }
        }
    }

    /// Waits up to `limit` for this process's settlements to reach Redis; returns how many
    /// have not.
    pub async fn flush(&self, limit: Duration) -> usize {
        self.inner.redis.flush(limit).await
    }
}

impl CostTracker for SharedLedger {
    fn reserve<'a>(
        &'a self,
        model: &'a str,
        worst_case: Money,
    ) -> BoxFuture<'a, Result<Reservation, TaskError>> {
        Box::pin(SharedLedger::reserve(self, model, worst_case))
    }

    /// The larger of this process's settled spend and all processes' spend as Redis last
    /// reported it (what budget is left for, e.g., the step-down policy).
    fn spent(&self) -> Money {
        self.inner.local.spent().max(Money::from_nanos(
            self.inner.global_spent.load(Ordering::Relaxed),
        ))
    }
}

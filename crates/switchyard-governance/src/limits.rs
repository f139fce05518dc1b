//! Rate limits, parallel limits and budgets, admitted together and atomically.
//!
//! Each subject of a limit (a key, a team, a user, an end user, a key's model, the whole
//! gateway) is a [`Descriptor`], and its counters are a [`Counter`] of its own, behind a lock
//! of its own: requests of different subjects never meet on a lock, and no lock is shared by
//! the whole gateway. A descriptor usually carries its counter (cached with the record it
//! comes from), so admission does not look counters up by name either.
//!
//! [`Limiter::admit`] checks and counts a request in each descriptor in turn, each in one step
//! under that counter's lock, so concurrent requests can never slip past a limit between a
//! check and a count. A request refused by a later descriptor takes back what it counted in
//! the earlier ones. Meanwhile another request may see that count and be refused too: a race
//! at a limit can refuse a request that would have fit, never admit one that does not.
//!
//! - **Requests and tokens per minute**: a sliding window of 61 one-second buckets. The window
//!   always spans at least the last 60 s, so no 60 s interval ever admits more than the limit
//!   (no fixed-window double burst). Tokens are counted from the estimate at admission and
//!   corrected to the real usage at the end.
//! - **Parallel requests**: counted in at admission, out when the request ends (its guard is
//!   dropped, whatever the way: success, failure, client gone, panic).
//! - **Budgets**: spend in the current budget period plus the reservations of requests in
//!   flight. A request is admitted while that sum is under the budget, and reserves its
//!   worst-case cost (prompt priced, plus `max_tokens` or the model's output limit priced at
//!   the output price). At the end the reservation becomes the real cost. The bound: spend can
//!   pass a budget only by what the requests admitted before it was reached actually cost
//!   beyond the remaining budget, at most one request's worst-case cost per instance,
//!   because each admission sees all reservations before it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use crossbeam_utils::CachePadded;

/// Window length, seconds.
const WINDOW: i64 = 60;
/// Buckets kept: the current second and the 60 before it.
const SLOTS: usize = 61;

/// Per-second counts over the last minute, and their sum: reading the window's total is one
/// load, not a walk over its 61 slots (a request reads one or two totals per descriptor).
#[derive(Debug, Clone)]
struct Ring {
    secs: [i64; SLOTS],
    counts: [u64; SLOTS],
    /// The newest second seen: the window is the `SLOTS` seconds ending with it. It never
    /// moves back (a clock stepped back reads the newer window).
    newest: i64,
    /// The counts of the seconds in the window.
    sum: u64,
    /// No second before this one holds a count (`i64::MAX`: none does): where the search for
    /// the oldest counted second starts.
    first: i64,
}

impl Default for Ring {
    fn default() -> Self {
        Ring {
            secs: [i64::MIN; SLOTS],
            counts: [0; SLOTS],
            newest: i64::MIN,
            sum: 0,
            first: i64::MAX,
        }
    }
}

impl Ring {
    fn slot(sec: i64) -> usize {
        sec.rem_euclid(SLOTS as i64) as usize
    }

    /// Whether `sec` is in the window.
    fn holds(&self, sec: i64) -> bool {
        sec > self.newest.saturating_sub(SLOTS as i64) && sec <= self.newest
    }

    /// Moves the window's end to `now`, taking the seconds that leave it out of the sum.
    fn advance(&mut self, now: i64) {
        if now <= self.newest {
            return;
        }
        if self.newest == i64::MIN || now - self.newest >= SLOTS as i64 {
            *self = Ring {
                newest: now,
                ..Ring::default()
            };
            return;
        }
        for sec in (self.newest - SLOTS as i64 + 1)..=(now - SLOTS as i64) {
            let i = Ring::slot(sec);
            if self.secs[i] == sec {
                self.sum = self.sum.saturating_sub(self.counts[i]);
                self.counts[i] = 0;
            }
        }
        self.newest = now;
    }

    fn total(&mut self, now: i64) -> u64 {
        self.advance(now);
        self.sum
    }

    /// Counts `n` at second `at`: now, or (a correction at a request's end) the second it
    /// was admitted in. A second that has left the window no longer counts, and is dropped.
    fn add(&mut self, at: i64, n: u64) {
        self.advance(at);
        if !self.holds(at) {
            return;
        }
        let i = Ring::slot(at);
        if self.secs[i] != at {
            // The slot's last second left the window: `advance` took it out of the sum.
            self.secs[i] = at;
            self.counts[i] = 0;
        }
        self.counts[i] = self.counts[i].saturating_add(n);
        self.sum = self.sum.saturating_add(n);
        if n > 0 {
            self.first = self.first.min(at);
        }
    }

    /// Takes back up to `n` counted at `at` (an estimate that was too high).
    fn sub(&mut self, at: i64, n: u64) {
        let i = Ring::slot(at);
        if self.holds(at) && self.secs[i] == at {
            let n = n.min(self.counts[i]);
            self.counts[i] -= n;
            self.sum = self.sum.saturating_sub(n);
        }
    }

    /// Seconds until the oldest counted second leaves the window: the first second with a
    /// count, searched from the last one found (usually the first one looked at).
    fn reset_in(&mut self, now: i64) -> i64 {
        let end = self.newest.max(now);
        for sec in self.first.max(now - SLOTS as i64 + 1)..=end {
            let i = Ring::slot(sec);
            if self.secs[i] == sec && self.counts[i] > 0 {
                self.first = sec;
                return (sec + SLOTS as i64 - now).clamp(0, WINDOW + 1);
            }
        }
        self.first = i64::MAX;
        0
    }
}

/// A budget on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The budget, nano-dollars.
    pub max_nano: i64,
    /// Start of the current period, ms since the epoch (0: the budget never resets).
    pub period_start: i64,
    /// Spend already recorded in this period when the counter was first used (from the
    /// store at start-up), nano-dollars.
    pub base_nano: i64,
}

/// One subject of limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// What it is, as LiteLLM names it in headers and errors: `api_key`, `team`, `user`,
    /// `end_user`, `model_per_key`, `global`.
    pub scope: &'static str,
    /// Who (a key hash, a team id, ...); part of the counter's identity.
    pub id: String,
    /// Shown in messages instead of the id (a key alias; never a secret).
    pub label: String,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests in flight.
    pub parallel: Option<u64>,
    /// Budget.
    pub budget: Option<Budget>,
    /// Its counter, when the caller has it (from [`Limiter::counter`]); without one the
    /// limiter finds it by scope and id.
    pub counter: Option<Arc<Counter>>,
}

impl Descriptor {
    /// Whether it limits anything.
    pub fn limits(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some() || self.parallel.is_some() || self.budget.is_some()
    }
}

#[derive(Debug, Default)]
struct Cell {
    requests: Ring,
    tokens: Ring,
    in_flight: u64,
    period: i64,
    spent: i64,
    reserved: i64,
    budget_seen: bool,
}

impl Cell {
    /// The budget counters for `b`'s period (a new period starts from its base spend).
    fn roll(&mut self, b: &Budget) {
        if !self.budget_seen || self.period != b.period_start {
            self.period = b.period_start;
            self.spent = b.base_nano;
            self.budget_seen = true;
            // Reservations of requests still in flight from the last period stay counted:
            // they are released against this cell when those requests end.
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A rate or parallel limit.
    Rate {
        /// The descriptor's scope.
        scope: &'static str,
        /// Its label.
        label: String,
        /// `requests`, `tokens` or `max_parallel_requests`.
        kind: &'static str,
        /// The limit.
        limit: u64,
        /// Seconds until a retry can pass.
        retry_after: u64,
    },
    /// A budget.
    Budget {
        /// The descriptor's scope.
        scope: &'static str,
        /// Its label.
        label: String,
        /// Spend in the period, reservations included, USD.
        spend: f64,
        /// The budget, USD.
        max: f64,
    },
}

impl Refusal {
    /// The client's error: status, LiteLLM type, message, retry-after seconds.
    pub fn to_error(&self) -> (u16, &'static str, String, Option<u64>) {
        match self {
            Refusal::Rate {
                scope,
                label,
                kind,
                limit,
                retry_after,
            } => (
                429,
                "rate_limit_error",
                format!(
                    "Rate limit exceeded for {scope}: {label}. Limit type: {kind}. Current limit: {limit}, Remaining: 0. Retry in {retry_after} s."
                ),
                Some(*retry_after),
            ),
            Refusal::Budget {
                scope,
                label,
                spend,
                max,
            } => (
                429,
                "budget_exceeded",
                format!(
                    "Budget has been exceeded! {scope}={label}. Current cost: {spend}, Max budget: {max}"
                ),
                None,
            ),
        }
    }
}

/// What a request's `x-ratelimit-*` headers say about one descriptor (the key's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Requests per minute, if limited.
    pub limit_requests: Option<u64>,
    /// Requests left in the window.
    pub remaining_requests: u64,
    /// Seconds until the request window frees a slot.
    pub reset_requests: i64,
    /// Tokens per minute, if limited.
    pub limit_tokens: Option<u64>,
    /// Tokens left in the window.
    pub remaining_tokens: u64,
    /// Seconds until the token window frees.
    pub reset_tokens: i64,
}

/// One subject's counters: its windows, requests in flight and budget, behind its own lock.
/// Cache-padded, so two subjects' counters never share a cache line: false sharing made two
/// threads counting different keys as slow together as one (measured, `benches/limiter.rs`).
#[derive(Debug, Default)]
pub struct Counter(CachePadded<Mutex<Cell>>);

impl Counter {
    fn lock(&self) -> MutexGuard<'_, Cell> {
        // A panic under the lock leaves plain counters, each consistent: keep counting.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PartialEq for Counter {
    /// The same subject's counter (counters are shared, never copied).
    fn eq(&self, other: &Counter) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Counter {}

/// What admission reads off the first descriptor: its windows after the request, and its
/// budget period's spend.
type First = (Remaining, Option<i64>);

impl Cell {
    /// Checks `d`'s limits and, when they pass, counts the request: one step under the
    /// counter's lock. `first` also reads what the key's headers say.
    fn take(
        &mut self,
        d: &Descriptor,
        first: bool,
        now: i64,
        est_tokens: u64,
        est_cost: i64,
    ) -> Result<Option<First>, Refusal> {
        let requests = if d.rpm.is_some() || first {
            self.requests.total(now)
        } else {
            0
        };
        let tokens = if d.tpm.is_some() || first {
            self.tokens.total(now)
        } else {
            0
        };
        let rate = |kind, limit, retry_after| Refusal::Rate {
            scope: d.scope,
            label: d.label.clone(),
            kind,
            limit,
            retry_after,
        };
        if let Some(limit) = d.rpm {
            if requests + 1 > limit {
                let retry = self.requests.reset_in(now).max(1) as u64;
                return Err(rate("requests", limit, retry));
            }
        }
        if let Some(limit) = d.tpm {
            if tokens >= limit {
                let retry = self.tokens.reset_in(now).max(1) as u64;
                return Err(rate("tokens", limit, retry));
            }
        }
        if let Some(limit) = d.parallel {
            if self.in_flight + 1 > limit {
                return Err(rate("max_parallel_requests", limit, 1));
            }
        }
        if let Some(b) = &d.budget {
            self.roll(b);
            let committed = self.spent.saturating_add(self.reserved);
            if committed >= b.max_nano {
                return Err(Refusal::Budget {
                    scope: d.scope,
                    label: d.label.clone(),
                    spend: committed as f64 / 1e9,
                    max: b.max_nano as f64 / 1e9,
                });
            }
            self.reserved = self.reserved.saturating_add(est_cost);
        }
        self.requests.add(now, 1);
        self.tokens.add(now, est_tokens);
        self.in_flight += 1;
        if !first {
            return Ok(None);
        }
        // The totals after this request: those checked, plus what it added.
        let remaining = Remaining {
            limit_requests: d.rpm,
            remaining_requests: d
                .rpm
                .map_or(0, |l| l.saturating_sub(requests.saturating_add(1))),
            reset_requests: self.requests.reset_in(now),
            limit_tokens: d.tpm,
            remaining_tokens: d
                .tpm
                .map_or(0, |l| l.saturating_sub(tokens.saturating_add(est_tokens))),
            reset_tokens: self.tokens.reset_in(now),
        };
        // The budget was rolled to the current period above.
        Ok(Some((remaining, d.budget.map(|_| self.spent))))
    }

    /// Ends a request counted at second `at`: with its real usage, or (`None`) released
    /// with nothing spent.
    fn end(
        &mut self,
        at: i64,
        est_tokens: u64,
        est_cost: i64,
        budget: bool,
        actual: Option<(u64, i64)>,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match actual {
            Some((tokens, _)) if tokens >= est_tokens => self.tokens.add(at, tokens - est_tokens),
            Some((tokens, _)) => self.tokens.sub(at, est_tokens - tokens),
            None => {}
        }
        if budget {
            self.reserved = self.reserved.saturating_sub(est_cost).max(0);
            if let Some((_, cost)) = actual {
                self.spent = self.spent.saturating_add(cost);
            }
        }
    }

    /// Takes back a request [`Cell::take`] counted at `at` (a later descriptor refused it).
    fn untake(&mut self, at: i64, est_tokens: u64, est_cost: i64, budget: bool) {
        self.requests.sub(at, 1);
        self.tokens.sub(at, est_tokens);
        self.end(at, est_tokens, est_cost, budget, None);
    }
}

/// Every subject's counter in this process.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Counters by `scope:id`: read when a record is first admitted after it is cached (the
    /// record then keeps its counter), never while counting.
    counters: RwLock<HashMap<String, Arc<Counter>>>,
}

/// A request counted in its descriptors; ends its parallel count and reservation when dropped.
#[derive(Debug)]
pub struct Admission {
    /// Each descriptor's counter, and whether it holds a budget reservation.
    counted: Vec<(Arc<Counter>, bool)>,
    second: i64,
    est_tokens: u64,
    est_cost: i64,
    settled: bool,
    /// The first descriptor's windows after admission (for headers).
    pub remaining: Remaining,
    /// The first descriptor's spend in its budget period (reservations excluded), read under
    /// its counter's lock; `None` without a budget.
    pub spent: Option<i64>,
}

impl Limiter {
    /// A new, empty limiter.
    pub fn new() -> Arc<Limiter> {
        Arc::new(Limiter::default())
    }

    /// The counter of `scope`'s `id`, made on first use; the same one for as long as the
    /// process runs.
    pub fn counter(&self, scope: &str, id: &str) -> Arc<Counter> {
        let name = format!("{scope}:{id}");
        if let Some(c) = self
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
        {
            return Arc::clone(c);
        }
        let mut all = self
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(all.entry(name).or_default())
    }

    /// Checks every descriptor and counts the request in each; a refusal takes back what
    /// was counted.
    pub fn admit(
        &self,
        descs: &[Descriptor],
        est_tokens: u64,
        est_cost_nano: i64,
        now_ms: i64,
    ) -> Result<Admission, Refusal> {
        let now = now_ms.div_euclid(1000);
        let mut a = Admission {
            counted: Vec::with_capacity(descs.len()),
            second: now,
            est_tokens,
            est_cost: est_cost_nano,
            // Until every descriptor has counted it, dropping it takes the counts back.
            settled: false,
            remaining: Remaining::default(),
            spent: None,
        };
        for (i, d) in descs.iter().enumerate() {
            let counter = match &d.counter {
                Some(c) => Arc::clone(c),
                None => self.counter(d.scope, &d.id),
            };
            let taken = counter
                .lock()
                .take(d, i == 0, now, est_tokens, est_cost_nano);
            match taken {
                Ok(first) => {
                    if let Some((remaining, spent)) = first {
                        a.remaining = remaining;
                        a.spent = spent;
                    }
                    a.counted.push((counter, d.budget.is_some()));
                }
                Err(refusal) => {
                    a.settled = true;
                    for (c, budget) in &a.counted {
                        c.lock().untake(now, est_tokens, est_cost_nano, *budget);
                    }
                    return Err(refusal);
                }
            }
        }
        Ok(a)
    }

    /// Forgets a descriptor's budget counter (its spend was reset).
    pub fn reset_budget(&self, scope: &str, id: &str) {
        let c = self.counter(scope, id);
        let mut c = c.lock();
        c.budget_seen = false;
        c.spent = 0;
    }
}

impl Admission {
    /// Ends the request with its real token count and cost.
    pub fn settle(mut self, tokens: u64, cost_nano: i64) {
        self.finish(Some((tokens, cost_nano)));
    }

    fn finish(&mut self, actual: Option<(u64, i64)>) {
        if self.settled {
            return;
        }
        self.settled = true;
        for (c, budget) in &self.counted {
            c.lock()
                .end(self.second, self.est_tokens, self.est_cost, *budget, actual);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // Never settled (a failure before any usage, a client gone, a panic): release.
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rpm: Option<u64>, parallel: Option<u64>, budget: Option<i64>) -> Descriptor {
        Descriptor {
            scope: "api_key",
            id: "k".into(),
            label: "k".into(),
            rpm,
            tpm: None,
            parallel,
            budget: budget.map(|max_nano| Budget {
                max_nano,
                period_start: 0,
                base_nano: 0,
            }),
            counter: None,
        }
    }

    #[test]
    fn the_window_slides_and_never_admits_more_than_the_limit_in_any_minute() {
        let l = Limiter::new();
        let d = [key(Some(10), None, None)];
        let t0 = 1_000_000_000_000i64;
        let mut admitted = Vec::new();
        // One attempt every 100 ms for three minutes.
        for i in 0..1800 {
            let now = t0 + i * 100;
            if let Ok(a) = l.admit(&d, 0, 0, now) {
                a.settle(0, 0);
                admitted.push(now);
            }
        }
        for (i, t) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|u| **u < t + 60_000)
                .count();
            assert!(in_window <= 10, "{in_window} in the minute from {t}");
        }
        assert!(
            admitted.len() >= 27,
            "the limit frees up: {}",
            admitted.len()
        );
    }

    #[test]
    fn parallel_limits_release_on_drop() {
        let l = Limiter::new();
        let d = [key(None, Some(2), None)];
        let a = l.admit(&d, 0, 0, 0).unwrap();
        let b = l.admit(&d, 0, 0, 0).unwrap();
        assert!(matches!(
            l.admit(&d, 0, 0, 0),
            Err(Refusal::Rate {
                kind: "max_parallel_requests",
                ..
            })
        ));
        drop(a);
        let c = l.admit(&d, 0, 0, 0).unwrap();
        drop((b, c));
        assert!(l.admit(&d, 0, 0, 0).is_ok());
    }

    #[test]
    fn budgets_reserve_worst_case_and_settle_to_the_real_cost() {
        let l = Limiter::new();
        let d = [key(None, None, Some(1_000))];
        let a = l.admit(&d, 0, 600, 0).unwrap();
        let b = l.admit(&d, 0, 600, 0).unwrap();
        // 1200 reserved: the budget is spoken for until they end.
        assert!(matches!(
            l.admit(&d, 0, 600, 0),
            Err(Refusal::Budget { .. })
        ));
        a.settle(0, 100);
        drop(b); // failed: released, nothing spent
        let c = l.admit(&d, 0, 600, 0).unwrap();
        // The settled cost is the period's spend, as the admission reports it.
        assert_eq!(c.spent, Some(100));
        c.settle(0, 950);
        let e = l.admit(&d, 0, 1, 0).unwrap_err();
        let (status, kind, msg, _) = e.to_error();
        assert_eq!((status, kind), (429, "budget_exceeded"));
        assert!(msg.contains("Max budget: 0.000001"), "{msg}");
    }

    #[test]
    fn a_new_period_starts_from_its_base() {
        let l = Limiter::new();
        let mut d = key(None, None, Some(1_000));
        l.admit(std::slice::from_ref(&d), 0, 0, 0)
            .unwrap()
            .settle(0, 1_000);
        assert!(l.admit(std::slice::from_ref(&d), 0, 0, 0).is_err());
        d.budget = Some(Budget {
            max_nano: 1_000,
            period_start: 60_000,
            base_nano: 0,
        });
        assert!(l.admit(std::slice::from_ref(&d), 0, 0, 60_000).is_ok());
    }

    #[test]
    fn a_refusal_counts_nothing() {
        let l = Limiter::new();
        let ok = key(Some(100), None, None);
        let mut full = key(Some(1), None, None);
        full.id = "other".into();
        l.admit(std::slice::from_ref(&full), 0, 0, 0)
            .unwrap()
            .settle(0, 0);
        for _ in 0..5 {
            assert!(l.admit(&[ok.clone(), full.clone()], 0, 0, 0).is_err());
        }
        let a = l.admit(std::slice::from_ref(&ok), 0, 0, 0).unwrap();
        assert_eq!(a.remaining.remaining_requests, 99);
    }

    #[test]
    fn a_descriptor_carrying_its_counter_counts_with_one_found_by_name() {
        let l = Limiter::new();
        let named = key(None, Some(1), None);
        let carried = Descriptor {
            counter: Some(l.counter("api_key", "k")),
            ..named.clone()
        };
        let a = l.admit(std::slice::from_ref(&carried), 0, 0, 0).unwrap();
        assert!(l.admit(std::slice::from_ref(&named), 0, 0, 0).is_err());
        drop(a);
        assert!(l.admit(std::slice::from_ref(&named), 0, 0, 0).is_ok());
    }

    #[test]
    fn concurrent_requests_never_pass_a_shared_parallel_limit_or_budget() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let l = Limiter::new();
        let team = Descriptor {
            scope: "team",
            id: "t".into(),
            label: "t".into(),
            rpm: None,
            tpm: None,
            parallel: Some(3),
            budget: Some(Budget {
                max_nano: 4_000,
                period_start: 0,
                base_nano: 0,
            }),
            counter: Some(l.counter("team", "t")),
        };
        let in_flight = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        let admitted = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (l, team) = (&l, team.clone());
                let (in_flight, most, admitted) = (&in_flight, &most, &admitted);
                s.spawn(move || {
                    // Each thread's own key first, then the team they share.
                    let mut own = key(Some(u64::MAX), None, None);
                    own.id = format!("k{t}");
                    let descs = [own, team];
                    let mut budget_left = true;
                    while budget_left {
                        match l.admit(&descs, 0, 10, 0) {
                            Ok(a) => {
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                std::thread::yield_now();
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                admitted.fetch_add(1, Ordering::SeqCst);
                                a.settle(0, 10);
                            }
                            Err(Refusal::Budget { .. }) => budget_left = false,
                            Err(_) => std::thread::yield_now(),
                        }
                    }
                });
            }
        });
        assert!(
            most.load(Ordering::SeqCst) <= 3,
            "{most:?} in flight at once"
        );
        // Each request costs what it reserved: exactly the budget is spent, never more.
        assert_eq!(admitted.load(Ordering::SeqCst), 400);
        let c = l.counter("team", "t");
        let cell = c.lock();
        assert_eq!((cell.spent, cell.reserved, cell.in_flight), (4_000, 0, 0));
        assert_eq!(cell.requests.sum, 400);
        // Refused attempts took back what they counted in their keys before the team.
        let keys: u64 = (0..4)
            .map(|t| l.counter("api_key", &format!("k{t}")).lock().requests.sum)
            .sum();
        assert_eq!(keys, 400);
    }

    #[test]
    fn the_ring_sum_is_the_windows_total_under_any_sequence() {
        // A model with no slots: every second's count, summed over the window when read.
        let mut model: HashMap<i64, u64> = HashMap::new();
        let mut ring = Ring::default();
        let mut now = 1_000_000i64;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for step in 0..20_000 {
            match next(10) {
                // Time moves on: mostly a second or none, sometimes past the whole window.
                0..=2 => now += [0, 1, 1, 2, 5, 30, 61, 62, 200][next(9) as usize] as i64,
                3..=6 => {
                    let n = next(50);
                    ring.add(now, n);
                    *model.entry(now).or_default() += n;
                }
                // A correction for the second a request was admitted in, up to 70 s ago.
                7 => {
                    let at = now - next(71) as i64;
                    let n = next(50);
                    ring.add(at, n);
                    if at > now - SLOTS as i64 {
                        *model.entry(at).or_default() += n;
                    }
                }
                _ => {
                    let at = now - next(71) as i64;
                    let n = next(80);
                    ring.sub(at, n);
                    if at > now - SLOTS as i64 {
                        let c = model.entry(at).or_default();
                        *c -= n.min(*c);
                    }
                }
            }
            let want: u64 = model
                .iter()
                .filter(|(s, _)| **s > now - SLOTS as i64 && **s <= now)
                .map(|(_, c)| c)
                .sum();
            assert_eq!(ring.total(now), want, "step {step} at {now}");
            let oldest = model
                .iter()
                .filter(|(s, c)| **s > now - SLOTS as i64 && **s <= now && **c > 0)
                .map(|(s, _)| s + SLOTS as i64 - now)
                .min()
                .unwrap_or(0);
            assert_eq!(ring.reset_in(now), oldest, "step {step} at {now}");
            model.retain(|s, _| *s > now - SLOTS as i64);
        }
    }

    #[test]
    fn remaining_counts_include_the_request_being_admitted() {
        let l = Limiter::new();
        let mut d = key(Some(100), None, None);
        d.tpm = Some(1000);
        let t0 = 1_000_000_000_000i64;
        let mut held = Vec::new();
        for i in 0..3 {
            // A second apart: the window's totals, not one slot, are what is left.
            let a = l
                .admit(std::slice::from_ref(&d), 10, 0, t0 + i * 1000)
                .unwrap();
            let r = a.remaining.clone();
            assert_eq!(r.remaining_requests, 100 - (i as u64 + 1));
            assert_eq!(r.remaining_tokens, 1000 - 10 * (i as u64 + 1));
            // The oldest second counted leaves the window 61 s after it began.
            assert_eq!(r.reset_requests, 61 - i);
            assert_eq!(r.reset_tokens, 61 - i);
            held.push(a);
        }
    }
}

//! Load balancing (`router_settings.routing_strategy`) and each deployment's live numbers.
//!
//! - `simple-shuffle` (default): random, weighted by `weight`, else `rpm`, else `tpm`;
//! - `least-busy`: fewest requests in flight;
//! - `latency-based-routing`: lowest moving average of latency (time to first byte for
//!   streams); deployments within `routing_strategy_args.lowest_latency_buffer` (a fraction)
//!   of the best share the load; a deployment with no sample yet is tried first;
//! - `usage-based-routing` / `usage-based-routing-v2`: fewest tokens (then requests) this
//!   minute;
//! - `cost-based-routing`: cheapest input plus output price; unpriced ones last.
//!
//! Whatever the strategy, a deployment that has reached its `rpm` or `tpm` for the current
//! minute is not picked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::deployment::Deployment;

/// How a deployment is picked among those available.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Weighted random.
    SimpleShuffle,
    /// Fewest in flight.
    LeastBusy,
    /// Lowest latency, with a buffer.
    LatencyBased {
        /// Deployments within this fraction of the best latency count as equal.
        buffer: f64,
    },
    /// Lowest usage this minute.
    UsageBased,
    /// Cheapest.
    CostBased,
}

impl Strategy {
    /// Reads `routing_strategy` (and its args).
    pub fn parse(
        name: Option<&str>,
        args: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Strategy, String> {
        Ok(match name.unwrap_or("simple-shuffle") {
            "simple-shuffle" => Strategy::SimpleShuffle,
            "least-busy" => Strategy::LeastBusy,
            "latency-based-routing" => Strategy::LatencyBased {
                buffer: args
                    .and_then(|a| a.get("lowest_latency_buffer"))
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0)
                    .max(0.0),
            },
            "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
            "cost-based-routing" => Strategy::CostBased,
            other => {
                return Err(format!(
                    "unknown routing_strategy `{other}`: use simple-shuffle, least-busy, latency-based-routing, usage-based-routing(-v2) or cost-based-routing"
                ))
            }
        })
    }
}

/// A deployment's live numbers.
#[derive(Debug, Default)]
pub struct Stats {
    in_flight: AtomicU64,
    /// Moving average latency, microseconds; 0 = no sample yet.
    latency_us: AtomicU64,
    /// Requests this minute.
    requests: MinuteCount,
    /// Tokens this minute.
    tokens: MinuteCount,
    /// Where tokens are also counted (the instances' shared usage), when set.
    shared_tokens: std::sync::OnceLock<TokenHook>,
}

/// Bits of a [`MinuteCount`] that hold the count.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// A count in the current minute, packed with its minute so both change in one atomic step
/// (no lock on the request path): the minute (since the epoch, modulo 2^24; only compared for
/// equality) above the count's 40 bits, which saturate.
#[derive(Debug, Default)]
struct MinuteCount(AtomicU64);

impl MinuteCount {
    fn tag(minute: u64) -> u64 {
        (minute << COUNT_BITS) & !COUNT_MASK
    }

    /// The count `v` holds for `minute` (another minute's count is 0).
    fn count(v: u64, minute: u64) -> u64 {
        if v & !COUNT_MASK == MinuteCount::tag(minute) {
            v & COUNT_MASK
        } else {
            0
        }
    }

    fn get(&self, minute: u64) -> u64 {
        MinuteCount::count(self.0.load(Ordering::Relaxed), minute)
    }

    /// Adds `n` in `minute`, unless the count has reached `limit`; whether it did.
    fn add_checked(&self, minute: u64, n: u64, limit: Option<u64>) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                let c = MinuteCount::count(v, minute);
                if limit.is_some_and(|l| c >= l) {
                    return None;
                }
                Some(MinuteCount::tag(minute) | c.saturating_add(n).min(COUNT_MASK))
            })
            .is_ok()
    }

    fn add(&self, minute: u64, n: u64) {
        self.add_checked(minute, n, None);
    }

    /// Adds one unless the count has reached `limit`.
    fn add_under(&self, minute: u64, limit: Option<u64>) -> bool {
        self.add_checked(minute, 1, limit)
    }

    /// Takes one back, if this minute counted it.
    fn sub_one(&self, minute: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                let c = MinuteCount::count(v, minute);
                (c > 0).then(|| MinuteCount::tag(minute) | (c - 1))
            });
    }
}

/// Told of the tokens each answer used.
pub struct TokenHook(pub Box<dyn Fn(u64) + Send + Sync>);

impl std::fmt::Debug for TokenHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHook")
    }
}

fn this_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

/// Counts a request in flight until dropped.
#[derive(Debug)]
pub struct Busy(Arc<Stats>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    /// A request starts: in flight, and counted in this minute.
    pub fn start(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.add(this_minute(), 1);
        Busy(Arc::clone(self))
    }

    /// Like [`Stats::start`], unless this minute already holds `rpm` requests or `tpm`
    /// tokens: the request count is checked and counted in one atomic step, so concurrent
    /// requests cannot both take the last slot.
    pub fn try_start(self: &Arc<Self>, rpm: Option<u64>, tpm: Option<u64>) -> Option<Busy> {
        let minute = this_minute();
        if tpm.is_some_and(|l| self.tokens.get(minute) >= l) {
            return None;
        }
        if !self.requests.add_under(minute, rpm) {
            return None;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Busy(Arc::clone(self)))
    }

    /// Takes back a request counted by [`Stats::try_start`] that was never sent.
    pub fn unstart(&self) {
        self.requests.sub_one(this_minute());
    }

    /// Counts tokens in the instances' shared usage too. Set once.
    pub fn share_tokens(&self, hook: TokenHook) {
        let _ = self.shared_tokens.set(hook);
    }

    /// A latency sample (moving average, weight 1/5 for the newest).
    pub fn latency(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.latency_us.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 4 + us) / 5 };
        self.latency_us.store(new, Ordering::Relaxed);
    }

    /// Tokens a request used, counted in this minute.
    pub fn tokens(&self, n: u64) {
        if let Some(h) = self.shared_tokens.get() {
            (h.0)(n);
        }
        self.tokens.add(this_minute(), n);
    }

    fn usage(&self) -> (u64, u64) {
        let minute = this_minute();
        (self.requests.get(minute), self.tokens.get(minute))
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Whether a deployment is under its `rpm` and `tpm` for this minute.
pub fn has_capacity(d: &Deployment) -> bool {
    let (requests, tokens) = d.stats.usage();
    d.rpm.is_none_or(|l| requests < l) && d.tpm.is_none_or(|l| tokens < l)
}

fn random_of(c: &[&Arc<Deployment>]) -> Option<Arc<Deployment>> {
    c.get(fastrand::usize(..c.len().max(1)))
        .map(|d| Arc::clone(d))
}

fn min_by_key<K: PartialOrd + Copy>(
    tier: &[&Arc<Deployment>],
    key: impl Fn(&Deployment) -> K,
) -> Option<Arc<Deployment>> {
    let best = tier
        .iter()
        .map(|d| key(d))
        .fold(None, |acc: Option<K>, k| match acc {
            Some(a) if a <= k => Some(a),
            _ => Some(k),
        })?;
    let ties: Vec<&Arc<Deployment>> = tier.iter().copied().filter(|d| key(d) == best).collect();
    random_of(&ties)
}

/// Picks among deployments of one priority tier.
pub fn choose(strategy: Strategy, tier: &[&Arc<Deployment>]) -> Option<Arc<Deployment>> {
    if tier.len() <= 1 {
        return tier.first().map(|d| Arc::clone(d));
    }
    match strategy {
        Strategy::SimpleShuffle => {
            let total: f64 = tier.iter().map(|d| d.weight).sum();
            if total <= 0.0 {
                return random_of(tier);
            }
            let mut x = fastrand::f64() * total;
            for d in tier {
                if x < d.weight {
                    return Some(Arc::clone(d));
                }
                x -= d.weight;
            }
            tier.last().map(|d| Arc::clone(d))
        }
        Strategy::LeastBusy => min_by_key(tier, |d| d.stats.in_flight()),
        Strategy::UsageBased => min_by_key(tier, |d| {
            let (requests, tokens) = d.stats.usage();
            (tokens, requests)
        }),
        Strategy::CostBased => min_by_key(tier, |d| {
            d.price
                .as_ref()
                .map_or(u64::MAX, |p| p.input.saturating_add(p.output))
        }),
        Strategy::LatencyBased { buffer } => {
            let unknown: Vec<&Arc<Deployment>> = tier
                .iter()
                .copied()
                .filter(|d| d.stats.latency_us.load(Ordering::Relaxed) == 0)
                .collect();
            if !unknown.is_empty() {
                return random_of(&unknown);
            }
            let best = tier
                .iter()
                .map(|d| d.stats.latency_us.load(Ordering::Relaxed))
                .min()
                .unwrap_or(0) as f64;
            let near: Vec<&Arc<Deployment>> = tier
                .iter()
                .copied()
                .filter(|d| {
                    d.stats.latency_us.load(Ordering::Relaxed) as f64 <= best * (1.0 + buffer)
                })
                .collect();
            random_of(&near)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_count_starts_over_each_minute_and_saturates() {
        let c = MinuteCount::default();
        assert_eq!(c.get(100), 0);
        c.add(100, 5);
        c.add(100, 2);
        assert_eq!((c.get(100), c.get(101)), (7, 0));
        // A new minute starts from what it adds, not from the last one's count.
        c.add(101, 1);
        assert_eq!((c.get(100), c.get(101)), (0, 1));
        c.sub_one(100);
        assert_eq!(c.get(101), 1, "another minute's take-back is ignored");
        c.sub_one(101);
        c.sub_one(101);
        assert_eq!(c.get(101), 0, "never below zero");
        c.add(102, u64::MAX);
        c.add(102, 1);
        assert_eq!(c.get(102), COUNT_MASK);
        // Minutes 2^24 apart share a tag; a minute is never read that far apart.
        assert_eq!(MinuteCount::tag(7), MinuteCount::tag(7 + (1 << 24)));
    }

    #[test]
    fn concurrent_starts_never_pass_the_rpm() {
        let stats = Arc::new(Stats::default());
        let started = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1_000 {
                        if let Some(busy) = stats.try_start(Some(1_500), None) {
                            started.fetch_add(1, Ordering::Relaxed);
                            drop(busy);
                        }
                    }
                });
            }
        });
        // All in one minute unless the test straddles a minute's end.
        let (requests, _) = stats.usage();
        assert!(requests <= 1_500, "{requests}");
        assert!(started.load(Ordering::Relaxed) >= 1_500);
        assert_eq!(stats.in_flight(), 0);
        stats.tokens(10);
        assert!(stats.try_start(None, Some(10)).is_none() || stats.usage().1 < 10);
    }
}

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
use std::sync::{Arc, Mutex};

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
    /// (minute, requests, tokens) of the current minute.
    minute: Mutex<(u64, u64, u64)>,
    /// Where tokens are also counted (the instances' shared usage), when set.
    shared_tokens: std::sync::OnceLock<TokenHook>,
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
        if let Ok(mut m) = self.minute.lock() {
            let now = this_minute();
            if m.0 != now {
                *m = (now, 0, 0);
            }
            m.1 += 1;
        }
        Busy(Arc::clone(self))
    }

    /// Like [`Stats::start`], unless this minute already holds `rpm` requests or `tpm`
    /// tokens: checked and counted at once, so concurrent requests cannot both take the
    /// last slot.
    pub fn try_start(self: &Arc<Self>, rpm: Option<u64>, tpm: Option<u64>) -> Option<Busy> {
        {
            let mut m = self.minute.lock().ok()?;
            let now = this_minute();
            if m.0 != now {
                *m = (now, 0, 0);
            }
            if rpm.is_some_and(|l| m.1 >= l) || tpm.is_some_and(|l| m.2 >= l) {
                return None;
            }
            m.1 += 1;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Busy(Arc::clone(self)))
    }

    /// Takes back a request counted by [`Stats::try_start`] that was never sent.
    pub fn unstart(&self) {
        if let Ok(mut m) = self.minute.lock() {
            if m.0 == this_minute() {
                m.1 = m.1.saturating_sub(1);
            }
        }
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
        if let Ok(mut m) = self.minute.lock() {
            let now = this_minute();
            if m.0 != now {
                *m = (now, 0, 0);
            }
            m.2 += n;
        }
    }

    fn usage(&self) -> (u64, u64) {
        self.minute
            .lock()
            .ok()
            .filter(|m| m.0 == this_minute())
            .map_or((0, 0), |m| (m.1, m.2))
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

//! Cooldowns: a deployment that keeps failing is taken out of routing for a while.
//!
//! LiteLLM's rules, per instance: an upstream failure counts against the deployment's
//! budget of `allowed_fails` per minute (default 3); past it, the deployment cools down for
//! `cooldown_time` seconds (default 5; per deployment `litellm_params.cooldown_time`, 0
//! turns it off). An authentication, permission, not-found or rate-limit answer cools it
//! down at once. A group's only deployment never cools down (there is nothing to route to
//! instead), and `disable_cooldowns` turns the whole mechanism off. Client errors never count.
//!
//! `allowed_fails_policy` sets the budget per error class instead (e.g.
//! `RateLimitErrorAllowedFails: 100`); a class it names is counted on its own and never cools
//! a deployment down at once.
//!
//! The routing check is one atomic load per deployment; the lock is taken only on failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_config::Config;

use crate::{Deployment, GatewayError, Origin};

/// LiteLLM's default `allowed_fails`.
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's default `cooldown_time`, seconds.
pub const DEFAULT_COOLDOWN_SECS: f64 = 5.0;

#[derive(Debug)]
struct Health {
    /// Start of the current one-minute window.
    window: Instant,
    /// Failures in it.
    fails: u32,
    /// Failures in it by error class, for classes `allowed_fails_policy` names.
    by_class: HashMap<&'static str, u32>,
}

#[derive(Debug)]
struct Entry {
    /// Milliseconds since `epoch` until which the deployment is cooling down.
    until_ms: AtomicU64,
    health: Mutex<Health>,
}

/// Cooldown state of every configured deployment.
#[derive(Debug)]
pub struct Cooldowns {
    epoch: Instant,
    disabled: bool,
    allowed_fails: u32,
    policy: Option<switchyard_config::raw::AllowedFailsPolicy>,
    cooldown: Duration,
    /// By deployment id; foldhash, as every request reads its deployment's entry.
    entries: hashbrown::HashMap<String, Entry>,
}

impl Cooldowns {
    /// State for the deployments of `config`.
    pub fn new<'a>(config: &Config, deployments: impl Iterator<Item = &'a Deployment>) -> Self {
        let (r, l) = (&config.file.router_settings, &config.file.litellm_settings);
        let epoch = Instant::now();
        Cooldowns {
            epoch,
            disabled: r.disable_cooldowns.is_some_and(|d| d.0),
            allowed_fails: r
                .allowed_fails
                .or(l.allowed_fails)
                .map_or(DEFAULT_ALLOWED_FAILS, |a| a.0),
            policy: r.allowed_fails_policy.clone(),
            cooldown: Duration::from_secs_f64(
                r.cooldown_time
                    .or(l.cooldown_time)
                    .map_or(DEFAULT_COOLDOWN_SECS, |c| c.0)
                    .clamp(0.0, 86_400.0),
            ),
            entries: deployments
                .map(|d| {
                    let entry = Entry {
                        until_ms: AtomicU64::new(0),
                        health: Mutex::new(Health {
                            window: epoch,
                            fails: 0,
                            by_class: HashMap::new(),
                        }),
                    };
                    (d.id.clone(), entry)
                })
                .collect(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Cools `id` down for `for_` from now (a cooldown another instance started), unless it
    /// already cools down longer.
    pub fn apply(&self, id: &str, for_: Duration) {
        if let Some(entry) = self.entries.get(id) {
            let until = self
                .now_ms()
                .saturating_add(u64::try_from(for_.as_millis()).unwrap_or(u64::MAX));
            entry.until_ms.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// How long `id` still cools down, if it does.
    pub fn remaining(&self, id: &str) -> Option<Duration> {
        let until = self.entries.get(id)?.until_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Notes a failed attempt on `d`, a deployment of a group of `group_size`; returns the
    /// cooldown when this failure started one.
    pub fn record_failure(
        &self,
        d: &Deployment,
        e: &GatewayError,
        group_size: usize,
    ) -> Option<Duration> {
        if self.disabled || group_size < 2 || e.origin != Origin::Upstream {
            return None;
        }
        let entry = self.entries.get(&d.id)?;
        let cooldown = d.cooldown.unwrap_or(self.cooldown);
        if cooldown.is_zero() {
            return None;
        }
        let by_policy = self.policy.as_ref().and_then(|p| policy_for(p, e));
        let immediate = by_policy.is_none() && matches!(e.status, 401 | 403 | 404 | 429);
        let trip = {
            let Ok(mut h) = entry.health.lock() else {
                return None;
            };
            if h.window.elapsed() >= Duration::from_secs(60) {
                h.window = Instant::now();
                h.fails = 0;
                h.by_class.clear();
            }
            match by_policy {
                Some((class, allowed)) => {
                    let n = h.by_class.entry(class).or_default();
                    *n += 1;
                    *n > allowed
                }
                None => {
                    h.fails += 1;
                    immediate || h.fails > self.allowed_fails
                }
            }
        };
        if !trip {
            return None;
        }
        let until = self.now_ms().saturating_add(cooldown.as_millis() as u64);
        let before = entry.until_ms.fetch_max(until, Ordering::Relaxed);
        tracing::warn!(
            deployment = %d.id, model_group = %d.model_name, reason = e.reason,
            cooldown_secs = cooldown.as_secs_f64(),
            "deployment cooling down"
        );
        // A new cooldown, not one extended while it was already running.
        (before <= self.now_ms()).then_some(cooldown)
    }
}

/// The error's class and its budget, when `allowed_fails_policy` names the class.
fn policy_for(
    p: &switchyard_config::raw::AllowedFailsPolicy,
    e: &GatewayError,
) -> Option<(&'static str, u32)> {
    let code = e.code.as_deref().unwrap_or("");
    let (class, v) = if code == "content_policy_violation" || code == "content_filter" {
        ("content_policy", &p.ContentPolicyViolationErrorAllowedFails)
    } else {
        match e.status {
            400 | 422 => ("bad_request", &p.BadRequestErrorAllowedFails),
            401 | 403 => ("authentication", &p.AuthenticationErrorAllowedFails),
            404 => ("not_found", &p.NotFoundErrorAllowedFails),
            408 | 504 => ("timeout", &p.TimeoutErrorAllowedFails),
            429 => ("rate_limit", &p.RateLimitErrorAllowedFails),
            502 => ("bad_gateway", &p.BadGatewayErrorAllowedFails),
            503 => (
                "service_unavailable",
                &p.ServiceUnavailableErrorAllowedFails,
            ),
            _ => ("internal_server", &p.InternalServerErrorAllowedFails),
        }
    };
    v.as_ref().map(|n| (class, n.0))
}

/// Every deployment of `model` is cooling down: LiteLLM's 429.
pub fn no_deployments(model: &str, cooling: &[(String, Duration)]) -> GatewayError {
    let wait = cooling.iter().map(|(_, d)| *d).min().unwrap_or_default();
    let ids: Vec<&str> = cooling.iter().map(|(id, _)| id.as_str()).collect();
    let mut e = GatewayError::unavailable(format!(
        "No deployments available for selected model, Try again in {:.0} seconds. Passed model={model}. cooldown_list={ids:?}",
        wait.as_secs_f64().ceil()
    ));
    e.status = 429;
    e.reason = "no_deployments_available";
    e.retryable = false;
    e.retry_after = Some(wait);
    e
}

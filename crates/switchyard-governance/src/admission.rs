//! Admission: the limits and budgets of everything a request is charged to, as
//! [`Descriptor`]s, checked by the [`crate::limits::Limiter`].
//!
//! The chain, in LiteLLM's order: the key, the key's limits for this model, its team (or, for
//! a key without a team, its user; with `apply_user_budget_to_team_keys`, both), the end user,
//! the request's tags (those with a `/tag/new` budget or limits), and the gateway as a whole (`global_max_parallel_requests`, `litellm_settings.max_budget`).

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use std::sync::{Arc, OnceLock};

use crate::limits::{Admission, Budget, Counter, Descriptor, Refusal, Remaining};
use crate::records::{nano, Limits};
use crate::shared::Ticket;
use crate::{duration, Cached, Caller, CustomerRecord, Governor, PolicyError};

/// Gateway-wide limits (from the config).
#[derive(Debug, Clone, Default)]
pub struct GlobalLimits {
    /// Requests in flight across the gateway.
    pub max_parallel: Option<u64>,
    /// Requests in flight per key, for keys that set none.
    pub key_parallel_default: Option<u64>,
    /// Gateway budget, USD.
    pub max_budget: Option<f64>,
    /// Its period.
    pub budget_duration: Option<String>,
    /// Apply a user's budget and limits to the user's team keys too.
    pub user_budget_on_team_keys: bool,
}

/// What the key's response headers say (`x-litellm-key-*`, `x-ratelimit-*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyHeaders {
    /// Spend in the current budget period, nano-dollars.
    pub spend_nano: i64,
    /// The key's budget, USD.
    pub max_budget: Option<f64>,
    /// Requests per minute.
    pub rpm_limit: Option<u64>,
    /// Tokens per minute.
    pub tpm_limit: Option<u64>,
    /// The window after admission.
    pub remaining: Remaining,
}

/// Where a request was counted.
#[derive(Debug)]
pub enum Counted {
    /// In this process.
    Local(Admission),
    /// In Redis, shared by every instance.
    Shared(Ticket),
}

impl Counted {
    /// Ends the request with its real token count and cost.
    pub fn settle(self, tokens: u64, cost_nano: i64) {
        match self {
            Counted::Local(a) => a.settle(tokens, cost_nano),
            Counted::Shared(t) => t.settle(tokens, cost_nano),
        }
    }
}

/// An admitted request: its counters (released when dropped), the budget periods its cost
/// goes to, and the key's headers.
#[derive(Debug)]
pub struct Admitted {
    /// The counters; `settle` it with the real usage.
    pub admission: Option<Counted>,
    /// (scope, id, period start) of every budget charged.
    pub budget_periods: Vec<(String, String, i64)>,
    /// Headers for a virtual key.
    pub key: Option<KeyHeaders>,
}

/// A record limits apply to.
struct Entity<'a> {
    scope: &'static str,
    id: &'a str,
    label: &'a str,
    limits: &'a Limits,
    created: Option<OffsetDateTime>,
    /// Its lifetime spend (keys, users, teams, end users).
    spend: Option<i64>,
    /// Where the record keeps its counter.
    counter: Option<&'a OnceLock<Arc<Counter>>>,
}

/// The start of a record's current budget period, ms (0 when it never resets).
fn period_of(l: &Limits, created: Option<OffsetDateTime>, now: OffsetDateTime) -> i64 {
    let Some(spec) = l.budget_duration.as_deref() else {
        return 0;
    };
    let anchor = l
        .budget_reset_at
        .or(created)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    duration::period_start(anchor, spec, now).map_or(0, crate::records::ms)
}

impl Governor {
    /// Spend recorded in a budget period before this process started it.
    fn base(&self, scope: &str, id: &str, period: i64, entity_spend: Option<i64>) -> i64 {
        match entity_spend {
            Some(s) if period == 0 => s,
            _ => self
                .period_base
                .get(&(scope.to_owned(), id.to_owned(), period))
                .copied()
                .unwrap_or(0),
        }
    }

    /// `e`'s descriptor. When limits count in this process, it carries the record's counter,
    /// made on the record's first admission; a record that limits nothing, or limits counted
    /// in Redis, make none (a counter holds two 61-second windows: 2 kB).
    fn descriptor(&self, e: Entity<'_>, now: OffsetDateTime) -> Descriptor {
        let period = period_of(e.limits, e.created, now);
        let mut d = Descriptor {
            scope: e.scope,
            id: e.id.to_owned(),
            label: e.label.to_owned(),
            rpm: e.limits.rpm_limit,
            tpm: e.limits.tpm_limit,
            parallel: e.limits.max_parallel_requests,
            budget: e.limits.max_budget.map(|max| Budget {
                max_nano: nano(max),
                period_start: period,
                base_nano: self.base(e.scope, e.id, period, e.spend),
            }),
            counter: None,
        };
        if d.limits() && self.redis().is_none() {
            d.counter = e
                .counter
                .map(|slot| Arc::clone(slot.get_or_init(|| self.limiter.counter(e.scope, e.id))));
        }
        d
    }

    /// The descriptors of a request to `model`, the key's first.
    pub fn descriptors(
        &self,
        caller: &Caller,
        model: &str,
        end_user: Option<&Cached<CustomerRecord>>,
        tags: &[String],
        now: OffsetDateTime,
    ) -> Vec<Descriptor> {
        let mut out = Vec::new();
        if let Caller::Key(p) = caller {
            let k = &p.key.record;
            let label = k
                .key_alias
                .clone()
                .or_else(|| k.key_name.clone())
                .unwrap_or_default();
            let mut d = self.descriptor(
                Entity {
                    scope: "api_key",
                    id: &p.hash,
                    label: &label,
                    limits: &k.limits,
                    created: k.created_at,
                    spend: Some(p.key.spend_nano),
                    counter: Some(&p.key.counter),
                },
                now,
            );
            if d.parallel.is_none() {
                d.parallel = self.opts.global.key_parallel_default;
            }
            out.push(d);
            let model_budget = k.limits.model_max_budget.get(model);
            let rpm = k.limits.model_rpm_limit.get(model).copied();
            let tpm = k.limits.model_tpm_limit.get(model).copied();
            if rpm.is_some() || tpm.is_some() || model_budget.is_some() {
                let id = format!("{}:{model}", p.hash);
                let budget = model_budget.and_then(|b| {
                    let max = match b.get("budget_limit") {
                        Some(Value::Number(n)) => n.as_f64(),
                        Some(Value::String(s)) => s.trim().parse().ok(),
                        _ => None,
                    }?;
                    let period = b
                        .get("time_period")
                        .and_then(Value::as_str)
                        .and_then(|spec| {
                            let anchor = k.created_at.unwrap_or(OffsetDateTime::UNIX_EPOCH);
                            duration::period_start(anchor, spec, now).ok()
                        })
                        .map_or(0, crate::records::ms);
                    Some(Budget {
                        max_nano: nano(max),
                        period_start: period,
                        base_nano: self.base("model_per_key", &id, period, None),
                    })
                });
                out.push(Descriptor {
                    scope: "model_per_key",
                    id,
                    label: format!("{label} model={model}"),
                    rpm,
                    tpm,
                    parallel: None,
                    budget,
                    counter: None,
                });
            }
            if let Some(t) = &p.team {
                let r = &t.record;
                let label = r.team_alias.clone().unwrap_or_else(|| r.team_id.clone());
                out.push(self.descriptor(
                    Entity {
                        scope: "team",
                        id: &r.team_id,
                        label: &label,
                        limits: &r.limits,
                        created: r.created_at,
                        spend: Some(t.spend_nano),
                        counter: Some(&t.counter),
                    },
                    now,
                ));
            }
            if p.team.is_none() || self.opts.global.user_budget_on_team_keys {
                if let Some(u) = &p.user {
                    let r = &u.record;
                    out.push(self.descriptor(
                        Entity {
                            scope: "user",
                            id: &r.user_id,
                            label: &r.user_id,
                            limits: &r.limits,
                            created: r.created_at,
                            spend: Some(u.spend_nano),
                            counter: Some(&u.counter),
                        },
                        now,
                    ));
                }
            }
        }
        if let Some(c) = end_user {
            let r = &c.record;
            out.push(self.descriptor(
                Entity {
                    scope: "end_user",
                    id: &r.user_id,
                    label: &r.user_id,
                    limits: &r.limits,
                    created: r.created_at,
                    spend: Some(c.spend_nano),
                    counter: Some(&c.counter),
                },
                now,
            ));
        }
        for name in tags {
            if let Some(t) = self.tag_cached(name) {
                let r = &t.record;
                out.push(self.descriptor(
                    Entity {
                        scope: "tag",
                        id: name,
                        label: name,
                        limits: &r.limits,
                        created: r.created_at,
                        spend: Some(t.spend_nano),
                        counter: Some(&t.counter),
                    },
                    now,
                ));
            }
        }
        let g = &self.opts.global;
        if g.max_parallel.is_some() || g.max_budget.is_some() {
            let limits = Limits {
                max_parallel_requests: g.max_parallel,
                max_budget: g.max_budget,
                budget_duration: g.budget_duration.clone(),
                ..Limits::default()
            };
            out.push(self.descriptor(
                Entity {
                    scope: "global",
                    id: "",
                    label: "gateway",
                    limits: &limits,
                    created: None,
                    spend: None,
                    counter: Some(&self.global_counter),
                },
                now,
            ));
        }
        out.retain(Descriptor::limits);
        out
    }

    /// Admits a request: checks and counts every limit and budget it is charged to.
    /// `estimate` gives (prompt tokens, worst-case cost in nano-dollars); it is called only
    /// when a token limit or a budget needs it.
    pub async fn admit(
        &self,
        caller: &Caller,
        model: &str,
        end_user: Option<&str>,
        tags: &[String],
        estimate: impl FnOnce() -> (u64, i64),
    ) -> Result<Admitted, PolicyError> {
        let now = OffsetDateTime::now_utc();
        let customer = end_user.and_then(|id| self.end_user_cached(id));
        let descs = self.descriptors(caller, model, customer.as_deref(), tags, now);
        let key_desc = descs.first().filter(|d| d.scope == "api_key");
        let mut key = caller.principal().map(|p| KeyHeaders {
            spend_nano: p.key.spend_nano,
            max_budget: p.key.record.limits.max_budget,
            rpm_limit: p.key.record.limits.rpm_limit,
            tpm_limit: p.key.record.limits.tpm_limit,
            remaining: Remaining::default(),
        });
        if descs.is_empty() {
            return Ok(Admitted {
                admission: None,
                budget_periods: Vec::new(),
                key,
            });
        }
        let (tokens, cost) = if descs.iter().any(|d| d.tpm.is_some() || d.budget.is_some()) {
            estimate()
        } else {
            (0, 0)
        };
        let refused = |r: Refusal| {
            let (status, kind, message, retry) = r.to_error();
            let mut e = PolicyError::new(status, kind, message);
            e.retry_after = retry;
            e
        };
        let now_ms = crate::records::ms(now);
        let mut counted = None;
        if let Some(shared) = self.redis() {
            match shared.admit(&descs, tokens, cost, now_ms).await {
                Ok(Ok(ticket)) => {
                    if let Some(k) = key.as_mut().filter(|_| key_desc.is_some()) {
                        k.remaining = ticket.remaining.clone();
                        if let Some(spent) = ticket.spent {
                            k.spend_nano = spent;
                        }
                    }
                    counted = Some(Counted::Shared(ticket));
                }
                Ok(Err(r)) => return Err(refused(r)),
                Err(e) => self.redis_down(&e),
            }
        }
        let counted = match counted {
            Some(c) => c,
            None => {
                let a = self
                    .limiter
                    .admit(&descs, tokens, cost, now_ms)
                    .map_err(refused)?;
                if let (Some(k), Some(_)) = (key.as_mut(), key_desc) {
                    k.remaining = a.remaining.clone();
                    if let Some(spent) = a.spent {
                        k.spend_nano = spent;
                    }
                }
                Counted::Local(a)
            }
        };
        let budget_periods = descs
            .iter()
            .filter_map(|d| {
                let b = d.budget.as_ref()?;
                // Keys, users, teams and end users keep a lifetime total of their own.
                let entity = matches!(d.scope, "api_key" | "team" | "user" | "end_user" | "tag");
                (b.period_start != 0 || !entity)
                    .then(|| (d.scope.to_owned(), d.id.clone(), b.period_start))
            })
            .collect();
        Ok(Admitted {
            admission: Some(counted),
            budget_periods,
            key,
        })
    }
}

/// Budget spend loaded at start: (scope, id, period start) -> nano-dollars.
pub type PeriodBase = HashMap<(String, String, i64), i64>;

//! Budget alerts: when a spend write takes an entity past its `soft_budget` (or its
//! `max_budget`), one alert is raised. Detection reads the totals the store returns for that
//! very write, so across any number of instances exactly one write crosses a threshold: one
//! alert per crossing, per period. Delivery (Slack, webhooks) is the server's: an
//! [`AlertSink`].

use serde_json::{json, Value};
use switchyard_store::{Kind, Written};

use crate::records::{usd, Limits};
use crate::Governor;

/// A threshold crossed.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `soft_budget_crossed` or `budget_crossed` (LiteLLM's event names).
    pub event: &'static str,
    /// `key`, `user`, `team`, `customer` or `tag`.
    pub event_group: &'static str,
    /// The entity (a key's hash, a team id, ...).
    pub id: String,
    /// Its display name (a key alias; never a secret).
    pub alias: Option<String>,
    /// Spend after the write, USD.
    pub spend: f64,
    /// Soft budget, USD.
    pub soft_budget: Option<f64>,
    /// Budget, USD.
    pub max_budget: Option<f64>,
    /// The key's user.
    pub user_id: Option<String>,
    /// The key's team.
    pub team_id: Option<String>,
}

impl Alert {
    /// One line for humans (Slack).
    pub fn message(&self) -> String {
        let what = if self.event == "soft_budget_crossed" {
            format!(
                "crossed its soft budget of ${}",
                self.soft_budget.unwrap_or(0.0)
            )
        } else {
            format!("reached its budget of ${}", self.max_budget.unwrap_or(0.0))
        };
        let name = self.alias.as_deref().unwrap_or(&self.id);
        format!(
            "Budget alert: {} {name} {what}; spend is ${:.6}.",
            self.event_group, self.spend
        )
    }

    /// LiteLLM's webhook event body.
    pub fn webhook_json(&self) -> Value {
        json!({
            "event": self.event,
            "event_group": self.event_group,
            "event_message": self.message(),
            "spend": self.spend,
            "soft_budget": self.soft_budget,
            "max_budget": self.max_budget,
            "token": (self.event_group == "key").then_some(&self.id),
            "key_alias": self.alias,
            "user_id": if self.event_group == "user" { Some(&self.id) } else { self.user_id.as_ref() },
            "team_id": if self.event_group == "team" { Some(&self.id) } else { self.team_id.as_ref() },
            "customer_id": (self.event_group == "customer").then_some(&self.id),
            "projected_exceeded_date": null,
            "projected_spend": null,
        })
    }
}

/// Where alerts go. `send` must not block: queue and return.
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Hands one alert over.
    fn send(&self, alert: Alert);
}

/// What an entity's thresholds are, and whose it is.
struct Thresholds {
    group: &'static str,
    limits: Limits,
    alias: Option<String>,
    user_id: Option<String>,
    team_id: Option<String>,
}

fn crossed(prev: i64, now: i64, threshold: Option<f64>) -> bool {
    threshold.is_some_and(|t| {
        let t = crate::records::nano(t);
        prev < t && t <= now
    })
}

impl Governor {
    fn thresholds(&self, kind: Kind, id: &str) -> Option<Thresholds> {
        let t = |group, limits: &Limits, alias: Option<String>| Thresholds {
            group,
            limits: limits.clone(),
            alias,
            user_id: None,
            team_id: None,
        };
        match kind {
            Kind::Key => self.keys.get(id).map(|k| Thresholds {
                user_id: k.record.user_id.clone(),
                team_id: k.record.team_id.clone(),
                ..t("key", &k.record.limits, k.record.key_alias.clone())
            }),
            Kind::User => self
                .users
                .get(id)
                .map(|u| t("user", &u.record.limits, u.record.user_alias.clone())),
            Kind::Team => self
                .teams
                .get(id)
                .map(|r| t("team", &r.record.limits, r.record.team_alias.clone())),
            Kind::EndUser => self
                .customers
                .get(id)
                .map(|c| t("customer", &c.record.limits, c.record.alias.clone())),
            Kind::Tag => self.tags.get(id).map(|r| t("tag", &r.record.limits, None)),
        }
    }

    /// The alerts a write raised.
    pub fn crossings(&self, w: &Written) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut check = |kind: Kind, id: &str, total: i64, added: i64, periodic: bool| {
            let Some(t) = self.thresholds(kind, id) else {
                return;
            };
            if t.limits.budget_duration.is_some() != periodic {
                return;
            }
            let prev = total - added;
            for (event, threshold) in [
                ("soft_budget_crossed", t.limits.soft_budget),
                ("budget_crossed", t.limits.max_budget),
            ] {
                if crossed(prev, total, threshold) {
                    out.push(Alert {
                        event,
                        event_group: t.group,
                        id: id.to_owned(),
                        alias: t.alias.clone(),
                        spend: usd(total),
                        soft_budget: t.limits.soft_budget,
                        max_budget: t.limits.max_budget,
                        user_id: t.user_id.clone(),
                        team_id: t.team_id.clone(),
                    });
                }
            }
        };
        for ((kind, id), total, added) in &w.totals {
            check(*kind, id, *total, *added, false);
        }
        for ((scope, id, _), total, added) in &w.periods {
            let kind = match scope.as_str() {
                "api_key" => Kind::Key,
                "user" => Kind::User,
                "team" => Kind::Team,
                "end_user" => Kind::EndUser,
                "tag" => Kind::Tag,
                _ => continue,
            };
            check(kind, id, *total, *added, true);
        }
        out
    }
}

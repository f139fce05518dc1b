//! Alert delivery (`general_settings.alerting`): budget crossings from the governor, and the
//! gateway's own operational alerts:
//! - `cooldown_deployment`: a deployment starts a cooldown;
//! - `outage_alerts`: a deployment fails with 5xx or timeouts `minor_outage_alert_threshold`
//!   (5) times within `outage_alert_ttl` (60 s) — a minor outage — then
//!   `major_outage_alert_threshold` (10) times — a major one (`alerting_args`, as LiteLLM's);
//! - `llm_exceptions`: an upstream call fails;
//! - `llm_too_slow`: an answer takes longer than `alerting_threshold` seconds (default 300).
//!
//! `alert_types` picks which are sent (all when unset).
//!
//! `slack` posts `{"text": ...}` to `alert_to_webhook_url.<alert type>` or
//! `SLACK_WEBHOOK_URL`; `webhook` posts LiteLLM's webhook event JSON to `WEBHOOK_URL`. Alerts
//! wait in a bounded queue and go out from a task of their own, so a slow or dead endpoint
//! never delays a request; past the queue's size they are dropped and logged. Operational
//! alerts are deduplicated: one per deployment and type per [`DEDUP`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_config::Config;
use switchyard_governance::alerts::{Alert, AlertSink};
use switchyard_router::upstream::Client;
use tokio::sync::mpsc;

/// Alerts waiting at most.
const QUEUE: usize = 1000;

/// One alert of a kind per deployment at most this often.
pub const DEDUP: Duration = Duration::from_secs(300);

/// Where alerts go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destinations {
    /// Slack incoming-webhook URL per alert type (`alert_to_webhook_url`).
    pub slack_by_type: HashMap<String, String>,
    /// Slack URL for every other type (`SLACK_WEBHOOK_URL`).
    pub slack: Option<String>,
    /// Generic webhook URL.
    pub webhook: Option<String>,
    /// Types to send (`alert_types`); empty: all.
    pub types: Vec<String>,
    /// Slow-answer threshold.
    pub slow_after: Duration,
    /// Outage thresholds (`alerting_args`).
    pub outage: OutageArgs,
}

/// When failures make an outage (`alerting_args`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutageArgs {
    /// Failures within `window` that make a minor outage.
    pub minor: u32,
    /// Failures within `window` that make a major outage.
    pub major: u32,
    /// How long failures count together (`outage_alert_ttl`).
    pub window: Duration,
}

impl Default for OutageArgs {
    fn default() -> Self {
        OutageArgs {
            minor: 5,
            major: 10,
            window: Duration::from_secs(60),
        }
    }
}

impl Destinations {
    /// Read from the config (and its environment variables).
    pub fn from_config(config: &Config) -> Destinations {
        let g = &config.file.general_settings;
        let channels = g.alerting.clone().unwrap_or_default();
        let on = |c: &str| channels.iter().any(|x| x == c);
        let mut slack_by_type = HashMap::new();
        let mut slack = None;
        if on("slack") {
            for (k, v) in g.alert_to_webhook_url.iter().flatten() {
                if let Some(url) = v.as_str() {
                    slack_by_type.insert(k.clone(), url.to_owned());
                }
            }
            slack = config.env_var("SLACK_WEBHOOK_URL");
        }
        let webhook = on("webhook")
            .then(|| config.env_var("WEBHOOK_URL"))
            .flatten();
        let args = g.alerting_args.as_ref();
        let arg = |k: &str| {
            args.and_then(|a| a.get(k))
                .and_then(serde_json::Value::as_f64)
        };
        let d = OutageArgs::default();
        let count = |k: &str, default: u32| {
            arg(k).map_or(default, |v| v.clamp(1.0, f64::from(u32::MAX)) as u32)
        };
        let outage = OutageArgs {
            minor: count("minor_outage_alert_threshold", d.minor),
            major: count("major_outage_alert_threshold", d.major),
            window: arg("outage_alert_ttl")
                .map_or(d.window, |s| Duration::from_secs_f64(s.clamp(0.001, 1.0e7))),
        };
        Destinations {
            slack_by_type,
            slack,
            webhook,
            types: g.alert_types.clone().unwrap_or_default(),
            slow_after: Duration::from_secs_f64(
                g.alerting_threshold
                    .map_or(300.0, |t| t.0)
                    .clamp(0.001, 1.0e7),
            ),
            outage,
        }
    }

    /// Whether any is configured.
    pub fn any(&self) -> bool {
        !self.slack_by_type.is_empty() || self.slack.is_some() || self.webhook.is_some()
    }

    fn wants(&self, kind: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == kind)
    }

    fn slack_for(&self, kind: &str) -> Option<&String> {
        self.slack_by_type.get(kind).or(self.slack.as_ref())
    }
}

/// One alert on its way: its type, a line for humans, and LiteLLM's webhook JSON.
#[derive(Debug)]
struct Outgoing {
    kind: &'static str,
    text: String,
    json: Value,
}

/// The queue in front of the sender task.
#[derive(Debug)]
pub struct Alerts {
    tx: mpsc::Sender<Outgoing>,
    to: Destinations,
    last: Mutex<HashMap<(String, &'static str), Instant>>,
    outages: Mutex<HashMap<String, Outage>>,
}

/// A deployment's failures in the current outage window.
#[derive(Debug)]
struct Outage {
    since: Instant,
    failures: u32,
    minor_sent: bool,
    major_sent: bool,
}

/// A failed upstream attempt, as alerts need it.
#[derive(Debug)]
pub struct Failed<'a> {
    /// The model group.
    pub group: &'a str,
    /// The deployment id.
    pub deployment: &'a str,
    /// Its base URL, without query.
    pub api_base: &'a str,
    /// What failed.
    pub error: &'a switchyard_router::GatewayError,
}

impl AlertSink for Alerts {
    fn send(&self, alert: Alert) {
        self.queue(Outgoing {
            kind: "budget_alerts",
            text: alert.message(),
            json: alert.webhook_json(),
        });
    }
}

impl Alerts {
    fn queue(&self, o: Outgoing) {
        if !self.to.wants(o.kind) {
            return;
        }
        if self.tx.try_send(o).is_err() {
            tracing::warn!("alert queue full or closed: an alert was dropped");
        }
    }

    /// Whether an alert of `kind` about `subject` is due (none sent in the last [`DEDUP`]).
    fn due(&self, subject: &str, kind: &'static str) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let now = Instant::now();
        let key = (subject.to_owned(), kind);
        match last.get(&key) {
            Some(t) if now.duration_since(*t) < DEDUP => false,
            _ => {
                last.insert(key, now);
                true
            }
        }
    }

    /// An upstream attempt failed; `cooldown` when the failure started one.
    pub fn failure(&self, f: &Failed<'_>, cooldown: Option<Duration>) {
        let e = f.error;
        if let Some(c) = cooldown {
            self.cooldown(f.group, f.deployment, f.api_base, e.reason, e.status, c);
        }
        // A client's own mistake says nothing about the deployment.
        if e.origin == switchyard_router::Origin::Client {
            return;
        }
        if self.to.wants("llm_exceptions") && self.due(f.deployment, "llm_exceptions") {
            let message: String = e.message.chars().take(500).collect();
            let text = format!(
                "LLM API call failed: `{}` ({}, {}): {} {}: {message}",
                f.group, f.deployment, f.api_base, e.status, e.reason
            );
            self.queue(Outgoing {
                kind: "llm_exceptions",
                json: json!({"event": "llm_exceptions", "event_group": "deployment",
                             "event_message": text, "model_group": f.group,
                             "model_id": f.deployment, "api_base": f.api_base,
                             "exception_status": e.status, "exception_class": e.reason}),
                text,
            });
        }
        if e.status == 408 || e.status >= 500 {
            self.outage(f);
        }
    }

    /// Counts a 5xx or timeout towards an outage, and says when one starts.
    fn outage(&self, f: &Failed<'_>) {
        if !self.to.wants("outage_alerts") {
            return;
        }
        let args = &self.to.outage;
        let severity = {
            let Ok(mut outages) = self.outages.lock() else {
                return;
            };
            let now = Instant::now();
            let o = outages
                .entry(f.deployment.to_owned())
                .or_insert_with(|| Outage {
                    since: now,
                    failures: 0,
                    minor_sent: false,
                    major_sent: false,
                });
            if now.duration_since(o.since) > args.window {
                *o = Outage {
                    since: now,
                    failures: 0,
                    minor_sent: false,
                    major_sent: false,
                };
            }
            o.failures += 1;
            if o.failures >= args.major && !o.major_sent {
                o.major_sent = true;
                o.minor_sent = true;
                Some(("Major", o.failures))
            } else if o.failures >= args.minor && !o.minor_sent {
                o.minor_sent = true;
                Some(("Minor", o.failures))
            } else {
                None
            }
        };
        let Some((severity, failures)) = severity else {
            return;
        };
        let text = format!(
            "{severity} service outage: `{}` ({}, {}) failed {failures} times within {:.0}s; last: {} {}.",
            f.group,
            f.deployment,
            f.api_base,
            args.window.as_secs_f64(),
            f.error.status,
            f.error.reason
        );
        self.queue(Outgoing {
            kind: "outage_alerts",
            json: json!({"event": "outage_alerts", "event_group": "deployment",
                         "event_message": text, "severity": severity.to_lowercase(),
                         "model_group": f.group, "model_id": f.deployment,
                         "api_base": f.api_base, "failures": failures,
                         "window_seconds": args.window.as_secs_f64(),
                         "exception_status": f.error.status,
                         "exception_class": f.error.reason}),
            text,
        });
    }

    /// A deployment started cooling down.
    fn cooldown(
        &self,
        group: &str,
        deployment: &str,
        api_base: &str,
        reason: &str,
        status: u16,
        cooldown: Duration,
    ) {
        if !self.to.wants("cooldown_deployment") || !self.due(deployment, "cooldown_deployment") {
            return;
        }
        let text = format!(
            "Deployment cooling down: `{group}` ({deployment}, {api_base}) failed with {status} {reason}; it takes no requests for {:.0}s.",
            cooldown.as_secs_f64()
        );
        self.queue(Outgoing {
            kind: "cooldown_deployment",
            json: json!({"event": "cooldown_deployment", "event_group": "deployment",
                         "event_message": text, "model_group": group, "model_id": deployment,
                         "api_base": api_base, "exception_status": status,
                         "exception_class": reason, "cooldown_seconds": cooldown.as_secs_f64()}),
            text,
        });
    }

    /// An answer took longer than the threshold.
    pub fn slow(&self, group: &str, deployment: &str, took: Duration) {
        if took < self.to.slow_after
            || !self.to.wants("llm_too_slow")
            || !self.due(deployment, "llm_too_slow")
        {
            return;
        }
        let text = format!(
            "Slow response: `{group}` ({deployment}) took {:.2}s, over the {:.2}s threshold.",
            took.as_secs_f64(),
            self.to.slow_after.as_secs_f64()
        );
        self.queue(Outgoing {
            kind: "llm_too_slow",
            json: json!({"event": "llm_too_slow", "event_group": "deployment",
                         "event_message": text, "model_group": group, "model_id": deployment,
                         "response_time_seconds": took.as_secs_f64(),
                         "threshold_seconds": self.to.slow_after.as_secs_f64()}),
            text,
        });
    }
}

/// Starts the sender task; returns the queue.
pub fn start(client: Client, to: Destinations) -> Alerts {
    let (tx, mut rx) = mpsc::channel::<Outgoing>(QUEUE);
    let dest = to.clone();
    tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            let posts = [
                dest.slack_for(a.kind)
                    .map(|u| (u, json!({ "text": a.text }))),
                dest.webhook.as_ref().map(|u| (u, a.json.clone())),
            ];
            for (url, body) in posts.into_iter().flatten() {
                let body = Bytes::from(body.to_string());
                match client.post_json(url, body, Duration::from_secs(10)).await {
                    Ok(s) if (200..300).contains(&s) => {}
                    // The URL is a secret (a Slack webhook): never logged.
                    Ok(s) => {
                        tracing::warn!(status = s, kind = a.kind, "alert endpoint refused an alert")
                    }
                    Err(e) => tracing::warn!(error = %e, kind = a.kind, "alert not delivered"),
                }
            }
        }
    });
    Alerts {
        tx,
        to,
        last: Mutex::new(HashMap::new()),
        outages: Mutex::new(HashMap::new()),
    }
}

//! Delivery of budget alerts (`general_settings.alerting`): `slack` posts `{"text": ...}` to
//! `alert_to_webhook_url.budget_alerts` or `SLACK_WEBHOOK_URL`; `webhook` posts LiteLLM's
//! webhook event JSON to `WEBHOOK_URL`. Alerts wait in a bounded queue and go out from a task
//! of their own, so a slow or dead endpoint never delays a request; past the queue's size
//! they are dropped and logged.

use std::time::Duration;

use bytes::Bytes;
use switchyard_config::Config;
use switchyard_governance::alerts::{Alert, AlertSink};
use switchyard_router::upstream::Client;
use tokio::sync::mpsc;

/// Alerts waiting at most.
const QUEUE: usize = 1000;

/// Where alerts go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destinations {
    /// Slack incoming-webhook URL.
    pub slack: Option<String>,
    /// Generic webhook URL.
    pub webhook: Option<String>,
}

impl Destinations {
    /// Read from the config (and its environment variables).
    pub fn from_config(config: &Config) -> Destinations {
        let g = &config.file.general_settings;
        let channels = g.alerting.clone().unwrap_or_default();
        let on = |c: &str| channels.iter().any(|x| x == c);
        let slack = on("slack")
            .then(|| {
                g.alert_to_webhook_url
                    .as_ref()
                    .and_then(|m| m.get("budget_alerts"))
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .or_else(|| config.env_var("SLACK_WEBHOOK_URL"))
            })
            .flatten();
        let webhook = on("webhook")
            .then(|| config.env_var("WEBHOOK_URL"))
            .flatten();
        Destinations { slack, webhook }
    }

    /// Whether any is configured.
    pub fn any(&self) -> bool {
        self.slack.is_some() || self.webhook.is_some()
    }
}

/// The queue in front of the sender task.
#[derive(Debug)]
pub struct Alerts {
    tx: mpsc::Sender<Alert>,
}

impl AlertSink for Alerts {
    fn send(&self, alert: Alert) {
        if self.tx.try_send(alert).is_err() {
            tracing::warn!("alert queue full or closed: an alert was dropped");
        }
    }
}

/// Starts the sender task; returns the sink to give the governor.
pub fn start(client: Client, to: Destinations) -> Alerts {
    let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE);
    tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            let posts = [
                to.slack
                    .as_ref()
                    .map(|u| (u, serde_json::json!({ "text": a.message() }))),
                to.webhook.as_ref().map(|u| (u, a.webhook_json())),
            ];
            for (url, body) in posts.into_iter().flatten() {
                let body = Bytes::from(body.to_string());
                match client.post_json(url, body, Duration::from_secs(10)).await {
                    Ok(s) if (200..300).contains(&s) => {}
                    // The URL is a secret (a Slack webhook): never logged.
                    Ok(s) => tracing::warn!(status = s, "alert endpoint refused an alert"),
                    Err(e) => tracing::warn!(error = %e, "alert not delivered"),
                }
            }
        }
    });
    Alerts { tx }
}

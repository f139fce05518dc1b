//! Router state shared between instances through Redis (when Redis is configured): a
//! deployment that starts a cooldown on one instance cools down on every instance.
//!
//! The instance that sees the failures publishes `<deployment id> <cooldown ms> <instance>` on
//! `<namespace>switchyard:cooldowns`; every instance subscribes and applies what others
//! publish. Publishing goes through a bounded queue and a task of its own, so the request
//! path never waits on Redis; if Redis is away, each instance keeps its own cooldowns and the
//! subscriber reconnects every second.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::AppState;

/// Cooldowns waiting to be published at most.
const QUEUE: usize = 1000;

/// A cooldown to tell the other instances about.
#[derive(Debug)]
pub struct Published {
    /// Deployment id.
    pub deployment: String,
    /// For how long.
    pub cooldown: Duration,
}

/// The publishing side: the router's cooldown hook sends here.
#[derive(Debug, Clone)]
pub struct Cluster {
    tx: mpsc::Sender<Published>,
}

impl Cluster {
    /// Hands a new cooldown over; never waits.
    pub fn publish(&self, p: Published) {
        let _ = self.tx.try_send(p);
    }
}

fn channel(namespace: Option<&str>) -> String {
    format!("{}switchyard:cooldowns", namespace.unwrap_or(""))
}

/// Starts the publisher and the subscriber for `state` (whose router takes what others
/// publish); returns the publishing side.
pub fn start(state: &Arc<AppState>, url: &str, namespace: Option<&str>) -> Option<Cluster> {
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot share cooldowns through Redis: {e}");
            return None;
        }
    };
    let me = uuid::Uuid::new_v4().simple().to_string();
    let ch = channel(namespace);
    let (tx, mut rx) = mpsc::channel::<Published>(QUEUE);
    // Publisher.
    {
        let client = client.clone();
        let ch = ch.clone();
        let me = me.clone();
        tokio::spawn(async move {
            let mut conn = None;
            while let Some(p) = rx.recv().await {
                if conn.is_none() {
                    conn = redis::aio::ConnectionManager::new(client.clone())
                        .await
                        .ok();
                }
                let Some(c) = conn.as_mut() else { continue };
                let msg = format!("{} {} {me}", p.deployment, p.cooldown.as_millis());
                let sent: redis::RedisResult<()> =
                    redis::cmd("PUBLISH").arg(&ch).arg(msg).query_async(c).await;
                if let Err(e) = sent {
                    tracing::debug!("cooldown not published: {e}");
                }
            }
        });
    }
    // Subscriber.
    let state = Arc::clone(state);
    tokio::spawn(async move {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut ps) => {
                    if ps.subscribe(&ch).await.is_ok() {
                        let mut messages = ps.on_message();
                        while let Some(m) = messages.next().await {
                            let Ok(text) = m.get_payload::<String>() else {
                                continue;
                            };
                            let mut parts = text.split(' ');
                            let (Some(id), Some(ms), Some(from)) =
                                (parts.next(), parts.next(), parts.next())
                            else {
                                continue;
                            };
                            if from == me {
                                continue;
                            }
                            if let Ok(ms) = ms.parse::<u64>() {
                                state.router.apply_cooldown(id, Duration::from_millis(ms));
                                tracing::info!(
                                    deployment = id,
                                    "cooling down as another instance asked"
                                );
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("cooldown subscription failed: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Some(Cluster { tx })
}

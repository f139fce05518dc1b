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

/// Deployment usage (requests and tokens per minute) counted in Redis, so that a deployment's
/// `rpm` and `tpm` hold across instances. A request to a deployment with either limit is one
/// round trip (a script checks and counts at once); tokens are summed locally and sent every
/// [`TOKEN_FLUSH`]. When Redis does not answer within [`USAGE_TIMEOUT`], the instance's own
/// count decides (and the log says so).
pub struct Usage {
    client: redis::Client,
    conn: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    namespace: String,
    tokens: mpsc::Sender<(String, u64)>,
    script: redis::Script,
}

/// Longest wait for Redis on the request path.
pub const USAGE_TIMEOUT: Duration = Duration::from_millis(100);
/// How often counted tokens go to Redis.
pub const TOKEN_FLUSH: Duration = Duration::from_millis(100);

const RESERVE: &str = r#"
local rq = tonumber(redis.call('HGET', KEYS[1], 'rq') or '0')
local tk = tonumber(redis.call('HGET', KEYS[1], 'tk') or '0')
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if rpm >= 0 and rq + 1 > rpm then return 0 end
if tpm >= 0 and tk >= tpm then return 0 end
redis.call('HINCRBY', KEYS[1], 'rq', 1)
redis.call('EXPIRE', KEYS[1], 120)
return 1
"#;

fn usage_key(namespace: &str, deployment: &str, minute: u64) -> String {
    format!("{namespace}switchyard:usage:{deployment}:{minute}")
}

fn this_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

impl Usage {
    /// Counts through Redis at `url`, keys under `namespace`.
    pub fn start(url: &str, namespace: Option<&str>) -> Option<Arc<Usage>> {
        let client = match redis::Client::open(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot share deployment usage through Redis: {e}");
                return None;
            }
        };
        let (tx, mut rx) = mpsc::channel::<(String, u64)>(QUEUE * 10);
        let usage = Arc::new(Usage {
            client,
            conn: tokio::sync::OnceCell::new(),
            namespace: namespace.unwrap_or("").to_owned(),
            tokens: tx,
            script: redis::Script::new(RESERVE),
        });
        let weak = Arc::downgrade(&usage);
        tokio::spawn(async move {
            let mut pending: std::collections::HashMap<String, u64> =
                std::collections::HashMap::new();
            loop {
                let tick = tokio::time::sleep(TOKEN_FLUSH);
                tokio::pin!(tick);
                loop {
                    tokio::select! {
                        got = rx.recv() => match got {
                            Some((id, n)) => *pending.entry(id).or_default() += n,
                            None => break,
                        },
                        () = &mut tick => break,
                    }
                }
                let Some(u) = weak.upgrade() else { return };
                if pending.is_empty() {
                    continue;
                }
                let Ok(mut c) = u.connection().await else {
                    continue;
                };
                let minute = this_minute();
                let mut pipe = redis::pipe();
                for (id, n) in pending.drain() {
                    let key = usage_key(&u.namespace, &id, minute);
                    pipe.hincr(&key, "tk", n).ignore();
                    pipe.expire(&key, 120).ignore();
                }
                let sent: redis::RedisResult<()> = pipe.query_async(&mut c).await;
                if let Err(e) = sent {
                    tracing::debug!("deployment tokens not shared: {e}");
                }
            }
        });
        Some(usage)
    }

    async fn connection(&self) -> Result<redis::aio::ConnectionManager, String> {
        self.conn
            .get_or_try_init(|| redis::aio::ConnectionManager::new(self.client.clone()))
            .await
            .cloned()
            .map_err(|e| e.to_string())
    }
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Usage")
    }
}

impl switchyard_router::SharedUsage for Usage {
    fn reserve<'a>(
        &'a self,
        d: &'a switchyard_router::Deployment,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let call = async {
                let mut c = self.connection().await?;
                let limit = |l: Option<u64>| l.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
                let ok: i64 = self
                    .script
                    .key(usage_key(&self.namespace, &d.id, this_minute()))
                    .arg(limit(d.rpm))
                    .arg(limit(d.tpm))
                    .invoke_async(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(ok == 1)
            };
            tokio::time::timeout(USAGE_TIMEOUT, call)
                .await
                .map_err(|_| "Redis did not answer in time".to_owned())?
        })
    }

    fn tokens(&self, deployment: &str, n: u64) {
        let _ = self.tokens.try_send((deployment.to_owned(), n));
    }
}

//! The same limits and budgets as [`crate::limits`], counted in Redis so every instance shares
//! them. One Lua script checks every descriptor of a request and counts it in all of them
//! atomically; another settles or releases it. Keys:
//!
//! - `sy:[<namespace>:]<scope>:<id>:rq` and `:tk`: hashes of second -> requests / tokens (61 s window);
//! - `:par`: requests in flight (expires after an hour, so a crashed instance's count fades);
//! - `:sp:<period>` and `:rs:<period>`: budget spend and reservations, nano-dollars. A spend
//!   counter starts, the first time any instance uses it, from that instance's stored view.
//!
//! Every admission is one round trip; settlements (a freed parallel slot, the token
//! correction, the real cost replacing the reservation) are summed locally and sent every
//! 20 ms in one pipeline. When Redis does not answer within its timeout the caller
//! falls back to this instance's local counters (and says so in the log): limits then hold per
//! instance until Redis is back, when counting resumes there.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use redis::aio::ConnectionManager;
use redis::Script;

use crate::limits::{Descriptor, Refusal, Remaining};
use crate::sharded::Sharded;

const ADMIT: &str = r#"
local now = tonumber(ARGV[1])
local est_t = tonumber(ARGV[2])
local est_c = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local function window(key)
  local h = redis.call('HGETALL', key)
  local total, oldest = 0, nil
  for j = 1, #h, 2 do
    local sec, c = tonumber(h[j]), tonumber(h[j + 1])
    if sec > now - 61 then
      total = total + c
      if c > 0 and (oldest == nil or sec < oldest) then oldest = sec end
    else
      redis.call('HDEL', key, h[j])
    end
  end
  local reset = 0
  if oldest then reset = oldest + 61 - now end
  return total, reset
end
local rq, rr, tk, tr = 0, 0, 0, 0
for i = 0, n - 1 do
  local a, k = 5 + i * 6, i * 5
  local rpm, tpm, par, bmax = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if rpm >= 0 then
    local t, r = window(KEYS[k + 1])
    if t + 1 > rpm then return {i, 'requests', rpm, math.max(r, 1)} end
    if i == 0 then rq, rr = t + 1, math.max(r, 1) end
  end
  if tpm >= 0 then
    local t, r = window(KEYS[k + 2])
    if t >= tpm then return {i, 'tokens', tpm, math.max(r, 1)} end
    if i == 0 then tk, tr = t + est_t, math.max(r, 1) end
  end
  if par >= 0 then
    local p = tonumber(redis.call('GET', KEYS[k + 3]) or '0')
    if p + 1 > par then return {i, 'max_parallel_requests', par, 1} end
  end
  if bmax >= 0 then
    redis.call('SET', KEYS[k + 4], ARGV[a + 5], 'NX')
    local sp = tonumber(redis.call('GET', KEYS[k + 4]))
    local rs = tonumber(redis.call('GET', KEYS[k + 5]) or '0')
    if sp + rs >= bmax then return {i, 'budget', tostring(sp + rs), tostring(bmax)} end
  end
end
for i = 0, n - 1 do
  local a, k = 5 + i * 6, i * 5
  redis.call('HINCRBY', KEYS[k + 1], now, 1)
  redis.call('EXPIRE', KEYS[k + 1], 120)
  redis.call('HINCRBY', KEYS[k + 2], now, est_t)
  redis.call('EXPIRE', KEYS[k + 2], 120)
  redis.call('INCR', KEYS[k + 3])
  redis.call('EXPIRE', KEYS[k + 3], 3600)
  if tonumber(ARGV[a + 3]) >= 0 then
    redis.call('INCRBY', KEYS[k + 5], est_c)
    redis.call('EXPIRE', KEYS[k + 5], 3456000)
    redis.call('EXPIRE', KEYS[k + 4], 34560000)
  end
end
local sp = redis.call('GET', KEYS[4]) or '0'
return {-1, rq, rr, tk, tr, sp}
"#;

/// Counters in Redis.
#[derive(Clone)]
pub struct SharedLimiter {
    conn: ConnectionManager,
    namespace: String,
    admit: Script,
    timeout: Duration,
    /// A shard per core: requests on different workers queue without meeting on a lock.
    pending: Arc<Sharded<Pending>>,
}

/// Settlements not yet sent: increments, summed per key (they commute), sent every
/// [`FLUSH_EVERY`] in one pipeline, so ending a request costs no round trip of its own.
#[derive(Debug, Default)]
struct Pending {
    incr: HashMap<String, i64>,
    hincr: HashMap<(String, i64), i64>,
}

impl Pending {
    /// Adds `other`'s increments to these.
    fn add(&mut self, other: Pending) {
        if self.incr.is_empty() && self.hincr.is_empty() {
            *self = other;
            return;
        }
        for (k, d) in other.incr {
            *self.incr.entry(k).or_default() += d;
        }
        for (k, d) in other.hincr {
            *self.hincr.entry(k).or_default() += d;
        }
    }
}

/// How often settlements go to Redis: the lag of a freed parallel slot or of spend as other
/// instances see it.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

impl std::fmt::Debug for SharedLimiter {
    // The connection may carry a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter").finish_non_exhaustive()
    }
}

/// A request counted in Redis. Settle it; dropping it releases it (in the background).
#[derive(Debug)]
pub struct Ticket {
    shared: SharedLimiter,
    keys: Vec<String>,
    budgets: Vec<bool>,
    second: i64,
    est_tokens: u64,
    est_cost: i64,
    done: bool,
    /// The first descriptor's windows after admission.
    pub remaining: Remaining,
    /// The first descriptor's period spend, nano-dollars.
    pub spent: Option<i64>,
}

fn keys_of(namespace: &str, d: &Descriptor) -> [String; 5] {
    let base = format!("sy:{namespace}{}:{}", d.scope, d.id);
    let period = d.budget.map_or(0, |b| b.period_start);
    [
        format!("{base}:rq"),
        format!("{base}:tk"),
        format!("{base}:par"),
        format!("{base}:sp:{period}"),
        format!("{base}:rs:{period}"),
    ]
}

fn limit(v: Option<u64>) -> i64 {
    v.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

impl SharedLimiter {
    /// Connects (the manager reconnects by itself after a failure). Keys start with
    /// `sy:<namespace>:` when a namespace is given.
    pub async fn connect(
        url: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> redis::RedisResult<SharedLimiter> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let shared = SharedLimiter {
            conn,
            namespace: namespace.map(|n| format!("{n}:")).unwrap_or_default(),
            admit: Script::new(ADMIT),
            timeout,
            pending: Arc::new(Sharded::default()),
        };
        let weak = Arc::downgrade(&shared.pending);
        tokio::spawn(flush_loop(shared.conn.clone(), weak, timeout));
        Ok(shared)
    }

    /// Sends pending settlements now (at shutdown).
    pub async fn flush(&self) {
        flush(&mut self.conn.clone(), &self.pending, self.timeout).await;
    }

    /// Checks and counts a request in every descriptor. The outer error is Redis failing.
    pub async fn admit(
        &self,
        descs: &[Descriptor],
        est_tokens: u64,
        est_cost: i64,
        now_ms: i64,
    ) -> redis::RedisResult<Result<Ticket, Refusal>> {
        let now = now_ms.div_euclid(1000);
        let mut inv = self.admit.prepare_invoke();
        inv.arg(now).arg(est_tokens).arg(est_cost).arg(descs.len());
        let mut keys = Vec::with_capacity(descs.len() * 5);
        for d in descs {
            for k in keys_of(&self.namespace, d) {
                inv.key(&k);
                keys.push(k);
            }
            let b = d.budget;
            inv.arg(limit(d.rpm))
                .arg(limit(d.tpm))
                .arg(limit(d.parallel))
                .arg(b.map_or(-1, |b| b.max_nano))
                .arg(b.map_or(0, |b| b.period_start))
                .arg(b.map_or(0, |b| b.base_nano));
        }
        let mut conn = self.conn.clone();
        let fut = inv.invoke_async::<redis::Value>(&mut conn);
        let reply = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::IoError, "Redis timed out"))
            })??;
        let items: Vec<redis::Value> = match reply {
            redis::Value::Array(v) => v,
            other => {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::TypeError,
                    "unexpected reply",
                    format!("{other:?}"),
                )))
            }
        };
        let int = |i: usize| -> i64 {
            match items.get(i) {
                Some(redis::Value::Int(n)) => *n,
                Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                _ => 0,
            }
        };
        let text = |i: usize| -> String {
            match items.get(i) {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(redis::Value::SimpleString(s)) => s.clone(),
                _ => String::new(),
            }
        };
        let which = int(0);
        if which >= 0 {
            let d = usize::try_from(which)
                .ok()
                .and_then(|i| descs.get(i))
                .ok_or_else(|| {
                    redis::RedisError::from((redis::ErrorKind::TypeError, "bad index"))
                })?;
            let kind = text(1);
            return Ok(Err(if kind == "budget" {
                Refusal::Budget {
                    scope: d.scope,
                    label: d.label.clone(),
                    spend: text(2).parse::<f64>().unwrap_or(0.0) / 1e9,
                    max: text(3).parse::<f64>().unwrap_or(0.0) / 1e9,
                }
            } else {
                Refusal::Rate {
                    scope: d.scope,
                    label: d.label.clone(),
                    kind: match kind.as_str() {
                        "requests" => "requests",
                        "tokens" => "tokens",
                        _ => "max_parallel_requests",
                    },
                    limit: u64::try_from(int(2)).unwrap_or(0),
                    retry_after: u64::try_from(int(3)).unwrap_or(1).max(1),
                }
            }));
        }
        let first = descs.first();
        let remaining = Remaining {
            limit_requests: first.and_then(|d| d.rpm),
            remaining_requests: first
                .and_then(|d| d.rpm)
                .map_or(0, |l| l.saturating_sub(u64::try_from(int(1)).unwrap_or(0))),
            reset_requests: int(2),
            limit_tokens: first.and_then(|d| d.tpm),
            remaining_tokens: first
                .and_then(|d| d.tpm)
                .map_or(0, |l| l.saturating_sub(u64::try_from(int(3)).unwrap_or(0))),
            reset_tokens: int(4),
        };
        Ok(Ok(Ticket {
            shared: self.clone(),
            keys,
            budgets: descs.iter().map(|d| d.budget.is_some()).collect(),
            second: now,
            est_tokens,
            est_cost,
            done: false,
            remaining,
            spent: first.and_then(|d| d.budget).map(|_| int(5)),
        }))
    }

    fn queue(&self, a: SettleArgs) {
        let mut p = self.pending.local();
        for (k, has_budget) in a.keys.chunks_exact(5).zip(&a.budgets) {
            *p.incr.entry(k[2].clone()).or_default() -= 1;
            if a.token_delta != 0 {
                *p.hincr.entry((k[1].clone(), a.second)).or_default() += a.token_delta;
            }
            if *has_budget {
                *p.incr.entry(k[4].clone()).or_default() -= a.est_cost;
                *p.incr.entry(k[3].clone()).or_default() += a.cost;
            }
        }
    }
}

struct SettleArgs {
    keys: Vec<String>,
    budgets: Vec<bool>,
    second: i64,
    token_delta: i64,
    est_cost: i64,
    cost: i64,
}

impl Ticket {
    fn args(&mut self, actual: Option<(u64, i64)>) -> Option<SettleArgs> {
        if self.done {
            return None;
        }
        self.done = true;
        let (delta, cost) = match actual {
            Some((tokens, cost)) => (
                i64::try_from(tokens).unwrap_or(i64::MAX)
                    - i64::try_from(self.est_tokens).unwrap_or(0),
                cost,
            ),
            None => (0, 0),
        };
        Some(SettleArgs {
            keys: std::mem::take(&mut self.keys),
            budgets: std::mem::take(&mut self.budgets),
            second: self.second,
            token_delta: delta,
            est_cost: self.est_cost,
            cost,
        })
    }

    /// Ends the request with its real token count and cost (sent with the next flush).
    pub fn settle(mut self, tokens: u64, cost_nano: i64) {
        if let Some(a) = self.args(Some((tokens, cost_nano))) {
            self.shared.queue(a);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(a) = self.args(None) {
            self.shared.queue(a);
        }
    }
}

async fn flush_loop(
    mut conn: ConnectionManager,
    pending: Weak<Sharded<Pending>>,
    timeout: Duration,
) {
    loop {
        tokio::time::sleep(FLUSH_EVERY).await;
        let Some(p) = pending.upgrade() else { return };
        flush(&mut conn, &p, timeout).await;
    }
}

/// Sends the pending increments in one pipeline; on failure they go back to be retried (a
/// lost decrement would hold a parallel slot until its key expires).
async fn flush(conn: &mut ConnectionManager, pending: &Sharded<Pending>, timeout: Duration) {
    // Every shard's increments, summed per key (they commute).
    let mut batch = Pending::default();
    for mut shard in pending.each() {
        let p = std::mem::take(&mut *shard);
        batch.add(p);
    }
    if batch.incr.is_empty() && batch.hincr.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for (k, d) in &batch.incr {
        pipe.cmd("INCRBY").arg(k).arg(*d).ignore();
    }
    for ((k, sec), d) in &batch.hincr {
        pipe.cmd("HINCRBY").arg(k).arg(*sec).arg(*d).ignore();
    }
    let sent = tokio::time::timeout(timeout * 4, pipe.query_async::<()>(conn)).await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::warn!("sending settlements to Redis failed; retrying");
        pending.local().add(batch);
    }
}

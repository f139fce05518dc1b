//! Spend: log records, the batch that carries them with the totals and daily aggregates they
//! imply, and the queries reports run.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Backend, Kind, Store, StoreError};

/// One request's spend record.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SpendLog {
    /// The call id (`x-litellm-call-id`).
    pub request_id: String,
    /// `acompletion`, `aembedding`, ...
    pub call_type: String,
    /// SHA-256 hex of the virtual key; None for the master key or open access.
    pub api_key: Option<String>,
    /// The key's alias.
    pub key_alias: Option<String>,
    /// The key's user.
    pub user_id: Option<String>,
    /// The key's team.
    pub team_id: Option<String>,
    /// The request's end user.
    pub end_user: Option<String>,
    /// Model group asked for (after aliases).
    pub model_group: String,
    /// Upstream model that answered.
    pub model: String,
    /// Deployment id.
    pub model_id: String,
    /// Provider.
    pub provider: String,
    /// Upstream base URL.
    pub api_base: String,
    /// Prompt tokens (cached included).
    pub prompt_tokens: i64,
    /// Completion tokens (reasoning included).
    pub completion_tokens: i64,
    /// Prompt + completion.
    pub total_tokens: i64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// Cost, nano-dollars.
    pub spend_nano: i64,
    /// `success` or `failure`.
    pub status: String,
    /// HTTP status sent to the client.
    pub status_code: i64,
    /// Short failure reason.
    pub error_reason: Option<String>,
    /// Streamed.
    pub stream: bool,
    /// Answered from the cache.
    pub cache_hit: bool,
    /// Retries made.
    pub attempted_retries: i64,
    /// Fallbacks tried.
    pub attempted_fallbacks: i64,
    /// Start, ms since the epoch.
    pub start_time: i64,
    /// End, ms since the epoch.
    pub end_time: i64,
    /// First byte of the answer, ms since the epoch (streams).
    pub completion_start_time: Option<i64>,
    /// End minus start, ms.
    pub request_duration_ms: i64,
    /// Tags of the request.
    pub request_tags: Vec<String>,
    /// Free-form metadata (`spend_logs_metadata`, ...).
    pub metadata: serde_json::Value,
    /// Budget counters this request's cost adds to: (scope, id, period start ms; 0 for a
    /// budget that never resets). Not a column of the log row.
    #[serde(skip)]
    pub budget_periods: Vec<(String, String, i64)>,
}

/// Daily totals of one entity for one model group and provider.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DailyRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// `key`, `user`, `team`, `end_user`, `tag` or `global`.
    pub kind: String,
    /// The entity's id (`""` for global).
    pub id: String,
    /// Model group.
    pub model_group: String,
    /// Provider.
    pub provider: String,
    /// Requests.
    pub requests: i64,
    /// Successful requests.
    pub successes: i64,
    /// Failed requests.
    pub failures: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cache-read prompt tokens.
    pub cache_read_tokens: i64,
    /// Cache-write prompt tokens.
    pub cache_write_tokens: i64,
    /// Spend, nano-dollars.
    pub spend_nano: i64,
}

impl DailyRow {
    fn add(&mut self, o: &DailyRow) {
        self.requests += o.requests;
        self.successes += o.successes;
        self.failures += o.failures;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.spend_nano += o.spend_nano;
    }
}

type DailyKey = (String, String, String, String, String);

/// What one flush writes, in one transaction: log rows, spend added to each entity, and the
/// daily aggregates.
#[derive(Debug, Default)]
pub struct SpendBatch {
    /// Log rows.
    pub logs: Vec<SpendLog>,
    /// Spend to add, by entity, nano-dollars. Ordered, so concurrent writers lock rows in the
    /// same order.
    pub totals: BTreeMap<(Kind, String), i64>,
    /// Daily aggregate increments.
    pub daily: BTreeMap<DailyKey, DailyRow>,
    /// Spend to add per budget period, nano-dollars.
    pub periods: BTreeMap<(String, String, i64), i64>,
}

/// UTC day of a timestamp, `YYYY-MM-DD`.
pub fn day_of(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl SpendBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
            && self.totals.is_empty()
            && self.daily.is_empty()
            && self.periods.is_empty()
    }

    /// Adds one request: its totals and aggregates always, its row when `keep_log`.
    pub fn add(&mut self, log: SpendLog, keep_log: bool) {
        let mut owners: Vec<(Kind, &str)> = Vec::with_capacity(4 + log.request_tags.len());
        for (kind, id) in [
            (Kind::Key, &log.api_key),
            (Kind::User, &log.user_id),
            (Kind::Team, &log.team_id),
            (Kind::EndUser, &log.end_user),
        ] {
            if let Some(id) = id.as_deref().filter(|s| !s.is_empty()) {
                owners.push((kind, id));
            }
        }
        for t in &log.request_tags {
            owners.push((Kind::Tag, t));
        }
        if log.spend_nano != 0 {
            for (kind, id) in &owners {
                *self.totals.entry((*kind, (*id).to_owned())).or_default() += log.spend_nano;
            }
            for p in &log.budget_periods {
                *self.periods.entry(p.clone()).or_default() += log.spend_nano;
            }
        }
        let ok = log.status == "success";
        let inc = DailyRow {
            requests: 1,
            successes: i64::from(ok),
            failures: i64::from(!ok),
            prompt_tokens: log.prompt_tokens,
            completion_tokens: log.completion_tokens,
            cache_read_tokens: log.cache_read_tokens,
            cache_write_tokens: log.cache_write_tokens,
            spend_nano: log.spend_nano,
            ..DailyRow::default()
        };
        let day = day_of(log.start_time);
        let global = std::iter::once(("global", ""));
        for (kind, id) in global.chain(owners.iter().map(|(k, id)| (k.as_str(), *id))) {
            let key = (
                day.clone(),
                kind.to_owned(),
                id.to_owned(),
                log.model_group.clone(),
                log.provider.clone(),
            );
            self.daily
                .entry(key)
                .or_insert_with_key(|k| DailyRow {
                    day: k.0.clone(),
                    kind: k.1.clone(),
                    id: k.2.clone(),
                    model_group: k.3.clone(),
                    provider: k.4.clone(),
                    ..DailyRow::default()
                })
                .add(&inc);
        }
        if keep_log {
            self.logs.push(log);
        }
    }

    /// Puts a batch that could not be written back in front of this one.
    pub fn merge(&mut self, other: SpendBatch) {
        let mut logs = other.logs;
        logs.append(&mut self.logs);
        self.logs = logs;
        for (k, v) in other.totals {
            *self.totals.entry(k).or_default() += v;
        }
        for (k, v) in other.periods {
            *self.periods.entry(k).or_default() += v;
        }
        for (k, v) in other.daily {
            match self.daily.get_mut(&k) {
                Some(row) => row.add(&v),
                None => {
                    self.daily.insert(k, v);
                }
            }
        }
    }
}

const LOG_COLUMNS: [&str; 32] = [
    "request_id",
    "call_type",
    "api_key",
    "key_alias",
    "user_id",
    "team_id",
    "end_user",
    "model_group",
    "model",
    "model_id",
    "provider",
    "api_base",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "spend_nano",
    "status",
    "status_code",
    "error_reason",
    "stream",
    "cache_hit",
    "attempted_retries",
    "attempted_fallbacks",
    "start_time",
    "end_time",
    "completion_start_time",
    "request_duration_ms",
    "request_tags",
    "metadata",
];

const DAILY_COLUMNS: [&str; 13] = [
    "day",
    "kind",
    "id",
    "model_group",
    "provider",
    "requests",
    "successes",
    "failures",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "spend_nano",
];

/// `($1, $2, ...), ($n+1, ...)` for `rows` rows of `cols` values; bare `?` on SQLite, where
/// numbered parameters are named and looking each one up by name is linear in their count
/// (quadratic per statement: it was most of the gateway's CPU with 4096-parameter inserts).
pub(crate) fn placeholders(rows: usize, cols: usize, backend: Backend) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => s.push_str(&format!("${}", r * cols + c + 1)),
            }
        }
        s.push(')');
    }
    s
}

/// Most rows per INSERT statement (32 columns: well under both backends' parameter limits).
const ROWS_PER_INSERT: usize = 128;

/// Splits `rows` into statements of power-of-two sizes (128, 64, ... 1), so a handful of SQL
/// texts serve every batch size and stay in the prepared-statement cache.
pub(crate) fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let n = if rows.len() >= ROWS_PER_INSERT {
            ROWS_PER_INSERT
        } else {
            1 << rows.len().ilog2()
        };
        let (head, tail) = rows.split_at(n);
        rows = tail;
        Some(head)
    })
}

/// Totals after a batch, with what the batch added: `(who, total, added)`, nano-dollars.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    /// Entity spend totals.
    pub totals: Vec<((Kind, String), i64, i64)>,
    /// Budget period totals: (scope, id, period start).
    pub periods: Vec<((String, String, i64), i64, i64)>,
}

/// Filters of `/spend/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Key hash.
    pub api_key: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
    /// End user.
    pub end_user: Option<String>,
    /// One request.
    pub request_id: Option<String>,
    /// From, ms since the epoch (inclusive).
    pub start_ms: Option<i64>,
    /// To, ms since the epoch (exclusive).
    pub end_ms: Option<i64>,
    /// Most rows.
    pub limit: i64,
}

/// Filters of the daily aggregate reports.
#[derive(Debug, Clone, Default)]
pub struct DailyQuery {
    /// `key`, `user`, `team`, `end_user`, `tag` or `global`.
    pub kind: String,
    /// One entity only.
    pub id: Option<String>,
    /// First day, `YYYY-MM-DD` (inclusive).
    pub from_day: Option<String>,
    /// Last day, `YYYY-MM-DD` (inclusive).
    pub to_day: Option<String>,
}

impl Store {
    /// Writes a batch in one transaction: all of it or none. Returns the totals after it: each
    /// entity's and each budget period's, with what this batch added (so a caller can tell
    /// which thresholds this very write crossed, once across all instances).
    pub async fn write_batch(&self, batch: &SpendBatch) -> Result<Written, StoreError> {
        let mut written = Written::default();
        let mut tx = self.pool().begin().await?;
        for chunk in statement_chunks(&batch.logs) {
            let sql = format!(
                "INSERT INTO sy_spend_logs ({}) VALUES {} ON CONFLICT (request_id) DO NOTHING",
                LOG_COLUMNS.join(", "),
                placeholders(chunk.len(), LOG_COLUMNS.len(), self.backend())
            );
            let mut q = sqlx::query(&sql);
            for l in chunk {
                q = q
                    .bind(&l.request_id)
                    .bind(&l.call_type)
                    .bind(&l.api_key)
                    .bind(&l.key_alias)
                    .bind(&l.user_id)
                    .bind(&l.team_id)
                    .bind(&l.end_user)
                    .bind(&l.model_group)
                    .bind(&l.model)
                    .bind(&l.model_id)
                    .bind(&l.provider)
                    .bind(&l.api_base)
                    .bind(l.prompt_tokens)
                    .bind(l.completion_tokens)
                    .bind(l.total_tokens)
                    .bind(l.cache_read_tokens)
                    .bind(l.cache_write_tokens)
                    .bind(l.reasoning_tokens)
                    .bind(l.spend_nano)
                    .bind(&l.status)
                    .bind(l.status_code)
                    .bind(&l.error_reason)
                    .bind(i64::from(l.stream))
                    .bind(i64::from(l.cache_hit))
                    .bind(l.attempted_retries)
                    .bind(l.attempted_fallbacks)
                    .bind(l.start_time)
                    .bind(l.end_time)
                    .bind(l.completion_start_time)
                    .bind(l.request_duration_ms)
                    .bind(serde_json::to_string(&l.request_tags)?)
                    .bind(l.metadata.to_string());
            }
            q.execute(&mut *tx).await?;
        }
        let now = crate::now_ms();
        for ((kind, id), delta) in &batch.totals {
            let sql = match kind {
                // Keys, users and teams exist only when created; spend of a deleted one is
                // kept in the logs and aggregates only.
                Kind::Key | Kind::User | Kind::Team => {
                    "UPDATE sy_entities SET spend_nano = spend_nano + $1 WHERE kind = $2 AND id = $3 RETURNING spend_nano"
                }
                // End users and tags come into being with their first request.
                Kind::EndUser | Kind::Tag => {
                    "INSERT INTO sy_entities (kind, id, spend_nano, data, created_at, updated_at) VALUES ($2, $3, $1, '{}', $4, $4) \
                     ON CONFLICT (kind, id) DO UPDATE SET spend_nano = sy_entities.spend_nano + excluded.spend_nano RETURNING spend_nano"
                }
            };
            let mut q = sqlx::query(sql).bind(*delta).bind(kind.as_str()).bind(id);
            if matches!(kind, Kind::EndUser | Kind::Tag) {
                q = q.bind(now);
            }
            if let Some(row) = q.fetch_optional(&mut *tx).await? {
                let total: i64 = row.try_get(0)?;
                written.totals.push(((*kind, id.clone()), total, *delta));
            }
        }
        for ((scope, id, period), delta) in &batch.periods {
            let row = sqlx::query(
                "INSERT INTO sy_budget_spend (scope, id, period_start, spend_nano) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (scope, id, period_start) DO UPDATE SET spend_nano = sy_budget_spend.spend_nano + excluded.spend_nano \
                 RETURNING spend_nano",
            )
            .bind(scope)
            .bind(id)
            .bind(*period)
            .bind(*delta)
            .fetch_one(&mut *tx)
            .await?;
            let total: i64 = row.try_get(0)?;
            written
                .periods
                .push(((scope.clone(), id.clone(), *period), total, *delta));
        }
        let rows: Vec<&DailyRow> = batch.daily.values().collect();
        for chunk in statement_chunks(&rows) {
            let updates = DAILY_COLUMNS[5..]
                .iter()
                .map(|c| format!("{c} = sy_daily_spend.{c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO sy_daily_spend ({}) VALUES {} ON CONFLICT (day, kind, id, model_group, provider) DO UPDATE SET {updates}",
                DAILY_COLUMNS.join(", "),
                placeholders(chunk.len(), DAILY_COLUMNS.len(), self.backend())
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(&r.day)
                    .bind(&r.kind)
                    .bind(&r.id)
                    .bind(&r.model_group)
                    .bind(&r.provider)
                    .bind(r.requests)
                    .bind(r.successes)
                    .bind(r.failures)
                    .bind(r.prompt_tokens)
                    .bind(r.completion_tokens)
                    .bind(r.cache_read_tokens)
                    .bind(r.cache_write_tokens)
                    .bind(r.spend_nano);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Spend log rows, newest first.
    pub async fn spend_logs(&self, q: &LogQuery) -> Result<Vec<SpendLog>, StoreError> {
        let mut cond = vec!["1 = 1".to_owned()];
        let mut text: Vec<&str> = Vec::new();
        for (col, v) in [
            ("api_key", &q.api_key),
            ("user_id", &q.user_id),
            ("team_id", &q.team_id),
            ("end_user", &q.end_user),
            ("request_id", &q.request_id),
        ] {
            if let Some(v) = v {
                text.push(v);
                cond.push(format!("{col} = ${}", text.len()));
            }
        }
        let mut nums: Vec<i64> = Vec::new();
        for (op, v) in [(">=", q.start_ms), ("<", q.end_ms)] {
            if let Some(v) = v {
                nums.push(v);
                cond.push(format!("start_time {op} ${}", text.len() + nums.len()));
            }
        }
        let sql = format!(
            "SELECT {} FROM sy_spend_logs WHERE {} ORDER BY start_time DESC, request_id LIMIT {}",
            LOG_COLUMNS.join(", "),
            cond.join(" AND "),
            q.limit.clamp(1, 100_000)
        );
        let mut query = sqlx::query(&sql);
        for t in text {
            query = query.bind(t);
        }
        for n in nums {
            query = query.bind(n);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(log_row).collect()
    }

    /// Daily aggregate rows, oldest day first.
    pub async fn daily(&self, q: &DailyQuery) -> Result<Vec<DailyRow>, StoreError> {
        let mut cond = vec!["kind = $1".to_owned()];
        let mut args = vec![q.kind.as_str()];
        for (expr, v) in [
            ("id =", &q.id),
            ("day >=", &q.from_day),
            ("day <=", &q.to_day),
        ] {
            if let Some(v) = v {
                args.push(v);
                cond.push(format!("{expr} ${}", args.len()));
            }
        }
        let sql = format!(
            "SELECT {} FROM sy_daily_spend WHERE {} ORDER BY day, id, model_group, provider",
            DAILY_COLUMNS.join(", "),
            cond.join(" AND ")
        );
        let mut query = sqlx::query(&sql);
        for a in args {
            query = query.bind(a);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(DailyRow {
                    day: r.try_get("day")?,
                    kind: r.try_get("kind")?,
                    id: r.try_get("id")?,
                    model_group: r.try_get("model_group")?,
                    provider: r.try_get("provider")?,
                    requests: r.try_get("requests")?,
                    successes: r.try_get("successes")?,
                    failures: r.try_get("failures")?,
                    prompt_tokens: r.try_get("prompt_tokens")?,
                    completion_tokens: r.try_get("completion_tokens")?,
                    cache_read_tokens: r.try_get("cache_read_tokens")?,
                    cache_write_tokens: r.try_get("cache_write_tokens")?,
                    spend_nano: r.try_get("spend_nano")?,
                })
            })
            .collect()
    }

    /// Budget spend rows of periods that started at or after `since_ms`, and every lifetime
    /// (period 0) row: (scope, id, period start, spend).
    pub async fn budget_spend(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope, id, period_start, spend_nano FROM sy_budget_spend WHERE period_start = 0 OR period_start >= $1",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Deletes log rows that started before `before_ms`, `batch` rows per statement, so a large
    /// sweep never holds long locks. Returns how many went.
    pub async fn delete_logs_before(&self, before_ms: i64, batch: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM sy_spend_logs WHERE request_id IN (SELECT request_id FROM sy_spend_logs WHERE start_time < $1 LIMIT $2)",
            )
            .bind(before_ms)
            .bind(batch.max(1))
            .execute(self.pool())
            .await?;
            total += done.rows_affected();
            if done.rows_affected() < batch.max(1) as u64 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }
}

fn log_row(r: &AnyRow) -> Result<SpendLog, StoreError> {
    let tags: String = r.try_get("request_tags")?;
    let metadata: String = r.try_get("metadata")?;
    Ok(SpendLog {
        request_id: r.try_get("request_id")?,
        call_type: r.try_get("call_type")?,
        api_key: r.try_get("api_key")?,
        key_alias: r.try_get("key_alias")?,
        user_id: r.try_get("user_id")?,
        team_id: r.try_get("team_id")?,
        end_user: r.try_get("end_user")?,
        model_group: r.try_get("model_group")?,
        model: r.try_get("model")?,
        model_id: r.try_get("model_id")?,
        provider: r.try_get("provider")?,
        api_base: r.try_get("api_base")?,
        prompt_tokens: r.try_get("prompt_tokens")?,
        completion_tokens: r.try_get("completion_tokens")?,
        total_tokens: r.try_get("total_tokens")?,
        cache_read_tokens: r.try_get("cache_read_tokens")?,
        cache_write_tokens: r.try_get("cache_write_tokens")?,
        reasoning_tokens: r.try_get("reasoning_tokens")?,
        spend_nano: r.try_get("spend_nano")?,
        status: r.try_get("status")?,
        status_code: r.try_get("status_code")?,
        error_reason: r.try_get("error_reason")?,
        stream: r.try_get::<i64, _>("stream")? != 0,
        cache_hit: r.try_get::<i64, _>("cache_hit")? != 0,
        attempted_retries: r.try_get("attempted_retries")?,
        attempted_fallbacks: r.try_get("attempted_fallbacks")?,
        start_time: r.try_get("start_time")?,
        end_time: r.try_get("end_time")?,
        completion_start_time: r.try_get("completion_start_time")?,
        request_duration_ms: r.try_get("request_duration_ms")?,
        request_tags: serde_json::from_str(&tags)?,
        metadata: serde_json::from_str(&metadata)?,
        budget_periods: Vec::new(),
    })
}

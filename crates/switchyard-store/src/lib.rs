//! Persistence for governance: keys, users, teams, end users and tags (one row each), the change
//! feed that keeps every instance's caches current, spend totals, spend logs and daily aggregates.
//!
//! Two backends share one schema and one code path through sqlx's `Any` driver: an embedded
//! SQLite file (the default; WAL mode) and PostgreSQL. Migrations are embedded and applied at
//! start-up; both backends carry the same versions (`migrations/sqlite`, `migrations/postgres`
//! differ only where the dialects do).
//!
//! Money is stored as integer nano-dollars (`spend_nano`), so totals are exact sums of the
//! per-request costs recorded in the logs, whatever the order of the additions.
//!
//! Nothing here runs on the request path: the governance crate caches records and queues spend,
//! and writes through this crate in batches.

mod responses;
mod spend;

pub use responses::ResponseRow;

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use spend::{day_of, DailyQuery, DailyRow, LogQuery, SpendBatch, SpendLog, Written};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with this id exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// A stored JSON document did not parse.
    #[error("stored record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A thread or runtime for database work could not start.
    #[error("cannot start database work: {0}")]
    Io(#[from] std::io::Error),
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite:// or postgres://): {0}")]
    Url(String),
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// What kind of entity a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A virtual key; its id is the SHA-256 hex of the key.
    Key,
    /// An internal user.
    User,
    /// A team.
    Team,
    /// An end user (a request's `user` field; LiteLLM's "customer").
    EndUser,
    /// A request tag.
    Tag,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 5] = [Kind::Key, Kind::User, Kind::Team, Kind::EndUser, Kind::Tag];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::User => "user",
            Kind::Team => "team",
            Kind::EndUser => "end_user",
            Kind::Tag => "tag",
        }
    }
}

impl FromStr for Kind {
    type Err = ();
    fn from_str(s: &str) -> Result<Kind, ()> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// One stored entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    /// Kind.
    pub kind: Kind,
    /// Id (a key's hash, a user id, ...).
    pub id: String,
    /// Human name (key alias, team alias, ...).
    pub alias: Option<String>,
    /// Owning user (keys).
    pub user_id: Option<String>,
    /// Owning team (keys, users' default team).
    pub team_id: Option<String>,
    /// Spend so far, nano-dollars.
    pub spend_nano: i64,
    /// The rest of the record.
    pub data: serde_json::Value,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed.
    pub seq: i64,
    /// Kind of the changed entity.
    pub kind: Kind,
    /// Id of the changed entity.
    pub id: String,
}

/// Filters of an entity listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only rows owned by this user.
    pub user_id: Option<String>,
    /// Only rows of this team.
    pub team_id: Option<String>,
    /// Only rows with this alias.
    pub alias: Option<String>,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// PostgreSQL schema to use (created if missing); tests use one each.
    pub schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
            schema: None,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    // `SystemTime` directly: no calendar type and no 128-bit division (twice a request).
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The storage layer.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    opts: StoreOptions,
}

impl std::fmt::Debug for Store {
    // The URL may hold a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const ENTITY_COLUMNS: &str =
    "kind, id, alias, user_id, team_id, spend_nano, data, created_at, updated_at";

/// Turns a plain SQLite path into a URL that creates the file.
fn normalize_url(url: &str) -> Result<(String, Backend), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.contains("://") {
        return Err(StoreError::Url(
            url.split('@').next_back().unwrap_or(url).into(),
        ));
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let mode = if path.contains("mode=") {
        String::new()
    } else {
        format!("{sep}mode=rwc")
    };
    Ok((format!("sqlite://{path}{mode}"), Backend::Sqlite))
}

impl Store {
    /// Connects (creating a SQLite file if needed) and applies the migrations.
    pub async fn connect(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        let store = Store::open(url, opts).await?;
        match store.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&store.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&store.pool)
                    .await?
            }
        }
        Ok(store)
    }

    /// A second, small pool on the same database, for a task that runs on its own runtime (the
    /// spend writer): its connections belong to that runtime.
    pub async fn sibling(&self, max_connections: u32) -> Result<Store, StoreError> {
        let opts = StoreOptions {
            max_connections,
            ..self.opts.clone()
        };
        Store::open(&self.url, opts).await
    }

    async fn open(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let original: std::sync::Arc<str> = url.into();
        let (url, backend) = normalize_url(url)?;
        let schema = opts.schema.clone();
        let saved = opts.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.connect_timeout)
            .after_connect(move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    let setup = match (backend, schema) {
                        (Backend::Sqlite, _) => "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;".to_owned(),
                        (Backend::Postgres, Some(s)) => format!("CREATE SCHEMA IF NOT EXISTS \"{s}\"; SET search_path TO \"{s}\""),
                        (Backend::Postgres, None) => return Ok(()),
                    };
                    sqlx::Executor::execute(&mut *conn, setup.as_str()).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store {
            pool,
            backend,
            url: original,
            opts: saved,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// One entity.
    pub async fn get(&self, kind: Kind, id: &str) -> Result<Option<EntityRow>, StoreError> {
        let sql = format!("SELECT {ENTITY_COLUMNS} FROM sy_entities WHERE kind = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| entity(&r)).transpose()
    }

    /// Entities of a kind with this alias.
    pub async fn find_by_alias(
        &self,
        kind: Kind,
        alias: &str,
    ) -> Result<Vec<EntityRow>, StoreError> {
        let filter = ListFilter {
            alias: Some(alias.to_owned()),
            ..ListFilter::default()
        };
        Ok(self.list(kind, &filter, 0, i64::MAX).await?.0)
    }

    /// Inserts a new entity; [`StoreError::Conflict`] when its id is taken.
    pub async fn insert(&self, row: &EntityRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO sy_entities ({ENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, id) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(row.kind.as_str())
            .bind(&row.id)
            .bind(&row.alias)
            .bind(&row.user_id)
            .bind(&row.team_id)
            .bind(row.spend_nano)
            .bind(row.data.to_string())
            .bind(row.created_at)
            .bind(row.updated_at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "{} {}",
                row.kind.as_str(),
                row.id
            )));
        }
        note_change(&mut tx, row.kind, &row.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an entity's record (not its spend). False when it does not exist.
    pub async fn update(&self, row: &EntityRow) -> Result<bool, StoreError> {
        self.rekey(&row.id, row).await
    }

    /// Moves an entity to a new id (a regenerated key), keeping its spend, in one transaction.
    pub async fn rekey(&self, old_id: &str, row: &EntityRow) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sy_entities SET id = $1, alias = $2, user_id = $3, team_id = $4, data = $5, updated_at = $6 WHERE kind = $7 AND id = $8",
        )
        .bind(&row.id)
        .bind(&row.alias)
        .bind(&row.user_id)
        .bind(&row.team_id)
        .bind(row.data.to_string())
        .bind(row.updated_at)
        .bind(row.kind.as_str())
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if old_id != row.id {
            note_change(&mut tx, row.kind, old_id).await?;
        }
        note_change(&mut tx, row.kind, &row.id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes entities; returns the ids that existed.
    pub async fn delete(&self, kind: Kind, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut gone = Vec::new();
        for id in ids {
            let done = sqlx::query("DELETE FROM sy_entities WHERE kind = $1 AND id = $2")
                .bind(kind.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() > 0 {
                note_change(&mut tx, kind, id).await?;
                gone.push(id.clone());
            }
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// Sets an entity's spend (a budget reset, `/key/{key}/reset_spend`).
    pub async fn set_spend(
        &self,
        kind: Kind,
        id: &str,
        spend_nano: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sy_entities SET spend_nano = $1, updated_at = $2 WHERE kind = $3 AND id = $4",
        )
        .bind(spend_nano)
        .bind(now_ms())
        .bind(kind.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        note_change(&mut tx, kind, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A page of entities (`page` from 0) and the total count.
    pub async fn list(
        &self,
        kind: Kind,
        filter: &ListFilter,
        page: i64,
        size: i64,
    ) -> Result<(Vec<EntityRow>, i64), StoreError> {
        let mut cond = String::from("kind = $1");
        let mut args = vec![kind.as_str().to_owned()];
        for (col, v) in [
            ("user_id", &filter.user_id),
            ("team_id", &filter.team_id),
            ("alias", &filter.alias),
        ] {
            if let Some(v) = v {
                args.push(v.clone());
                cond.push_str(&format!(" AND {col} = ${}", args.len()));
            }
        }
        let count_sql = format!("SELECT COUNT(*) FROM sy_entities WHERE {cond}");
        let mut q = sqlx::query(&count_sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let total: i64 = q.fetch_one(&self.pool).await?.try_get(0)?;
        let size = size.clamp(1, i64::MAX / 2);
        let sql = format!(
            "SELECT {ENTITY_COLUMNS} FROM sy_entities WHERE {cond} ORDER BY created_at, id LIMIT {size} OFFSET {}",
            page.max(0).saturating_mul(size)
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let rows = rows.iter().map(entity).collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    /// Every entity of a kind (the cache's start-up load).
    pub async fn all(&self, kind: Kind) -> Result<Vec<EntityRow>, StoreError> {
        Ok(self
            .list(kind, &ListFilter::default(), 0, i64::MAX / 2)
            .await?
            .0)
    }

    /// The newest position of the change feed.
    pub async fn last_change(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM sy_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Changes after `seq`, and any noted since `since_ms` (a PostgreSQL sequence value can
    /// become visible after a later one; the overlap catches those).
    pub async fn changes_since(&self, seq: i64, since_ms: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, kind, id FROM sy_changes WHERE seq > $1 OR at >= $2 ORDER BY seq",
        )
        .bind(seq)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .filter_map(|r| {
                let kind: String = match r.try_get(1) {
                    Ok(k) => k,
                    Err(e) => return Some(Err(e.into())),
                };
                let kind = Kind::from_str(&kind).ok()?;
                Some(Ok(Change {
                    seq: r.try_get(0).ok()?,
                    kind,
                    id: r.try_get(2).ok()?,
                }))
            })
            .collect()
    }

    /// Forgets changes older than `before_ms`.
    pub async fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sy_changes WHERE at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

async fn note_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: Kind,
    id: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sy_changes (kind, id, at) VALUES ($1, $2, $3)")
        .bind(kind.as_str())
        .bind(id)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn entity(r: &AnyRow) -> Result<EntityRow, StoreError> {
    let kind: String = r.try_get("kind")?;
    let data: String = r.try_get("data")?;
    Ok(EntityRow {
        kind: Kind::from_str(&kind)
            .map_err(|()| StoreError::Conflict(format!("unknown entity kind {kind}")))?,
        id: r.try_get("id")?,
        alias: r.try_get("alias")?,
        user_id: r.try_get("user_id")?,
        team_id: r.try_get("team_id")?,
        spend_nano: r.try_get("spend_nano")?,
        data: serde_json::from_str(&data)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests;

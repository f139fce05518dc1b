//! Governance on the request path: who is calling (virtual keys, their users and teams), which
//! models they may use, and what they spent.
//!
//! The request path never waits on the database. Every key, user, team and end user is held in
//! memory, loaded at start-up and kept current by polling the store's change feed (default every
//! second), so a key revoked on any instance stops working everywhere within
//! [`GovernorOptions::refresh_interval`] plus one query. A key this instance has not seen (created
//! on another instance a moment ago) is read once from the store, and an unknown key is
//! remembered as unknown for a short time so a flood of bad keys cannot reach the database.
//!
//! Spend is queued in memory ([`accounting`]) and written in batches off the path.

pub mod access;
pub mod accounting;
pub mod admin;
pub mod admission;
pub mod alerts;
pub mod background;
pub mod duration;
pub mod limits;
pub mod records;
pub mod reports;
pub mod secret;
pub mod sharded;
pub mod shared;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use switchyard_store::{EntityRow, Kind, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::watch;

pub use accounting::Accounting;
pub use records::{CustomerRecord, KeyRecord, Limits, TagRecord, TeamRecord, UserRecord};
pub use switchyard_store::SpendLog;

/// A refusal or failure, with the status and LiteLLM error `type` the client sees.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    /// HTTP status.
    pub status: u16,
    /// LiteLLM's error type (`auth_error`, `key_model_access_denied`, ...).
    pub kind: &'static str,
    /// Message for the client.
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
    /// Seconds after which a retry can pass (rate limits).
    pub retry_after: Option<u64>,
}

impl PolicyError {
    /// A 401.
    pub fn auth(message: impl Into<String>) -> Self {
        PolicyError::new(401, "auth_error", message)
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        PolicyError::new(400, "bad_request_error", message)
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        PolicyError::new(404, "not_found_error", message)
    }

    /// Any status and type.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        PolicyError {
            status,
            kind,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }
}

impl From<StoreError> for PolicyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                PolicyError::new(400, "bad_request_error", format!("{what} already exists"))
            }
            e => {
                tracing::error!(error = %e, "store failure");
                PolicyError::new(500, "no_db_connection", format!("Database error: {e}"))
            }
        }
    }
}

/// A record as cached: the record and its spend when read.
#[derive(Debug)]
pub struct Cached<T> {
    /// The record.
    pub record: T,
    /// Spend when the record was read, nano-dollars.
    pub spend_nano: i64,
    /// Its limits' counter in this process, found on the record's first admission.
    pub(crate) counter: std::sync::OnceLock<Arc<limits::Counter>>,
}

/// A key that passed authentication, with its team and user.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's hash.
    pub hash: Arc<str>,
    /// The key.
    pub key: Arc<Cached<KeyRecord>>,
    /// Its team.
    pub team: Option<Arc<Cached<TeamRecord>>>,
    /// Its user.
    pub user: Option<Arc<Cached<UserRecord>>>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No master key is configured: the gateway is open and untracked by key.
    Open,
    /// The master key.
    Master,
    /// A virtual key.
    Key(Principal),
}

impl Caller {
    /// Whether the caller may manage keys, users and teams.
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::Open | Caller::Master => true,
            Caller::Key(p) => p
                .user
                .as_ref()
                .and_then(|u| u.record.user_role.as_deref())
                .is_some_and(|r| r == records::PROXY_ADMIN),
        }
    }

    /// The key, when a virtual key is calling.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Key(p) => Some(p),
            _ => None,
        }
    }

    /// Who to record as the author of a change.
    pub fn actor(&self) -> String {
        match self {
            Caller::Open | Caller::Master => "default_user_id".to_owned(),
            Caller::Key(p) => p
                .key
                .record
                .user_id
                .clone()
                .unwrap_or_else(|| p.hash.to_string()),
        }
    }
}

/// Settings of a [`Governor`].
#[derive(Debug, Clone)]
pub struct GovernorOptions {
    /// The admin key (`general_settings.master_key`); None leaves the gateway open.
    pub master_key: Option<String>,
    /// Access group -> model names in it (from `model_info.access_groups`).
    pub access_groups: HashMap<String, BTreeSet<String>>,
    /// How often the change feed is polled: the bound on how long another instance's change
    /// (a revoked key) takes to reach this one.
    pub refresh_interval: Duration,
    /// How long an unknown key is remembered as unknown.
    pub negative_ttl: Duration,
    /// Spend batches are written at least this often.
    pub flush_interval: Duration,
    /// Write spend log rows (`disable_spend_logs` turns them off; totals are kept).
    pub keep_spend_logs: bool,
    /// Log rows held in memory at most; beyond it rows are dropped (and counted), totals never.
    pub max_queued_logs: usize,
    /// Delete log rows older than this (`maximum_spend_logs_retention_period`).
    pub log_retention: Option<Duration>,
    /// Gateway-wide limits.
    pub global: admission::GlobalLimits,
    /// Redis for limits and budgets shared by every instance.
    pub redis_url: Option<String>,
    /// Prefix of this gateway's Redis keys (`cache_params.namespace`).
    pub redis_namespace: Option<String>,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        GovernorOptions {
            master_key: None,
            access_groups: HashMap::new(),
            refresh_interval: Duration::from_secs(1),
            negative_ttl: Duration::from_secs(1),
            flush_interval: Duration::from_secs(1),
            keep_spend_logs: true,
            max_queued_logs: 100_000,
            log_retention: None,
            global: admission::GlobalLimits::default(),
            redis_url: None,
            redis_namespace: None,
        }
    }
}

/// A cache of one kind of record, by id: every request looks up its key and team here.
/// A lock-free map (papaya): reads write no shared memory, so workers on several cores do
/// not take turns on a lock word as they did with `RwLock` (two threads reading took five
/// times as long each). Hashed with foldhash (hashbrown's default), not SipHash: the ids
/// are key hashes and names an admin chose.
struct Table<T>(papaya::HashMap<String, Arc<Cached<T>>, hashbrown::DefaultHashBuilder>);

impl<T> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("len", &self.0.len()).finish()
    }
}

impl<T: Send + Sync> Table<T> {
    fn new() -> Self {
        Table(papaya::HashMap::default())
    }

    fn get(&self, id: &str) -> Option<Arc<Cached<T>>> {
        self.0.pin().get(id).cloned()
    }

    fn put(&self, id: String, v: Arc<Cached<T>>) {
        self.0.pin().insert(id, v);
    }

    fn remove(&self, id: &str) {
        self.0.pin().remove(id);
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Keys, users, teams and end users in memory, and spend on its way to the store.
#[derive(Debug)]
pub struct Governor {
    store: Store,
    opts: GovernorOptions,
    keys: Table<KeyRecord>,
    users: Table<UserRecord>,
    teams: Table<TeamRecord>,
    customers: Table<CustomerRecord>,
    tags: Table<TagRecord>,
    misses: Mutex<HashMap<(Kind, String), Instant>>,
    accounting: Accounting,
    limiter: Arc<limits::Limiter>,
    /// The counter of the gateway-wide limits (`global_max_parallel_requests`, `max_budget`).
    global_counter: std::sync::OnceLock<Arc<limits::Counter>>,
    alert_sink: std::sync::OnceLock<Arc<dyn alerts::AlertSink>>,
    shared: std::sync::OnceLock<shared::SharedLimiter>,
    redis_warned: Mutex<Option<Instant>>,
    /// When Redis last failed, ms since the epoch (0: never); read by every request.
    redis_failed: std::sync::atomic::AtomicI64,
    period_base: admission::PeriodBase,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    writer_done: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// Most unknown ids remembered at once.
const MAX_MISSES: usize = 10_000;

fn decode<T: DeserializeOwned>(row: &EntityRow) -> Option<Arc<Cached<T>>> {
    match serde_json::from_value(row.data.clone()) {
        Ok(record) => Some(Arc::new(Cached {
            record,
            spend_nano: row.spend_nano,
            counter: std::sync::OnceLock::new(),
        })),
        Err(e) => {
            tracing::error!(kind = row.kind.as_str(), error = %e, "unreadable stored record skipped");
            None
        }
    }
}

impl Governor {
    /// Loads every record and starts the change-feed poller and the spend writer.
    pub async fn start(store: Store, opts: GovernorOptions) -> Result<Arc<Governor>, StoreError> {
        let (stop, _) = watch::channel(false);
        // Budget periods up to about a year back (a `12mo` budget), and lifetime counters.
        let since = switchyard_store::now_ms() - 400 * 86_400_000;
        let period_base = store
            .budget_spend(since)
            .await?
            .into_iter()
            .map(|(scope, id, period, spend)| ((scope, id, period), spend))
            .collect();
        let gov = Arc::new(Governor {
            accounting: Accounting::new(&opts),
            limiter: limits::Limiter::new(),
            global_counter: std::sync::OnceLock::new(),
            alert_sink: std::sync::OnceLock::new(),
            shared: std::sync::OnceLock::new(),
            redis_warned: Mutex::new(None),
            redis_failed: std::sync::atomic::AtomicI64::new(0),
            period_base,
            store,
            opts,
            keys: Table::new(),
            users: Table::new(),
            teams: Table::new(),
            customers: Table::new(),
            tags: Table::new(),
            misses: Mutex::new(HashMap::new()),
            stop,
            tasks: Mutex::new(Vec::new()),
            writer_done: Mutex::new(None),
        });
        let seq = gov.store.last_change().await?;
        for kind in Kind::ALL {
            for row in gov.store.all(kind).await? {
                gov.cache_row(&row);
            }
        }
        tracing::info!(
            keys = gov.keys.len(),
            users = gov.users.len(),
            teams = gov.teams.len(),
            end_users = gov.customers.len(),
            "governance records loaded"
        );
        let poller = tokio::spawn(Arc::clone(&gov).poll_changes(seq));
        if let Ok(mut t) = gov.tasks.lock() {
            t.push(poller);
        }
        if let Some(url) = gov.opts.redis_url.clone() {
            let task = tokio::spawn(Arc::clone(&gov).connect_redis(url));
            if let Ok(mut t) = gov.tasks.lock() {
                t.push(task);
            }
        }
        let done = Arc::clone(&gov).start_writer().await?;
        if let Ok(mut w) = gov.writer_done.lock() {
            *w = Some(done);
        }
        Ok(gov)
    }

    /// Starts the spend writer on a thread and runtime of its own, with its own small pool, so
    /// building and sending batches never takes a request worker's time. Returns what fires
    /// when it has written everything after shutdown.
    async fn start_writer(
        self: Arc<Self>,
    ) -> Result<tokio::sync::oneshot::Receiver<()>, StoreError> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), StoreError>>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("switchyard-spend".into())
            .spawn(move || {
                // Batches are milliseconds of CPU: a request that wakes meanwhile goes first.
                background::lower_current_thread();
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Io(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match self.store.sibling(2).await {
                        Ok(store) => {
                            let _ = ready_tx.send(Ok(()));
                            self.write_spend(&store).await;
                            store.close().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(StoreError::Io)?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(done_rx),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Io(std::io::Error::other(
                "the spend writer thread ended at start",
            ))),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The spend queue.
    pub fn accounting(&self) -> &Accounting {
        &self.accounting
    }

    /// Whether requests need a key.
    pub fn auth_enabled(&self) -> bool {
        self.opts.master_key.is_some()
    }

    /// Access groups and their models.
    pub fn access_groups(&self) -> &HashMap<String, BTreeSet<String>> {
        &self.opts.access_groups
    }

    /// Connects to Redis for shared limits, retrying every two seconds until it answers (the
    /// connection then reconnects by itself). Until then limits are counted locally.
    async fn connect_redis(self: Arc<Self>, url: String) {
        let mut stop = self.stop.subscribe();
        loop {
            let ns = self.opts.redis_namespace.as_deref();
            match shared::SharedLimiter::connect(&url, ns, Duration::from_millis(250)).await {
                Ok(s) => {
                    let _ = self.shared.set(s);
                    tracing::info!("limits and budgets are shared through Redis");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Redis unavailable: limits count on this instance only until it answers")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
        }
    }

    /// Redis, unless it failed in the last second (then requests do not wait on it: they
    /// count locally and Redis is tried again after the pause).
    fn redis(&self) -> Option<&shared::SharedLimiter> {
        let failed = self.redis_failed.load(std::sync::atomic::Ordering::Relaxed);
        let resting = failed != 0 && switchyard_store::now_ms().abs_diff(failed) < 1000;
        if resting {
            None
        } else {
            self.shared.get()
        }
    }

    /// Notes a Redis failure (logged at most every ten seconds); the caller counts locally.
    fn redis_down(&self, e: &redis::RedisError) {
        self.redis_failed.store(
            switchyard_store::now_ms(),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Ok(mut last) = self.redis_warned.lock() {
            if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                *last = Some(Instant::now());
                tracing::warn!(error = %e, "Redis unavailable: limits count on this instance only until it answers");
            }
        }
    }

    /// Where budget alerts go (set once, by the server).
    pub fn set_alert_sink(&self, sink: Arc<dyn alerts::AlertSink>) {
        let _ = self.alert_sink.set(sink);
    }

    /// Raises the alerts a spend write crossed.
    fn alert(&self, w: &switchyard_store::Written) {
        let Some(sink) = self.alert_sink.get() else {
            return;
        };
        for a in self.crossings(w) {
            tracing::info!(
                event = a.event,
                group = a.event_group,
                spend = a.spend,
                "budget alert"
            );
            sink.send(a);
        }
    }

    /// The Redis URL and key namespace, when Redis is configured (router state shares it).
    pub fn redis_target(&self) -> Option<(&str, Option<&str>)> {
        self.opts
            .redis_url
            .as_deref()
            .map(|u| (u, self.opts.redis_namespace.as_deref()))
    }

    /// Whether limits are currently shared through Redis.
    pub fn limits_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// Stops the background tasks and writes every queued spend record.
    pub async fn shutdown(&self) {
        // The background loops wait with `wait_for`, which sees a stop sent before they
        // subscribed (`changed` would not: a shutdown right after start hung waiting for the
        // spend writer, found by a test of this session).
        let _ = self.stop.send(true);
        let tasks = self.tasks.lock().map(|mut t| std::mem::take(&mut *t));
        for t in tasks.unwrap_or_default() {
            let _ = t.await;
        }
        if let Some(shared) = self.shared.get() {
            shared.flush().await;
        }
        let done = self.writer_done.lock().ok().and_then(|mut w| w.take());
        if let Some(done) = done {
            let _ = done.await;
        }
    }

    fn cache_row(&self, row: &EntityRow) {
        let id = row.id.clone();
        match row.kind {
            Kind::Key => {
                if let Some(v) = decode(row) {
                    self.keys.put(id, v)
                }
            }
            Kind::User => {
                if let Some(v) = decode(row) {
                    self.users.put(id, v)
                }
            }
            Kind::Team => {
                if let Some(v) = decode(row) {
                    self.teams.put(id, v)
                }
            }
            Kind::EndUser => {
                if let Some(v) = decode(row) {
                    self.customers.put(id, v)
                }
            }
            Kind::Tag => {
                if let Some(v) = decode(row) {
                    self.tags.put(id, v)
                }
            }
        }
        if let Ok(mut m) = self.misses.lock() {
            m.remove(&(row.kind, row.id.clone()));
        }
    }

    fn uncache(&self, kind: Kind, id: &str) {
        match kind {
            Kind::Key => self.keys.remove(id),
            Kind::User => self.users.remove(id),
            Kind::Team => self.teams.remove(id),
            Kind::EndUser => self.customers.remove(id),
            Kind::Tag => self.tags.remove(id),
        }
    }

    /// Re-reads one entity into the cache (after a change here or on another instance).
    async fn reload(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        match self.store.get(kind, id).await? {
            Some(row) => self.cache_row(&row),
            None => self.uncache(kind, id),
        }
        Ok(())
    }

    /// A record from the cache, or once from the store when this instance has not seen it.
    async fn lookup<T>(
        &self,
        table: &Table<T>,
        kind: Kind,
        id: &str,
    ) -> Result<Option<Arc<Cached<T>>>, PolicyError>
    where
        T: DeserializeOwned + Send + Sync,
    {
        if let Some(v) = table.get(id) {
            return Ok(Some(v));
        }
        let miss_key = (kind, id.to_owned());
        if let Ok(m) = self.misses.lock() {
            if m.get(&miss_key)
                .is_some_and(|at| at.elapsed() < self.opts.negative_ttl)
            {
                return Ok(None);
            }
        }
        match self.store.get(kind, id).await? {
            Some(row) => {
                self.cache_row(&row);
                Ok(table.get(id))
            }
            None => {
                if let Ok(mut m) = self.misses.lock() {
                    if m.len() >= MAX_MISSES {
                        m.clear();
                    }
                    m.insert(miss_key, Instant::now());
                }
                Ok(None)
            }
        }
    }

    /// Authenticates the key a request presented.
    pub async fn authenticate(&self, presented: Option<&str>) -> Result<Caller, PolicyError> {
        let Some(master) = &self.opts.master_key else {
            return Ok(Caller::Open);
        };
        let Some(key) = presented else {
            return Err(PolicyError::auth(
                "Authentication Error, No api key passed in.",
            ));
        };
        if bool::from(key.as_bytes().ct_eq(master.as_bytes())) {
            return Ok(Caller::Master);
        }
        let hash = secret::hash_key(key);
        let Some(entry) = self.lookup(&self.keys, Kind::Key, &hash).await? else {
            return Err(PolicyError::auth(
                "Authentication Error, Invalid proxy server token passed. Pass the master key or a valid virtual key as `Authorization: Bearer <key>`.",
            ));
        };
        let k = &entry.record;
        if k.limits.blocked == Some(true) {
            return Err(PolicyError::auth(
                "Authentication Error - Key is blocked. Update via `/key/unblock` if you're admin.",
            ));
        }
        if let Some(exp) = k.expires {
            let now = OffsetDateTime::now_utc();
            if exp <= now {
                return Err(PolicyError::new(
                    401,
                    "expired_key",
                    format!(
                        "Authentication Error - Expired Key. Key Expiry time {exp} and current time {now}"
                    ),
                ));
            }
        }
        let team = match k.team_id.as_deref() {
            Some(t) => {
                let team = self.lookup(&self.teams, Kind::Team, t).await?;
                if team
                    .as_ref()
                    .is_some_and(|t| t.record.limits.blocked == Some(true))
                {
                    return Err(PolicyError::auth(format!(
                        "Authentication Error - Team={t} is blocked. Update via `/team/unblock` if you're admin."
                    )));
                }
                team
            }
            None => None,
        };
        let user = match k.user_id.as_deref() {
            Some(u) => self.lookup(&self.users, Kind::User, u).await?,
            None => None,
        };
        Ok(Caller::Key(Principal {
            hash: hash.into(),
            key: entry,
            team,
            user,
        }))
    }

    /// An end user's record, if one exists.
    pub async fn end_user(
        &self,
        id: &str,
    ) -> Result<Option<Arc<Cached<CustomerRecord>>>, PolicyError> {
        self.lookup(&self.customers, Kind::EndUser, id).await
    }

    /// A tag's record from memory only (tags with budgets or limits are created through
    /// `/tag/new`; others exist only as spend totals).
    pub fn tag_cached(&self, name: &str) -> Option<Arc<Cached<TagRecord>>> {
        self.tags.get(name)
    }

    /// An end user's record from memory only. End users are many and mostly unknown (any
    /// `user` string a client sends), so the request path does not read the store for them:
    /// all are loaded at start and the change feed brings new ones within the refresh
    /// interval.
    pub fn end_user_cached(&self, id: &str) -> Option<Arc<Cached<CustomerRecord>>> {
        self.customers.get(id)
    }

    /// Polls the change feed and refreshes changed records, until shutdown.
    async fn poll_changes(self: Arc<Self>, mut last: i64) {
        let mut stop = self.stop.subscribe();
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let overlap_ms = 30_000;
        let mut last_prune = Instant::now();
        let mut last_retention: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.opts.refresh_interval) => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            let since = switchyard_store::now_ms() - overlap_ms;
            match self.store.changes_since(last, since).await {
                Ok(changes) => {
                    if let Some(min) = changes.first().map(|c| c.seq) {
                        seen = seen.split_off(&min);
                    }
                    for c in changes {
                        last = last.max(c.seq);
                        if !seen.insert(c.seq) {
                            continue;
                        }
                        if let Err(e) = self.reload(c.kind, &c.id).await {
                            tracing::warn!(error = %e, "reloading a changed record failed");
                            seen.remove(&c.seq);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "polling the change feed failed"),
            }
            if last_prune.elapsed() > Duration::from_secs(600) {
                last_prune = Instant::now();
                let day_ago = switchyard_store::now_ms() - 86_400_000;
                if let Err(e) = self.store.prune_changes(day_ago).await {
                    tracing::warn!(error = %e, "pruning the change feed failed");
                }
            }
            if let Some(keep) = self.opts.log_retention {
                if last_retention.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                    last_retention = Some(Instant::now());
                    let before = switchyard_store::now_ms() - keep.as_millis() as i64;
                    match self.store.delete_logs_before(before, 1000).await {
                        Ok(n) if n > 0 => tracing::info!(deleted = n, "old spend logs deleted"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "spend log retention sweep failed"),
                    }
                }
            }
        }
    }

    /// Writes queued spend every flush interval (sooner when the queue fills), and everything
    /// left at shutdown.
    async fn write_spend(&self, store: &Store) {
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.opts.flush_interval) => {}
                _ = self.accounting.wake.notified() => {}
                _ = stop.wait_for(|stopping| *stopping) => break,
            }
            if let Ok(w) = self.accounting.flush(store).await {
                self.alert(&w);
            }
        }
        for attempt in 0..5u32 {
            match self.accounting.flush(store).await {
                Ok(w) => {
                    self.alert(&w);
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "final spend flush failed");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

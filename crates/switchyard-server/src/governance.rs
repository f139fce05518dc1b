//! Wiring of the governance crate into the server: opening the store from the config, turning
//! policy refusals into gateway errors.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::Config;
use switchyard_governance::admission::GlobalLimits;
use switchyard_governance::{Governor, GovernorOptions, PolicyError};
use switchyard_router::{GatewayError, Origin};
use switchyard_store::{Store, StoreError, StoreOptions};

/// Where the store is when nothing says: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://switchyard.db";

/// The store URL: `override_url` (the `--database-url` flag), else
/// `general_settings.database_url`, else `DATABASE_URL`, else [`DEFAULT_DATABASE`].
pub fn database_url(config: &Config, override_url: Option<&str>) -> String {
    override_url
        .map(str::to_owned)
        .or_else(|| {
            config
                .file
                .general_settings
                .database_url
                .as_ref()
                .and_then(|u| u.get().map(str::to_owned))
        })
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned())
}

/// The URL with any password hidden, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

fn seconds(v: Option<f64>, default: Duration) -> Duration {
    v.filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map_or(default, Duration::from_secs_f64)
}

/// Governance settings read from the config.
pub fn options(config: &Config) -> GovernorOptions {
    let g = &config.file.general_settings;
    let mut access_groups: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in &config.deployments {
        for group in d.info.access_groups.iter().flatten() {
            access_groups
                .entry(group.clone())
                .or_default()
                .insert(d.model_name.clone());
        }
    }
    let retention = g
        .maximum_spend_logs_retention_period
        .as_deref()
        .and_then(|p| {
            let epoch = time::OffsetDateTime::UNIX_EPOCH;
            switchyard_governance::duration::add(epoch, p)
                .ok()
                .map(|t| Duration::from_secs((t - epoch).whole_seconds().max(0) as u64))
        });
    GovernorOptions {
        master_key: config.master_key(),
        access_groups,
        flush_interval: seconds(
            g.proxy_batch_write_at.as_ref().map(|v| v.0),
            Duration::from_secs(1),
        ),
        keep_spend_logs: !g.disable_spend_logs.as_ref().is_some_and(|v| v.0),
        log_retention: retention,
        global: GlobalLimits {
            max_parallel: g.global_max_parallel_requests.as_ref().map(|v| v.0),
            key_parallel_default: g.max_parallel_requests.as_ref().map(|v| v.0),
            max_budget: config
                .file
                .litellm_settings
                .max_budget
                .as_ref()
                .map(|v| v.0),
            budget_duration: config.file.litellm_settings.budget_duration.clone(),
            user_budget_on_team_keys: g
                .apply_user_budget_to_team_keys
                .as_ref()
                .is_some_and(|v| v.0),
        },
        redis_url: redis_url(config),
        redis_namespace: config
            .file
            .litellm_settings
            .cache_params
            .as_ref()
            .and_then(|c| c.namespace.clone()),
        ..GovernorOptions::default()
    }
}

/// Redis for shared limits: `router_settings.redis_url`, else `router_settings.redis_host`
/// (`redis_port`, `redis_password`), else `litellm_settings.cache_params` of type redis, else
/// `REDIS_URL`.
pub fn redis_url(config: &Config) -> Option<String> {
    let r = &config.file.router_settings;
    let get = |v: &Option<switchyard_config::EnvString>| {
        v.as_ref().and_then(|v| v.get().map(str::to_owned))
    };
    let build = |host: String, port: Option<u16>, password: Option<String>| {
        let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
        format!("redis://{auth}{host}:{}", port.unwrap_or(6379))
    };
    if let Some(url) = get(&r.redis_url) {
        return Some(url);
    }
    if let Some(host) = get(&r.redis_host) {
        return Some(build(
            host,
            r.redis_port.as_ref().map(|p| p.0),
            get(&r.redis_password),
        ));
    }
    if let Some(c) = &config.file.litellm_settings.cache_params {
        if c.kind.as_deref() == Some("redis") {
            if let Some(host) = get(&c.host) {
                return Some(build(host, c.port.as_ref().map(|p| p.0), get(&c.password)));
            }
        }
    }
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// Opens the store the config names and starts governance on it.
pub async fn open(
    config: &Config,
    override_url: Option<&str>,
) -> Result<Arc<Governor>, StoreError> {
    let url = database_url(config, override_url);
    let g = &config.file.general_settings;
    let opts = StoreOptions {
        max_connections: g
            .database_connection_pool_limit
            .as_ref()
            .map_or(10, |v| v.0.clamp(1, 1000)),
        connect_timeout: seconds(
            g.database_connection_timeout.as_ref().map(|v| v.0),
            Duration::from_secs(60),
        ),
        schema: None,
    };
    let store = Store::connect(&url, opts).await?;
    tracing::info!(database = %redact_url(&url), backend = ?store.backend(), "store ready");
    Governor::start(store, options(config)).await
}

/// A policy refusal as a gateway error (the client's fault, never retried).
pub fn policy_error(e: PolicyError) -> GatewayError {
    let mut g = GatewayError::bad_request(e.message);
    g.status = e.status;
    g.reason = e.kind;
    g.provider_type = Some(e.kind.to_owned());
    g.param = e.param;
    g.retry_after = e.retry_after.map(Duration::from_secs);
    if e.status >= 500 {
        g.origin = Origin::Gateway;
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}

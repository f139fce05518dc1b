//! The HTTP gateway: routes, authentication, and the request pipeline.
//!
//! Every LLM request goes through the same stages, in this order:
//!
//! 1. **ingress** ([`chat`]): read the body under the size limit, parse it, authenticate
//!    ([`auth`]), assign the call id;
//! 2. **admit**: the caller's key is resolved from memory ([`switchyard_governance`]) and its
//!    model access checked (key aliases applied); limits and budget reservations are to come;
//! 3. **route** and 4. **attempt**: [`switchyard_router::Router::chat`] picks a deployment and
//!    calls it;
//! 5. **settle**: response headers, metrics, the request's log line, and its spend record,
//!    queued for the batched writer.
//!
//! Failures become OpenAI-shaped JSON in exactly one function, [`error::error_response`].
//! A panic in a handler is caught at the request boundary and answered with a 500.

mod admin;
pub mod alerts;
mod audio;
pub mod auth;
pub mod chat;
pub mod cluster;
mod dialect;
pub mod error;
mod fixed;
pub mod governance;
mod health;
mod messages;
mod models;
pub mod otel;
mod passthrough;
pub mod request_log;
pub mod responses;
pub mod sinks;
pub mod telemetry;
mod transcript;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::serve::ListenerExt;
use switchyard_governance::{Caller, Governor};
use switchyard_router::{GatewayError, Router};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::Auth;

/// The gateway version, sent as `x-litellm-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default request-body limit: 32 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Shared state of all handlers.
#[derive(Debug)]
pub struct AppState {
    /// Model groups and upstream calls.
    pub router: Router,
    /// Where keys come from.
    pub auth: Auth,
    /// Keys, access and spend.
    pub governor: Arc<Governor>,
    /// Largest request body, bytes.
    pub body_limit: usize,
    /// When the process started.
    pub started: Instant,
    /// Prometheus metrics.
    pub metrics: telemetry::Metrics,
    /// `/metrics` needs a key (`litellm_settings.require_auth_for_metrics_endpoint`).
    pub metrics_need_auth: bool,
    /// Metric series of each configured deployment, by deployment id.
    /// By deployment id (foldhash: read by every request).
    pub series: hashbrown::HashMap<String, telemetry::DeploymentSeries>,
    /// Responses kept for `previous_response_id` and `GET /v1/responses/{id}`.
    pub responses: Arc<responses::Store>,
    /// Log sinks (`success_callback`, `failure_callback`, `callbacks`), when configured.
    pub sinks: Option<Arc<sinks::Sinks>>,
    /// The latest background health check (`general_settings.background_health_checks`).
    pub health: health::Cached,
    /// Operational alerts (cooldowns, slow answers), when alerting is configured.
    pub alerts: Option<Arc<alerts::Alerts>>,
    /// Router state shared through Redis (set when serving starts, if Redis is configured).
    pub cluster: Arc<std::sync::OnceLock<cluster::Cluster>>,
    /// OpenTelemetry traces (`callbacks: ["otel"]`), when configured.
    pub otel: Option<Arc<otel::Otel>>,
}

impl AppState {
    /// State for a router and governance, with limits read from the router's config.
    pub fn new(router: Router, governor: Arc<Governor>) -> AppState {
        let general = &router.config().file.general_settings;
        let body_limit = general
            .max_request_size_mb
            .map(|mb| (mb.0.max(0.0) * 1024.0 * 1024.0) as usize)
            .filter(|b| *b > 0)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let key_header = general
            .litellm_key_header_name
            .as_deref()
            .and_then(|h| HeaderName::try_from(h.to_ascii_lowercase()).ok());
        let auth = Auth::new(key_header);
        let metrics_need_auth = router
            .config()
            .file
            .litellm_settings
            .require_auth_for_metrics_endpoint
            .is_some_and(|v| v.0);
        let destinations = alerts::Destinations::from_config(router.config());
        let alerts = destinations.any().then(|| {
            let a = Arc::new(alerts::start(router.http_client(), destinations));
            governor.set_alert_sink(
                    Arc::clone(&a) as Arc<dyn switchyard_governance::alerts::AlertSink>
                );
            a
        });
        // A failed attempt: alert (exceptions, outages, cooldowns), and tell the other
        // instances of a cooldown it started.
        let cluster: Arc<std::sync::OnceLock<cluster::Cluster>> = Arc::default();
        {
            let alerts = alerts.clone();
            let cluster = Arc::clone(&cluster);
            router.on_failure(Box::new(move |d, e, cooldown| {
                if let Some(a) = &alerts {
                    a.failure(
                        &alerts::Failed {
                            group: &d.model_name,
                            deployment: &d.id,
                            api_base: d.target.api_base.split('?').next().unwrap_or_default(),
                            error: e,
                        },
                        cooldown,
                    );
                }
                if let (Some(c), Some(cooldown)) = (cluster.get(), cooldown) {
                    c.publish(cluster::Published {
                        deployment: d.id.clone(),
                        cooldown,
                    });
                }
            }));
        }
        let metrics = telemetry::Metrics::new();
        let series = router
            .all_deployments()
            .map(|d| {
                let s =
                    metrics.deployment_series(&d.target.model, &d.model_name, &d.target.provider);
                (d.id.clone(), s)
            })
            .collect();
        let responses = Arc::new(responses::Store::new(Some(governor.store().clone())));
        let sinks = sinks::Sinks::from_config(router.config());
        // The binary checks these settings before it starts; here a mistake turns traces off.
        let otel = match otel::Otel::from_config(router.config(), &router.http_client()) {
            Ok(o) => o.map(Arc::new),
            Err(e) => {
                tracing::error!("OpenTelemetry traces are off: {e}");
                None
            }
        };
        AppState {
            router,
            auth,
            governor,
            body_limit,
            started: Instant::now(),
            metrics,
            metrics_need_auth,
            series,
            responses,
            sinks,
            health: health::Cached::default(),
            alerts,
            cluster,
            otel,
        }
    }
}

/// Routes that need no key (LiteLLM's public health routes).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health/liveliness" | "/health/liveness" | "/health/readiness"
    )
}

async fn authenticate(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let mut req = req;
    let path = req.uri().path();
    let public = is_public(path) || (path == "/metrics" && !state.metrics_need_auth);
    if public {
        return next.run(req).await;
    }
    // Gemini clients send their key as `?key=`; on the Gemini pass-through that is ours.
    let query_key = path
        .starts_with("/gemini/")
        .then(|| req.uri().query())
        .flatten()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("key=")));
    let presented = state.auth.presented_key(req.headers()).or(query_key);
    let caller = match state.governor.authenticate(presented).await {
        Ok(c) => c,
        Err(e) => return refused(path, governance::policy_error(e)),
    };
    if admin::needs_admin(path) && !caller.is_admin() {
        let e = switchyard_governance::PolicyError::auth(format!(
            "Only the proxy admin (the master key or a proxy_admin user's key) may call {path}"
        ));
        return refused(path, governance::policy_error(e));
    }
    req.extensions_mut().insert::<Caller>(caller);
    next.run(req).await
}

/// A new call id: a UUIDv7, time-ordered so spend rows keyed by it are appended in index
/// order rather than scattered over the whole index. Its 74 low bits are random: uuid's
/// `now_v7` orders ids within a millisecond through a process-wide context behind a lock,
/// which every request would take.
pub(crate) fn call_id() -> String {
    let id = uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext));
    id.hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}

/// An authentication refusal, with a call id like every other answer (for support tickets).
fn refused(path: &str, e: GatewayError) -> Response {
    let mut resp = if messages::is_messages_path(path) {
        messages::error_response(&e)
    } else {
        error::ApiError(e).into_response()
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(&call_id()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-litellm-call-id"), v);
    }
    resp
}

async fn method_not_allowed(req: Request<axum::body::Body>) -> error::ApiError {
    let mut e = GatewayError::not_found(format!(
        "Method {} is not allowed on {}",
        req.method(),
        req.uri().path()
    ));
    e.status = 405;
    e.reason = "method_not_allowed";
    error::ApiError(e)
}

/// `GET /metrics`: Prometheus text format (public unless
/// `litellm_settings.require_auth_for_metrics_endpoint`, as LiteLLM).
async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    let m = &state.metrics;
    let spend = state.governor.accounting();
    m.spend_queue
        .set(i64::try_from(spend.queued_logs()).unwrap_or(i64::MAX));
    m.spend_dropped
        .set(i64::try_from(spend.dropped_logs()).unwrap_or(i64::MAX));
    m.limits_shared
        .set(i64::from(state.governor.limits_shared()));
    for (name, queued, dropped, delivered) in state.sinks.iter().flat_map(|s| s.stats()) {
        let l = telemetry::SinkLabels {
            sink: name.to_owned(),
        };
        m.sink_queue
            .get_or_create(&l)
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
        m.sink_dropped
            .get_or_create(&l)
            .set(i64::try_from(dropped).unwrap_or(i64::MAX));
        m.sink_delivered
            .get_or_create(&l)
            .set(i64::try_from(delivered).unwrap_or(i64::MAX));
    }
    for d in state.router.all_deployments() {
        let l = telemetry::DeploymentLabels {
            model_id: d.id.clone(),
            litellm_model_name: d.model_name.clone(),
            api_base: d
                .target
                .api_base
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned(),
            api_provider: d.target.provider.clone(),
        };
        let state_value = if state.router.cooling_down(&d.id) {
            2
        } else {
            0
        };
        m.deployment_state.get_or_create(&l).set(state_value);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found(req: Request<axum::body::Body>) -> error::ApiError {
    error::ApiError(GatewayError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    )))
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = what, "request handler panicked");
    error::error_response(&GatewayError::internal(
        "Internal error in the gateway; the request was not completed.",
    ))
}

/// The gateway's routes, ready to serve.
pub fn app(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/chat/completions", post(chat::chat_completions))
        .route(
            "/engines/{model}/chat/completions",
            post(chat::chat_completions_for),
        )
        .route(
            "/openai/deployments/{model}/chat/completions",
            post(chat::chat_completions_for),
        )
        .route("/v1/completions", post(chat::completions))
        .route("/completions", post(chat::completions))
        .route("/engines/{model}/completions", post(chat::completions_for))
        .route(
            "/openai/deployments/{model}/completions",
            post(chat::completions_for),
        )
        .route("/v1/images/generations", post(chat::images))
        .route("/images/generations", post(chat::images))
        .route("/v1/audio/speech", post(chat::speech))
        .route("/v1/audio/transcriptions", post(audio::transcriptions))
        .route("/audio/transcriptions", post(audio::transcriptions))
        .route("/v1/audio/translations", post(audio::translations))
        .route("/audio/translations", post(audio::translations))
        .route("/audio/speech", post(chat::speech))
        .route("/v1/moderations", post(chat::moderations))
        .route("/moderations", post(chat::moderations))
        .route("/v1/rerank", post(chat::rerank))
        .route("/v2/rerank", post(chat::rerank))
        .route("/rerank", post(chat::rerank))
        .route("/v1/embeddings", post(chat::embeddings))
        .route("/embeddings", post(chat::embeddings))
        .route("/engines/{model}/embeddings", post(chat::embeddings_for))
        .route(
            "/openai/deployments/{model}/embeddings",
            post(chat::embeddings_for),
        )
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route(
            "/v1/responses/{id}",
            get(responses::get).delete(responses::delete),
        )
        .route(
            "/responses/{id}",
            get(responses::get).delete(responses::delete),
        )
        .route("/v1/messages", post(messages::messages))
        .route("/anthropic/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(messages::count_tokens),
        )
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1/models/{*id}", get(models::one))
        .route("/models/{*id}", get(models::one))
        .route("/model/info", get(models::info))
        .route("/v1/model/info", get(models::info))
        .route("/model_group/info", get(models::group_info))
        .route("/utils/token_counter", post(models::token_counter))
        .route("/metrics", get(metrics))
        .route("/health", get(health::health))
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .route("/openai/{*rest}", any(passthrough::forward))
        .route("/anthropic/{*rest}", any(passthrough::forward))
        .route("/gemini/{*rest}", any(passthrough::forward))
        .route("/vertex_ai/{*rest}", any(passthrough::forward))
        .route("/cohere/{*rest}", any(passthrough::forward))
        .route("/azure/{*rest}", any(passthrough::forward))
        .route("/bedrock/{*rest}", any(passthrough::forward))
        .merge(admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits up to
/// `grace` for in-flight requests and streams to finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let signalled = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    let mut rx2 = rx.clone();
    // TCP_NODELAY on every accepted socket: small SSE events must not wait on Nagle and a
    // delayed ACK (a 40 ms stall).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let governor = Arc::clone(&state.governor);
    let sinks = state.sinks.clone();
    let otel = state.otel.clone();
    if let Some((url, ns)) = state.governor.redis_target() {
        if let Some(c) = cluster::start(&state, url, ns) {
            let _ = state.cluster.set(c);
        }
        // Deployments' rpm and tpm hold across instances.
        if state.router.has_deployment_limits() {
            if let Some(u) = cluster::Usage::start(url, ns) {
                state.router.share_usage(u);
            }
        }
    }
    let g = &state.router.config().file.general_settings;
    if g.background_health_checks.is_some_and(|b| b.0) {
        let every = g
            .health_check_interval
            .map_or(300.0, |s| s.0)
            .clamp(0.05, 86_400.0);
        health::start_background(Arc::clone(&state), Duration::from_secs_f64(every));
    }
    let server = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|v| *v).await;
        tracing::info!("shutting down: no new connections; draining in-flight requests");
    });
    tokio::spawn(signalled);
    let result = tokio::select! {
        r = server => r,
        () = async move {
            let _ = rx2.wait_for(|v| *v).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain period over; closing remaining connections");
            Ok(())
        }
    };
    // Every finished request has queued its spend and its log records. Spend is written
    // first: it is money, and an orchestrator's kill may follow the drain period.
    governor.shutdown().await;
    tracing::info!(
        written = governor.accounting().written_logs(),
        dropped = governor.accounting().dropped_logs(),
        "spend flushed"
    );
    // Then the log sinks, for at most SINK_DRAIN: a dead sink retries a batch for ~45 s.
    if let Some(s) = &sinks {
        if tokio::time::timeout(SINK_DRAIN, s.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                seconds = SINK_DRAIN.as_secs(),
                "log sinks did not deliver everything before shutdown; the rest is dropped"
            );
        }
    }
    if let Some(o) = &otel {
        o.shutdown().await;
    }
    result
}

/// Longest a graceful shutdown waits for the log sinks to deliver what is queued.
pub const SINK_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[test]
    fn call_ids_are_unique_time_ordered_uuid_v7s() {
        let ids: Vec<String> = (0..2_000).map(|_| call_id()).collect();
        let parsed: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().unwrap()).collect();
        assert!(parsed.iter().all(|u| u.get_version_num() == 7));
        assert!(ids.iter().all(|i| i.len() == 36 && *i == i.to_lowercase()));
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        // Ordered by millisecond: an id is never older than the one made before it.
        let ms = |u: &uuid::Uuid| u.get_timestamp().unwrap().to_unix();
        assert!(parsed.windows(2).all(|w| ms(&w[0]) <= ms(&w[1])));
    }

    async fn state(yaml: &str) -> Arc<AppState> {
        let loaded = switchyard_config::parse(yaml, "t.yaml").unwrap();
        let dir =
            std::env::temp_dir().join(format!("switchyard-server-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = dir.join("s.db").display().to_string();
        let governor = governance::open(&loaded.config, Some(&url)).await.unwrap();
        Arc::new(AppState::new(
            Router::from_config(loaded.config).unwrap().0,
            governor,
        ))
    }

    async fn body_json(resp: Response) -> serde_json::Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_service_lives_on() {
        let app = axum::Router::new()
            .route("/boom", get(|| async { panic!("kaboom") as &str }))
            .route("/ok", get(|| async { "fine" }))
            .layer(CatchPanicLayer::custom(panic_response));
        let resp = app
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        let v = body_json(resp).await;
        assert_eq!(v["error"]["type"], "api_error");
        assert!(!v["error"]["message"].as_str().unwrap().contains("kaboom"));
        let resp = app
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn handlers_answer_without_a_socket() {
        let app = app(state(
            "model_list:\n  - model_name: m\n    litellm_params: {model: openai/m, mock_response: hi}\ngeneral_settings:\n  master_key: sk-x\n",
        )
        .await);
        let req = |auth: Option<&str>| {
            let mut b =
                Request::post("/v1/chat/completions").header("content-type", "application/json");
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            b.body(Body::from(
                r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
            ))
            .unwrap()
        };
        let resp = app.clone().oneshot(req(None)).await.unwrap();
        assert_eq!(resp.status(), 401);
        let resp = app.clone().oneshot(req(Some("Bearer sk-x"))).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-litellm-model-group"], "m");
        let v = body_json(resp).await;
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
    }
}

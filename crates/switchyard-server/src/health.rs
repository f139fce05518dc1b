//! LiteLLM's health routes.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::{AppState, VERSION};

/// `GET /health/liveliness` and `/health/liveness`: the process answers.
pub async fn liveliness() -> Json<&'static str> {
    Json("I'm alive!")
}

/// `GET /health/readiness`: ready to take traffic, with what it is connected to.
pub async fn readiness(State(state): State<Arc<AppState>>) -> Json<Value> {
    let callbacks = state
        .router
        .config()
        .file
        .litellm_settings
        .success_callback
        .clone()
        .unwrap_or_default();
    let db = if state.governor.store().ping().await {
        "connected"
    } else {
        "Not connected"
    };
    Json(json!({
        "status": "connected",
        "db": db,
        "cache": null,
        "litellm_version": VERSION,
        "switchyard_version": VERSION,
        "success_callbacks": callbacks,
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
}

/// The latest background check, when `general_settings.background_health_checks` is on.
pub type Cached = Arc<tokio::sync::RwLock<Option<Value>>>;

/// Checks every deployment (of `model` only, when given) at once: LiteLLM's `/health` shape,
/// healthy and unhealthy endpoints with their model, group, id, base and latency (never a
/// key), and the error of each unhealthy one.
pub async fn check_all(state: &AppState, model: Option<&str>) -> Value {
    check(state, model, false).await
}

/// [`check_all`]; a background round leaves out deployments with
/// `model_info.disable_background_health_check` and tells the router each verdict (for
/// health-check routing).
async fn check(state: &AppState, model: Option<&str>, background: bool) -> Value {
    let deployments: Vec<_> = state
        .router
        .all_deployments()
        .filter(|d| model.is_none_or(|m| d.model_name == m))
        .filter(|d| !background || d.background_health_check)
        .cloned()
        .collect();
    // With `health_check_ignore_transient_errors`, a 429 or a timeout is no verdict.
    let transient_ok = state
        .router
        .config()
        .file
        .router_settings
        .health_check_ignore_transient_errors
        .is_some_and(|v| v.0);
    let checks = deployments.iter().map(|d| state.router.check(d));
    let results = futures_util::future::join_all(checks).await;
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for (d, r) in deployments.iter().zip(results) {
        let mut e = json!({
            "model": format!("{}/{}", d.target.provider, d.target.model),
            "model_group": d.model_name,
            "model_id": d.id,
            "api_base": d.target.api_base.split('?').next().unwrap_or_default(),
        });
        if background {
            let transient = matches!(&r, Err(err) if err.status == 429 || err.status == 408);
            if !(transient && transient_ok) {
                state.router.note_health(d, r.is_ok());
            }
        }
        match r {
            Ok(took) => {
                e["latency_ms"] = json!((took.as_secs_f64() * 1000.0).round());
                healthy.push(e);
            }
            Err(err) => {
                e["error"] = json!(err.message);
                e["status_code"] = json!(err.status);
                unhealthy.push(e);
            }
        }
    }
    json!({
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
    })
}

/// `GET /health` query.
#[derive(Debug, serde::Deserialize)]
pub struct HealthQuery {
    /// Check one model group only.
    model: Option<String>,
}

/// `GET /health`: calls every deployment (or, with background checks on, answers the latest
/// background round).
pub async fn health(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<HealthQuery>,
) -> Json<Value> {
    if q.model.is_none() {
        if let Some(v) = state.health.read().await.clone() {
            return Json(v);
        }
    }
    Json(check_all(&state, q.model.as_deref()).await)
}

/// Runs background checks every `interval` (LiteLLM's `health_check_interval`, default 300 s)
/// into the cache `/health` answers from.
pub fn start_background(state: Arc<AppState>, interval: std::time::Duration) {
    tokio::spawn(async move {
        loop {
            let report = check(&state, None, true).await;
            let unhealthy = report["unhealthy_count"].as_u64().unwrap_or(0);
            if unhealthy > 0 {
                tracing::warn!(unhealthy, "background health check: deployments failing");
            }
            *state.health.write().await = Some(report);
            tokio::time::sleep(interval).await;
        }
    });
}

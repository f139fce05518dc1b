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

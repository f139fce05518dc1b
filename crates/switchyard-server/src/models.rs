//! `GET /v1/models`: the configured model names, in OpenAI's list shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use switchyard_router::GatewayError;
use switchyard_types::{ModelList, ModelObject};

use crate::error::ApiError;
use crate::AppState;

fn created(state: &AppState) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            d.as_secs()
                .saturating_sub(state.started.elapsed().as_secs())
        })
}

/// `GET /v1/models`.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    Json(ModelList::from_names(
        state.router.model_names().iter().map(String::as_str),
        created(&state),
    ))
}

/// `GET /v1/models/{id}`.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    if state.router.model_names().contains(&id) {
        Ok(Json(ModelObject {
            id,
            object: "model".into(),
            created: created(&state),
            owned_by: "openai".into(),
        }))
    } else {
        Err(ApiError(GatewayError::not_found(format!(
            "The model `{id}` does not exist. Call `/v1/models` to view available models."
        ))))
    }
}

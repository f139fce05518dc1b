//! `GET /v1/models`: the configured model names, in OpenAI's list shape.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_governance::Caller;
use switchyard_router::{Backend, Deployment, GatewayError};
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

/// `GET /v1/models`: the model names the caller may use.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Json<ModelList> {
    Json(ModelList::from_names(
        state
            .router
            .model_names()
            .iter()
            .map(String::as_str)
            .filter(|m| state.governor.may_use(&caller, m)),
        created(&state),
    ))
}

/// `GET /v1/models/{id}`.
pub async fn one(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    if state.router.model_names().contains(&id) && state.governor.may_use(&caller, &id) {
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

/// Price and capability fields of `model_info`, in LiteLLM's names (per-token USD).
fn price_fields(
    price: Option<&switchyard_pricing::Price>,
    out: &mut serde_json::Map<String, Value>,
) {
    let usd = |pico: u64| pico as f64 / switchyard_pricing::PICO_PER_USD;
    let Some(p) = price else {
        out.insert("input_cost_per_token".into(), Value::Null);
        out.insert("output_cost_per_token".into(), Value::Null);
        return;
    };
    out.insert("input_cost_per_token".into(), json!(usd(p.input)));
    out.insert("output_cost_per_token".into(), json!(usd(p.output)));
    out.insert(
        "cache_read_input_token_cost".into(),
        json!(p.cache_read.map(usd)),
    );
    out.insert(
        "cache_creation_input_token_cost".into(),
        json!(p.cache_write.map(usd)),
    );
    out.insert(
        "output_cost_per_reasoning_token".into(),
        json!(p.reasoning.map(usd)),
    );
    out.insert("max_input_tokens".into(), json!(p.max_input_tokens));
    out.insert("max_output_tokens".into(), json!(p.max_output_tokens));
    out.insert("max_tokens".into(), json!(p.max_output_tokens));
    let mode = match p.mode {
        switchyard_pricing::Mode::Chat => "chat",
        switchyard_pricing::Mode::Embedding => "embedding",
        switchyard_pricing::Mode::Completion => "completion",
        switchyard_pricing::Mode::Other => "other",
    };
    out.insert("mode".into(), json!(mode));
    out.insert("supports_function_calling".into(), json!(p.tools));
    out.insert("supports_vision".into(), json!(p.vision));
    out.insert("supports_response_schema".into(), json!(p.json_schema));
    out.insert("supports_reasoning".into(), json!(p.reasoning_model));
}

fn deployment_json(d: &Deployment) -> Value {
    let t = &d.target;
    // litellm_params without credentials: never the api key, nor any secret.
    let params = json!({
        "model": format!("{}/{}", t.provider, t.model),
        "api_base": (!t.api_base.is_empty()).then_some(&t.api_base),
        "api_version": t.api_version,
        "organization": t.organization,
        "timeout": d.timeout.as_secs_f64(),
        "stream_timeout": d.stream_timeout.map(|s| s.as_secs_f64()),
        "weight": d.weight,
        "order": (d.order != u32::MAX).then_some(d.order),
        "mock_response": matches!(d.backend, Backend::Mock(_)).then_some(true),
    });
    let mut info = serde_json::Map::new();
    info.insert("id".into(), json!(d.id));
    info.insert("db_model".into(), json!(false));
    info.insert("key".into(), json!(t.model));
    info.insert("litellm_provider".into(), json!(t.provider));
    price_fields(d.price.as_deref(), &mut info);
    json!({"model_name": d.model_name, "litellm_params": params, "model_info": info})
}

/// Query of `/model/info`.
#[derive(Debug, Deserialize)]
pub struct ModelInfoQuery {
    /// Only this deployment.
    litellm_model_id: Option<String>,
}

/// `GET /model/info` and `/v1/model/info`: deployments with prices and limits, no secrets.
pub async fn info(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ModelInfoQuery>,
) -> Json<Value> {
    let data: Vec<Value> = state
        .router
        .all_deployments()
        .filter(|d| q.litellm_model_id.as_deref().is_none_or(|id| id == d.id))
        .map(|d| deployment_json(d))
        .collect();
    Json(json!({ "data": data }))
}

/// `GET /model_group/info`: one entry per model name, limits and prices of its deployments.
pub async fn group_info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let mut data = Vec::new();
    for name in state.router.model_names() {
        let Some(deps) = state.router.deployments(name) else {
            continue;
        };
        let mut providers: Vec<&str> = deps.iter().map(|d| d.target.provider.as_str()).collect();
        providers.dedup();
        let mut entry = serde_json::Map::new();
        entry.insert("model_group".into(), json!(name));
        entry.insert("providers".into(), json!(providers));
        // The group answers as its first priced deployment does.
        price_fields(deps.iter().find_map(|d| d.price.as_deref()), &mut entry);
        entry.insert("num_deployments".into(), json!(deps.len()));
        data.push(Value::Object(entry));
    }
    Json(json!({ "data": data }))
}

/// `POST /utils/token_counter` body: a model and either chat messages or a prompt.
#[derive(Debug, Deserialize)]
pub struct TokenCountRequest {
    model: String,
    #[serde(default)]
    messages: Option<Vec<switchyard_types::ChatMessage>>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    tools: Option<Vec<switchyard_types::Tool>>,
}

/// `POST /utils/token_counter`: tokens of a prompt as the routed model sees it.
pub async fn token_counter(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    use switchyard_pricing::tokens;
    let req: TokenCountRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(GatewayError::bad_request(format!(
            "Invalid request body: {e}"
        )))
    })?;
    // Count with the deployment's own model when the name is a model group.
    let model_used = state
        .router
        .deployments(&req.model)
        .and_then(|d| d.first())
        .map_or_else(|| req.model.clone(), |d| d.target.model.clone());
    let total = match (&req.messages, &req.prompt) {
        (Some(m), _) => tokens::count_messages(&model_used, m, req.tools.as_deref()),
        (None, Some(p)) => tokens::count_text(tokens::encoding_for(&model_used), p),
        (None, None) => {
            return Err(ApiError(GatewayError::bad_param(
                "messages",
                "send `messages` or `prompt`",
            )))
        }
    };
    let tokenizer = if tokens::is_exact(&model_used) {
        "openai_tokenizer"
    } else {
        "approximation_cl100k_base"
    };
    Ok(Json(json!({
        "total_tokens": total,
        "request_model": req.model,
        "model_used": model_used,
        "tokenizer_type": tokenizer,
    })))
}

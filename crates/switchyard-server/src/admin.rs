//! The management routes (`/key/*`, `/user/*`, `/team/*`, `/customer/*`, `/spend/*`): thin
//! HTTP wrappers over [`switchyard_governance::Governor`]'s operations. Only the master key (or
//! a proxy-admin user's key) reaches them, except the `*/info` routes, where a key may read its
//! own records ([`crate::authenticate`] enforces it).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Json};
use serde_json::{Map, Value};
use switchyard_governance::{Caller, Governor, PolicyError};
use switchyard_router::GatewayError;

use crate::error::ApiError;
use crate::governance::policy_error;
use crate::AppState;

type Object = Map<String, Value>;

/// Paths only an admin may call (prefixes), and those a key may call for itself.
pub fn needs_admin(path: &str) -> bool {
    const ADMIN: &[&str] = &[
        "/key/",
        "/user/",
        "/team/",
        "/customer/",
        "/end_user/",
        "/tag/",
        "/spend/",
        "/global/",
    ];
    const SELF_SERVICE: &[&str] = &["/key/info", "/user/info", "/team/info"];
    ADMIN.iter().any(|p| path.starts_with(p)) && !SELF_SERVICE.contains(&path)
}

fn respond(r: Result<Value, PolicyError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError(policy_error(e)).into_response(),
    }
}

async fn read_object(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Object, ApiError> {
    let bytes = crate::chat::read_body(headers, body, state.body_limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Object::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError(GatewayError::bad_request(
            "The request body must be a JSON object",
        ))),
        Err(e) => Err(ApiError(GatewayError::bad_request(format!(
            "Invalid request body: {e}"
        )))),
    }
}

/// Query parameters as a JSON object: numbers and booleans where the API expects them.
fn query_object(q: HashMap<String, String>) -> Object {
    q.into_iter()
        .map(|(k, v)| {
            let typed = match k.as_str() {
                "page" | "size" | "page_size" | "limit" => v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or(Value::String(v)),
                "return_full_object" => Value::Bool(v == "true" || v == "1"),
                _ => Value::String(v),
            };
            (k, typed)
        })
        .collect()
}

/// A POST route running `op` on the JSON body.
fn body_op<F, Fut>(op: F) -> MethodRouter<Arc<AppState>>
where
    F: Fn(Arc<Governor>, Caller, Object) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, PolicyError>> + Send + 'static,
{
    post(
        move |State(state): State<Arc<AppState>>,
              Extension(caller): Extension<Caller>,
              headers: HeaderMap,
              body: Body| {
            let op = op.clone();
            async move {
                match read_object(&state, &headers, body).await {
                    Ok(b) => respond(op(Arc::clone(&state.governor), caller, b).await),
                    Err(e) => e.into_response(),
                }
            }
        },
    )
}

/// A GET route running `op` on the query parameters.
fn query_op<F, Fut>(op: F) -> MethodRouter<Arc<AppState>>
where
    F: Fn(Arc<Governor>, Caller, Object) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, PolicyError>> + Send + 'static,
{
    get(
        move |State(state): State<Arc<AppState>>,
              Extension(caller): Extension<Caller>,
              Query(q): Query<HashMap<String, String>>| {
            let op = op.clone();
            async move { respond(op(Arc::clone(&state.governor), caller, query_object(q)).await) }
        },
    )
}

fn text(o: &Object, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// The management routes.
pub fn routes() -> axum::Router<Arc<AppState>> {
    let customer = |prefix: &str, r: axum::Router<Arc<AppState>>| {
        r.route(
            &format!("{prefix}/new"),
            body_op(|g, _, b| async move { g.new_customer(&b).await }),
        )
        .route(
            &format!("{prefix}/update"),
            body_op(|g, _, b| async move { g.update_customer(&b).await }),
        )
        .route(
            &format!("{prefix}/delete"),
            body_op(|g, _, b| async move { g.delete_customers(&b).await }),
        )
        .route(
            &format!("{prefix}/block"),
            body_op(|g, _, b| async move { g.block_customers(&b, true).await }),
        )
        .route(
            &format!("{prefix}/unblock"),
            body_op(|g, _, b| async move { g.block_customers(&b, false).await }),
        )
        .route(
            &format!("{prefix}/list"),
            query_op(|g, _, _| async move { g.list_customers().await }),
        )
        .route(
            &format!("{prefix}/info"),
            query_op(|g, _, q| async move {
                let id = text(&q, "end_user_id")
                    .or_else(|| text(&q, "user_id"))
                    .unwrap_or_default();
                g.customer_info(&id).await
            }),
        )
    };
    let r = axum::Router::new()
        .route(
            "/key/generate",
            body_op(|g, c, b| async move { g.generate_key(&c, &b).await }),
        )
        .route(
            "/key/update",
            body_op(|g, c, b| async move { g.update_key(&c, &b).await }),
        )
        .route(
            "/key/delete",
            body_op(|g, _, b| async move { g.delete_keys(&b).await }),
        )
        .route(
            "/key/block",
            body_op(|g, _, b| async move { g.block_key(&b, true).await }),
        )
        .route(
            "/key/unblock",
            body_op(|g, _, b| async move { g.block_key(&b, false).await }),
        )
        .route(
            "/key/list",
            query_op(|g, _, q| async move { g.list_keys(&q).await }),
        )
        .route(
            "/key/info",
            query_op(|g, c, q| async move { g.key_info(&c, text(&q, "key").as_deref()).await }),
        )
        .route(
            "/key/regenerate",
            body_op(|g, c, b| async move {
                let key = text(&b, "key").unwrap_or_default();
                g.regenerate_key(&c, &key, &b).await
            }),
        )
        .route("/key/{key}/regenerate", post(regenerate_path))
        .route("/key/{key}/reset_spend", post(reset_spend_path))
        .route(
            "/user/new",
            body_op(|g, c, b| async move { g.new_user(&c, &b).await }),
        )
        .route(
            "/user/update",
            body_op(|g, _, b| async move { g.update_user(&b).await }),
        )
        .route(
            "/user/delete",
            body_op(|g, _, b| async move { g.delete_users(&b).await }),
        )
        .route(
            "/user/list",
            query_op(|g, _, q| async move { g.list_users(&q).await }),
        )
        .route(
            "/user/info",
            query_op(
                |g, c, q| async move { g.user_info(&c, text(&q, "user_id").as_deref()).await },
            ),
        )
        .route(
            "/team/new",
            body_op(|g, _, b| async move { g.new_team(&b).await }),
        )
        .route(
            "/team/update",
            body_op(|g, _, b| async move { g.update_team(&b).await }),
        )
        .route(
            "/team/delete",
            body_op(|g, _, b| async move { g.delete_teams(&b).await }),
        )
        .route(
            "/team/block",
            body_op(|g, _, b| async move { g.block_team(&b, true).await }),
        )
        .route(
            "/team/unblock",
            body_op(|g, _, b| async move { g.block_team(&b, false).await }),
        )
        .route(
            "/team/member_add",
            body_op(|g, _, b| async move { g.team_member_add(&b).await }),
        )
        .route(
            "/team/member_delete",
            body_op(|g, _, b| async move { g.team_member_delete(&b).await }),
        )
        .route(
            "/team/list",
            query_op(|g, _, _| async move { g.list_teams().await }),
        )
        .route(
            "/team/info",
            query_op(
                |g, c, q| async move { g.team_info(&c, text(&q, "team_id").as_deref()).await },
            ),
        )
        .route(
            "/tag/new",
            body_op(|g, _, b| async move { g.new_tag(&b).await }),
        )
        .route(
            "/tag/update",
            body_op(|g, _, b| async move { g.update_tag(&b).await }),
        )
        .route(
            "/tag/info",
            body_op(|g, _, b| async move { g.tag_info(&b).await }),
        )
        .route(
            "/tag/delete",
            body_op(|g, _, b| async move { g.delete_tag(&b).await }),
        )
        .route(
            "/tag/list",
            query_op(|g, _, _| async move { g.list_tags().await }),
        )
        .route(
            "/spend/logs",
            query_op(|g, _, q| async move { g.spend_logs(&q).await }),
        )
        .route(
            "/global/spend/report",
            query_op(|g, _, q| async move { g.spend_report(&q).await }),
        );
    customer("/end_user", customer("/customer", r))
}

async fn regenerate_path(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read_object(&state, &headers, body).await {
        Ok(b) => respond(state.governor.regenerate_key(&caller, &key, &b).await),
        Err(e) => e.into_response(),
    }
}

async fn reset_spend_path(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read_object(&state, &headers, body).await {
        Ok(b) => respond(state.governor.reset_key_spend(&key, &b).await),
        Err(e) => e.into_response(),
    }
}

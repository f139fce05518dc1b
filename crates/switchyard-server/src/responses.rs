//! The Responses API: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.
//!
//! Requests run the chat pipeline (`chat::handle`): an `openai/…` deployment receives the body
//! as sent, any other is reached through chat completions (`switchyard_providers::
//! responses_openai`). Every answered response is kept with the conversation that led to it,
//! so `previous_response_id` works for every provider: the earlier turns are expanded into the
//! input for a chat deployment, and for OpenAI when the earlier response was not OpenAI's
//! (OpenAI's own are referred to by id, so its server-side state, reasoning included, is used).
//! A response can be read or deleted only with the key that created it (or an admin key).
//!
//! Kept responses are written to the store (SQLite or PostgreSQL, `sy_responses`) after each
//! answer, off the request path, so every instance finds them; each instance also holds the
//! most recent [`CAPACITY`] in memory. They are kept for [`RETENTION_MS`] (OpenAI's 30 days).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use switchyard_governance::Caller;
use switchyard_providers::responses_openai;
use switchyard_providers::sse::Framer;
use switchyard_router::{Format, GatewayError, Native};

use crate::chat::handle;
use crate::dialect::Dialect;
use crate::error::ApiError;
use crate::AppState;

/// How many responses an instance holds in memory.
pub const CAPACITY: usize = 10_000;

/// How long a response kept here is served from memory alone.
const FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// How long responses are kept in the store.
pub const RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// A kept response and the conversation up to it.
#[derive(Debug)]
pub struct Stored {
    /// The response object.
    pub response: Value,
    /// Every item of the conversation: earlier turns, this turn's input, this response's output.
    pub items: Vec<Value>,
    /// The key hash that created it (`None`: the master key or no auth).
    pub owner: Option<String>,
    /// OpenAI answered it (and holds its own state for it).
    pub openai: bool,
    /// When this instance kept or read it.
    pub seen: std::time::Instant,
}

/// The responses this instance holds.
#[derive(Default)]
struct Kept {
    /// Kept responses by id.
    map: HashMap<String, Arc<Stored>>,
    /// Their ids, oldest first (for eviction).
    order: VecDeque<String>,
    /// Ids whose write to the store is on its way, and whether they were deleted meanwhile: a
    /// delete that reaches the store before the write finds nothing, so the writer deletes
    /// again once its write has landed, or the row would come back.
    writing: HashMap<String, bool>,
}

/// The kept responses: the store, and the most recent in memory.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Kept>,
    db: Option<switchyard_store::Store>,
    writes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("responses::Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Responses kept in `db` (and in memory).
    pub fn new(db: Option<switchyard_store::Store>) -> Store {
        Store {
            db,
            ..Store::default()
        }
    }

    fn remember(&self, id: String, s: Arc<Stored>) {
        let Ok(mut g) = self.inner.lock() else { return };
        let Kept { map, order, .. } = &mut *g;
        if map.insert(id.clone(), s).is_none() {
            order.push_back(id);
        }
        while order.len() > CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// Keeps a response: in memory now, in the store from a task of its own.
    fn insert(self: &Arc<Self>, id: String, s: Stored) {
        let s = Arc::new(s);
        self.remember(id.clone(), Arc::clone(&s));
        let Some(db) = self.db.clone() else { return };
        let row = switchyard_store::ResponseRow {
            id,
            owner: s.owner.clone(),
            openai: s.openai,
            created_ms: switchyard_store::now_ms(),
            response: s.response.to_string(),
            items: Value::Array(s.items.clone()).to_string(),
        };
        let prune = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % 1024
            == 0;
        if let Ok(mut g) = self.inner.lock() {
            g.writing.insert(row.id.clone(), false);
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = db.put_response(&row).await {
                tracing::warn!(response_id = %row.id, "could not keep a response: {e}");
            }
            let deleted = me
                .inner
                .lock()
                .ok()
                .and_then(|mut g| g.writing.remove(&row.id))
                .unwrap_or(false);
            if deleted {
                if let Err(e) = db.delete_response(&row.id).await {
                    tracing::warn!(response_id = %row.id, "could not delete a kept response: {e}");
                }
            }
            if prune {
                let _ = db.prune_responses(row.created_ms - RETENTION_MS).await;
            }
        });
    }

    /// A kept response. Memory answers for a response kept here in the last
    /// [`FRESH`] (its write to the store may still be on its way); otherwise the store does,
    /// so a response deleted through another instance is gone here too.
    async fn get(&self, id: &str) -> Option<Arc<Stored>> {
        let held = self.inner.lock().ok().and_then(|g| g.map.get(id).cloned());
        let Some(db) = self.db.as_ref() else {
            return held;
        };
        if let Some(s) = held.as_ref().filter(|s| s.seen.elapsed() < FRESH) {
            return Some(Arc::clone(s));
        }
        let row = match db.get_response(id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                if held.is_some() {
                    self.forget(id);
                }
                return None;
            }
            Err(e) => {
                tracing::warn!(response_id = %id, "could not read a kept response: {e}");
                return held;
            }
        };
        if row.created_ms < switchyard_store::now_ms() - RETENTION_MS {
            return None;
        }
        let s = Arc::new(Stored {
            response: serde_json::from_str(&row.response).ok()?,
            items: serde_json::from_str(&row.items).ok()?,
            owner: row.owner,
            openai: row.openai,
            seen: std::time::Instant::now(),
        });
        Some(s)
    }

    fn forget(&self, id: &str) {
        if let Ok(mut g) = self.inner.lock() {
            let Kept { map, order, .. } = &mut *g;
            if map.remove(id).is_some() {
                order.retain(|k| k != id);
            }
        }
    }

    async fn remove(&self, id: &str) {
        if let Ok(mut g) = self.inner.lock() {
            if let Some(deleted) = g.writing.get_mut(id) {
                *deleted = true;
            }
        }
        self.forget(id);
        if let Some(db) = &self.db {
            if let Err(e) = db.delete_response(id).await {
                tracing::warn!(response_id = %id, "could not delete a kept response: {e}");
            }
        }
    }
}

/// The turn being answered: what is needed to translate and keep its response.
#[derive(Debug)]
pub(crate) struct Turn {
    /// The request body as the client sent it (echoed in the response object).
    pub body: Map<String, Value>,
    /// Earlier turns and this turn's input.
    items: Vec<Value>,
    owner: Option<String>,
    store: Arc<Store>,
    keep: bool,
}

impl Turn {
    /// Keeps a response object (from a complete answer's body).
    pub(crate) fn keep_body(&self, body: &[u8], format: Format) {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            self.keep_value(v, format);
        }
    }

    fn keep_value(&self, response: Value, format: Format) {
        if !self.keep || response.get("object").and_then(Value::as_str) != Some("response") {
            return;
        }
        let Some(id) = response
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let mut items = self.items.clone();
        items.extend(
            response
                .get("output")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .cloned(),
        );
        self.store.insert(
            id,
            Stored {
                response,
                items,
                owner: self.owner.clone(),
                openai: format == Format::OpenAiResponses,
                seen: std::time::Instant::now(),
            },
        );
    }
}

/// Watches a streamed answer for its final response object, and keeps it.
pub(crate) struct Keeper {
    turn: Arc<Turn>,
    framer: Framer,
    format: Format,
}

impl Keeper {
    pub(crate) fn new(turn: Arc<Turn>, format: Format) -> Keeper {
        Keeper {
            turn,
            framer: Framer::new(),
            format,
        }
    }

    /// Looks at bytes going to the client.
    pub(crate) fn observe(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
        while let Some(ev) = self.framer.next_event() {
            let terminal = matches!(
                ev.event.as_deref(),
                Some(b"response.completed" | b"response.incomplete")
            );
            if !terminal {
                continue;
            }
            if let Some(r) = ev
                .data
                .as_deref()
                .and_then(|d| serde_json::from_slice::<Value>(d).ok())
                .and_then(|mut v| v.get_mut("response").map(Value::take))
            {
                self.turn.keep_value(r, self.format);
            }
        }
    }
}

fn owner_of(caller: &Caller) -> Option<String> {
    caller.principal().map(|p| p.hash.to_string())
}

/// A kept response, if this caller may see it.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> Option<Arc<Stored>> {
    let s = state.responses.get(id).await?;
    (caller.is_admin() || s.owner == owner_of(caller)).then_some(s)
}

fn not_found(id: &str) -> GatewayError {
    let mut e = GatewayError::not_found(format!("Response with id '{id}' not found."));
    e.param = Some("response_id".into());
    e
}

/// `POST /v1/responses`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match crate::chat::read_body(&headers, body, state.body_limit).await {
        Ok(b) => b,
        Err(e) => return ApiError(e).into_response(),
    };
    let mut client_body: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return ApiError(GatewayError::bad_request(format!(
                "Invalid request body: {e}"
            )))
            .into_response()
        }
    };
    // Earlier turns: ours are expanded; an id the gateway does not know may be OpenAI's.
    let mut history: Vec<Value> = Vec::new();
    let mut native_body = client_body.clone();
    let mut unknown_previous = None;
    if let Some(prev) = client_body
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    {
        match visible(&state, &caller, &prev).await {
            Some(s) => {
                history.clone_from(&s.items);
                if !s.openai {
                    native_body.remove("previous_response_id");
                    let mut input = history.clone();
                    input.extend(responses_openai::input_items(&client_body).unwrap_or_default());
                    native_body.insert("input".into(), Value::Array(input));
                }
            }
            None => unknown_previous = Some(prev),
        }
    }
    let mut items = history.clone();
    items.extend(responses_openai::input_items(&client_body).unwrap_or_default());
    let keep = client_body.get("store").and_then(Value::as_bool) != Some(false);
    client_body.remove("input");
    let turn = Arc::new(Turn {
        body: client_body,
        items,
        owner: owner_of(&caller),
        store: Arc::clone(&state.responses),
        keep,
    });
    let parse = move |b: &Bytes| {
        let r = responses_openai::parse(b, &history).map_err(GatewayError::from_translate)?;
        let refusal = r.chat_refusal.or_else(|| {
            unknown_previous
                .map(|p| format!("previous_response_id '{p}' is not known to the gateway"))
        });
        Ok((
            switchyard_types::Verbatim::from(r.chat),
            Some(Arc::new(Native::Responses {
                body: native_body,
                chat_refusal: refusal,
            })),
        ))
    };
    handle(
        Arc::clone(&state),
        caller,
        headers,
        Body::from(bytes),
        "/responses",
        Dialect::Responses(turn),
        parse,
    )
    .await
}

/// `GET /v1/responses/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = visible(&state, &caller, &id)
        .await
        .ok_or_else(|| ApiError(not_found(&id)))?;
    Ok(Json(s.response.clone()))
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible(&state, &caller, &id)
        .await
        .ok_or_else(|| ApiError(not_found(&id)))?;
    state.responses.remove(&id).await;
    Ok(Json(
        json!({"id": id, "object": "response", "deleted": true}),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stored() -> Stored {
        Stored {
            response: json!({"id": "resp_x", "object": "response"}),
            items: Vec::new(),
            owner: None,
            openai: false,
            seen: std::time::Instant::now(),
        }
    }

    /// Waits until no write to the store is on its way.
    async fn settled(store: &Store) {
        for _ in 0..500 {
            if store.inner.lock().unwrap().writing.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("a write to the store never finished");
    }

    /// A response deleted while its write to the store is on its way stays deleted: the delete
    /// reaches the store first and finds nothing, then the write lands.
    #[tokio::test]
    async fn a_response_deleted_before_its_write_lands_stays_deleted() {
        let path = std::env::temp_dir().join(format!(
            "switchyard-responses-{}-{}.db",
            std::process::id(),
            switchyard_store::now_ms()
        ));
        let db = switchyard_store::Store::connect(path.to_str().unwrap(), Default::default())
            .await
            .unwrap();
        let store = Arc::new(Store::new(Some(db.clone())));

        // Kept and not deleted: the write lands (the test would prove nothing otherwise).
        store.insert("resp_kept".into(), stored());
        settled(&store).await;
        assert!(db.get_response("resp_kept").await.unwrap().is_some());

        // Deleted at once, before the spawned write has run.
        store.insert("resp_gone".into(), stored());
        assert!(store
            .inner
            .lock()
            .unwrap()
            .writing
            .contains_key("resp_gone"));
        store.remove("resp_gone").await;
        settled(&store).await;
        assert!(db.get_response("resp_gone").await.unwrap().is_none());
        assert!(store.get("resp_gone").await.is_none());

        let _ = std::fs::remove_file(&path);
    }
}

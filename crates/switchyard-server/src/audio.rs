//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`: multipart uploads, streamed to
//! the provider as they arrive.
//!
//! The text fields are read first; when the file part comes after them (as the OpenAI SDKs
//! send it), its bytes go upstream as they arrive and memory holds one chunk at a time, however
//! large the file. A file that comes before the `model` field is held until the model is known
//! (within `max_request_size_mb`, like any body). The request runs the shared pipeline: auth,
//! model access, limits and budgets, then one attempt (a stream cannot be replayed), and its
//! spend is priced by the second (or by tokens, for token-priced models).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use switchyard_governance::Caller;
use switchyard_router::{CallOptions, ChatResponse, GatewayError, TranscriptionRequest};

use crate::chat::{handle_parsed, Ingress, Parsed};
use crate::dialect::Dialect;
use crate::AppState;

/// Bytes of audio per second assumed to reserve budget before the length is known
/// (128 kbit/s, a common bitrate: a worst case for compressed speech).
const BYTES_PER_SECOND: u64 = 16_000;

/// A transcription on its way: the request, and what admission needs of it.
pub(crate) struct Transcription {
    model: String,
    /// The request (its upload stream is `Send` but not `Sync`; admission borrows this).
    request: std::sync::Mutex<Option<TranscriptionRequest>>,
    size: u64,
    extra: Map<String, Value>,
}

impl Ingress for Transcription {
    fn model_mut(&mut self) -> &mut String {
        &mut self.model
    }
    fn user(&self) -> Option<&str> {
        None
    }
    fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }
    fn estimate(&self, state: &AppState) -> (u64, i64) {
        let seconds = self.size / BYTES_PER_SECOND + 1;
        let worst = state
            .router
            .deployments(&self.model)
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.price.as_deref())
            .filter_map(|p| p.per_unit)
            .map(|u| u128::from(seconds) * u128::from(u.pico))
            .max()
            .unwrap_or(0);
        (0, i64::try_from(worst.div_ceil(1000)).unwrap_or(i64::MAX))
    }
    async fn call(
        self,
        router: &switchyard_router::Router,
        opts: &CallOptions,
    ) -> Result<ChatResponse, GatewayError> {
        let mut request = self
            .request
            .into_inner()
            .ok()
            .flatten()
            .ok_or_else(|| GatewayError::internal("transcription request taken"))?;
        request.model = self.model;
        router
            .transcribe(request, opts)
            .await
            .map(ChatResponse::Complete)
    }
}

fn bad(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::bad_request(format!("Invalid multipart body: {e}"))
}

/// Reads the fields up to the file; the file itself is handed on as a stream.
async fn read_head(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    translate: bool,
) -> Result<Parsed<Transcription>, GatewayError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(ct).map_err(|_| {
        GatewayError::bad_request("Send the audio as multipart/form-data with a `file` field.")
    })?;
    let size = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if size.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::too_large(limit));
    }
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit as u64));
    let mut mp =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut model: Option<String> = None;
    let mut fields = Vec::new();
    let mut held: Option<(String, String, Vec<Bytes>)> = None;
    let mut streamed = None;
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("audio").to_owned();
            let file_type = field
                .content_type()
                .map_or_else(|| "application/octet-stream".to_owned(), |m| m.to_string());
            if model.is_some() {
                streamed = Some((file_name, file_type, field));
                break;
            }
            // The model is not known yet: hold the file (within the body limit).
            let mut chunks = Vec::new();
            let mut field = field;
            while let Some(c) = field.chunk().await.map_err(bad)? {
                chunks.push(c);
            }
            held = Some((file_name, file_type, chunks));
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        if name == "model" {
            model = Some(text);
        } else {
            fields.push((name, text));
        }
    }
    let model = model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| GatewayError::bad_param("model", "`model` is required"))?;
    let (file_name, file_type, file): (String, String, switchyard_router::Upload) =
        match (streamed, held) {
            (Some((n, t, field)), _) => (
                n,
                t,
                field.map(|r| r.map_err(std::io::Error::other)).boxed(),
            ),
            (None, Some((n, t, chunks))) => (
                n,
                t,
                futures_util::stream::iter(chunks.into_iter().map(Ok)).boxed(),
            ),
            (None, None) => {
                return Err(GatewayError::bad_param(
                    "file",
                    "`file` is required (the audio, as a multipart file part)",
                ))
            }
        };
    Ok((
        Transcription {
            model: model.clone(),
            request: std::sync::Mutex::new(Some(TranscriptionRequest {
                model,
                translate,
                fields,
                file_name,
                file_type,
                file,
            })),
            size: size.unwrap_or(0),
            extra: Map::new(),
        },
        None,
    ))
}

async fn run(
    state: Arc<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
    translate: bool,
) -> Response {
    let limit = state.body_limit;
    let h = headers.clone();
    let read = async move { read_head(&h, body, limit, translate).await };
    handle_parsed(
        state,
        caller,
        headers,
        "/audio/transcriptions",
        Dialect::OpenAi,
        read,
    )
    .await
}

/// `POST /v1/audio/transcriptions`.
pub async fn transcriptions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run(state, caller, headers, body, false).await
}

/// `POST /v1/audio/translations`.
pub async fn translations(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run(state, caller, headers, body, true).await
}

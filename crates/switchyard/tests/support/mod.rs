//! Test support: a mock OpenAI upstream on 127.0.0.1 and an in-process gateway.
//!
//! The mock follows OpenAI's chat completions reference (response, chunk and error shapes).
//! It picks its behaviour from the model id it is sent, so one upstream serves every case:
//! `echo`, `tools`, `status-<code>`, `slow`, `badjson`, `cut`, `gated`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod anthropic;
pub mod audio;
pub mod bedrock;
pub mod cohere;
pub mod completions;
pub mod embeddings;
pub mod endpoints;
pub mod gemini;
pub mod ollama;
pub mod responses;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// What the mock upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct UpstreamState {
    pub seen: Mutex<Vec<Seen>>,
    /// Released by a test to let a `gated` stream go on.
    pub gate: Notify,
    /// Notified when a `gated` stream has sent its first chunk.
    pub gated_started: Notify,
    /// Bytes of uploaded files received so far (the transcription mock).
    pub upload_bytes: std::sync::atomic::AtomicU64,
    /// Chat completion and OpenAI embeddings bodies as they arrived, byte for byte.
    pub chat_bodies: Mutex<Vec<Bytes>>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
}

impl Upstream {
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
    pub fn last(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("upstream saw no request")
    }
    pub fn count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
    /// The last chat completion or OpenAI embeddings body, byte for byte.
    pub fn last_chat_body(&self) -> String {
        let bodies = self.state.chat_bodies.lock().unwrap();
        String::from_utf8(bodies.last().expect("no chat request").to_vec()).unwrap()
    }
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1700000000,
           "model": model, "system_fingerprint": "fp_mock",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

enum Step {
    Send(Bytes),
    Wait,
    Sleep(Duration),
}

fn usage() -> Value {
    json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
           "prompt_tokens_details": {"cached_tokens": 4},
           "completion_tokens_details": {"reasoning_tokens": 1}})
}

async fn chat(State(st): State<Arc<UpstreamState>>, headers: HeaderMap, body: Bytes) -> Response {
    st.chat_bodies.lock().unwrap().push(body.clone());
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("mock: bad json {e}")).into_response(),
    };
    st.seen.lock().unwrap().push(Seen {
        headers,
        body: body.clone(),
    });
    let model = body["model"].as_str().unwrap_or("echo").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    // `nousage` plays a provider that ignores stream_options and never reports usage.
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false)
        && model != "nousage";

    if let Some(code) = model.strip_prefix("status-") {
        let code: u16 = code.parse().unwrap();
        let mut resp = (
            StatusCode::from_u16(code).unwrap(),
            [("content-type", "application/json")],
            json!({"error": {"message": format!("upstream says {code}"), "type": "upstream_type",
                             "param": null, "code": "upstream_code"}})
            .to_string(),
        )
            .into_response();
        if code == 429 {
            resp.headers_mut()
                .insert("retry-after", "7".parse().unwrap());
        }
        return resp;
    }
    if model == "ctxlen" {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                             "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
            .to_string(),
        )
            .into_response();
    }
    match model.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        "hold" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        "badjson" => return (StatusCode::OK, "this is not json").into_response(),
        _ => {}
    }

    let headers = [
        ("x-request-id", "req-upstream-1"),
        ("x-ratelimit-remaining-requests", "99"),
    ];
    if !stream {
        let message = if model == "tools" {
            json!({"role": "assistant", "content": null, "refusal": null,
                   "tool_calls": [{"id": "call_1", "type": "function",
                                   "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
        } else {
            json!({"role": "assistant", "content": "echo", "refusal": null})
        };
        let finish = if model == "tools" {
            "tool_calls"
        } else {
            "stop"
        };
        let mut resp = json!({"id": "chatcmpl-up", "object": "chat.completion", "created": 1700000000,
                          "model": model, "system_fingerprint": "fp_mock", "service_tier": "default",
                          "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
                          "usage": usage()});
        if model == "nousage" {
            resp.as_object_mut().unwrap().remove("usage");
        }
        return (
            StatusCode::OK,
            headers,
            [("content-type", "application/json")],
            resp.to_string(),
        )
            .into_response();
    }

    let mut steps = Vec::new();
    if model == "tools" {
        steps.push(Step::Send(sse(&chunk(
            &model,
            json!({"role": "assistant", "content": null,
            "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": ""}}]}),
            None,
        ))));
        for part in ["{\"city\"", ":\"Paris\"}"] {
            steps.push(Step::Send(sse(&chunk(
                &model,
                json!({"tool_calls": [{"index": 0,
                "function": {"arguments": part}}]}),
                None,
            ))));
        }
        steps.push(Step::Send(sse(&chunk(
            &model,
            json!({}),
            Some("tool_calls"),
        ))));
    } else {
        steps.push(Step::Send(sse(&chunk(
            &model,
            json!({"role": "assistant", "content": "a"}),
            None,
        ))));
        if model == "gated" {
            steps.push(Step::Wait);
        }
        if model == "slowstream" {
            steps.push(Step::Sleep(Duration::from_secs(5)));
        }
        if model == "tricklestream" {
            for _ in 0..5 {
                steps.push(Step::Sleep(Duration::from_millis(200)));
                steps.push(Step::Send(sse(&chunk(
                    &model,
                    json!({"content": "t"}),
                    None,
                ))));
            }
        }
        steps.push(Step::Send(sse(&chunk(
            &model,
            json!({"content": "b"}),
            None,
        ))));
        if model == "cut" {
            return sse_response(st, steps, headers);
        }
        steps.push(Step::Send(sse(&chunk(
            &model,
            json!({"content": "c"}),
            None,
        ))));
        steps.push(Step::Send(sse(&chunk(&model, json!({}), Some("stop")))));
    }
    if include_usage {
        let mut last = chunk(&model, json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage();
        steps.push(Step::Send(sse(&last)));
    }
    steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
    sse_response(st, steps, headers)
}

fn sse_response(
    st: Arc<UpstreamState>,
    steps: Vec<Step>,
    headers: [(&'static str, &'static str); 2],
) -> Response {
    let stream = futures_util::stream::unfold((steps.into_iter(), st), |(mut it, st)| async move {
        loop {
            match it.next()? {
                Step::Send(b) => {
                    return Some((Ok::<_, std::convert::Infallible>(b), (it, st)));
                }
                Step::Wait => {
                    st.gated_started.notify_one();
                    st.gate.notified().await;
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
            }
        }
    });
    (
        StatusCode::OK,
        headers,
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Azure OpenAI: the OpenAI wire format at a deployment URL, with `api-key` auth and a
/// required `api-version`. The deployment name stands in for the model.
async fn azure_chat(
    state: State<Arc<UpstreamState>>,
    axum::extract::Path(deployment): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !q.contains_key("api-version") {
        return (StatusCode::NOT_FOUND, "missing api-version").into_response();
    }
    if headers.get("api-key").is_none() && headers.get("authorization").is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "401", "message": "Access denied due to missing subscription key."}}).to_string(),
        )
            .into_response();
    }
    if deployment == "filtered" {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
                             "type": null, "param": "prompt", "code": "content_filter", "status": 400}})
            .to_string(),
        )
            .into_response();
    }
    let mut v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    v["model"] = json!(deployment);
    chat(state, headers, Bytes::from(v.to_string())).await
}

pub async fn start_upstream() -> Upstream {
    let state = Arc::new(UpstreamState::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/embeddings", post(embeddings::openai))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/images/generations", post(endpoints::images))
        .route("/v1/audio/speech", post(endpoints::speech))
        .route("/v1/audio/transcriptions", post(audio::transcriptions))
        .route("/v1/audio/translations", post(audio::transcriptions))
        .route("/v1/moderations", post(endpoints::moderations))
        .route("/v2/rerank", post(endpoints::cohere_rerank))
        .route("/v1/rerank", post(endpoints::compat_rerank))
        .route("/v1/responses", post(responses::responses))
        .route("/v2/embed", post(embeddings::cohere))
        .route("/api/embed", post(embeddings::ollama))
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(embeddings::azure),
        )
        .route("/v1beta/models/{action}", post(gemini::generate))
        .route("/token", post(gemini::token))
        .route("/api/chat", post(ollama::chat))
        .route("/api/generate", post(ollama::generate))
        .route("/v2/chat", post(cohere::chat))
        .route("/model/{model}/converse", post(bedrock::converse))
        .route(
            "/model/{model}/converse-stream",
            post(bedrock::converse_stream),
        )
        .route("/model/{model}/invoke", post(bedrock::invoke))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{action}",
            post(gemini::vertex),
        )
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure_chat),
        )
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Upstream { addr, state }
}

/// `config_for` with more deployments (`model_list` entries as YAML) put first.
pub fn config_with_models(upstream: &Upstream, models: &str, extra: &str) -> String {
    config_for(upstream, extra).replacen("model_list:\n", &format!("model_list:\n{models}"), 1)
}

/// A config whose deployments point at `upstream`: one group per behaviour, plus a mock.
pub fn config_for(upstream: &Upstream, extra: &str) -> String {
    let base = upstream.base();
    let mut y = String::from("model_list:\n");
    for b in [
        "echo",
        "ctxlen",
        "tools",
        "slow",
        "badjson",
        "cut",
        "gated",
        "slowstream",
        "tricklestream",
        "status-400",
        "status-401",
        "status-403",
        "status-404",
        "status-408",
        "status-422",
        "status-429",
        "status-500",
        "status-502",
        "status-503",
    ] {
        y.push_str(&format!(
            "  - model_name: {b}\n    litellm_params:\n      model: openai/{b}\n      api_key: sk-upstream-secret\n      api_base: {base}\n      timeout: 2\n"
        ));
    }
    y.push_str("  - model_name: mock\n    litellm_params:\n      model: openai/mock\n      mock_response: \"Hi from mock\"\n");
    y.push_str("  - model_name: down\n    litellm_params:\n      model: openai/x\n      api_base: http://127.0.0.1:9/v1\n");
    y.push_str(extra);
    y
}

pub struct Gateway {
    pub base: String,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A fresh SQLite file for one test.
pub fn temp_db() -> String {
    let dir = std::env::temp_dir().join(format!("switchyard-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("gateway.db").display().to_string()
}

/// Where a test's store lives: a SQLite file, or a PostgreSQL schema of its own.
#[derive(Clone, Debug)]
pub struct Db {
    pub url: String,
    pub schema: Option<String>,
    /// Redis URL and key namespace for shared limits.
    pub redis: Option<(String, String)>,
}

impl Db {
    pub fn sqlite() -> Db {
        Db {
            url: temp_db(),
            schema: None,
            redis: None,
        }
    }

    /// Every backend this run can test: SQLite always, PostgreSQL when DATABASE_URL is set.
    pub fn all() -> Vec<Db> {
        let mut v = vec![Db::sqlite()];
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => v.push(Db {
                url,
                schema: Some(format!("sy_gw_{}", uuid::Uuid::new_v4().simple())),
                redis: None,
            }),
            _ => eprintln!("DATABASE_URL not set: PostgreSQL half skipped"),
        }
        v
    }
}

/// Starts the gateway in-process on 127.0.0.1:0 with the given config text.
pub async fn start_gateway(yaml: &str) -> Gateway {
    start_gateway_on(yaml, &Db::sqlite()).await
}

/// Starts the gateway on a given store.
pub async fn start_gateway_on(yaml: &str, db: &Db) -> Gateway {
    let loaded = switchyard::config::parse(yaml, "test-config.yaml").unwrap();
    let store = switchyard_store::Store::connect(
        &db.url,
        switchyard_store::StoreOptions {
            schema: db.schema.clone(),
            max_connections: 4,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut opts = switchyard_server::governance::options(&loaded.config);
    // Tests share one Redis: only those that ask for it use it, in a namespace of their own.
    if db.redis.is_none() {
        opts.redis_url = None;
    }
    if let Some((url, ns)) = &db.redis {
        opts.redis_url = Some(url.clone());
        opts.redis_namespace = Some(ns.clone());
    }
    opts.refresh_interval = Duration::from_millis(100);
    opts.flush_interval = Duration::from_millis(100);
    let governor = switchyard_governance::Governor::start(store, opts)
        .await
        .unwrap();
    let (router, _warnings) = switchyard::Router::from_config(loaded.config).unwrap();
    let state = Arc::new(switchyard_server::AppState::new(router, governor));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(switchyard_server::serve(
        listener,
        state,
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(10),
    ));
    Gateway {
        base: format!("http://{addr}"),
        shutdown: Some(tx),
        handle,
    }
}

/// The current Unix minute (deployment rpm/tpm windows): a test that must stay within one
/// checks it did.
pub fn this_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Reads an SSE body into its `data:` payloads.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

impl Gateway {
    /// Stops the gateway gracefully (which writes all queued spend) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.await.unwrap().unwrap();
    }
}

/// `POST /v1/chat/completions` with a key.
pub async fn post_with_key(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

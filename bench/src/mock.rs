//! A mock OpenAI upstream built to be far faster than any gateway in front of it.
//!
//! Behaviour comes from the URL path, so it never parses a body:
//! - `/json/v1/chat/completions`: a fixed chat completion (about 600 bytes, with usage);
//! - `/stream/{chunks}/{delay_ms}/v1/chat/completions`: an SSE stream of `chunks` content
//!   chunks, `delay_ms` apart, then a usage chunk and `[DONE]`;
//! - `/latency/{ms}/...`: either of the above after `ms` of added latency;
//! - `/sink/hang`: a log sink that never answers; `/sink/fail`: one that always answers 500.
//!   Neither reads the batch it is sent.
//!
//! Bodies are built once; a response is a clone of `Bytes`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// The fixed non-stream answer.
pub const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog. This is a benchmark answer of modest, realistic length.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":24,"total_tokens":66,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}"#;

struct Canned {
    completion: Bytes,
    chunk: Bytes,
    tail: Bytes,
}

fn canned() -> Canned {
    let chunk = r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":"token "},"logprobs":null,"finish_reason":null}]}"#;
    let tail = concat!(
        r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":100,"total_tokens":142}}"#,
        "\n\ndata: [DONE]\n\n"
    );
    Canned {
        completion: Bytes::from_static(COMPLETION.as_bytes()),
        chunk: Bytes::from(format!("{chunk}\n\n")),
        tail: Bytes::from_static(tail.as_bytes()),
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).boxed()
}

async fn handle(req: Request<Incoming>, canned: Arc<Canned>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    // Drain the request body so the connection can be reused; except a log sink's: reading a
    // megabyte batch would take time from the load generator on this core, and measure the
    // bench instead of the gateway. A sink that never reads is a sink that hangs all the same.
    if !path.starts_with("/sink/") {
        let _ = req.into_body().collect().await;
    }
    let mut parts = path.trim_start_matches('/').split('/');
    let mut kind = parts.next().unwrap_or("");
    if kind == "latency" {
        let ms: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        kind = parts.next().unwrap_or("");
    }
    let resp = match kind {
        "sink" if parts.next() == Some("hang") => {
            std::future::pending::<()>().await;
            Response::builder().body(full(Bytes::new()))
        }
        "sink" => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(full(Bytes::from_static(b"{\"error\":\"sink down\"}"))),
        "json" => openai_headers(Response::builder())
            .header("content-type", "application/json")
            .body(full(canned.completion.clone())),
        "stream" => {
            let chunks: usize = parts.next().and_then(|m| m.parse().ok()).unwrap_or(100);
            let delay: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
            let c = Arc::clone(&canned);
            let stream = futures_stream(chunks, delay, c);
            openai_headers(Response::builder())
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(stream).boxed())
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(full(Bytes::from_static(
                b"{\"error\":{\"message\":\"no such mock\"}}",
            ))),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(full(Bytes::new()))))
}

/// The headers OpenAI answers with (its API reference's request id, organization,
/// processing time and rate limits, and what its CDN adds): a gateway echoes each as
/// `llm_provider-*`, and that work should be in the measurement.
fn openai_headers(b: hyper::http::response::Builder) -> hyper::http::response::Builder {
    [
        ("x-request-id", "req_0123456789abcdef0123456789abcdef"),
        ("openai-organization", "user-bench"),
        ("openai-processing-ms", "123"),
        ("openai-project", "proj_bench"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-limit-tokens", "30000000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-remaining-tokens", "29999000"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-reset-tokens", "2ms"),
        ("x-envoy-upstream-service-time", "120"),
        ("access-control-expose-headers", "X-Request-ID"),
        ("x-content-type-options", "nosniff"),
        ("cf-cache-status", "DYNAMIC"),
        ("cf-ray", "8f1c2d3e4f5a6b7c-IAD"),
    ]
    .into_iter()
    .fold(b, |b, (name, value)| b.header(name, value))
}

/// A stream of `chunks` chunks `delay_ms` apart, then the tail.
fn futures_stream(
    chunks: usize,
    delay_ms: u64,
    canned: Arc<Canned>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::unfold(0usize, move |i| {
        let canned = Arc::clone(&canned);
        async move {
            if i > chunks {
                return None;
            }
            if i == chunks {
                return Some((Ok(Frame::data(canned.tail.clone())), i + 1));
            }
            if delay_ms > 0 && i > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            Some((Ok(Frame::data(canned.chunk.clone())), i + 1))
        }
    })
}

/// Serves the mock on `listener` until the process ends.
pub async fn serve(listener: TcpListener) {
    let canned = Arc::new(canned());
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let canned = Arc::clone(&canned);
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, Arc::clone(&canned)));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// Starts the mock on its own thread (and single-threaded runtime) on 127.0.0.1; returns its
/// address. The thread inherits the caller's CPU affinity.
pub fn start() -> anyhow::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    std::thread::Builder::new()
        .name("mock-upstream".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("mock runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("mock listener");
                serve(listener).await;
            });
        })?;
    Ok(addr)
}

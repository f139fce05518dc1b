//! Providers over TLS: which certificates the gateway trusts (`ssl_verify`, `SSL_CERT_FILE`),
//! and HTTP/2 upstreams whose stream limit one connection would hit.
//!
//! The upstream is a mock OpenAI server on 127.0.0.1 speaking HTTP/2 only (ALPN `h2`), or
//! HTTP/1.1 only, with a certificate from the private test CA in `fixtures/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use support::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What the TLS upstream saw.
#[derive(Default)]
struct Seen {
    /// TLS connections accepted and negotiated to HTTP/2.
    connections: AtomicUsize,
    /// Requests being answered now, and the most at once.
    in_flight: AtomicUsize,
    most: AtomicUsize,
    /// Requests answered.
    answered: AtomicUsize,
    /// A request waits until this many are in flight at once (or 5 s pass), so the most
    /// seen at once tells whether the gateway could send them all together.
    hold_until: AtomicUsize,
    released: tokio::sync::Notify,
    /// Milliseconds the upstream waits before its side of each TLS handshake, as a distant
    /// host would: a burst arriving meanwhile finds no connection ready.
    handshake_delay_ms: AtomicUsize,
}

async fn answer(
    req: hyper::Request<Incoming>,
    seen: Arc<Seen>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most.fetch_max(now, Ordering::SeqCst);
    let hold = seen.hold_until.load(Ordering::SeqCst);
    if now >= hold {
        seen.released.notify_waiters();
    } else {
        let released = seen.released.notified();
        let _ = tokio::time::timeout(Duration::from_secs(5), released).await;
    }
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    seen.answered.fetch_add(1, Ordering::SeqCst);
    let body = json!({
        "id": "chatcmpl-tls", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "over h2"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    });
    Ok(hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

/// An HTTP/2-only TLS upstream allowing `max_streams` concurrent streams per connection.
async fn start_tls_upstream(max_streams: u32) -> (String, Arc<Seen>) {
    start_tls_upstream_speaking(max_streams, b"h2").await
}

/// A TLS upstream speaking only `alpn` (`h2`, or `http/1.1`).
async fn start_tls_upstream_speaking(max_streams: u32, alpn: &'static [u8]) -> (String, Arc<Seen>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("tls-test-server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("tls-test-server.key")).unwrap();
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, seen) = (acceptor.clone(), Arc::clone(&s));
            tokio::spawn(async move {
                let delay = seen.handshake_delay_ms.load(Ordering::SeqCst) as u64;
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if tls.get_ref().1.alpn_protocol() != Some(alpn) {
                    return;
                }
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let svc = hyper::service::service_fn(move |req| answer(req, Arc::clone(&seen)));
                if alpn == b"h2" {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(max_streams)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                }
            });
        }
    });
    (format!("https://127.0.0.1:{}/v1", addr.port()), seen)
}

fn config(api_base: &str, extra: &str) -> String {
    format!(
        "model_list:\n  - model_name: tls\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_key: sk-upstream\n      api_base: {api_base}\n      timeout: 30\n{extra}"
    )
}

/// A gateway in front of `api_base` that trusts the test CA (`ssl_verify: <bundle>`).
async fn gateway_trusting_test_ca(api_base: &str) -> Gateway {
    let ca = fixture("tls-test-ca.pem");
    start_gateway(&config(
        api_base,
        &format!("litellm_settings:\n  ssl_verify: {}\n", ca.display()),
    ))
    .await
}

async fn ask(gw: &Gateway) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "tls", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_past_one_connections_stream_limit_all_go_out_at_once() {
    // 120 requests at once against 80 streams per connection: on one connection at most 80
    // could be in flight, and the rest would wait for them.
    let (base, seen) = start_tls_upstream(80).await;
    let gw = gateway_trusting_test_ca(&base).await;
    // One request first: the gateway learns the host speaks HTTP/2, and every request after
    // would share one connection if there were only one pool.
    seen.hold_until.store(1, Ordering::SeqCst);
    assert_eq!(ask(&gw).await.0, 200);
    seen.hold_until.store(120, Ordering::SeqCst);
    burst(&gw, 120).await;
    assert_eq!(seen.answered.load(Ordering::SeqCst), 121);
    assert_eq!(
        seen.most.load(Ordering::SeqCst),
        120,
        "all 120 requests were in flight at the upstream together"
    );
    // More pools took the requests one pool had no room for, each on one connection of its
    // own: the first request's connection (which found out the host speaks HTTP/2), then
    // one HTTP/2 connection in each pool used. The gateway's two workers each start at a
    // pool of their own and move to the next when it is full: two to four pools.
    let connections = seen.connections.load(Ordering::SeqCst);
    assert!((3..=5).contains(&connections), "{connections} connections");
    gw.stop().await;
}

/// `n` chat requests to `gw` at once; each must succeed.
async fn burst(gw: &Gateway, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let base = gw.base.clone();
            tokio::spawn(async move {
                let r = client()
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&json!({"model": "tls", "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                (status, v)
            })
        })
        .collect();
    for c in calls {
        let (status, v) = c.await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["message"]["content"], "over h2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_to_an_http2_host_waits_for_one_connection_instead_of_opening_one_each() {
    let (base, seen) = start_tls_upstream(100).await;
    let gw = gateway_trusting_test_ca(&base).await;
    // 50 requests at once to a host the gateway has never connected to, all answered only
    // once all 50 are in flight. Without knowing the protocol each would open its own
    // TCP and TLS connection; here the first connects, the others wait for its ALPN answer
    // and share their pool's one HTTP/2 connection. Each of the gateway's two workers
    // starts at a pool of its own, so there are one or two such pools.
    seen.hold_until.store(50, Ordering::SeqCst);
    seen.handshake_delay_ms.store(300, Ordering::SeqCst);
    burst(&gw, 50).await;
    assert_eq!(seen.most.load(Ordering::SeqCst), 50);
    let first = seen.connections.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&first),
        "the first request's connection and one HTTP/2 connection per worker's pool: {first}"
    );
    // A second burst reuses them (a worker that sent nothing the first time may add its
    // pool's one connection).
    burst(&gw, 50).await;
    let second = seen.connections.load(Ordering::SeqCst);
    assert!(second <= 3, "{first} then {second} connections");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_tls_host_gets_a_connection_per_concurrent_request_without_waiting() {
    let (base, seen) = start_tls_upstream_speaking(0, b"http/1.1").await;
    let gw = gateway_trusting_test_ca(&base).await;
    // Answered only once all 20 are in flight: HTTP/1.1 needs 20 connections, and the
    // requests that waited for the first one's ALPN answer then open theirs together.
    seen.hold_until.store(20, Ordering::SeqCst);
    seen.handshake_delay_ms.store(300, Ordering::SeqCst);
    burst(&gw, 20).await;
    assert_eq!(seen.most.load(Ordering::SeqCst), 20);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 20);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_certificates_are_checked_unless_ssl_verify_says_otherwise() {
    let (base, seen) = start_tls_upstream(100).await;
    seen.hold_until.store(1, Ordering::SeqCst);

    // The built-in roots do not know the test CA: the call fails, and says why.
    let gw = start_gateway(&config(&base, "")).await;
    let (status, v) = ask(&gw).await;
    assert!(status >= 500, "{status} {v}");
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(message.contains("certificate"), "{v}");
    gw.stop().await;
    assert_eq!(seen.answered.load(Ordering::SeqCst), 0);

    // A CA bundle from SSL_CERT_FILE (here from environment_variables).
    let ca = fixture("tls-test-ca.pem");
    let gw = start_gateway(&config(
        &base,
        &format!(
            "environment_variables:\n  SSL_CERT_FILE: {}\n",
            ca.display()
        ),
    ))
    .await;
    assert_eq!(ask(&gw).await.0, 200);
    gw.stop().await;

    // ssl_verify: false accepts any certificate.
    let gw = start_gateway(&config(&base, "litellm_settings:\n  ssl_verify: false\n")).await;
    assert_eq!(ask(&gw).await.0, 200);
    gw.stop().await;

    // SSL_VERIFY=False wins over a bundle in the config.
    let gw = start_gateway(&config(
        &base,
        &format!(
            "environment_variables:\n  SSL_VERIFY: \"False\"\nlitellm_settings:\n  ssl_verify: {}\n",
            fixture("tls-test-server.pem").display()
        ),
    ))
    .await;
    assert_eq!(ask(&gw).await.0, 200);
    gw.stop().await;
    assert_eq!(seen.answered.load(Ordering::SeqCst), 3);
}

#[test]
fn a_bundle_that_cannot_be_read_stops_start_up_naming_the_setting() {
    for (bundle, says) in [
        ("/nonexistent/ca.pem".to_owned(), "/nonexistent/ca.pem"),
        (fixture("README.md").display().to_string(), "no certificate"),
    ] {
        let yaml = config(
            "https://127.0.0.1:9/v1",
            &format!("litellm_settings:\n  ssl_verify: {bundle}\n"),
        );
        let loaded = switchyard::config::parse(&yaml, "tls.yaml").unwrap();
        let err = match switchyard::Router::from_config(loaded.config) {
            Ok(_) => panic!("start-up with ssl_verify: {bundle} should fail"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("ssl_verify") && err.contains(says), "{err}");
    }
}

//! OpenTelemetry traces: spans per request and per attempt reach an OTLP collector mock (HTTP
//! protobuf, HTTP JSON and gRPC) with the GenAI attributes, and the W3C trace context goes
//! from the client through the gateway to the provider.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use serde_json::json;
use support::*;

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Got {
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
    status: i32,
    attrs: HashMap<String, Any>,
    service: String,
}

impl Got {
    fn str(&self, k: &str) -> &str {
        match self.attrs.get(k) {
            Some(Any::StringValue(s)) => s,
            other => panic!("{k} is {other:?} on {}", self.name),
        }
    }
    fn int(&self, k: &str) -> i64 {
        match self.attrs.get(k) {
            Some(Any::IntValue(i)) => *i,
            other => panic!("{k} is {other:?} on {}", self.name),
        }
    }
}

#[derive(Default)]
struct Collector {
    spans: Mutex<Vec<Got>>,
    headers: Mutex<Vec<HeaderMap>>,
}

impl Collector {
    fn take(&self, req: ExportTraceServiceRequest) {
        let mut out = self.spans.lock().unwrap();
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone())
                .map(|v| match v {
                    Any::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(Got {
                        name: s.name,
                        kind: s.kind,
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        status: s.status.map_or(0, |st| st.code),
                        attrs: s
                            .attributes
                            .into_iter()
                            .filter_map(|kv| Some((kv.key, kv.value?.value?)))
                            .collect(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An OTLP/HTTP collector: protobuf or JSON bodies at `/v1/traces`.
async fn start_http_collector() -> (String, Arc<Collector>) {
    let c = Arc::new(Collector::default());
    let state = Arc::clone(&c);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let c = Arc::clone(&state);
            async move {
                let json = headers
                    .get("content-type")
                    .is_some_and(|v| v.to_str().unwrap().contains("json"));
                let req: ExportTraceServiceRequest = if json {
                    serde_json::from_slice(&body).unwrap()
                } else {
                    ExportTraceServiceRequest::decode(body).unwrap()
                };
                c.headers.lock().unwrap().push(headers);
                c.take(req);
                let out = ExportTraceServiceResponse::default();
                if json {
                    (
                        [("content-type", "application/json")],
                        serde_json::to_vec(&out).unwrap(),
                    )
                } else {
                    (
                        [("content-type", "application/x-protobuf")],
                        out.encode_to_vec(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), c)
}

struct Grpc(Arc<Collector>);

#[async_trait::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut h = HeaderMap::new();
        for kv in request.metadata().iter() {
            if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
                h.insert(
                    axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                    v.to_str().unwrap().parse().unwrap(),
                );
            }
        }
        self.0.headers.lock().unwrap().push(h);
        self.0.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC collector (HTTP/2 cleartext), served by axum.
async fn start_grpc_collector() -> (String, Arc<Collector>) {
    let c = Arc::new(Collector::default());
    let app = axum::Router::new().route_service(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        TraceServiceServer::new(Grpc(Arc::clone(&c))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), c)
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn otel_config(upstream: &Upstream, env: &str) -> String {
    config_for(
        upstream,
        &format!(
            "environment_variables:\n{env}  OTEL_SERVICE_NAME: gateway-under-test\nlitellm_settings:\n  callbacks: [\"otel\"]\n  num_retries: 1\n"
        ),
    )
}

/// Sends one plain chat call carrying a client trace context, one stream and one failing
/// call; stops the gateway (which exports every span). Returns the parent span id the
/// provider was sent for the plain call.
async fn traffic(upstream: &Upstream, gw: Gateway) -> String {
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .header("tracestate", "vendor=1")
        .json(
            &json!({"model": "echo", "max_tokens": 50, "temperature": 0.5,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = upstream.last();
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "echo", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "status-500", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    gw.stop().await;
    // Upstream got the client's trace, with the attempt's span as the parent.
    let tp = sent.headers["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[1], CLIENT_TRACE);
    assert_ne!(parts[2], CLIENT_SPAN);
    assert_eq!(sent.headers["tracestate"], "vendor=1");
    parts[2].to_owned()
}

fn check(spans: &[Got], upstream_parent: &str) {
    let find = |pred: &dyn Fn(&Got) -> bool, what: &str| -> Got {
        let found: Vec<&Got> = spans.iter().filter(|s| pred(s)).collect();
        assert_eq!(found.len(), 1, "{what}: {spans:#?}");
        found[0].clone()
    };
    // The plain call: a server span, the child of the client's, and one client span.
    let req = find(
        &|s| s.trace_id == CLIENT_TRACE && s.kind == SpanKind::Server as i32,
        "request span",
    );
    assert_eq!(req.parent, CLIENT_SPAN);
    assert_eq!(req.name, "chat echo");
    assert_eq!(req.service, "gateway-under-test");
    assert_eq!(req.str("gen_ai.operation.name"), "chat");
    assert_eq!(req.str("gen_ai.request.model"), "echo");
    assert_eq!(req.str("gen_ai.provider.name"), "openai");
    assert_eq!(req.str("gen_ai.response.model"), "echo");
    assert_eq!(req.int("gen_ai.request.max_tokens"), 50);
    assert_eq!(
        req.attrs.get("gen_ai.request.temperature"),
        Some(&Any::DoubleValue(0.5))
    );
    assert_eq!(req.int("gen_ai.usage.input_tokens"), 9);
    assert_eq!(req.int("gen_ai.usage.output_tokens"), 3);
    assert_eq!(req.int("gen_ai.usage.cache_read.input_tokens"), 4);
    assert_eq!(req.int("http.response.status_code"), 200);
    assert_eq!(req.str("http.route"), "/chat/completions");
    assert!(!req.str("switchyard.call_id").is_empty());
    // Messages and answer, as LiteLLM's spans carry them by default.
    let input: serde_json::Value = serde_json::from_str(req.str("gen_ai.input.messages")).unwrap();
    assert_eq!(input, json!([{"role": "user", "content": "hi"}]));
    let output: serde_json::Value =
        serde_json::from_str(req.str("gen_ai.output.messages")).unwrap();
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["finish_reason"], "stop");
    assert!(output[0]["content"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(req.status, StatusCode::Ok as i32);
    let attempt = find(
        &|s| s.trace_id == CLIENT_TRACE && s.kind == SpanKind::Client as i32,
        "attempt span",
    );
    assert_eq!(attempt.parent, req.span_id);
    assert_eq!(attempt.span_id, upstream_parent);
    assert_eq!(attempt.name, "chat echo");
    assert_eq!(attempt.str("gen_ai.provider.name"), "openai");
    assert_eq!(attempt.str("gen_ai.request.model"), "echo");
    assert_eq!(attempt.str("server.address"), "127.0.0.1");
    assert_eq!(attempt.int("switchyard.retry"), 0);
    assert_eq!(attempt.int("gen_ai.usage.input_tokens"), 9);

    // The stream: its spans end when it does, with its usage.
    let stream = find(
        &|s| {
            s.kind == SpanKind::Server as i32
                && s.attrs.get("gen_ai.request.stream") == Some(&Any::BoolValue(true))
        },
        "stream span",
    );
    assert_ne!(stream.trace_id, CLIENT_TRACE);
    assert_eq!(stream.parent, "");
    assert_eq!(stream.int("gen_ai.usage.output_tokens"), 3);
    let stream_attempt = find(
        &|s| s.trace_id == stream.trace_id && s.kind == SpanKind::Client as i32,
        "stream attempt",
    );
    assert_eq!(stream_attempt.int("gen_ai.usage.output_tokens"), 3);

    // The failure: two attempts (one retry), both errors, and the request an error.
    let failed = find(
        &|s| s.kind == SpanKind::Server as i32 && s.name == "chat status-500",
        "failed request",
    );
    assert_eq!(failed.status, StatusCode::Error as i32);
    assert_eq!(failed.int("http.response.status_code"), 500);
    assert!(!failed.str("error.type").is_empty());
    let mut attempts: Vec<Got> = spans
        .iter()
        .filter(|s| s.trace_id == failed.trace_id && s.kind == SpanKind::Client as i32)
        .cloned()
        .collect();
    attempts.sort_by_key(|s| s.int("switchyard.retry"));
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a.int("switchyard.retry"), i as i64);
        assert_eq!(a.status, StatusCode::Error as i32);
        assert_eq!(a.int("http.response.status_code"), 500);
        assert_eq!(a.parent, failed.span_id);
    }
}

/// Runs the traffic through a gateway exporting to `collector` with `env` (which names
/// `{collector}`), checks the spans, and returns the headers each export carried.
async fn exported(grpc: bool, env: &str) -> Vec<HeaderMap> {
    let upstream = start_upstream().await;
    let (collector, got) = if grpc {
        start_grpc_collector().await
    } else {
        start_http_collector().await
    };
    let gw = start_gateway(&otel_config(
        &upstream,
        &env.replace("{collector}", &collector),
    ))
    .await;
    let parent = traffic(&upstream, gw).await;
    check(&got.spans(), &parent);
    let headers = got.headers.lock().unwrap().clone();
    assert!(!headers.is_empty());
    headers
}

#[tokio::test]
async fn spans_reach_an_otlp_http_collector_with_genai_attributes() {
    let headers = exported(
        false,
        "  OTEL_EXPORTER: otlp_http\n  OTEL_ENDPOINT: {collector}\n  OTEL_HEADERS: api-key=collector-secret\n",
    )
    .await;
    assert!(headers.iter().all(|h| h["api-key"] == "collector-secret"));
    assert!(headers
        .iter()
        .all(|h| h["content-type"] == "application/x-protobuf"));
}

#[tokio::test]
async fn spans_reach_an_otlp_http_json_collector() {
    let headers = exported(
        false,
        "  OTEL_EXPORTER_OTLP_PROTOCOL: http/json\n  OTEL_EXPORTER_OTLP_ENDPOINT: {collector}\n",
    )
    .await;
    assert!(headers
        .iter()
        .all(|h| h["content-type"] == "application/json"));
}

#[tokio::test]
async fn spans_reach_an_otlp_grpc_collector() {
    let headers = exported(
        true,
        "  OTEL_EXPORTER: otlp_grpc\n  OTEL_ENDPOINT: {collector}\n  OTEL_HEADERS: api-key=grpc-secret\n",
    )
    .await;
    assert!(headers.iter().all(|h| h["api-key"] == "grpc-secret"));
}

#[tokio::test]
async fn without_otel_the_client_trace_context_is_passed_on_unchanged() {
    let upstream = start_upstream().await;
    let gw = start_gateway(&config_for(&upstream, "")).await;
    let tp = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("traceparent", &tp)
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(upstream.last().headers["traceparent"], tp.as_str());
    assert!(upstream.last().headers.get("tracestate").is_none());
    // A request without one sends none.
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(upstream.last().headers.get("traceparent").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn message_logging_off_keeps_messages_out_of_spans() {
    let upstream = start_upstream().await;
    let (collector, got) = start_http_collector().await;
    let yaml = otel_config(
        &upstream,
        &format!("  OTEL_EXPORTER: otlp_http\n  OTEL_ENDPOINT: {collector}\n"),
    ) + "callback_settings:\n  otel:\n    message_logging: false\n";
    let gw = start_gateway(&yaml).await;
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "secret plans"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
    let spans = got.spans();
    let req = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a request span");
    assert_eq!(req.int("gen_ai.usage.input_tokens"), 9);
    assert!(spans
        .iter()
        .all(|s| !s.attrs.contains_key("gen_ai.input.messages")
            && !s.attrs.contains_key("gen_ai.output.messages")));
}

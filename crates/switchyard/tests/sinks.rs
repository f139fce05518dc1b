//! Log sinks: the generic webhook receives every record exactly once across a graceful
//! shutdown; a failing sink loses only its own records, counted; the file sink writes JSONL.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use support::*;

#[derive(Default)]
struct Collector {
    records: Mutex<Vec<Value>>,
    auth: Mutex<Vec<String>>,
}

/// A log collector on 127.0.0.1: `/ok` keeps what it is sent, `/fail` answers 500.
async fn collector() -> (String, Arc<Collector>) {
    let c = Arc::new(Collector::default());
    let keep = Arc::clone(&c);
    let alerts = Arc::clone(&c);
    let app = axum::Router::new()
        .route(
            "/alert",
            post(move |body: axum::body::Bytes| {
                let c = Arc::clone(&alerts);
                async move {
                    let one: Value = serde_json::from_slice(&body).unwrap();
                    c.records.lock().unwrap().push(one);
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/ok",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let c = Arc::clone(&keep);
                async move {
                    let batch: Vec<Value> = serde_json::from_slice(&body).unwrap();
                    c.records.lock().unwrap().extend(batch);
                    if let Some(a) = headers.get("authorization") {
                        c.auth.lock().unwrap().push(a.to_str().unwrap().to_owned());
                    }
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), c)
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_every_record_once_across_shutdown() {
    let up = start_upstream().await;
    let (base, c) = collector().await;
    let extra = format!(
        "environment_variables:\n  GENERIC_LOGGER_ENDPOINT: {base}/ok\n  GENERIC_LOGGER_HEADERS: authorization=Bearer sink-token\nlitellm_settings:\n  success_callback: [\"generic_api\"]\n  failure_callback: [\"generic_api\"]\n"
    );
    let gw = start_gateway(&config_for(&up, &extra)).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let model = if i % 4 == 0 { "status-500" } else { "echo" };
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello(model))
            .send()
            .await
            .unwrap();
        ids.push(
            r.headers()["x-litellm-call-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Shutdown delivers what is still queued.
    gw.stop().await;
    let records = c.records.lock().unwrap().clone();
    assert_eq!(records.len(), 40, "every record, once");
    let mut got: Vec<String> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    let failed = records.iter().filter(|r| r["status"] == "failure").count();
    assert_eq!(failed, 10);
    let ok = records.iter().find(|r| r["status"] == "success").unwrap();
    assert_eq!(ok["model_group"], "echo");
    assert_eq!(ok["call_type"], "acompletion");
    assert_eq!(ok["total_tokens"], 12);
    assert_eq!(ok["metadata"]["usage_object"]["prompt_tokens"], 9);
    assert_eq!(
        ok["messages"][0]["content"], "hi",
        "messages are logged by default"
    );
    let bad = records.iter().find(|r| r["status"] == "failure").unwrap();
    assert!(bad["error_str"].as_str().unwrap().len() > 2);
    assert!(c
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer sink-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_answers_are_logged_unless_turned_off() {
    let up = start_upstream().await;
    for off in [false, true] {
        let (base, c) = collector().await;
        let extra = format!(
            "environment_variables:\n  GENERIC_LOGGER_ENDPOINT: {base}/ok\nlitellm_settings:\n  callbacks: [\"generic_api\"]\n  turn_off_message_logging: {off}\n"
        );
        let gw = start_gateway(&config_for(&up, &extra)).await;
        let plain: Value = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello("echo"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut stream = hello("echo");
        stream["stream"] = json!(true);
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&stream)
            .send()
            .await
            .unwrap();
        let streamed = r.text().await.unwrap();
        assert!(streamed.contains("data: [DONE]"));
        let emb = client()
            .post(format!("{}/v1/embeddings", gw.base))
            .json(&json!({"model": "echo", "input": ["one", "two"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(emb.status(), 200);
        gw.stop().await;
        let records = c.records.lock().unwrap().clone();
        assert_eq!(records.len(), 3);
        if off {
            assert!(
                records
                    .iter()
                    .all(|r| r["messages"].is_null() && r["response"].is_null()),
                "{records:?}"
            );
            continue;
        }
        let of = |call_type: &str, stream: bool| {
            records
                .iter()
                .find(|r| r["call_type"] == call_type && r["stream"] == stream)
                .unwrap_or_else(|| panic!("no {call_type} record in {records:?}"))
        };
        let p = of("acompletion", false);
        assert_eq!(p["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!(p["response"], plain);
        let st = of("acompletion", true);
        assert_eq!(st["messages"][0]["content"], "hi");
        // What the client was streamed, put together.
        let sent: String = sse_data(&streamed)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert!(!sent.is_empty());
        assert_eq!(st["response"]["choices"][0]["message"]["content"], sent);
        assert_eq!(st["response"]["choices"][0]["finish_reason"], "stop");
        let e = of("aembedding", false);
        assert_eq!(e["messages"], json!(["one", "two"]));
        assert_eq!(e["response"]["object"], "list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_costs_only_its_records() {
    let up = start_upstream().await;
    let (base, _c) = collector().await;
    let dir = std::env::temp_dir().join(format!("switchyard-sink-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("requests.jsonl");
    let extra = format!(
        "environment_variables:\n  GENERIC_LOGGER_ENDPOINT: {base}/fail\n  SWITCHYARD_LOG_FILE: {}\nlitellm_settings:\n  callbacks: [\"generic_api\", \"file\"]\n",
        file.display()
    );
    let gw = start_gateway(&config_for(&up, &extra)).await;
    for _ in 0..5 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello("echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "a failing sink fails no request");
    }
    // Four attempts with backoff (0.2 s, 0.8 s, 3.2 s), then the batch is dropped and counted.
    let mut dropped = 0.0;
    for _ in 0..80 {
        let text = client()
            .get(format!("{}/metrics", gw.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        dropped = text
            .lines()
            .find(|l| l.starts_with("switchyard_sink_dropped_records{sink=\"generic_api\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if dropped >= 5.0 {
            assert!(
                text.contains("switchyard_sink_delivered_records{sink=\"file\"} 5"),
                "{text}"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(dropped, 5.0);
    gw.stop().await;
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 5);
    for l in lines.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["status"], "success");
    }
}

#[tokio::test]
async fn deployment_state_retries_and_fallbacks_are_metrics() {
    let up = start_upstream().await;
    // Two deployments in `pair`: one rate-limited (cools down at once), one healthy.
    let models = format!(
        "  - model_name: pair\n    litellm_params:\n      model: openai/status-429\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: limited\n  - model_name: pair\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: healthy\n",
        b = up.base()
    );
    let extra = "router_settings:\n  num_retries: 2\n  fallbacks: [{\"status-500\": [\"echo\"]}]\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    let post = |model: &'static str| {
        let url = format!("{}/v1/chat/completions", gw.base);
        async move { client().post(url).json(&hello(model)).send().await.unwrap() }
    };
    // Until the limited deployment is picked once, it is not cooling down.
    for _ in 0..20 {
        assert_eq!(post("pair").await.status(), 200);
    }
    assert_eq!(
        post("status-500").await.status(),
        200,
        "answered by the fallback"
    );
    let text = client()
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert!(line("litellm_deployment_state{model_id=\"limited\"").ends_with(" 2"));
    assert!(line("litellm_deployment_state{model_id=\"healthy\"").ends_with(" 0"));
    assert!(line("switchyard_attempted_retries_total{model_group=\"pair\"}").ends_with(" 1"));
    assert!(line(
        "litellm_deployment_successful_fallbacks_total{requested_model=\"status-500\",fallback_model=\"echo\"}"
    )
    .ends_with(" 1"));
}

/// The shipped Grafana dashboard (deploy/grafana) asks only for metrics the gateway registers.
#[test]
fn the_dashboard_matches_the_metrics() {
    // Every name given to `registry.register` (the families print only once they have series).
    let source = include_str!("../../switchyard-server/src/telemetry.rs");
    let registered: Vec<&str> = source
        .split('"')
        .filter(|w| {
            (w.starts_with("litellm_") || w.starts_with("switchyard_"))
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    assert!(registered.len() > 20, "{registered:?}");
    let dashboard: Value = serde_json::from_str(include_str!(
        "../../../deploy/grafana/switchyard-dashboard.json"
    ))
    .unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !(word.starts_with("litellm_") || word.starts_with("switchyard_")) {
                    continue;
                }
                let base = ["_bucket", "_total", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .filter(|b| registered.contains(b))
                    .unwrap_or(word);
                assert!(
                    registered.contains(&base),
                    "the dashboard queries `{word}`, which /metrics does not export"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_and_slow_answer_alerts() {
    let up = start_upstream().await;
    let (base, c) = collector().await;
    let models = format!(
        "  - model_name: pair\n    litellm_params:\n      model: openai/status-429\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: limited\n  - model_name: pair\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: healthy\n  - model_name: sluggish\n    litellm_params:\n      model: openai/slow\n      api_base: {b}\n      api_key: k\n      timeout: 20\n    model_info:\n      id: sluggish-1\n",
        b = up.base()
    );
    let extra = format!(
        "environment_variables:\n  WEBHOOK_URL: {base}/alert\ngeneral_settings:\n  alerting: [\"webhook\"]\n  alerting_threshold: 1\n  alert_types: [\"cooldown_deployment\", \"llm_too_slow\"]\nrouter_settings:\n  num_retries: 2\n"
    );
    let gw = start_gateway(&config_with_models(&up, &models, &extra)).await;
    let post = |model: &'static str| {
        let url = format!("{}/v1/chat/completions", gw.base);
        async move {
            client()
                .post(url)
                .json(&hello(model))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..20 {
        assert_eq!(post("pair").await, 200);
    }
    assert_eq!(
        post("sluggish").await,
        200,
        "five seconds, under its own timeout"
    );
    assert_eq!(post("sluggish").await, 200);
    let mut got = Vec::new();
    for _ in 0..50 {
        got = c.records.lock().unwrap().clone();
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cooldowns: Vec<&Value> = got
        .iter()
        .filter(|a| a["event"] == "cooldown_deployment")
        .collect();
    assert_eq!(cooldowns.len(), 1, "{got:?}");
    assert_eq!(cooldowns[0]["model_id"], "limited");
    assert_eq!(cooldowns[0]["exception_status"], 429);
    let slow: Vec<&Value> = got
        .iter()
        .filter(|a| a["event"] == "llm_too_slow")
        .collect();
    assert_eq!(slow.len(), 1, "deduplicated per deployment: {got:?}");
    assert_eq!(slow[0]["model_id"], "sluggish-1");
    assert!(slow[0]["response_time_seconds"].as_f64().unwrap() > 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_exception_alerts() {
    let up = start_upstream().await;
    let (base, c) = collector().await;
    let extra = format!(
        "environment_variables:\n  WEBHOOK_URL: {base}/alert\ngeneral_settings:\n  alerting: [\"webhook\"]\n  alert_types: [\"outage_alerts\", \"llm_exceptions\"]\n  alerting_args:\n    minor_outage_alert_threshold: 3\n    major_outage_alert_threshold: 6\n    outage_alert_ttl: 60\nrouter_settings:\n  num_retries: 0\n  disable_cooldowns: true\n"
    );
    let gw = start_gateway(&config_for(&up, &extra)).await;
    for _ in 0..7 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello("status-503"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
    }
    // A client's mistake is no outage and no LLM exception.
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "echo", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for _ in 0..50 {
        if c.records.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Time for anything more that would wrongly follow.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = c.records.lock().unwrap().clone();
    let outages: Vec<&Value> = got
        .iter()
        .filter(|a| a["event"] == "outage_alerts")
        .collect();
    assert_eq!(outages.len(), 2, "a minor then a major outage: {got:?}");
    assert_eq!(outages[0]["severity"], "minor");
    assert_eq!(outages[0]["failures"], 3);
    assert_eq!(outages[1]["severity"], "major");
    assert_eq!(outages[1]["failures"], 6);
    assert_eq!(outages[1]["model_group"], "status-503");
    assert_eq!(outages[1]["exception_status"], 503);
    let exceptions: Vec<&Value> = got
        .iter()
        .filter(|a| a["event"] == "llm_exceptions")
        .collect();
    assert_eq!(exceptions.len(), 1, "deduplicated per deployment: {got:?}");
    assert_eq!(exceptions[0]["exception_status"], 503);
    assert_eq!(got.len(), 3, "nothing else: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langfuse_gets_a_trace_and_generation_per_request() {
    let up = start_upstream().await;
    // Langfuse's ingestion API: basic auth, a batch of typed events.
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let keep = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/api/public/ingestion",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let keep = Arc::clone(&keep);
            async move {
                let auth = headers["authorization"].to_str().unwrap().to_owned();
                keep.lock()
                    .unwrap()
                    .push((auth, serde_json::from_slice(&body).unwrap()));
                StatusCode::MULTI_STATUS
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let extra = format!(
        "environment_variables:\n  LANGFUSE_PUBLIC_KEY: pk-lf-1\n  LANGFUSE_SECRET_KEY: sk-lf-2\n  LANGFUSE_HOST: http://{addr}\nlitellm_settings:\n  success_callback: [\"langfuse\"]\n"
    );
    let gw = start_gateway(&config_for(&up, &extra)).await;
    for _ in 0..3 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello("echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.stop().await;
    let got = got.lock().unwrap().clone();
    // base64("pk-lf-1:sk-lf-2")
    assert!(got.iter().all(|(a, _)| a == "Basic cGstbGYtMTpzay1sZi0y"));
    let events: Vec<Value> = got
        .iter()
        .flat_map(|(_, b)| b["batch"].as_array().unwrap().clone())
        .collect();
    assert_eq!(events.len(), 6);
    let gens: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "generation-create")
        .collect();
    assert_eq!(gens.len(), 3);
    let g = &gens[0]["body"];
    assert_eq!(g["model"], "echo");
    assert_eq!(g["usage"]["input"], 9);
    assert_eq!(g["usage"]["output"], 3);
    assert!(g["startTime"].as_str().unwrap().ends_with('Z'));
    let traces = events
        .iter()
        .filter(|e| e["type"] == "trace-create")
        .count();
    assert_eq!(traces, 3);
}

/// A mock of S3's `PutObject`: it recomputes the SigV4 signature (service `s3`, with the
/// `x-amz-content-sha256` header S3 requires) and keeps what it is sent.
async fn s3_mock() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let objects: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let keep = Arc::clone(&objects);
    let app = axum::Router::new().route(
        "/{*key}",
        axum::routing::put(
            move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let keep = Arc::clone(&keep);
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let auth = h("authorization");
                    let field = |name: &str| {
                        auth.split([',', ' '])
                            .find_map(|p| p.trim().strip_prefix(&format!("{name}=")))
                            .unwrap_or("")
                            .to_owned()
                    };
                    if !field("Credential").contains("/eu-west-1/s3/aws4_request")
                        || h("x-amz-content-sha256").len() != 64
                    {
                        return StatusCode::FORBIDDEN;
                    }
                    let format = time::macros::format_description!(
                        "[year][month][day]T[hour][minute][second]Z"
                    );
                    let t = time::PrimitiveDateTime::parse(h("x-amz-date"), format)
                        .unwrap()
                        .assume_utc();
                    let when = std::time::SystemTime::UNIX_EPOCH
                        + std::time::Duration::from_secs(t.unix_timestamp() as u64);
                    let signed = field("SignedHeaders");
                    let list: Vec<(&str, &str)> = signed
                        .split(';')
                        .filter(|n| *n != "x-amz-date" && *n != "x-amz-content-sha256")
                        .map(|n| (n, h(n)))
                        .collect();
                    let identity = aws_credential_types::Credentials::new(
                        "AKIDS3",
                        "s3-secret",
                        None,
                        None,
                        "mock",
                    )
                    .into();
                    let mut settings = aws_sigv4::http_request::SigningSettings::default();
                    settings.payload_checksum_kind =
                        aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
                    let params = aws_sigv4::sign::v4::SigningParams::builder()
                        .identity(&identity)
                        .region("eu-west-1")
                        .name("s3")
                        .time(when)
                        .settings(settings)
                        .build()
                        .unwrap()
                        .into();
                    let url = format!("http://{}{}", h("host"), uri.path());
                    let req = aws_sigv4::http_request::SignableRequest::new(
                        "PUT",
                        &url,
                        list.into_iter(),
                        aws_sigv4::http_request::SignableBody::Bytes(&body),
                    )
                    .unwrap();
                    let (_, expected) = aws_sigv4::http_request::sign(req, &params)
                        .unwrap()
                        .into_parts();
                    if field("Signature") != expected {
                        return StatusCode::FORBIDDEN;
                    }
                    keep.lock().unwrap().push((
                        uri.path().to_owned(),
                        String::from_utf8(body.to_vec()).unwrap(),
                    ));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), objects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_gets_jsonl_objects_signed_with_sigv4() {
    let up = start_upstream().await;
    let (endpoint, objects) = s3_mock().await;
    let extra = format!(
        "environment_variables:\n  S3_SECRET: s3-secret\nlitellm_settings:\n  callbacks: [\"s3\"]\n  s3_callback_params:\n    s3_bucket_name: logs\n    s3_region_name: eu-west-1\n    s3_endpoint_url: {endpoint}\n    s3_path: gateway\n    s3_aws_access_key_id: AKIDS3\n    s3_aws_secret_access_key: os.environ/S3_SECRET\n"
    );
    let gw = start_gateway(&config_for(&up, &extra)).await;
    for _ in 0..4 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&hello("echo"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.stop().await;
    let objects = objects.lock().unwrap().clone();
    assert!(!objects.is_empty(), "the signature was accepted");
    let lines: Vec<Value> = objects
        .iter()
        .flat_map(|(_, body)| {
            body.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(objects
        .iter()
        .all(|(path, _)| path.starts_with("/logs/gateway/") && path.ends_with(".jsonl")));
    assert!(lines.iter().all(|l| l["model_group"] == "echo"));
}

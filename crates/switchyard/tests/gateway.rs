//! The gateway on a real socket against a mock OpenAI upstream on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::*;

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn msgs() -> Value {
    json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    let err = &body["error"];
    assert!(err["message"].is_string(), "OpenAI error shape: {body}");
    assert!(err["type"].is_string(), "OpenAI error shape: {body}");
    assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "{body}"
    );
    (status, body)
}

#[tokio::test]
async fn non_stream_completion_passes_through_with_headers() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = post(
        &gw,
        json!({
            "model": "echo", "messages": msgs(), "n": 1, "logprobs": false, "stop": ["END"],
            "seed": 42, "user": "end-user-1", "temperature": 0.3,
            "response_format": {"type": "json_object"}, "vendor_extra": {"keep": true},
            "metadata": {"tags": ["t1"]}, "num_retries": 0
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    let call_id = h["x-litellm-call-id"].to_str().unwrap().to_owned();
    assert_eq!(call_id.len(), 36, "a uuid");
    assert!(!h["x-litellm-model-id"].is_empty());
    assert_eq!(h["x-litellm-model-group"], "echo");
    assert_eq!(h["x-litellm-model-api-base"], up.base().as_str());
    assert_eq!(h["llm_provider-x-request-id"], "req-upstream-1");
    assert_eq!(h["llm_provider-x-ratelimit-remaining-requests"], "99");
    assert!(h.contains_key("x-litellm-response-duration-ms"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo");
    assert_eq!(body["usage"]["total_tokens"], 12);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(
        body["service_tier"], "default",
        "unknown response fields pass through"
    );

    let seen = up.last();
    assert_eq!(seen.headers["authorization"], "Bearer sk-upstream-secret");
    let b = &seen.body;
    assert_eq!(b["model"], "echo");
    assert_eq!(b["messages"], msgs());
    for (k, v) in [
        ("n", json!(1)),
        ("logprobs", json!(false)),
        ("stop", json!(["END"])),
        ("seed", json!(42)),
        ("user", json!("end-user-1")),
        ("temperature", json!(0.3)),
        ("response_format", json!({"type": "json_object"})),
        ("vendor_extra", json!({"keep": true})),
    ] {
        assert_eq!(b[k], v, "{k} passes through");
    }
    assert!(
        b.get("metadata").is_none() && b.get("num_retries").is_none(),
        "gateway params are not forwarded: {b}"
    );
}

#[tokio::test]
async fn tool_calls_pass_through() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let resp = post(&gw, json!({"model": "tools", "messages": msgs(), "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": false})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(up.last().body["tools"], tools);
    assert_eq!(
        up.last().body["tool_choice"]["function"]["name"],
        "get_weather"
    );

    // A tool result turn goes up unchanged too.
    let turn = json!([{"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]);
    let resp = post(
        &gw,
        json!({"model": "echo", "messages": turn, "tools": tools}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().body["messages"], turn);

    // Streamed tool calls arrive as argument deltas.
    let resp = post(
        &gw,
        json!({"model": "tools", "messages": msgs(), "tools": tools, "stream": true}),
    )
    .await;
    let text = resp.text().await.unwrap();
    let args: String = sse_data(&text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(args, "{\"city\":\"Paris\"}");
}

#[tokio::test]
async fn streams_arrive_chunk_by_chunk_with_usage_when_asked() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;

    // Without include_usage: content chunks and [DONE], no usage chunk.
    let resp = post(
        &gw,
        json!({"model": "echo", "messages": msgs(), "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(resp.headers().contains_key("x-litellm-call-id"));
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "abc");
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "usage chunk kept from the client"
    );
    // The gateway asked for usage anyway, to price the stream.
    assert_eq!(up.last().body["stream_options"]["include_usage"], true);

    // With include_usage: the option goes upstream and the final chunk carries usage.
    let resp = post(
        &gw,
        json!({"model": "echo", "messages": msgs(), "stream": true,
        "stream_options": {"include_usage": true}}),
    )
    .await;
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert_eq!(up.last().body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn stream_bytes_are_forwarded_before_the_upstream_finishes() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = post(
        &gw,
        json!({"model": "gated", "messages": msgs(), "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    // The upstream holds the rest of its stream until the gate opens: the first chunk can
    // only reach us if the gateway forwards without buffering.
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("first chunk was buffered by the gateway")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"content\":\"a\""));
    up.state.gate.notify_one();
    let mut rest = Vec::new();
    while let Some(b) = body.next().await {
        rest.extend_from_slice(&b.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_an_error_event() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = post(
        &gw,
        json!({"model": "cut", "messages": msgs(), "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before it was complete"),
        "{last}"
    );
    assert_eq!(last["error"]["code"], "502");
}

#[tokio::test]
async fn mock_deployments_answer_stream_and_not() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = post(&gw, json!({"model": "mock", "messages": msgs()})).await;
    let id = resp.headers()["x-litellm-call-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hi from mock");
    assert_eq!(body["id"], format!("chatcmpl-{id}"));
    let resp = post(
        &gw,
        json!({"model": "mock", "messages": msgs(), "stream": true,
        "stream_options": {"include_usage": true}}),
    )
    .await;
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    // A request-level mock_response overrides the deployment and never calls upstream.
    let before = up.count();
    let resp = post(
        &gw,
        json!({"model": "echo", "messages": msgs(), "mock_response": "overridden"}),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "overridden");
    assert_eq!(up.count(), before);
}

#[tokio::test]
async fn client_errors_are_openai_shaped_4xx() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(
        &up,
        "general_settings:\n  max_request_size_mb: 0.01\n",
    ))
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", gw.base);

    let (s, b) = error_of(c.post(&url).body("{not json").send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid request body"),
        "{b}"
    );

    let (s, b) = error_of(c.post(&url).body("").send().await.unwrap()).await;
    assert_eq!(s, 400, "{b}");

    let (s, b) = error_of(post(&gw, json!({"model": "echo"})).await).await;
    assert_eq!(s, 400);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("messages"),
        "{b}"
    );

    let (s, b) = error_of(post(&gw, json!({"messages": msgs()})).await).await;
    assert_eq!(s, 400);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("model"),
        "{b}"
    );

    let (s, b) = error_of(
        post(
            &gw,
            json!({"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "{b}");

    let (s, b) = error_of(post(&gw, json!({"model": "gpt-nope", "messages": msgs()})).await).await;
    assert_eq!(s, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/models"),
        "{b}"
    );
    assert_eq!(b["error"]["param"], "model");

    let (s, b) = error_of(
        post(
            &gw,
            json!({"model": "echo", "messages": msgs(), "timeout": "soon"}),
        )
        .await,
    )
    .await;
    assert_eq!((s, b["error"]["param"].as_str()), (400, Some("timeout")));

    let big = "x".repeat(20_000);
    let (s, b) = error_of(
        post(
            &gw,
            json!({"model": "echo", "messages": [{"role": "user", "content": big}]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 413, "{b}");

    let (s, _) = error_of(
        c.get(format!("{}/v1/nothing", gw.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = error_of(c.get(&url).send().await.unwrap()).await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn upstream_errors_keep_status_and_message() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    for code in [400u16, 401, 403, 404, 408, 422, 429, 500, 502, 503] {
        for stream in [false, true] {
            let resp = post(
                &gw,
                json!({"model": format!("status-{code}"), "messages": msgs(), "stream": stream}),
            )
            .await;
            let retry_after = resp.headers().get("retry-after").cloned();
            let (s, b) = error_of(resp).await;
            assert_eq!(s, code, "status {code} stream {stream}: {b}");
            assert_eq!(b["error"]["message"], format!("upstream says {code}"));
            assert_eq!(b["error"]["type"], "upstream_type");
            assert_eq!(b["error"]["code"], "upstream_code");
            if code == 429 {
                assert_eq!(retry_after.unwrap(), "7");
            }
        }
    }
}

#[tokio::test]
async fn unreachable_malformed_and_slow_upstreams() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let (s, b) = error_of(post(&gw, json!({"model": "down", "messages": msgs()})).await).await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{b}"
    );

    let (s, b) = error_of(post(&gw, json!({"model": "badjson", "messages": msgs()})).await).await;
    assert_eq!(s, 502, "{b}");

    // Deployment timeout is 2 s; the upstream takes 5 s.
    let (s, b) = error_of(post(&gw, json!({"model": "slow", "messages": msgs()})).await).await;
    assert_eq!(s, 408, "{b}");
    // A request-level timeout (body field) applies too, and to the first chunk of a stream.
    let (s, _) = error_of(
        post(
            &gw,
            json!({"model": "slow", "messages": msgs(), "timeout": 0.2, "stream": true}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 408);
    // x-litellm-timeout header.
    let resp = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("x-litellm-timeout", "0.2")
        .json(&json!({"model": "slow", "messages": msgs()}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await.0, 408);
    // A stream with a 0.5 s timeout: its data events (the stream started: a 200).
    let stream_with_timeout = |model: &'static str| {
        let gw = &gw;
        async move {
            let body = json!({"model": model, "messages": msgs(), "stream": true, "timeout": 0.5});
            let resp = post(gw, body).await;
            assert_eq!(resp.status(), 200);
            sse_data(&resp.text().await.unwrap())
        }
    };
    // A stream that stalls after its first chunk ends with an error event.
    let data = stream_with_timeout("slowstream").await;
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "408", "{last}");
    // Chunks 0.2 s apart for a second: every silence is within the 0.5 s timeout, the whole
    // stream is not, and it is not cut.
    let data = stream_with_timeout("tricklestream").await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    assert_eq!(
        data.iter().filter(|d| d.contains("\"t\"")).count(),
        5,
        "{data:?}"
    );
}

#[tokio::test]
async fn auth_with_master_key() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(
        &up,
        "general_settings:\n  master_key: sk-master-1\n",
    ))
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", gw.base);
    let body = json!({"model": "mock", "messages": msgs()});

    let (s, b) = error_of(c.post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["type"], "auth_error");
    let (s, _) = error_of(
        c.post(&url)
            .bearer_auth("sk-wrong")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = error_of(
        c.get(format!("{}/v1/models", gw.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);

    assert_eq!(
        c.post(&url)
            .bearer_auth("sk-master-1")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.post(&url)
            .header("x-api-key", "sk-master-1")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.post(&url)
            .header("x-litellm-api-key", "Bearer sk-master-1")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for path in [
        "/health/liveliness",
        "/health/liveness",
        "/health/readiness",
    ] {
        assert_eq!(
            c.get(format!("{}{path}", gw.base))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path} is public"
        );
    }
}

#[tokio::test]
async fn open_without_master_key() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = client()
        .post(format!("{}/chat/completions", gw.base))
        .json(&json!({"model": "mock", "messages": msgs()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the route without /v1 works too");
}

#[tokio::test]
async fn models_and_health() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "router_settings:\n  model_group_alias: {gpt-4: echo, secret: {model: echo, hidden: true}}\n")).await;
    let c = client();
    for path in ["/v1/models", "/models"] {
        let v: Value = c
            .get(format!("{}{path}", gw.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.first(), Some(&"echo"));
        assert!(ids.contains(&"mock") && ids.contains(&"gpt-4"));
        assert!(!ids.contains(&"secret"));
        assert_eq!(v["data"][0]["object"], "model");
    }
    let m: Value = c
        .get(format!("{}/v1/models/gpt-4", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["id"], "gpt-4");
    assert_eq!(
        c.get(format!("{}/v1/models/none", gw.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The alias routes to its group.
    let resp = post(&gw, json!({"model": "gpt-4", "messages": msgs()})).await;
    assert_eq!(resp.headers()["x-litellm-model-group"], "echo");

    let live: Value = c
        .get(format!("{}/health/liveliness", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live, "I'm alive!");
    let ready: Value = c
        .get(format!("{}/health/readiness", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "connected");
}

#[tokio::test]
async fn azure_style_path_carries_the_model() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let resp = client()
        .post(format!(
            "{}/openai/deployments/echo/chat/completions",
            gw.base
        ))
        .json(&json!({"messages": msgs()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().body["model"], "echo");
}

#[tokio::test]
async fn in_process_shutdown_finishes_an_in_flight_stream() {
    let up = start_upstream().await;
    let mut gw = start_gateway(&config_for(&up, "")).await;
    let resp = post(
        &gw,
        json!({"model": "gated", "messages": msgs(), "stream": true}),
    )
    .await;
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    gw.shutdown.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the stream drains.
    assert!(client()
        .get(format!("{}/health/liveliness", gw.base))
        .send()
        .await
        .is_err());
    up.state.gate.notify_one();
    let mut rest = Vec::new();
    while let Some(b) = body.next().await {
        rest.extend_from_slice(&b.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
    gw.handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn cost_header_and_model_info() {
    let up = start_upstream().await;
    let extra = "  - model_name: priced\n    litellm_params:\n      model: openai/echo\n      api_key: sk-upstream-secret\n      api_base: BASE\n    model_info:\n      id: priced-1\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n      cache_read_input_token_cost: 0.0000005\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: sk-upstream-secret\n      api_base: BASE\n".replace("BASE", &up.base());
    let yaml = config_with_models(&up, &extra, "");
    let gw = start_gateway(&yaml).await;
    // Upstream usage: 9 prompt (4 cached), 3 completion.
    let resp = post(&gw, json!({"model": "priced", "messages": msgs()})).await;
    let cost: f64 = resp.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (cost - (5.0 * 1e-6 + 4.0 * 5e-7 + 3.0 * 2e-6)).abs() < 1e-15,
        "{cost}"
    );
    // A model priced by the shipped table.
    let resp = post(&gw, json!({"model": "gpt-4o", "messages": msgs()})).await;
    let cost: f64 = resp.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0);
    // Unpriced models cost 0.
    let resp = post(&gw, json!({"model": "echo", "messages": msgs()})).await;
    assert_eq!(resp.headers()["x-litellm-response-cost"], "0");

    let info: Value = client()
        .get(format!("{}/model/info", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = info.to_string();
    assert!(
        !text.contains("sk-upstream-secret"),
        "no secrets in /model/info"
    );
    let priced = info["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["model_info"]["id"] == "priced-1")
        .unwrap();
    assert_eq!(priced["model_info"]["input_cost_per_token"], 1e-6);
    assert_eq!(priced["litellm_params"]["model"], "openai/echo");
    let one: Value = client()
        .get(format!(
            "{}/v1/model/info?litellm_model_id=priced-1",
            gw.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    let groups: Value = client()
        .get(format!("{}/model_group/info", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = groups["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["model_group"] == "gpt-4o")
        .unwrap();
    assert_eq!(g["providers"], json!(["openai"]));
    assert!(g["input_cost_per_token"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn token_counter_and_counted_usage() {
    let up = start_upstream().await;
    let extra = "  - model_name: nousage\n    litellm_params:\n      model: openai/nousage\n      api_key: k\n      api_base: BASE\n    model_info:\n      base_model: gpt-4o\n  - model_name: my-4o\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: k\n      api_base: BASE\n".replace("BASE", &up.base());
    let yaml = config_with_models(&up, &extra, "");
    let gw = start_gateway(&yaml).await;
    let c = client();
    let v: Value = c
        .post(format!("{}/utils/token_counter", gw.base))
        .json(&json!({"model": "my-4o", "messages": [{"role": "user", "content": "hello world"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 3 per message + "user" (1) + "hello world" (2) + 3 priming.
    assert_eq!(v["total_tokens"], 9, "{v}");
    assert_eq!(v["model_used"], "gpt-4o");
    assert_eq!(v["tokenizer_type"], "openai_tokenizer");
    let v: Value = c
        .post(format!("{}/utils/token_counter", gw.base))
        .json(&json!({"model": "claude-x", "prompt": "hello world"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total_tokens"], 2);
    assert_eq!(v["tokenizer_type"], "approximation_cl100k_base");
    let (s, _) = error_of(
        c.post(format!("{}/utils/token_counter", gw.base))
            .json(&json!({"model": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);

    // The upstream sends no usage: the gateway counts it and still prices the call
    // (gpt-4o via base_model: prompt 3+1+2 + 3+1+1 + 3 = 14 at $2.50/M, "echo" 1 token at $10/M).
    let resp = post(&gw, json!({"model": "nousage", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]})).await;
    let cost: f64 = resp.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (cost - (14.0 * 2.5e-6 + 1.0 * 10e-6)).abs() < 1e-12,
        "counted usage is priced: {cost}"
    );
}

#[tokio::test]
async fn prometheus_metrics_with_litellm_names() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "general_settings:\n  master_key: sk-m\n")).await;
    let c = client();
    let ok = post_with_key(&gw, "sk-m", json!({"model": "echo", "messages": msgs()})).await;
    assert_eq!(ok.status(), 200);
    let bad = post_with_key(
        &gw,
        "sk-m",
        json!({"model": "status-429", "messages": msgs()}),
    )
    .await;
    assert_eq!(bad.status(), 429);
    let unknown = post_with_key(
        &gw,
        "sk-m",
        json!({"model": "random-name-1234", "messages": msgs()}),
    )
    .await;
    assert_eq!(unknown.status(), 400);
    // Public by default, as LiteLLM's.
    let text = c
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "litellm_proxy_total_requests_metric_total{requested_model=\"echo\",model_group=\"echo\"",
        "status_code=\"200\"",
        "litellm_proxy_failed_requests_metric_total{requested_model=\"status-429\",exception_status=\"429\",exception_class=\"upstream_rate_limited\"} 1",
        "litellm_input_tokens_metric_total{model=\"echo\",model_group=\"echo\",api_provider=\"openai\",end_user=\"\",hashed_api_key=\"\",api_key_alias=\"\",team=\"\",team_alias=\"\",user=\"\"} 9",
        "litellm_output_tokens_metric_total{model=\"echo\",model_group=\"echo\",api_provider=\"openai\",end_user=\"\",hashed_api_key=\"\",api_key_alias=\"\",team=\"\",team_alias=\"\",user=\"\"} 3",
        "switchyard_unpriced_requests_total{model=\"echo\",model_group=\"echo\",api_provider=\"openai\"} 1",
        "litellm_request_total_latency_metric_bucket",
        "litellm_overhead_latency_metric_count{model_group=\"echo\"} 1",
        "litellm_in_flight_requests 0",
        "requested_model=\"other\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(
        !text.contains("random-name-1234"),
        "client-chosen names never become label values"
    );
    let gw2 = start_gateway(&config_for(&up, "general_settings:\n  master_key: sk-m\nlitellm_settings:\n  require_auth_for_metrics_endpoint: true\n")).await;
    assert_eq!(
        c.get(format!("{}/metrics", gw2.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.get(format!("{}/metrics", gw2.base))
            .bearer_auth("sk-m")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn retries_go_to_another_deployment_and_never_retry_client_errors() {
    let up = start_upstream().await;
    let base = up.base();
    let dep = |name: &str, model: &str, id: &str, order: u32| {
        format!("  - model_name: {name}\n    litellm_params:\n      model: openai/{model}\n      api_key: k\n      api_base: {base}\n      order: {order}\n    model_info:\n      id: {id}\n")
    };
    let extra = [
        dep("flaky", "status-503", "flaky-down", 1),
        dep("flaky", "echo", "flaky-up", 2),
        dep("picky", "status-400", "picky-400", 1),
        dep("picky", "echo", "picky-up", 2),
    ]
    .concat();
    let yaml = config_with_models(&up, &extra, "router_settings:\n  num_retries: 2\n");
    let gw = start_gateway(&yaml).await;

    let resp = post(&gw, json!({"model": "flaky", "messages": msgs()})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-retries"], "1");
    assert_eq!(resp.headers()["x-litellm-model-id"], "flaky-up");
    // Streams are retried too while nothing has reached the client.
    let resp = post(
        &gw,
        json!({"model": "flaky", "messages": msgs(), "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-retries"], "1");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    // Attempts share the request, and a failed one undoes what it changed: the retry goes
    // out with its own deployment's model, still asks for usage, and still keeps the usage
    // chunk from this client, which did not ask for it.
    let seen = up.last().body;
    assert_eq!(seen["model"], "echo");
    assert_eq!(seen["stream_options"]["include_usage"], true);
    let usage_chunks = sse_data(&text)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter(|d| !serde_json::from_str::<Value>(d).unwrap()["usage"].is_null())
        .count();
    assert_eq!(usage_chunks, 0, "{text}");

    // A 400 is the client's fault: never retried.
    let before = up.count();
    let (s, _) = error_of(post(&gw, json!({"model": "picky", "messages": msgs()})).await).await;
    assert_eq!(s, 400);
    assert_eq!(up.count(), before + 1);

    // The request can turn retries off.
    let (s, _) = error_of(
        post(
            &gw,
            json!({"model": "flaky", "messages": msgs(), "num_retries": 0}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 503);
    let ok = post(&gw, json!({"model": "echo", "messages": msgs()})).await;
    assert_eq!(ok.headers()["x-litellm-attempted-retries"], "0");
}

#[tokio::test]
async fn a_request_goes_upstream_as_the_client_sent_it() {
    let up = start_upstream().await;
    let base = up.base();
    let group = format!(
        "  - model_name: group\n    litellm_params:\n      model: openai/echo\n      api_key: k\n      api_base: {base}\n"
    );
    let gw = start_gateway(&config_with_models(&up, &group, "")).await;
    let send = |body: &'static str| {
        client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Written as no serialiser would: members out of order, spaces, an escape, `0.50`, an
    // unknown field; plus the gateway's own fields, which never go upstream.
    let resp = send(
        r#"{ "messages": [{"role":"user","content":"hi \u00e9 \"q\""}], "model" : "group",
            "temperature": 0.50, "vendor_field": {"keep": [1, 2.0]}, "metadata": {"tags": ["t"]},
            "num_retries": 1, "fallbacks": ["mock"] }"#,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        up.last_chat_body(),
        r#"{"model":"echo","messages": [{"role":"user","content":"hi \u00e9 \"q\""}],"temperature": 0.50,"vendor_field": {"keep": [1, 2.0]}}"#
    );
    // A stream asks the provider for usage (to price it) though the client did not.
    let resp =
        send(r#"{"model":"group","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(
        up.last_chat_body(),
        r#"{"model":"echo","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#
    );
}

#[tokio::test]
async fn fallbacks_by_error_class() {
    let up = start_upstream().await;
    let settings = "router_settings:\n  fallbacks: [{\"status-503\": [\"status-500\", \"echo\"]}, {\"status-400\": [\"echo\"]}]\n  context_window_fallbacks: [{\"ctxlen\": [\"mock\"]}]\n";
    let gw = start_gateway(&config_for(&up, settings)).await;

    let resp = post(&gw, json!({"model": "status-503", "messages": msgs()})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-fallbacks"], "2");
    assert_eq!(resp.headers()["x-litellm-model-group"], "echo");

    // A context-window error goes to the context-window list.
    let resp = post(&gw, json!({"model": "ctxlen", "messages": msgs()})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-model-group"], "mock");

    // Other client errors are not retried elsewhere: the same request would fail again.
    let (s, _) =
        error_of(post(&gw, json!({"model": "status-400", "messages": msgs()})).await).await;
    assert_eq!(s, 400);

    // Client-side fallbacks, and turning them off.
    let resp = post(
        &gw,
        json!({"model": "status-500", "messages": msgs(), "fallbacks": ["mock"]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-fallbacks"], "1");
    let (s, _) = error_of(
        post(
            &gw,
            json!({"model": "status-503", "messages": msgs(), "disable_fallbacks": true}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 503);
    // When every fallback fails, the client gets the last error.
    let (s, b) = error_of(
        post(
            &gw,
            json!({"model": "status-500", "messages": msgs(), "fallbacks": ["status-502"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 502, "{b}");
    let ok = post(&gw, json!({"model": "echo", "messages": msgs()})).await;
    assert_eq!(ok.headers()["x-litellm-attempted-fallbacks"], "0");
}

#[tokio::test]
async fn failing_deployments_cool_down() {
    let up = start_upstream().await;
    let base = up.base();
    let dep = |model: &str, id: &str, order: u32| {
        format!("  - model_name: pool\n    litellm_params:\n      model: openai/{model}\n      api_key: k\n      api_base: {base}\n      order: {order}\n    model_info:\n      id: {id}\n")
    };
    let extra = [dep("status-500", "pool-down", 1), dep("echo", "pool-up", 2)].concat();
    let yaml = config_with_models(
        &up,
        &extra,
        "router_settings:\n  allowed_fails: 1\n  cooldown_time: 1\n",
    );
    let gw = start_gateway(&yaml).await;
    let count_500 = || {
        up.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.body["model"] == "status-500")
            .count()
    };
    // Two failures (allowed_fails: 1) put the order-1 deployment in cooldown...
    for _ in 0..2 {
        let (s, _) = error_of(post(&gw, json!({"model": "pool", "messages": msgs()})).await).await;
        assert_eq!(s, 500);
    }
    assert_eq!(count_500(), 2);
    // ...so the next requests go to the order-2 deployment without touching it.
    for _ in 0..3 {
        let resp = post(&gw, json!({"model": "pool", "messages": msgs()})).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-litellm-model-id"], "pool-up");
    }
    assert_eq!(count_500(), 2);
    // After cooldown_time it is tried again.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (s, _) = error_of(post(&gw, json!({"model": "pool", "messages": msgs()})).await).await;
    assert_eq!(s, 500);
    assert_eq!(count_500(), 3);
}

#[tokio::test]
async fn a_group_with_every_deployment_cooling_is_a_429() {
    let up = start_upstream().await;
    let base = up.base();
    let dep = |model: &str, order: u32| {
        format!("  - model_name: doomed\n    litellm_params:\n      model: openai/{model}\n      api_key: k\n      api_base: {base}\n      order: {order}\n")
    };
    let extra = [dep("status-500", 1), dep("status-502", 2)].concat();
    let yaml = config_with_models(
        &up,
        &extra,
        "router_settings:\n  allowed_fails: 0\n  cooldown_time: 30\n",
    );
    let gw = start_gateway(&yaml).await;
    assert_eq!(
        error_of(post(&gw, json!({"model": "doomed", "messages": msgs()})).await)
            .await
            .0,
        500
    );
    assert_eq!(
        error_of(post(&gw, json!({"model": "doomed", "messages": msgs()})).await)
            .await
            .0,
        502
    );
    let resp = post(&gw, json!({"model": "doomed", "messages": msgs()})).await;
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after));
    let (s, b) = error_of(resp).await;
    assert_eq!(s, 429);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No deployments available"),
        "{b}"
    );
}

//! The Anthropic Messages API inbound (`/v1/messages`): passed through to `anthropic/`
//! deployments, translated for OpenAI-format ones, against mocks on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let mut models = String::new();
    for m in ["claude-text", "claude-tool", "claude-overloaded"] {
        models.push_str(&format!(
            "  - model_name: {m}\n    litellm_params:\n      model: anthropic/{m}\n      api_base: {}\n      api_key: sk-ant-upstream\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\n",
            up.base()
        ));
    }
    // An alias group: the client's model name is not the deployment's.
    models.push_str(&format!(
        "  - model_name: sonnet\n    litellm_params:\n      model: anthropic/claude-text\n      api_base: {}\n      api_key: sk-ant-upstream\n",
        up.base()
    ));
    config_with_models(up, &models, "general_settings:\n  master_key: sk-master\n")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/messages", gw.base))
        .header("x-api-key", "sk-master")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `(event type, data)` of each SSE event.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let kind = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_owned();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (kind, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn anthropic_deployments_get_the_body_as_sent() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let body = json!({
        "model": "sonnet", "max_tokens": 300,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "user-7", "tags": ["team-a"]},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello claude", "cache_control": {"type": "ephemeral"}}]}],
    });
    let r = post(&gw, body.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-model-group"], "sonnet");
    let m: Value = r.json().await.unwrap();
    // Anthropic's answer, as Anthropic sent it.
    assert!(m["id"].as_str().unwrap().starts_with("msg_mock_"), "{m}");
    assert_eq!(m["type"], "message");
    assert_eq!(m["content"][0]["text"], "You said: hello claude");
    assert_eq!(m["usage"]["cache_read_input_tokens"], 3);
    let seen = up.last();
    assert_eq!(seen.body["model"], "claude-text");
    assert_eq!(seen.body["system"], body["system"]);
    assert_eq!(seen.body["thinking"], body["thinking"]);
    assert_eq!(seen.body["messages"], body["messages"]);
    assert_eq!(seen.body["metadata"], json!({"user_id": "user-7"}));
    assert_eq!(seen.headers["anthropic-beta"], "prompt-caching-2024-07-31");
    assert_eq!(seen.headers["x-api-key"], "sk-ant-upstream");

    // Streamed: the provider's events, byte for byte, and the call is priced from them.
    let mut s = body.clone();
    s["model"] = json!("claude-tool");
    s["stream"] = json!(true);
    s["tools"] = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
    let r = post(&gw, s).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let ev = events(&text);
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(ev[2].1["content_block"]["name"], "lookup");
    assert_eq!(ev[6].1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn openai_deployments_answer_in_anthropic_format() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "echo", "max_tokens": 100, "system": "be brief",
               "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse::<f64>()
        .is_ok());
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["content"], json!([{"type": "text", "text": "echo"}]));
    assert_eq!(m["stop_reason"], "end_turn");
    // OpenAI's 9 prompt tokens, 4 of them cached.
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 5, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4})
    );
    let seen = up.last().body;
    assert_eq!(
        seen["messages"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(seen["stop"], json!(["END"]));
    assert_eq!(seen["user"], "u1");
    assert!(
        seen.get("metadata").is_none(),
        "gateway metadata stays here"
    );
    assert!(seen.get("stop_sequences").is_none());

    // A tool round trip: the tool result goes back as a `tool` message.
    let r = post(
        &gw,
        json!({"model": "tools", "max_tokens": 100,
               "tools": [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
               "tool_choice": {"type": "auto"},
               "messages": [
                 {"role": "user", "content": "weather?"},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": "call_0", "name": "get_weather", "input": {"city": "Oslo"}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_0", "content": "rain"}]}
               ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );
    let seen = up.last().body;
    assert_eq!(seen["tools"][0]["type"], "function");
    assert_eq!(
        seen["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(seen["tool_choice"], "auto");
    assert_eq!(
        seen["messages"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Oslo"}"#
    );
    assert_eq!(
        seen["messages"][2],
        json!({"role": "tool", "content": "rain", "tool_call_id": "call_0"})
    );

    // Streamed tool call: Anthropic's event sequence with input_json_delta.
    let r = post(
        &gw,
        json!({"model": "tools", "max_tokens": 100, "stream": true,
               "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
               "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ev = events(&r.text().await.unwrap());
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        ev[2].1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}})
    );
    let json_text: String = ev[3..5]
        .iter()
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(json_text, r#"{"city":"Paris"}"#);
    assert_eq!(ev[6].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[6].1["usage"]["output_tokens"], 3);
    // The gateway asked for usage; the client sees it only in message_delta.
    assert_eq!(up.last().body["stream_options"]["include_usage"], true);

    // The built-in mock answers through the same path.
    let r = post(
        &gw,
        json!({"model": "mock", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let ev = events(&r.text().await.unwrap());
    let text: String = ev
        .iter()
        .filter(|(k, _)| k == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hi from mock");
    assert_eq!(ev.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn errors_have_anthropic_shape() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let shape = |v: &Value, kind: &str| {
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 3, "{v}");
    };
    // No key.
    let r = client()
        .post(format!("{}/v1/messages", gw.base))
        .json(&json!({"model": "echo", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    shape(&r.json().await.unwrap(), "authentication_error");
    // Malformed bodies.
    for body in [
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "echo", "messages": [{"role": "robot", "content": "hi"}]}),
        json!({"model": "echo", "messages": "hi"}),
    ] {
        let r = post(&gw, body).await;
        assert_eq!(r.status(), 400);
        shape(&r.json().await.unwrap(), "invalid_request_error");
    }
    // Unknown model.
    let r = post(
        &gw,
        json!({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    shape(&r.json().await.unwrap(), "invalid_request_error");
    // Anthropic's own error passes on with its type (529 overloaded is a 503 here).
    let r = post(
        &gw,
        json!({"model": "claude-overloaded", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 503);
    shape(&r.json().await.unwrap(), "overloaded_error");
    // An OpenAI upstream's 429 becomes rate_limit_error, Retry-After kept.
    let r = post(
        &gw,
        json!({"model": "status-429", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    // A stream cut after its first byte ends with an error event.
    let r = post(
        &gw,
        json!({"model": "cut", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ev = events(&r.text().await.unwrap());
    assert_eq!(ev[0].0, "message_start");
    let (kind, data) = ev.last().unwrap();
    assert_eq!(kind, "error");
    shape(data, "api_error");
}

#[tokio::test]
async fn count_tokens_counts_the_translated_prompt() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let count = |content: &'static str| {
        let gw = &gw;
        async move {
            let r = client()
                .post(format!("{}/v1/messages/count_tokens", gw.base))
                .bearer_auth("sk-master")
                .json(&json!({"model": "echo", "messages": [{"role": "user", "content": content}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v["input_tokens"].as_u64().unwrap()
        }
    };
    let short = count("hi").await;
    let long = count("hello there, how are you doing on this fine day?").await;
    assert!(short > 0 && long > short + 5, "{short} {long}");
}

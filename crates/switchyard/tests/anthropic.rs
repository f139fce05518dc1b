//! OpenAI-format requests to `anthropic/` deployments, through the gateway, against a mock
//! of Anthropic's Messages API on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let mut models = String::new();
    for m in [
        "claude-text",
        "claude-tool",
        "claude-overloaded",
        "claude-long",
        "claude-busy",
    ] {
        models.push_str(&format!(
            "  - model_name: {m}\n    litellm_params:\n      model: anthropic/{m}\n      api_base: {}\n      api_key: sk-ant-upstream\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\n    model_info:\n      max_output_tokens: 8192\n",
            up.base()
        ));
    }
    config_with_models(up, &models, "")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn text_tools_and_usage_round_trip() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude-text", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello claude"}
    ], "max_tokens": 50}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["x-litellm-response-cost"]
            .to_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "You said: hello claude"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 14);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    let seen = up.last();
    assert_eq!(seen.headers["x-api-key"], "sk-ant-upstream");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.body["system"][0]["text"], "be brief");
    assert_eq!(seen.body["max_tokens"], 50);
    // Without max_tokens, the model's output limit (Anthropic requires the field).
    post(
        &gw,
        json!({"model": "claude-text", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(up.last().body["max_tokens"], 8192);

    // A full tool round: the model calls a tool, the client answers, the model goes on.
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    let r = post(&gw, json!({"model": "claude-tool", "messages": [{"role": "user", "content": "find x"}], "tools": tools, "tool_choice": "auto"})).await;
    let v: Value = r.json().await.unwrap();
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "lookup");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let r = post(
        &gw,
        json!({"model": "claude-text", "tools": tools, "messages": [
            {"role": "user", "content": "find x"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "x is 42"},
            {"role": "user", "content": "and?"}
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let seen = up.last();
    assert_eq!(
        seen.body["messages"][2]["content"][0]["type"],
        "tool_result"
    );
}

#[tokio::test]
async fn streams_arrive_as_openai_chunks() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude-text", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "stream please"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "You said: stream please");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);

    let r = post(&gw, json!({"model": "claude-tool", "stream": true, "messages": [{"role": "user", "content": "find"}],
        "tools": [{"type": "function", "function": {"name": "lookup"}}]})).await;
    let data = sse_data(&r.text().await.unwrap());
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"q": "x"})
    );
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk unless asked"
    );
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
}

#[tokio::test]
async fn provider_errors_are_mapped() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude-overloaded", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    let r = post(
        &gw,
        json!({"model": "claude-long", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let r = post(
        &gw,
        json!({"model": "claude-busy", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7", "Retry-After kept");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    // A parameter Anthropic cannot take: a clear 400 before any call.
    let before = up.count();
    let r = post(
        &gw,
        json!({"model": "claude-text", "messages": [{"role": "user", "content": "hi"}], "n": 3}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("drop_params"));
    assert_eq!(up.count(), before);
}

#[tokio::test]
async fn a_rejected_key_is_an_authentication_error() {
    let up = start_upstream().await;
    let models = format!(
        "  - model_name: claude-bad-key\n    litellm_params:\n      model: anthropic/claude-text\n      api_base: {}\n      api_key: sk-ant-revoked\n",
        up.base()
    );
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    let r = post(
        &gw,
        json!({"model": "claude-bad-key", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    assert!(!v.to_string().contains("sk-ant-revoked"));
}

#[tokio::test]
async fn images_and_json_mode_reach_anthropic_in_its_format() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude-text", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
        ]}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert_eq!(
        sent["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"})
    );

    // JSON mode: a forced tool whose input comes back as the content.
    let r = post(&gw, json!({"model": "claude-tool", "messages": [{"role": "user", "content": "json please"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"q": {"type": "string"}}}}}})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(v["choices"][0]["message"]["content"].as_str().unwrap())
            .unwrap(),
        json!({"q": "x"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        up.last().body["tool_choice"],
        json!({"type": "tool", "name": "json_tool_call"})
    );
}

//! OpenAI-format requests to `gemini/` deployments through the gateway, against a mock of the
//! Gemini API on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let base = format!("http://{}", up.addr);
    let mut models = String::new();
    for m in ["gemini-text", "gemini-tool", "gemini-quota"] {
        models.push_str(&format!(
            "  - model_name: {m}\n    litellm_params:\n      model: gemini/{m}\n      api_base: {base}\n      api_key: AIza-upstream\n      input_cost_per_token: 0.0000003\n      output_cost_per_token: 0.0000025\n"
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
async fn gemini_text_tools_streams_and_errors() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(&gw, json!({"model": "gemini-text", "messages": [{"role": "system", "content": "short"}, {"role": "user", "content": "hello gemini"}]})).await;
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
        "You said: hello gemini"
    );
    assert_eq!(v["usage"]["total_tokens"], 11);
    let seen = up.last();
    assert_eq!(seen.headers["x-goog-api-key"], "AIza-upstream");
    assert_eq!(seen.body["systemInstruction"]["parts"][0]["text"], "short");

    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let v: Value = post(&gw, json!({"model": "gemini-tool", "messages": [{"role": "user", "content": "find"}], "tools": tools})).await.json().await.unwrap();
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "lookup");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let r = post(
        &gw,
        json!({"model": "gemini-text", "tools": tools, "messages": [
            {"role": "user", "content": "find"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "found it"},
            {"role": "user", "content": "so?"}
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.last().body["contents"][2]["parts"][0]["functionResponse"]["name"],
        "lookup"
    );

    let r = post(&gw, json!({"model": "gemini-text", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "stream it"}]})).await;
    assert_eq!(r.status(), 200);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "You said: stream it");
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 7);

    let r = post(
        &gw,
        json!({"model": "gemini-quota", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn images_and_json_mode_reach_gemini_in_its_format() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "gemini-text",
        "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
        ]}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert_eq!(
        sent["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}})
    );
    assert_eq!(
        sent["generationConfig"]["responseMimeType"],
        "application/json"
    );
}

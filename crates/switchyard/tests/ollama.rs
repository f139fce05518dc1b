//! `ollama_chat/` and `ollama/` deployments against a mock of Ollama's chat API.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn ollama_text_tools_streams_and_errors() {
    let up = start_upstream().await;
    let host = format!("http://{}", up.addr);
    let mut models = String::new();
    for (name, model) in [
        ("local", "ollama_chat/llama3.2"),
        ("local-tool", "ollama/llama-tool"),
        ("missing", "ollama_chat/nope"),
    ] {
        models.push_str(&format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {host}\n"));
    }
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    let post = |body: Value| {
        let base = gw.base.clone();
        async move {
            client()
                .post(format!("{base}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let v: Value = post(json!({"model": "local", "messages": [{"role": "user", "content": "hi llama"}], "max_tokens": 12})).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "You said: hi llama");
    assert_eq!(v["usage"]["total_tokens"], 9);
    assert_eq!(up.last().body["options"]["num_predict"], 12);
    assert_eq!(up.last().body["stream"], false);

    let r = post(json!({"model": "local", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "stream"}]})).await;
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
    assert_eq!(text, "You said: stream");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);

    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let v: Value = post(json!({"model": "local-tool", "messages": [{"role": "user", "content": "find"}], "tools": tools})).await.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "lookup"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    let r =
        post(json!({"model": "missing", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
}

#[tokio::test]
async fn ollama_single_turns_use_generate() {
    let up = start_upstream().await;
    let host = format!("http://{}", up.addr);
    let models = format!(
        "  - model_name: gen\n    litellm_params:\n      model: ollama/llama3.2\n      api_base: {host}\n"
    );
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    let post = |body: Value| {
        let base = gw.base.clone();
        async move {
            client()
                .post(format!("{base}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let v: Value = post(json!({"model": "gen", "max_tokens": 7, "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]}))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Generated: hello");
    assert_eq!(v["usage"]["total_tokens"], 9);
    let sent = up.last().body;
    assert_eq!(sent["prompt"], "hello");
    assert_eq!(sent["system"], "be brief");
    assert_eq!(sent["options"]["num_predict"], 7);
    assert!(sent.get("messages").is_none());

    let r = post(
        json!({"model": "gen", "stream": true, "messages": [{"role": "user", "content": "flow"}]}),
    )
    .await;
    let data = sse_data(&r.text().await.unwrap());
    let text: String = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Generated: flow");

    // A conversation goes to /api/chat, whose mock echoes the last turn.
    let v: Value = post(json!({"model": "gen", "messages": [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "two"}]}))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "You said: two");
    assert!(up.last().body.get("messages").is_some());
}

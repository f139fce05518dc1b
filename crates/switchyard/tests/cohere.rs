//! `cohere/` deployments against a mock of Cohere's v2 Chat API.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn cohere_text_tools_streams_and_errors() {
    let up = start_upstream().await;
    let host = format!("http://{}", up.addr);
    let mut models = String::new();
    for m in ["command-a", "command-tool", "command-limited"] {
        models.push_str(&format!("  - model_name: {m}\n    litellm_params:\n      model: cohere/{m}\n      api_base: {host}\n      api_key: co-key\n"));
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
    let v: Value = post(json!({"model": "command-a", "messages": [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi cohere"}], "top_p": 0.5})).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "You said: hi cohere");
    assert_eq!(v["usage"]["prompt_tokens"], 8);
    let seen = up.last();
    assert_eq!(seen.headers["authorization"], "Bearer co-key");
    assert_eq!(seen.body["p"], 0.5);

    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let v: Value = post(json!({"model": "command-tool", "messages": [{"role": "user", "content": "find"}], "tools": tools})).await.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    let r = post(json!({"model": "command-a", "tools": tools, "messages": [
        {"role": "user", "content": "find"}, {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "co_call", "content": "42"}]})).await;
    assert_eq!(r.status(), 200);

    let r = post(json!({"model": "command-tool", "stream": true, "messages": [{"role": "user", "content": "find"}], "tools": tools})).await;
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
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

    let r =
        post(json!({"model": "command-limited", "messages": [{"role": "user", "content": "hi"}]}))
            .await;
    assert_eq!(r.status(), 429);
}

//! Legacy `/v1/completions`: passed through to OpenAI-format deployments, bridged through chat
//! completions to the others. Mocks on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let models = format!(
        "  - model_name: instruct\n    litellm_params:\n      model: text-completion-openai/gpt-3.5-turbo-instruct\n      api_base: {base}\n      api_key: sk-up\n  - model_name: vllm\n    litellm_params:\n      model: hosted_vllm/llama\n      api_base: {base}\n  - model_name: claude-text\n    litellm_params:\n      model: anthropic/claude-text\n      api_base: {base}\n      api_key: sk-ant\n",
        base = up.base()
    );
    config_with_models(up, &models, "")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/completions", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn openai_format_deployments_get_the_body_as_sent() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "instruct", "prompt": ["one", "two"], "max_tokens": 5, "echo": false,
               "metadata": {"tags": ["x"]}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-litellm-response-cost"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][1]["text"], "re: two");
    assert_eq!(v["usage"]["total_tokens"], 6);
    let seen = up.last();
    assert_eq!(seen.body["model"], "gpt-3.5-turbo-instruct");
    assert_eq!(seen.body["prompt"], json!(["one", "two"]));
    assert_eq!(seen.body["echo"], false);
    assert!(
        seen.body.get("metadata").is_none(),
        "gateway keys stay here"
    );
    assert_eq!(seen.headers["authorization"], "Bearer sk-up");

    // Streamed: the provider's chunks; the usage chunk the gateway asked for is not shown to
    // a client that did not ask.
    let r = post(
        &gw,
        json!({"model": "vllm", "prompt": "hi", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let texts: String = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .map(|v| v["choices"][0]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, "re: hi");
    assert!(!text.contains("\"usage\""), "{text}");
    assert_eq!(up.last().body["stream_options"]["include_usage"], true);
    // Asked for: kept.
    let r = post(
        &gw,
        json!({"model": "vllm", "prompt": "hi", "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert!(r.text().await.unwrap().contains("\"total_tokens\":6"));
}

#[tokio::test]
async fn other_deployments_are_bridged_through_chat() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude-text", "prompt": "hello", "max_tokens": 9, "stop": ["END"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "You said: hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let sent = up.last().body;
    assert_eq!(sent["messages"][0]["content"][0]["text"], "hello");
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["max_tokens"], 9);

    let r = post(
        &gw,
        json!({"model": "claude-text", "prompt": "hey", "stream": true}),
    )
    .await;
    let data = sse_data(&r.text().await.unwrap());
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "You said: hey");
    assert_eq!(data.last().unwrap(), "[DONE]");

    // The mock answers too.
    let r = post(&gw, json!({"model": "mock", "prompt": "x"})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["text"], "Hi from mock");

    // What chat cannot carry is refused, saying why.
    for body in [
        json!({"model": "claude-text", "prompt": ["a", "b"]}),
        json!({"model": "claude-text", "prompt": [1, 2]}),
        json!({"model": "claude-text", "prompt": "a", "suffix": "z"}),
    ] {
        let r = post(&gw, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("OpenAI-format deployment"),
            "{v}"
        );
    }
    for body in [json!({"model": "claude-text"}), json!({"prompt": "x"})] {
        let r = post(&gw, body).await;
        assert_eq!(r.status(), 400);
    }
}

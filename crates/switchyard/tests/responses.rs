//! The Responses API (`/v1/responses`): passed through to OpenAI, bridged through chat
//! completions to other providers, with stored responses and `previous_response_id`.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let models = format!(
        "  - model_name: gpt-resp\n    litellm_params:\n      model: openai/gpt-resp\n      api_base: {base}\n      api_key: sk-up\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n  - model_name: claude-text\n    litellm_params:\n      model: anthropic/claude-text\n      api_base: {base}\n      api_key: sk-ant\n  - model_name: vllm-tools\n    litellm_params:\n      model: hosted_vllm/tools\n      api_base: {base}\n",
        base = up.base()
    );
    config_with_models(up, &models, "general_settings:\n  master_key: sk-master\n")
}

async fn post(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/responses", gw.base))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `(event type, data)` of each SSE event.
/// Asks for `url` (as the master key) until it answers `want`, up to `tries` times `pause_ms`
/// apart: for what another instance learns off the request path.
async fn status_becomes(url: &str, want: u16, tries: usize, pause_ms: u64) -> bool {
    for _ in 0..tries {
        let s = client()
            .get(url)
            .bearer_auth("sk-master")
            .send()
            .await
            .unwrap()
            .status();
        if s == want {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
    }
    false
}

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

fn output_text(r: &Value) -> String {
    r["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[tokio::test]
async fn bridged_conversation_with_stored_responses() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "claude-text", "instructions": "be brief", "input": "hello", "max_output_tokens": 20}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(output_text(&first), "You said: hello");
    assert_eq!(first["instructions"], "be brief");
    assert!(first["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = up.last().body;
    assert_eq!(sent["system"][0]["text"], "be brief");
    assert_eq!(sent["max_tokens"], 20);

    // The next turn sees the first.
    let id = first["id"].as_str().unwrap();
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "claude-text", "input": "again", "previous_response_id": id}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["previous_response_id"], id);
    let sent = up.last().body;
    let turns: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(turns, ["user", "assistant", "user"], "{sent}");
    assert_eq!(sent["messages"][1]["content"][0]["text"], "You said: hello");

    // Stored: readable, then deleted.
    let url = format!("{}/v1/responses/{id}", gw.base);
    let r = client()
        .get(&url)
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], id);
    let r = client()
        .delete(&url)
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], true);
    let r = client()
        .get(&url)
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An unknown previous response cannot be bridged.
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "claude-text", "input": "x", "previous_response_id": id}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not known"));
}

#[tokio::test]
async fn bridged_stream_with_function_calls() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "vllm-tools", "input": "weather?", "stream": true,
               "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ev = events(&r.text().await.unwrap());
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done = &ev.last().unwrap().1["response"];
    assert_eq!(done["output"][0]["name"], "get_weather");
    assert_eq!(done["output"][0]["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(done["usage"]["total_tokens"], 12);
    let sent = up.last().body;
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["messages"][0]["content"], "weather?");

    // The stream's response was kept: the function output goes back in the next turn.
    let id = done["id"].as_str().unwrap();
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "vllm-tools", "previous_response_id": id,
               "input": [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        sent["messages"][2],
        json!({"role": "tool", "content": "sunny", "tool_call_id": "call_1"})
    );
}

#[tokio::test]
async fn openai_gets_the_body_as_sent() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "gpt-resp", "input": "hi", "metadata": {"tags": ["t1"]},
               "tools": [{"type": "web_search"}], "include": ["reasoning.encrypted_content"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((cost - 0.000018).abs() < 1e-9, "{cost}");
    let first: Value = r.json().await.unwrap();
    assert_eq!(output_text(&first), "echo: hi");
    let sent = up.last().body;
    assert_eq!(
        sent["tools"],
        json!([{"type": "web_search"}]),
        "built-in tools pass"
    );
    assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));
    assert!(
        sent.get("metadata").is_none(),
        "LiteLLM metadata is the gateway's"
    );

    // OpenAI's own response is referred to by id, not expanded.
    let id = first["id"].as_str().unwrap();
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "gpt-resp", "input": "more", "previous_response_id": id, "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ev = events(&r.text().await.unwrap());
    assert_eq!(ev.last().unwrap().0, "response.completed");
    let sent = up.last().body;
    assert_eq!(sent["previous_response_id"], id);
    assert_eq!(sent["input"], "more");

    // A bridged response continued on OpenAI is expanded into the input.
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "claude-text", "input": "one"}),
    )
    .await;
    let bridged: Value = r.json().await.unwrap();
    let r = post(
        &gw,
        "sk-master",
        json!({"model": "gpt-resp", "input": "two", "previous_response_id": bridged["id"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert!(sent.get("previous_response_id").is_none());
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{sent}");
    assert_eq!(input[0]["content"], "one");
    assert_eq!(input[2]["content"], "two");
}

#[tokio::test]
async fn responses_belong_to_their_key() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let r = client()
            .post(format!("{}/key/generate", gw.base))
            .bearer_auth("sk-master")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        keys.push(v["key"].as_str().unwrap().to_owned());
    }
    let r = post(
        &gw,
        &keys[0],
        json!({"model": "claude-text", "input": "mine"}),
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/v1/responses/{id}", gw.base);
    let get = |key: String| {
        let url = url.clone();
        async move {
            client()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(keys[0].clone()).await, 200);
    assert_eq!(get(keys[1].clone()).await, 404);
    assert_eq!(get("sk-master".into()).await, 200);
    // Nor can another key continue it.
    let r = post(
        &gw,
        &keys[1],
        json!({"model": "claude-text", "input": "x", "previous_response_id": id}),
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn every_instance_sees_every_response() {
    let up = start_upstream().await;
    for db in Db::all() {
        let a = start_gateway_on(&config(&up), &db).await;
        let b = start_gateway_on(&config(&up), &db).await;
        let r = post(
            &a,
            "sk-master",
            json!({"model": "claude-text", "input": "first"}),
        )
        .await;
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let on = |gw: &Gateway| format!("{}/v1/responses/{id}", gw.base);
        // The write lands off the request path: the other instance sees it shortly.
        let seen = status_becomes(&on(&b), 200, 100, 20).await;
        assert!(seen, "{db:?}: instance b reads a's response");
        let r = post(
            &b,
            "sk-master",
            json!({"model": "claude-text", "input": "second", "previous_response_id": id}),
        )
        .await;
        assert_eq!(r.status(), 200, "{db:?}");
        let turns = up.last().body["messages"].as_array().unwrap().len();
        assert_eq!(turns, 3, "{db:?}: b continued a's conversation");
        // Deleted through b, gone on a once a's own copy is no longer fresh.
        let r = client()
            .delete(on(&b))
            .bearer_auth("sk-master")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // a answers from memory for 2 s after it kept the response, then asks the store: within
        // a few seconds (a loaded machine can delay a read) it must be gone there too.
        let gone = status_becomes(&on(&a), 404, 50, 200).await;
        assert!(
            gone,
            "{db:?}: deleted through b, still served by a after 10 s"
        );
        a.stop().await;
        b.stop().await;
    }
}

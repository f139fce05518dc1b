//! Pass-through routes (`/openai/*`, `/gemini/*`, ...): provider-native requests with the
//! gateway's credentials, after virtual-key auth, with spend, limits and budgets applied.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

const MASTER: &str = "sk-master";

fn config(up: &Upstream) -> String {
    let models = format!(
        "  - model_name: priced-echo\n    litellm_params:\n      model: openai/priced-echo\n      api_base: {base}\n      api_key: sk-priced-upstream\n      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n  - model_name: gemini-text\n    litellm_params:\n      model: gemini/gemini-text\n      api_base: http://{addr}\n      api_key: gemini-upstream-key\n      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n",
        base = up.base(),
        addr = up.addr
    );
    config_with_models(
        up,
        &models,
        &format!("general_settings:\n  master_key: {MASTER}\n"),
    )
}

async fn key(gw: &Gateway, body: Value) -> String {
    let r = client()
        .post(format!("{}/key/generate", gw.base))
        .bearer_auth(MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn openai_pass_through_with_spend() {
    let up = start_upstream().await;
    let db = Db::sqlite();
    let gw = start_gateway_on(&config(&up), &db).await;
    let k = key(&gw, json!({"key_alias": "pt"})).await;
    let r = client()
        .post(format!("{}/openai/v1/chat/completions", gw.base))
        .bearer_auth(&k)
        .json(&chat("priced-echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The mock's 9 prompt tokens (4 cached, priced as input here) and 3 completion tokens.
    assert!(cost > 0.0, "{cost}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo");
    let seen = up.last();
    assert_eq!(seen.headers["authorization"], "Bearer sk-priced-upstream");
    assert_eq!(seen.body["model"], "priced-echo");

    // Streamed, usage read from the provider's events.
    let mut body = chat("priced-echo");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = client()
        .post(format!("{}/openai/v1/chat/completions", gw.base))
        .bearer_auth(&k)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // Both are in the spend logs, priced.
    gw.stop().await;
    let gw = start_gateway_on(&config(&up), &db).await;
    let r = client()
        .get(format!("{}/spend/logs?api_key={k}", gw.base))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    let logs: Value = r.json().await.unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    for l in logs {
        assert_eq!(l["call_type"], "pass_through_endpoint");
        assert!(l["spend"].as_f64().unwrap() > 0.0, "{l}");
        assert_eq!(l["total_tokens"], 12);
    }
}

#[tokio::test]
async fn budgets_limits_and_access_apply() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    // One call costs about 0.015: the second is over this budget.
    let k = key(&gw, json!({"max_budget": 0.01})).await;
    let post = |key: String, body: Value| {
        let url = format!("{}/openai/v1/chat/completions", gw.base);
        async move {
            client()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(post(k.clone(), chat("priced-echo")).await.status(), 200);
    let r = post(k.clone(), chat("priced-echo")).await;
    assert_eq!(r.status(), 429, "over budget through pass-through too");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "budget_exceeded", "{v}");

    // A key limited to some models cannot reach others' deployments this way.
    let limited = key(&gw, json!({"models": ["priced-echo"]})).await;
    assert_eq!(
        post(limited.clone(), chat("priced-echo")).await.status(),
        200
    );
    assert_eq!(post(limited, chat("tools")).await.status(), 401);

    // No key, no pass-through.
    let r = client()
        .post(format!("{}/openai/v1/chat/completions", gw.base))
        .json(&chat("priced-echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn gemini_pass_through_takes_its_key_in_the_query() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let k = key(&gw, json!({})).await;
    let r = client()
        .post(format!(
            "{}/gemini/v1beta/models/gemini-text:generateContent?key={k}",
            gw.base
        ))
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0);
    let v: Value = r.json().await.unwrap();
    assert!(v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .contains("hello gemini"));
    let seen = up.last();
    assert_eq!(seen.headers["x-goog-api-key"], "gemini-upstream-key");

    // A provider with no deployment and no environment key is a clear 404.
    let r = client()
        .post(format!("{}/cohere/v2/chat", gw.base))
        .bearer_auth(&k)
        .json(&json!({"model": "command-r", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("cohere"));
}

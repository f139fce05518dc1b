//! The OpenAI-compatible family through the gateway, against the mock OpenAI upstream: refused
//! parameters (a 400 naming them, or dropped with `drop_params`), renamed parameters, and every
//! row of `compat::PROVIDERS` called through the ordinary config path, so a new row is covered
//! without new test code.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;
use switchyard_providers::compat::{Action, Quirk, When, PROVIDERS};

fn deployment(name: &str, model: &str, base: &str, extra: &str) -> String {
    format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n{extra}")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn chat(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn a_refused_parameter_is_a_400_naming_it_unless_drop_params() {
    let up = start_upstream().await;
    let base = up.base();
    let models = [
        deployment("groq-strict", "groq/llama-3.1-8b-instant", &base, ""),
        deployment(
            "groq-lenient",
            "groq/llama-3.1-8b-instant",
            &base,
            "      drop_params: true\n",
        ),
    ]
    .concat();
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;

    let before = up.count();
    let r = post(&gw, chat("groq-strict", json!({"logprobs": true}))).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("`logprobs`"), "{message}");
    assert!(message.contains("drop_params"), "{message}");
    assert_eq!(v["error"]["param"], "logprobs");
    assert_eq!(up.count(), before, "nothing was sent upstream");

    // `n` is refused above 1 only.
    let r = post(&gw, chat("groq-strict", json!({"n": 1}))).await;
    assert_eq!(r.status(), 200);
    let r = post(&gw, chat("groq-strict", json!({"n": 3}))).await;
    assert_eq!(r.status(), 400);

    let r = post(
        &gw,
        chat(
            "groq-lenient",
            json!({"logprobs": true, "logit_bias": {"50256": -100}, "temperature": 0.3}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert!(sent.get("logprobs").is_none(), "{sent}");
    assert!(sent.get("logit_bias").is_none(), "{sent}");
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["model"], "llama-3.1-8b-instant");
}

#[tokio::test]
async fn litellm_settings_drop_params_applies_to_every_deployment() {
    let up = start_upstream().await;
    let models = deployment(
        "cerebras",
        "cerebras/llama3.1-8b",
        &up.base(),
        "      api_key: csk-test\n",
    );
    let yaml = format!(
        "{}litellm_settings:\n  drop_params: true\n",
        config_with_models(&up, &models, "")
    );
    let gw = start_gateway(&yaml).await;
    let r = post(
        &gw,
        chat(
            "cerebras",
            json!({"frequency_penalty": 0.5, "presence_penalty": 0.1, "seed": 4}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert!(sent.get("frequency_penalty").is_none(), "{sent}");
    assert!(sent.get("presence_penalty").is_none(), "{sent}");
    assert_eq!(sent["seed"], 4);
    assert_eq!(
        up.last().headers["authorization"].to_str().unwrap(),
        "Bearer csk-test"
    );
}

#[tokio::test]
async fn renamed_parameters_arrive_renamed() {
    let up = start_upstream().await;
    let models = deployment("mistral", "mistral/mistral-small-latest", &up.base(), "");
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;

    let r = post(
        &gw,
        chat("mistral", json!({"seed": 42, "max_completion_tokens": 64})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert_eq!(sent["random_seed"], 42);
    assert!(sent.get("seed").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 64);
    assert!(sent.get("max_completion_tokens").is_none(), "{sent}");

    // The same on a stream, with the usage the gateway asks for.
    let r = post(&gw, chat("mistral", json!({"seed": 1, "stream": true}))).await;
    assert_eq!(r.status(), 200);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let sent = up.last().body;
    assert_eq!(sent["random_seed"], 1);
    assert_eq!(sent["stream_options"]["include_usage"], true);

    // Mistral has no logit_bias.
    let r = post(&gw, chat("mistral", json!({"logit_bias": {"1": 1}}))).await;
    assert_eq!(r.status(), 400);
}

/// A value that makes a refused parameter refused.
fn refused_value(q: &Quirk) -> Value {
    match (q.action, q.param) {
        (Action::Reject(When::Above(limit)), _) => json!(limit as i64 + 1),
        (Action::Reject(When::NotOneOf(_)), _) => {
            json!({"type": "function", "function": {"name": "f"}})
        }
        (_, "logprobs" | "parallel_tool_calls") => json!(true),
        (_, "logit_bias") => json!({"50256": -100}),
        (_, "stop") => json!(["END"]),
        (_, "tool_choice" | "function_call" | "service_tier") => json!("auto"),
        (_, "tools") => {
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
        }
        (_, "functions") => json!([{"name": "f", "parameters": {"type": "object"}}]),
        (_, "frequency_penalty" | "presence_penalty") => json!(0.5),
        _ => json!(2),
    }
}

/// Every row, through `config::parse` and `Router::from_config` with nothing but its model and
/// where to find the mock: its base URL (from the row's base variable when it has one, else
/// `api_base`) and its key (from the row's key variable). The call must arrive with the row's
/// model id and auth, refused parameters must be refused and renamed ones renamed.
#[tokio::test]
async fn every_row_is_a_working_provider() {
    let up = start_upstream().await;
    let base = up.base();
    let mut models = String::new();
    let mut env = String::from("environment_variables:\n");
    for row in PROVIDERS {
        assert_eq!(
            switchyard_providers::default_api_base(row.name),
            row.api_base,
            "{}",
            row.name
        );
        assert_eq!(
            switchyard_providers::api_key_env(row.name),
            row.api_key_env.first().copied(),
            "{}",
            row.name
        );
        assert_eq!(
            switchyard_providers::api_base_envs(row.name),
            row.api_base_env,
            "{}",
            row.name
        );
        assert!(switchyard_providers::is_openai_format(row.name));
        assert!(switchyard_providers::chat_provider(row.name).is_some());

        let model = format!("{}/some-model", row.name);
        match row.api_base_env.first() {
            Some(var) => {
                env.push_str(&format!("  {var}: {base}\n"));
                models.push_str(&format!(
                    "  - model_name: row-{0}\n    litellm_params:\n      model: {model}\n",
                    row.name
                ));
            }
            None => models.push_str(&deployment(&format!("row-{}", row.name), &model, &base, "")),
        }
        if let Some(var) = row.api_key_env.first() {
            env.push_str(&format!("  {var}: sk-{}\n", row.name));
        }
    }
    let yaml = format!("{}{env}", config_with_models(&up, &models, ""));
    let gw = start_gateway(&yaml).await;

    for row in PROVIDERS {
        let name = format!("row-{}", row.name);
        let r = post(&gw, chat(&name, json!({"temperature": 0.1}))).await;
        assert_eq!(r.status(), 200, "{}", row.name);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"], "echo",
            "{}",
            row.name
        );
        let seen = up.last();
        assert_eq!(
            seen.body["model"],
            row.model_id("some-model").as_ref(),
            "{}",
            row.name
        );
        assert_eq!(seen.body["temperature"], 0.1, "{}", row.name);
        let auth = seen
            .headers
            .get("authorization")
            .map(|h| h.to_str().unwrap().to_owned());
        let expected = row
            .api_key_env
            .first()
            .map(|_| format!("Bearer sk-{}", row.name));
        assert_eq!(auth, expected, "{}", row.name);

        for q in row.quirks.iter().filter(|q| q.applies_to("some-model")) {
            let value = refused_value(q);
            let before = up.count();
            let r = post(&gw, chat(&name, json!({ q.param: value.clone() }))).await;
            match q.action {
                Action::Reject(_) => {
                    assert_eq!(r.status(), 400, "{}: {}", row.name, q.param);
                    let v: Value = r.json().await.unwrap();
                    assert_eq!(v["error"]["param"], q.param, "{}", row.name);
                    assert_eq!(up.count(), before, "{}: {}", row.name, q.param);
                }
                Action::Rename(to) => {
                    assert_eq!(r.status(), 200, "{}: {}", row.name, q.param);
                    let sent = up.last().body;
                    assert_eq!(sent[to], value, "{}: {} -> {to}", row.name, q.param);
                    assert!(sent.get(q.param).is_none(), "{}: {}", row.name, q.param);
                }
            }
        }
    }
}

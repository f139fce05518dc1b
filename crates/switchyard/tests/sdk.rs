//! The SDK: the same routing and translation without the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures_util::StreamExt;
use support::*;
use switchyard::types::{ChatCompletionRequest, ChatMessage};
use switchyard::Router;

fn request(model: &str) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: model.into(),
        messages: vec![ChatMessage::user("hi")],
        ..Default::default()
    }
}

#[tokio::test]
async fn router_from_file_completes_and_streams_typed() {
    let up = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("switchyard-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, config_for(&up, "")).unwrap();
    let router = Router::from_file(&path).unwrap();

    let resp = router.completion(request("echo")).await.unwrap();
    assert_eq!(resp.choices[0].message.content.as_deref(), Some("echo"));
    assert_eq!(resp.usage.unwrap().total_tokens, 12);

    let resp = router.completion(request("tools")).await.unwrap();
    let calls = resp.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.name, "get_weather");

    let mut stream = router.completion_stream(request("echo")).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        text.extend(chunk.choices.iter().filter_map(|c| c.delta.content.clone()));
    }
    assert_eq!(text, "abc");

    let err = router.completion(request("status-429")).await.unwrap_err();
    assert_eq!(err.status, 429);
    assert_eq!(err.message, "upstream says 429");
    let err = router.completion(request("unknown")).await.unwrap_err();
    assert_eq!(err.status, 400);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn direct_provider_addressing() {
    let up = start_upstream().await;
    let yaml = format!(
        "environment_variables:\n  OPENAI_API_BASE: {}\n  OPENAI_API_KEY: sk-direct\n",
        up.base()
    );
    let config = switchyard::config::parse(&yaml, "t.yaml").unwrap().config;
    let router = Router::from_config(config)
        .unwrap()
        .0
        .with_direct_addressing(true);
    let resp = router.completion(request("openai/echo")).await.unwrap();
    assert_eq!(resp.choices[0].message.content.as_deref(), Some("echo"));
    let seen = up.last();
    assert_eq!(seen.body["model"], "echo");
    assert_eq!(seen.headers["authorization"], "Bearer sk-direct");
    // Not a provider this gateway knows: a clear 400.
    assert_eq!(
        router
            .completion(request("nosuch/x"))
            .await
            .unwrap_err()
            .status,
        400
    );
}

#[tokio::test]
async fn a_stream_without_usage_is_counted_and_priced() {
    use switchyard_router::{CallOptions, ChatResponse};
    let up = start_upstream().await;
    let extra = format!(
        "  - model_name: counted\n    litellm_params:\n      model: openai/nousage\n      api_key: k\n      api_base: {}\n    model_info:\n      base_model: gpt-4o\n",
        up.base()
    );
    let yaml = config_with_models(&up, &extra, "");
    let config = switchyard::config::parse(&yaml, "t.yaml").unwrap().config;
    let router = Router::from_config(config).unwrap().0;
    let mut req = request("counted");
    req.stream = Some(true);
    let ChatResponse::Stream(s) = router
        .chat(req.clone(), &CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("a stream")
    };
    let switchyard_router::ChatStream {
        meta,
        mut events,
        usage,
        price,
        format,
    } = s;
    let mut text = String::new();
    while let Some(e) = events.next().await {
        text.push_str(&String::from_utf8_lossy(&e.unwrap()));
    }
    assert!(!text.contains("\"usage\":{"), "no usage reached the client");
    let s = switchyard_router::ChatStream {
        meta,
        events,
        usage: usage.clone(),
        price,
        format,
    };
    let counted = usage.lock().unwrap().clone().expect("usage was counted");
    let prompt = switchyard::token_counter("gpt-4o", &req.messages, None);
    let completion = switchyard::pricing::tokens::count_text(
        switchyard::pricing::tokens::Encoding::O200kBase,
        "abc",
    );
    assert_eq!(
        (counted.prompt_tokens, counted.completion_tokens),
        (prompt, completion)
    );
    let cost = s.cost().unwrap().usd();
    assert!(
        (cost - (prompt as f64 * 2.5e-6 + completion as f64 * 10e-6)).abs() < 1e-12,
        "{cost}"
    );
}

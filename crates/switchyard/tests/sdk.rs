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

//! Images, speech, moderations and rerank through the gateway, against mocks on 127.0.0.1,
//! each priced by its unit (image, character, query) where the price table has one.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let host = format!("http://{}", up.addr);
    let mut models = String::new();
    for (name, model, base) in [
        ("dall-e-3", "openai/dall-e-3", up.base()),
        ("gpt-image-1", "openai/gpt-image-1", up.base()),
        ("tts-1", "openai/tts-1", up.base()),
        (
            "omni-moderation-latest",
            "openai/omni-moderation-latest",
            up.base(),
        ),
        ("rerank-v3.5", "cohere/rerank-v3.5", host.clone()),
        (
            "jina-reranker",
            "jina_ai/jina-reranker-v2-base-multilingual",
            up.base(),
        ),
        ("claude", "anthropic/claude-text", up.base()),
        ("voyage-rerank", "voyage/rerank-2", up.base()),
    ] {
        models.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n      api_key: provider-key\n"
        ));
    }
    // The last entry, voyage-rerank, is priced per query in its model_info.
    models.push_str("    model_info:\n      input_cost_per_query: 0.5\n");
    config_with_models(up, &models, "")
}

async fn post(gw: &Gateway, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn cost(r: &reqwest::Response) -> f64 {
    r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn images_priced_per_image_or_token() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "dall-e-3", "prompt": "a lighthouse", "n": 2, "size": "1024x1024"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!((cost(&r) - 0.08).abs() < 1e-12, "two images at $0.04");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let sent = up.last().body;
    assert_eq!(sent["size"], "1024x1024");
    assert_eq!(sent["model"], "dall-e-3");

    let r = post(
        &gw,
        "/images/generations",
        json!({"model": "gpt-image-1", "prompt": "x"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // 50 input tokens at $10/M and 1000 output tokens at $40/M.
    assert!((cost(&r) - 0.0405).abs() < 1e-12, "{}", cost(&r));

    let r = post(&gw, "/v1/images/generations", json!({"model": "dall-e-3"})).await;
    assert_eq!(r.status(), 400, "no prompt");
    let r = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "claude", "prompt": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("does not serve"));
}

#[tokio::test]
async fn speech_streams_audio_back() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        "/v1/audio/speech",
        json!({"model": "tts-1", "input": "Hello there", "voice": "alloy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let audio = r.bytes().await.unwrap();
    assert_eq!(audio.len(), 256 * 1024);
    assert_eq!(audio[16 * 1024 * 3], 3);
    // An upstream refusal before any audio is an ordinary error.
    let r = post(
        &gw,
        "/v1/audio/speech",
        json!({"model": "tts-1", "input": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "voice");
}

#[tokio::test]
async fn moderations_and_rerank() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    // The model defaults as OpenAI's does.
    let r = post(
        &gw,
        "/v1/moderations",
        json!({"input": "I will kill the process"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(cost(&r), 0.0);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["flagged"], true);
    assert_eq!(up.last().body["model"], "omni-moderation-latest");

    let docs = json!(["the cat sat", "dogs bark loudly", {"text": "a cat and a dog"}]);
    // Cohere: the body as sent, its answer as it is, one search unit at $0.002.
    let r = post(
        &gw,
        "/v2/rerank",
        json!({"model": "rerank-v3.5", "query": "cat dog", "documents": docs, "top_n": 2}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!((cost(&r) - 0.002).abs() < 1e-12);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["index"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(up.last().body["model"], "rerank-v3.5");
    // Jina and Voyage answers come back in Cohere's shape.
    for (model, field) in [("jina-reranker", "top_n"), ("voyage-rerank", "top_k")] {
        let r = post(
            &gw,
            "/v1/rerank",
            json!({"model": model, "query": "cat dog", "documents": docs, "top_n": 1, "return_documents": true}),
        )
        .await;
        assert_eq!(r.status(), 200, "{model}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["results"][0]["index"], 2, "{model}: {v}");
        assert_eq!(v["results"][0]["document"]["text"], "a cat and a dog");
        let sent = up.last().body;
        assert_eq!(sent[field], 1, "{model}: {sent}");
        assert_eq!(sent["documents"][2], "a cat and a dog");
    }
    // A per-query price from model_info.
    let r = post(
        &gw,
        "/rerank",
        json!({"model": "voyage-rerank", "query": "q", "documents": ["a"]}),
    )
    .await;
    assert!((cost(&r) - 0.5).abs() < 1e-12, "{}", cost(&r));
    let r = post(
        &gw,
        "/v1/rerank",
        json!({"model": "rerank-v3.5", "documents": ["a"]}),
    )
    .await;
    assert_eq!(r.status(), 400, "no query");
}

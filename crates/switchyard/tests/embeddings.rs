//! `/v1/embeddings` for every provider with an embeddings API, against mocks of each wire
//! format on 127.0.0.1, and the SDK's `Router::embed`.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::*;

const KEY: &str = include_str!("fixtures/vertex-test-key.pem");

fn config(up: &Upstream) -> String {
    let host = format!("http://{}", up.addr);
    let creds = json!({
        "type": "service_account", "project_id": "test-project",
        "client_email": "sa@test-project.iam.gserviceaccount.com",
        "private_key": KEY, "token_uri": format!("{host}/token"),
    });
    let dir = std::env::temp_dir().join(format!("switchyard-emb-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sa = dir.join("sa.json");
    std::fs::write(&sa, creds.to_string()).unwrap();
    let mut models = String::new();
    for (name, model, base, extra) in [
        ("oai-embed", "openai/text-embedding-3-small", up.base(), ""),
        ("oai-fail", "openai/fail-429", up.base(), ""),
        ("azure-embed", "azure/emb-deploy", host.clone(), ""),
        (
            "cohere-embed",
            "cohere/embed-english-v3.0",
            host.clone(),
            "",
        ),
        ("cohere-fail", "cohere/fail-429", host.clone(), ""),
        (
            "gemini-embed",
            "gemini/text-embedding-004",
            host.clone(),
            "",
        ),
        ("ollama-embed", "ollama/nomic-embed-text", host.clone(), ""),
        (
            "vertex-embed",
            "vertex_ai/text-embedding-005",
            host.clone(),
            "      vertex_location: us-central1\n",
        ),
        ("claude", "anthropic/claude-text", up.base(), ""),
    ] {
        let creds = if model.starts_with("vertex_ai/") {
            format!("      vertex_credentials: {}\n", sa.display())
        } else {
            "      api_key: provider-key\n".to_owned()
        };
        models.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n{creds}{extra}"
        ));
    }
    config_with_models(up, &models, "")
}

async fn embed(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/embeddings", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The first value of each vector: the mocks put the input's length there.
fn firsts(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["embedding"][0].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_provider_answers_in_openai_shape() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    for model in [
        "oai-embed",
        "azure-embed",
        "cohere-embed",
        "gemini-embed",
        "ollama-embed",
        "vertex-embed",
    ] {
        let r = embed(&gw, json!({"model": model, "input": ["a", "bbb"]})).await;
        assert_eq!(r.status(), 200, "{model}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "list", "{model}: {v}");
        assert_eq!(firsts(&v), [1.0, 3.0], "{model}: inputs in order");
        assert_eq!(v["data"][1]["index"], 1, "{model}");
        assert_eq!(v["data"][1]["object"], "embedding", "{model}");
        assert!(
            v["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{model}: {v}"
        );
    }
    let seen = up.state.seen.lock().unwrap().clone();
    let find = |pred: &dyn Fn(&Value) -> bool| seen.iter().find(|s| pred(&s.body)).unwrap().clone();
    // What each provider was sent, in its own format.
    let oai = find(&|b| b["model"] == "text-embedding-3-small");
    assert_eq!(oai.body["input"], json!(["a", "bbb"]));
    assert_eq!(oai.headers["authorization"], "Bearer provider-key");
    let cohere = find(&|b| b["model"] == "embed-english-v3.0");
    assert_eq!(cohere.body["texts"], json!(["a", "bbb"]));
    assert_eq!(cohere.body["input_type"], "search_document");
    assert_eq!(cohere.body["embedding_types"], json!(["float"]));
    let gemini = find(&|b| b.get("requests").is_some());
    assert_eq!(
        gemini.body["requests"][1]["content"]["parts"][0]["text"],
        "bbb"
    );
    assert_eq!(gemini.headers["x-goog-api-key"], "provider-key");
    let vertex = find(&|b| b.get("instances").is_some());
    assert_eq!(vertex.body["instances"][0], json!({"content": "a"}));
    assert_eq!(vertex.headers["authorization"], "Bearer ya29.mock");
    let ollama = find(&|b| b["model"] == "nomic-embed-text");
    assert_eq!(ollama.body["input"], json!(["a", "bbb"]));
}

#[tokio::test]
async fn options_encoding_and_errors() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    // A string input, priced from the provider's usage.
    let r = embed(&gw, json!({"model": "oai-embed", "input": "hello"})).await;
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0, "text-embedding-3-small is priced");
    let v: Value = r.json().await.unwrap();
    assert_eq!(firsts(&v), [5.0]);

    // base64 from a translating provider: little-endian f32s.
    let r = embed(
        &gw,
        json!({"model": "cohere-embed", "input": ["abcd"], "encoding_format": "base64",
               "input_type": "search_query", "dimensions": 256}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let floats: Vec<f32> = raw
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [4.0, 0.0, 0.25]);
    assert_eq!(v["usage"]["prompt_tokens"], 7, "Cohere's billed units");
    let sent = up.last().body;
    assert_eq!(sent["input_type"], "search_query");
    assert_eq!(sent["output_dimension"], 256);

    // Gemini's task type and dimensions.
    let r = embed(
        &gw,
        json!({"model": "gemini-embed", "input": "x", "task_type": "RETRIEVAL_QUERY", "dimensions": 64}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().body;
    assert_eq!(sent["requests"][0]["taskType"], "RETRIEVAL_QUERY");
    assert_eq!(sent["requests"][0]["outputDimensionality"], 64);
    assert_eq!(sent["requests"][0]["model"], "models/text-embedding-004");

    // Provider errors keep their status; the OpenAI 429 its Retry-After-less shape.
    for model in ["oai-fail", "cohere-fail"] {
        let r = embed(&gw, json!({"model": model, "input": "x"})).await;
        assert_eq!(r.status(), 429, "{model}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().len() > 5, "{v}");
    }
    // Client mistakes are 400s that say what is wrong.
    for (body, needle) in [
        (
            json!({"model": "cohere-embed", "input": [1, 2, 3]}),
            "token ids",
        ),
        (json!({"model": "oai-embed", "input": []}), "input"),
        (json!({"model": "oai-embed"}), "input"),
        (
            json!({"model": "claude", "input": "x"}),
            "no embeddings API",
        ),
        (json!({"model": "nope", "input": "x"}), "nope"),
    ] {
        let r = embed(&gw, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // The built-in mock embeds without a network: same text, same unit vector.
    let r = embed(
        &gw,
        json!({"model": "mock", "input": ["same", "same", "other"]}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    let d = v["data"].as_array().unwrap();
    assert_eq!(d[0]["embedding"], d[1]["embedding"]);
    assert_ne!(d[0]["embedding"], d[2]["embedding"]);
    let norm: f64 = d[0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
}

#[tokio::test]
async fn an_embedding_request_goes_upstream_as_the_client_sent_it() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let resp = client()
        .post(format!("{}/v1/embeddings", gw.base))
        .header("content-type", "application/json")
        .body(
            r#"{ "input": ["a \"b\"", "c"], "model": "oai-embed", "dimensions": 64,
                "metadata": {"tags": ["x"]}, "vendor": [1, 2.50] }"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    assert!(
        body["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );
    // The deployment's model id, the gateway's `metadata` left out, the rest byte for byte.
    assert_eq!(
        up.last_chat_body(),
        r#"{"model":"text-embedding-3-small","input": ["a \"b\"", "c"],"dimensions": 64,"vendor": [1, 2.50]}"#
    );
}

#[tokio::test]
async fn the_sdk_embeds_through_a_router() {
    let up = start_upstream().await;
    let loaded = switchyard::config::parse(&config(&up), "sdk.yaml").unwrap();
    let (router, _) = switchyard::Router::from_config(loaded.config).unwrap();
    let out = router
        .embed(switchyard::types::EmbeddingRequest {
            model: "ollama-embed".into(),
            input: switchyard::types::EmbeddingInput::Texts(vec!["hey".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.data.len(), 1);
    assert_eq!(out.data[0].embedding[0], 3.0);
    assert_eq!(out.usage.prompt_tokens, 5);
}

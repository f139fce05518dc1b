//! OpenAI-format requests to `bedrock/` deployments, through the gateway, against a mock of
//! Bedrock's runtime on 127.0.0.1 that checks every SigV4 signature and answers streams in
//! AWS's binary event-stream framing.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::bedrock::{ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY, SESSION_TOKEN};
use support::*;

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

/// One deployment on the mock, signed with the test keys unless `auth` says otherwise.
fn deployment(up: &Upstream, name: &str, model: &str, auth: &str) -> String {
    let auth = if auth.is_empty() {
        format!(
            "      aws_access_key_id: {ACCESS_KEY_ID}\n      aws_secret_access_key: {SECRET_ACCESS_KEY}\n      aws_session_token: {SESSION_TOKEN}\n"
        )
    } else {
        auth.to_owned()
    };
    format!(
        "  - model_name: {name}\n    litellm_params:\n      model: bedrock/{model}\n      aws_bedrock_runtime_endpoint: http://{}\n      aws_region_name: us-east-1\n{auth}",
        up.addr
    )
}

fn config(up: &Upstream) -> String {
    let mut models = deployment(up, "claude", CLAUDE, "");
    for (name, id) in [
        ("throttled", "test.throttled-v1:0"),
        ("too-long", "test.too-long-v1:0"),
        ("invalid", "test.invalid-v1:0"),
        ("denied", "test.denied-v1:0"),
        ("badcrc", "test.badcrc-v1:0"),
        ("stream-error", "test.stream-error-v1:0"),
    ] {
        models.push_str(&deployment(up, name, &format!("converse/{id}"), ""));
    }
    models.push_str(&deployment(
        up,
        "wrong-secret",
        CLAUDE,
        &format!("      aws_access_key_id: {ACCESS_KEY_ID}\n      aws_secret_access_key: not-the-secret\n      aws_session_token: {SESSION_TOKEN}\n"),
    ));
    models.push_str(&deployment(
        up,
        "api-key",
        CLAUDE,
        &format!("      api_key: {API_KEY}\n"),
    ));
    models.push_str(&deployment(up, "titan", "amazon.titan-embed-text-v2:0", ""));
    models.push_str(&deployment(
        up,
        "cohere-embed",
        "cohere.embed-english-v3",
        "",
    ));
    config_with_models(up, &models, "")
}

async fn post(gw: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn chunks(data: &[String]) -> Vec<Value> {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn text_system_images_usage_and_cost() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello bedrock"}
        ], "max_tokens": 50, "temperature": 0.3, "stop": ["END"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // 11 uncached input, 2 cache reads, 3 cache writes, 4 output tokens at Bedrock's
    // Claude 3.5 Sonnet prices ($3, $0.30, $3.75, $15 per million).
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((cost - 0.000_104_85).abs() < 1e-9, "cost {cost}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "You said: hello bedrock"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["model"], CLAUDE);
    assert_eq!(v["usage"]["prompt_tokens"], 16);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 3);

    let seen = up.last();
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"));
    assert_eq!(seen.headers["x-amz-security-token"], SESSION_TOKEN);
    assert_eq!(seen.body["system"], json!([{"text": "be brief"}]));
    assert_eq!(
        seen.body["messages"],
        json!([{"role": "user", "content": [{"text": "hello bedrock"}]}])
    );
    assert_eq!(
        seen.body["inferenceConfig"],
        json!({"maxTokens": 50, "temperature": 0.3, "stopSequences": ["END"]})
    );

    // An image as bytes reaches the model; a URL is a 400 before any call.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let r = post(
        &gw,
        json!({"model": "claude", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}}
        ]}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "You said: what is this? [png image, 70 bytes]"
    );
    let before = up.count();
    let r = post(
        &gw,
        json!({"model": "claude", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
        ]}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("data URL"));
    assert_eq!(up.count(), before, "refused before any call");
    gw.stop().await;
}

#[tokio::test]
async fn tools_round_trip() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let r = post(
        &gw,
        json!({"model": "claude", "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": tools, "tool_choice": "auto"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let message = v["choices"][0]["message"].clone();
    assert_eq!(message["content"], "Let me check.");
    let call = message["tool_calls"][0].clone();
    assert_eq!(call["id"], "tooluse_mock1");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    let seen = up.last();
    assert_eq!(
        seen.body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
            "toolChoice": {"auto": {}}})
    );

    // The client runs the tool and sends the result back.
    let r = post(
        &gw,
        json!({"model": "claude", "tools": tools, "messages": [
            {"role": "user", "content": "weather in Paris?"},
            message,
            {"role": "tool", "tool_call_id": "tooluse_mock1", "content": "18C and sunny"}
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The tool said: 18C and sunny"
    );
    let seen = up.last();
    assert_eq!(
        seen.body["messages"][1]["content"][1],
        json!({"toolUse": {"toolUseId": "tooluse_mock1", "name": "get_weather", "input": {"city": "Paris"}}})
    );
    assert_eq!(
        seen.body["messages"][2]["content"][0],
        json!({"toolResult": {"toolUseId": "tooluse_mock1", "content": [{"text": "18C and sunny"}]}})
    );
    gw.stop().await;
}

#[tokio::test]
async fn streams_text_and_tool_use() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "stream please"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let c = chunks(&data);
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "You said: stream please");
    assert!(c.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
    let last = c.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 16);
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert!(up.last().headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));

    // Tool use: the input arrives in pieces, as argument deltas.
    let r = post(
        &gw,
        json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let data = sse_data(&r.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let c = chunks(&data);
    let start = c
        .iter()
        .find_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .unwrap();
    assert_eq!(start, "tooluse_mock1");
    let pieces: Vec<&str> = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(pieces.len(), 3, "one delta per input piece");
    assert_eq!(
        serde_json::from_str::<Value>(&pieces.concat()).unwrap(),
        json!({"city": "Paris"})
    );
    assert!(c
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    assert!(
        c.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk unless asked"
    );
    gw.stop().await;
}

#[tokio::test]
async fn errors_keep_their_class() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let hi = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});

    let r = post(&gw, hi("throttled")).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "Too many requests, please wait before trying again."
    );
    assert_eq!(v["error"]["type"], "ThrottlingException");
    assert_eq!(v["error"]["code"], "429");
    assert!(v["error"].as_object().unwrap().contains_key("param"));

    let r = post(&gw, hi("invalid")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "ValidationException");
    assert_eq!(v["error"]["code"], "400");

    let r = post(&gw, hi("too-long")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded");

    let r = post(&gw, hi("denied")).await;
    assert_eq!(r.status(), 403);

    // A wrong secret: the mock's recomputed signature differs.
    let r = post(&gw, hi("wrong-secret")).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("signature we calculated does not match"));
    assert_eq!(v["error"]["type"], "InvalidSignatureException");

    // Streams: an error before the first event is an ordinary error response.
    let mut s = hi("throttled");
    s["stream"] = json!(true);
    assert_eq!(post(&gw, s).await.status(), 429);

    // A frame with a damaged CRC after the answer started: an error event ends the stream.
    let mut s = hi("badcrc");
    s["stream"] = json!(true);
    let r = post(&gw, s).await;
    assert_eq!(r.status(), 200);
    let data = sse_data(&r.text().await.unwrap());
    assert_ne!(data.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"].as_str().unwrap().contains("CRC"),
        "{last}"
    );
    let c = chunks(&data[..data.len() - 1]);
    assert!(c.iter().any(|c| c["choices"][0]["delta"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty())));

    // An exception frame mid-stream.
    let mut s = hi("stream-error");
    s["stream"] = json!(true);
    let r = post(&gw, s).await;
    let data = sse_data(&r.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(
        last["error"]["message"],
        "The model stopped producing output."
    );
    assert_eq!(last["error"]["type"], "modelStreamErrorException");
    gw.stop().await;
}

#[tokio::test]
async fn bedrock_api_keys_are_bearer_tokens() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let r = post(
        &gw,
        json!({"model": "api-key", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let seen = up.last();
    assert_eq!(seen.headers["authorization"], format!("Bearer {API_KEY}"));
    assert!(seen.headers.get("x-amz-date").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn embeddings_titan_and_cohere() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let embed = |body: Value| {
        let base = gw.base.clone();
        async move {
            client()
                .post(format!("{base}/v1/embeddings"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = embed(json!({"model": "titan", "input": "hello there world", "dimensions": 256})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["embedding"][0], 17.0);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let seen = up.last();
    assert_eq!(
        seen.body,
        json!({"inputText": "hello there world", "dimensions": 256})
    );
    assert!(seen.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
    // Titan takes one text per call: a list is refused with the reason.
    let before = up.count();
    let r = embed(json!({"model": "titan", "input": ["a", "b"]})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("one input per call"));
    assert_eq!(up.count(), before);

    let r = embed(
        json!({"model": "cohere-embed", "input": ["one", "three"], "input_type": "search_query"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][1]["embedding"], json!([5.0, 1.0, 0.25]));
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "counted");
    assert_eq!(
        up.last().body,
        json!({"texts": ["one", "three"], "input_type": "search_query"})
    );
    gw.stop().await;
}

#[tokio::test]
async fn pass_through_is_signed_and_priced() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hello bedrock"}]}],
                      "inferenceConfig": {"maxTokens": 50}});
    let path = format!("/bedrock/model/{}/converse", CLAUDE.replace(':', "%3A"));
    let r = client()
        .post(format!("{}{path}", gw.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the mock checked the signature");
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0, "priced from Converse usage");
    let v: Value = r.json().await.unwrap();
    assert!(v["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("hello bedrock"));
}

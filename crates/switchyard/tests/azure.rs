//! `azure/` deployments: OpenAI's format at Azure's addresses, with Azure's auth.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn azure_deployments_are_addressed_and_authenticated_like_azure() {
    let up = start_upstream().await;
    let base = format!("http://{}", up.addr);
    let entry =
        |name: &str, params: &str| format!("  - model_name: {name}\n    litellm_params:\n{params}");
    let models = [
        entry("az", &format!("      model: azure/echo\n      api_base: {base}\n      api_key: azure-secret\n      api_version: \"2024-10-21\"\n")),
        entry("az-ad", &format!("      model: azure/echo\n      api_base: {base}\n      azure_ad_token: entra-token\n")),
        entry("az-filtered", &format!("      model: azure/filtered\n      api_base: {base}\n      api_key: k\n")),
        entry("safe", &format!("      model: openai/echo\n      api_base: {}\n      api_key: k\n", up.base())),
    ]
    .concat();
    let cfg = config_with_models(
        &up,
        &models,
        "litellm_settings:\n  content_policy_fallbacks: [{\"az-filtered\": [\"safe\"]}]\n",
    );
    let gw = start_gateway(&cfg).await;
    let post = |model: &str, stream: bool| {
        let (base, model) = (gw.base.clone(), model.to_owned());
        async move {
            client()
                .post(format!("{base}/v1/chat/completions"))
                .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi azure"}]}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = post("az", false).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    let seen = up.last();
    assert_eq!(seen.headers["api-key"], "azure-secret");
    assert!(seen.headers.get("authorization").is_none());

    let r = post("az-ad", true).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sse_data(&r.text().await.unwrap()).last().unwrap(), "[DONE]");
    assert_eq!(up.last().headers["authorization"], "Bearer entra-token");

    // A content-filter refusal falls back by policy.
    let r = post("az-filtered", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-attempted-fallbacks"], "1");
    let hops: Value =
        serde_json::from_str(r.headers()["x-litellm-fallback-errors"].to_str().unwrap()).unwrap();
    assert_eq!(hops[0]["param"], "az-filtered");
    assert_eq!(hops[0]["code"], "400");
    assert!(hops[0]["message"]
        .as_str()
        .unwrap()
        .contains("content management policy"));
}

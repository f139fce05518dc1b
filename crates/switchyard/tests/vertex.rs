//! `vertex_ai/` deployments: a service account's signed JWT is exchanged for an access token
//! (cached), which calls Gemini models under the project path. Mocks on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

const KEY: &str = include_str!("fixtures/vertex-test-key.pem");

#[tokio::test]
async fn vertex_calls_with_a_cached_service_account_token() {
    let up = start_upstream().await;
    let base = format!("http://{}", up.addr);
    let creds = json!({
        "type": "service_account", "project_id": "test-project",
        "client_email": "sa@test-project.iam.gserviceaccount.com",
        "private_key": KEY, "token_uri": format!("{base}/token"),
    });
    let dir = std::env::temp_dir().join(format!("switchyard-vertex-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sa.json");
    std::fs::write(&path, creds.to_string()).unwrap();
    let models = format!(
        "  - model_name: vx\n    litellm_params:\n      model: vertex_ai/gemini-text\n      api_base: {base}\n      vertex_credentials: {}\n      vertex_location: europe-west4\n",
        path.display()
    );
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    for _ in 0..3 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(
                &json!({"model": "vx", "messages": [{"role": "user", "content": "hello vertex"}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "You said: hello vertex"
        );
    }
    let seen = up.state.seen.lock().unwrap().clone();
    let tokens = seen
        .iter()
        .filter(|s| s.body.get("token_request").is_some())
        .count();
    assert_eq!(tokens, 1, "one token exchange, then the cache");
    let call = seen.last().unwrap();
    assert_eq!(call.headers["authorization"], "Bearer ya29.mock");

    // A key that cannot sign is a start-up error naming the deployment.
    let bad = models.replace(&path.display().to_string(), "/nonexistent/sa.json");
    let loaded = switchyard::config::parse(&config_with_models(&up, &bad, ""), "bad.yaml").unwrap();
    let err = switchyard::Router::from_config(loaded.config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vertex_credentials") && err.contains("bad.yaml"),
        "{err}"
    );
}

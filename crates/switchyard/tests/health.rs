//! `/health`: every deployment called with the cheapest request of its kind; background
//! checks when configured.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::*;

async fn health(gw: &Gateway, query: &str) -> Value {
    let r = client()
        .get(format!("{}/health{query}", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn health_calls_every_deployment() {
    let up = start_upstream().await;
    let gw = start_gateway(&config_for(&up, "")).await;
    let before = up.count();
    let v = health(&gw, "").await;
    let names = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|e| e["model_group"].as_str().unwrap().to_owned())
            .collect()
    };
    let healthy = names("healthy_endpoints");
    let unhealthy = names("unhealthy_endpoints");
    for m in ["echo", "tools", "mock"] {
        assert!(healthy.contains(&m.to_owned()), "{m} healthy: {v}");
    }
    for m in ["status-500", "status-401", "down", "badjson"] {
        assert!(unhealthy.contains(&m.to_owned()), "{m} unhealthy: {v}");
    }
    assert_eq!(
        v["healthy_count"].as_u64().unwrap() + v["unhealthy_count"].as_u64().unwrap(),
        (healthy.len() + unhealthy.len()) as u64
    );
    let down = v["unhealthy_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["model_group"] == "down")
        .unwrap();
    assert!(down["error"].as_str().unwrap().len() > 5);
    assert!(
        !v.to_string().contains("sk-upstream-secret"),
        "no key in /health"
    );
    // One call per HTTP deployment, each a one-token request.
    assert!(up.count() > before);
    let ping = up
        .state
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.body["model"] == "echo")
        .unwrap()
        .body
        .clone();
    assert_eq!(ping["max_tokens"], 1);

    // One group only.
    let v = health(&gw, "?model=echo").await;
    assert_eq!(v["healthy_count"], 1);
    assert_eq!(v["unhealthy_count"], 0);
}

#[tokio::test]
async fn background_checks_run_on_their_own() {
    let up = start_upstream().await;
    let extra =
        "general_settings:\n  background_health_checks: true\n  health_check_interval: 0.2\n";
    let gw = start_gateway(&config_for(&up, extra)).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let calls = up.count();
    assert!(calls > 10, "checks ran without a /health call ({calls})");
    let v = health(&gw, "").await;
    assert!(v["healthy_count"].as_u64().unwrap() >= 3);
    // Answered from the latest round: no new round for this call beyond the schedule.
    assert!(v["unhealthy_endpoints"].as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn health_check_routing_avoids_failing_deployments() {
    let up = start_upstream().await;
    let b = up.base();
    let models = format!(
        "  - model_name: pair\n    litellm_params:\n      model: openai/status-500\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: failing\n  - model_name: pair\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: working\n  - model_name: quiet\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: unchecked\n      disable_background_health_check: true\n"
    );
    // No cooldowns and no retries: only health-check routing keeps `failing` out.
    let extra = "general_settings:\n  background_health_checks: true\n  health_check_interval: 0.2\n  enable_health_check_routing: true\nrouter_settings:\n  disable_cooldowns: true\n  num_retries: 0\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    // Until the first background round is in (the slowest deployment takes 2 s), /health
    // checks on demand, every deployment.
    let mut report = Value::Null;
    let ids = |report: &Value, list: &str| -> Vec<String> {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["model_id"].as_str().unwrap().to_owned())
            .collect()
    };
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        report = health(&gw, "").await;
        if ids(&report, "unhealthy_endpoints").contains(&"failing".to_owned())
            && !ids(&report, "healthy_endpoints").contains(&"unchecked".to_owned())
        {
            break;
        }
    }
    let ids = |list: &str| ids(&report, list);
    assert!(ids("unhealthy_endpoints").contains(&"failing".to_owned()));
    assert!(ids("healthy_endpoints").contains(&"working".to_owned()));
    let all: Vec<String> = ids("healthy_endpoints")
        .into_iter()
        .chain(ids("unhealthy_endpoints"))
        .collect();
    assert!(
        !all.contains(&"unchecked".to_owned()),
        "disable_background_health_check leaves it out"
    );
    for _ in 0..20 {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&serde_json::json!({"model": "pair", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-litellm-model-id"], "working");
    }
}

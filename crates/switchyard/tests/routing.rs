//! Routing strategies and deployment rpm limits, through the gateway.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::*;

fn deployment(up: &Upstream, group: &str, id: &str, model: &str, extra: &str) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: openai/{model}\n      api_base: {}\n      api_key: k\n{extra}    model_info:\n      id: {id}\n",
        up.base()
    )
}

async fn gateway(up: &Upstream, models: &str, strategy: &str) -> Gateway {
    start_gateway(&config_with_models(
        up,
        models,
        &format!("router_settings:\n  routing_strategy: {strategy}\n"),
    ))
    .await
}

async fn served_by(gw: &Gateway, group: &str) -> (u16, String) {
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": group, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let id = r
        .headers()
        .get("x-litellm-model-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), id)
}

#[tokio::test]
async fn latency_based_routing_prefers_the_faster_deployment() {
    let up = start_upstream().await;
    let models =
        deployment(&up, "g", "fast", "echo", "") + &deployment(&up, "g", "slow", "hold", "");
    let gw = gateway(&up, &models, "latency-based-routing").await;
    // Each is tried once (no sample yet), then the fast one wins.
    let mut first = vec![served_by(&gw, "g").await.1, served_by(&gw, "g").await.1];
    first.sort();
    assert_eq!(first, ["fast", "slow"]);
    for _ in 0..6 {
        assert_eq!(served_by(&gw, "g").await.1, "fast");
    }
}

#[tokio::test]
async fn least_busy_spreads_concurrent_requests() {
    let up = start_upstream().await;
    let models = deployment(&up, "g", "a", "hold", "") + &deployment(&up, "g", "b", "hold", "");
    let gw = gateway(&up, &models, "least-busy").await;
    for _ in 0..3 {
        let (x, y) = tokio::join!(served_by(&gw, "g"), served_by(&gw, "g"));
        let mut ids = vec![x.1, y.1];
        ids.sort();
        assert_eq!(
            ids,
            ["a", "b"],
            "the idle deployment takes the second request"
        );
    }
}

#[tokio::test]
async fn cost_based_routing_picks_the_cheapest() {
    let up = start_upstream().await;
    let price =
        |i: f64| format!("      input_cost_per_token: {i}\n      output_cost_per_token: {i}\n");
    let models = deployment(&up, "g", "pricey", "echo", &price(0.00002))
        + &deployment(&up, "g", "cheap", "echo", &price(0.000001));
    let gw = gateway(&up, &models, "cost-based-routing").await;
    for _ in 0..5 {
        assert_eq!(served_by(&gw, "g").await.1, "cheap");
    }
}

#[tokio::test]
async fn deployment_rpm_is_never_exceeded() {
    let up = start_upstream().await;
    let models = deployment(&up, "g", "small", "echo", "      rpm: 2\n")
        + &deployment(&up, "g", "big", "echo", "      rpm: 1000\n")
        + &deployment(&up, "solo", "only", "echo", "      rpm: 1\n");
    let gw = gateway(&up, &models, "usage-based-routing-v2").await;
    let mut small = 0;
    for _ in 0..10 {
        let (s, id) = served_by(&gw, "g").await;
        assert_eq!(s, 200);
        small += usize::from(id == "small");
    }
    assert!(small <= 2, "small served {small}");
    assert_eq!(served_by(&gw, "solo").await.0, 200);
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "solo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_unknown_strategy_is_a_config_error() {
    let up = start_upstream().await;
    let cfg = config_with_models(
        &up,
        "",
        "router_settings:\n  routing_strategy: fastest-please\n",
    );
    let loaded = switchyard::config::parse(&cfg, "r.yaml").unwrap();
    let err = switchyard::Router::from_config(loaded.config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routing_strategy") && err.contains("fastest-please"),
        "{err}"
    );
}

#[tokio::test]
async fn wildcard_groups_route_any_matching_name() {
    let up = start_upstream().await;
    let models = format!(
        "  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: {}\n      api_key: k\n  - model_name: \"team-*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: {}\n      api_key: k\n",
        up.base(),
        up.base()
    );
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "openai/echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.last().body["model"],
        "echo",
        "the matched part becomes the model"
    );
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "team-tools", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.last().body["model"], "tools");
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "anthropic/x", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no wildcard matches");
}

#[tokio::test]
async fn retry_policy_sets_retries_per_error_class() {
    let up = start_upstream().await;
    let models = deployment(&up, "flaky", "f", "status-503", "")
        + &deployment(&up, "limited", "l", "status-429", "");
    let extra = "router_settings:\n  num_retries: 3\n  retry_policy:\n    ServiceUnavailableErrorRetries: 2\n    RateLimitErrorRetries: 0\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    let before = up.count();
    let (status, _) = served_by(&gw, "flaky").await;
    assert_eq!(status, 503);
    assert_eq!(up.count() - before, 3, "1 call + 2 retries for 503s");
    let before = up.count();
    let (status, _) = served_by(&gw, "limited").await;
    assert_eq!(status, 429);
    assert_eq!(
        up.count() - before,
        1,
        "no retry for 429s by policy, though num_retries is 3"
    );
}

#[tokio::test]
async fn allowed_fails_policy_counts_an_error_class_on_its_own() {
    let up = start_upstream().await;
    let models = deployment(&up, "g", "limited", "status-429", "      order: 1\n")
        + &deployment(&up, "g", "backup", "echo", "      order: 2\n");
    let extra = "router_settings:\n  allowed_fails_policy:\n    RateLimitErrorAllowedFails: 2\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    // Without the policy a 429 cools the deployment at once; with it, the third one does.
    for _ in 0..3 {
        assert_eq!(
            served_by(&gw, "g").await.0,
            429,
            "the limited deployment answers"
        );
    }
    assert_eq!(served_by(&gw, "g").await, (200, "backup".to_owned()));
}

#[tokio::test]
async fn a_deployments_max_retries_overrides_the_groups() {
    let up = start_upstream().await;
    let models = deployment(&up, "once", "o", "status-503", "      max_retries: 1\n")
        + &deployment(&up, "never", "n", "status-503", "      max_retries: 0\n");
    let extra = "router_settings:\n  num_retries: 3\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    let before = up.count();
    assert_eq!(served_by(&gw, "once").await.0, 503);
    assert_eq!(
        up.count() - before,
        2,
        "1 call + its own 1 retry, not the group's 3"
    );
    let before = up.count();
    assert_eq!(served_by(&gw, "never").await.0, 503);
    assert_eq!(up.count() - before, 1);
}

#[tokio::test]
async fn streamed_tokens_count_against_a_deployments_tpm() {
    let up = start_upstream().await;
    // Each stream of the mock reports 12 tokens.
    let models = deployment(&up, "metered", "m", "echo", "      tpm: 20\n");
    let gw = start_gateway(&config_with_models(&up, &models, "")).await;
    let stream = || async {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .json(&json!({"model": "metered", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let _ = r.text().await.unwrap();
        // The gateway counts a stream's tokens as it lets go of it, just after the last byte.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status
    };
    assert_eq!(stream().await, 200);
    assert_eq!(stream().await, 200, "12 of 20 tokens used");
    assert_ne!(stream().await, 200, "24 tokens used: the minute is spent");
}

#[tokio::test]
async fn a_requests_timeout_bounds_all_its_retries() {
    let up = start_upstream().await;
    // Each attempt would take 5 s (the mock), and three retries are allowed.
    let models = deployment(&up, "sluggish", "s", "slow", "      timeout: 30\n");
    let extra = "router_settings:\n  num_retries: 3\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    let before = up.count();
    let started = std::time::Instant::now();
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("x-litellm-timeout", "1.5")
        .json(&json!({"model": "sluggish", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 408);
    assert_eq!(up.count() - before, 1, "no retry once the time is spent");
    assert!(
        took >= std::time::Duration::from_millis(1400) && took < std::time::Duration::from_secs(4),
        "the whole call ends at its timeout: {took:?}"
    );
    // The body's `timeout` does the same.
    let before = up.count();
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "sluggish", "timeout": 1, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 408);
    assert_eq!(up.count() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_take_more_than_a_deployments_rpm() {
    let up = start_upstream().await;
    let models = deployment(&up, "burst", "b1", "hold", "      rpm: 5\n");
    let gw = gateway(&up, &models, "simple-shuffle").await;
    let started = this_minute();
    let calls = (0..24).map(|_| served_by(&gw, "burst"));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    if this_minute() != started {
        eprintln!("the minute ended mid-burst: counts restarted, nothing to check");
        return;
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 19);
}

#[tokio::test]
async fn pre_call_checks_skip_deployments_the_prompt_overflows() {
    let up = start_upstream().await;
    let small = "    model_info:\n      max_input_tokens: 5\n";
    let models = format!(
        "  - model_name: mixed\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: tiny\n      max_input_tokens: 5\n  - model_name: mixed\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: roomy\n      max_input_tokens: 100000\n  - model_name: cramped\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n{small}  - model_name: cramped-alone\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n{small}",
        b = up.base()
    );
    let extra = "router_settings:\n  enable_pre_call_checks: true\n  context_window_fallbacks: [{\"cramped\": [\"echo\"]}]\n";
    let gw = start_gateway(&config_with_models(&up, &models, extra)).await;
    for _ in 0..12 {
        let (status, id) = served_by(&gw, "mixed").await;
        assert_eq!(status, 200);
        assert_eq!(id, "roomy", "the 5-token deployment is never picked");
    }
    // Nothing in the group takes the prompt: its context-window fallback does.
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "cramped", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-attempted-fallbacks"], "1");
    assert_eq!(r.headers()["x-litellm-model-group"], "echo");
    // Without a fallback: LiteLLM's context window error, before any upstream call.
    let before = up.count();
    let r = client()
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "cramped-alone", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum context length is 5 tokens"));
    assert_eq!(up.count(), before);
}

//! Budgets and rate limits through the HTTP API: exact under concurrent bursts, released on
//! every way a request ends, reset with their period.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const MASTER: &str = "sk-master-limits";

fn config(up: &Upstream, extra: &str) -> String {
    let models = format!(
        "  - model_name: priced\n    litellm_params:\n      model: openai/echo\n      api_base: {base}\n      api_key: sk-upstream-secret\n      input_cost_per_token: 0.00001\n      output_cost_per_token: 0.00002\n  - model_name: hold\n    litellm_params:\n      model: openai/hold\n      api_base: {base}\n      api_key: sk-upstream-secret\n",
        base = up.base()
    );
    config_with_models(
        up,
        &models,
        &format!("general_settings:\n  master_key: {MASTER}\n{extra}"),
    )
}

async fn key(gw: &Gateway, body: Value) -> String {
    let r = client()
        .post(format!("{}/key/generate", gw.base))
        .bearer_auth(MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20})
}

/// Fires `n` requests at once; returns the responses' statuses and bodies.
async fn burst(
    gw: &Gateway,
    key: &str,
    body: Value,
    n: usize,
) -> Vec<(u16, reqwest::header::HeaderMap, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (base, key, body) = (gw.base.clone(), key.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            (
                status,
                headers,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn rpm_admits_exactly_the_limit_under_a_burst() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(&gw, json!({"rpm_limit": 10, "tpm_limit": 1000000})).await;
    let out = burst(&gw, &k, hello("mock"), 30).await;
    let ok: Vec<_> = out.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(ok.len(), 10);
    let (_, h, _) = ok[0];
    assert_eq!(h["x-ratelimit-limit-requests"], "10");
    assert_eq!(h["x-litellm-key-rpm-limit"], "10");
    assert!(h.contains_key("x-ratelimit-remaining-requests"));
    assert_eq!(h["x-ratelimit-limit-tokens"], "1000000");
    for (s, h, body) in out.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!(*s, 429);
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Limit type: requests"));
        let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=61).contains(&after), "{after}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn key_headers_show_the_spend_the_budget_and_the_windows_exactly() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(
        &gw,
        json!({"max_budget": 2.5, "rpm_limit": 100, "tpm_limit": 100000}),
    )
    .await;
    let send = || async {
        let r = client()
            .post(format!("{}/v1/chat/completions", gw.base))
            .bearer_auth(&k)
            .json(&hello("priced"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.headers().clone()
    };
    let h = send().await;
    assert_eq!(h["x-litellm-key-spend"], "0");
    assert_eq!(h["x-litellm-key-max-budget"], "2.5");
    assert_eq!(h["x-litellm-key-rpm-limit"], "100");
    assert_eq!(h["x-litellm-key-tpm-limit"], "100000");
    assert_eq!(h["x-ratelimit-limit-requests"], "100");
    assert_eq!(h["x-ratelimit-remaining-requests"], "99");
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        let reset = h[name].to_str().unwrap();
        let secs: u64 = reset.strip_suffix('s').unwrap().parse().unwrap();
        assert!((1..=61).contains(&secs), "{name}: {reset}");
    }
    let cost = h["x-litellm-response-cost"].to_str().unwrap().to_owned();
    assert_ne!(cost, "0");
    // The next answer's key spend is the first one's cost, to the last digit.
    let h = send().await;
    assert_eq!(h["x-litellm-key-spend"], cost.as_str());
    assert_eq!(h["x-ratelimit-remaining-requests"], "98");
    gw.stop().await;
}

#[tokio::test]
async fn parallel_limits_hold_and_free_when_requests_end() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(&gw, json!({"max_parallel_requests": 2})).await;
    let out = burst(&gw, &k, hello("hold"), 6).await;
    let ok = out.iter().filter(|(s, _, _)| *s == 200).count();
    assert_eq!(ok, 2);
    let refused = out.iter().find(|(s, _, _)| *s == 429).unwrap();
    assert!(refused.2["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_parallel_requests"));
    // All ended: both slots are free again, also after failures.
    let out = burst(&gw, &k, hello("status-500"), 2).await;
    assert!(out.iter().all(|(s, _, _)| *s == 500));
    assert_eq!(
        burst(&gw, &k, hello("hold"), 2)
            .await
            .iter()
            .filter(|(s, _, _)| *s == 200)
            .count(),
        2
    );
    gw.stop().await;
}

#[tokio::test]
async fn concurrent_requests_overspend_a_budget_by_at_most_one_reservation() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    // Each request: ~10 prompt tokens x $0.00001 + up to 20 output tokens x $0.00002
    // = a worst case of about $0.0005; the echo answer costs less.
    let budget = 0.002;
    let k = key(&gw, json!({"max_budget": budget})).await;
    let out = burst(&gw, &k, hello("priced"), 50).await;
    let ok = out.iter().filter(|(s, _, _)| *s == 200).count();
    let refused: Vec<_> = out.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(ok + refused.len(), 50);
    assert!(ok >= 1 && !refused.is_empty(), "ok {ok}");
    assert_eq!(refused[0].2["error"]["type"], "budget_exceeded");
    let cost = |h: &reqwest::header::HeaderMap| {
        h.get("x-litellm-response-cost")
            .map_or(0.0, |v| v.to_str().unwrap().parse::<f64>().unwrap())
    };
    let mut spent: f64 = out.iter().map(|(_, h, _)| cost(h)).sum();
    // Reservations refused some while in flight; spend what is left one by one until the
    // budget itself refuses.
    let mut refused_at_last = false;
    for _ in 0..100 {
        let r = post_with_key(&gw, &k, hello("priced")).await;
        if r.status() == 429 {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["type"], "budget_exceeded");
            refused_at_last = true;
            break;
        }
        spent += cost(r.headers());
    }
    assert!(refused_at_last);
    let worst_case = 0.0005;
    assert!(spent >= budget, "the budget was used: {spent}");
    assert!(spent <= budget + worst_case, "spent {spent} of {budget}");
    gw.stop().await;
}

#[tokio::test]
async fn a_budget_resets_when_its_period_ends() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(
        &gw,
        json!({"max_budget": 0.0000001, "budget_duration": "2s"}),
    )
    .await;
    assert_eq!(post_with_key(&gw, &k, hello("priced")).await.status(), 200);
    let r = post_with_key(&gw, &k, hello("priced")).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "budget_exceeded");
    // The first request of the next period is admitted at once: no sweep to wait for.
    let mut admitted = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if post_with_key(&gw, &k, hello("priced")).await.status() == 200 {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a new period starts a fresh budget");
    gw.stop().await;
}

#[tokio::test]
async fn team_and_global_limits_apply_on_top_of_the_key() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "  global_max_parallel_requests: 3\n")).await;
    let r = client()
        .post(format!("{}/team/new", gw.base))
        .bearer_auth(MASTER)
        .json(&json!({"team_id": "t", "rpm_limit": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = key(&gw, json!({"team_id": "t"})).await;
    let b = key(&gw, json!({"team_id": "t"})).await;
    let mut ok = 0;
    for k in [&a, &b, &a, &b, &a] {
        if post_with_key(&gw, k, hello("mock")).await.status() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "the team's rpm covers both keys");
    let c = key(&gw, json!({})).await;
    let out = burst(&gw, &c, hello("hold"), 6).await;
    assert_eq!(
        out.iter().filter(|(s, _, _)| *s == 200).count(),
        3,
        "global parallel limit"
    );
    gw.stop().await;
}

#[tokio::test]
async fn spent_budgets_stay_spent_after_a_restart() {
    let up = start_upstream().await;
    for db in Db::all() {
        let gw = start_gateway_on(&config(&up, ""), &db).await;
        let periodic = key(
            &gw,
            json!({"max_budget": 0.0000001, "budget_duration": "1h"}),
        )
        .await;
        let lifetime = key(&gw, json!({"max_budget": 0.0000001})).await;
        let per_model = key(&gw, json!({"model_max_budget": {"priced": {"budget_limit": 0.0000001, "time_period": "1d"}}})).await;
        for k in [&periodic, &lifetime, &per_model] {
            assert_eq!(post_with_key(&gw, k, hello("priced")).await.status(), 200);
            assert_eq!(post_with_key(&gw, k, hello("priced")).await.status(), 429);
        }
        gw.stop().await;
        let gw = start_gateway_on(&config(&up, ""), &db).await;
        for k in [&periodic, &lifetime, &per_model] {
            let r = post_with_key(&gw, k, hello("priced")).await;
            assert_eq!(r.status(), 429, "still spent after a restart");
        }
        // Another model is not under the per-model budget.
        assert_eq!(
            post_with_key(&gw, &per_model, hello("mock")).await.status(),
            200
        );
        gw.stop().await;
    }
}

#[tokio::test]
async fn tags_carry_their_own_budgets_and_limits() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let admin = |path: &'static str, body: Value| {
        let base = gw.base.clone();
        async move {
            let r = client()
                .post(format!("{base}{path}"))
                .bearer_auth(MASTER)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, t) = admin(
        "/tag/new",
        json!({"name": "experiments", "max_budget": 0.0000001, "description": "R&D"}),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let (s, _) = admin("/tag/new", json!({"name": "burst", "rpm_limit": 2})).await;
    assert_eq!(s, 200);
    assert_eq!(
        admin("/tag/new", json!({"name": "burst"})).await.0,
        400,
        "exists"
    );
    let k = key(&gw, json!({})).await;
    let tagged = |tag: &str| {
        let mut b = hello("priced");
        b["tags"] = json!([tag]);
        b
    };
    assert_eq!(
        post_with_key(&gw, &k, tagged("experiments")).await.status(),
        200
    );
    let r = post_with_key(&gw, &k, tagged("experiments")).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "budget_exceeded");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tag=experiments"));
    assert_eq!(
        post_with_key(&gw, &k, hello("priced")).await.status(),
        200,
        "untagged traffic is not charged to the tag"
    );
    let mut ok = 0;
    for _ in 0..4 {
        if post_with_key(&gw, &k, tagged("burst")).await.status() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 2, "the tag's rpm");
    let (s, info) = admin("/tag/info", json!({"names": ["experiments"]})).await;
    assert_eq!(s, 200);
    assert_eq!(info["experiments"]["description"], "R&D");
    let list = client()
        .get(format!("{}/tag/list", gw.base))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    gw.stop().await;
}

/// A webhook receiver on 127.0.0.1: every JSON body posted, by path.
async fn start_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use axum::extract::{Path, State};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    let seen: Seen = Default::default();
    let app =
        axum::Router::new()
            .route(
                "/{path}",
                axum::routing::post(
                    |State(seen): State<Seen>,
                     Path(path): Path<String>,
                     body: axum::Json<Value>| async move {
                        seen.lock().unwrap().push((path, body.0));
                        "ok"
                    },
                ),
            )
            .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn crossing_a_soft_budget_alerts_once_on_slack_and_the_webhook() {
    let up = start_upstream().await;
    let (hooks, seen) = start_receiver().await;
    let extra = format!(
        "  alerting: [\"slack\", \"webhook\"]\n  alert_to_webhook_url:\n    budget_alerts: {hooks}/slack\nenvironment_variables:\n  WEBHOOK_URL: {hooks}/hook\n"
    );
    let gw = start_gateway(&config(&up, &extra)).await;
    let k = key(
        &gw,
        json!({"soft_budget": 0.0000001, "max_budget": 1.0, "key_alias": "alerted"}),
    )
    .await;
    for _ in 0..4 {
        assert_eq!(post_with_key(&gw, &k, hello("priced")).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    gw.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap().clone();
    let hooks: Vec<&Value> = seen
        .iter()
        .filter(|(p, _)| p == "hook")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(hooks.len(), 1, "{seen:?}");
    assert_eq!(hooks[0]["event"], "soft_budget_crossed");
    assert_eq!(hooks[0]["event_group"], "key");
    assert_eq!(hooks[0]["key_alias"], "alerted");
    assert!(hooks[0]["spend"].as_f64().unwrap() >= 0.0000001);
    let slack: Vec<&Value> = seen
        .iter()
        .filter(|(p, _)| p == "slack")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(slack.len(), 1);
    assert!(slack[0]["text"]
        .as_str()
        .unwrap()
        .contains("alerted crossed its soft budget"));
    assert!(
        !seen.iter().any(|(_, v)| v.to_string().contains(&k)),
        "never the key"
    );
}

#[tokio::test]
async fn metrics_show_keys_budgets_ttft_and_the_spend_queue() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(&gw, json!({"key_alias": "metered", "max_budget": 10.0})).await;
    assert_eq!(post_with_key(&gw, &k, hello("priced")).await.status(), 200);
    let mut stream = hello("mock");
    stream["stream"] = json!(true);
    post_with_key(&gw, &k, stream).await.text().await.unwrap();
    // A stream's metrics are recorded when its body ends, a moment after the client has it.
    let mut text = String::new();
    for _ in 0..50 {
        text = client()
            .get(format!("{}/metrics", gw.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("litellm_llm_api_time_to_first_token_metric_count{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_owned()
    };
    let req = text
        .lines()
        .find(|l| {
            l.starts_with("litellm_requests_metric_total{")
                && l.contains("requested_model=\"priced\"")
        })
        .unwrap_or_else(|| panic!("no key request line in\n{text}"));
    assert!(
        req.contains("api_key_alias=\"metered\"") && req.contains("requested_model=\"priced\""),
        "{req}"
    );
    assert!(!text.contains(&k), "never the key itself");
    // Tokens and spend are counted by key, and not again without one.
    for (metric, value) in [
        ("litellm_input_tokens_metric_total{", "9"),
        ("litellm_output_tokens_metric_total{", "3"),
        ("litellm_total_tokens_metric_total{", "12"),
    ] {
        let of_priced = |keyed: bool| {
            text.lines()
                .find(|l| {
                    l.starts_with(metric)
                        && l.contains("model_group=\"priced\"")
                        && l.contains("api_key_alias=\"metered\"") == keyed
                })
                .unwrap_or_else(|| panic!("no {metric} line (keyed: {keyed}) in\n{text}"))
        };
        let keyed = of_priced(true);
        assert!(
            keyed.contains("hashed_api_key=\"")
                && !keyed.contains("hashed_api_key=\"\"")
                && keyed.ends_with(&format!(" {value}")),
            "{keyed}"
        );
        assert!(of_priced(false).ends_with(" 0"), "{}", of_priced(false));
    }
    let spend = text
        .lines()
        .find(|l| {
            l.starts_with("litellm_spend_metric_total{")
                && l.contains("model_group=\"priced\"")
                && l.contains("api_key_alias=\"metered\"")
        })
        .unwrap_or_else(|| panic!("no keyed spend line in\n{text}"));
    let spent: f64 = spend.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(spent > 0.0, "{spend}");
    let remaining: f64 = line("litellm_remaining_api_key_budget_metric{")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(remaining < 10.0 && remaining > 9.9, "{remaining}");
    assert!(line("litellm_api_key_max_budget_metric{").ends_with(" 10.0"));
    assert!(
        text.contains("litellm_llm_api_time_to_first_token_metric_count{model_group=\"mock\"} 1"),
        "{text}"
    );
    assert!(text.contains("litellm_in_memory_spend_update_queue_size "));
    assert!(text.contains("switchyard_limits_shared 0"));
    gw.stop().await;
}

#[tokio::test]
async fn a_keys_remaining_limits_are_gauges() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up, "")).await;
    let k = key(
        &gw,
        json!({"key_alias": "metered", "rpm_limit": 5, "tpm_limit": 1000}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(post_with_key(&gw, &k, hello("echo")).await.status(), 200);
    }
    let text = client()
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("api_key_alias=\"metered\""))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_owned()
    };
    assert!(line("litellm_remaining_api_key_requests_for_model").ends_with(" 3"));
    let tokens: i64 = line("litellm_remaining_api_key_tokens_for_model")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(tokens < 1000 && tokens > 900, "{tokens}");
}

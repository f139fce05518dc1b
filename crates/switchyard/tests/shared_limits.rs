//! Limits shared through Redis by several gateway instances, and what happens when Redis goes
//! away. Needs REDIS_URL (set by .ci/run) or, for the outage test, a `redis-server` binary.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const MASTER: &str = "sk-master-shared";

fn config(up: &Upstream) -> String {
    let hold = format!(
        "  - model_name: hold\n    litellm_params:\n      model: openai/hold\n      api_base: {}\n      api_key: sk-upstream-secret\n",
        up.base()
    );
    config_with_models(
        up,
        &hold,
        &format!("general_settings:\n  master_key: {MASTER}\n"),
    )
}

fn with_redis(db: &Db, url: &str, ns: &str) -> Db {
    Db {
        redis: Some((url.to_owned(), ns.to_owned())),
        ..db.clone()
    }
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

fn hello() -> Value {
    json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]})
}

/// Waits until the gateway counts limits in Redis (it connects in the background).
async fn wait_shared(gw: &Gateway, key: &str) {
    for _ in 0..50 {
        let r = post_with_key(gw, key, hello()).await;
        if r.headers().contains_key("x-ratelimit-limit-requests") {
            // Shared or not, the header is there; a short pause lets the connection settle.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_instances_enforce_one_rpm_limit() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL not set: skipping the shared-limit test");
        return;
    };
    let up = start_upstream().await;
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let db = with_redis(&Db::sqlite(), &url, &ns);
    let a = start_gateway_on(&config(&up), &db).await;
    let b = start_gateway_on(&config(&up), &db).await;
    // Give both instances their Redis connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let k = key(&a, json!({"rpm_limit": 10})).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            client()
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(k)
                .json(&hello())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 10, "one limit across both instances");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_parallel_limit_spans_instances_and_frees_after_requests_end() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL not set: skipping the shared parallel-limit test");
        return;
    };
    let up = start_upstream().await;
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let db = with_redis(&Db::sqlite(), &url, &ns);
    let a = start_gateway_on(&config(&up), &db).await;
    let b = start_gateway_on(&config(&up), &db).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let k = key(&a, json!({"max_parallel_requests": 2})).await;
    let hold = json!({"model": "hold", "messages": [{"role": "user", "content": "hi"}]});
    for round in 0..2 {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let base = if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let (k, body) = (k.clone(), hold.clone());
            tasks.push(tokio::spawn(async move {
                client()
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(k)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap() == 200 {
                ok += 1;
            }
        }
        assert_eq!(ok, 2, "round {round}: two slots across both instances");
        // Settlements reach Redis within a flush interval.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.stop().await;
    b.stop().await;
}

struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Option<RedisServer> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(RedisServer(child));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test]
async fn requests_keep_flowing_when_redis_dies_and_sharing_resumes_when_it_returns() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(redis) = start_redis(port) else {
        eprintln!("no redis-server binary: skipping the Redis outage test");
        return;
    };
    let up = start_upstream().await;
    let url = format!("redis://127.0.0.1:{port}");
    let db = with_redis(&Db::sqlite(), &url, "outage");
    let gw = start_gateway_on(&config(&up), &db).await;
    let k = key(&gw, json!({"rpm_limit": 1000})).await;
    wait_shared(&gw, &k).await;
    let counted = || {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &port.to_string(),
                "--scan",
                "--pattern",
                "sy:outage:*",
            ])
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    assert!(counted(), "counters live in Redis");

    drop(redis);
    for _ in 0..10 {
        let r = post_with_key(&gw, &k, hello()).await;
        assert_eq!(r.status(), 200, "a dead Redis fails no request");
    }

    let _redis = start_redis(port).expect("redis-server restarts");
    let mut back = false;
    for _ in 0..50 {
        assert_eq!(post_with_key(&gw, &k, hello()).await.status(), 200);
        if counted() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "counting resumes in Redis when it returns");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_on_one_instance_holds_on_every_instance() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL not set: skipping the shared-cooldown test");
        return;
    };
    let up = start_upstream().await;
    let models = format!(
        "  - model_name: pair\n    litellm_params:\n      model: openai/status-429\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: limited\n  - model_name: pair\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n    model_info:\n      id: healthy\n",
        b = up.base()
    );
    let yaml = config_with_models(&up, &models, "router_settings:\n  num_retries: 2\n");
    let ns = format!("sy-cool-{}:", uuid::Uuid::new_v4().simple());
    let db = with_redis(&Db::sqlite(), &url, &ns);
    let a = start_gateway_on(&yaml, &db).await;
    let b = start_gateway_on(&yaml, &db).await;
    // Let both subscribe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = |gw: &Gateway| {
        let url = format!("{}/metrics", gw.base);
        async move {
            let text = client()
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .find(|l| l.starts_with("litellm_deployment_state{model_id=\"limited\""))
                .map(|l| l.ends_with(" 2"))
                .unwrap_or(false)
        }
    };
    assert!(!state(&b).await);
    // Only instance a sees the 429s.
    for _ in 0..20 {
        let r = client()
            .post(format!("{}/v1/chat/completions", a.base))
            .json(&json!({"model": "pair", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(state(&a).await, "a cooled `limited` down");
    let mut shared = false;
    for _ in 0..50 {
        if state(&b).await {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        shared,
        "b cools `limited` down too, without a failure of its own"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_rpm_and_tpm_hold_across_instances() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL not set: skipping the shared deployment-usage test");
        return;
    };
    let up = start_upstream().await;
    let post = |gw: &Gateway, model: &'static str| {
        let url = format!("{}/v1/chat/completions", gw.base);
        async move {
            client()
                .post(url)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A minute that ends mid-test starts every count again: run it in one minute.
    for _ in 0..2 {
        let models = format!(
            "  - model_name: capped\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n      rpm: 4\n  - model_name: metered\n    litellm_params:\n      model: openai/echo\n      api_base: {b}\n      api_key: k\n      tpm: 20\n",
            b = up.base()
        );
        let yaml = config_with_models(&up, &models, "");
        let ns = format!("sy-usage-{}:", uuid::Uuid::new_v4().simple());
        let db = with_redis(&Db::sqlite(), &url, &ns);
        let a = start_gateway_on(&yaml, &db).await;
        let b = start_gateway_on(&yaml, &db).await;
        let started = this_minute();
        let mut statuses = Vec::new();
        for i in 0..8 {
            statuses.push(post(if i % 2 == 0 { &a } else { &b }, "capped").await);
        }
        // 12 tokens per answer: the second instance's answer brings the minute to 24, over
        // the tpm of 20, though the first instance itself counted only 12.
        let first = post(&a, "metered").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let second = post(&b, "metered").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let third = post(&a, "metered").await;
        a.stop().await;
        b.stop().await;
        if this_minute() != started {
            continue;
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            4,
            "rpm 4 across both instances: {statuses:?}"
        );
        assert!(statuses.iter().all(|s| *s == 200 || *s == 429));
        assert_eq!((first, second, third), (200, 200, 429));
        return;
    }
    panic!("two minutes ended mid-test");
}

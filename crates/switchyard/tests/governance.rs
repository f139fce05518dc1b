//! Virtual keys, users, teams, end users and spend through the HTTP API, on SQLite always and on
//! PostgreSQL when DATABASE_URL is set.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::*;

const MASTER: &str = "sk-master-test";

fn config(up: &Upstream) -> String {
    let priced = format!(
        "  - model_name: priced\n    litellm_params:\n      model: openai/echo\n      api_base: {}\n      api_key: sk-upstream-secret\n      input_cost_per_token: 0.0000013\n      output_cost_per_token: 0.0000071\n    model_info:\n      access_groups: [\"beta-models\"]\n",
        up.base()
    );
    config_with_models(
        up,
        &priced,
        &format!("general_settings:\n  master_key: {MASTER}\n"),
    )
}

async fn admin(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", gw.base))
        .bearer_auth(MASTER)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(gw: &Gateway, path: &str, key: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}{path}", gw.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]})
}

#[tokio::test]
async fn key_lifecycle_and_model_access_over_http() {
    let up = start_upstream().await;
    for db in Db::all() {
        let gw = start_gateway_on(&config(&up), &db).await;
        let (s, team) = admin(
            &gw,
            "/team/new",
            json!({"team_alias": "search", "models": ["priced", "echo", "mock"]}),
        )
        .await;
        assert_eq!(s, 200, "{team}");
        let team_id = team["team_id"].as_str().unwrap().to_owned();
        let (s, k) = admin(
            &gw,
            "/key/generate",
            json!({"models": ["beta-models", "mock"], "team_id": team_id, "key_alias": "ci", "aliases": {"fast": "mock"}, "metadata": {"env": "ci"}}),
        )
        .await;
        assert_eq!(s, 200, "{k}");
        let key = k["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("sk-") && key.len() >= 46, "{key}");
        assert_eq!(
            k["key_name"],
            json!(format!("sk-...{}", &key[key.len() - 4..]))
        );

        // The access group grants `priced`; `echo` is the team's but not the key's.
        let r = post_with_key(&gw, &key, hello("priced")).await;
        assert_eq!(r.status(), 200);
        let r = post_with_key(&gw, &key, hello("echo")).await;
        assert_eq!(r.status(), 401);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "key_model_access_denied");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tried to access echo"));
        // Key alias.
        let r = post_with_key(&gw, &key, hello("fast")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-litellm-model-group"], "mock");
        // /v1/models lists only what the key may call.
        let (_, models) = get(&gw, "/v1/models", &key).await;
        let mut ids: Vec<&str> = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, ["mock", "priced"]);

        // A key reads its own info, never another's, and never sees a secret.
        let (s, info) = get(&gw, "/key/info", &key).await;
        assert_eq!(s, 200);
        assert_eq!(info["info"]["key_alias"], "ci");
        assert_eq!(info["info"]["metadata"]["env"], "ci");
        assert!(!info.to_string().contains(&key));
        let (s, other) = admin(&gw, "/key/generate", json!({})).await;
        assert_eq!(s, 200);
        let (s, _) = get(
            &gw,
            &format!("/key/info?key={}", other["key"].as_str().unwrap()),
            &key,
        )
        .await;
        assert_eq!(s, 403);
        // Management routes need the master key.
        let r = client()
            .post(format!("{}/key/generate", gw.base))
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers().contains_key("x-litellm-call-id"),
            "refusals carry a call id too"
        );
        let (s, list) = get(&gw, "/key/list?team_id=".to_owned().as_str(), MASTER).await;
        assert_eq!(s, 200);
        assert_eq!(list["total_count"], 2);

        // Bad input is a 400 naming the field.
        let (s, e) = admin(&gw, "/key/generate", json!({"rpm_limit": "many"})).await;
        assert_eq!(s, 400);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("rpm_limit"),
            "{e}"
        );
        let (s, _) = admin(&gw, "/key/generate", json!({"duration": "soon"})).await;
        assert_eq!(s, 400);

        // Update, block, unblock, regenerate, delete.
        let (s, _) = admin(&gw, "/key/update", json!({"key": key, "models": ["mock"]})).await;
        assert_eq!(s, 200);
        assert_eq!(
            post_with_key(&gw, &key, hello("priced")).await.status(),
            401
        );
        admin(&gw, "/key/block", json!({"key": key})).await;
        let r = post_with_key(&gw, &key, hello("mock")).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("blocked"));
        admin(&gw, "/key/unblock", json!({"key": key})).await;
        assert_eq!(post_with_key(&gw, &key, hello("mock")).await.status(), 200);
        let (s, re) = admin(&gw, &format!("/key/{key}/regenerate"), json!({})).await;
        assert_eq!(s, 200, "{re}");
        let new_key = re["key"].as_str().unwrap().to_owned();
        assert_eq!(post_with_key(&gw, &key, hello("mock")).await.status(), 401);
        assert_eq!(
            post_with_key(&gw, &new_key, hello("mock")).await.status(),
            200
        );
        let (s, d) = admin(&gw, "/key/delete", json!({"keys": [new_key]})).await;
        assert_eq!(s, 200, "{d}");
        assert_eq!(
            post_with_key(&gw, &new_key, hello("mock")).await.status(),
            401
        );

        // Blocked end user.
        admin(&gw, "/customer/new", json!({"user_id": "cust-1"})).await;
        admin(&gw, "/customer/block", json!({"user_ids": ["cust-1"]})).await;
        let mut body = hello("mock");
        body["user"] = json!("cust-1");
        assert_eq!(post_with_key(&gw, MASTER, body).await.status(), 403);
        gw.stop().await;
    }
}

#[tokio::test]
async fn spend_adds_up_exactly_across_concurrent_requests_and_restarts() {
    let up = start_upstream().await;
    for db in Db::all() {
        let gw = start_gateway_on(&config(&up), &db).await;
        let (_, team) = admin(&gw, "/team/new", json!({"team_id": "t-spend"})).await;
        assert_eq!(team["team_id"], "t-spend");
        let (_, u) = admin(
            &gw,
            "/user/new",
            json!({"user_id": "u-spend", "auto_create_key": false}),
        )
        .await;
        assert_eq!(u["user_id"], "u-spend");
        let (_, k) = admin(
            &gw,
            "/key/generate",
            json!({"team_id": "t-spend", "user_id": "u-spend", "tags": ["ci"]}),
        )
        .await;
        let key = k["key"].as_str().unwrap().to_owned();

        let mut tasks = Vec::new();
        for i in 0..60 {
            let (base, key) = (gw.base.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let words = "word ".repeat(1 + i % 7);
                let mut body = json!({"model": "priced", "messages": [{"role": "user", "content": words}], "user": format!("end-{}", i % 3)});
                if i % 2 == 0 {
                    body["stream"] = json!(true);
                    body["stream_options"] = json!({"include_usage": true});
                }
                let r = client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let cost_header = r.headers().get("x-litellm-response-cost").map(|v| v.to_str().unwrap().to_owned());
                let id = r.headers()["x-litellm-call-id"].to_str().unwrap().to_owned();
                r.text().await.unwrap();
                (id, cost_header)
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().0);
        }
        // A failed request is logged too, at no cost.
        assert_eq!(post_with_key(&gw, &key, hello("nope")).await.status(), 400);
        gw.stop().await;

        // A fresh gateway on the same store: everything survived.
        let gw = start_gateway_on(&config(&up), &db).await;
        let (s, logs) = get(&gw, &format!("/spend/logs?api_key={key}"), MASTER).await;
        assert_eq!(s, 200);
        let logs = logs.as_array().unwrap();
        assert_eq!(logs.len(), 61);
        let ok: Vec<&Value> = logs.iter().filter(|l| l["status"] == "success").collect();
        assert_eq!(ok.len(), 60);
        for id in &ids {
            assert!(
                ok.iter().any(|l| l["request_id"] == json!(id)),
                "{id} logged"
            );
        }
        let nano = |v: &Value| (v.as_f64().unwrap() * 1e9).round() as i64;
        let sum: i64 = logs.iter().map(|l| nano(&l["spend"])).sum();
        assert!(sum > 0);
        for l in &ok {
            assert!(l["prompt_tokens"].as_i64().unwrap() > 0);
            assert_eq!(l["team_id"], "t-spend");
            assert_eq!(l["user"], "u-spend");
            assert_eq!(l["request_tags"], json!(["ci"]));
        }
        let failed = logs.iter().find(|l| l["status"] == "failure").unwrap();
        assert_eq!(failed["status_code"], 400);
        assert_eq!(failed["model_group"], "nope");

        let (_, info) = get(&gw, &format!("/key/info?key={key}"), MASTER).await;
        assert_eq!(
            nano(&info["info"]["spend"]),
            sum,
            "key spend = sum of its logs"
        );
        let (_, t) = get(&gw, "/team/info?team_id=t-spend", MASTER).await;
        assert_eq!(nano(&t["team_info"]["spend"]), sum);
        let (_, u) = get(&gw, "/user/info?user_id=u-spend", MASTER).await;
        assert_eq!(nano(&u["user_info"]["spend"]), sum);
        let mut customers = 0;
        for c in ["end-0", "end-1", "end-2"] {
            let (s, v) = get(&gw, &format!("/customer/info?end_user_id={c}"), MASTER).await;
            assert_eq!(s, 200);
            customers += nano(&v["spend"]);
        }
        assert_eq!(customers, sum);
        for group in [
            "team", "api_key", "model", "provider", "customer", "tag", "user",
        ] {
            let (s, report) = get(
                &gw,
                &format!("/global/spend/report?group_by={group}"),
                MASTER,
            )
            .await;
            assert_eq!(s, 200, "{report}");
            let total: i64 = report
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|d| {
                    d.as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, _)| *k != "group_by_day")
                        .flat_map(|(_, v)| v.as_array().unwrap().clone())
                })
                .map(|g| nano(&g["total_spend"]))
                .sum();
            assert_eq!(total, sum, "report by {group}");
        }
        let (s, _) = get(&gw, "/global/spend/report?group_by=planet", MASTER).await;
        assert_eq!(s, 400);
        gw.stop().await;
    }
}

use std::time::Duration;

use serde_json::json;
use switchyard_store::{Store, StoreOptions};

use super::*;

/// A fresh SQLite store, and a fresh PostgreSQL schema when DATABASE_URL is set.
async fn stores(name: &str) -> Vec<(String, StoreOptions)> {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-gov-{name}-{}-{}",
        std::process::id(),
        switchyard_store::now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![(
        dir.join("g.db").to_str().unwrap().to_owned(),
        StoreOptions::default(),
    )];
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => out.push((
            url,
            StoreOptions {
                schema: Some(format!(
                    "sy_gov_{name}_{}_{}",
                    std::process::id(),
                    switchyard_store::now_ms()
                )),
                max_connections: 4,
                ..StoreOptions::default()
            },
        )),
        _ => eprintln!("DATABASE_URL not set: skipping the PostgreSQL half of {name}"),
    }
    out
}

fn opts() -> GovernorOptions {
    let mut groups = HashMap::new();
    groups.insert("beta".to_string(), BTreeSet::from(["m-beta".to_string()]));
    GovernorOptions {
        master_key: Some("sk-master".into()),
        access_groups: groups,
        refresh_interval: Duration::from_millis(50),
        negative_ttl: Duration::from_millis(50),
        flush_interval: Duration::from_millis(50),
        ..GovernorOptions::default()
    }
}

async fn governor(url: &str, o: &StoreOptions) -> Arc<Governor> {
    Governor::start(Store::connect(url, o.clone()).await.unwrap(), opts())
        .await
        .unwrap()
}

fn obj(v: serde_json::Value) -> records::Object {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn key_lifecycle_access_and_revocation_across_instances() {
    for (url, o) in stores("life").await {
        let a = governor(&url, &o).await;
        let b = governor(&url, &o).await;
        let admin = a.authenticate(Some("sk-master")).await.unwrap();
        assert!(admin.is_admin());

        a.new_team(&obj(
            json!({"team_id": "t1", "models": ["m1", "m2", "beta"]}),
        ))
        .await
        .unwrap();
        let k = a
            .generate_key(&admin, &obj(json!({"models": ["m1", "beta", "all-team-models"], "team_id": "t1", "aliases": {"fast": "m1"}, "key_alias": "k"})))
            .await
            .unwrap();
        let key = k["key"].as_str().unwrap().to_owned();
        assert_eq!(k["token_id"], json!(secret::hash_key(&key)));
        // Only the hash is stored: the secret appears in no stored row.
        let rows = a.store().all(switchyard_store::Kind::Key).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, secret::hash_key(&key));
        assert!(!format!("{rows:?}").contains(&key[3..]));

        // Instance b never cached it: it reads it once from the store.
        let caller = b.authenticate(Some(&key)).await.unwrap();
        assert!(!caller.is_admin());
        assert_eq!(b.admit_model(&caller, "m1").unwrap(), "m1");
        assert_eq!(
            b.admit_model(&caller, "m-beta").unwrap(),
            "m-beta",
            "access group"
        );
        assert_eq!(
            b.admit_model(&caller, "m2").unwrap(),
            "m2",
            "all-team-models"
        );
        assert_eq!(b.admit_model(&caller, "fast").unwrap(), "m1", "alias");
        let e = b.admit_model(&caller, "m3").unwrap_err();
        assert_eq!((e.status, e.kind), (401, "key_model_access_denied"));
        assert!(e.message.contains("Tried to access m3"), "{}", e.message);

        // Duplicate alias refused.
        let e = a
            .generate_key(&admin, &obj(json!({"key_alias": "k"})))
            .await
            .unwrap_err();
        assert_eq!(e.status, 400);

        // Blocked on a: b refuses it within the refresh interval.
        a.block_key(&obj(json!({"key": key})), true).await.unwrap();
        assert!(
            a.authenticate(Some(&key)).await.is_err(),
            "refused at once where it changed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let e = b.authenticate(Some(&key)).await.unwrap_err();
        assert!(e.message.contains("blocked"), "{}", e.message);
        a.block_key(&obj(json!({"key": key})), false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(b.authenticate(Some(&key)).await.is_ok());

        // Regenerated: old secret dead, new one alive, on both.
        let r = a
            .regenerate_key(&admin, &key, &obj(json!({})))
            .await
            .unwrap();
        let new_key = r["key"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for g in [&a, &b] {
            assert!(g.authenticate(Some(&key)).await.is_err());
            assert!(g.authenticate(Some(&new_key)).await.is_ok());
        }

        // Deleted: gone on both.
        a.delete_keys(&obj(json!({"keys": [new_key]})))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(b.authenticate(Some(&new_key)).await.is_err());

        // Expired.
        let short = a
            .generate_key(&admin, &obj(json!({"duration": "1s"})))
            .await
            .unwrap();
        let short = short["key"].as_str().unwrap().to_owned();
        assert!(a.authenticate(Some(&short)).await.is_ok());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            a.authenticate(Some(&short)).await.unwrap_err().kind,
            "expired_key"
        );

        // Team blocked: its keys refused.
        let tk = a
            .generate_key(&admin, &obj(json!({"team_id": "t1"})))
            .await
            .unwrap();
        a.block_team(&obj(json!({"team_id": "t1"})), true)
            .await
            .unwrap();
        assert!(a
            .authenticate(tk["key"].as_str())
            .await
            .unwrap_err()
            .message
            .contains("Team=t1"));
        a.shutdown().await;
        b.shutdown().await;
    }
}

// Several workers: their records go to different shards of the spend queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spend_sums_exactly_and_survives_restart() {
    for (url, o) in stores("spend").await {
        let g = governor(&url, &o).await;
        let admin = Caller::Master;
        g.new_team(&obj(json!({"team_id": "t"}))).await.unwrap();
        let k = g
            .generate_key(&admin, &obj(json!({"team_id": "t"})))
            .await
            .unwrap();
        let hash = k["token_id"].as_str().unwrap().to_owned();
        let mut tasks = Vec::new();
        let mut expected = 0i64;
        for i in 0..400i64 {
            let cost = 1_000 + i * 37;
            expected += cost;
            let g = Arc::clone(&g);
            let hash = hash.clone();
            tasks.push(tokio::spawn(async move {
                g.accounting().record(SpendLog {
                    request_id: format!("r{i}"),
                    api_key: Some(hash),
                    team_id: Some("t".into()),
                    end_user: Some("u1".into()),
                    spend_nano: cost,
                    status: "success".into(),
                    start_time: switchyard_store::now_ms(),
                    metadata: json!({}),
                    ..SpendLog::default()
                });
            }));
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Shutdown flushes what is queued.
        g.shutdown().await;
        drop(g);
        let g = governor(&url, &o).await;
        let info = g.key_info(&admin, Some(&hash)).await.unwrap();
        assert_eq!(
            records::nano(info["info"]["spend"].as_f64().unwrap()),
            expected
        );
        let team = g.team_info(&admin, Some("t")).await.unwrap();
        assert_eq!(
            records::nano(team["team_info"]["spend"].as_f64().unwrap()),
            expected
        );
        let cust = g.customer_info("u1").await.unwrap();
        assert_eq!(records::nano(cust["spend"].as_f64().unwrap()), expected);
        let logs = g
            .spend_logs(&obj(json!({"api_key": hash, "limit": 1000})))
            .await
            .unwrap();
        assert_eq!(logs.as_array().unwrap().len(), 400);
        let report = g
            .spend_report(&obj(json!({"group_by": "api_key"})))
            .await
            .unwrap();
        let total: f64 = report
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["api_keys"].as_array().unwrap().clone())
            .map(|k| k["total_spend"].as_f64().unwrap())
            .sum();
        assert_eq!(records::nano(total), expected);
        g.shutdown().await;
    }
}

#[tokio::test]
async fn users_teams_and_customers() {
    for (url, o) in stores("people").await {
        let g = governor(&url, &o).await;
        let admin = Caller::Master;
        g.new_team(&obj(json!({"team_id": "t", "team_alias": "Team T"})))
            .await
            .unwrap();
        let u = g.new_user(&admin, &obj(json!({"user_id": "ann", "user_email": "ann@x", "teams": ["t"], "models": ["m1"]}))).await.unwrap();
        assert!(u["key"].as_str().unwrap().starts_with("sk-"));
        let info = g.user_info(&admin, Some("ann")).await.unwrap();
        assert_eq!(info["keys"].as_array().unwrap().len(), 1);
        assert_eq!(info["teams"][0]["team_id"], json!("t"));
        assert!(
            info.to_string().find(u["key"].as_str().unwrap()).is_none(),
            "secret never shown again"
        );

        // The user's own key reads its own user, not others; personal key limited by user models.
        let caller = g.authenticate(u["key"].as_str()).await.unwrap();
        assert!(g.user_info(&caller, None).await.is_ok());
        assert_eq!(
            g.user_info(&caller, Some("bob")).await.unwrap_err().status,
            403
        );
        let e = g.admit_model(&caller, "m2").unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("m2"), "{}", e.message);
        let personal = g
            .generate_key(&admin, &obj(json!({"user_id": "ann"})))
            .await
            .unwrap();
        let personal = g.authenticate(personal["key"].as_str()).await.unwrap();
        assert_eq!(
            g.admit_model(&personal, "m2").unwrap_err().kind,
            "user_model_access_denied"
        );
        assert!(g.admit_model(&personal, "m1").is_ok());

        g.team_member_add(&obj(
            json!({"team_id": "t", "member": [{"role": "admin", "user_email": "bob@x"}]}),
        ))
        .await
        .unwrap();
        let team = g.team_info(&admin, Some("t")).await.unwrap();
        assert_eq!(
            team["team_info"]["members_with_roles"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        g.team_member_delete(&obj(json!({"team_id": "t", "user_id": "ann"})))
            .await
            .unwrap();
        let ann = g.user_info(&admin, Some("ann")).await.unwrap();
        assert_eq!(ann["user_info"]["teams"], json!([]));

        g.update_team(&obj(
            json!({"team_id": "t", "max_budget": 5, "models": ["m1"]}),
        ))
        .await
        .unwrap();
        let team = g.team_info(&admin, Some("t")).await.unwrap();
        assert_eq!(team["team_info"]["max_budget"], json!(5.0));
        assert_eq!(
            g.update_team(&obj(json!({"team_id": "t", "tpm_limit": "x"})))
                .await
                .unwrap_err()
                .status,
            400
        );

        g.new_customer(&obj(json!({"user_id": "c1", "max_budget": 2})))
            .await
            .unwrap();
        assert_eq!(
            g.new_customer(&obj(json!({"user_id": "c1"})))
                .await
                .unwrap_err()
                .status,
            400
        );
        g.block_customers(&obj(json!({"user_ids": ["c1"]})), true)
            .await
            .unwrap();
        assert_eq!(
            g.end_user("c1")
                .await
                .unwrap()
                .unwrap()
                .record
                .limits
                .blocked,
            Some(true)
        );
        assert_eq!(
            g.list_customers().await.unwrap().as_array().unwrap().len(),
            1
        );
        g.delete_customers(&obj(json!({"user_ids": ["c1"]})))
            .await
            .unwrap();
        assert!(g.end_user("c1").await.unwrap().is_none());

        g.delete_users(&obj(json!({"user_ids": ["ann"]})))
            .await
            .unwrap();
        assert!(
            g.authenticate(u["key"].as_str()).await.is_err(),
            "a deleted user's keys go too"
        );
        g.delete_teams(&obj(json!({"team_ids": ["t"]})))
            .await
            .unwrap();
        assert_eq!(g.list_teams().await.unwrap(), json!([]));
        g.shutdown().await;
    }
}

#[tokio::test]
async fn only_records_that_limit_something_get_a_counter() {
    for (url, o) in stores("counters").await {
        let g = governor(&url, &o).await;
        let admin = Caller::Master;
        let mut callers = Vec::new();
        for body in [json!({}), json!({"rpm_limit": 5})] {
            let k = g.generate_key(&admin, &obj(body)).await.unwrap();
            let key = k["key"].as_str().unwrap().to_owned();
            callers.push((
                g.authenticate(Some(&key)).await.unwrap(),
                secret::hash_key(&key),
            ));
        }
        for (caller, _) in &callers {
            let a = g.admit(caller, "m", None, &[], || (0, 0)).await.unwrap();
            drop(a);
        }
        let counted: Vec<bool> = callers
            .iter()
            .map(|(_, hash)| g.keys.get(hash).unwrap().counter.get().is_some())
            .collect();
        // A counter holds two minute windows (2 kB): a key without limits has none.
        assert_eq!(counted, vec![false, true]);
        g.shutdown().await;
    }
}

#[tokio::test]
async fn a_shutdown_right_after_start_ends() {
    // The spend writer, the change-feed poller and the Redis connector start on their own
    // thread or task; a stop sent before they begin waiting must still end them.
    for (url, o) in stores("quickstop").await {
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            for _ in 0..30 {
                governor(&url, &o).await.shutdown().await;
            }
        })
        .await;
        assert!(ended.is_ok(), "a shutdown hung ({url})");
    }
}

use super::*;
use serde_json::json;

/// A fresh SQLite store, and a fresh PostgreSQL schema when DATABASE_URL is set.
async fn stores(name: &str) -> Vec<Store> {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-store-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = vec![
        Store::connect(dir.join("t.db").to_str().unwrap(), StoreOptions::default())
            .await
            .unwrap(),
    ];
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let opts = StoreOptions {
                schema: Some(format!(
                    "sy_test_{name}_{}_{}",
                    std::process::id(),
                    now_ms()
                )),
                max_connections: 4,
                ..StoreOptions::default()
            };
            out.push(Store::connect(&url, opts).await.unwrap());
        }
        _ => eprintln!("DATABASE_URL not set: skipping the PostgreSQL half of {name}"),
    }
    out
}

fn row(kind: Kind, id: &str, team: Option<&str>) -> EntityRow {
    EntityRow {
        kind,
        id: id.into(),
        alias: Some(format!("{id}-alias")),
        user_id: None,
        team_id: team.map(Into::into),
        spend_nano: 0,
        data: json!({"models": ["a"], "n": 1}),
        created_at: now_ms(),
        updated_at: now_ms(),
    }
}

#[test]
fn sqlite_urls_are_normalized() {
    assert_eq!(
        normalize_url("data/x.db").unwrap(),
        ("sqlite://data/x.db?mode=rwc".into(), Backend::Sqlite)
    );
    assert_eq!(
        normalize_url("sqlite:///tmp/x.db?mode=ro").unwrap().0,
        "sqlite:///tmp/x.db?mode=ro"
    );
    assert_eq!(
        normalize_url("postgres://u@h/db").unwrap().1,
        Backend::Postgres
    );
    assert!(normalize_url("mysql://root:secret@h/db").is_err());
    let e = normalize_url("mysql://root:secret@h/db")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("secret"), "{e}");
}

#[tokio::test]
async fn entity_lifecycle_and_change_feed() {
    for s in stores("entities").await {
        let start = s.last_change().await.unwrap();
        s.insert(&row(Kind::Key, "h1", Some("t1"))).await.unwrap();
        s.insert(&row(Kind::Key, "h2", Some("t1"))).await.unwrap();
        s.insert(&row(Kind::Key, "h3", None)).await.unwrap();
        assert!(matches!(
            s.insert(&row(Kind::Key, "h1", None)).await,
            Err(StoreError::Conflict(_))
        ));
        // Same id, other kind: no conflict.
        s.insert(&row(Kind::Team, "h1", None)).await.unwrap();

        let got = s.get(Kind::Key, "h1").await.unwrap().unwrap();
        assert_eq!(got.data["models"], json!(["a"]));
        assert_eq!(got.team_id.as_deref(), Some("t1"));

        let filter = ListFilter {
            team_id: Some("t1".into()),
            ..ListFilter::default()
        };
        let (page, total) = s.list(Kind::Key, &filter, 0, 1).await.unwrap();
        assert_eq!((page.len(), total), (1, 2));
        assert_eq!(
            s.find_by_alias(Kind::Key, "h3-alias").await.unwrap().len(),
            1
        );

        let mut upd = got.clone();
        upd.data = json!({"models": ["b"]});
        upd.alias = None;
        assert!(s.update(&upd).await.unwrap());
        assert_eq!(
            s.get(Kind::Key, "h1").await.unwrap().unwrap().data,
            json!({"models": ["b"]})
        );
        assert!(!s.update(&row(Kind::Key, "nope", None)).await.unwrap());

        let mut moved = upd.clone();
        moved.id = "h1b".into();
        assert!(s.rekey("h1", &moved).await.unwrap());
        assert!(s.get(Kind::Key, "h1").await.unwrap().is_none());
        assert!(s.get(Kind::Key, "h1b").await.unwrap().is_some());

        let gone = s
            .delete(Kind::Key, &["h2".into(), "zz".into()])
            .await
            .unwrap();
        assert_eq!(gone, vec!["h2".to_string()]);

        let changes = s.changes_since(start, i64::MAX).await.unwrap();
        let ids: Vec<_> = changes.iter().map(|c| (c.kind, c.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                (Kind::Key, "h1"),
                (Kind::Key, "h2"),
                (Kind::Key, "h3"),
                (Kind::Team, "h1"),
                (Kind::Key, "h1"),
                (Kind::Key, "h1"),
                (Kind::Key, "h1b"),
                (Kind::Key, "h2"),
            ]
        );
        let last = changes.last().unwrap().seq;
        assert!(s.changes_since(last, i64::MAX).await.unwrap().is_empty());
        assert_eq!(
            s.changes_since(last, 0).await.unwrap().len(),
            8,
            "the overlap window re-reads"
        );
        assert!(s.set_spend(Kind::Key, "h3", 5).await.unwrap());
        assert_eq!(s.get(Kind::Key, "h3").await.unwrap().unwrap().spend_nano, 5);
    }
}

fn log(id: &str, key: Option<&str>, spend: i64, start: i64) -> SpendLog {
    SpendLog {
        request_id: id.into(),
        call_type: "acompletion".into(),
        api_key: key.map(Into::into),
        team_id: Some("t1".into()),
        end_user: Some("cust".into()),
        model_group: "gpt".into(),
        model: "gpt-4o".into(),
        model_id: "d1".into(),
        provider: "openai".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        spend_nano: spend,
        status: if spend > 0 { "success" } else { "failure" }.into(),
        status_code: 200,
        start_time: start,
        end_time: start + 7,
        request_duration_ms: 7,
        request_tags: vec!["prod".into()],
        metadata: json!({"a": 1}),
        ..SpendLog::default()
    }
}

#[tokio::test]
async fn batches_write_logs_totals_and_daily_aggregates() {
    for s in stores("spend").await {
        s.insert(&row(Kind::Key, "k1", Some("t1"))).await.unwrap();
        s.insert(&row(Kind::Team, "t1", None)).await.unwrap();
        let day1 = 1_700_000_000_000; // 2023-11-14
        let day2 = day1 + 86_400_000;
        let mut b = SpendBatch::default();
        b.add(log("r1", Some("k1"), 1_000, day1), true);
        b.add(log("r2", Some("k1"), 2_500, day1 + 1), true);
        b.add(log("r3", Some("k1"), 0, day2), true);
        b.add(log("r4", Some("gone"), 7, day2), false);
        s.write_batch(&b).await.unwrap();
        // A retried batch does not duplicate rows.
        let mut again = SpendBatch::default();
        again.add(log("r1", Some("k1"), 1_000, day1), true);
        again.totals.clear();
        again.daily.clear();
        s.write_batch(&again).await.unwrap();

        assert_eq!(
            s.get(Kind::Key, "k1").await.unwrap().unwrap().spend_nano,
            3_500
        );
        assert_eq!(
            s.get(Kind::Team, "t1").await.unwrap().unwrap().spend_nano,
            3_507
        );
        assert_eq!(
            s.get(Kind::EndUser, "cust")
                .await
                .unwrap()
                .unwrap()
                .spend_nano,
            3_507
        );
        assert_eq!(
            s.get(Kind::Tag, "prod").await.unwrap().unwrap().spend_nano,
            3_507
        );
        assert!(s.get(Kind::Key, "gone").await.unwrap().is_none());

        let all = s
            .spend_logs(&LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter()
                .map(|l| l.request_id.as_str())
                .collect::<Vec<_>>(),
            ["r3", "r2", "r1"]
        );
        assert_eq!(all[2], log("r1", Some("k1"), 1_000, day1));
        let q = LogQuery {
            api_key: Some("k1".into()),
            start_ms: Some(day1 + 1),
            end_ms: Some(day2),
            limit: 10,
            ..LogQuery::default()
        };
        assert_eq!(s.spend_logs(&q).await.unwrap().len(), 1);

        let global = s
            .daily(&DailyQuery {
                kind: "global".into(),
                ..DailyQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(global.len(), 2);
        assert_eq!(
            (
                global[0].day.as_str(),
                global[0].requests,
                global[0].spend_nano
            ),
            ("2023-11-14", 2, 3_500)
        );
        assert_eq!(
            (global[1].requests, global[1].failures, global[1].spend_nano),
            (2, 1, 7)
        );
        let keys = s
            .daily(&DailyQuery {
                kind: "key".into(),
                id: Some("k1".into()),
                from_day: Some("2023-11-15".into()),
                ..DailyQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            (keys.len(), keys[0].requests, keys[0].prompt_tokens),
            (1, 1, 10)
        );

        // A second batch adds to the same aggregate rows.
        let mut b2 = SpendBatch::default();
        b2.add(log("r5", Some("k1"), 500, day1 + 2), true);
        s.write_batch(&b2).await.unwrap();
        let global = s
            .daily(&DailyQuery {
                kind: "global".into(),
                to_day: Some("2023-11-14".into()),
                ..DailyQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            (global.len(), global[0].requests, global[0].spend_nano),
            (1, 3, 4_000)
        );

        assert_eq!(s.delete_logs_before(day2, 1).await.unwrap(), 3);
        assert_eq!(
            s.spend_logs(&LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await
            .unwrap()
            .len(),
            1
        );
    }
}

#[test]
fn merge_puts_a_failed_batch_back_first() {
    let mut a = SpendBatch::default();
    a.add(log("new", Some("k"), 3, 0), true);
    let mut failed = SpendBatch::default();
    failed.add(log("old", Some("k"), 4, 0), true);
    a.merge(failed);
    assert_eq!(a.logs[0].request_id, "old");
    assert_eq!(a.totals[&(Kind::Key, "k".to_string())], 7);
    let g = a.daily.values().find(|r| r.kind == "global").unwrap();
    assert_eq!((g.requests, g.spend_nano), (2, 7));
    assert_eq!(day_of(0), "1970-01-01");
}

#[test]
fn statements_come_in_power_of_two_sizes() {
    let rows: Vec<u32> = (0..300).collect();
    let sizes: Vec<usize> = spend::statement_chunks(&rows).map(<[u32]>::len).collect();
    assert_eq!(sizes, [128, 128, 32, 8, 4]);
    assert_eq!(sizes.iter().sum::<usize>(), 300);
    assert_eq!(spend::statement_chunks::<u32>(&[]).count(), 0);
}

#[test]
fn placeholders_are_positional_on_sqlite_and_numbered_on_postgres() {
    assert_eq!(spend::placeholders(2, 2, Backend::Sqlite), "(?, ?), (?, ?)");
    assert_eq!(
        spend::placeholders(2, 2, Backend::Postgres),
        "($1, $2), ($3, $4)"
    );
}

#[tokio::test]
async fn budget_period_spend_accumulates_and_loads() {
    for s in stores("periods").await {
        let mut b = SpendBatch::default();
        let mut l = log("p1", Some("k"), 300, 0);
        l.budget_periods = vec![
            ("api_key".into(), "k".into(), 60_000),
            ("global".into(), String::new(), 0),
        ];
        b.add(l.clone(), false);
        l.request_id = "p2".into();
        b.add(l, false);
        s.write_batch(&b).await.unwrap();
        let mut rows = s.budget_spend(60_000).await.unwrap();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                ("api_key".to_string(), "k".to_string(), 60_000, 600),
                ("global".to_string(), String::new(), 0, 600)
            ]
        );
        assert_eq!(
            s.budget_spend(120_000).await.unwrap().len(),
            1,
            "old periods are not loaded"
        );
    }
}

use super::*;

fn router(yaml: &str) -> Router {
    let loaded = switchyard_config::parse(yaml, "test.yaml").unwrap();
    Router::from_config(loaded.config).unwrap().0
}

fn req(model: &str, stream: bool) -> ChatCompletionRequest {
    serde_json::from_value(serde_json::json!({
        "model": model, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap()
}

#[tokio::test]
async fn mock_deployment_answers_without_a_network() {
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: hello world}\n");
    let ChatResponse::Complete(c) = r
        .chat(req("m", false), &CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("expected a complete answer")
    };
    let v: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello world");
    assert_eq!(c.meta.model_group, "m");
}

#[tokio::test]
async fn unknown_models_and_empty_messages_are_client_errors() {
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: hi}\n");
    let e = r
        .chat(req("nope", false), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!((e.status, e.reason), (400, "unknown_model"));
    assert!(e.message.contains("/v1/models"));
    let mut empty = req("m", false);
    empty.messages.clear();
    let e = r.chat(empty, &CallOptions::default()).await.unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[tokio::test]
async fn aliases_route_and_list() {
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: hi}\nrouter_settings:\n  model_group_alias: {a: m, h: {model: m, hidden: true}}\n");
    assert_eq!(r.model_names(), ["m", "a"]);
    assert!(r
        .chat(req("a", false), &CallOptions::default())
        .await
        .is_ok());
    assert!(r
        .chat(req("h", false), &CallOptions::default())
        .await
        .is_ok());
}

#[test]
fn unknown_provider_is_a_config_error_with_line() {
    let loaded = switchyard_config::parse(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: nosuch/x\n",
        "c.yaml",
    )
    .unwrap();
    let err = Router::from_config(loaded.config).unwrap_err().to_string();
    assert!(
        err.starts_with("c.yaml:4: model_list[0].litellm_params.model"),
        "{err}"
    );
    assert!(err.contains("unknown provider `nosuch`"), "{err}");
}

#[test]
fn compat_provider_without_base_needs_api_base() {
    let loaded = switchyard_config::parse(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: hosted_vllm/llama\n",
        "c.yaml",
    )
    .unwrap();
    let err = Router::from_config(loaded.config).unwrap_err().to_string();
    assert!(err.contains("api_base"), "{err}");
}

#[test]
fn compat_rows_read_their_base_and_key_variables() {
    let r = router(
        "model_list:
  - model_name: db
    litellm_params: {model: databricks/databricks-meta-llama-3-3-70b-instruct}
  - model_name: tg
    litellm_params: {model: together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo}
  - model_name: gq
    litellm_params: {model: groq/llama-3.1-8b-instant, api_base: http://127.0.0.1:9/v1}
environment_variables:
  DATABRICKS_API_BASE: https://adb-1.azuredatabricks.net/serving-endpoints/
  DATABRICKS_API_KEY: dapi-test
  TOGETHER_API_KEY: ''
  TOGETHERAI_API_KEY: tg-test
  GROQ_API_BASE: http://unused.example
",
    );
    let t = &r.deployments("db").unwrap()[0].target;
    assert_eq!(
        t.api_base,
        "https://adb-1.azuredatabricks.net/serving-endpoints"
    );
    assert_eq!(t.api_key.as_deref(), Some("dapi-test"));
    // An empty variable is skipped; LiteLLM's later names are read in its order.
    let t = &r.deployments("tg").unwrap()[0].target;
    assert_eq!(t.api_base, "https://api.together.xyz/v1");
    assert_eq!(t.api_key.as_deref(), Some("tg-test"));
    // litellm_params.api_base wins over the variable.
    let t = &r.deployments("gq").unwrap()[0].target;
    assert_eq!(t.api_base, "http://127.0.0.1:9/v1");

    if std::env::var_os("DATABRICKS_API_BASE").is_none() {
        let loaded = switchyard_config::parse(
            "model_list:\n  - model_name: m\n    litellm_params: {model: databricks/x}\n",
            "c.yaml",
        )
        .unwrap();
        let err = Router::from_config(loaded.config).unwrap_err().to_string();
        assert!(err.contains("DATABRICKS_API_BASE"), "{err}");
    }
}

#[test]
fn weighted_pick_prefers_lower_order_and_heavier_weight() {
    let r = router(
        "model_list:
  - model_name: g
    litellm_params: {model: openai/a, mock_response: a, weight: 9, order: 1}
    model_info: {id: heavy}
  - model_name: g
    litellm_params: {model: openai/b, mock_response: b, weight: 1, order: 1}
    model_info: {id: light}
  - model_name: g
    litellm_params: {model: openai/c, mock_response: c, order: 2}
    model_info: {id: backup}
  - model_name: o
    litellm_params: {model: openai/c, mock_response: c, order: 2}
    model_info: {id: o2}
  - model_name: o
    litellm_params: {model: openai/c, mock_response: c, order: 1}
    model_info: {id: o1}
",
    );
    let mut heavy = 0;
    for _ in 0..2000 {
        let d = r.pick("g").unwrap();
        assert_ne!(
            d.id, "backup",
            "order 2 is used only when order 1 is unavailable"
        );
        if d.id == "heavy" {
            heavy += 1;
        }
    }
    // 90% expected; allow generous slack.
    assert!(
        (1600..=1950).contains(&heavy),
        "heavy picked {heavy} of 2000"
    );
    assert!((0..100).all(|_| r.pick("o").unwrap().id == "o1"));
}

async fn drain(s: ChatStream) -> Option<switchyard_pricing::Cost> {
    use futures_util::StreamExt;
    let ChatStream {
        meta,
        mut events,
        usage,
        price,
        format,
    } = s;
    while let Some(e) = events.next().await {
        e.unwrap();
    }
    ChatStream {
        meta,
        events,
        usage,
        price,
        format,
    }
    .cost()
}

#[tokio::test]
async fn streamed_and_complete_mock_answers_cost_the_same() {
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, mock_response: the same answer either way}\n");
    let ChatResponse::Complete(c) = r
        .chat(req("m", false), &CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("complete")
    };
    let ChatResponse::Stream(s) = r
        .chat(req("m", true), &CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("stream")
    };
    let streamed = drain(s).await.unwrap();
    let complete = c.cost.unwrap();
    assert!(complete.total_pico() > 0, "gpt-4o is in the shipped table");
    assert_eq!(streamed, complete);
}

#[test]
fn price_file_and_model_info_override_the_table() {
    let dir = std::env::temp_dir().join(format!("switchyard-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("prices.json");
    std::fs::write(
        &file,
        r#"{"gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 0.00001, "output_cost_per_token": 0.00003},
            "acme/model-x": {"litellm_provider": "openai", "input_cost_per_token": 0.000002, "output_cost_per_token": 0.000004}}"#,
    )
    .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: a\n    litellm_params: {{model: openai/gpt-4o, mock_response: hi}}\n  - model_name: b\n    litellm_params: {{model: openai/gpt-4o, mock_response: hi}}\n    model_info: {{output_cost_per_token: 0.001}}\n  - model_name: c\n    litellm_params: {{model: openai/my-azure-name, mock_response: hi}}\n    model_info: {{base_model: acme/model-x}}\nlitellm_settings:\n  model_cost_map: {}\n",
        file.display()
    );
    let r = router(&yaml);
    let a = r.deployments("a").unwrap()[0].price.clone().unwrap();
    assert_eq!(
        (a.input, a.output),
        (10_000_000, 30_000_000),
        "price file overrides the shipped table"
    );
    let b = r.deployments("b").unwrap()[0].price.clone().unwrap();
    assert_eq!(
        (b.input, b.output),
        (10_000_000, 1_000_000_000),
        "model_info overrides the file"
    );
    let c = r.deployments("c").unwrap()[0].price.clone().unwrap();
    assert_eq!(c.input, 2_000_000, "base_model finds the price");
    // A missing price file is a start-up error naming the key.
    let loaded = switchyard_config::parse(
        "litellm_settings:\n  model_cost_map: /nonexistent/prices.json\n",
        "c.yaml",
    )
    .unwrap();
    let err = Router::from_config(loaded.config).unwrap_err().to_string();
    assert!(err.contains("litellm_settings.model_cost_map"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn backoff_honours_retry_after_and_grows_with_jitter() {
    use std::time::Duration;
    assert_eq!(
        backoff(0, Some(Duration::from_secs(7))),
        Duration::from_secs(7)
    );
    assert_eq!(
        backoff(0, Some(Duration::from_secs(600))),
        Duration::from_secs(60)
    );
    for attempt in 0..8 {
        let d = backoff(attempt, None).as_secs_f64();
        let base = (0.5 * 2f64.powi(attempt.min(5) as i32)).min(8.0);
        assert!(d >= base * 0.5 && d <= base, "attempt {attempt}: {d}");
    }
}

#[test]
fn bedrock_deployments_resolve_region_endpoint_and_credentials() {
    let r = router(
        "model_list:
  - model_name: keys
    litellm_params:
      model: bedrock/converse/us.anthropic.claude-3-5-haiku-20241022-v1:0
      aws_access_key_id: AKIDTEST
      aws_secret_access_key: secret-test
      aws_session_token: token-test
      aws_region_name: eu-central-1
  - model_name: arn
    litellm_params:
      model: bedrock/arn:aws:bedrock:ap-south-1:123456789012:application-inference-profile/abc
      api_key: os.environ/BEDROCK_KEY
  - model_name: endpoint
    litellm_params:
      model: bedrock/amazon.nova-pro-v1:0
      aws_bedrock_runtime_endpoint: http://127.0.0.1:9
      aws_access_key_id: AKIDTEST
      aws_secret_access_key: secret-test
environment_variables:
  BEDROCK_KEY: bedrock-api-key
",
    );
    let t = &r.deployments("keys").unwrap()[0].target;
    assert_eq!(t.model, "us.anthropic.claude-3-5-haiku-20241022-v1:0");
    assert_eq!(
        t.api_base,
        "https://bedrock-runtime.eu-central-1.amazonaws.com"
    );
    let aws = t.aws.as_ref().unwrap();
    assert_eq!(
        (
            aws.access_key_id.as_str(),
            aws.session_token.as_deref(),
            aws.region.as_str()
        ),
        ("AKIDTEST", Some("token-test"), "eu-central-1")
    );
    assert!(t.api_key.is_none());
    assert!(!format!("{:?}", r.deployments("keys").unwrap()[0]).contains("secret-test"));
    // A cross-region profile is priced as its model.
    assert!(r.deployments("keys").unwrap()[0].price.is_some());
    let t = &r.deployments("arn").unwrap()[0].target;
    assert_eq!(
        t.api_base,
        "https://bedrock-runtime.ap-south-1.amazonaws.com"
    );
    assert_eq!(t.api_key.as_deref(), Some("bedrock-api-key"));
    assert!(t.aws.is_none());
    let t = &r.deployments("endpoint").unwrap()[0].target;
    assert_eq!(t.api_base, "http://127.0.0.1:9");

    let fails = |yaml: &str| {
        let loaded = switchyard_config::parse(yaml, "test.yaml").unwrap();
        Router::from_config(loaded.config).unwrap_err().to_string()
    };
    let e = fails("model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/x, aws_access_key_id: A}\n");
    assert!(e.contains("aws_secret_access_key"), "{e}");
    let e = fails("model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/x, aws_role_name: r, api_key: k}\n");
    assert!(e.contains("aws_role_name"), "{e}");
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && std::env::var_os("AWS_BEARER_TOKEN_BEDROCK").is_none()
    {
        let e = fails("model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/x}\n");
        assert!(e.contains("bedrock needs credentials"), "{e}");
    }
}

/// A routed call's future is what every caller holds inline (the server's handler future,
/// an SDK user's task), and a future is moved whole when it starts: the attempts, whose
/// futures hold the upstream call, are boxed so that this one stays small: about 6.3 KB in
/// a debug build and 6.9 KB in a release one. With the attempt inline it is 12 KB in a
/// debug build (37 KB in a release build, when the attempt was also held twice).
#[test]
fn a_routed_calls_future_stays_small() {
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: hi}\n");
    let opts = CallOptions::default();
    let call = r.chat(req("m", false), &opts);
    let size = std::mem::size_of_val(&call);
    eprintln!("routed call future: {size} bytes");
    assert!(size < 8 * 1024, "the routed call's future is {size} bytes");
}

use super::*;

const FULL: &str = r#"
environment_variables:
  MY_KEY: sk-from-env-vars
  MY_RPM: 120
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/MY_KEY
      api_base: http://127.0.0.1:9/v1
      rpm: os.environ/MY_RPM
      tpm: 100000
      weight: 2
      order: 1
      timeout: 30
      stream_timeout: 5.5
      max_retries: 2
      temperature: 0.2
    model_info:
      id: dep-1
      base_model: gpt-4o-2024-08-06
      access_groups: [beta]
      supports_vision: true
  - model_name: mock
    litellm_params:
      model: openai/mock-model
      mock_response: "Hello!"
  - model_name: bare
    litellm_params:
      model: gpt-4o-mini
      litellm_credential_name: shared
credential_list:
  - credential_name: shared
    credential_values:
      api_key: sk-shared
      api_base: http://127.0.0.1:10/v1
litellm_settings:
  drop_params: true
  num_retries: 3
  request_timeout: 600
  fallbacks: [{"gpt-4o": ["mock"]}]
  cache: true
  cache_params: {type: redis, host: localhost, port: 6379, ttl: 60}
  success_callback: ["prometheus"]
router_settings:
  routing_strategy: least-busy
  model_group_alias: {"gpt-4": "gpt-4o", "old": {model: mock, hidden: true}}
  retry_policy: {RateLimitErrorRetries: 4}
  allowed_fails_policy: {TimeoutErrorAllowedFails: 2}
  cooldown_time: 10
general_settings:
  master_key: sk-1234
  database_url: os.environ/HOME
  max_request_size_mb: 1.5
  alerting: ["webhook"]
"#;

#[test]
fn parses_every_section() {
    let loaded = parse(FULL, "config.yaml").unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.deployments.len(), 3);
    let d = &c.deployments[0];
    assert_eq!(
        (d.provider.as_str(), d.model.as_str()),
        ("openai", "gpt-4o")
    );
    assert_eq!(d.id, "dep-1");
    assert_eq!(
        d.params.api_key.as_ref().unwrap().get(),
        Some("sk-from-env-vars")
    );
    assert_eq!(d.params.rpm.unwrap().0, 120);
    assert_eq!(d.params.stream_timeout.unwrap().0, 5.5);
    assert_eq!(d.params.defaults["temperature"], 0.2);
    assert_eq!(d.info.extra["supports_vision"], true);
    assert_eq!(d.origin.line, Some(8));
    assert_eq!(
        c.deployments[1].params.mock_response.as_ref().unwrap(),
        "Hello!"
    );
    // bare OpenAI model names get the openai provider; credentials merge in.
    let bare = &c.deployments[2];
    assert_eq!(bare.provider, "openai");
    assert_eq!(
        bare.params.api_key.as_ref().unwrap().get(),
        Some("sk-shared")
    );
    assert_eq!(
        c.file.router_settings.routing_strategy.as_deref(),
        Some("least-busy")
    );
    let alias = &c.file.router_settings.model_group_alias.as_ref().unwrap()["old"];
    assert!(alias.hidden());
    assert_eq!(alias.target(), "mock");
    assert_eq!(
        c.file.litellm_settings.fallbacks.as_ref().unwrap()[0]["gpt-4o"],
        ["mock"]
    );
    assert_eq!(c.master_key().as_deref(), Some("sk-1234"));
    assert_eq!(
        c.file.general_settings.database_url.as_ref().unwrap().get(),
        std::env::var("HOME").ok().as_deref()
    );
}

#[test]
fn wrong_type_names_file_key_and_line() {
    let text = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      rpm: lots\n";
    let err = parse(text, "conf.yaml").unwrap_err();
    match &err {
        ConfigError::Parse {
            file, key, line, ..
        } => {
            assert_eq!(file, "conf.yaml");
            assert_eq!(key, "model_list[0].litellm_params.rpm");
            assert_eq!(*line, 5);
        }
        other => panic!("unexpected {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.starts_with("conf.yaml:5:"), "{shown}");
    assert!(shown.contains("lots"), "{shown}");
}

#[test]
fn wrong_type_in_settings_is_reported() {
    let err = parse("general_settings:\n  master_key: [1, 2]\n", "c.yaml").unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("general_settings.master_key"), "{shown}");
    assert!(shown.starts_with("c.yaml:2:"), "{shown}");
}

#[test]
fn unknown_keys_warn_and_do_not_fail() {
    let text = "model_list: []\nfoo: 1\nrouter_settings:\n  routing_strategy: simple-shuffle\n  made_up: true\n  retry_policy: {Nope: 1}\n";
    let loaded = parse(text, "c.yaml").unwrap();
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("`router_settings.retry_policy.Nope`")),
        "{:?}",
        loaded.warnings
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("`foo`")));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("`router_settings.made_up`")));
}

#[test]
fn unset_numeric_env_var_is_an_error_with_its_name() {
    let text = "router_settings:\n  num_retries: os.environ/SWITCHYARD_TEST_SURELY_UNSET\n";
    let err = parse(text, "c.yaml").unwrap_err().to_string();
    assert!(err.contains("SWITCHYARD_TEST_SURELY_UNSET"), "{err}");
    assert!(err.contains("router_settings.num_retries"), "{err}");
}

#[test]
fn unset_string_env_var_leaves_the_value_absent() {
    let text = "general_settings:\n  master_key: os.environ/SWITCHYARD_TEST_SURELY_UNSET\n";
    let c = parse(text, "c.yaml").unwrap().config;
    let key = c.file.general_settings.master_key.as_ref().unwrap();
    assert!(key.is_unset_env());
    assert_eq!(key.env_var(), Some("SWITCHYARD_TEST_SURELY_UNSET"));
}

#[test]
fn unknown_provider_form_names_the_line() {
    let text = "model_list:\n  - model_name: a\n    litellm_params:\n      model: some-model\n";
    let err = parse(text, "c.yaml").unwrap_err().to_string();
    assert!(
        err.starts_with("c.yaml:4: model_list[0].litellm_params.model"),
        "{err}"
    );
}

#[test]
fn duplicate_ids_are_rejected() {
    let text = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x}\n    model_info: {id: same}\n  - model_name: b\n    litellm_params: {model: openai/y}\n    model_info: {id: same}\n";
    let err = parse(text, "c.yaml").unwrap_err().to_string();
    assert!(err.contains("used twice"), "{err}");
}

#[test]
fn derived_ids_are_stable_and_distinct() {
    let text = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, api_key: k1}\n  - model_name: a\n    litellm_params: {model: openai/x, api_key: k2}\n";
    let a = parse(text, "c.yaml").unwrap().config;
    let b = parse(text, "c.yaml").unwrap().config;
    assert_eq!(a.deployments[0].id, b.deployments[0].id);
    assert_ne!(a.deployments[0].id, a.deployments[1].id);
}

#[test]
fn secrets_are_not_printed_by_debug() {
    let c = parse(FULL, "c.yaml").unwrap().config;
    let dump = format!("{c:?}");
    assert!(!dump.contains("sk-1234"));
    assert!(!dump.contains("sk-from-env-vars"));
    assert!(!dump.contains("sk-shared"));
}

#[test]
fn malformed_yaml_is_a_parse_error() {
    let err = parse("model_list: [\n", "c.yaml").unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
}

#[test]
fn split_provider_forms() {
    assert_eq!(
        split_provider("openai/gpt-4o", None),
        Some(("openai".into(), "gpt-4o".into()))
    );
    assert_eq!(
        split_provider("openrouter/anthropic/claude", None),
        Some(("openrouter".into(), "anthropic/claude".into()))
    );
    assert_eq!(
        split_provider("llama3", Some("hosted_vllm")),
        Some(("hosted_vllm".into(), "llama3".into()))
    );
    assert_eq!(split_provider("llama3", None), None);
    assert_eq!(split_provider("/x", None), None);
}

#[test]
fn empty_sections_are_defaults() {
    let text = "model_list:\ngeneral_settings:\n  # master_key: x\nrouter_settings:\n";
    let c = parse(text, "c.yaml").unwrap().config;
    assert!(c.deployments.is_empty());
    assert!(c.master_key().is_none() || std::env::var("LITELLM_MASTER_KEY").is_ok());
}

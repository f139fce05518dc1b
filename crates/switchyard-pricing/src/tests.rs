use super::*;
use switchyard_types::{CompletionTokensDetails, JsonObject, PromptTokensDetails};

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

fn price(input: f64, output: f64) -> Price {
    Price {
        input: pico_per_mtok(input),
        output: pico_per_mtok(output),
        ..Price::default()
    }
}

#[test]
fn plain_input_and_output_are_exact() {
    // $2.50 / $10.00 per million tokens (gpt-4o's list price).
    let c = price(2.5, 10.0).cost(&usage(1234, 567));
    assert_eq!(c.input, 1234 * 2_500_000);
    assert_eq!(c.output, 567 * 10_000_000);
    assert_eq!(c.total_pico(), 3_085_000_000 + 5_670_000_000);
    assert!((c.usd() - 0.008755).abs() < 1e-15);
}

#[test]
fn cached_input_is_taken_out_of_prompt_and_priced_at_its_rate() {
    let mut p = price(2.5, 10.0);
    p.cache_read = Some(pico_per_mtok(1.25));
    let mut u = usage(1000, 100);
    u.prompt_tokens_details = Some(PromptTokensDetails {
        cached_tokens: Some(600),
        ..PromptTokensDetails::default()
    });
    let c = p.cost(&u);
    assert_eq!(c.input, 400 * 2_500_000);
    assert_eq!(c.cache_read, 600 * 1_250_000);
    assert_eq!(c.output, 100 * 10_000_000);
    // Without a cache price, cached tokens cost the input rate.
    let c = price(2.5, 10.0).cost(&u);
    assert_eq!(c.input + c.cache_read, 1000 * 2_500_000);
}

#[test]
fn anthropic_style_cache_reads_and_writes() {
    // claude-3-5-sonnet: $3 in, $15 out, $0.30 cache read, $3.75 cache write.
    let mut p = price(3.0, 15.0);
    p.cache_read = Some(pico_per_mtok(0.3));
    p.cache_write = Some(pico_per_mtok(3.75));
    let mut u = usage(10_000, 200);
    let mut extra = JsonObject::new();
    extra.insert("cache_read_input_tokens".into(), 6000.into());
    extra.insert("cache_creation_input_tokens".into(), 3000.into());
    u.extra = extra;
    let c = p.cost(&u);
    assert_eq!(c.input, 1000 * 3_000_000);
    assert_eq!(c.cache_read, 6000 * 300_000);
    assert_eq!(c.cache_write, 3000 * 3_750_000);
    assert_eq!(c.output, 200 * 15_000_000);
    assert_eq!(
        c.total_pico(),
        3_000_000_000 + 1_800_000_000 + 11_250_000_000 + 3_000_000_000
    );
}

#[test]
fn reasoning_tokens_priced_apart_only_when_the_model_says_so() {
    let mut u = usage(100, 1000);
    u.completion_tokens_details = Some(CompletionTokensDetails {
        reasoning_tokens: Some(800),
        ..CompletionTokensDetails::default()
    });
    let c = price(1.1, 4.4).cost(&u);
    assert_eq!(
        c.output,
        1000 * 4_400_000,
        "reasoning is output unless priced apart"
    );
    assert_eq!(c.reasoning, 0);
    let mut p = price(1.1, 4.4);
    p.reasoning = Some(pico_per_mtok(3.5));
    let c = p.cost(&u);
    assert_eq!(c.output, 200 * 4_400_000);
    assert_eq!(c.reasoning, 800 * 3_500_000);
}

#[test]
fn tiny_prices_keep_their_precision() {
    // $0.0375 per million (a cached-input price) is 37,500 pUSD a token.
    assert_eq!(pico_per_mtok(0.0375), 37_500);
    assert_eq!(pico_per_token(3.75e-8), 37_500);
    assert_eq!(pico_per_token(2.5e-6), pico_per_mtok(2.5));
    assert_eq!(pico_per_token(-1.0), 0);
    assert_eq!(pico_per_token(f64::NAN), 0);
}

#[test]
fn litellm_price_file_overrides_and_extends() {
    let mut t = PriceTable::default();
    t.insert("openai/gpt-4o", price(2.5, 10.0));
    let file = r#"{
        "sample_spec": {"litellm_provider": "one of ...", "input_cost_per_token": 0},
        "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 5e-06,
                   "output_cost_per_token": 2e-05, "cache_read_input_token_cost": 2.5e-06,
                   "max_input_tokens": 128000, "max_output_tokens": 16384,
                   "supports_function_calling": true, "supports_vision": true},
        "my-provider/custom-model": {"litellm_provider": "openai", "input_cost_per_token": 1e-07,
                   "output_cost_per_token": 2e-07, "max_tokens": 4096},
        "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04}
    }"#;
    assert_eq!(t.merge_litellm(file, "prices.json").unwrap(), 3);
    let p = t.lookup("openai", "gpt-4o").unwrap();
    assert_eq!(
        (p.input, p.output, p.cache_read),
        (5_000_000, 20_000_000, Some(2_500_000))
    );
    assert!(p.tools && p.vision && !p.json_schema);
    assert_eq!(p.max_input_tokens, Some(128_000));
    let p = t.lookup("my-provider", "custom-model").unwrap();
    assert_eq!((p.input, p.max_output_tokens), (100_000, Some(4096)));
    let p = t.lookup("openai", "dall-e-3").unwrap();
    assert_eq!(p.per_unit, Some(UnitPrice::new(Unit::Image, 0.04)));
    let mut u = Usage::default();
    u.extra.insert(BILLABLE_UNITS.into(), serde_json::json!(2));
    assert_eq!(p.cost(&u).total_pico(), 80_000_000_000);
}

#[test]
fn bad_price_files_name_the_file_and_entry() {
    let mut t = PriceTable::default();
    let e = t.merge_litellm("{", "x.json").unwrap_err().to_string();
    assert!(e.starts_with("x.json:"), "{e}");
    let e = t
        .merge_litellm(r#"{"m": {"input_cost_per_token": "cheap"}}"#, "x.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry `m`"), "{e}");
}

#[test]
fn lookup_order() {
    let mut t = PriceTable::default();
    t.insert("openai/gpt-4o", price(2.5, 10.0));
    t.insert("azure/gpt-4o", price(2.75, 11.0));
    t.insert("anthropic/claude-sonnet-4", price(3.0, 15.0));
    assert_eq!(
        t.lookup("azure", "gpt-4o").unwrap().input,
        pico_per_mtok(2.75)
    );
    assert_eq!(
        t.lookup("openai", "gpt-4o").unwrap().input,
        pico_per_mtok(2.5)
    );
    // A router like openrouter naming `vendor/model`.
    assert_eq!(
        t.lookup("openrouter", "anthropic/claude-sonnet-4")
            .unwrap()
            .output,
        pico_per_mtok(15.0)
    );
    assert!(t.lookup("groq", "unknown").is_none());
}

#[test]
fn the_shipped_table_loads_and_is_broad() {
    let t = PriceTable::builtin().unwrap();
    assert!(t.len() >= 150, "only {} models", t.len());
    for (provider, model) in [
        ("openai", "gpt-4o"),
        ("openai", "text-embedding-3-small"),
        ("anthropic", "claude-3-5-haiku-20241022"),
    ] {
        let p = t
            .lookup(provider, model)
            .unwrap_or_else(|| panic!("{provider}/{model} missing"));
        assert!(p.input > 0, "{provider}/{model}");
    }
    let e = t.lookup("openai", "text-embedding-3-small").unwrap();
    assert_eq!(e.mode, Mode::Embedding);
}

use super::*;

fn target() -> Target {
    Target {
        provider: "gemini".into(),
        model: "gemini-2.5-flash".into(),
        api_base: DEFAULT_API_BASE.into(),
        api_key: Some("AIza-secret".into()),
        ..Target::default()
    }
}

fn req(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn requests_map_roles_parts_tools_and_config() {
    let r = req(json!({
        "model": "x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is in this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.webp"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"a\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"answer\": 42}"},
            {"role": "tool", "tool_call_id": "call_0", "content": "plain text"}
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "temperature": 0.1, "max_tokens": 77, "stop": "END", "n": 2, "seed": 9,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
        "reasoning_effort": "low"
    }));
    let b = request_body(&target(), &r).unwrap();
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    let c = b["contents"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0]["role"], "user");
    assert_eq!(
        c[0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})
    );
    assert_eq!(c[0]["parts"][2]["fileData"]["mimeType"], "image/webp");
    assert_eq!(c[1]["role"], "model");
    assert_eq!(
        c[1]["parts"][0],
        json!({"functionCall": {"name": "lookup", "args": {"q": "a"}}})
    );
    assert_eq!(
        c[2]["parts"][0]["functionResponse"],
        json!({"name": "lookup", "response": {"answer": 42}})
    );
    assert_eq!(
        c[2]["parts"][1]["functionResponse"]["response"],
        json!({"content": "plain text"})
    );
    let g = &b["generationConfig"];
    assert_eq!(g["temperature"], 0.1);
    assert_eq!(g["maxOutputTokens"], 77);
    assert_eq!(g["stopSequences"], json!(["END"]));
    assert_eq!(g["candidateCount"], 2);
    assert_eq!(g["seed"], 9);
    assert_eq!(g["responseMimeType"], "application/json");
    assert_eq!(g["thinkingConfig"], json!({"thinkingBudget": 1024}));
    assert_eq!(b["tools"][0]["functionDeclarations"][0]["name"], "lookup");
    assert_eq!(
        b["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}})
    );

    let orphan = req(
        json!({"model": "x", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
    );
    assert!(request_body(&target(), &orphan).is_err());
}

#[test]
fn urls_and_the_key_header() {
    assert_eq!(
        url(DEFAULT_API_BASE, "gemini-2.5-flash", false),
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        url("http://h/v1beta/", "models/g", true),
        "http://h/v1beta/models/g:streamGenerateContent?alt=sse"
    );
    let up = Gemini
        .chat_request(
            &target(),
            &req(json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]})).into(),
        )
        .unwrap();
    assert!(!up.url.contains("AIza"), "the key never goes in the URL");
    assert!(up
        .headers
        .iter()
        .any(|(k, v)| k == "x-goog-api-key" && v == "AIza-secret"));
}

#[test]
fn responses_map_text_calls_thoughts_and_usage() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking...", "thought": true},
            {"text": "Let me check."},
            {"functionCall": {"name": "lookup", "args": {"q": "b"}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 6, "thoughtsTokenCount": 4, "totalTokenCount": 30, "cachedContentTokenCount": 8},
        "modelVersion": "gemini-2.5-flash", "responseId": "r1"
    });
    let out = Gemini
        .chat_response(&target(), Bytes::from(body.to_string()))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], "Let me check.");
    assert_eq!(m["reasoning_content"], "thinking...");
    assert_eq!(m["tool_calls"][0]["function"]["name"], "lookup");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let u = out.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (20, 10, 30)
    );
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(8));
    assert_eq!(
        u.completion_tokens_details.unwrap().reasoning_tokens,
        Some(4)
    );
    for (r, f) in [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
    ] {
        assert_eq!(finish_reason(r), f);
    }
}

#[test]
fn streams_translate_chunk_by_chunk_and_end_with_the_body() {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}], "responseId": "r2", "modelVersion": "gemini-2.5-flash"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}),
    ];
    let sse: String = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    let mut s = Gemini.chat_stream(&target(), false);
    let mut events = Vec::new();
    for piece in sse.as_bytes().chunks(11) {
        let out = s.push(piece);
        assert!(!out.done);
        events.extend(out.events);
    }
    let end = s.finish();
    assert!(end.done);
    assert_eq!(end.usage.as_ref().unwrap().total_tokens, 5);
    events.extend(end.events);
    let data: Vec<String> = events
        .iter()
        .map(|b| {
            std::str::from_utf8(b)
                .unwrap()
                .trim()
                .trim_start_matches("data: ")
                .to_owned()
        })
        .collect();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let vals: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = vals
        .iter()
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(vals[0]["id"], "chatcmpl-r2");
    assert!(vals
        .iter()
        .any(|v| v["choices"][0]["finish_reason"] == "stop"));
    assert_eq!(vals.last().unwrap()["usage"]["completion_tokens"], 2);

    // Cut before a finish reason: not done, the router reports a broken stream.
    let mut s = Gemini.chat_stream(&target(), false);
    s.push(format!("data: {}\n\n", chunks[0]).as_bytes());
    assert!(!s.finish().done);
}

#[test]
fn errors_keep_status_and_message() {
    let e = gemini_error(400, br#"{"error": {"code": 400, "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}"#);
    assert_eq!(e.kind.as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    let e = gemini_error(429, br#"[{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}]"#);
    assert_eq!((e.status, e.message.as_str()), (429, "Resource exhausted"));
}

#[test]
fn a_blocked_prompt_is_a_content_policy_error() {
    let body = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}});
    let e = Gemini
        .chat_response(&target(), Bytes::from(body.to_string()))
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_deref()),
        (400, Some("content_policy_violation"))
    );
    let mut s = Gemini.chat_stream(&target(), false);
    let out = s.push(format!("data: {body}\n\n").as_bytes());
    assert_eq!(
        out.error.unwrap().code.as_deref(),
        Some("content_policy_violation")
    );
}

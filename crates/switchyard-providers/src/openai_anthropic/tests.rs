use super::*;

fn target() -> Target {
    Target {
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        api_base: DEFAULT_API_BASE.into(),
        api_key: Some("sk-ant-secret".into()),
        ..Target::default()
    }
}

fn req(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn requests_map_system_roles_images_tools_and_results() {
    let r = req(json!({
        "model": "x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "and kind"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "user", "content": "second user turn is merged"},
            {"role": "assistant", "content": "let me look", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "a cat"},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "temperature": 0.2,
        "stop": ["END"],
        "user": "u-1",
        "top_k": 5
    }));
    let b = request_body(&target(), &r).unwrap();
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["max_tokens"], 4096);
    assert_eq!(
        b["system"],
        json!([{"type": "text", "text": "be brief"}, {"type": "text", "text": "and kind"}])
    );
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(
        msgs.len(),
        3,
        "user, assistant, user (tool result + thanks merged)"
    );
    assert_eq!(msgs[0]["role"], "user");
    let first = msgs[0]["content"].as_array().unwrap();
    assert_eq!(first[0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(
        first[1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="})
    );
    assert_eq!(
        first[2]["source"],
        json!({"type": "url", "url": "https://example.com/cat.jpg"})
    );
    assert_eq!(first[3]["text"], "second user turn is merged");
    assert_eq!(
        msgs[1]["content"][1],
        json!({"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}})
    );
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"})
    );
    assert_eq!(msgs[2]["content"][1]["text"], "thanks");
    assert_eq!(
        b["tools"][0]["input_schema"]["properties"]["q"]["type"],
        "string"
    );
    assert_eq!(
        b["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(b["stop_sequences"], json!(["END"]));
    assert_eq!(b["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(b["top_k"], 5);
    assert_eq!(b["temperature"], 0.2);
}

#[test]
fn json_mode_reasoning_and_unsupported_params() {
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
        "reasoning_effort": "medium", "max_tokens": 100}),
    );
    let b = request_body(&target(), &r).unwrap();
    assert_eq!(b["tool_choice"], json!({"type": "tool", "name": JSON_TOOL}));
    assert_eq!(
        b["tools"][0]["input_schema"]["properties"]["a"]["type"],
        "integer"
    );
    assert_eq!(
        b["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(b["max_tokens"], 3072, "raised above the thinking budget");

    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "seed": 3, "n": 2}),
    );
    assert!(
        matches!(request_body(&target(), &r), Err(TranslateError::UnsupportedParam { ref param, .. }) if param == "n")
    );
    let dropping = Target {
        drop_params: true,
        ..target()
    };
    let b = request_body(&dropping, &r).unwrap();
    assert!(b.get("seed").is_none() && b.get("n").is_none());
    let bad = req(
        json!({"model": "x", "messages": [{"role": "assistant", "content": "", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}),
    );
    assert!(matches!(
        request_body(&target(), &bad),
        Err(TranslateError::Invalid(_))
    ));
}

#[test]
fn headers_and_url() {
    let up = Anthropic
        .chat_request(
            &target(),
            &req(json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]})).into(),
        )
        .unwrap();
    assert_eq!(up.url, "https://api.anthropic.com/v1/messages");
    let h: std::collections::HashMap<_, _> = up
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(h["x-api-key"], "sk-ant-secret");
    assert_eq!(h["anthropic-version"], API_VERSION);
    assert!(!format!("{:?}", target()).contains("sk-ant-secret"));
    assert_eq!(messages_url("http://h/v1"), "http://h/v1/messages");
}

#[test]
fn responses_map_text_tools_thinking_and_usage() {
    let body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Calling a tool."},
            {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "dog"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
    });
    let out = Anthropic
        .chat_response(&target(), Bytes::from(body.to_string()))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], "Calling a tool.");
    assert_eq!(m["reasoning_content"], "hmm");
    assert_eq!(m["tool_calls"][0]["id"], "toolu_9");
    assert_eq!(
        serde_json::from_str::<Value>(
            m["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        json!({"q": "dog"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let u = out.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (130, 7, 137)
    );
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(100));
    assert_eq!(u.extra["cache_creation_input_tokens"], 20);

    let json_answer = json!({"id": "m", "model": "c", "content": [{"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"a": 1}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let out = Anthropic
        .chat_response(&target(), Bytes::from(json_answer.to_string()))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "{\"a\":1}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());

    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
    ] {
        assert_eq!(finish_reason(stop), finish);
    }
}

fn events(evs: &[Value]) -> String {
    evs.iter()
        .map(|e| format!("event: {}\ndata: {}\n\n", e["type"].as_str().unwrap(), e))
        .collect()
}

fn chunks(out: &[Bytes]) -> Vec<Value> {
    out.iter()
        .map(|b| {
            std::str::from_utf8(b)
                .unwrap()
                .trim()
                .strip_prefix("data: ")
                .unwrap()
                .to_owned()
        })
        .filter(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap())
        .collect()
}

#[test]
fn streams_translate_event_by_event_with_tool_argument_deltas() {
    let sse = events(&[
        json!({"type": "message_start", "message": {"id": "msg_s", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "lookup", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"q\":"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"x\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        json!({"type": "message_stop"}),
    ]);
    let mut s = Anthropic.chat_stream(&target(), false);
    // Fed in small pieces: events come out as soon as they are complete.
    let mut all = Vec::new();
    let mut usage = None;
    let mut done = false;
    for piece in sse.as_bytes().chunks(17) {
        let out = s.push(piece);
        all.extend(out.events);
        usage = usage.or(out.usage);
        done |= out.done;
    }
    assert!(done);
    let c = chunks(&all);
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(c[1]["choices"][0]["delta"]["content"], "Hel");
    assert_eq!(c[2]["choices"][0]["delta"]["content"], "lo");
    assert_eq!(
        c[3]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "lookup", "arguments": ""}})
    );
    assert_eq!(
        c[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":"
    );
    assert_eq!(c[5]["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
    assert_eq!(c[6]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(c[7]["usage"]["prompt_tokens"], 12);
    assert_eq!(c[7]["usage"]["completion_tokens"], 9);
    assert!(c
        .iter()
        .all(|x| x["id"] == "msg_s" && x["object"] == "chat.completion.chunk"));
    assert_eq!(
        std::str::from_utf8(all.last().unwrap()).unwrap(),
        "data: [DONE]\n\n"
    );
    assert_eq!(usage.unwrap().total_tokens, 21);
    assert_eq!(s.completion_text(), "Hello{\"q\":\"x\"}");

    // Without include_usage the usage chunk is read, not sent.
    let mut s = Anthropic.chat_stream(&target(), true);
    let out = s.push(sse.as_bytes());
    assert!(chunks(&out.events).iter().all(|c| c.get("usage").is_none()));
    assert!(out.usage.is_some());
}

#[test]
fn stream_errors_and_cut_streams() {
    let sse = events(&[
        json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]);
    let mut s = Anthropic.chat_stream(&target(), false);
    let out = s.push(sse.as_bytes());
    let e = out.error.unwrap();
    assert_eq!((e.status, e.message.as_str()), (503, "Overloaded"));
    let last = chunks(&out.events).pop().unwrap();
    assert_eq!(last["error"]["type"], "overloaded_error");

    let cut = events(&[json!({"type": "message_start", "message": {"id": "m", "model": "c"}})]);
    let mut s = Anthropic.chat_stream(&target(), false);
    assert!(!s.push(cut.as_bytes()).done);
    assert!(
        !s.finish().done,
        "no message_stop: the router reports a cut stream"
    );
}

#[test]
fn errors_keep_type_and_message() {
    let e = anthropic_error(400, br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#);
    assert_eq!(e.kind.as_deref(), Some("invalid_request_error"));
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    let e = anthropic_error(
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(e.status, 503);
    let e = anthropic_error(401, b"not json");
    assert_eq!(e.message, "not json");
}

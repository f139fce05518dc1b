#![allow(clippy::unwrap_used)]

use super::*;
use crate::eventstream::tests::encode;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn target() -> Target {
    Target {
        provider: "bedrock".into(),
        model: MODEL.into(),
        api_base: default_endpoint("us-east-1"),
        ..Target::default()
    }
}

fn req(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn requests_map_system_turns_images_tools_and_results() {
    let r = req(json!({
        "model": "x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "and kind", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
            ]},
            {"role": "user", "content": "second user turn is merged"},
            {"role": "assistant", "content": "\n\n"},
            {"role": "assistant", "content": "let me look", "tool_calls": [
                {"id": "tooluse_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "a cat"},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": "required",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 300,
        "stop": "END",
        "top_k": 5,
        "user": "u-1",
        "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"}
    }));
    let b = request_body(&target(), &r).unwrap();
    assert_eq!(
        b["system"],
        json!([{"text": "be brief"}, {"text": "and kind"}, {"cachePoint": {"type": "default"}}])
    );
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(
        msgs.len(),
        3,
        "user, assistant, user (tool result + thanks)"
    );
    assert_eq!(
        msgs[0],
        json!({"role": "user", "content": [
            {"text": "what is this?"},
            {"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}}},
            {"text": "second user turn is merged"}
        ]})
    );
    assert_eq!(
        msgs[1],
        json!({"role": "assistant", "content": [
            {"text": "let me look"},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup", "input": {"q": "cat"}}}
        ]})
    );
    assert_eq!(
        msgs[2],
        json!({"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "a cat"}]}},
            {"text": "thanks"}
        ]})
    );
    assert_eq!(
        b["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "lookup", "description": "Look up",
            "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}}}}],
            "toolChoice": {"any": {}}})
    );
    assert_eq!(
        b["inferenceConfig"],
        json!({"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]})
    );
    assert_eq!(b["additionalModelRequestFields"], json!({"top_k": 5}));
    assert_eq!(b["guardrailConfig"]["guardrailIdentifier"], "g1");
    assert!(b.get("user").is_none() && b.get("model").is_none());
}

#[test]
fn tool_choices_json_mode_reasoning_and_refusals() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let with = |choice: Value| {
        request_body(
            &target(),
            &req(
                json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
                "tools": tools, "tool_choice": choice}),
            ),
        )
    };
    assert_eq!(
        with(json!("auto")).unwrap()["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        with(json!({"type": "function", "function": {"name": "f"}})).unwrap()["toolConfig"]
            ["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    assert_eq!(
        with(json!("auto")).unwrap()["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"],
        json!({"json": {"type": "object", "properties": {}}})
    );
    assert!(with(json!("none")).unwrap().get("toolConfig").is_none());
    // `none` while the history holds tool calls: Bedrock needs the tools.
    let history = json!({"model": "x", "tools": tools, "tool_choice": "none", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "t", "content": "ok"}]});
    assert!(matches!(
        request_body(&target(), &req(history.clone())),
        Err(TranslateError::Invalid(_))
    ));
    let dropping = Target {
        drop_params: true,
        ..target()
    };
    let b = request_body(&dropping, &req(history)).unwrap();
    assert!(b["toolConfig"].get("toolChoice").is_none());
    assert_eq!(
        b["messages"][1]["content"][0]["toolUse"]["input"],
        json!({})
    );

    let b = request_body(
        &target(),
        &req(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s",
                "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
            "reasoning_effort": "medium", "max_tokens": 100}),
        ),
    )
    .unwrap();
    assert_eq!(
        b["toolConfig"]["toolChoice"],
        json!({"tool": {"name": JSON_TOOL}})
    );
    assert_eq!(
        b["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["a"]["type"],
        "integer"
    );
    assert_eq!(
        b["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(b["inferenceConfig"]["maxTokens"], 3072);

    let r = req(json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "seed": 3}));
    assert!(matches!(
        request_body(&target(), &r),
        Err(TranslateError::UnsupportedParam { ref param, .. }) if param == "seed"
    ));
    assert!(request_body(&dropping, &r).unwrap().get("seed").is_none());
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "service_tier": "flex"}),
    );
    assert!(matches!(
        request_body(&target(), &r),
        Err(TranslateError::UnsupportedParam { ref param, .. }) if param == "service_tier"
    ));
    assert!(request_body(&dropping, &r)
        .unwrap()
        .get("additionalModelRequestFields")
        .is_none());
    let nova = Target {
        model: "amazon.nova-pro-v1:0".into(),
        ..target()
    };
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}),
    );
    assert!(matches!(
        request_body(&nova, &r),
        Err(TranslateError::UnsupportedParam { ref param, .. }) if param == "reasoning_effort"
    ));
    // Images must be bytes.
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    );
    let e = request_body(&target(), &r).unwrap_err();
    assert!(e.to_string().contains("base64 data URL"), "{e}");
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]}),
    );
    assert!(request_body(&target(), &r).is_err());
}

#[test]
fn defaults_urls_and_headers() {
    let mut t = target();
    t.defaults.insert("temperature".into(), json!(0.7));
    t.defaults.insert("max_tokens".into(), json!(64));
    let r = req(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1}),
    );
    let b = request_body(&t, &r).unwrap();
    assert_eq!(
        b["inferenceConfig"],
        json!({"temperature": 0.1, "maxTokens": 64})
    );

    let up = Bedrock.chat_request(&target(), &r.clone().into()).unwrap();
    assert_eq!(
        up.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    let h: std::collections::HashMap<_, _> = up
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(h["content-type"], "application/json");
    assert!(
        !h.contains_key("authorization"),
        "SigV4 is added by the router"
    );
    let mut stream = r.clone();
    stream.stream = Some(true);
    let keyed = Target {
        api_key: Some("bedrock-api-key".into()),
        model: "converse/us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
        ..target()
    };
    let up = Bedrock.chat_request(&keyed, &stream.into()).unwrap();
    assert!(up
        .url
        .ends_with("/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"));
    assert!(up
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer bedrock-api-key"));
    assert!(up
        .headers
        .iter()
        .any(|(k, v)| k == "accept" && v == "application/vnd.amazon.eventstream"));
    let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0";
    assert_eq!(
        model_url("http://h/", arn, "converse"),
        "http://h/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(arn_region(arn), Some("eu-west-1"));
    assert_eq!(arn_region(MODEL), None);
    assert_eq!(base_model_id("us.anthropic.x"), "anthropic.x");
    assert_eq!(base_model_id("anthropic.x"), "anthropic.x");
}

#[test]
fn responses_map_text_tools_reasoning_and_usage() {
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "thinking...", "signature": "sig"}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 29,
                  "cacheReadInputTokens": 8, "cacheWriteInputTokens": 6},
        "metrics": {"latencyMs": 100}
    });
    let out = Bedrock
        .chat_response(&target(), Bytes::from(body.to_string()))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], "Let me check.");
    assert_eq!(m["reasoning_content"], "thinking...");
    assert_eq!(
        m["tool_calls"][0],
        json!({"id": "tooluse_abc", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["model"], MODEL);
    let u = out.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (24, 5, 29)
    );
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(8));
    assert_eq!(u.extra["cache_creation_input_tokens"], 6);

    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ] {
        let body = json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
            "stopReason": stop, "usage": {"inputTokens": 1, "outputTokens": 1}});
        let out = Bedrock
            .chat_response(&target(), Bytes::from(body.to_string()))
            .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], finish, "{stop}");
    }
    // The JSON tool's input is the answer.
    let body = json!({"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "t", "name": JSON_TOOL, "input": {"a": 1}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1}});
    let out = Bedrock
        .chat_response(&target(), Bytes::from(body.to_string()))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "{\"a\":1}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(Bedrock
        .chat_response(&target(), Bytes::from_static(b"{}"))
        .is_err());
}

#[test]
fn errors_map_by_type_and_message() {
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-amzn-errortype",
        HeaderValue::from_static(
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
    );
    let e = Bedrock.error_response_with_headers(
        429,
        &h,
        br#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    assert_eq!(
        (e.status, e.kind.as_deref()),
        (429, Some("ThrottlingException"))
    );
    assert_eq!(
        e.message,
        "Too many requests, please wait before trying again."
    );

    let e = Bedrock.error_response(
        400,
        br#"{"message":"Input is too long for requested model."}"#,
    );
    assert_eq!(
        (e.status, e.code.as_deref()),
        (400, Some("context_length_exceeded"))
    );
    let e = Bedrock.error_response(
        400,
        br#"{"message":"Malformed input request: #: extraneous key [foo]"}"#,
    );
    assert_eq!((e.status, e.code), (400, None));

    h.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("InvalidSignatureException"),
    );
    let e = Bedrock.error_response_with_headers(403, &h, br#"{"message":"The request signature we calculated does not match the signature you provided."}"#);
    assert_eq!(e.status, 401);
    // Without the header, the message tells.
    let e = Bedrock.error_response(
        403,
        br#"{"message":"The security token included in the request is invalid."}"#,
    );
    assert_eq!(e.status, 401);
    h.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("AccessDeniedException"),
    );
    let e = Bedrock.error_response_with_headers(
        403,
        &h,
        br#"{"message":"You don't have access to the model with the specified model ID."}"#,
    );
    assert_eq!(e.status, 403);
    h.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("ModelErrorException"),
    );
    assert_eq!(
        Bedrock.error_response_with_headers(424, &h, b"{}").status,
        500
    );
    let e = Bedrock.error_response(503, b"");
    assert!(e.message.contains("empty body") && e.status == 503);
    let e = Bedrock.error_response(
        500,
        br#"{"__type":"com.amazon.coral#ServiceUnavailableException","Message":"busy"}"#,
    );
    assert_eq!((e.status, e.message.as_str()), (503, "busy"));
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    encode(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

fn chunks(events: &[Bytes]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            std::str::from_utf8(e)
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

fn text_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(event(
        "messageStart",
        json!({"role": "assistant", "p": "abcd"}),
    ));
    s.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
    ));
    for t in ["Hel", "lo"] {
        s.extend(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": t}}),
        ));
    }
    s.extend(event("contentBlockStop", json!({"contentBlockIndex": 1})));
    s.extend(event("messageStop", json!({"stopReason": "end_turn"})));
    s.extend(event("metadata", json!({"usage": {"inputTokens": 7, "outputTokens": 2, "totalTokens": 9}, "metrics": {"latencyMs": 5}})));
    s
}

#[test]
fn streams_translate_split_frames_and_end_with_usage() {
    let bytes = text_stream();
    let mut s = Bedrock.chat_stream(&target(), false);
    let mut events = Vec::new();
    let mut last = StreamOutput::default();
    // Odd-sized pieces: frames split across pushes, several in one.
    for piece in bytes.chunks(37) {
        last = s.push(piece);
        events.extend(last.events.iter().cloned());
        assert!(last.error.is_none());
    }
    assert!(last.done);
    assert_eq!(last.usage.as_ref().unwrap().total_tokens, 9);
    assert_eq!(
        std::str::from_utf8(events.last().unwrap()).unwrap(),
        "data: [DONE]\n\n"
    );
    let c = chunks(&events);
    assert_eq!(
        c[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(c[1]["choices"][0]["delta"]["reasoning_content"], "hmm");
    let text: String = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(c[c.len() - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(c[c.len() - 1]["usage"]["prompt_tokens"], 7);
    assert_eq!(c[c.len() - 1]["choices"], json!([]));
    assert_eq!(s.completion_text(), "Hello");
    assert!(c
        .iter()
        .all(|x| x["object"] == "chat.completion.chunk" && x["model"] == MODEL));

    // Stripped usage: read, not forwarded.
    let mut s = Bedrock.chat_stream(&target(), true);
    let out = s.push(&bytes);
    assert!(out.done && out.usage.is_some());
    assert!(chunks(&out.events).iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn streamed_tool_use_sends_input_deltas() {
    let mut s = Vec::new();
    s.extend(event("messageStart", json!({"role": "assistant"})));
    s.extend(event(
        "contentBlockStart",
        json!({"contentBlockIndex": 0,
        "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}}),
    ));
    for part in ["{\"city\"", ": \"Paris\"}"] {
        s.extend(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": part}}}),
        ));
    }
    s.extend(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    s.extend(event("messageStop", json!({"stopReason": "tool_use"})));
    let mut st = Bedrock.chat_stream(&target(), false);
    let out = st.push(&s);
    assert!(!out.done, "metadata has not come yet");
    let c = chunks(&out.events);
    assert_eq!(
        c[1]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}})
    );
    let args: String = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        c.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    // The body ends without metadata: complete, with no usage (the router counts it).
    let end = st.finish();
    assert!(end.done && end.usage.is_none());
    assert_eq!(
        std::str::from_utf8(&end.events[0]).unwrap(),
        "data: [DONE]\n\n"
    );
}

#[test]
fn bad_crcs_exceptions_and_cut_frames_end_the_stream_with_an_error() {
    let good = event("messageStart", json!({"role": "assistant"}));
    let mut bad = event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
    );
    let n = bad.len();
    bad[n - 2] ^= 0x55;
    let mut s = Bedrock.chat_stream(&target(), false);
    let out = s.push(&good);
    assert_eq!(out.events.len(), 1);
    let out = s.push(&bad);
    let err = out.error.unwrap();
    assert_eq!(err.status, 502);
    assert!(err.message.contains("CRC"), "{}", err.message);
    let c = chunks(&out.events);
    assert!(c[0]["error"]["message"].as_str().unwrap().contains("CRC"));
    // Nothing more after the failure.
    assert!(s.push(&good).events.is_empty());
    assert!(s.finish().events.is_empty());

    let exception = encode(
        &[
            (":message-type", "exception"),
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
        ],
        br#"{"message":"Too many tokens, please wait before trying again."}"#,
    );
    let mut s = Bedrock.chat_stream(&target(), false);
    let out = s.push(&[good.clone(), exception].concat());
    let err = out.error.unwrap();
    assert_eq!(
        (err.status, err.kind.as_deref()),
        (429, Some("throttlingException"))
    );
    let exception = encode(
        &[
            (":message-type", "exception"),
            (":exception-type", "modelStreamErrorException"),
        ],
        br#"{"message":"model failed"}"#,
    );
    let mut s = Bedrock.chat_stream(&target(), false);
    assert_eq!(s.push(&exception).error.unwrap().status, 500);

    // The body ends in the middle of a frame.
    let mut s = Bedrock.chat_stream(&target(), false);
    s.push(&good[..good.len() - 3]);
    let out = s.finish();
    assert_eq!(out.error.unwrap().status, 502);
    // The body ends before messageStop: not done (the router reports a cut stream).
    let mut s = Bedrock.chat_stream(&target(), false);
    s.push(&good);
    let out = s.finish();
    assert!(!out.done && out.error.is_none());
}

fn embed_req(v: Value) -> switchyard_types::Verbatim<EmbeddingRequest> {
    switchyard_types::Verbatim::parse(serde_json::to_vec(&v).unwrap().into()).unwrap()
}

#[test]
fn embeddings_for_titan_and_cohere() {
    let titan = Target {
        model: "amazon.titan-embed-text-v2:0".into(),
        ..target()
    };
    let up = Bedrock
        .embedding_request(
            &titan,
            &embed_req(json!({"model": "m", "input": "hello", "dimensions": 256})),
        )
        .unwrap();
    assert!(up
        .url
        .ends_with("/model/amazon.titan-embed-text-v2%3A0/invoke"));
    let b: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(b, json!({"inputText": "hello", "dimensions": 256}));
    let e = Bedrock
        .embedding_request(
            &titan,
            &embed_req(json!({"model": "m", "input": ["a", "b"]})),
        )
        .unwrap_err();
    assert!(e.to_string().contains("one input per call"), "{e}");
    let v1 = Target {
        model: "amazon.titan-embed-text-v1".into(),
        ..target()
    };
    assert!(matches!(
        Bedrock.embedding_request(
            &v1,
            &embed_req(json!({"model": "m", "input": "a", "dimensions": 8}))
        ),
        Err(TranslateError::UnsupportedParam { .. })
    ));
    let out = Bedrock
        .embedding_response(
            &titan,
            &embed_req(json!({"model": "m", "input": "hello"})),
            Bytes::from_static(br#"{"embedding": [0.5, -1.0], "inputTextTokenCount": 2}"#),
        )
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["data"][0]["embedding"], json!([0.5, -1.0]));
    assert_eq!(out.usage.unwrap().prompt_tokens, 2);

    let cohere = Target {
        model: "cohere.embed-english-v3".into(),
        ..target()
    };
    let up = Bedrock
        .embedding_request(
            &cohere,
            &embed_req(json!({"model": "m", "input": ["a", "bb"], "input_type": "search_query"})),
        )
        .unwrap();
    let b: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        b,
        json!({"texts": ["a", "bb"], "input_type": "search_query"})
    );
    let r = embed_req(json!({"model": "m", "input": ["a", "bb"], "encoding_format": "base64"}));
    let out = Bedrock
        .embedding_response(&cohere, &r, Bytes::from_static(br#"{"id": "x", "embeddings": [[1.0], [2.0]], "response_type": "embeddings_floats"}"#))
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["data"][1]["index"], 1);
    assert!(v["data"][1]["embedding"].is_string());
    assert!(out.usage.is_none());
    let out = Bedrock
        .embedding_response(
            &cohere,
            &embed_req(json!({"model": "m", "input": "a"})),
            Bytes::from_static(br#"{"embeddings": {"float": [[3.0]]}}"#),
        )
        .unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["data"][0]["embedding"], json!([3.0]));
    assert!(Bedrock
        .embedding_request(&target(), &embed_req(json!({"model": "m", "input": "a"})))
        .is_err());
}

//! Micro-benchmarks of the per-request work: parsing a chat request, building the upstream
//! body, reading a response's usage, and passing a 100-chunk SSE stream through.
//!
//!     cargo bench -p switchyard-providers

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard_providers::openai_openai::{embedding_body, request_body, OpenAi};
use switchyard_providers::{ChatProvider, Target};
use switchyard_types::{ChatCompletionRequest, Verbatim};

const REQUEST: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about foxes and dogs for a benchmark."},{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},{"role":"user","content":"Another one, please, a little longer this time."}],"max_tokens":64,"temperature":0.2,"stream":true,"stream_options":{"include_usage":true}}"#;

const RESPONSE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog. This is a benchmark answer of modest, realistic length.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":24,"total_tokens":66,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_bench"}"#;

fn stream_body() -> Vec<u8> {
    let chunk = r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":"token "},"logprobs":null,"finish_reason":null}]}"#;
    let mut s = String::new();
    for _ in 0..100 {
        s.push_str(chunk);
        s.push_str("\n\n");
    }
    s.push_str(r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":42,"completion_tokens":100,"total_tokens":142}}"#);
    s.push_str("\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn target() -> Target {
    Target {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        api_base: "http://127.0.0.1:9/v1".into(),
        api_key: Some("sk-bench".into()),
        ..Target::default()
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(REQUEST.len() as u64));
    g.bench_function("parse_chat_request", |b| {
        b.iter(|| {
            serde_json::from_slice::<ChatCompletionRequest>(black_box(REQUEST.as_bytes())).unwrap()
        })
    });
    // As the server parses it: with the client's bytes, forwarded as sent.
    let req: Verbatim<ChatCompletionRequest> =
        Verbatim::parse(Bytes::from_static(REQUEST.as_bytes())).unwrap();
    let t = target();
    g.bench_function("openai_request_body", |b| {
        b.iter(|| request_body(&t, black_box(&req)).unwrap())
    });
    // A request without them (built in code, or changed): serialised.
    let typed = Verbatim::from(req.get().clone());
    g.bench_function("openai_request_body_serialised", |b| {
        b.iter(|| request_body(&t, black_box(&typed)).unwrap())
    });
    // A compat row with quirks, on a request that sets none of them: the same fast path.
    let groq = Target {
        provider: "groq".into(),
        ..target()
    };
    g.bench_function("groq_request_body", |b| {
        b.iter(|| request_body(&groq, black_box(&req)).unwrap())
    });
    g.bench_function("openai_chat_request", |b| {
        b.iter(|| OpenAi.chat_request(&t, black_box(&req)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("response");
    g.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    let body = Bytes::from_static(RESPONSE.as_bytes());
    g.bench_function("openai_chat_response_usage", |b| {
        b.iter(|| OpenAi.chat_response(&t, black_box(body.clone())).unwrap())
    });
    g.finish();

    let stream = stream_body();
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("openai_sse_100_chunks", |b| {
        b.iter(|| {
            let mut s = OpenAi.chat_stream(&t, false);
            let mut events = 0;
            // Arrives in network-sized pieces, not event-aligned.
            for piece in black_box(&stream).chunks(1460) {
                events += s.push(piece).events.len();
            }
            events += s.finish().events.len();
            assert_eq!(events, 102);
        })
    });
    g.finish();

    // Ten 1536-dimension vectors (about 150 kB): usage is read from the end, the vectors
    // are not walked. `walk_whole_body` is what reading it with a full parse costs.
    let vectors: Vec<String> = (0..10)
        .map(|i| {
            let floats = vec!["-0.012345678"; 1536].join(",");
            format!(r#"{{"object":"embedding","index":{i},"embedding":[{floats}]}}"#)
        })
        .collect();
    let embeddings = Bytes::from(format!(
        r#"{{"object":"list","data":[{}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":80,"total_tokens":80}}}}"#,
        vectors.join(",")
    ));
    let request = switchyard_types::EmbeddingRequest::default();
    let mut g = c.benchmark_group("embedding");
    g.throughput(Throughput::Bytes(embeddings.len() as u64));
    g.bench_function("openai_embedding_response_usage", |b| {
        b.iter(|| {
            OpenAi
                .embedding_response(&t, &request, black_box(embeddings.clone()))
                .unwrap()
        })
    });
    g.bench_function("walk_whole_body", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&embeddings)).unwrap())
    });
    g.finish();

    // A batch of 100 texts of about 200 bytes: parsing it, and the upstream body with the
    // client's bytes (forwarded) and without (serialised).
    let texts: Vec<String> = (0..100)
        .map(|i| format!("Document {i}: the quick brown fox jumps over the lazy dog. ").repeat(3))
        .collect();
    let batch = Bytes::from(
        serde_json::to_vec(&serde_json::json!({"model": "text-embedding-3-small", "input": texts}))
            .unwrap(),
    );
    let mut g = c.benchmark_group("embedding_request");
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("parse_embedding_request", |b| {
        b.iter(|| {
            serde_json::from_slice::<switchyard_types::EmbeddingRequest>(black_box(&batch)).unwrap()
        })
    });
    let forwarded: Verbatim<switchyard_types::EmbeddingRequest> =
        Verbatim::parse(batch.clone()).unwrap();
    g.bench_function("openai_embedding_body", |b| {
        b.iter(|| embedding_body(&t, black_box(&forwarded)).unwrap())
    });
    let typed = Verbatim::from(forwarded.get().clone());
    g.bench_function("openai_embedding_body_serialised", |b| {
        b.iter(|| embedding_body(&t, black_box(&typed)).unwrap())
    });
    g.finish();
}

criterion_group!(translate, benches);
criterion_main!(translate);

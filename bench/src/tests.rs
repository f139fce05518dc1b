//! The bench's own parts against each other, on 127.0.0.1: the mock answers as OpenAI does,
//! the floor proxy forwards it, and the load generator counts and times what it sends. No
//! assertion on how fast anything is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Bytes;

use crate::load::{self, Target};
use crate::{chat_body, floor, mock};

fn target(addr: std::net::SocketAddr, path: &str, stream: bool) -> Target {
    Target {
        addr,
        path: path.into(),
        body: chat_body("gpt-4o-mini", stream),
        auth: Some("Bearer sk-upstream".into()),
    }
}

/// A floor proxy in front of `upstream`, on a port of its own.
fn start_floor(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::thread::spawn(move || floor::serve(port, upstream));
    ([127, 0, 0, 1], port).into()
}

async fn post(t: &Target) -> (hyper::http::response::Parts, Bytes) {
    // The floor proxy may still be binding: a few tries.
    for _ in 0..100 {
        if let Ok(mut conn) = load::connect(t.addr).await {
            let req = hyper::Request::post(t.path.as_str())
                .header("host", "bench")
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(t.body.clone()))
                .unwrap();
            let resp = conn.send_request(req).await.unwrap();
            let (parts, body) = resp.into_parts();
            return (parts, body.collect().await.unwrap().to_bytes());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on {}", t.addr)
}

#[tokio::test]
async fn the_mock_answers_like_openai_and_the_floor_proxy_forwards_it_unchanged() {
    let mock = mock::start().unwrap();
    let floor = start_floor(mock);
    for addr in [mock, floor] {
        let (head, body) = post(&target(addr, "/json/v1/chat/completions", false)).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["openai-organization"], "user-bench");
        assert_eq!(head.headers["x-ratelimit-remaining-requests"], "9999");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["usage"]["total_tokens"], 66);

        let (head, body) = post(&target(addr, "/stream/3/0/v1/chat/completions", true)).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["content-type"], "text/event-stream");
        let text = String::from_utf8(body.to_vec()).unwrap();
        let events: Vec<&str> = text
            .split("\n\n")
            .filter(|e| e.starts_with("data: "))
            .collect();
        // Three chunks, the usage chunk, then [DONE].
        assert_eq!(events.last(), Some(&"data: [DONE]"), "{text}");
        assert!(events.len() >= 5, "{text}");
        assert!(text.contains(r#""usage""#), "{text}");

        let (head, _) = post(&target(addr, "/nothing", false)).await;
        assert_eq!(head.status, 404);
    }
}

#[tokio::test]
async fn the_load_generator_counts_every_answer_it_times() {
    let mock = mock::start().unwrap();
    let json = target(mock, "/json/v1/chat/completions", false);
    let s = load::closed_loop(
        &json,
        4,
        Duration::from_millis(50),
        Duration::from_millis(200),
    )
    .await;
    assert!(s.ok > 0);
    assert_eq!(s.errors, 0);
    assert_eq!(s.hist.len(), s.ok, "one latency per counted answer");
    assert!(
        s.answered >= s.ok,
        "warm-up answers are answered, not counted"
    );
    assert!(s.us(50.0) <= s.us(99.0));

    // On a schedule: every due request is sent and answered.
    let s = load::fixed_rate(
        &json,
        200.0,
        Duration::from_millis(50),
        Duration::from_millis(250),
    )
    .await;
    assert_eq!(s.errors, 0);
    assert!(s.answered >= 55, "{} of 60 answered", s.answered);

    // A wrong path is an error, not an answer.
    let missing = target(mock, "/nothing", false);
    let s = load::closed_loop(&missing, 1, Duration::ZERO, Duration::from_millis(50)).await;
    assert_eq!((s.ok, s.answered), (0, 0));
    assert!(s.errors > 0);
}

#[tokio::test]
async fn a_stream_is_timed_from_head_to_first_token_to_end() {
    let mock = mock::start().unwrap();
    let stream = target(mock, "/stream/5/1/v1/chat/completions", true);
    let mut conn = load::connect(mock).await.unwrap();
    let t = load::stream_once(&mut conn, &stream).await.unwrap();
    assert!(t.head <= t.ttft && t.ttft <= t.total);
    // Five chunks and the tail, each its own frame.
    assert_eq!(t.frames, 6);
    // The connection is kept for the next stream, as SDK clients do.
    let again = load::stream_once(&mut conn, &stream).await.unwrap();
    assert_eq!(again.frames, 6);
}

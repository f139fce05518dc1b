//! Audio transcription: multipart uploads streamed to the provider as they arrive, priced by
//! the second, against a mock of OpenAI's API on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use support::*;

fn config(up: &Upstream) -> String {
    let models = format!(
        "  - model_name: whisper\n    litellm_params:\n      model: openai/whisper-1\n      api_base: {base}\n      api_key: sk-up\n  - model_name: claude\n    litellm_params:\n      model: anthropic/claude-text\n      api_base: {base}\n      api_key: sk-ant\n",
        base = up.base()
    );
    config_with_models(up, &models, "")
}

const BOUNDARY: &str = "test-boundary-7";

fn part(name: &str, value: &str) -> String {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

fn file_head() -> String {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n")
}

fn tail() -> String {
    format!("\r\n--{BOUNDARY}--\r\n")
}

async fn send(gw: &Gateway, path: &str, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(format!("{}{path}", gw.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_is_streamed_not_held() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    const MIB: usize = 1024 * 1024;
    let total = 20 * MIB;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stream = tokio_stream_from(rx);
    let url = format!("{}/v1/audio/transcriptions", gw.base);
    let req = tokio::spawn(async move {
        client()
            .post(url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(
                "content-length",
                (part("model", "whisper").len() + file_head().len() + total + tail().len())
                    .to_string(),
            )
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap()
    });
    let head = format!("{}{}", part("model", "whisper"), file_head());
    tx.send(Ok(Bytes::from(head))).await.unwrap();
    // The first MiB of audio; the rest is held back until the provider has seen half of it.
    // A gateway that buffered the upload would never pass it on, and this would time out.
    tx.send(Ok(Bytes::from(vec![7u8; MIB]))).await.unwrap();
    let seen = async {
        while up.state.upload_bytes.load(Ordering::SeqCst) < (MIB / 2) as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("the provider received audio before the client finished sending it");
    for _ in 1..20 {
        tx.send(Ok(Bytes::from(vec![7u8; MIB]))).await.unwrap();
    }
    tx.send(Ok(Bytes::from(tail()))).await.unwrap();
    drop(tx);
    let r = req.await.unwrap();
    assert_eq!(r.status(), 200);
    // whisper-1 is priced by the second: the gateway asked for verbose_json to learn the
    // length (20 MiB at 16 000 bytes a second), and answers the json the client asked for.
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let seconds = total as f64 / 16000.0;
    assert!((cost - seconds * 0.0001).abs() < 1e-9, "{cost}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"text": format!("heard {total} bytes")}));
    let seen = up.last().body;
    assert_eq!(seen["size"], total);
    assert_eq!(seen["sum"], 7 * total as u64);
    assert_eq!(seen["model"], "whisper-1");
    assert_eq!(seen["response_format"], "verbose_json");
    assert_eq!(seen["file_name"], "talk.mp3");
    assert_eq!(seen["file_type"], "audio/mpeg");
}

/// A body stream fed from a channel.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn field_orders_formats_and_errors() {
    let up = start_upstream().await;
    let gw = start_gateway(&config(&up)).await;
    // The file before the model (as curl -F often sends it) is held, then sent.
    let body = format!(
        "{}abcdef\r\n{}{}--{BOUNDARY}--\r\n",
        file_head(),
        part("model", "whisper"),
        part("response_format", "text")
    );
    let r = send(&gw, "/v1/audio/transcriptions", body.into_bytes()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "heard 6 bytes");
    assert_eq!(up.last().body["response_format"], "text");

    // Translations take the same form.
    let body = format!("{}{}abc{}", part("model", "whisper"), file_head(), tail());
    let r = send(&gw, "/v1/audio/translations", body.into_bytes()).await;
    assert_eq!(r.status(), 200);

    // Mistakes are 400s that say what is missing.
    for (body, needle) in [
        (
            format!("{}{}", part("model", "whisper"), &tail()[2..]),
            "file",
        ),
        (format!("{}abc{}", file_head(), tail()), "model"),
        (
            format!("{}{}abc{}", part("model", "claude"), file_head(), tail()),
            "does not serve",
        ),
    ] {
        let r = send(&gw, "/v1/audio/transcriptions", body.into_bytes()).await;
        assert_eq!(r.status(), 400, "{needle}");
        assert!(r.text().await.unwrap().contains(needle), "{needle}");
    }
    let r = client()
        .post(format!("{}/v1/audio/transcriptions", gw.base))
        .json(&json!({"model": "whisper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("multipart"));
}

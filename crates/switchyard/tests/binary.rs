//! The `switchyard` binary, started as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchyard")
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-bin-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary on 127.0.0.1 with an ephemeral port; returns it and its base URL.
fn spawn(config: &Path, extra: &[&str]) -> (Child, String) {
    let (child, url, _) = spawn_logged(config, extra);
    (child, url)
}

/// Every line the gateway printed so far.
type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// [`spawn`], keeping the gateway's output lines.
fn spawn_logged(config: &Path, extra: &[&str]) -> (Child, String, Lines) {
    spawn_with_logs(config, &[&["--json-logs"], extra].concat())
}

/// [`spawn_logged`], text logs unless `extra` asks for JSON.
fn spawn_with_logs(config: &Path, extra: &[&str]) -> (Child, String, Lines) {
    let mut child = Command::new(bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--database-url",
            config.with_extension("db").to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = Lines::default();
    let kept = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            if !sent {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    let url: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    tx.send(url).unwrap();
                    sent = true;
                }
            }
            eprintln!("[gateway] {line}");
            kept.lock().unwrap().push(line);
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("gateway did not start");
    (child, url, lines)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    panic!("gateway did not exit");
}

#[test]
fn check_config_accepts_the_example_and_names_errors() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/config.yaml");
    let out = Command::new(bin())
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let bad = temp_config("bad", "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      rpm: many\nrouter_settings:\n  wat: 1\n");
    let out = Command::new(bin())
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:5:", bad.display())), "{err}");
    assert!(err.contains("model_list[0].litellm_params.rpm"), "{err}");

    let warn = temp_config("warn", "model_list: []\nrouter_settings:\n  wat: 1\n");
    let out = Command::new(bin())
        .args(["check-config", warn.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("router_settings.wat"));

    // Starting with a broken config fails fast, naming the problem.
    let out = Command::new(bin())
        .args(["--config", bad.to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_in_flight_stream_then_exits() {
    let up = start_upstream().await;
    let path = temp_config(
        "drain",
        &config_for(&up, "general_settings:\n  master_key: sk-bin\n"),
    );
    let (mut child, base) = spawn(&path, &["--num_workers", "2", "--detailed_debug"]);

    let c = client();
    let resp = c
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth("sk-bin")
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let resp = c.post(format!("{base}/v1/chat/completions"))
        .bearer_auth("sk-bin")
        .json(&json!({"model": "gated", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"a\""));

    sigterm(&child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still draining the stream"
    );
    up.state.gate.notify_one();
    let mut rest = Vec::new();
    while let Some(b) = body.next().await {
        rest.extend_from_slice(&b.unwrap());
    }
    assert!(
        String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"),
        "stream completed"
    );
    let status = wait_exit(&mut child);
    assert!(status.success(), "clean exit after draining: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_pipe_have_one_plain_line_per_request() {
    let up = start_upstream().await;
    let path = temp_config("textlog", &config_for(&up, ""));
    let (mut child, base, lines) = spawn_with_logs(&path, &["--num_workers", "1"]);
    for model in ["mock", "echo"] {
        let resp = client()
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Lines are written off the request path: shutting down writes what is queued.
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    let lines = lines.lock().unwrap().clone();
    let done: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" INFO switchyard::request: request done call_id="))
        .collect();
    assert_eq!(done.len(), 2, "{lines:#?}");
    assert!(done[0].contains(r#"model_group="mock""#), "{}", done[0]);
    assert!(
        done[1].contains(r#"model_group="echo" deployment="#)
            && done[1].contains(" provider=openai status=200 stream=false ")
            && done[1].contains(" prompt_tokens=9 completion_tokens=3 "),
        "{}",
        done[1]
    );
    // A timestamp first, as on every other line, and no colour codes in a pipe.
    for l in &lines {
        assert!(l.starts_with("20") && !l.contains('\u{1b}'), "{l}");
    }
}

/// A Python with `module`: `SWITCHYARD_TEST_PYTHON`, else `python3` if it has it.
fn python_with(module: &str) -> Option<String> {
    let candidates = std::env::var("SWITCHYARD_TEST_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_owned()]);
    for py in candidates {
        let ok = Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(py);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_client() {
    let Some(python) = python_with("openai") else {
        println!("skipped: no Python with the `openai` package (set SWITCHYARD_TEST_PYTHON; .ci/run does)");
        return;
    };
    let up = start_upstream().await;
    // The translating providers too, each against its own mock wire format.
    let host = format!("http://{}", up.addr);
    let mut models = String::new();
    for (name, model) in [
        ("claude-text", "anthropic/claude-text"),
        ("claude-tool", "anthropic/claude-tool"),
        ("gemini-text", "gemini/gemini-text"),
        ("gemini-tool", "gemini/gemini-tool"),
        ("azure-echo", "azure/echo"),
    ] {
        let base = if model.starts_with("anthropic/") {
            up.base()
        } else {
            host.clone()
        };
        models.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n      api_key: provider-key\n"
        ));
    }
    let path = temp_config(
        "py",
        &config_with_models(&up, &models, "general_settings:\n  master_key: sk-py\n"),
    );
    let (mut child, base, lines) = spawn_logged(&path, &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/openai_client.py"
    );
    // The upstream mock runs on this test's runtime, so the script runs on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &base, "sk-py"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    child.kill().ok();
    child.wait().ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "openai client cases failed:\n{stdout}"
    );
    assert!(stdout.contains("13 passed, 0 failed"), "{stdout}");
    // Every log line, from every route and failure: no key or credential in any.
    let lines = lines.lock().unwrap();
    assert!(lines.len() > 20, "the gateway logged its requests");
    for secret in ["sk-py", "provider-key", "sk-upstream-secret"] {
        assert!(
            !lines.iter().any(|l| l.contains(secret)),
            "`{secret}` appears in the gateway's output"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_anthropic_python_client() {
    let Some(python) = python_with("anthropic") else {
        println!("skipped: no Python with the `anthropic` package (set SWITCHYARD_TEST_PYTHON; .ci/run does)");
        return;
    };
    let up = start_upstream().await;
    let mut models = String::new();
    for name in ["claude-text", "claude-tool"] {
        models.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: anthropic/{name}\n      api_base: {}\n      api_key: provider-key\n",
            up.base()
        ));
    }
    let path = temp_config(
        "anthropic-py",
        &config_with_models(&up, &models, "general_settings:\n  master_key: sk-py\n"),
    );
    let (mut child, base) = spawn(&path, &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/anthropic_client.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &base, "sk-py"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    child.kill().ok();
    child.wait().ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "anthropic client cases failed:\n{stdout}"
    );
    assert!(stdout.contains("9 passed, 0 failed"), "{stdout}");
}

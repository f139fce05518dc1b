//! `--instructions`: instructions executed per request, counted by valgrind's callgrind, for the
//! gateway and the floor proxy. Unlike times, the count does not move with a noisy machine:
//! the same binary and requests give the same number within a fraction of a percent, so a
//! change that saves 5 % shows as 5 % on any machine, in one run.
//!
//! Each process runs under `valgrind --tool=callgrind --separate-threads=yes`, is warmed up,
//! and then for each scenario its counters are zeroed, `n` requests are sent one after the
//! other, and the counters are dumped: one file per thread. The busiest thread is the request
//! worker (what a request waits for); the others are the background threads (spend writer,
//! its SQLite connection, log writer), reported apart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::load::{self, Target};

/// One scenario's count, per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count {
    /// On the busiest thread: the request worker.
    pub worker: f64,
    /// On every other thread.
    pub background: f64,
}

/// A process under callgrind (killed on drop, as every process the bench starts).
struct Counted {
    process: crate::Gateway,
    dir: PathBuf,
    dumps: usize,
}

impl Counted {
    fn start(
        dir: &Path,
        tag: &str,
        pin: Option<usize>,
        addr: SocketAddr,
        program: &Path,
        args: &[String],
    ) -> anyhow::Result<Counted> {
        let dir = dir.join(format!("callgrind-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let mut cmd = match pin {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &core.to_string(), "valgrind"]);
                c
            }
            None => Command::new("valgrind"),
        };
        let child = cmd
            .args([
                "--tool=callgrind",
                "--separate-threads=yes",
                &format!("--callgrind-out-file={}/cg.%p", dir.display()),
            ])
            .arg(program)
            .args(args)
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} under valgrind", program.display()))?;
        Ok(Counted {
            process: crate::Gateway { child, addr },
            dir,
            dumps: 0,
        })
    }

    fn control(&self, flag: &str) -> anyhow::Result<()> {
        let status = Command::new("callgrind_control")
            .args([flag, &self.process.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running callgrind_control")?;
        anyhow::ensure!(status.success(), "callgrind_control {flag} failed");
        Ok(())
    }

    /// Counts what `send` costs, per request: zero, send, dump, read the dump's files.
    async fn count<F, Fut>(&mut self, n: usize, send: F) -> anyhow::Result<Count>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        self.control("-z")?;
        for _ in 0..n {
            send().await?;
        }
        self.control("-d")?;
        self.dumps += 1;
        let prefix = format!("cg.{}.{}-", self.process.child.id(), self.dumps);
        let deadline = Instant::now() + Duration::from_secs(30);
        let totals = loop {
            let totals = summaries(&self.dir, &prefix)?;
            if !totals.is_empty() || Instant::now() > deadline {
                break totals;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        anyhow::ensure!(!totals.is_empty(), "callgrind wrote no dump {prefix}*");
        let worker = totals.iter().copied().max().unwrap_or(0);
        let all: u64 = totals.iter().sum();
        Ok(Count {
            worker: worker as f64 / n as f64,
            background: (all - worker) as f64 / n as f64,
        })
    }
}

/// The `summary:` of every file in `dir` whose name starts with `prefix` (one per thread).
fn summaries(dir: &Path, prefix: &str) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())?;
        if let Some(n) = text
            .lines()
            .find_map(|l| l.strip_prefix("summary:"))
            .and_then(|v| v.trim().parse().ok())
        {
            out.push(n);
        }
    }
    Ok(out)
}

async fn wait_for(addr: SocketAddr, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not start under valgrind"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// One non-streamed request on the shared connection, which must succeed.
async fn answered(conn: &tokio::sync::Mutex<load::Conn>, t: &Target) -> anyhow::Result<()> {
    let ok = load::one_ok(&mut *conn.lock().await, t).await?;
    anyhow::ensure!(ok, "a request failed");
    Ok(())
}

/// A 20-message conversation (about 6 kB), non-streamed; to the gateway with `num_retries`
/// and a `fallbacks` list, as production configurations set them (LiteLLM documents 3
/// retries as its default), so what retries and fallbacks cost when none is needed shows.
fn conversation(model: &str, gateway: bool) -> bytes::Bytes {
    let turn = "Tell me more about how foxes and dogs differ in their hunting, their habits and \
                the places they live, in a few plain sentences for a benchmark.";
    let messages: Vec<Value> =
        std::iter::once(json!({"role": "system", "content": "You are a helpful assistant."}))
            .chain((0..19).map(|i| {
                let role = if i % 2 == 0 { "user" } else { "assistant" };
                json!({"role": role, "content": format!("{turn} ({i})")})
            }))
            .collect();
    let mut v = json!({"model": model, "messages": messages, "max_tokens": 64});
    if gateway {
        v["num_retries"] = json!(2);
        v["fallbacks"] = json!(["bench-stream1"]);
    }
    bytes::Bytes::from(v.to_string())
}

/// The scenarios against one process, `targets` in order: a non-streamed answer, a one-chunk
/// stream (what starting and ending a stream costs), a 100-chunk stream with chunks 1 ms
/// apart (so each arrives on its own, as tokens do: back-to-back chunks would be read several
/// at a time, and the count would depend on timing), [`conversation`], and (the gateway only)
/// the non-streamed answer again with a virtual key that has a budget and limits.
async fn scenarios(
    p: &mut Counted,
    targets: &[Target; 4],
    governed: Option<&Target>,
    n: usize,
) -> anyhow::Result<[Count; 5]> {
    let [json_t, stream1, stream100, convo] = targets;
    let mut conn = load::connect(json_t.addr).await?;
    // Warm-up: connections, pools, caches, prepared statements.
    for _ in 0..30 {
        load::one_ok(&mut conn, json_t).await?;
    }
    for t in [stream1, stream100] {
        for _ in 0..5 {
            load::stream_once(&mut conn, t).await?;
        }
    }
    let conn = tokio::sync::Mutex::new(conn);
    let json_c = p.count(n, || answered(&conn, json_t)).await?;
    let mut streams = [Count::default(); 2];
    // A 100-chunk stream takes 0.1 s or more: a quarter as many of them.
    for (i, (t, n)) in [(stream1, n), (stream100, n.div_ceil(4))]
        .into_iter()
        .enumerate()
    {
        streams[i] = p
            .count(n, || async {
                load::stream_once(&mut *conn.lock().await, t).await?;
                Ok(())
            })
            .await?;
    }
    for _ in 0..5 {
        load::one_ok(&mut *conn.lock().await, convo).await?;
    }
    let convo_c = p.count(n, || answered(&conn, convo)).await?;
    let mut governed_c = Count::default();
    if let Some(t) = governed {
        // The key's record is loaded, and its counters made, by the first requests.
        for _ in 0..30 {
            load::one_ok(&mut *conn.lock().await, t).await?;
        }
        governed_c = p.count(n, || answered(&conn, t)).await?;
    }
    Ok([json_c, streams[0], streams[1], convo_c, governed_c])
}

/// Runs `--instructions`: the table rows and the JSON.
pub async fn run(
    gateway: &Path,
    config: &Path,
    dir: &Path,
    mock: SocketAddr,
    pin: Option<usize>,
    n: usize,
) -> anyhow::Result<(String, Value)> {
    let found = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    anyhow::ensure!(
        found.is_ok_and(|s| s.success()),
        "--instructions needs valgrind (and callgrind_control) on PATH"
    );
    let auth = Some(format!("Bearer {}", crate::KEY));
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let gw_port = crate::free_port();
    let db = dir.join("instructions.db");
    let gw_args = [
        "--config".into(),
        config.display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        gw_port.to_string(),
        "--num_workers".into(),
        "1".into(),
        "--log-level".into(),
        crate::log_level().into(),
        "--database-url".into(),
        db.display().to_string(),
    ];
    let mut gw = Counted::start(dir, "gateway", pin, local(gw_port), gateway, &gw_args)?;
    let floor_port = crate::free_port();
    let floor_args = [
        "--floor-only".into(),
        floor_port.to_string(),
        "--upstream".into(),
        mock.to_string(),
    ];
    let exe = std::env::current_exe()?;
    let mut floor = Counted::start(dir, "floor", pin, local(floor_port), &exe, &floor_args)?;

    let via_gw =
        |model: &str, stream: bool| crate::chat_target(local(gw_port), &auth, model, stream);
    let direct = |path: &str, stream: bool| Target {
        addr: local(floor_port),
        path: path.into(),
        body: crate::chat_body("gpt-4o-mini", stream),
        auth: Some("Bearer sk-upstream".into()),
    };
    let convo_gw = Target {
        body: conversation("bench-json", true),
        ..via_gw("bench-json", false)
    };
    let convo_direct = Target {
        body: conversation("gpt-4o-mini", false),
        ..direct("/json/v1/chat/completions", false)
    };
    let mut counts = Vec::new();
    for (name, p, targets, governed) in [
        (
            "gateway",
            &mut gw,
            [
                via_gw("bench-json", false),
                via_gw("bench-stream1", true),
                via_gw("bench-stream100", true),
                convo_gw,
            ],
            true,
        ),
        (
            "floor proxy",
            &mut floor,
            [
                direct("/json/v1/chat/completions", false),
                direct("/stream/1/0/v1/chat/completions", true),
                direct("/stream/100/1/v1/chat/completions", true),
                convo_direct,
            ],
            false,
        ),
    ] {
        wait_for(p.process.addr, name).await?;
        eprintln!("instructions: {name} under callgrind ...");
        let governed = if governed {
            let key = crate::governed_key(p.process.addr, &auth).await?;
            Some(Target {
                auth: Some(format!("Bearer {key}")),
                ..targets[0].clone()
            })
        } else {
            None
        };
        counts.push(scenarios(p, &targets, governed.as_ref(), n).await?);
    }
    let (g, f) = (counts[0], counts[1]);
    let per_chunk = |c: &[Count; 5]| (c[2].worker - c[1].worker) / 99.0;
    let k = |v: f64| format!("{:.1}k", v / 1000.0);
    let mut table = String::new();
    table.push_str(
        "| instructions (callgrind) | gateway, request worker | gateway, background threads | floor proxy | gateway worker / floor |\n",
    );
    table.push_str("| --- | --- | --- | --- | --- |\n");
    for (name, i) in [
        ("per non-streamed request", 0),
        ("per stream of one chunk (start and end)", 1),
        (
            "per non-streamed request of a 20-message conversation, with retries and a fallback",
            3,
        ),
    ] {
        table.push_str(&format!(
            "| {name} | {} | {} | {} | {:.2} |\n",
            k(g[i].worker),
            k(g[i].background),
            k(f[i].worker),
            g[i].worker / f[i].worker.max(1.0)
        ));
    }
    table.push_str(&format!(
        "| per further chunk of a 100-chunk stream | {} | | {} | {:.2} |\n",
        k(per_chunk(&g)),
        k(per_chunk(&f)),
        per_chunk(&g) / per_chunk(&f).max(1.0)
    ));
    // The floor has no keys: its column is the plain request's.
    table.push_str(&format!(
        "| per non-streamed request with a virtual key (team, budgets, limits; spend record) | {} | {} | {} | {:.2} |\n",
        k(g[4].worker),
        k(g[4].background),
        k(f[0].worker),
        g[4].worker / f[0].worker.max(1.0)
    ));
    let j = |c: &[Count; 5]| {
        json!({
            "json_request": {"worker": c[0].worker, "background": c[0].background},
            "stream_1_chunk": {"worker": c[1].worker, "background": c[1].background},
            "stream_100_chunks": {"worker": c[2].worker, "background": c[2].background},
            "conversation_with_retries": {"worker": c[3].worker, "background": c[3].background},
            "virtual_key_request": {"worker": c[4].worker, "background": c[4].background},
            "per_chunk_worker": per_chunk(c),
        })
    };
    Ok((
        table,
        json!({"requests_per_scenario": n, "gateway": j(&g), "floor": j(&f)}),
    ))
}

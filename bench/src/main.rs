//! `switchyard-bench`: the macro benchmark of BENCHMARKS.md.
//!
//! Starts the mock upstream and the load generator pinned to one core, the gateway (release
//! build) pinned to the other with `taskset`, runs every scenario against the gateway and
//! directly against the mock, prints one table and writes a JSON result file.
//!
//!     cargo run --release -p switchyard-bench            # full run (~2 minutes)
//!     cargo run --release -p switchyard-bench -- --quick # shorter runs

// A measuring tool, not the request path: failing loudly on a broken setup is the right call.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod floor;
mod instructions;
mod load;
mod mock;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use serde_json::{json, Value};

use load::{Stats, Target};

/// The gateway's benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds measured per throughput and fixed-rate run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Short runs (2 s) for a quick look.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// The gateway binary (default: build and use target/release/switchyard).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Concurrent open streams for the memory scenario.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// A LiteLLM proxy binary to run the same scenarios against (default: `litellm` on PATH,
    /// or SWITCHYARD_BENCH_LITELLM).
    #[arg(long)]
    litellm: Option<PathBuf>,
    /// Only serve the mock upstream on this port (for manual experiments), then wait.
    #[arg(long)]
    mock_only: Option<u16>,
    /// Only serve the floor proxy (see `floor.rs`) on this port in front of `--upstream`.
    #[arg(long, requires = "upstream")]
    floor_only: Option<u16>,
    /// The upstream of `--floor-only`.
    #[arg(long)]
    upstream: Option<SocketAddr>,
    /// Only time this many streams (direct, floor proxy, gateway), print the medians of
    /// head and first-token times, and stop: for investigating the TTFT overhead.
    #[arg(long)]
    ttft_probe: Option<usize>,
    /// Only run the log-sink lane (no sink, a hanging one, a failing one) and stop.
    #[arg(long)]
    sink_probe: bool,
    /// Only run this fixed rate (requests per second) against direct, the floor proxy and
    /// the gateway, print the latencies, and stop: for investigating tail latency.
    #[arg(long)]
    rate_probe: Option<f64>,
    /// Before `--rate-probe`, fill the gateway's spend log this many seconds at c=256 (the
    /// full run's fixed-rate lanes follow its saturating lanes).
    #[arg(long, default_value_t = 0.0)]
    rate_probe_fill: f64,
    /// Only count the instructions per request (valgrind's callgrind) of the gateway and the
    /// floor proxy, this many requests per scenario, print them, and stop: a measure that
    /// does not move with the machine's noise (see `instructions.rs`).
    #[arg(long)]
    instructions: Option<usize>,
    /// The gateway's `--log-level`. `warn` measures the request path alone; `info` (the
    /// gateway's default) adds the per-request log line a default deployment writes.
    #[arg(long, default_value = "warn")]
    log_level: String,
    /// With `--instructions`: keep callgrind's dumps (one per scenario and thread) and print
    /// where, for `callgrind_annotate`.
    #[arg(long)]
    keep_dumps: bool,
    /// Profile-guided optimisation: run this (instrumented) gateway binary through the
    /// bench's request mix, stop it gracefully so it writes its profile, and exit
    /// (`scripts/pgo.sh` drives it).
    #[arg(long)]
    train: Option<PathBuf>,
}

const KEY: &str = "sk-bench-master";

/// The gateway's log level for this run (`--log-level`).
static LOG_LEVEL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn log_level() -> &'static str {
    LOG_LEVEL.get().map_or("warn", String::as_str)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn build_gateway() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `cargo run` sets CARGO_* variables that some build scripts watch; clear them so the
    // nested build reuses the artifacts of a plain `cargo build --release`.
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| {
            k.starts_with("CARGO_") && k != "CARGO_TARGET_DIR" && k != "CARGO_HOME"
        }) {
            cmd.env_remove(k);
        }
    }
    let status = cmd
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "-p",
            "switchyard",
            "--bin",
            "switchyard",
        ])
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build of the gateway failed");
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("switchyard"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// [`config`] with every request logged to a `generic_api` sink at the mock's `/sink/{sink}`.
fn config_with_sink(mock: SocketAddr, sink: &str) -> String {
    format!(
        "{}environment_variables:\n  GENERIC_LOGGER_ENDPOINT: http://{mock}/sink/{sink}\nlitellm_settings:\n  callbacks: [\"generic_api\"]\n",
        config(mock)
    )
}

fn config(mock: SocketAddr) -> String {
    let base = format!("http://{mock}");
    format!(
        r#"model_list:
  - model_name: bench-json
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-upstream, api_base: "{base}/json/v1"}}
  - model_name: bench-stream
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-upstream, api_base: "{base}/stream/100/1/v1"}}
  - model_name: bench-open
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-upstream, api_base: "{base}/stream/100/100/v1"}}
  - model_name: bench-stream1
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-upstream, api_base: "{base}/stream/1/0/v1"}}
  - model_name: bench-stream100
    litellm_params: {{model: openai/gpt-4o-mini, api_key: sk-upstream, api_base: "{base}/stream/100/1/v1"}}
general_settings:
  master_key: {KEY}
"#
    )
}

struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway process (Switchyard or LiteLLM: both take LiteLLM's flags) on a free port,
/// pinned to `pin` with taskset.
fn spawn_pinned(
    bin: &Path,
    config_path: &Path,
    pin: Option<usize>,
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(Child, u16)> {
    let port = free_port();
    let mut cmd = match pin {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string()]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .args(["--config", config_path.to_str().unwrap_or_default()])
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num_workers",
            "1",
        ])
        .args(extra_args)
        // Limits count in Redis only in the lane that asks for it, and the store is the
        // `--database-url` given (LiteLLM with DATABASE_URL set needs Prisma, fetched from
        // the network, and does not start without it).
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok((child, port))
}

/// The floor proxy (`floor.rs`), this same binary, pinned like the gateway, in front of `mock`.
fn start_floor(mock: SocketAddr, pin: Option<usize>) -> anyhow::Result<Gateway> {
    let port = free_port();
    let exe = std::env::current_exe()?;
    let mut cmd = match pin {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string()]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let child = cmd
        .args([
            "--floor-only",
            &port.to_string(),
            "--upstream",
            &mock.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("starting the floor proxy")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let floor = Gateway { child, addr };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "floor proxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(floor)
}

fn start_gateway(bin: &Path, config_path: &Path, pin: Option<usize>) -> anyhow::Result<Gateway> {
    // Its own SQLite file beside the generated config: spend records are written there.
    let db = config_path.with_extension("db");
    start_gateway_on(
        bin,
        config_path,
        pin,
        db.to_str().unwrap_or("switchyard-bench.db"),
    )
}

/// [`start_gateway`] on the store at `db` (a SQLite path or a PostgreSQL URL).
fn start_gateway_on(
    bin: &Path,
    config_path: &Path,
    pin: Option<usize>,
    db: &str,
) -> anyhow::Result<Gateway> {
    start_gateway_with(bin, config_path, pin, db, &[])
}

/// [`start_gateway_on`] with extra environment (`REDIS_URL` for the Redis lane).
fn start_gateway_with(
    bin: &Path,
    config_path: &Path,
    pin: Option<usize>,
    db: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<Gateway> {
    let (child, port) = spawn_pinned(
        bin,
        config_path,
        pin,
        &["--log-level", log_level(), "--database-url", db],
        env,
    )?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Gateway { child, addr })
}

/// Waits (up to 60 s) until the gateway at `addr` has written every queued spend record
/// (`litellm_in_memory_spend_update_queue_size` is 0): the spend writer runs at background
/// priority and may trail a saturating run, and its catch-up is part of what the run cost.
/// Returns how long that took, and the rows dropped so far.
async fn drained(addr: SocketAddr) -> (Duration, u64) {
    let t0 = Instant::now();
    let metric = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    loop {
        let text = load::get_text(addr, "/metrics").await;
        let queued = metric(&text, "litellm_in_memory_spend_update_queue_size");
        if queued.is_none_or(|q| q == 0.0) || t0.elapsed() > Duration::from_secs(60) {
            let dropped = metric(&text, "switchyard_spend_logs_dropped").unwrap_or(0.0);
            return (t0.elapsed(), dropped as u64);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resident memory (kB) and CPU time (s) of a process, from /proc.
fn proc_usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (rss, ticks / 100.0)
}

/// Minor page faults of a process so far, from /proc.
fn minor_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(7))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A chat request for `model` to a gateway at `addr`.
fn chat_target(addr: SocketAddr, auth: &Option<String>, model: &str, stream: bool) -> Target {
    Target {
        addr,
        path: "/v1/chat/completions".into(),
        body: chat_body(model, stream),
        auth: auth.clone(),
    }
}

fn chat_body(model: &str, stream: bool) -> Bytes {
    let mut v = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write one sentence about foxes and dogs for a benchmark."}
        ],
        "max_tokens": 64,
        "temperature": 0.2
    });
    if stream {
        v["stream"] = json!(true);
        v["stream_options"] = json!({"include_usage": true});
    }
    Bytes::from(v.to_string())
}

fn fmt_us(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

/// One governed lane's numbers.
struct Lane {
    c64: Stats,
    fixed: Stats,
    /// CPU per request, the spend writer's catch-up after the run included.
    cpu_us: f64,
    catch_up: Duration,
    dropped: u64,
}

impl Lane {
    /// The lane's two table rows, their scenario names ending in `suffix`.
    fn rows(&self, table: &mut String, suffix: &str) {
        table_row(
            table,
            &format!("governed c=64{suffix}"),
            "gateway",
            &self.c64,
        );
        table_row(
            table,
            &format!("governed fixed 500 RPS{suffix}"),
            "gateway",
            &self.fixed,
        );
    }

    fn json(&self, store: &str, redis: bool, plain_c64: f64) -> Value {
        let cost_pct = if plain_c64 > 0.0 {
            (1.0 - self.c64.rps() / plain_c64) * 100.0
        } else {
            0.0
        };
        json!({
            "store": store, "limits_enforced": true, "redis": redis,
            "c64": stats_json(&self.c64),
            "c64_cpu_us_per_request": self.cpu_us,
            "sustainable_rps_one_core": 1e6 / self.cpu_us.max(1e-9),
            "spend_writer_catch_up_ms": self.catch_up.as_secs_f64() * 1e3,
            "spend_rows_dropped": self.dropped,
            "fixed500": stats_json(&self.fixed),
            "throughput_cost_vs_master_key_pct": cost_pct,
        })
    }
}

/// The governed lane on `gw`: a team and a virtual key made through its admin API, with a
/// budget and limits high enough never to refuse, then `base`'s requests with that key.
async fn governed_lane(
    gw: &Gateway,
    auth: &Option<String>,
    base: &Target,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Lane> {
    let virtual_key = governed_key(gw.addr, auth).await?;
    let target = Target {
        auth: Some(format!("Bearer {virtual_key}")),
        ..base.clone()
    };
    let (_, cpu0) = proc_usage(gw.child.id());
    let c64 = load::closed_loop(&target, 64, warmup, duration).await;
    let (catch_up, dropped) = drained(gw.addr).await;
    let (_, cpu1) = proc_usage(gw.child.id());
    let fixed = load::fixed_rate(&target, 500.0, warmup, duration).await;
    Ok(Lane {
        catch_up,
        dropped,
        cpu_us: (cpu1 - cpu0) * 1e6 / (c64.answered.max(1) as f64),
        c64,
        fixed,
    })
}

/// A team and a virtual key for `bench-json`, made through the admin API of the gateway at
/// `addr` (`auth`: its master key), each with a budget and limits high enough never to
/// refuse; the key.
async fn governed_key(addr: SocketAddr, auth: &Option<String>) -> anyhow::Result<String> {
    let admin = |path: &str, body: Value| Target {
        addr,
        path: path.into(),
        body: Bytes::from(body.to_string()),
        auth: auth.clone(),
    };
    // Aliases are unique per store, and a PostgreSQL store outlives the run.
    let alias = format!(
        "bench-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let (st, team) = load::post_json(&admin(
        "/team/new",
        json!({"team_alias": alias, "max_budget": 1.0e9, "rpm_limit": 100_000_000, "tpm_limit": 10_000_000_000u64}),
    ))
    .await?;
    anyhow::ensure!(st == 200, "/team/new answered {st}: {team}");
    let (st, key) = load::post_json(&admin(
        "/key/generate",
        json!({"team_id": team["team_id"], "key_alias": alias, "models": ["bench-json"],
               "max_budget": 1.0e9, "rpm_limit": 100_000_000, "tpm_limit": 10_000_000_000u64,
               "max_parallel_requests": 100_000}),
    ))
    .await?;
    anyhow::ensure!(st == 200, "/key/generate answered {st}: {key}");
    Ok(key["key"].as_str().unwrap_or_default().to_owned())
}

/// The log-sink lane: fixed 500 RPS through gateways whose `generic_api` sink never answers,
/// or always answers 500, beside `plain` (a gateway without sinks) run again for a
/// same-minute baseline. Rows go to `table`; also returns the gateways' minor page faults.
#[allow(clippy::too_many_arguments)]
async fn sink_lane(
    bin: &Path,
    dir: &Path,
    mock: SocketAddr,
    gw_core: Option<usize>,
    plain: &Target,
    table: &mut String,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut sink_lane = serde_json::Map::new();
    let fixed_plain = load::fixed_rate(plain, 500.0, warmup, duration).await;
    table_row(table, "fixed 500 RPS, no sink", "gateway", &fixed_plain);
    sink_lane.insert("none".into(), stats_json(&fixed_plain));
    for sink in ["hang", "fail"] {
        let sink_cfg = dir.join(format!("config-sink-{sink}.yaml"));
        std::fs::write(&sink_cfg, config_with_sink(mock, sink))?;
        let sgw = start_gateway(bin, &sink_cfg, gw_core)?;
        let t = Target {
            addr: sgw.addr,
            ..plain.clone()
        };
        let faults = minor_faults(sgw.child.id());
        let fixed = load::fixed_rate(&t, 500.0, warmup, duration).await;
        let faults = minor_faults(sgw.child.id()) - faults;
        eprintln!(
            "sink {sink}: {:.2} minor page faults per request",
            faults as f64 / (fixed.answered.max(1) as f64)
        );
        let label = if sink == "hang" {
            "fixed 500 RPS, sink never answers"
        } else {
            "fixed 500 RPS, sink answers 500"
        };
        table_row(table, label, "gateway", &fixed);
        sink_lane.insert(sink.into(), stats_json(&fixed));
    }
    Ok(sink_lane)
}

/// `--train`: the request mix of a full run, short, against `bin`, which is then stopped
/// with SIGTERM (an instrumented binary writes its profile on a clean exit).
async fn train(
    bin: &Path,
    dir: &Path,
    mock: SocketAddr,
    core: Option<usize>,
) -> anyhow::Result<()> {
    let cfg = dir.join("config-train.yaml");
    std::fs::write(&cfg, config_with_sink(mock, "fail"))?;
    let mut gw = start_gateway(bin, &cfg, core)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let auth = Some(format!("Bearer {KEY}"));
    let target = |model: &str, stream: bool| chat_target(gw.addr, &auth, model, stream);
    let (warmup, run) = (Duration::from_millis(200), Duration::from_secs(3));
    let plain = target("bench-json", false);
    let c64 = load::closed_loop(&plain, 64, warmup, run).await;
    let c1 = load::closed_loop(&plain, 1, warmup, run).await;
    let fixed = load::fixed_rate(&plain, 500.0, warmup, run).await;
    let lane = governed_lane(&gw, &auth, &plain, warmup, run).await?;
    let stream = target("bench-stream", true);
    let mut conn = load::connect(gw.addr).await?;
    for _ in 0..20 {
        load::stream_once(&mut conn, &stream).await?;
    }
    let served = c64.ok + c1.ok + fixed.ok + lane.c64.ok + lane.fixed.ok;
    eprintln!("trained on {served} requests and 20 streams; stopping the gateway");
    let status = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "could not signal the gateway");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if gw.child.try_wait()?.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway did not stop within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One row of the main table.
fn table_row(t: &mut String, scen: &str, who: &str, s: &Stats) {
    let _ = writeln!(
        t,
        "| {scen} | {who} | {:.0} | {} | {} | {} | {} |",
        s.rps(),
        fmt_us(s.us(50.0)),
        fmt_us(s.us(99.0)),
        fmt_us(s.us(99.9)),
        s.errors
    );
}

fn stats_json(s: &Stats) -> Value {
    json!({"rps": s.rps(), "ok": s.ok, "errors": s.errors,
           "p50_us": s.us(50.0), "p99_us": s.us(99.0), "p999_us": s.us(99.9), "max_us": s.us(100.0)})
}

async fn run(args: Args) -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(if args.quick { 2.0 } else { args.duration });
    let warmup = Duration::from_secs_f64(if args.quick { 0.5 } else { args.warmup });
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (gw_core, load_core) = if cores.len() >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    // The mock and the load generator share this process; keep them off the gateway's core.
    if let Some(c) = load_core.and_then(|i| cores.get(i)) {
        core_affinity::set_for_current(*c);
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let mock = mock::start()?;
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if let Some(bin) = &args.train {
        let trained = train(bin, &dir, mock, gw_core).await;
        std::fs::remove_dir_all(&dir).ok();
        return trained;
    }
    let bin = match &args.gateway {
        Some(b) => b.clone(),
        None => build_gateway()?,
    };
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(mock))?;
    if let Some(n) = args.instructions {
        let counted = instructions::run(&bin, &cfg, &dir, mock, gw_core, n.max(1)).await;
        if args.keep_dumps {
            eprintln!("callgrind dumps kept in {}", dir.display());
        } else {
            std::fs::remove_dir_all(&dir).ok();
        }
        let (table, value) = counted?;
        println!("{table}");
        let out = json!({"machine": machine(), "instructions": value});
        if let Some(parent) = args.out.parent() {
            std::fs::create_dir_all(parent).ok();
        }
        std::fs::write(&args.out, serde_json::to_string_pretty(&out)?)?;
        eprintln!("wrote {}", args.out.display());
        return Ok(());
    }
    let gw = start_gateway(&bin, &cfg, gw_core)?;
    let floor_proxy = start_floor(mock, gw_core)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss_kb, _) = proc_usage(gw.child.id());

    let auth = Some(format!("Bearer {KEY}"));
    let via_gw = |model: &str, stream: bool| chat_target(gw.addr, &auth, model, stream);
    let direct = |path: &str, stream: bool| Target {
        addr: mock,
        path: path.into(),
        body: chat_body("gpt-4o-mini", stream),
        auth: Some("Bearer sk-upstream".into()),
    };
    let gw_json = via_gw("bench-json", false);
    let direct_json = direct("/json/v1/chat/completions", false);
    // The floor proxy forwards paths as they come: it gets the direct requests.
    let floor_json = Target {
        addr: floor_proxy.addr,
        ..direct_json.clone()
    };

    let mut results = json!({
        "machine": machine(),
        "cpu_split": match gw_core { Some(_) => "gateway on core 0 (taskset); mock and load generator on core 1", None => "not pinned (fewer than 2 cores)" },
        "duration_s": duration.as_secs_f64(), "warmup_s": warmup.as_secs_f64(),
        "idle_rss_mb": idle_rss_kb as f64 / 1024.0,
    });
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| scenario | target | RPS | p50 | p99 | p99.9 | errors |"
    );
    let _ = writeln!(table, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let row = table_row;

    if args.sink_probe {
        let lane = sink_lane(
            &bin, &dir, mock, gw_core, &gw_json, &mut table, warmup, duration,
        )
        .await?;
        println!("{table}");
        drop(lane);
        return Ok(());
    }
    if let Some(rate) = args.rate_probe {
        if args.rate_probe_fill > 0.0 {
            let fill = Duration::from_secs_f64(args.rate_probe_fill);
            let f = load::closed_loop(&gw_json, 256, Duration::ZERO, fill).await;
            let (catch_up, _) = drained(gw.addr).await;
            eprintln!(
                "filled: {} requests, spend written {catch_up:?} later",
                f.ok
            );
        }
        for (name, t) in [
            ("direct", &direct_json),
            ("floor proxy", &floor_json),
            ("gateway", &gw_json),
        ] {
            let s = load::fixed_rate(t, rate, warmup, duration).await;
            println!(
                "{name:>12}: p50 {:>8} p99 {:>8} p99.9 {:>8} ({} errors)",
                fmt_us(s.us(50.0)),
                fmt_us(s.us(99.0)),
                fmt_us(s.us(99.9)),
                s.errors
            );
        }
        return Ok(());
    }
    if let Some(n) = args.ttft_probe {
        let direct_stream = direct("/stream/100/1/v1/chat/completions", true);
        let targets = [
            ("direct", direct_stream.clone()),
            (
                "floor proxy",
                Target {
                    addr: floor_proxy.addr,
                    ..direct_stream.clone()
                },
            ),
            ("gateway", via_gw("bench-stream", true)),
        ];
        let mut conns = Vec::new();
        for (_, t) in &targets {
            conns.push(load::connect(t.addr).await?);
        }
        let mut times = vec![(Vec::new(), Vec::new()); targets.len()];
        for _ in 0..n {
            for (i, (_, t)) in targets.iter().enumerate() {
                let s = load::stream_once(&mut conns[i], t).await?;
                times[i].0.push(s.head.as_secs_f64() * 1e6);
                times[i].1.push(s.ttft.as_secs_f64() * 1e6);
            }
        }
        for ((name, _), (mut head, mut ttft)) in targets.iter().zip(times) {
            head.sort_by(f64::total_cmp);
            ttft.sort_by(f64::total_cmp);
            println!(
                "{name:>12}: head p50 {:>7.1} µs, first token p50 {:>7.1} µs, p90 {:>7.1} µs",
                head[n / 2],
                ttft[n / 2],
                ttft[n * 9 / 10]
            );
        }
        return Ok(());
    }

    // 1. Max throughput, non-streaming.
    let mut thr = serde_json::Map::new();
    for c in [1usize, 64, 256] {
        eprintln!("throughput, concurrency {c} ...");
        let d = load::closed_loop(&direct_json, c, warmup, duration).await;
        let f = load::closed_loop(&floor_json, c, warmup, duration).await;
        let (_, cpu0) = proc_usage(gw.child.id());
        let g = load::closed_loop(&gw_json, c, warmup, duration).await;
        let (catch_up, dropped) = drained(gw.addr).await;
        let (_, cpu1) = proc_usage(gw.child.id());
        row(&mut table, &format!("throughput c={c}"), "direct", &d);
        row(&mut table, &format!("throughput c={c}"), "floor proxy", &f);
        row(&mut table, &format!("throughput c={c}"), "gateway", &g);
        let cpu_per_req_us = (cpu1 - cpu0) * 1e6 / (g.answered.max(1) as f64);
        thr.insert(
            format!("c{c}"),
            json!({"direct": stats_json(&d), "floor": stats_json(&f), "gateway": stats_json(&g),
            "gateway_cpu_us_per_request": cpu_per_req_us,
            "spend_writer_catch_up_ms": catch_up.as_secs_f64() * 1e3, "spend_rows_dropped": dropped}),
        );
    }
    results["throughput"] = Value::Object(thr);

    // 2. Added latency at fixed rates.
    let mut fixed = serde_json::Map::new();
    let mut added_rows = Vec::new();
    for rps in [50.0, 500.0, 2000.0] {
        eprintln!("fixed rate {rps} RPS ...");
        let d = load::fixed_rate(&direct_json, rps, warmup, duration).await;
        let f = load::fixed_rate(&floor_json, rps, warmup, duration).await;
        let g = load::fixed_rate(&gw_json, rps, warmup, duration).await;
        row(&mut table, &format!("fixed {rps:.0} RPS"), "direct", &d);
        row(
            &mut table,
            &format!("fixed {rps:.0} RPS"),
            "floor proxy",
            &f,
        );
        row(&mut table, &format!("fixed {rps:.0} RPS"), "gateway", &g);
        let added = [50.0, 99.0, 99.9].map(|q| g.us(q) - d.us(q));
        let floor_added = [50.0, 99.0].map(|q| f.us(q) - d.us(q));
        let over_floor = [50.0, 99.0].map(|q| g.us(q) - f.us(q));
        let reported = [50.0, 99.0].map(|q| g.overhead_us(q).unwrap_or(f64::NAN));
        added_rows.push(format!(
            "| {rps:.0} RPS | {} | {} | {} | {} / {} | {} / {} | {} / {} |",
            fmt_us(added[0]),
            fmt_us(added[1]),
            fmt_us(added[2]),
            fmt_us(floor_added[0]),
            fmt_us(floor_added[1]),
            fmt_us(over_floor[0]),
            fmt_us(over_floor[1]),
            fmt_us(reported[0]),
            fmt_us(reported[1]),
        ));
        fixed.insert(
            format!("rps{rps:.0}"),
            json!({"direct": stats_json(&d), "floor": stats_json(&f), "gateway": stats_json(&g),
            "added_p50_us": added[0], "added_p99_us": added[1], "added_p999_us": added[2],
            "floor_added_p50_us": floor_added[0], "floor_added_p99_us": floor_added[1],
            "gateway_over_floor_p50_us": over_floor[0], "gateway_over_floor_p99_us": over_floor[1],
            "gateway_reported_overhead_p50_us": reported[0],
            "gateway_reported_overhead_p99_us": reported[1]}),
        );
    }
    results["fixed_rate"] = Value::Object(fixed);

    // 3. Streaming: TTFT and inter-chunk overhead, 100 chunks 1 ms apart.
    eprintln!("streaming ...");
    let n = if args.quick { 10 } else { 30 };
    let (mut ttft_d, mut ttft_g, mut tot_d, mut tot_g, mut frames_g) =
        (vec![], vec![], vec![], vec![], 0);
    let direct_stream = direct("/stream/100/1/v1/chat/completions", true);
    let gw_stream = via_gw("bench-stream", true);
    let floor_stream = Target {
        addr: floor_proxy.addr,
        ..direct_stream.clone()
    };
    let mut direct_conn = load::connect(direct_stream.addr).await?;
    let mut floor_conn = load::connect(floor_stream.addr).await?;
    let mut gw_conn = load::connect(gw_stream.addr).await?;
    let mut ttft_f = vec![];
    for _ in 0..n {
        let d = load::stream_once(&mut direct_conn, &direct_stream).await?;
        let f = load::stream_once(&mut floor_conn, &floor_stream).await?;
        ttft_f.push(f.ttft.as_secs_f64() * 1e6);
        let g = load::stream_once(&mut gw_conn, &gw_stream).await?;
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!(
                "direct head {:?} ttft {:?} | gateway head {:?} ttft {:?}",
                d.head, d.ttft, g.head, g.ttft
            );
        }
        ttft_d.push(d.ttft.as_secs_f64() * 1e6);
        ttft_g.push(g.ttft.as_secs_f64() * 1e6);
        tot_d.push(d.total.as_secs_f64() * 1e6);
        tot_g.push(g.total.as_secs_f64() * 1e6);
        frames_g = g.frames;
    }
    let median = |v: &mut Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ttft_d, ttft_g) = (median(&mut ttft_d), median(&mut ttft_g));
    let ttft_f = median(&mut ttft_f);
    let (tot_d, tot_g) = (median(&mut tot_d), median(&mut tot_g));
    let inter_chunk_overhead = (tot_g - ttft_g - (tot_d - ttft_d)) / 100.0;
    results["streaming"] = json!({"chunks": 100, "chunk_delay_ms": 1, "streams": n,
        "ttft_direct_us": ttft_d, "ttft_gateway_us": ttft_g, "ttft_overhead_us": ttft_g - ttft_d,
        "ttft_floor_us": ttft_f, "ttft_gateway_over_floor_us": ttft_g - ttft_f,
        "inter_chunk_overhead_us": inter_chunk_overhead, "gateway_frames": frames_g});

    // 4. Many open streams: memory and CPU of the gateway.
    eprintln!("{} open streams ...", args.streams);
    let before = proc_usage(gw.child.id());
    let t0 = Instant::now();
    let handles = load::open_streams(&via_gw("bench-open", true), args.streams).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = proc_usage(gw.child.id());
    let cpu_pct = (after.1 - before.1) / t0.elapsed().as_secs_f64() * 100.0;
    for h in handles {
        h.abort();
    }
    results["open_streams"] = json!({"streams": args.streams, "chunk_interval_ms": 100,
        "gateway_rss_mb": after.0 as f64 / 1024.0, "gateway_cpu_percent": cpu_pct});
    // 5. Governed lane: a team and a virtual key made through the admin API, with a budget and
    //    limits high enough never to refuse; spend records on (as in every lane), to SQLite,
    //    then to PostgreSQL when DATABASE_URL is set.
    eprintln!("governed lane ...");
    let plain_c64 = results["throughput"]["c64"]["gateway"]["rps"]
        .as_f64()
        .unwrap_or(0.0);
    let lane = governed_lane(&gw, &auth, &via_gw("bench-json", false), warmup, duration).await?;
    lane.rows(&mut table, "");
    results["governed_lane"] = lane.json("sqlite", false, plain_c64);
    // Then on PostgreSQL, and with limits and budgets counted in Redis as several instances
    // behind a load balancer count them (one Redis round trip per admission), when set.
    let mut further = Vec::new();
    if let Ok(url) = std::env::var("DATABASE_URL") {
        further.push((
            ", PostgreSQL",
            "governed_lane_postgres",
            "postgres",
            url,
            None,
        ));
    }
    if let Ok(url) = std::env::var("REDIS_URL") {
        let db = dir.join("bench-redis.db").to_string_lossy().into_owned();
        further.push((
            ", Redis limits",
            "governed_lane_redis",
            "sqlite",
            db,
            Some(url),
        ));
    }
    for (suffix, key, store, db, redis) in further {
        eprintln!("governed lane{suffix} ...");
        let env: Vec<(&str, &str)> = redis.iter().map(|u| ("REDIS_URL", u.as_str())).collect();
        let g = start_gateway_with(&bin, &cfg, gw_core, &db, &env)?;
        let target = Target {
            addr: g.addr,
            ..via_gw("bench-json", false)
        };
        match governed_lane(&g, &auth, &target, warmup, duration).await {
            Ok(lane) => {
                lane.rows(&mut table, suffix);
                results[key] = lane.json(store, redis.is_some(), plain_c64);
            }
            Err(e) => eprintln!("governed lane{suffix} failed: {e:#}"),
        }
    }
    // 6. A log sink that hangs, and one that fails: requests must not notice either.
    eprintln!("slow and failing log sinks ...");
    let sink_lane = sink_lane(
        &bin, &dir, mock, gw_core, &gw_json, &mut table, warmup, duration,
    )
    .await?;
    results["sink_lane"] = Value::Object(sink_lane);
    let gw_cpu_c64 = results["throughput"]["c64"]["gateway_cpu_us_per_request"]
        .as_f64()
        .unwrap_or(0.0);
    drop(gw);
    drop(floor_proxy);

    // 5. LiteLLM on the same core with the same config, when installed.
    let mut compare = String::new();
    if let Some(bin) = args.litellm.clone().or_else(find_litellm) {
        eprintln!("LiteLLM side by side ({}) ...", bin.display());
        match start_litellm(&bin, &cfg, gw_core).await {
            Err(e) => eprintln!("LiteLLM did not start: {e:#}"),
            Ok(ll) => {
                let ll_json = Target {
                    addr: ll.addr,
                    ..gw_json.clone()
                };
                let ll_stream = Target {
                    addr: ll.addr,
                    ..gw_stream.clone()
                };
                let (idle, _) = proc_usage(ll.child.id());
                let c1 = load::closed_loop(&ll_json, 1, warmup, duration).await;
                let (_, cpu0) = proc_usage(ll.child.id());
                let c64 = load::closed_loop(&ll_json, 64, warmup, duration).await;
                let (_, cpu1) = proc_usage(ll.child.id());
                // 50 RPS: under LiteLLM's one-core capacity, so it measures latency, not queueing.
                let f100 = load::fixed_rate(&ll_json, 50.0, warmup, duration).await;
                let mut ll_conn = load::connect(ll.addr).await?;
                let mut ttfts = Vec::new();
                for _ in 0..n.min(10) {
                    ttfts.push(
                        load::stream_once(&mut ll_conn, &ll_stream)
                            .await?
                            .ttft
                            .as_secs_f64()
                            * 1e6,
                    );
                }
                let ll_ttft = median(&mut ttfts);
                let ll_cpu = (cpu1 - cpu0) * 1e6 / (c64.answered.max(1) as f64);
                let d100 = &results["fixed_rate"]["rps50"];
                let direct_p50 = d100["direct"]["p50_us"].as_f64().unwrap_or(0.0);
                let direct_p99 = d100["direct"]["p99_us"].as_f64().unwrap_or(0.0);
                let sy = |path: &str| -> f64 {
                    path.split('.')
                        .fold(&results, |v, k| &v[k])
                        .as_f64()
                        .unwrap_or(0.0)
                };
                let rows: Vec<(&str, f64, f64, bool)> = vec![
                    (
                        "throughput c=1 (RPS)",
                        sy("throughput.c1.gateway.rps"),
                        c1.rps(),
                        true,
                    ),
                    (
                        "throughput c=64 (RPS)",
                        sy("throughput.c64.gateway.rps"),
                        c64.rps(),
                        true,
                    ),
                    (
                        "added p50 at 50 RPS (µs)",
                        sy("fixed_rate.rps50.added_p50_us"),
                        f100.us(50.0) - direct_p50,
                        false,
                    ),
                    (
                        "added p99 at 50 RPS (µs)",
                        sy("fixed_rate.rps50.added_p99_us"),
                        f100.us(99.0) - direct_p99,
                        false,
                    ),
                    (
                        "TTFT overhead (µs)",
                        ttft_g - ttft_d,
                        ll_ttft - ttft_d,
                        false,
                    ),
                    ("CPU per request at c=64 (µs)", gw_cpu_c64, ll_cpu, false),
                    (
                        "RSS idle (MB)",
                        idle_rss_kb as f64 / 1024.0,
                        idle as f64 / 1024.0,
                        false,
                    ),
                ];
                let _ = writeln!(compare, "\n| vs LiteLLM (same core, same config) | Switchyard | LiteLLM | Switchyard is |\n| --- | ---: | ---: | ---: |");
                let mut ll_results = serde_json::Map::new();
                for (name, ours, theirs, higher_better) in rows {
                    let ratio = if higher_better {
                        ours / theirs.max(1e-9)
                    } else {
                        theirs / ours.max(1e-9)
                    };
                    let _ = writeln!(
                        compare,
                        "| {name} | {ours:.1} | {theirs:.1} | {ratio:.1}x better |"
                    );
                    ll_results.insert(
                        name.to_owned(),
                        json!({"switchyard": ours, "litellm": theirs, "ratio": ratio}),
                    );
                }
                ll_results.insert("errors".into(), json!(c1.errors + c64.errors + f100.errors));
                results["litellm"] = Value::Object(ll_results);
            }
        }
    } else {
        results["litellm"] =
            json!("not installed: pip install 'litellm[proxy]==1.102.4' to compare");
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Switchyard benchmark ({})\n",
        results["cpu_split"].as_str().unwrap_or("")
    );
    out.push_str(&table);
    let _ = writeln!(
        out,
        "\n| added latency | gateway − direct p50 | p99 | p99.9 | floor − direct p50 / p99 | gateway − floor p50 / p99 | gateway-reported overhead p50 / p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &added_rows {
        let _ = writeln!(out, "{r}");
    }
    let _ = writeln!(out, "\n| streaming (100 chunks, 1 ms apart) | direct | floor proxy | gateway | gateway − direct | gateway − floor |\n| --- | ---: | ---: | ---: | ---: | ---: |");
    let _ = writeln!(
        out,
        "| time to first token | {} | {} | {} | {} | {} |",
        fmt_us(ttft_d),
        fmt_us(ttft_f),
        fmt_us(ttft_g),
        fmt_us(ttft_g - ttft_d),
        fmt_us(ttft_g - ttft_f)
    );
    let _ = writeln!(
        out,
        "| inter-chunk overhead | | | | {:.1} µs | |",
        inter_chunk_overhead
    );
    let _ = writeln!(out, "\n| gateway resources | value |\n| --- | ---: |");
    let _ = writeln!(out, "| RSS idle | {:.1} MB |", idle_rss_kb as f64 / 1024.0);
    let _ = writeln!(
        out,
        "| RSS with {} open streams | {:.1} MB |",
        args.streams,
        after.0 as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "| CPU with {} open streams (chunk every 100 ms each) | {:.0} % of a core |",
        args.streams, cpu_pct
    );
    for c in [1, 64, 256] {
        let r = &results["throughput"][format!("c{c}")];
        let _ = writeln!(
            out,
            "| CPU per request at c={c} (spend writer's catch-up included: {:.0} ms) | {:.1} µs |",
            r["spend_writer_catch_up_ms"].as_f64().unwrap_or(0.0),
            r["gateway_cpu_us_per_request"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        out,
        "| governed lane (virtual key with budget and limits, SQLite spend records) c=64 | {:.0} RPS, {:.0} % below the master-key lane; {:.1} µs CPU per request with the spend writer's catch-up ({:.0} ms after the run), so {:.0} RPS sustained on one core; {} rows dropped |",
        results["governed_lane"]["c64"]["rps"].as_f64().unwrap_or(0.0),
        results["governed_lane"]["throughput_cost_vs_master_key_pct"].as_f64().unwrap_or(0.0),
        results["governed_lane"]["c64_cpu_us_per_request"].as_f64().unwrap_or(0.0),
        results["governed_lane"]["spend_writer_catch_up_ms"].as_f64().unwrap_or(0.0),
        results["governed_lane"]["sustainable_rps_one_core"].as_f64().unwrap_or(0.0),
        results["governed_lane"]["spend_rows_dropped"].as_u64().unwrap_or(0)
    );
    for (key, what) in [
        ("governed_lane_postgres", "PostgreSQL spend records"),
        ("governed_lane_redis", "limits and budgets counted in Redis"),
    ] {
        let Some(l) = results.get(key) else { continue };
        let _ = writeln!(
            out,
            "| governed lane, {what}, c=64 | {:.0} RPS, {:.0} % below the master-key lane; {:.1} µs CPU per request with the spend writer's catch-up ({:.0} ms after the run), so {:.0} RPS sustained on one core; {} rows dropped |",
            l["c64"]["rps"].as_f64().unwrap_or(0.0),
            l["throughput_cost_vs_master_key_pct"].as_f64().unwrap_or(0.0),
            l["c64_cpu_us_per_request"].as_f64().unwrap_or(0.0),
            l["spend_writer_catch_up_ms"].as_f64().unwrap_or(0.0),
            l["sustainable_rps_one_core"].as_f64().unwrap_or(0.0),
            l["spend_rows_dropped"].as_u64().unwrap_or(0)
        );
    }
    out.push_str(&compare);
    println!("{out}");

    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    println!("results written to {}", args.out.display());
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// `SWITCHYARD_BENCH_LITELLM`, else `litellm` on PATH.
fn find_litellm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCHYARD_BENCH_LITELLM") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("litellm"))
        .find(|p| p.is_file())
}

/// Starts a LiteLLM proxy on the gateway's core with the same config; waits until it answers.
async fn start_litellm(
    bin: &Path,
    config_path: &Path,
    pin: Option<usize>,
) -> anyhow::Result<Gateway> {
    // No cost-map download at start-up, errors only in logs.
    let env = [
        ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
        ("LITELLM_LOG", "ERROR"),
    ];
    let (child, port) = spawn_pinned(bin, config_path, pin, &[], &env)?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut gw = Gateway { child, addr };
    let probe = Target {
        addr,
        path: "/health/liveliness".into(),
        body: Bytes::new(),
        auth: None,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "LiteLLM did not answer within 120 s"
        );
        if let Some(status) = gw.child.try_wait()? {
            anyhow::bail!("LiteLLM exited at start-up ({status})");
        }
        if let Ok(mut c) = load::connect(addr).await {
            if load::get_ok(&mut c, &probe).await {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(gw)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|c| c.lines().next().map(str::to_owned))
        .unwrap_or_default();
    // Counted from /proc: this process is pinned to one core by now.
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    json!({"cpu": cpu, "cores": cores, "memory": mem})
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    LOG_LEVEL.get_or_init(|| args.log_level.clone());
    if let (Some(port), Some(upstream)) = (args.floor_only, args.upstream) {
        return floor::serve(port, upstream);
    }
    if let Some(port) = args.mock_only {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            println!("mock upstream on http://127.0.0.1:{port} (/json/v1, /stream/N/MS/v1, /latency/MS/...)");
            mock::serve(listener).await;
            Ok(())
        });
    }
    // One thread: the load generator and the mock share the core they are pinned to.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

//! The load generator: keep-alive HTTP/1.1 connections built on hyper, latencies in an HDR
//! histogram (nanoseconds).
//!
//! Closed loop (`closed_loop`) measures the most a target serves at a concurrency; open loop
//! (`fixed_rate`) sends on a fixed schedule whatever the target does (a slow answer never
//! delays the next send: each request takes an idle connection or opens one), and measures
//! from the moment the request is written. Due times come from a thread of their own (see
//! [`pacer`]), not from tokio's millisecond timer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What to send.
#[derive(Clone)]
pub struct Target {
    /// Where.
    pub addr: SocketAddr,
    /// Path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The JSON body.
    pub body: Bytes,
    /// `Authorization` header value, if any.
    pub auth: Option<String>,
}

/// Results of one run.
pub struct Stats {
    /// Successful requests measured.
    pub ok: u64,
    /// Successful requests in all, warm-up included: what a process's CPU time or page
    /// faults over the whole run are divided by.
    pub answered: u64,
    /// Failed requests (transport error or non-200).
    pub errors: u64,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Latencies, nanoseconds.
    pub hist: Histogram<u64>,
    /// The gateway's own account of its overhead (`x-litellm-overhead-duration-ms`: total
    /// time minus the upstream's), nanoseconds; empty for a target that sends no such header.
    pub overhead: Histogram<u64>,
}

impl Stats {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// A latency percentile (0..=100), microseconds.
    pub fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q / 100.0) as f64 / 1000.0
    }
    /// A percentile of the gateway-reported overhead, microseconds (None without the header).
    pub fn overhead_us(&self, q: f64) -> Option<f64> {
        (!self.overhead.is_empty())
            .then(|| self.overhead.value_at_quantile(q / 100.0) as f64 / 1000.0)
    }
}

/// What one request brought back.
struct Answer {
    ok: bool,
    /// `x-litellm-overhead-duration-ms`, in nanoseconds.
    overhead_ns: Option<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid histogram bounds")
}

/// A client connection.
pub type Conn = SendRequest<Full<Bytes>>;

/// Opens a keep-alive connection.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn request(t: &Target) -> Request<Full<Bytes>> {
    let mut b = Request::post(t.path.as_str())
        .header("host", "bench")
        .header("content-type", "application/json");
    if let Some(a) = &t.auth {
        b = b.header("authorization", a.as_str());
    }
    b.body(Full::new(t.body.clone())).expect("a valid request")
}

/// Sends one request on `conn`, reads the whole answer, and tells whether it was a 200.
pub async fn one_ok(conn: &mut SendRequest<Full<Bytes>>, t: &Target) -> anyhow::Result<bool> {
    Ok(one(conn, t).await?.ok)
}

/// Sends one request on `conn` and reads the whole answer.
async fn one(conn: &mut SendRequest<Full<Bytes>>, t: &Target) -> anyhow::Result<Answer> {
    conn.ready().await?;
    let resp = conn.send_request(request(t)).await?;
    let ok = resp.status() == 200;
    let overhead_ns = resp
        .headers()
        .get("x-litellm-overhead-duration-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|ms| (ms * 1e6) as u64);
    resp.into_body().collect().await?;
    Ok(Answer { ok, overhead_ns })
}

/// Sends one POST and returns the status and the JSON answer (the admin API before a run).
pub async fn post_json(t: &Target) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut conn = connect(t.addr).await?;
    conn.ready().await?;
    let resp = conn.send_request(request(t)).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or_default()))
}

/// A GET's body (empty on any failure).
pub async fn get_text(addr: SocketAddr, path: &str) -> String {
    let Ok(mut conn) = connect(addr).await else {
        return String::new();
    };
    let req = Request::get(path)
        .header("host", "bench")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    if conn.ready().await.is_err() {
        return String::new();
    }
    match conn.send_request(req).await {
        Ok(r) => match r.into_body().collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    }
}

/// A GET that answers 200.
pub async fn get_ok(conn: &mut SendRequest<Full<Bytes>>, t: &Target) -> bool {
    let req = Request::get(t.path.as_str())
        .header("host", "bench")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    if conn.ready().await.is_err() {
        return false;
    }
    match conn.send_request(req).await {
        Ok(r) => r.status() == 200 && r.into_body().collect().await.is_ok(),
        Err(_) => false,
    }
}

/// `concurrency` connections, each sending back to back, for `warmup + duration`.
pub async fn closed_loop(
    t: &Target,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Stats {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let (mut hist, mut overhead) = (histogram(), histogram());
            let (mut ok, mut errors, mut answered) = (0u64, 0u64, 0u64);
            let mut conn = None;
            while Instant::now() < end {
                if conn.is_none() {
                    conn = connect(t.addr).await.ok();
                    if conn.is_none() {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let t0 = Instant::now();
                let res = one(c, &t).await;
                let t1 = Instant::now();
                let counted = t0 >= measure_from && t1 <= end;
                answered += u64::from(matches!(&res, Ok(a) if a.ok));
                match res {
                    Ok(a) if a.ok && counted => {
                        ok += 1;
                        let _ = hist.record((t1 - t0).as_nanos() as u64);
                        if let Some(o) = a.overhead_ns {
                            let _ = overhead.record(o.max(1));
                        }
                    }
                    Ok(a) if a.ok => {}
                    Ok(_) => errors += u64::from(counted),
                    Err(_) => {
                        errors += u64::from(counted);
                        conn = None;
                    }
                }
            }
            (hist, overhead, ok, errors, answered)
        }));
    }
    let mut stats = Stats {
        ok: 0,
        answered: 0,
        errors: 0,
        elapsed: duration,
        hist: histogram(),
        overhead: histogram(),
    };
    for task in tasks {
        if let Ok((h, o, ok, errors, answered)) = task.await {
            let _ = stats.hist.add(h);
            let _ = stats.overhead.add(o);
            stats.ok += ok;
            stats.answered += answered;
            stats.errors += errors;
        }
    }
    stats
}

/// The due times of a fixed-rate run, `period` apart from `start`, delivered as each comes.
///
/// A thread of its own sleeps to each due time (the kernel's timers, tens of microseconds
/// late at worst). Tokio's timer wheel has a resolution of one millisecond: paced with it,
/// every request due within the same millisecond would leave together, and at 2000 RPS
/// every other request would queue behind its twin and measure that queue.
fn pacer(
    start: Instant,
    period: Duration,
    total: u64,
) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("bench-pacer".into())
        .spawn(move || {
            for i in 0..total {
                let due = start + period.mul_f64(i as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if tx.send(due).is_err() {
                    return;
                }
            }
        })
        .expect("the pacer thread");
    rx
}

/// Requests at `rps` on a fixed schedule for `warmup + duration`; latency from the moment
/// each request is written.
pub async fn fixed_rate(t: &Target, rps: f64, warmup: Duration, duration: Duration) -> Stats {
    struct Shared {
        hist: Histogram<u64>,
        overhead: Histogram<u64>,
        ok: u64,
        answered: u64,
        errors: u64,
    }
    let pool: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>> = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(Mutex::new(Shared {
        hist: histogram(),
        overhead: histogram(),
        ok: 0,
        answered: 0,
        errors: 0,
    }));
    let period = Duration::from_secs_f64(1.0 / rps);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let total = ((warmup + duration).as_secs_f64() * rps) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    let mut due_times = pacer(start, period, total);
    while let Some(due) = due_times.recv().await {
        let (t, pool, shared) = (t.clone(), Arc::clone(&pool), Arc::clone(&shared));
        tasks.push(tokio::spawn(async move {
            let taken = pool.lock().ok().and_then(|mut p| p.pop());
            let conn = match taken {
                Some(c) => Some(c),
                None => connect(t.addr).await.ok(),
            };
            let counted = due >= measure_from && due < end;
            let Some(mut conn) = conn else {
                if let Ok(mut s) = shared.lock() {
                    s.errors += u64::from(counted);
                }
                return;
            };
            let sent = Instant::now();
            let res = one(&mut conn, &t).await;
            let done = Instant::now();
            if let Ok(mut s) = shared.lock() {
                s.answered += u64::from(matches!(&res, Ok(a) if a.ok));
                match &res {
                    Ok(a) if a.ok && counted => {
                        let _ = s.hist.record((done - sent).as_nanos() as u64);
                        if let Some(o) = a.overhead_ns {
                            let _ = s.overhead.record(o.max(1));
                        }
                        s.ok += 1;
                    }
                    Ok(a) if a.ok => {}
                    _ => s.errors += u64::from(counted),
                }
            }
            if res.is_ok() {
                if let Ok(mut p) = pool.lock() {
                    p.push(conn);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let s = match Arc::try_unwrap(shared)
        .ok()
        .and_then(|m| m.into_inner().ok())
    {
        Some(s) => s,
        None => Shared {
            hist: histogram(),
            overhead: histogram(),
            ok: 0,
            answered: 0,
            errors: 0,
        },
    };
    Stats {
        ok: s.ok,
        answered: s.answered,
        errors: s.errors,
        elapsed: duration,
        hist: s.hist,
        overhead: s.overhead,
    }
}

/// One streamed request: time to the first body bytes and the gaps between later arrivals.
pub struct StreamTiming {
    /// Time from sending to the response head.
    pub head: Duration,
    /// Time from sending to the first body bytes.
    pub ttft: Duration,
    /// Time from sending to the end of the stream.
    pub total: Duration,
    /// Body frames received.
    pub frames: usize,
}

/// Sends a streaming request on an open keep-alive connection (as SDK clients do) and times it.
pub async fn stream_once(
    conn: &mut SendRequest<Full<Bytes>>,
    t: &Target,
) -> anyhow::Result<StreamTiming> {
    conn.ready().await?;
    let t0 = Instant::now();
    let resp = conn.send_request(request(t)).await?;
    let head = t0.elapsed();
    anyhow::ensure!(resp.status() == 200, "stream answered {}", resp.status());
    let mut body = resp.into_body();
    let mut ttft = None;
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if frame.is_data() {
            frames += 1;
            ttft.get_or_insert_with(|| t0.elapsed());
        }
    }
    Ok(StreamTiming {
        head,
        ttft: ttft.unwrap_or_default(),
        total: t0.elapsed(),
        frames,
    })
}

/// Opens `n` streams and keeps reading them in the background; returns once all answered.
pub async fn open_streams(
    t: &Target,
    n: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(n);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bool>(n.max(1));
    for _ in 0..n {
        let t = t.clone();
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let started = async {
                let mut conn = connect(t.addr).await?;
                conn.ready().await?;
                let resp = conn.send_request(request(&t)).await?;
                anyhow::Ok((conn, resp))
            }
            .await;
            match started {
                Ok((_conn, resp)) => {
                    let _ = tx.send(resp.status() == 200).await;
                    let mut body = resp.into_body();
                    while let Some(Ok(_)) = body.frame().await {}
                }
                Err(_) => {
                    let _ = tx.send(false).await;
                }
            }
        }));
    }
    drop(tx);
    let mut ok = 0;
    while let Some(started) = rx.recv().await {
        ok += usize::from(started);
    }
    anyhow::ensure!(ok == n, "only {ok} of {n} streams opened");
    Ok(handles)
}

//! The "request done" log line, formatted off the request path.
//!
//! Formatting one line (timestamp, eleven fields, floats, quoting) costs about a seventh of a
//! plain request's instructions, and for a non-streamed answer it came before the response
//! went out. A request now queues the line's values (a few string copies, no system call)
//! and a background thread of lowered priority formats them in batches, at most
//! [`INTERVAL`] later. Failures and refusals are still logged where they happen.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a queued line may wait while requests keep coming.
const INTERVAL: Duration = Duration::from_millis(10);

/// One answered request's log line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub call_id: String,
    pub model_group: String,
    pub deployment: String,
    pub provider: String,
    pub status: u16,
    pub stream: bool,
    pub latency_ms: f64,
    pub upstream_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

/// Where plain-text lines go when they bypass the formatter (see [`write_plain_to`]).
static PLAIN: OnceLock<Mutex<Box<dyn std::io::Write + Send>>> = OnceLock::new();

/// Writes the request lines straight to `writer` (the log's own writer), in the text
/// formatter's layout without colours: timestamp, level, target, message, then the fields.
///
/// The formatter visits each field through its styling and escaping layers, colours off or
/// not, and that was most of the line's cost; this writes the same bytes for under half.
/// For plain-text logs without colours only: JSON lines keep the formatter.
pub fn write_plain_to(writer: impl std::io::Write + Send + 'static) {
    let _ = PLAIN.set(Mutex::new(Box::new(writer)));
}

impl Line {
    fn emit(&self) {
        if let Some(writer) = PLAIN.get() {
            let mut text = self.plain();
            text.push('\n');
            if let Ok(mut w) = writer.lock() {
                let _ = w.write_all(text.as_bytes());
            }
            return;
        }
        tracing::info!(
            target: "switchyard::request",
            call_id = %self.call_id, model_group = self.model_group.as_str(),
            deployment = %self.deployment, provider = %self.provider, status = self.status,
            stream = self.stream, latency_ms = self.latency_ms, upstream_ms = self.upstream_ms,
            prompt_tokens = self.prompt_tokens, completion_tokens = self.completion_tokens,
            cost_usd = self.cost_usd,
            "request done"
        );
    }

    /// The line as the text formatter writes it without colours: its timestamp, `INFO`
    /// right-aligned in five, the target, the message, then `name=value` for each field
    /// (strings given with `%` as they are, the others as `Debug` shows them).
    fn plain(&self) -> String {
        use std::fmt::Write;
        use tracing_subscriber::fmt::time::FormatTime;
        let mut out = String::with_capacity(240 + self.call_id.len() + self.model_group.len());
        let _ = tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut out));
        let _ = write!(
            out,
            "  INFO switchyard::request: request done call_id={} model_group={:?} deployment={} provider={} status={} stream={} \
             latency_ms={:?} upstream_ms={:?} prompt_tokens={} completion_tokens={} cost_usd={:?}",
            self.call_id,
            self.model_group,
            self.deployment,
            self.provider,
            self.status,
            self.stream,
            self.latency_ms,
            self.upstream_ms,
            self.prompt_tokens,
            self.completion_tokens,
            self.cost_usd,
        );
        out
    }
}

/// What the background thread is sent.
enum Msg {
    Line(Line),
    /// Answer once every line sent before this one is written.
    Flush(mpsc::SyncSender<()>),
}

/// Formats every waiting line on the calling thread; how many there were.
fn drain(rx: &Receiver<Msg>) -> usize {
    let mut n = 0;
    loop {
        match rx.try_recv() {
            Ok(Msg::Line(line)) => {
                line.emit();
                n += 1;
            }
            Ok(Msg::Flush(done)) => {
                let _ = done.send(());
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return n,
        }
    }
}

/// The background loop: while lines keep coming it looks every [`INTERVAL`] (a sender
/// never has to wake it); when a look finds none it blocks until the next message.
fn run(rx: &Receiver<Msg>) {
    loop {
        if drain(rx) > 0 {
            std::thread::sleep(INTERVAL);
            continue;
        }
        match rx.recv() {
            Ok(Msg::Line(line)) => {
                line.emit();
                std::thread::sleep(INTERVAL);
            }
            Ok(Msg::Flush(done)) => {
                let _ = done.send(());
            }
            Err(_) => return,
        }
    }
}

static QUEUE: OnceLock<Option<Sender<Msg>>> = OnceLock::new();

/// The queue to the background thread, started on first use; `None` if no thread could be
/// started (lines are then formatted where they happen).
fn queue() -> Option<&'static Sender<Msg>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("switchyard-reqlog".into())
                .spawn(move || {
                    switchyard_governance::background::lower_current_thread();
                    run(&rx);
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Whether the line would be written at all (the filter allows `switchyard::request` info).
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "switchyard::request", tracing::Level::INFO)
}

/// Logs an answered request's line, soon, from the background thread.
pub(crate) fn send(line: Line) {
    match queue() {
        Some(tx) => {
            if let Err(mpsc::SendError(Msg::Line(line))) = tx.send(Msg::Line(line)) {
                line.emit();
            }
        }
        None => line.emit(),
    }
}

/// Waits (a second at most) until every line queued so far is written: at shutdown, before
/// the log writer's own buffer is flushed.
pub fn flush() {
    if let Some(Some(tx)) = QUEUE.get() {
        let (done, wait) = mpsc::sync_channel(1);
        if tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<StdMutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(call_id: &str) -> Line {
        Line {
            call_id: call_id.into(),
            model_group: "gpt 4o".into(),
            deployment: "dep-1".into(),
            provider: "openai".into(),
            status: 200,
            stream: true,
            latency_ms: 12.5,
            upstream_ms: 10.25,
            prompt_tokens: 7,
            completion_tokens: 9,
            cost_usd: 0.000123,
        }
    }

    /// The text formatter as `main` sets it up for a file or a pipe, writing to `sink`.
    fn formatter(sink: &Sink) -> impl tracing::Subscriber {
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }

    #[test]
    fn the_plain_line_is_what_the_formatter_writes() {
        let mut odd = line("call-\"x\"");
        odd.model_group = "quote \" and \\ and é".into();
        odd.latency_ms = 1.0;
        odd.cost_usd = 1.0e-9;
        odd.stream = false;
        for l in [line("call-1"), odd] {
            let sink = Sink::default();
            tracing::subscriber::with_default(formatter(&sink), || l.emit());
            let formatted = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
            let plain = l.plain() + "\n";
            // The same bytes after the timestamp, and a timestamp of the same shape.
            let (ts_f, rest_f) = formatted.split_once("Z ").unwrap();
            let (ts_p, rest_p) = plain.split_once("Z ").unwrap();
            assert_eq!(rest_p, rest_f);
            assert_eq!(ts_p.len(), ts_f.len(), "{ts_p} / {ts_f}");
        }
    }

    #[test]
    fn queued_lines_are_written_in_order_with_every_field_when_drained() {
        let sink = Sink::default();
        let subscriber = formatter(&sink);
        let (tx, rx) = mpsc::channel();
        tx.send(Msg::Line(line("call-1"))).unwrap();
        tx.send(Msg::Line(line("call-2"))).unwrap();
        let (done, flushed) = mpsc::sync_channel(1);
        tx.send(Msg::Flush(done)).unwrap();
        let n = tracing::subscriber::with_default(subscriber, || drain(&rx));
        assert_eq!(n, 2);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("call_id=call-1") && lines[1].contains("call_id=call-2"));
        for want in [
            "INFO switchyard::request: request done",
            "model_group=\"gpt 4o\"",
            "deployment=dep-1",
            "provider=openai",
            "status=200",
            "stream=true",
            "latency_ms=12.5",
            "upstream_ms=10.25",
            "prompt_tokens=7",
            "completion_tokens=9",
            "cost_usd=0.000123",
        ] {
            assert!(lines[0].contains(want), "{want} missing from {}", lines[0]);
        }
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes in a file: {text}"
        );
        assert_eq!(drain(&rx), 0);
        assert!(
            flushed.try_recv().is_ok(),
            "a flush is answered once the lines before it are written"
        );
    }
}

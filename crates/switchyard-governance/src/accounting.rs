//! The spend queue. A finished request pushes its record onto a vector under a short lock and
//! nothing more; the writer (on its own thread, see [`crate::Governor::start`]) takes the
//! vector, aggregates it into a [`SpendBatch`] (rows, entity totals, daily aggregates) and
//! writes that in one transaction.
//!
//! Totals are never dropped. Past [`crate::GovernorOptions::max_queued_logs`] queued rows (the
//! database is down for long), new requests are folded into totals and aggregates only, and
//! their rows are dropped and counted. A failed write puts its batch back, ahead of what came
//! since, and is retried on the next tick. A crash loses at most what was queued since the last
//! write: one flush interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use switchyard_store::{Kind, SpendBatch, SpendLog, Store, StoreError, Written};
use tokio::sync::Notify;

use crate::GovernorOptions;

/// Queued rows that wake the writer before its interval. Larger batches write each hot index
/// page once per commit instead of once per small commit: measured, 500 cost far more CPU.
const WAKE_AT: usize = 5_000;

#[derive(Debug, Default)]
struct Queue {
    /// Records as requests left them.
    raw: Vec<SpendLog>,
    /// Already aggregated: overflow beyond the cap, and batches put back after a failure.
    folded: SpendBatch,
}

/// Spend on its way to the store.
#[derive(Debug)]
pub struct Accounting {
    queue: Mutex<Queue>,
    /// The last drained vector, kept with its capacity: the request path then pushes into
    /// memory already mapped instead of growing (and copying) a fresh vector every batch.
    spare: Mutex<Vec<SpendLog>>,
    keep_logs: bool,
    max_logs: usize,
    dropped: AtomicU64,
    written: AtomicU64,
    pub(crate) wake: Notify,
    /// Serializes flushes, so a batch put back after a failure keeps its order.
    flushing: tokio::sync::Mutex<()>,
}

impl Accounting {
    pub(crate) fn new(opts: &GovernorOptions) -> Accounting {
        Accounting {
            queue: Mutex::new(Queue::default()),
            spare: Mutex::new(Vec::new()),
            keep_logs: opts.keep_spend_logs,
            max_logs: opts.max_queued_logs,
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            wake: Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Queues one finished request (the request path's only spend work: one push).
    pub fn record(&self, log: SpendLog) {
        let Ok(mut q) = self.queue.lock() else { return };
        if q.raw.len() + q.folded.logs.len() < self.max_logs {
            q.raw.push(log);
            if q.raw.len() == WAKE_AT {
                self.wake.notify_one();
            }
        } else {
            if self.keep_logs {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.folded.add(log, false);
        }
    }

    /// Spend queued for an entity and not yet written, nano-dollars (for `/key/info` and the
    /// like: it scans the queue, off the request path).
    pub fn pending(&self, kind: Kind, id: &str) -> i64 {
        let Ok(q) = self.queue.lock() else { return 0 };
        let owner = |l: &SpendLog| match kind {
            Kind::Key => l.api_key.as_deref() == Some(id),
            Kind::User => l.user_id.as_deref() == Some(id),
            Kind::Team => l.team_id.as_deref() == Some(id),
            Kind::EndUser => l.end_user.as_deref() == Some(id),
            Kind::Tag => l.request_tags.iter().any(|t| t == id),
        };
        let raw: i64 = q
            .raw
            .iter()
            .filter(|l| owner(l))
            .map(|l| l.spend_nano)
            .sum();
        raw + q
            .folded
            .totals
            .get(&(kind, id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Rows waiting.
    pub fn queued_logs(&self) -> usize {
        self.queue
            .lock()
            .map_or(0, |q| q.raw.len() + q.folded.logs.len())
    }

    /// Rows dropped because the queue was full.
    pub fn dropped_logs(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows written.
    pub fn written_logs(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes everything queued now. On failure the batch goes back in front of the queue.
    pub async fn flush(&self, store: &Store) -> Result<Written, StoreError> {
        let _one = self.flushing.lock().await;
        let mut spare = self
            .spare
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let mut batch = match self.queue.lock() {
            Ok(mut q) => {
                std::mem::swap(&mut spare, &mut q.raw);
                std::mem::take(&mut q.folded)
            }
            Err(_) => return Ok(Written::default()),
        };
        if self.keep_logs {
            batch.logs.reserve(spare.len());
        }
        for log in spare.drain(..) {
            batch.add(log, self.keep_logs);
        }
        if let Ok(mut s) = self.spare.lock() {
            *s = spare;
        }
        if batch.is_empty() {
            return Ok(Written::default());
        }
        let rows = batch.logs.len() as u64;
        match store.write_batch(&batch).await {
            Ok(w) => {
                self.written.fetch_add(rows, Ordering::Relaxed);
                Ok(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, rows, "spend write failed; kept for the next attempt");
                if let Ok(mut q) = self.queue.lock() {
                    let mut newer = std::mem::take(&mut q.folded);
                    newer.merge(batch);
                    q.folded = newer;
                    let over = q.folded.logs.len().saturating_sub(self.max_logs);
                    if over > 0 {
                        let keep = self.max_logs;
                        q.folded.logs.truncate(keep);
                        self.dropped.fetch_add(over as u64, Ordering::Relaxed);
                    }
                }
                Err(e)
            }
        }
    }
}

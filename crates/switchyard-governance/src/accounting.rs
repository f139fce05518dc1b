//! The spend queue. A finished request pushes its record onto its thread's shard of the
//! queue (a vector under a lock only that thread takes, but for the writer's swap once a
//! batch) and nothing more; the writer (on its own thread, see [`crate::Governor::start`]) takes the
//! vector, aggregates it into a [`SpendBatch`] (rows, entity totals, daily aggregates) and
//! writes that in one transaction.
//!
//! Totals are never dropped. Past [`crate::GovernorOptions::max_queued_logs`] queued rows (the
//! database is down for long), new requests are folded into totals and aggregates only, and
//! their rows are dropped and counted. A failed write puts its batch back, ahead of what came
//! since, and is retried on the next tick. A crash loses at most what was queued since the last
//! write: one flush interval.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use switchyard_store::{Kind, SpendBatch, SpendLog, Store, StoreError, Written};
use tokio::sync::Notify;

use crate::sharded::{lock as locked, Sharded};
use crate::GovernorOptions;

/// Queued rows that wake the writer before its interval. Larger batches write each hot index
/// page once per commit instead of once per small commit: measured, 500 cost far more CPU.
const WAKE_AT: usize = 5_000;

/// Spend on its way to the store.
#[derive(Debug)]
pub struct Accounting {
    /// Records as requests left them, a shard per worker thread.
    shards: Sharded<Vec<SpendLog>>,
    /// Rows in the shards.
    queued: AtomicUsize,
    /// Already aggregated: overflow beyond the cap, and batches put back after a failure.
    folded: Mutex<SpendBatch>,
    /// Rows in `folded`.
    folded_rows: AtomicUsize,
    /// The last drained vector of each shard, kept with its capacity: requests then push into
    /// memory already mapped instead of growing (and copying) a fresh vector every batch.
    spares: Mutex<Vec<Vec<SpendLog>>>,
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
            shards: Sharded::default(),
            queued: AtomicUsize::new(0),
            folded: Mutex::new(SpendBatch::default()),
            folded_rows: AtomicUsize::new(0),
            spares: Mutex::new(Vec::new()),
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
        if self.queued_logs() < self.max_logs {
            // Counted before it is pushed, so a flush never takes a row it has not counted.
            let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
            self.shards.local().push(log);
            if queued == WAKE_AT {
                self.wake.notify_one();
            }
        } else {
            if self.keep_logs {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            locked(&self.folded).add(log, false);
        }
    }

    /// Spend queued for an entity and not yet written, nano-dollars (for `/key/info` and the
    /// like: it scans the queue, off the request path).
    pub fn pending(&self, kind: Kind, id: &str) -> i64 {
        let owner = |l: &SpendLog| match kind {
            Kind::Key => l.api_key.as_deref() == Some(id),
            Kind::User => l.user_id.as_deref() == Some(id),
            Kind::Team => l.team_id.as_deref() == Some(id),
            Kind::EndUser => l.end_user.as_deref() == Some(id),
            Kind::Tag => l.request_tags.iter().any(|t| t == id),
        };
        let raw: i64 = self
            .shards
            .each()
            .map(|shard| {
                shard
                    .iter()
                    .filter(|l| owner(l))
                    .map(|l| l.spend_nano)
                    .sum::<i64>()
            })
            .sum();
        raw + locked(&self.folded)
            .totals
            .get(&(kind, id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Rows waiting.
    pub fn queued_logs(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.folded_rows.load(Ordering::Relaxed)
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
        let mut spares = std::mem::take(&mut *locked(&self.spares));
        spares.resize_with(self.shards.len(), Vec::new);
        // Each shard swaps its rows for an empty vector with capacity: a moment under its lock.
        for (mut shard, spare) in self.shards.each().zip(spares.iter_mut()) {
            std::mem::swap(spare, &mut *shard);
        }
        let mut batch = {
            let mut folded = locked(&self.folded);
            self.folded_rows.store(0, Ordering::Relaxed);
            std::mem::take(&mut *folded)
        };
        let rows: usize = spares.iter().map(Vec::len).sum();
        self.queued.fetch_sub(rows, Ordering::Relaxed);
        if self.keep_logs {
            batch.logs.reserve(rows);
        }
        for log in spares.iter_mut().flat_map(|s| s.drain(..)) {
            batch.add(log, self.keep_logs);
        }
        *locked(&self.spares) = spares;
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
                let mut folded = locked(&self.folded);
                let mut newer = std::mem::take(&mut *folded);
                newer.merge(batch);
                *folded = newer;
                let over = folded.logs.len().saturating_sub(self.max_logs);
                if over > 0 {
                    folded.logs.truncate(self.max_logs);
                    self.dropped.fetch_add(over as u64, Ordering::Relaxed);
                }
                self.folded_rows.store(folded.logs.len(), Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

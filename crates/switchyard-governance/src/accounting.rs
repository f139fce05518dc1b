//! The spend queue: each finished request adds its record under a short lock; a background task
//! writes the batch (rows, entity totals, daily aggregates) in one transaction.
//!
//! Totals are never dropped: they aggregate per entity, so memory is bounded by the number of
//! entities, not requests. Log rows are bounded by [`crate::GovernorOptions::max_queued_logs`];
//! past it (the database is down for long) rows are dropped and counted. A failed write puts the
//! batch back in front and is retried on the next tick. A crash loses at most what was queued
//! since the last write: one flush interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use switchyard_store::{Kind, SpendBatch, SpendLog, Store, StoreError};
use tokio::sync::Notify;

use crate::GovernorOptions;

/// Log rows queued before the writer is woken early.
const WAKE_AT: usize = 2_000;

/// Spend on its way to the store.
#[derive(Debug)]
pub struct Accounting {
    batch: Mutex<SpendBatch>,
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
            batch: Mutex::new(SpendBatch::default()),
            keep_logs: opts.keep_spend_logs,
            max_logs: opts.max_queued_logs,
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            wake: Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Queues one finished request.
    pub fn record(&self, log: SpendLog) {
        let Ok(mut b) = self.batch.lock() else { return };
        let keep = self.keep_logs && b.logs.len() < self.max_logs;
        if self.keep_logs && !keep {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        b.add(log, keep);
        if b.logs.len() == WAKE_AT {
            self.wake.notify_one();
        }
    }

    /// Spend queued for an entity and not yet written, nano-dollars.
    pub fn pending(&self, kind: Kind, id: &str) -> i64 {
        self.batch
            .lock()
            .ok()
            .and_then(|b| b.totals.get(&(kind, id.to_owned())).copied())
            .unwrap_or(0)
    }

    /// Log rows waiting.
    pub fn queued_logs(&self) -> usize {
        self.batch.lock().map_or(0, |b| b.logs.len())
    }

    /// Log rows dropped because the queue was full.
    pub fn dropped_logs(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Log rows written.
    pub fn written_logs(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes everything queued now. On failure the batch goes back in front of the queue.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let batch = match self.batch.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        let rows = batch.logs.len() as u64;
        match store.write_batch(&batch).await {
            Ok(()) => {
                self.written.fetch_add(rows, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, rows, "spend write failed; kept for the next attempt");
                if let Ok(mut b) = self.batch.lock() {
                    b.merge(batch);
                    let over = b.logs.len().saturating_sub(self.max_logs);
                    if over > 0 {
                        b.logs.drain(self.max_logs..);
                        self.dropped.fetch_add(over as u64, Ordering::Relaxed);
                    }
                }
                Err(e)
            }
        }
    }
}

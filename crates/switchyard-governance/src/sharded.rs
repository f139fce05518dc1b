//! A value split into per-thread shards, for what every request appends to (the spend queue,
//! the log sinks' queues): each worker thread locks a shard of its own, so requests on
//! different cores never meet on a lock, and the reader (a writer thread, once a batch)
//! visits every shard.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;

/// `T` once per shard: as many shards as cores (rounded up to a power of two), each on
/// cache lines of its own, so neighbouring shards' locks do not share a line.
#[derive(Debug)]
pub struct Sharded<T> {
    shards: Box<[CachePadded<Mutex<T>>]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .next_power_of_two();
        Sharded {
            shards: (0..n)
                .map(|_| CachePadded::new(Mutex::new(T::default())))
                .collect(),
        }
    }
}

/// This thread's number: threads are numbered as they first ask, so a runtime's workers
/// spread over the shards.
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// `m`, locked, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under the lock leaves a whole value (a vector of whole records).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Sharded<T> {
    /// This thread's shard, locked.
    pub fn local(&self) -> MutexGuard<'_, T> {
        lock(&self.shards[thread_number() % self.shards.len()])
    }

    /// Every shard, each locked in turn (one at a time).
    pub fn each(&self) -> impl Iterator<Item = MutexGuard<'_, T>> {
        self.shards.iter().map(|s| lock(s))
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Never true: there is always a shard.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_thread_appends_to_one_shard_and_every_append_is_seen() {
        let s: Sharded<Vec<usize>> = Sharded::default();
        assert!(s.len().is_power_of_two());
        std::thread::scope(|scope| {
            for t in 0..4 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..1000 {
                        s.local().push(t * 1000 + i);
                    }
                });
            }
        });
        let mut all: Vec<usize> = s.each().flat_map(|mut v| std::mem::take(&mut *v)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..4000).collect::<Vec<_>>());
        // A thread keeps its shard: what it appends stays in order there.
        for i in 0..10 {
            s.local().push(i);
        }
        let mine: Vec<Vec<usize>> = s
            .each()
            .map(|v| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        assert_eq!(mine, vec![(0..10).collect::<Vec<_>>()]);
    }
}

//! Several connection pools, so HTTP/2 upstreams never queue requests behind one connection.
//!
//! hyper-util's pooled client keeps one HTTP/2 connection per host and sends every request
//! on it; past the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (100 to 256 at the large
//! providers) further requests wait for a stream to close, however idle the network is. So
//! the gateway keeps [`POOLS`] independent pools, counts the requests each has in flight (a
//! request counts until its response body is finished or dropped), and sends a request on
//! the first pool with fewer than [`STREAMS_PER_POOL`] in flight, else on the least busy.
//! "First" starts at the request's worker thread's own pool: each worker has a pool it
//! prefers, as Envoy keeps a connection pool per worker, so workers do not all meet on one
//! pool's lock (hyper-util's pool is a `Mutex` taken on every checkout and return).
//! Each pool shares its own HTTP/2 connection to a host, so concurrency spreads over up to
//! [`POOLS`] connections, each kept under common stream limits. HTTP/1.1 upstreams are
//! unaffected: a pool opens a connection per concurrent request anyway, and below
//! [`STREAMS_PER_POOL`] in flight a worker's requests stay in its pool and its warm
//! connections. Which hosts speak HTTP/2 is learnt from ALPN ([`crate::protocols`]), so a
//! burst on a pool with no connection yet waits for one connection rather than opening one
//! per request; idle connections close after 90 s.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// Independent pools (each at most one HTTP/2 connection per host).
pub const POOLS: usize = 16;
/// Requests in flight on one pool before the next pool is used: under the smallest stream
/// limit the large providers' front ends advertise (100).
pub const STREAMS_PER_POOL: usize = 64;

/// The pool this thread prefers: threads are numbered as they first send, so a runtime's
/// workers each start at a pool of their own.
fn home_pool(count: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    HOME.with(|h| *h) % count.max(1)
}

/// `POOLS` clients of type `C`, with their in-flight counts.
pub struct Pools<C> {
    clients: Box<[C]>,
    counts: Arc<[CachePadded<AtomicUsize>]>,
}

impl<C> Pools<C> {
    /// `POOLS` pools made by `make`.
    pub fn new(make: impl FnMut() -> C) -> Pools<C> {
        Self::with_count(POOLS, make)
    }

    /// `count` pools made by `make` (at least one).
    pub fn with_count(count: usize, mut make: impl FnMut() -> C) -> Pools<C> {
        let count = count.max(1);
        Pools {
            clients: (0..count).map(|_| make()).collect(),
            // Padded: workers counting on their own pools do not share a cache line.
            counts: (0..count)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        }
    }

    /// The pool for the next request, counted as in flight until the guard drops.
    pub fn pick(&self) -> (&C, InFlight) {
        self.pick_from(home_pool(self.clients.len()))
    }

    /// Like [`Pools::pick`], looking from pool `start` on.
    fn pick_from(&self, start: usize) -> (&C, InFlight) {
        let count = self.counts.len();
        let mut best = start % count;
        let mut least = usize::MAX;
        for k in 0..count {
            let i = (start + k) % count;
            let n = self.counts[i].load(Ordering::Relaxed);
            if n < STREAMS_PER_POOL {
                best = i;
                break;
            }
            if n < least {
                best = i;
                least = n;
            }
        }
        self.counts[best].fetch_add(1, Ordering::Relaxed);
        let guard = InFlight {
            counts: Arc::clone(&self.counts),
            index: best,
        };
        (&self.clients[best], guard)
    }

    /// Requests in flight per pool.
    pub fn in_flight(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

/// One request in flight on a pool, until dropped.
#[derive(Debug)]
pub struct InFlight {
    counts: Arc<[CachePadded<AtomicUsize>]>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counts[self.index].fetch_sub(1, Ordering::Relaxed);
    }
}

/// An upstream response body that keeps its request counted in flight until it ends.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    in_flight: Option<InFlight>,
}

impl UpstreamBody {
    /// `inner`, counted by `in_flight` until it ends or drops.
    pub fn new(inner: Incoming, in_flight: InFlight) -> UpstreamBody {
        UpstreamBody {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            // The stream is over: its slot is free before the body itself is dropped.
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fills_the_first_pool_then_spreads_then_balances() {
        let pools = Pools::with_count(3, || ());
        let pick = || pools.pick_from(0).1;
        let mut held: Vec<InFlight> = (0..STREAMS_PER_POOL).map(|_| pick()).collect();
        assert_eq!(pools.in_flight(), vec![STREAMS_PER_POOL, 0, 0]);
        held.extend((0..2 * STREAMS_PER_POOL).map(|_| pick()));
        assert_eq!(pools.in_flight(), vec![STREAMS_PER_POOL; 3]);
        // All full: the least busy takes the next, and a freed slot is taken first.
        held.push(pick());
        assert_eq!(
            pools.in_flight().iter().sum::<usize>(),
            3 * STREAMS_PER_POOL + 1
        );
        held.retain(|g| g.index != 1);
        assert_eq!(pools.in_flight()[1], 0);
        let g = pick();
        assert_eq!(g.index, 1);
        drop(held);
        drop(g);
        assert_eq!(pools.in_flight(), vec![0, 0, 0]);
    }

    #[test]
    fn each_worker_starts_at_its_own_pool_and_wraps_around() {
        let pools = Pools::with_count(3, || ());
        let held: Vec<InFlight> = (0..STREAMS_PER_POOL)
            .map(|_| pools.pick_from(2).1)
            .collect();
        assert_eq!(pools.in_flight(), vec![0, 0, STREAMS_PER_POOL]);
        // Its pool full, the next is the one after it, wrapping to the first.
        assert_eq!(pools.pick_from(2).1.index, 0);
        drop(held);
        // Threads get different pools, in turn.
        let homes: std::collections::HashSet<usize> = (0..3)
            .map(|_| std::thread::spawn(|| home_pool(1_000)).join().unwrap())
            .collect();
        assert_eq!(homes.len(), 3);
    }
}

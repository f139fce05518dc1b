//! Micro-benchmark of admission: a request's key and team checked and counted, then settled,
//! on one thread and on two at once (with their own team, or sharing one).
//!
//!     cargo bench -p switchyard-governance
//!
//! Two threads on two cores, each admitting its own key's requests: with no lock shared by
//! the whole gateway they take about as long per request as one thread alone; a team both
//! keys belong to is one counter, and its lock is where they meet.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_governance::limits::{Budget, Descriptor, Limiter};

const NOW_MS: i64 = 1_800_000_000_000;

fn desc(limiter: &Limiter, scope: &'static str, id: &str) -> Descriptor {
    Descriptor {
        scope,
        id: id.to_owned(),
        label: id.to_owned(),
        rpm: Some(u64::MAX / 2),
        tpm: Some(u64::MAX / 2),
        parallel: (scope == "api_key").then_some(1_000_000),
        budget: Some(Budget {
            max_nano: i64::MAX / 2,
            period_start: 0,
            base_nano: 0,
        }),
        // As the governor builds them: the record's counter, found once.
        counter: Some(limiter.counter(scope, id)),
    }
}

/// `iters` admissions of `descs`, each settled.
fn run(limiter: &Arc<Limiter>, descs: &[Descriptor], iters: u64) {
    for i in 0..iters {
        let now = NOW_MS + (i as i64 & 0xffff);
        let a = limiter.admit(black_box(descs), 40, 1_000, now).unwrap();
        a.settle(black_box(60), 900);
    }
}

/// Wall time of `threads` threads doing `iters` admissions each, at once.
fn parallel(limiter: &Arc<Limiter>, per_thread: &[Vec<Descriptor>], iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for descs in per_thread {
            let limiter = Arc::clone(limiter);
            s.spawn(move || run(&limiter, descs, iters));
        }
    });
    start.elapsed()
}

fn admission(c: &mut Criterion) {
    let mut g = c.benchmark_group("admit_and_settle");
    let limiter = Limiter::new();
    let one = vec![
        desc(&limiter, "api_key", "k0"),
        desc(&limiter, "team", "t0"),
    ];
    g.bench_function("one thread", |b| b.iter(|| run(&limiter, &one, 1)));

    // Two threads, each with its own key: (bench name, each key's team).
    for (name, teams) in [
        (
            "two threads, a team each (time per request pair)",
            ["t1", "t2"],
        ),
        (
            "two threads, one team (time per request pair)",
            ["t3", "t3"],
        ),
    ] {
        let per_thread: Vec<Vec<Descriptor>> = teams
            .iter()
            .enumerate()
            .map(|(i, team)| {
                let key = format!("{name}-k{i}");
                vec![
                    desc(&limiter, "api_key", &key),
                    desc(&limiter, "team", team),
                ]
            })
            .collect();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| parallel(&limiter, &per_thread, iters))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = admission
}
criterion_main!(benches);

//! Parallel fill and parallel scan of 1M entries with rayon: epochmap vs dashmap.
//!
//! Fill: both maps are filled from the same `(0..N).into_par_iter()` through
//! their `FromParallelIterator` implementations (each worker inserts into the
//! one shared map), starting empty so the fill includes every resize.
//!
//! Scan: `par_iter().map(value).sum()` over a prebuilt map of 1M entries;
//! epochmap's workers split the hash space, dashmap's split its shards (each
//! shard read-locked while walked). epochmap's sequential `iter` is the baseline.
//!
//! Run: `cargo bench --features rayon --bench rayon_fill`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use std::time::Duration;

const N: u64 = 1_000_000;

fn fill(c: &mut Criterion) {
    let mut g = c.benchmark_group("rayon_fill_1M");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("epochmap", |b| {
        b.iter(|| {
            let map: epochmap::HashMap<u64, u64> = (0..N).into_par_iter().map(|i| (i, i)).collect();
            assert_eq!(map.len(), N as usize);
            map
        })
    });
    g.bench_function("dashmap", |b| {
        b.iter(|| {
            let map: dashmap::DashMap<u64, u64, ahash::RandomState> =
                (0..N).into_par_iter().map(|i| (i, i)).collect();
            assert_eq!(map.len(), N as usize);
            map
        })
    });
    g.bench_function("epochmap_presized", |b| {
        b.iter(|| {
            let map: epochmap::HashMap<u64, u64> = epochmap::HashMap::with_capacity(N as usize);
            (&map).par_extend((0..N).into_par_iter().map(|i| (i, i)));
            assert_eq!(map.len(), N as usize);
            map
        })
    });
    g.bench_function("dashmap_presized", |b| {
        b.iter(|| {
            let map: dashmap::DashMap<u64, u64, ahash::RandomState> =
                dashmap::DashMap::with_capacity_and_hasher(N as usize, Default::default());
            (&map).par_extend((0..N).into_par_iter().map(|i| (i, i)));
            assert_eq!(map.len(), N as usize);
            map
        })
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    let expected: u64 = (0..N).sum();
    let mut g = c.benchmark_group("rayon_scan_1M");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    let map: epochmap::HashMap<u64, u64> = (0..N).into_par_iter().map(|i| (i, i)).collect();
    g.bench_function("epochmap_par_iter", |b| {
        b.iter(|| {
            let guard = map.guard();
            let sum: u64 = map.par_iter(&guard).map(|(_, v)| *v).sum();
            assert_eq!(sum, expected);
        })
    });
    g.bench_function("epochmap_iter", |b| {
        b.iter(|| {
            let guard = map.guard();
            let sum: u64 = map.iter(&guard).map(|(_, v)| *v).sum();
            assert_eq!(sum, expected);
        })
    });
    drop(map);
    let dash: dashmap::DashMap<u64, u64, ahash::RandomState> =
        (0..N).into_par_iter().map(|i| (i, i)).collect();
    g.bench_function("dashmap_par_iter", |b| {
        b.iter(|| {
            let sum: u64 = dash.par_iter().map(|e| *e.value()).sum();
            assert_eq!(sum, expected);
        })
    });
    g.finish();
}

criterion_group!(benches, fill, scan);
criterion_main!(benches);

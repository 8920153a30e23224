//! Parallel fill of 1M entries with rayon: epochmap vs dashmap.
//!
//! Both maps are filled from the same `(0..N).into_par_iter()` through their
//! `FromParallelIterator` implementations (each worker inserts into the one
//! shared map), starting empty so the fill includes every resize.
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

criterion_group!(benches, fill);
criterion_main!(benches);

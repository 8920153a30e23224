//! Hot read path: one thread, a guard pinned once outside the loop, random-order
//! `get`s of present `u64` keys with ahash, against unsynchronised
//! `hashbrown::HashMap` with the same hasher. Issue targets: ≤ 1.2× hashbrown's
//! time at 1,024 keys, ≤ 1.6× at 1,048,576 keys (ratios in docs/benchmarks.md).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::seq::SliceRandom;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::time::Duration;

/// Number of lookups per iteration: enough to amortise the loop, in a random order
/// fixed up front so the key stream costs the same for every map.
const LOOKUPS: usize = 4096;

fn keys(n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let keys: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
    let mut order: Vec<u64> = (0..LOOKUPS).map(|_| keys[rng.gen_range(0..n)]).collect();
    order.shuffle(&mut rng);
    (keys, order)
}

fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

fn hot_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot_read");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for n in [1usize << 10, 1 << 20] {
        let (keys, order) = keys(n);

        let map: epochmap::HashMap<u64, u64> = epochmap::HashMap::with_hasher(hasher());
        {
            let m = map.pin();
            for &k in &keys {
                m.insert(k, k);
            }
        }
        group.bench_with_input(BenchmarkId::new("epochmap", n), &order, |b, order| {
            let m = map.pin();
            b.iter(|| {
                let mut sum = 0u64;
                for k in order {
                    sum = sum.wrapping_add(*m.get(black_box(k)).unwrap());
                }
                sum
            })
        });

        let mut hb = hashbrown::HashMap::with_hasher(hasher());
        for &k in &keys {
            hb.insert(k, k);
        }
        group.bench_with_input(BenchmarkId::new("hashbrown", n), &order, |b, order| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in order {
                    sum = sum.wrapping_add(*hb.get(black_box(k)).unwrap());
                }
                sum
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hot_read);
criterion_main!(benches);

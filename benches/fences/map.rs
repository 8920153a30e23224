//! `epochmap::HashMap` with its real orderings, for comparison with the same
//! map built with `RUSTFLAGS="--cfg epochmap_seqcst"` (every atomic in the
//! map `SeqCst`, switched in `src/sync.rs`).
//!
//! `scripts/bench-orderings.sh` runs this group both ways and prints the two
//! side by side. Times are per operation. Keys are random `u64`s from a
//! fixed seed; the map is sized up front so `insert_fresh` measures inserts,
//! not resizes. Each batch runs under one `pin()`: the pin itself is
//! `ordering/epoch_pin_drop`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use epochmap::HashMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::orderings::keep;

/// Keys per map.
const KEYS: usize = 1 << 14;

/// `count` distinct random keys; odd keys are reserved for misses.
fn keys(seed: u64, count: usize) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..count).map(|_| rng.gen::<u64>() & !1).collect();
    keys.sort_unstable();
    keys.dedup();
    while keys.len() < count {
        keys.push(rng.gen::<u64>() & !1);
        keys.sort_unstable();
        keys.dedup();
    }
    // Random probe order, not sorted order.
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.gen_range(0..=i));
    }
    keys
}

fn filled(keys: &[u64]) -> HashMap<u64, u64> {
    let map = HashMap::with_capacity(keys.len());
    {
        let m = map.pin();
        for &k in keys {
            let _ = m.insert(k, k);
        }
    }
    map
}

/// The `map/` group.
pub fn bench(c: &mut Criterion) {
    let present = keys(1, KEYS);
    let absent: Vec<u64> = present.iter().map(|k| k | 1).collect();
    let map = filled(&present);
    assert_eq!(map.len(), KEYS);
    let per_op = |d: Duration| d.div_f64(KEYS as f64);

    let mut group = c.benchmark_group("map");
    group.bench_function("get_hit", |b| {
        b.iter_custom(|iters| {
            let m = map.pin();
            let start = Instant::now();
            for _ in 0..iters {
                for k in &present {
                    keep(m.get(k).map_or(0, |v| *v as usize));
                }
            }
            per_op(start.elapsed())
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter_custom(|iters| {
            let m = map.pin();
            let start = Instant::now();
            for _ in 0..iters {
                for k in &absent {
                    keep(m.get(k).is_some() as usize);
                }
            }
            per_op(start.elapsed())
        })
    });
    group.bench_function("insert_replace", |b| {
        b.iter_custom(|iters| {
            let m = map.pin();
            let start = Instant::now();
            for i in 0..iters {
                for &k in &present {
                    let _ = m.insert(k, i);
                }
            }
            per_op(start.elapsed())
        })
    });
    group.bench_function("insert_fresh", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = HashMap::with_capacity(KEYS);
                let m = fresh.pin();
                let start = Instant::now();
                for &k in &present {
                    let _ = m.insert(k, k);
                }
                total += start.elapsed();
                drop(m);
                drop(fresh);
            }
            per_op(total)
        })
    });
    group.finish();
}

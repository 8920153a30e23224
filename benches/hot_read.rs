//! Hot read path: one thread, a guard pinned once outside the loop, random-order
//! `get`s of present `u64` keys with ahash, against unsynchronised
//! `hashbrown::HashMap` with the same hasher. Issue targets: ≤ 1.2× hashbrown's
//! time at 1,024 keys, ≤ 1.6× at 1,048,576 keys (ratios in docs/benchmarks.md).
//!
//! The same loop runs on the peers (see `maps/mod.rs`), all with the same
//! hasher: papaya and flurry with a handle pinned once outside the loop, like
//! `epochmap`; dashmap, scc and `RwLock<hashbrown>` locking per lookup (they
//! have no other way); and, as `*-pin-per-op`, epochmap and papaya pinning
//! for every lookup.

mod maps;

use criterion::measurement::WallTime;
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use maps::{Map, Ops, Visit};
use rand::seq::SliceRandom;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::time::Duration;

/// Number of lookups per iteration: enough to amortise the loop.
const LOOKUPS: usize = 4096;

/// The keys, and the order they are looked up in, fixed up front so the key
/// stream costs the same for every map. With more keys than one iteration's
/// lookups the order is a shuffle of *all* the keys and each iteration takes
/// the next `LOOKUPS` of it ([`Stream`]), so that at 1M keys the lookups walk
/// the whole table and miss the caches as a service's reads would; repeating
/// one set of 4,096 keys would keep their buckets and nodes in L2.
fn keys(n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let keys: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
    let mut order: Vec<u64> = if n >= LOOKUPS {
        keys.clone()
    } else {
        (0..LOOKUPS).map(|_| keys[rng.gen_range(0..n)]).collect()
    };
    order.shuffle(&mut rng);
    (keys, order)
}

/// Hands out the lookup order `LOOKUPS` keys at a time, wrapping at the end.
struct Stream<'a> {
    order: &'a [u64],
    pos: usize,
}

impl<'a> Stream<'a> {
    fn new(order: &'a [u64]) -> Self {
        assert_eq!(order.len() % LOOKUPS, 0, "the order is whole iterations");
        Stream { order, pos: 0 }
    }

    fn next_chunk(&mut self) -> &'a [u64] {
        let chunk = &self.order[self.pos..self.pos + LOOKUPS];
        self.pos = (self.pos + LOOKUPS) % self.order.len();
        chunk
    }
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
            let mut stream = Stream::new(order);
            b.iter(|| {
                let mut sum = 0u64;
                for k in stream.next_chunk() {
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
            let mut stream = Stream::new(order);
            b.iter(|| {
                let mut sum = 0u64;
                for k in stream.next_chunk() {
                    sum = sum.wrapping_add(*hb.get(black_box(k)).unwrap());
                }
                sum
            })
        });

        maps::each_map(&mut Peers {
            group: &mut group,
            keys: &keys,
            order: &order,
        });
    }
    group.finish();
}

/// Runs the lookup loop on every peer map, built with the same keys.
struct Peers<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    keys: &'a [u64],
    order: &'a [u64],
}

/// Sum of the values of `order`'s keys, which must all be present.
#[inline]
fn lookups(ops: &impl Ops<u64>, order: &[u64]) -> u64 {
    let mut sum = 0u64;
    for k in order {
        sum = sum.wrapping_add(ops.get(black_box(k)).unwrap());
    }
    sum
}

impl Visit<u64> for Peers<'_, '_> {
    fn visit<M: Map<u64>>(&mut self) {
        let map = M::with_capacity(0);
        for &k in self.keys {
            map.per_op().insert(k, k);
        }
        let n = self.keys.len();
        // epochmap's pinned form is the `epochmap` bench above.
        if M::NAME != "epochmap" {
            self.group
                .bench_with_input(BenchmarkId::new(M::NAME, n), self.order, |b, order| {
                    let ops = map.pinned();
                    let mut stream = Stream::new(order);
                    b.iter(|| lookups(&ops, stream.next_chunk()))
                });
        }
        if M::PINS && M::NAME != "flurry" {
            let id = BenchmarkId::new(format!("{}-pin-per-op", M::NAME), n);
            self.group.bench_with_input(id, self.order, |b, order| {
                let ops = map.per_op();
                let mut stream = Stream::new(order);
                b.iter(|| lookups(&ops, stream.next_chunk()))
            });
        }
    }
}

criterion_group!(benches, hot_read);
criterion_main!(benches);

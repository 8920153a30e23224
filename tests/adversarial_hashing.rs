//! Adversarial hashing and bad input.
//!
//! A hasher that sends every key to the same hash is the worst an attacker
//! who can choose keys could achieve against a predictable hasher: every key
//! lands in one probe region. The map must stay exact (only slower). The
//! default hasher is ahash's `RandomState`, seeded randomly per map, so an
//! outside party cannot compute colliding keys in the first place. Requests
//! that cannot be met fail with a clear message.

mod support;

use epochmap::{DefaultHashBuilder, HashMap};
use std::collections::BTreeMap;
use std::time::Instant;
use support::{scaled, Collide, Rng};

#[test]
fn every_key_colliding_still_gives_exact_results_for_ten_thousand_keys() {
    let n = scaled(10_000, 60) as u64;
    let start = Instant::now();
    let map: HashMap<u64, u64, Collide> = HashMap::with_hasher(Collide);
    let mut model = BTreeMap::new();
    for k in 0..n {
        assert_eq!(map.pin().insert(k, k * 3), None);
        model.insert(k, k * 3);
    }
    assert_eq!(map.len(), n as usize);
    let mut rng = Rng::new(77);
    for i in 0..n * 2 {
        let k = rng.below(n + n / 10);
        let m = map.pin();
        match rng.below(4) {
            0 => assert_eq!(m.remove(&k).copied(), model.remove(&k), "remove {k}"),
            1 => assert_eq!(m.insert(k, i).copied(), model.insert(k, i), "insert {k}"),
            2 => assert_eq!(
                m.update(&k, |v| v + 1).copied(),
                model.get_mut(&k).map(|v| {
                    *v += 1;
                    *v
                }),
                "update {k}"
            ),
            _ => assert_eq!(m.get(&k), model.get(&k), "get {k}"),
        }
    }
    let m = map.pin();
    for k in 0..n + n / 10 {
        assert_eq!(m.get(&k), model.get(&k), "final get {k}");
    }
    assert_eq!(map.len(), model.len());
    let mut all: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    all.sort_unstable();
    assert_eq!(all, model.into_iter().collect::<Vec<_>>());
    println!(
        "{n} colliding keys, {} mixed operations, exact; {:.2?}",
        n * 2,
        start.elapsed()
    );
}

#[test]
fn every_key_colliding_is_exact_under_concurrent_writers() {
    let per_thread = scaled(1_500, 20) as u64;
    let map: HashMap<u64, u64, Collide> = HashMap::with_tuning(2, 1, 1, Collide);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let map = &map;
            s.spawn(move || {
                for i in 0..per_thread {
                    let k = t * 1_000_000 + i;
                    map.pin().insert(k, k);
                    if i % 3 == 0 {
                        assert_eq!(map.pin().remove(&k), Some(&k));
                    }
                }
            });
        }
    });
    let m = map.pin();
    let expected = (0..3u64)
        .flat_map(|t| {
            (0..per_thread)
                .filter(|i| i % 3 != 0)
                .map(move |i| t * 1_000_000 + i)
        })
        .collect::<Vec<_>>();
    for k in &expected {
        assert_eq!(m.get(k), Some(k));
    }
    assert_eq!(map.len(), expected.len());
    assert_eq!(m.iter().count(), expected.len());
}

#[test]
fn the_default_hasher_is_ahash_seeded_randomly_per_map() {
    let a: HashMap<u64, u64> = HashMap::new();
    let b: HashMap<u64, u64> = HashMap::new();
    // The type: ahash's RandomState.
    let (ha, hb): (&ahash::RandomState, &DefaultHashBuilder) = (a.hasher(), b.hasher());
    // Random per map: the same keys hash differently in two maps (64 keys
    // agreeing by chance has probability 2^-4096).
    let differ = (0..64u64)
        .filter(|k| ha.hash_one(k) != hb.hash_one(k))
        .count();
    assert!(
        differ > 0,
        "two default maps hash every key alike: the seed is not random"
    );
}

#[test]
#[should_panic(expected = "epochmap: capacity overflow")]
fn a_capacity_that_cannot_exist_panics_with_a_clear_message() {
    let _ = HashMap::<u64, u64>::with_capacity(usize::MAX);
}

#[test]
fn an_impossible_reservation_is_an_error_not_a_panic() {
    let map: HashMap<u64, u64> = HashMap::new();
    assert!(map.pin().try_reserve(usize::MAX).is_err());
    map.pin().insert(1, 1);
    assert_eq!(
        map.pin().get(&1),
        Some(&1),
        "the map is unchanged and usable"
    );
}

#[test]
#[should_panic(expected = "does not come from crossbeam-epoch's default collector")]
fn a_guard_from_another_collector_is_rejected() {
    let collector = crossbeam_epoch::Collector::new();
    let handle = collector.register();
    let guard = handle.pin();
    let map: HashMap<u64, u64> = HashMap::new();
    map.insert(1, 1, &guard);
}

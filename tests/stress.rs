//! Multi-threaded stress tests (run in release: `cargo test --release`).
//! Each finishes in seconds on a 2-core machine.

use epochmap::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const THREADS: usize = 4;

fn tunings() -> Vec<(&'static str, HashMap<u64, u64>)> {
    vec![
        ("default", HashMap::new()),
        (
            "tiny-chunk-1",
            HashMap::with_tuning(2, 1, 1, ahash::RandomState::new()),
        ),
    ]
}

#[test]
fn disjoint_inserts_from_many_threads_give_an_exact_len() {
    for (name, mut map) in tunings() {
        let per = 50_000u64;
        thread::scope(|s| {
            for t in 0..THREADS as u64 {
                let map = &map;
                s.spawn(move || {
                    let m = map.pin();
                    for i in 0..per {
                        assert!(m.insert(t * per + i, i).is_none());
                    }
                });
            }
        });
        assert_eq!(map.len(), THREADS * per as usize, "{name}");
        let audit = map.audit();
        assert!(audit.is_sound(), "{name}: {audit:?}");
        assert_eq!(audit.entries, THREADS * per as usize, "{name}");
        let m = map.pin();
        for k in 0..THREADS as u64 * per {
            assert_eq!(m.get(&k), Some(&(k % per)), "{name}: key {k}");
        }
        assert_eq!(m.iter().count(), THREADS * per as usize, "{name}");
    }
}

#[test]
fn shared_key_updates_add_up_exactly() {
    for (name, mut map) in tunings() {
        let keys = 8u64;
        let per = 20_000u64;
        {
            let m = map.pin();
            for k in 0..keys {
                m.insert(k, 0);
            }
        }
        thread::scope(|s| {
            for t in 0..THREADS as u64 {
                let map = &map;
                s.spawn(move || {
                    for i in 0..per {
                        let k = (i + t) % keys;
                        if i % 2 == 0 {
                            assert!(map.pin().update(&k, |v| v + 1).is_some());
                        } else {
                            // Optimistic read-modify-write through compare_exchange.
                            let m = map.pin();
                            let mut cur = *m.get(&k).unwrap();
                            while let Err(e) = m.compare_exchange(&k, &cur, cur + 1) {
                                cur = *e.current.unwrap();
                            }
                        }
                        // Churn other keys so that resizes happen during the updates.
                        let m = map.pin();
                        let other = 1_000 + t * per + i;
                        m.insert(other, i);
                        if i % 3 != 0 {
                            let _ = m.remove(&other);
                        }
                    }
                });
            }
        });
        let audit = map.audit();
        assert!(audit.is_sound(), "{name}: {audit:?}");
        assert_eq!(audit.entries, map.len(), "{name}");
        let m = map.pin();
        let total: u64 = (0..keys).map(|k| *m.get(&k).unwrap()).sum();
        assert_eq!(total, THREADS as u64 * per, "{name}");
    }
}

#[test]
fn readers_never_miss_a_present_key_during_growth_to_a_million_slots() {
    let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::new());
    let present = 2_000u64;
    {
        let m = map.pin();
        for k in 0..present {
            m.insert(k, k * 2);
        }
    }
    let start_cap = map.capacity();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let mut handles = Vec::new();
    for r in 0..THREADS - 1 {
        let (map, done, reads, barrier) =
            (map.clone(), done.clone(), reads.clone(), barrier.clone());
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut k = r as u64;
            let mut n = 0usize;
            while !done.load(Ordering::Relaxed) {
                let m = map.pin();
                for _ in 0..256 {
                    k = (k + 7) % present;
                    assert_eq!(
                        m.get(&k),
                        Some(&(k * 2)),
                        "present key {k} missed during growth"
                    );
                    n += 1;
                }
            }
            reads.fetch_add(n, Ordering::Relaxed);
        }));
    }
    barrier.wait();
    let m = map.pin();
    let mut next = present;
    // Grow until a table of 2^18 buckets (1,835,008 slots) is the root or linked as
    // the resize target: `capacity` is the target's, and 800,000 entries need
    // 2^18 buckets under the 5/8 load limit.
    while map.capacity() < 800_000 {
        for _ in 0..1024 {
            m.insert(next, next * 2);
            next += 1;
        }
    }
    drop(m);
    done.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert!(map.capacity() > start_cap * 100);
    assert_eq!(map.len() as u64, next);
    let mut map = map;
    let audit = Arc::get_mut(&mut map)
        .expect("the readers were joined")
        .audit();
    assert!(audit.is_sound(), "{audit:?}");
    assert_eq!(audit.entries as u64, next);
}

//! Nothing lost: after concurrent work and a join, the map holds exactly what
//! a sequential model says.
//!
//! Each writer thread owns the keys `k` with `k % WRITERS == t`, so for those
//! keys its own model is the truth, even while the others write theirs: every
//! result it gets back is checked against that model as it goes. Values
//! encode their key (`value >> 32 == key`), so a value read under the wrong
//! key, or one that was never inserted, is caught wherever it shows up. A
//! reader iterates and looks up keys the whole time. Shared counter keys are
//! incremented by every thread with `update` and with `compare_exchange`
//! retry loops; their totals must add up exactly.
//!
//! Workloads alternate growth and shrink phases, on tiny tables migrating one
//! bucket at a time and on default tables.

mod support;

use epochmap::HashMap;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use support::{scaled, seeded, Rng, Tables};

const WRITERS: u64 = 3;
/// Counter keys, outside every writer's range.
const COUNTERS: [u64; 2] = [u64::MAX - 1, u64::MAX - 2];

/// The value of version `version` of `key`: the key is in the high half.
fn value(key: u64, version: u64) -> u64 {
    (key << 32) | (version & 0xffff_ffff)
}

fn key_of(value: u64) -> u64 {
    value >> 32
}

type Map = HashMap<u64, u64, ahash::RandomState>;

struct Figures {
    ops: u64,
    increments: u64,
    reads_checked: u64,
}

fn writer(map: &Map, t: u64, keys: u64, ops: u64, seed: u64) -> (BTreeMap<u64, u64>, u64) {
    let mut rng = Rng::new(seed ^ t);
    let mut model: BTreeMap<u64, u64> = BTreeMap::new();
    let mut increments = 0;
    let owned = keys / WRITERS;
    for i in 0..ops {
        // Phases of 1/8 of the run: growth (mostly inserts), then shrink.
        let grow = (i * 8 / ops) % 2 == 0;
        let k = rng.below(owned) * WRITERS + t;
        let version = i + 1;
        let m = map.pin();
        let before = model.get(&k).copied();
        match rng.below(12) {
            0..=3 if grow => {
                assert_eq!(
                    m.insert(k, value(k, version)).copied(),
                    before,
                    "insert {k}"
                );
                model.insert(k, value(k, version));
            }
            0..=4 => {
                assert_eq!(m.remove(&k).copied(), before, "remove {k}");
                model.remove(&k);
            }
            5 => match m.try_insert(k, value(k, version)) {
                Ok(v) => {
                    assert_eq!((before, *v), (None, value(k, version)), "try_insert {k}");
                    model.insert(k, *v);
                }
                Err(e) => assert_eq!(Some(*e.current), before, "try_insert {k}"),
            },
            6 => {
                let got = *m.get_or_insert_with(k, || value(k, version));
                assert_eq!(
                    got,
                    before.unwrap_or(value(k, version)),
                    "get_or_insert_with {k}"
                );
                model.insert(k, got);
            }
            7 => {
                let got = m.update(&k, |v| value(key_of(*v), *v + 1)).copied();
                assert_eq!(got, before.map(|v| value(k, v + 1)), "update {k}");
                if let Some(v) = got {
                    model.insert(k, v);
                }
            }
            8 => {
                let guess = if rng.chance(70) {
                    before.unwrap_or(0)
                } else {
                    value(k, 0)
                };
                match m.compare_exchange(&k, &guess, value(k, version)) {
                    Ok(prev) => {
                        assert_eq!(Some(*prev), before, "compare_exchange {k}");
                        model.insert(k, value(k, version));
                    }
                    Err(e) => {
                        assert_ne!(
                            before,
                            Some(guess),
                            "compare_exchange {k} failed on a match"
                        );
                        assert_eq!(e.current.copied(), before, "compare_exchange {k}");
                    }
                }
            }
            9 => {
                let c = COUNTERS[rng.below(2) as usize];
                if rng.chance(50) {
                    m.update(&c, |n| n + 1).expect("counters are never removed");
                } else {
                    let mut seen = *m.get(&c).expect("counters are never removed");
                    while let Err(e) = m.compare_exchange(&c, &seen, seen + 1) {
                        seen = *e.current.expect("counters are never removed");
                    }
                }
                increments += 1;
            }
            _ => assert_eq!(m.get(&k).copied(), before, "get {k}"),
        }
    }
    (model, increments)
}

/// Reads everything it can while the writers run: every value must belong
/// to the key it was found under and must be one a writer could have written.
/// Its last pass, an iteration, starts after the writers are done, so it
/// checks the whole map even if it was never scheduled while they ran.
fn reader(map: &Map, keys: u64, stop: &AtomicBool, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut checked = 0;
    let plausible =
        |k: u64, v: u64| COUNTERS.contains(&k) || (key_of(v) == k && v & 0xffff_ffff != 0);
    loop {
        let last = stop.load(Ordering::Acquire);
        let m = map.pin();
        if last || rng.chance(5) {
            for (k, v) in m.iter() {
                assert!(plausible(*k, *v), "iteration yielded {k} => {v:#x}");
                checked += 1;
            }
        } else {
            for _ in 0..64 {
                let k = rng.below(keys);
                if let Some(v) = m.get(&k) {
                    assert!(plausible(k, *v), "get({k}) = {v:#x}");
                    checked += 1;
                }
            }
        }
        if last {
            return checked;
        }
    }
}

fn check_nothing_lost(tables: Tables, keys: u64, ops_per_writer: u64, seed: u64) -> Figures {
    let map: Map = tables.map(seeded(seed));
    for c in COUNTERS {
        map.pin().insert(c, 0);
    }
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let results: Vec<(BTreeMap<u64, u64>, u64)> = std::thread::scope(|s| {
        let r = s.spawn(|| reads.store(reader(&map, keys, &stop, seed), Ordering::Relaxed));
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let map = &map;
                s.spawn(move || writer(map, t, keys, ops_per_writer, seed))
            })
            .collect();
        let results = writers
            .into_iter()
            .map(|w| w.join().expect("writer failed"))
            .collect();
        // Release: the reader's last pass, which reads it, sees the writers' work.
        stop.store(true, Ordering::Release);
        r.join().expect("reader failed");
        results
    });

    let mut model = BTreeMap::new();
    let mut increments = 0;
    for (part, inc) in results {
        model.extend(part);
        increments += inc;
    }
    let m = map.pin();
    // Every key whose last operation left it present is readable with its value,
    // and every other key is absent.
    for k in 0..keys {
        assert_eq!(
            m.get(&k).copied(),
            model.get(&k).copied(),
            "key {k} after join ({tables:?})"
        );
    }
    // The counters add up exactly: no increment lost, none applied twice.
    let total: u64 = COUNTERS
        .iter()
        .map(|c| *m.get(c).expect("counter present"))
        .sum();
    assert_eq!(total, increments, "counter increments ({tables:?})");
    // `len` is exact once writes are done.
    assert_eq!(map.len(), model.len() + COUNTERS.len(), "len ({tables:?})");
    // Iteration yields each live key exactly once, with its value.
    let mut seen = HashSet::new();
    for (k, v) in m.iter() {
        assert!(seen.insert(*k), "iteration yielded {k} twice ({tables:?})");
        if !COUNTERS.contains(k) {
            assert_eq!(model.get(k), Some(v), "iteration value of {k} ({tables:?})");
        }
    }
    assert_eq!(
        seen.len(),
        model.len() + COUNTERS.len(),
        "iteration count ({tables:?})"
    );
    let reads_checked = reads.load(Ordering::Relaxed);
    assert!(
        reads_checked > 0,
        "the reader checked no value ({tables:?})"
    );
    Figures {
        ops: ops_per_writer * WRITERS,
        increments,
        reads_checked,
    }
}

fn run(tables: Tables, keys: u64, ops: u64, rounds: u64) {
    let start = Instant::now();
    let (mut total_ops, mut incs, mut reads) = (0, 0, 0);
    for round in 0..rounds {
        let f = check_nothing_lost(tables, keys, ops, 0xc0ffee ^ round);
        total_ops += f.ops;
        incs += f.increments;
        reads += f.reads_checked;
    }
    println!(
        "{tables:?}: {rounds} rounds, {WRITERS} writers + 1 reader, {keys} keys, {total_ops} writer ops, \
         {incs} counter increments, {reads} reads checked, {:.2?}",
        start.elapsed()
    );
}

#[test]
fn nothing_is_lost_on_tiny_tables_with_chunk_size_one() {
    run(
        Tables::TinyChunkOne,
        scaled(600, 30) as u64,
        scaled(60_000, 150) as u64,
        scaled(4, 1) as u64,
    );
}

#[test]
fn nothing_is_lost_on_default_tables() {
    run(
        Tables::Default,
        scaled(6_000, 30) as u64,
        scaled(150_000, 150) as u64,
        scaled(3, 1) as u64,
    );
}

#[test]
#[ignore = "long form: cargo test --release --test nothing_lost -- --ignored"]
fn long_form_nothing_is_lost() {
    run(Tables::TinyChunkOne, 2_000, 2_000_000, 10);
    run(Tables::Default, 60_000, 3_000_000, 10);
}

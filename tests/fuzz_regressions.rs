//! Crashes found by the fuzz targets in `fuzz/`, reduced to plain tests.
//!
//! Each test names the guarantee it checks and the target and input that
//! found it (`cargo +nightly fuzz fmt <target> <file>` prints an input).

use epochmap::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Found by `ops`: `Capacity(6935)`, `BeginResize(143)`, `Reserve(62834)`.
/// A shrink was in flight when `reserve` ran; `reserve` only helped the
/// shrink along and returned, leaving room for 12 entries instead of 370.
#[test]
fn reserve_makes_room_even_while_a_shrink_is_in_flight() {
    let map: HashMap<u16, u32> =
        HashMap::with_capacity_and_hasher(6935, ahash::RandomState::with_seeds(1, 2, 3, 4));
    let m = map.pin();
    map.begin_resize(1, m.guard());
    m.reserve(370);
    assert!(
        m.capacity() >= 370,
        "capacity {} after reserve(370)",
        m.capacity()
    );
}

/// The same as above with only the stable API: removes shrink the table,
/// and a `reserve` right after the shrink starts does not grow it.
#[test]
fn reserve_right_after_removes_start_a_shrink_makes_room() {
    let map: HashMap<u32, u32> = HashMap::new();
    let m = map.pin();
    for k in 0..4096 {
        m.insert(k, k);
    }
    let mut k = 0;
    let before = m.capacity();
    while m.capacity() == before {
        assert!(m.remove(&k).is_some());
        k += 1;
    }
    m.reserve(4096);
    assert!(
        m.capacity() >= m.len() + 4096,
        "capacity {} after reserve(4096) with {} entries",
        m.capacity(),
        m.len()
    );
}

/// The hasher of the fuzz targets' `HasherChoice::Seeded(byte)`
/// (`fuzz/src/hasher.rs`): ahash with fixed seeds, fed through `write` only,
/// so that a test hashes keys exactly as the crashing input did.
#[derive(Clone)]
struct FuzzSeeded(ahash::RandomState);

fn fuzz_seeded(byte: u8) -> FuzzSeeded {
    FuzzSeeded(ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3 ^ u64::from(byte),
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ))
}

struct FuzzSeededHasher(ahash::AHasher);

impl BuildHasher for FuzzSeeded {
    type Hasher = FuzzSeededHasher;
    fn build_hasher(&self) -> FuzzSeededHasher {
        FuzzSeededHasher(self.0.build_hasher())
    }
}

impl Hasher for FuzzSeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes)
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// Runs `scenario` on its own thread and fails if it has not returned within
/// `secs` seconds: a hang must fail the test, not stall the run. (The stuck
/// thread is left spinning; the test binary exits when the tests are done.)
fn finishes_within(secs: u64, scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("still running after {secs} s"),
        // The scenario panicked: its own message is already printed.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the scenario panicked"),
    }
}

/// Found by `ops` (a 10 s timeout): `Seeded(77)`, `Capacity(65535)` (1023),
/// `Insert(77, _)`, `RemoveIf(177, Always)`, `BeginResize(77)` (1 bucket,
/// raised to the 2-bucket minimum: one entry in 14 slots), then
/// `InsertRange { start: 109, count: 91 }`. An insert into the target of a
/// resize in flight waits for room only when it would land outside its home
/// bucket (`must_wait_for_room`), so inserts into their home buckets fill the
/// 2-bucket target to the last slot while the shrink into it is still in
/// flight. The migration then finds no free slot for the old table's entry
/// and `copy_into` spins forever, waiting for a "transient" full table.
#[test]
fn inserts_during_a_shrink_to_a_tiny_table_do_not_hang_the_migration() {
    finishes_within(10, || {
        let map: HashMap<u16, u32, FuzzSeeded> =
            HashMap::with_capacity_and_hasher(1023, fuzz_seeded(77));
        let m = map.pin();
        m.insert(77, 0);
        map.begin_resize(1, m.guard());
        for k in 109..200 {
            m.insert(k, 1);
        }
        assert_eq!(m.len(), 92);
    });
}

/// Two threads meet before each of `rounds` rounds and then run `a(round)`
/// and `b(round)` at the same time.
fn race(rounds: u32, a: impl Fn(u32) + Sync, b: impl Fn(u32) + Sync) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let arrived = [AtomicU32::new(0), AtomicU32::new(0)];
    let meet = |me: usize, round: u32| {
        arrived[me].store(round + 1, Ordering::Release);
        let mut spins = 0u32;
        while arrived[1 - me].load(Ordering::Acquire) < round + 1 {
            spins += 1;
            if spins < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            for r in 0..rounds {
                meet(0, r);
                a(r);
            }
        });
        s.spawn(|| {
            for r in 0..rounds {
                meet(1, r);
                b(r);
            }
        });
    });
}

/// After `race`: keys `0..rounds` are each present once, and `len` counts
/// them (it is exact when no write is in flight).
fn every_key_once(map: &HashMap<u32, u32>, rounds: u32) {
    let m = map.pin();
    let missing: Vec<u32> = (0..rounds).filter(|k| m.get(k).is_none()).collect();
    assert!(
        missing.is_empty(),
        "get misses {} keys: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(m.iter().count(), rounds as usize, "iteration");
    assert_eq!(m.len(), rounds as usize, "len with no write in flight");
}

/// Found by `concurrent` (shared keys, `LowBits(213)`, `with_tuning(2, 1, 1)`):
/// thread 0 ran `get_or_insert_with(0, || 186)` while thread 1 ran
/// `insert(0, 0)`, then thread 0 inserted key 5. After both threads joined,
/// `len()` was 3 while iteration yielded 2 entries, keys 0 and 5, once each.
/// Here each round races the pair on a fresh key of one map.
#[test]
fn len_is_exact_after_get_or_insert_with_races_insert_on_a_new_key() {
    let map: HashMap<u32, u32> = HashMap::new();
    let rounds = 20_000;
    race(
        rounds,
        |k| {
            map.pin().get_or_insert_with(k, || 1);
        },
        |k| {
            map.pin().insert(k, 2);
        },
    );
    every_key_once(&map, rounds);
}

/// The same accounting with two racing `insert`s of one new key: exactly one
/// of them adds the entry, so `len` must grow by one per round.
#[test]
fn len_is_exact_after_two_inserts_race_on_a_new_key() {
    let map: HashMap<u32, u32> = HashMap::new();
    let rounds = 20_000;
    race(
        rounds,
        |k| {
            map.pin().insert(k, 1);
        },
        |k| {
            map.pin().insert(k, 2);
        },
    );
    every_key_once(&map, rounds);
}

/// Found by `concurrent` (CI smoke, a 10 s timeout): `Seeded(1)`,
/// `Capacity(59908)` (516), disjoint keys; thread 0 runs
/// `InsertRange { start: 245, count: 213 }` (21 keys) while thread 1 runs
/// `BeginResize(1)`. The shrink sized its 2-bucket target from `len` read
/// before the inserts landed in the old table's unsealed buckets; the target
/// could not hold them and the migration spun forever on a full table. A
/// target that overflows now starts a resize of its own (design.md,
/// "Overflowing targets").
#[test]
fn a_shrink_overtaken_by_inserts_grows_on_instead_of_hanging() {
    finishes_within(20, || {
        for round in 0..2_000u32 {
            let map: HashMap<u16, u32, FuzzSeeded> =
                HashMap::with_capacity_and_hasher(516, fuzz_seeded(1));
            let ready = std::sync::atomic::AtomicU32::new(0);
            let meet = || {
                use std::sync::atomic::Ordering::{Acquire, Release};
                ready.fetch_add(1, Release);
                while ready.load(Acquire) < 2 {
                    std::hint::spin_loop();
                }
            };
            std::thread::scope(|s| {
                s.spawn(|| {
                    meet();
                    let m = map.pin();
                    for i in 5u16..26 {
                        m.insert(i * 3, 44);
                    }
                });
                s.spawn(|| {
                    meet();
                    // Vary the start a little so the shrink lands at every point of
                    // the insert run.
                    for _ in 0..round % 64 {
                        std::hint::spin_loop();
                    }
                    let m = map.pin();
                    map.begin_resize(2, m.guard());
                });
            });
            let m = map.pin();
            for i in 5u16..26 {
                assert_eq!(m.get(&(i * 3)), Some(&44), "round {round}: key {}", i * 3);
            }
            assert_eq!(m.len(), 21, "round {round}");
            assert_eq!(m.iter().count(), 21, "round {round}");
        }
    });
}

/// Every key hashes to 0: all land in bucket 0, so every insert after the
/// first seven spills and checks the load.
#[derive(Default)]
struct ZeroHasher;

impl Hasher for ZeroHasher {
    fn write(&mut self, _: &[u8]) {}
    fn finish(&self) -> u64 {
        0
    }
}

type ZeroMap = HashMap<u32, u32, std::hash::BuildHasherDefault<ZeroHasher>>;

/// Found while writing the `capacity` checks of the `ops` target: a table
/// filled to exactly its capacity (then 49 = 7/8 of 8 buckets × 7 slots; now
/// 35, with the load limit at 5/8) started
/// a resize, because the load check fired when the used slots *reached* the
/// limit. `with_capacity(n)` promises `n` entries without a resize.
#[test]
fn with_capacity_n_holds_n_entries_without_a_resize() {
    for n in [8, 35, 70, 140] {
        let map = ZeroMap::with_capacity_and_hasher(n, Default::default());
        assert_eq!(map.capacity(), n);
        let m = map.pin();
        for k in 0..n as u32 {
            m.insert(k, k);
        }
        let s = map.stats();
        assert_eq!(
            s.resizes_started, 0,
            "with_capacity({n}), {n} inserts: {s:?}"
        );
    }
}

/// The same edge through `shrink_to_fit`: 35 entries rebuild into the
/// 8-bucket table that holds exactly 35, with no grow left in flight.
#[test]
fn shrink_to_fit_to_an_exactly_full_table_leaves_no_resize_in_flight() {
    let mut map = ZeroMap::with_capacity_and_hasher(0, Default::default());
    for k in 0..35 {
        map.pin().insert(k, k);
    }
    map.shrink_to_fit();
    let s = map.stats();
    assert!(s.migration.is_none(), "{s:?}");
    assert_eq!(map.capacity(), 35, "{s:?}");
    assert_eq!(map.len(), 35);
}

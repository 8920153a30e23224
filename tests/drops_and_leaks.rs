//! Drops and leaks: every key and value the map ever received is dropped
//! exactly once, and once the map is gone and the epoch has moved on, the
//! process holds exactly the bytes it held before.
//!
//! Keys and values are [`Tracked`]: each has an id, and its drop marks the
//! id in a bitmap, so a double drop is seen. A counting global allocator
//! gives the bytes allocated. The byte count is process-wide, so this binary
//! holds a single test that runs its scenarios one after the other.
//!
//! This is the binary `scripts/sanitize.sh` runs under Miri (scaled down with
//! `cfg(miri)`) and under AddressSanitizer/LeakSanitizer.

mod support;

use epochmap::{HashMap, HashSet};
use std::time::{Duration, Instant};
use support::alloc::{self, Counting};
use support::ledger::{Ledger, Tracked};
use support::{flush_until, scaled, seeded, Rng, Tables, ALL_TABLES};

#[global_allocator]
static ALLOC: Counting = Counting;

type Obj = Tracked<u64>;
type Map = HashMap<Obj, Obj, ahash::RandomState>;

/// Every writing operation of the map, including the ones that hand a value
/// back to the caller (`try_insert`, `compare_exchange`) or drop a loser's
/// value (`get_or_insert_with`), plus clones, clears and forced resizes.
fn workload(map: &Map, ledger: &'static Ledger, t: u64, keys: u64, ops: u64) {
    let mut rng = Rng::new(0xd20b ^ t);
    let obj = |p: u64| ledger.track(p);
    // `retain`, `clone` and `clear` walk the whole map, so chance keeps them
    // rare; each also runs once per thread at a fixed operation, so that the
    // short Miri runs (40 and 60 operations) cover them too.
    for i in 0..ops {
        let k = rng.below(keys);
        let m = map.pin();
        match rng.below(13) {
            _ if i == ops / 4 => m.retain(|k, _| k.payload % 3 != 0),
            _ if i == ops / 2 => drop(map.clone()),
            _ if i == ops * 3 / 4 => m.clear(),
            0..=2 => {
                m.insert(obj(k), obj(i));
            }
            3 => {
                let _ = m.remove(&obj(k));
            }
            4 => {
                if let Err(e) = m.try_insert(obj(k), obj(i)) {
                    drop(e.not_inserted);
                }
            }
            5 => {
                m.get_or_insert_with(obj(k), || obj(i));
            }
            6 => {
                let _ = m.update(&obj(k), |v| obj(v.payload + 1));
            }
            7 => {
                let expected = obj(rng.below(ops));
                if let Err(e) = m.compare_exchange(&obj(k), &expected, obj(i)) {
                    drop(e.new);
                }
            }
            8 => {
                let _ = m.remove_if(&obj(k), |_, v| v.payload % 2 == 0);
            }
            // From the buckets the entries need to 8 times as many (`begin_resize`
            // would raise a smaller target to what they need).
            9 => map.begin_resize(
                (map.len() / 3).next_power_of_two().max(4) << rng.below(3),
                m.guard(),
            ),
            10 if rng.chance(5) => m.retain(|k, _| k.payload % 3 != 0),
            11 if rng.chance(2) => drop(map.clone()),
            12 if rng.chance(1) => m.clear(),
            _ => {
                let _ = m.get(&obj(k));
            }
        }
    }
}

/// Pin-and-flush rounds over which the floor of the byte count is taken.
const FLOOR_ROUNDS: usize = scaled(256, 16);

/// Runs a scenario between two byte counts and checks the ledger.
fn scenario(name: &str, ledger: &'static Ledger, body: impl FnOnce()) {
    let baseline = alloc::floor(FLOOR_ROUNDS);
    let start = Instant::now();
    body();
    let mut bytes = usize::MAX;
    let settled = flush_until(Duration::from_secs(20), || {
        ledger.live() == 0 && {
            bytes = alloc::floor(FLOOR_ROUNDS);
            // Natively the floor over 256 rounds is exact. Under Miri the 16-round
            // floor of the baseline can still hold one more of crossbeam-epoch's own
            // sealed-bag queue nodes (152 bytes) than the later one: measured with
            // a per-size count of live allocations, 4 such nodes before the first
            // scenario and 3 after it, every other size equal. Memory the map
            // leaked would raise the count above the baseline either way.
            if cfg!(miri) {
                bytes <= baseline
            } else {
                bytes == baseline
            }
        }
    });
    let live = ledger.live();
    assert_eq!(ledger.double_drops(), 0, "{name}: objects dropped twice");
    assert_eq!(
        live,
        0,
        "{name}: {live} of {} objects never dropped",
        ledger.created()
    );
    assert!(
        settled,
        "{name}: {bytes} bytes allocated after the epoch flush, {baseline} before"
    );
    println!(
        "{name}: {} objects created, all dropped exactly once; bytes back to baseline ({baseline}); {:.2?}",
        ledger.created(),
        start.elapsed()
    );
}

#[test]
fn every_object_is_dropped_once_and_memory_returns_to_baseline() {
    // First use of the epoch machinery, of thread spawning, of a blocking
    // channel receive and of ahash's random seeds allocates per-process and per-thread state that lives
    // until exit (the collector, this thread's handle): warm them up first.
    let (tx, rx) = std::sync::mpsc::channel();
    let warm = std::thread::spawn(move || {
        drop(crossbeam_epoch::pin());
        std::thread::sleep(Duration::from_millis(10));
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    warm.join().unwrap();
    // ahash seeds `RandomState::new()` from a process-wide source created on first use.
    let _ = ahash::RandomState::new();
    flush_until(Duration::from_millis(50), || false);

    let threads = scaled(3, 2) as u64;
    static LEDGERS: [Ledger; 2] = [Ledger::new(), Ledger::new()];
    for (tables, ledger) in ALL_TABLES.into_iter().zip(&LEDGERS) {
        let (keys, ops) = match tables {
            Tables::TinyChunkOne => (scaled(64, 12) as u64, scaled(40_000, 40) as u64),
            Tables::Default => (scaled(2_000, 12) as u64, scaled(60_000, 40) as u64),
        };
        scenario(
            &format!("{tables:?}: {threads} threads x {ops} ops on {keys} keys"),
            ledger,
            || {
                let map: Map = tables.map(seeded(1));
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let map = &map;
                        s.spawn(move || workload(map, ledger, t, keys, ops));
                    }
                });
                drop(map);
            },
        );
    }

    // A guard pinned on another thread before the map is dropped delays the
    // freeing of the map's retired entries, but does not lose them.
    static HELD: Ledger = Ledger::new();
    scenario(
        "map dropped while another thread holds a guard",
        &HELD,
        || {
            let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let holder = std::thread::spawn(move || {
                let guard = crossbeam_epoch::pin();
                pinned_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                drop(guard);
            });
            pinned_rx.recv().unwrap();
            let map: Map = Tables::TinyChunkOne.map(seeded(2));
            workload(&map, &HELD, 9, 16, scaled(5_000, 60) as u64);
            drop(map);
            flush_until(Duration::from_millis(20), || false);
            assert!(
                HELD.live() > 0,
                "retired entries were freed while a guard pinned before them lived"
            );
            release_tx.send(()).unwrap();
            holder.join().unwrap();
        },
    );

    // Sets share the table; collect from an iterator; extend.
    static SET: Ledger = Ledger::new();
    scenario("HashSet, FromIterator and Extend", &SET, || {
        let set: HashSet<Obj, ahash::RandomState> = HashSet::with_hasher(seeded(3));
        let n = scaled(5_000, 40) as u64;
        for i in 0..n {
            let s = set.pin();
            s.insert(SET.track(i % 97));
            if i % 3 == 0 {
                let _ = s.remove(&SET.track(i % 89));
            }
        }
        drop(set);
        let mut map: Map = (0..n).map(|i| (SET.track(i % 50), SET.track(i))).collect();
        map.extend((0..n).map(|i| (SET.track(i % 70), SET.track(i))));
        drop(map);
    });
}

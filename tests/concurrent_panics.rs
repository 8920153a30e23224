//! Panics in user code on several threads at once, while the table resizes.
//!
//! `tests/panic_safety.rs` arms one panic site at a time on one thread, which
//! reaches every call site but never a panic racing another thread's write
//! (a copier unwinding while another copier commits the same entry and a
//! third removes it, say). Here four threads run a mix of every write on a
//! tiny table that grows and shrinks all the time (two buckets, one-bucket
//! migration chunks, a shrink check on every remove), and every `Hash` and
//! `Eq` of a key, and every closure the map is given, panics at random on
//! every thread. Each operation runs under `catch_unwind`.
//!
//! After the threads are joined, with the panics disarmed:
//! - `HashMap::audit` finds no claim left behind, no node in two slots, no
//!   key in two entries and no slot under a wrong tag, and as many entries
//!   as `len`;
//! - iteration yields each key at most once and as many entries as `len`,
//!   and a `get` of every key agrees with it;
//! - the counters, keys that only `update` adds one to, hold their start
//!   value plus every update that returned, plus at most the updates that
//!   panicked (a panic may come after the write, from a migration the write
//!   helped);
//! - and once the map is dropped and the epoch flushed, every key and value
//!   ever made has been dropped exactly once: nothing leaked, nothing
//!   dropped twice (a ledger of ids, `support::ledger`).

mod support;

use epochmap::HashMap;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Barrier, Once};
use std::time::Duration;
use support::ledger::{Ledger, Tracked};
use support::{flush_until, scaled, seeded, Rng};

static LEDGER: Ledger = Ledger::new();
/// Whether injected panics may fire (off while the test checks the map).
static ARMED: AtomicBool = AtomicBool::new(false);
const INJECTED: &str = "injected panic (tests/concurrent_panics.rs)";

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// Panics with probability `per_mille` / 1000 if armed and not unwinding.
fn maybe_panic(per_mille: u64) {
    if !ARMED.load(Relaxed) || std::thread::panicking() {
        return;
    }
    let mut rng = Rng::new(RNG.get());
    let roll = rng.below(1000);
    RNG.set(rng.next());
    if roll < per_mille {
        std::panic::panic_any(INJECTED);
    }
}

/// A key whose `Hash` and `Eq` panic now and then; otherwise a `u64`.
struct PKey(Tracked<u64>);

impl PKey {
    fn new(k: u64) -> Self {
        PKey(LEDGER.track(k))
    }
}

impl Clone for PKey {
    fn clone(&self) -> Self {
        PKey::new(self.0.payload)
    }
}

impl Hash for PKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        maybe_panic(5);
        self.0.payload.hash(h);
    }
}

impl PartialEq for PKey {
    fn eq(&self, other: &Self) -> bool {
        maybe_panic(5);
        self.0.payload == other.0.payload
    }
}

impl Eq for PKey {}

type Value = Tracked<u64>;

/// ahash with a fixed seed; in `one_tag` mode every hash gets the same low
/// byte, so every key carries the same tag and every scan of a region
/// compares keys: far more `Eq` calls, so panics inside a claim's `resolve`
/// (between claim and commit, a copy's included) become common.
#[derive(Clone)]
struct Hashing {
    seeded: ahash::RandomState,
    one_tag: bool,
}

struct Hashed(ahash::AHasher, bool);

impl Hasher for Hashed {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0.write_u64(v);
    }
    fn finish(&self) -> u64 {
        let h = self.0.finish();
        if self.1 {
            h & !0xff
        } else {
            h
        }
    }
}

impl std::hash::BuildHasher for Hashing {
    type Hasher = Hashed;
    fn build_hasher(&self) -> Hashed {
        Hashed(self.seeded.build_hasher(), self.one_tag)
    }
}

type Map = HashMap<PKey, Value, Hashing>;

const THREADS: usize = 4;
/// Keys `0..COUNTERS` are only ever incremented; the rest churn.
const COUNTERS: u64 = 4;
const KEYS: u64 = 256;
/// Operations of thread 0 per phase. Phases alternate between filling (every
/// operation on keys up to `KEYS`) and draining (operations that would add a
/// key beyond the first eight churned ones remove it instead), so the table
/// grows and shrinks many times in a round.
const PHASE: usize = 2_000;
/// The phase, set by thread 0 from its count of operations.
static CLOCK: AtomicUsize = AtomicUsize::new(0);
const OPS: usize = scaled(40_000, 40);
const ROUNDS: usize = scaled(6, 1);

/// Silences the injected panics' messages; every other panic is reported.
fn quiet_injected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&INJECTED) {
                default(info);
            }
        }));
    });
}

/// Ignores an operation's result (references into the map, which `drop` would not drop).
fn discard<T>(_: T) {}

/// Runs `op`, counting an injected panic; any other panic fails the test.
fn attempt(panics: &mut u64, op: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(op)) {
        Ok(()) => true,
        Err(payload) => {
            assert_eq!(
                payload.downcast_ref::<&str>(),
                Some(&INJECTED),
                "a panic that was not injected"
            );
            *panics += 1;
            false
        }
    }
}

/// One thread's share of a round; returns its (updates that returned Some,
/// updates that panicked) per counter, and the number of panics caught.
fn work(map: &Map, t: usize, seed: u64) -> ([(u64, u64); COUNTERS as usize], u64) {
    let mut rng = Rng::new(seed);
    RNG.set(seed ^ 0x5bd1_e995);
    let mut counted = [(0u64, 0u64); COUNTERS as usize];
    let mut panics = 0;
    let mut m = map.pin();
    for i in 0..OPS {
        if i % 64 == 0 {
            m.repin();
        }
        if rng.chance(30) {
            let c = rng.below(COUNTERS);
            let add_one = |v: &Value| {
                maybe_panic(10);
                LEDGER.track(v.payload + 1)
            };
            let mut returned = false;
            if attempt(&mut panics, || {
                returned = m.update(&PKey::new(c), add_one).is_some();
            }) {
                assert!(returned, "counter {c} is never removed");
                counted[c as usize].0 += 1;
            } else {
                counted[c as usize].1 += 1;
            }
            continue;
        }
        if t == 0 && i % PHASE == 0 {
            CLOCK.store(i / PHASE, Relaxed);
        }
        let draining = CLOCK.load(Relaxed) % 2 == 1;
        let k = COUNTERS + rng.below(KEYS - COUNTERS);
        let v = rng.next() % 1000;
        let mut op = rng.below(12);
        if draining && k >= COUNTERS + 8 && op != 10 {
            op = 4; // a remove: the drain empties all but eight keys
        }
        attempt(&mut panics, || match op {
            0 | 1 => discard(m.insert(PKey::new(k), LEDGER.track(v))),
            2 => {
                if let Err(e) = m.try_insert(PKey::new(k), LEDGER.track(v)) {
                    drop(e.not_inserted);
                }
            }
            3 => {
                m.get_or_insert_with(PKey::new(k), || {
                    maybe_panic(10);
                    LEDGER.track(v)
                });
            }
            4 | 5 => discard(m.remove(&PKey::new(k))),
            6 => discard(m.remove_if(&PKey::new(k), |_, x| {
                maybe_panic(10);
                x.payload % 2 == 0
            })),
            7 => discard(m.update(&PKey::new(k), |x| {
                maybe_panic(10);
                LEDGER.track(x.payload + 1)
            })),
            8 => {
                if let Some(cur) = m.get(&PKey::new(k)) {
                    let cur = LEDGER.track(cur.payload);
                    if let Err(e) = m.compare_exchange(&PKey::new(k), &cur, LEDGER.track(v)) {
                        drop(e.new);
                    }
                }
            }
            9 => {
                m.update_or_insert_with(
                    PKey::new(k),
                    |x| {
                        maybe_panic(10);
                        LEDGER.track(x.payload + 1)
                    },
                    || LEDGER.track(v),
                );
            }
            10 => {
                if let Some(v) = m.get(&PKey::new(k)) {
                    assert!(v.payload < 1_000_000, "a value read after its drop");
                }
            }
            _ => {
                if rng.chance(2) {
                    // Keeps the counters and about half of the rest.
                    m.retain(|k, v| {
                        maybe_panic(2);
                        k.0.payload < COUNTERS || v.payload % 3 != 0
                    });
                } else {
                    discard(m.remove(&PKey::new(k)));
                }
            }
        });
    }
    (counted, panics)
}

#[test]
fn panics_racing_writes_and_resizes_lose_nothing_and_drop_everything_once() {
    quiet_injected_panics();
    let mut panics_total = 0;
    let mut resizes = 0;
    for round in 0..ROUNDS {
        let created_before = LEDGER.created();
        let dropped_before = LEDGER.dropped();
        let hashing = Hashing {
            seeded: seeded(round as u64),
            one_tag: round % 2 == 0,
        };
        let mut map: Map = HashMap::with_tuning(2, 1, 1, hashing).check_shrink_on_every_remove();
        {
            let m = map.pin();
            for c in 0..COUNTERS {
                assert!(m.insert(PKey::new(c), LEDGER.track(0)).is_none());
            }
        }
        CLOCK.store(0, Relaxed);
        let barrier = Barrier::new(THREADS);
        ARMED.store(true, Relaxed);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (map, barrier) = (&map, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        work(map, t, (round * THREADS + t) as u64 + 1)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        ARMED.store(false, Relaxed);
        resizes += map.stats().resizes_started;
        let audit = map.audit();
        assert!(audit.is_sound(), "round {round}: {audit:?}");
        assert_eq!(
            audit.entries,
            map.len(),
            "round {round}: len against {audit:?}"
        );

        let m = map.pin();
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in m.iter() {
            assert!(
                seen.insert(k.0.payload),
                "round {round}: key {} yielded twice",
                k.0.payload
            );
        }
        assert_eq!(seen.len(), m.len(), "round {round}: len against iteration");
        for k in 0..KEYS {
            assert_eq!(
                m.get(&PKey::new(k)).is_some(),
                seen.contains(&k),
                "round {round}: get of key {k} against iteration"
            );
        }
        for c in 0..COUNTERS {
            let (done, unknown) = results.iter().fold((0, 0), |(d, u), (counted, _)| {
                (d + counted[c as usize].0, u + counted[c as usize].1)
            });
            let value = m
                .get(&PKey::new(c))
                .expect("counters are never removed")
                .payload;
            assert!(
                (done..=done + unknown).contains(&value),
                "round {round}: counter {c} is {value}, expected {done} updates that returned \
                 plus at most {unknown} that panicked"
            );
        }
        panics_total += results.iter().map(|r| r.1).sum::<u64>();
        drop(m);
        drop(map);
        let created = LEDGER.created() - created_before;
        let settled = flush_until(Duration::from_secs(20), || {
            LEDGER.dropped() - dropped_before == created
        });
        assert_eq!(
            LEDGER.double_drops(),
            0,
            "round {round}: an object dropped twice"
        );
        assert!(
            settled,
            "round {round}: {} of {created} keys and values never dropped",
            created - (LEDGER.dropped() - dropped_before)
        );
    }
    // The workload must really have panicked and resized, or it checked little.
    assert!(
        panics_total > (ROUNDS * THREADS) as u64,
        "only {panics_total} panics"
    );
    assert!(resizes > ROUNDS, "only {resizes} resizes");
    eprintln!("{panics_total} injected panics caught, {resizes} resizes started");
}

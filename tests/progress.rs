//! Progress: no operation of the map waits for another thread.
//!
//! One thread is parked for up to a second in the middle of a map operation,
//! holding its guard: inside the user closure of `update` (after it read the
//! entry), inside the `make` of `get_or_insert_with`, or inside `Eq` of its
//! key at every comparison an insert makes (so also after it has claimed a
//! slot and before it commits). Meanwhile three other threads must each
//! complete 100,000 operations on the same keys, including the parked key,
//! before the parked thread resumes. A lock, or a wait for the parked
//! thread's claim, would stall them until it wakes.
//!
//! Every thread runs every kind of operation on every key, so inserts of the
//! parked key race each other as well as the parked one.

mod support;

use epochmap::HashMap;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{scaled, seeded, Collide, Rng};

const PARK: Duration = Duration::from_secs(1);
const OTHERS: usize = 3;
const KEYS: u64 = 8;
const PARKED_KEY: u64 = 0;

thread_local! {
    /// Park at this (1-based) `Eq` call on this thread; 0 = never.
    static PARK_AT_EQ: Cell<u64> = const { Cell::new(0) };
    static EQ_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Set while the parked thread sleeps; cleared when it wakes.
static PARKED: AtomicBool = AtomicBool::new(false);
/// Set once the other threads have been spawned.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Other threads that completed all their operations.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Sleeps until the other threads are done or `PARK` has passed since they
/// were started; returns whether they all finished while this thread was
/// parked.
fn park() -> bool {
    PARKED.store(true, Ordering::SeqCst);
    // The others start once this thread is seen parked: a machine slow to
    // spawn them must not count against them.
    while !STARTED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let start = Instant::now();
    while FINISHED.load(Ordering::SeqCst) < OTHERS && start.elapsed() < PARK {
        std::thread::sleep(Duration::from_millis(1));
    }
    let all = FINISHED.load(Ordering::SeqCst) == OTHERS;
    PARKED.store(false, Ordering::SeqCst);
    all
}

#[derive(Clone)]
struct Key(u64);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        let n = EQ_CALLS.with(|c| c.get() + 1);
        EQ_CALLS.with(|c| c.set(n));
        if PARK_AT_EQ.with(Cell::get) == n {
            PARK_AT_EQ.with(|p| p.set(0));
            OUTCOME.with(|o| o.set(Some(park())));
        }
        self.0 == other.0
    }
}
impl Eq for Key {}

thread_local! {
    /// Whether the others finished during the park, if a park happened.
    static OUTCOME: Cell<Option<bool>> = const { Cell::new(None) };
}

/// What the other threads do.
#[derive(Clone, Copy)]
enum Mix {
    /// Operations of every kind on all keys.
    All,
    /// Only inserts (plain, `try_insert`, `get_or_insert_with`) of the parked key.
    InsertsOfParkedKey,
}

/// 100,000 operations on the shared keys.
fn other(map: &HashMap<Key, u64, impl std::hash::BuildHasher + Sync>, seed: u64, mix: Mix) {
    let mut rng = Rng::new(seed);
    for i in 0..scaled(100_000, 100) as u64 {
        let (k, op) = match mix {
            Mix::All => (Key(rng.below(KEYS)), rng.below(6)),
            Mix::InsertsOfParkedKey => (Key(PARKED_KEY), [0, 3, 4][rng.below(3) as usize]),
        };
        let m = map.pin();
        match op {
            0 => {
                m.insert(k, i);
            }
            1 => {
                let _ = m.remove(&k);
            }
            2 => {
                let _ = m.update(&k, |v| v + 1);
            }
            3 => {
                let _ = m.try_insert(k, i);
            }
            4 => {
                m.get_or_insert_with(k, || i);
            }
            _ => {
                let _ = m.get(&k);
            }
        }
    }
    FINISHED.fetch_add(1, Ordering::SeqCst);
}

/// Runs `parked` on one thread and the others beside it; the others start
/// once the parked thread is asleep. Returns whether they all finished
/// during the park (None if `parked` never parked).
fn scenario<S>(
    map: &HashMap<Key, u64, S>,
    mix: Mix,
    parked: impl FnOnce(&HashMap<Key, u64, S>) + Send,
) -> Option<bool>
where
    S: std::hash::BuildHasher + Sync + Send,
{
    FINISHED.store(0, Ordering::SeqCst);
    STARTED.store(false, Ordering::SeqCst);
    OUTCOME.with(|o| o.set(None));
    for k in 0..KEYS {
        if k != PARKED_KEY {
            map.pin().insert(Key(k), k);
        }
    }
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            EQ_CALLS.with(|c| c.set(0));
            parked(map);
            tx.send(OUTCOME.with(Cell::get)).unwrap();
        });
        // Wait for the park, or for the parked operation to end without one.
        // No time limit: until the others start, a park lasts (`park`).
        loop {
            if PARKED.load(Ordering::SeqCst) {
                for t in 0..OTHERS {
                    s.spawn(move || other(map, t as u64, mix));
                }
                STARTED.store(true, Ordering::SeqCst);
                break rx.recv().unwrap();
            }
            match rx.try_recv() {
                Ok(outcome) => break outcome,
                Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                Err(mpsc::TryRecvError::Disconnected) => panic!("the parked thread panicked"),
            }
        }
    })
}

/// Serialises the scenarios (they share the statics above).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_thread_parked_inside_an_update_closure_blocks_no_other_thread() {
    let _s = serial();
    let map: HashMap<Key, u64, _> = HashMap::with_hasher(seeded(1));
    map.pin().insert(Key(PARKED_KEY), 0);
    let start = Instant::now();
    let outcome = scenario(&map, Mix::All, |map| {
        let _ = map.pin().update(&Key(PARKED_KEY), |v| {
            OUTCOME.with(|o| o.set(Some(park())));
            v + 1
        });
    });
    println!(
        "parked in update's closure: others finished during the park: {outcome:?}, {:.2?}",
        start.elapsed()
    );
    assert_eq!(
        outcome,
        Some(true),
        "the other threads waited for the parked update"
    );
}

#[test]
fn a_thread_parked_inside_get_or_insert_with_blocks_no_other_thread() {
    let _s = serial();
    let map: HashMap<Key, u64, _> = HashMap::with_hasher(seeded(2));
    let start = Instant::now();
    let outcome = scenario(&map, Mix::All, |map| {
        map.pin().get_or_insert_with(Key(PARKED_KEY), || {
            OUTCOME.with(|o| o.set(Some(park())));
            1
        });
    });
    println!(
        "parked in get_or_insert_with's make: others finished: {outcome:?}, {:.2?}",
        start.elapsed()
    );
    assert_eq!(
        outcome,
        Some(true),
        "the other threads waited for the parked get_or_insert_with"
    );
}

#[test]
fn a_thread_holding_a_guard_blocks_no_other_thread() {
    let _s = serial();
    let map: HashMap<Key, u64, _> = HashMap::with_hasher(seeded(3));
    let outcome = scenario(&map, Mix::All, |map| {
        let _guard = map.guard();
        OUTCOME.with(|o| o.set(Some(park())));
    });
    assert_eq!(
        outcome,
        Some(true),
        "the other threads waited for a thread that only held a guard"
    );
}

/// What happened when an insert was parked at one of its `Eq` calls.
#[derive(Debug)]
struct ParkedInsert {
    /// The `Eq` call it was parked at.
    at: u64,
    /// Whether the others finished during the park (None: no such call).
    others_finished: Option<bool>,
    /// Keys that were inserted before and never removed, missing afterwards.
    lost: Vec<u64>,
}

/// Parks an insert of an absent key at each of its `Eq` calls in turn. All
/// keys collide (one hash), so every comparison of the region runs `Eq`,
/// before the claim (scan) and after it (resolve).
/// Fails if, at any comparison the insert was parked at, the other threads
/// did not finish their operations.
fn assert_no_thread_waited(outcomes: &[ParkedInsert]) {
    let blocked: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.others_finished == Some(false))
        .map(|o| o.at)
        .collect();
    assert!(
        blocked.is_empty(),
        "other threads waited for an insert parked at Eq call(s) {blocked:?}"
    );
}

fn parked_insert_at_every_comparison(mix: Mix) -> Vec<ParkedInsert> {
    let mut outcomes = Vec::new();
    for at in 1..=2 * KEYS {
        let map: HashMap<Key, u64, Collide> = HashMap::with_hasher(Collide);
        let others_finished = scenario(&map, mix, |map| {
            PARK_AT_EQ.with(|p| p.set(at));
            map.pin().insert(Key(PARKED_KEY), 1);
            PARK_AT_EQ.with(|p| p.set(0));
        });
        let lost = match mix {
            // Nobody removes: every key must still be there.
            Mix::InsertsOfParkedKey => (0..KEYS)
                .filter(|k| map.pin().get(&Key(*k)).is_none())
                .collect(),
            Mix::All => Vec::new(),
        };
        outcomes.push(ParkedInsert {
            at,
            others_finished,
            lost,
        });
    }
    // The insert compares its key with each of the other KEYS - 1 keys (all
    // collide) twice: in its scan before it claims a slot, and in the resolve
    // after the claim (`src/raw/claim.rs`). The calls up to a park are made
    // before the others start, so the count does not depend on timing: a park
    // at each of the first 2 * (KEYS - 1) calls and at none after.
    let parked: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.others_finished.is_some())
        .map(|o| o.at)
        .collect();
    assert_eq!(
        parked,
        (1..=2 * (KEYS - 1)).collect::<Vec<u64>>(),
        "the Eq calls at which the insert was parked"
    );
    outcomes
}

#[test]
fn an_insert_parked_at_any_comparison_blocks_no_other_insert_of_the_key() {
    let _s = serial();
    let start = Instant::now();
    let outcomes = parked_insert_at_every_comparison(Mix::InsertsOfParkedKey);
    let parked = outcomes
        .iter()
        .filter(|o| o.others_finished.is_some())
        .count();
    println!(
        "insert parked at each of its {parked} Eq calls, others only insert the key: {:.2?}",
        start.elapsed()
    );
    assert_no_thread_waited(&outcomes);
}

#[test]
fn an_insert_parked_at_any_comparison_blocks_no_thread_running_every_operation() {
    let _s = serial();
    let outcomes = parked_insert_at_every_comparison(Mix::All);
    assert_no_thread_waited(&outcomes);
}

/// A regression test: an intermediate (uncommitted) state of the claim code
/// lost entries of other keys in exactly this scenario (docs/reliability.md).
#[test]
fn inserts_racing_a_parked_insert_of_the_same_key_lose_no_other_entry() {
    let _s = serial();
    let outcomes = parked_insert_at_every_comparison(Mix::InsertsOfParkedKey);
    let losses: Vec<&ParkedInsert> = outcomes.iter().filter(|o| !o.lost.is_empty()).collect();
    assert!(losses.is_empty(), "entries lost: {losses:?}");
}

/// Runs `f` on a thread; false if it has not finished after `limit` (the
/// thread is then left spinning: the process ends with the test binary).
fn finishes_within(limit: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => true,
        Err(mpsc::RecvTimeoutError::Timeout) => false,
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the operations panicked"),
    }
}

#[test]
fn a_resize_to_a_table_smaller_than_the_entries_does_not_hang_writers() {
    let done = finishes_within(Duration::from_secs(5), || {
        let map: HashMap<u64, u64, _> = HashMap::with_tuning(2, 1, 1, seeded(4));
        let m = map.pin();
        for k in 0..20 {
            m.insert(k, k);
        }
        // 2 buckets = 14 slots for 20 entries: `begin_resize_exact`, since
        // `begin_resize` would raise the target to what the entries need. The
        // copy overflows the target into a resize of its own.
        map.begin_resize_exact(2, m.guard());
        let target = map.stats().migration.map(|p| p.to_buckets);
        assert_eq!(target, Some(2), "no resize to 2 buckets in flight");
        for j in 0..64 {
            m.insert(1_000 + j % 3, j);
        }
        for k in 0..20 {
            assert_eq!(m.get(&k), Some(&k));
        }
    });
    assert!(done, "writers still spinning after 5 s");
}

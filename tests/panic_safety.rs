//! Panic safety: a panic in user code called by the map leaves the map usable.
//!
//! Keys and values count every call of their `Hash`, `Eq`, `Clone` and `Drop`,
//! and the closures passed to the map count theirs. One site at a time is
//! armed to panic at its k-th call on this thread, for every k from 1 to the
//! number of calls a calibration run of the workload makes (plus a margin, so
//! drops during the map's own drop are reached). The workload runs on a tiny
//! table that migrates one bucket at a time, so hashing, comparing and
//! cloning also happen inside migrations. After each caught panic:
//!
//! - the interrupted operation either took effect or did not (the key holds
//!   its value from before or the one the operation would have written),
//! - the next operation on the same key completes,
//! - `len` equals the model and every other key is reachable with its value,
//! - and in the end no key or value has been dropped twice (a ledger of ids),
//!   and nothing is leaked unless a destructor panicked (see below).
//!
//! A panicking destructor run by the epoch collector aborts the rest of its
//! bag: crossbeam-epoch runs a bag's deferred functions in a loop, so the
//! objects after the panicking one are leaked, never dropped twice. A panic
//! while the map itself is dropped leaks the entries not yet dropped, as
//! `std`'s `HashMap` does. Those two cases are counted, not forbidden.

mod support;

use epochmap::HashMap;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use support::ledger::{Ledger, Tracked};
use support::{flush_until, scaled, seeded, Rng};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Site {
    KeyHash,
    KeyEq,
    KeyClone,
    KeyDrop,
    ValueEq,
    ValueDrop,
    Closure,
}

const SITES: usize = 7;

thread_local! {
    /// Calls per site on this thread.
    static CALLS: Cell<[u64; SITES]> = const { Cell::new([0; SITES]) };
    /// The armed site and the call number that panics.
    static ARMED: Cell<Option<(Site, u64)>> = const { Cell::new(None) };
}

/// Counts a call of `site`; panics if it is the armed call.
fn call(site: Site) {
    let mut calls = CALLS.with(Cell::get);
    calls[site as usize] += 1;
    CALLS.with(|c| c.set(calls));
    if let Some((armed, at)) = ARMED.with(Cell::get) {
        // A destructor running during another unwind must not panic (abort).
        if armed == site && at == calls[site as usize] && !std::thread::panicking() {
            ARMED.with(|a| a.set(None));
            panic!("injected panic at call {at} of {site:?}");
        }
    }
}

/// Keeps the injected panics out of the test output; others are reported.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with("injected panic"));
            if !injected || std::env::var_os("PANIC_SAFETY_VERBOSE").is_some() {
                default(info);
            }
        }));
    });
}

fn arm(site: Site, at: u64) {
    CALLS.with(|c| c.set([0; SITES]));
    ARMED.with(|a| a.set(Some((site, at))));
}

fn disarm() -> bool {
    ARMED.with(|a| a.replace(None)).is_some()
}

/// Runs `f` (the test's own checks) without counting calls or panicking.
fn unarmed<R>(f: impl FnOnce() -> R) -> R {
    let (armed, calls) = (ARMED.with(|a| a.replace(None)), CALLS.with(Cell::get));
    let r = f();
    ARMED.with(|a| a.set(armed));
    CALLS.with(|c| c.set(calls));
    r
}

fn calls(site: Site) -> u64 {
    CALLS.with(Cell::get)[site as usize]
}

struct Key(Tracked<u32>);
struct Val(Tracked<u64>);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        call(Site::KeyHash);
        self.0.payload.hash(state);
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        call(Site::KeyEq);
        self.0.payload == other.0.payload
    }
}
impl Eq for Key {}
impl Clone for Key {
    fn clone(&self) -> Self {
        call(Site::KeyClone);
        Key(self.0.clone())
    }
}
impl Drop for Key {
    fn drop(&mut self) {
        call(Site::KeyDrop);
    }
}
impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        call(Site::ValueEq);
        self.0.payload == other.0.payload
    }
}
impl Clone for Val {
    fn clone(&self) -> Self {
        Val(self.0.clone())
    }
}
impl Drop for Val {
    fn drop(&mut self) {
        call(Site::ValueDrop);
    }
}

type Map = HashMap<Key, Val, ahash::RandomState>;
type Model = BTreeMap<u32, u64>;

const KEYS: u32 = 24;

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert(u32, u64),
    TryInsert(u32, u64),
    GetOrInsertWith(u32, u64),
    Update(u32),
    CompareExchange(u32, u64, u64),
    Remove(u32),
    RemoveIfEven(u32),
    Get(u32),
    RetainNotMultipleOf5,
    CloneMap,
    BeginResize(usize),
    /// `shrink_to_fit` (exclusive access), which hashes every key.
    ShrinkToFit,
}

fn plan(len: usize) -> Vec<Op> {
    let mut rng = Rng::new(0x9a1c);
    // Keys the plan's inserts wrote so far: compare-exchanges pick one,
    // so that they find an entry and call the value's `Eq`.
    let mut inserted: Vec<u32> = Vec::new();
    (0..len as u64)
        .map(|i| {
            let k = rng.below(KEYS as u64) as u32;
            let v = 1_000 + i;
            match rng.below(16) {
                0..=2 => {
                    inserted.push(k);
                    Op::Insert(k, v)
                }
                7 | 15 if !inserted.is_empty() => {
                    let k = inserted[rng.below(inserted.len() as u64) as usize];
                    Op::CompareExchange(k, if rng.chance(30) { u64::MAX } else { 0 }, v)
                }
                3 => Op::TryInsert(k, v),
                4 => Op::GetOrInsertWith(k, v),
                5 | 6 => Op::Update(k),
                7 | 15 => Op::CompareExchange(k, if rng.chance(30) { u64::MAX } else { 0 }, v),
                8 | 9 => Op::Remove(k),
                10 => Op::RemoveIfEven(k),
                11 => Op::RetainNotMultipleOf5,
                12 => Op::CloneMap,
                // 8 or 16 buckets hold every key (`begin_resize` would raise a
                // smaller target to what the entries need).
                13 => Op::BeginResize(8 << rng.below(2)),
                14 => Op::ShrinkToFit,
                _ => Op::Get(k),
            }
        })
        .collect()
}

fn bump(v: u64) -> u64 {
    v * 2 + 1
}

/// The model after `op` (compare_exchange's "current" is resolved first:
/// `0` stands for "the key's current value", `u64::MAX` for a wrong guess).
fn spec(model: &Model, op: Op) -> Model {
    let mut m = model.clone();
    match op {
        Op::Insert(k, v) => {
            m.insert(k, v);
        }
        Op::TryInsert(k, v) | Op::GetOrInsertWith(k, v) => {
            m.entry(k).or_insert(v);
        }
        Op::Update(k) => {
            if let Some(x) = m.get_mut(&k) {
                *x = bump(*x);
            }
        }
        Op::CompareExchange(k, guess, v) => {
            if guess == 0 && m.contains_key(&k) {
                m.insert(k, v);
            }
        }
        Op::Remove(k) => {
            m.remove(&k);
        }
        Op::RemoveIfEven(k) => {
            if m.get(&k).is_some_and(|x| x % 2 == 0) {
                m.remove(&k);
            }
        }
        Op::RetainNotMultipleOf5 => m.retain(|_, x| *x % 5 != 0),
        Op::Get(_) | Op::CloneMap | Op::BeginResize(_) | Op::ShrinkToFit => {}
    }
    m
}

fn perform(map: &mut Map, ledger: &'static Ledger, model: &Model, op: Op) {
    if let Op::ShrinkToFit = op {
        map.shrink_to_fit();
        return;
    }
    let map = &*map;
    let key = |k: u32| Key(ledger.track(k));
    let val = |v: u64| Val(ledger.track(v));
    let m = map.pin();
    match op {
        Op::Insert(k, v) => {
            m.insert(key(k), val(v));
        }
        Op::TryInsert(k, v) => {
            if let Err(e) = m.try_insert(key(k), val(v)) {
                drop(e.not_inserted);
            }
        }
        Op::GetOrInsertWith(k, v) => {
            m.get_or_insert_with(key(k), || {
                call(Site::Closure);
                val(v)
            });
        }
        Op::Update(k) => {
            let _ = m.update(&key(k), |x| {
                call(Site::Closure);
                val(bump(x.0.payload))
            });
        }
        Op::CompareExchange(k, guess, v) => {
            let current = if guess == 0 {
                model.get(&k).copied().unwrap_or(0)
            } else {
                guess
            };
            if let Err(e) = m.compare_exchange(&key(k), &val(current), val(v)) {
                drop(e.new);
            }
        }
        Op::Remove(k) => {
            let _ = m.remove(&key(k));
        }
        Op::RemoveIfEven(k) => {
            let _ = m.remove_if(&key(k), |_, x| {
                call(Site::Closure);
                x.0.payload % 2 == 0
            });
        }
        Op::Get(k) => {
            let _ = m.get(&key(k));
        }
        Op::RetainNotMultipleOf5 => m.retain(|_, x| {
            call(Site::Closure);
            x.0.payload % 5 != 0
        }),
        Op::CloneMap => {
            let copy = map.clone();
            assert_eq!(copy.len(), model.len(), "a clone has every entry");
        }
        Op::BeginResize(n) => map.begin_resize(n, m.guard()),
        Op::ShrinkToFit => unreachable!("done above, with exclusive access"),
    }
}

fn contents(map: &Map) -> Model {
    let m = map.pin();
    m.iter().map(|(k, v)| (k.0.payload, v.0.payload)).collect()
}

/// Every key is reachable with its model value, `len` agrees, iteration agrees.
fn check_coherent(map: &Map, ledger: &'static Ledger, model: &Model, context: &str) {
    unarmed(|| {
        let m = map.pin();
        for k in 0..KEYS {
            let got = m.get(&Key(ledger.track(k))).map(|v| v.0.payload);
            assert_eq!(got, model.get(&k).copied(), "{context}: key {k}");
        }
        assert_eq!(map.len(), model.len(), "{context}: len");
        drop(m);
        assert_eq!(&contents(map), model, "{context}: iteration");
    })
}

struct Figures {
    panics: u64,
    leaked: u64,
}

/// The workload with `site` armed at call `at`.
fn run_once(site: Site, at: u64, ledger: &'static Ledger, ops: &[Op]) -> Figures {
    // Objects leaked by earlier runs (after a destructor panicked) stay leaked.
    let leaked_before = ledger.live();
    let mut map: Map = HashMap::with_tuning(2, 1, 1, seeded(11));
    let mut model = Model::new();
    for k in 0..KEYS / 2 {
        perform(&mut map, ledger, &model, Op::Insert(k, k as u64 * 10));
        model.insert(k, k as u64 * 10);
    }
    let mut panics = 0;
    arm(site, at);
    for (i, &op) in ops.iter().enumerate() {
        let after = spec(&model, op);
        let context = format!("{site:?} armed at call {at}, op {i} {op:?}");
        match catch_unwind(AssertUnwindSafe(|| perform(&mut map, ledger, &model, op))) {
            Ok(()) => {
                model = after;
                if i % 8 == 0 {
                    check_coherent(&map, ledger, &model, &context);
                }
            }
            Err(_) => {
                assert!(!disarm(), "{context}: a panic that was not injected");
                panics += 1;
                // The operation took effect or it did not, key by key.
                let now = contents(&map);
                for k in 0..KEYS {
                    let (n, b, a) = (now.get(&k), model.get(&k), after.get(&k));
                    assert!(
                        n == b || n == a,
                        "{context}: key {k} is {n:?}, neither {b:?} before nor {a:?} after"
                    );
                }
                model = now;
                check_coherent(&map, ledger, &model, &context);
                // The next operation on the same key completes.
                if let Some(k) = key_of(op) {
                    perform(&mut map, ledger, &model, Op::Insert(k, 7));
                    model.insert(k, 7);
                    check_coherent(&map, ledger, &model, &format!("{context}, then insert"));
                }
            }
        }
    }
    // Drops during the map's own drop are call sites too.
    if catch_unwind(AssertUnwindSafe(|| drop(map))).is_err() {
        panics += 1;
    }
    // So are the deferred drops the epoch collector runs when this thread pins.
    let collect = || {
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
    };
    if catch_unwind(collect).is_err() {
        panics += 1;
    }
    disarm();
    let destructor_panicked = panics > 0 && matches!(site, Site::KeyDrop | Site::ValueDrop);
    let timeout = if destructor_panicked {
        Duration::from_millis(20)
    } else {
        Duration::from_secs(10)
    };
    flush_until(timeout, || ledger.live() == leaked_before);
    assert_eq!(
        ledger.double_drops(),
        0,
        "{site:?} armed at call {at}: objects dropped twice"
    );
    if !destructor_panicked {
        assert_eq!(
            ledger.live(),
            leaked_before,
            "{site:?} armed at call {at}: objects never dropped"
        );
    }
    Figures {
        panics,
        leaked: ledger.live() - leaked_before,
    }
}

fn key_of(op: Op) -> Option<u32> {
    match op {
        Op::Insert(k, _)
        | Op::TryInsert(k, _)
        | Op::GetOrInsertWith(k, _)
        | Op::Update(k)
        | Op::CompareExchange(k, _, _)
        | Op::Remove(k)
        | Op::RemoveIfEven(k)
        | Op::Get(k) => Some(k),
        Op::RetainNotMultipleOf5 | Op::CloneMap | Op::BeginResize(_) | Op::ShrinkToFit => None,
    }
}

/// Panics at every call of `site` the workload makes, one run per call number.
fn check_site(site: Site, ledger: &'static Ledger) {
    // One site at a time in this process. Deferred drops go through the global
    // epoch collector, so another test's thread may run this test's drops; with a
    // destructor armed there, its injected panic abandons the rest of a bag that
    // holds this test's objects, which then count as leaked here although no
    // destructor of this test panicked (seen once in CI, ninth session:
    // "ValueDrop armed at call 91: objects never dropped", 620 against 614).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    quiet_injected_panics();
    let ops = plan(scaled(80, 12));
    let start = Instant::now();
    // Calibration: count the calls of `site` in an unarmed run.
    arm(site, u64::MAX);
    let calibration = run_once(site, u64::MAX, ledger, &ops);
    assert_eq!(calibration.panics, 0);
    let total = calls(site);
    assert!(total > 0, "{site:?} is never called by the workload");
    // Drops may happen a little later or earlier than in the calibration
    // (another thread may run our deferred drops): go a little beyond.
    let last = scaled(total as usize + 16, 6.min(total as usize)) as u64;
    let stride = if cfg!(miri) { (total / 6).max(1) } else { 1 };
    let (mut runs, mut panics, mut runs_leaking, mut leaked) = (0, 0, 0, 0);
    let mut at = 1;
    while at <= last {
        let f = run_once(site, at, ledger, &ops);
        runs += 1;
        panics += f.panics;
        if f.leaked > 0 {
            runs_leaking += 1;
            leaked += f.leaked;
        }
        at += stride;
    }
    assert!(panics > 0, "{site:?}: no injected panic fired");
    println!(
        "{site:?}: {total} calls in the workload, {runs} runs, {panics} panics caught, \
         {runs_leaking} runs leaked {leaked} objects, {:.2?}",
        start.elapsed()
    );
}

#[test]
fn a_panicking_key_hash_leaves_the_map_usable() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::KeyHash, &LEDGER);
}

#[test]
fn a_panicking_key_eq_leaves_the_map_usable() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::KeyEq, &LEDGER);
}

#[test]
fn a_panicking_key_clone_leaves_the_map_usable() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::KeyClone, &LEDGER);
}

#[test]
fn a_panicking_value_eq_leaves_the_map_usable() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::ValueEq, &LEDGER);
}

#[test]
fn a_panicking_closure_leaves_the_map_usable() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::Closure, &LEDGER);
}

#[test]
fn a_panicking_key_drop_never_causes_a_double_drop() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::KeyDrop, &LEDGER);
}

#[test]
fn a_panicking_value_drop_never_causes_a_double_drop() {
    static LEDGER: Ledger = Ledger::new();
    check_site(Site::ValueDrop, &LEDGER);
}

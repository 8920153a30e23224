//! What every model shares: a map small enough for loom, a hasher that puts
//! keys where the model wants them, and payloads that loom watches.
//!
//! - [`tiny_map`]: two buckets of seven slots, one-bucket migration chunks,
//!   and writers that migrate one bucket each, so a model with two or three
//!   keys crosses a resize forced with `begin_resize`.
//! - [`Fixed`]: the hash of a `u64` key is the key itself. A key's home
//!   bucket is the top bits of its hash and its tag the low seven bits, so
//!   `key(bucket_bits, low)` chooses both.
//! - [`Payload`]: a value holding a loom `UnsafeCell`. Reading it checks, in
//!   loom's causality tracking, that the write which made it happened before
//!   the read; dropping it writes a poison value, so a read racing the
//!   destructor (a use after free) is a causality violation loom reports.
//! - [`Key`]: the keys are loom-tracked too. Every `Hash` and `Eq` of a key
//!   reads its cell, so loom checks that the insert which wrote the key
//!   happened before every writer, copier and reader that hashes or compares
//!   it: what the `Acquire` loads of the write path (scan, resolve,
//!   migration's first pass) must provide. Models name keys by their `u64`
//!   (`A`, `B`, ...): lookups take `&u64` ([`Equivalent`]), inserts
//!   `Key::new(A)`.
#![allow(dead_code)] // each test binary uses a different part of this module

use epochmap::{Equivalent, Guard, HashMap};
use loom::cell::UnsafeCell;
use std::hash::{BuildHasher, Hasher};

/// A `BuildHasher` whose hash of a `u64` is the value itself.
#[derive(Clone, Copy, Default)]
pub struct Fixed;

pub struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are used; this fallback keeps other types deterministic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for Fixed {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher(0)
    }
}

/// A key whose hash has `top` in its two highest bits and `low` (1..=127) in
/// its low bits. In a 2-bucket table the home bucket is `top >> 1`, in a
/// 4-bucket table it is `top`; the tag byte is `0x80 | low`.
pub const fn key(top: u64, low: u64) -> u64 {
    (top << 62) | low
}

/// Keys of the models. A, B and C share home bucket 0 in every table size
/// (so they share a region and a migration chunk), D lives in the other half.
pub const A: u64 = key(0, 1);
pub const B: u64 = key(0, 2);
pub const C: u64 = key(0, 3);
pub const D: u64 = key(2, 4);

pub type Map = HashMap<Key, Payload, Fixed>;

/// A map key: a `u64` in a loom `UnsafeCell`, written once by the thread
/// that creates it, read by every `Hash` and `Eq`.
pub struct Key {
    cell: UnsafeCell<u64>,
}

// SAFETY: the cell is written only in `new`, before the key is shared, and
// read through `&self` afterwards; loom checks that every read is ordered
// after that write.
unsafe impl Sync for Key {}

impl Key {
    pub fn new(k: u64) -> Self {
        let key = Key {
            cell: UnsafeCell::new(0),
        };
        // SAFETY: not shared yet. A tracked write, separate from the construction.
        key.cell.with_mut(|p| unsafe { *p = k });
        key
    }

    /// The key's value (a tracked read).
    pub fn get(&self) -> u64 {
        // SAFETY: shared read; the only write is in `new`.
        self.cell.with(|p| unsafe { *p })
    }
}

/// `update` and `compare_exchange` clone the key into the replacing node.
impl Clone for Key {
    fn clone(&self) -> Self {
        Key::new(self.get())
    }
}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.get());
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}
impl Eq for Key {}

/// Lookups by the key's number: `map.get(&A, &guard)`.
impl Equivalent<Key> for u64 {
    fn equivalent(&self, key: &Key) -> bool {
        *self == key.get()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:#x})", self.get())
    }
}

/// Two buckets, one-bucket chunks, one bucket of help per write.
pub fn tiny_map() -> Map {
    tiny_map_of()
}

/// [`tiny_map`] with keys of another type (a model's own key type).
pub fn tiny_map_of<K>() -> HashMap<K, Payload, Fixed> {
    HashMap::with_tuning(2, 1, 1, Fixed)
}

/// Value written by a payload's destructor.
pub const POISON: u64 = 0xdead_dead_dead_dead;

/// A map value whose contents loom tracks.
pub struct Payload {
    cell: UnsafeCell<u64>,
}

// SAFETY: the cell is only written by `set` (before the payload is shared,
// through `&mut`) and by `drop` (exclusive), and read through `&self`.
// Whether those accesses are ordered across threads is exactly what the
// models check: loom panics on any unordered pair.
unsafe impl Sync for Payload {}

impl Payload {
    pub fn new(v: u64) -> Self {
        Payload {
            cell: UnsafeCell::new(v),
        }
    }

    /// Writes the payload (a tracked write, separate from the construction).
    pub fn set(&mut self, v: u64) {
        // SAFETY: `&mut self`: no other reference exists.
        self.cell.with_mut(|p| unsafe { *p = v });
    }

    /// Reads the payload; panics if it was dropped.
    pub fn get(&self) -> u64 {
        // SAFETY: shared read; a concurrent write (`drop`) is reported by loom.
        let v = self.cell.with(|p| unsafe { *p });
        assert_ne!(v, POISON, "read a payload after it was dropped");
        v
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: exclusive.
        self.cell.with_mut(|p| unsafe { *p = POISON });
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({})", self.get())
    }
}

/// A payload already written with `v` by the calling thread.
pub fn payload(v: u64) -> Payload {
    let mut p = Payload::new(0);
    p.set(v);
    p
}

/// Value of `k` read under `guard`, reading the payload (so loom checks it).
pub fn value(map: &Map, k: u64, guard: &Guard) -> Option<u64> {
    map.get(&k, guard).map(Payload::get)
}

/// Key and value of the entry found for `k` under `guard`, reading the
/// payload (so loom checks it): a reader can tell a key paired with another
/// key's value.
pub fn entry(map: &Map, k: u64, guard: &Guard) -> Option<(u64, u64)> {
    map.get_key_value(&k, guard)
        .map(|(k, v)| (k.get(), v.get()))
}

/// Drives the resize in flight to completion from the calling thread.
pub fn finish_resize(map: &Map) {
    for _ in 0..4 {
        let guard = map.guard();
        map.reserve(0, &guard);
    }
}

/// Drives every resize in flight, and any resize linked behind it, to its
/// end from the calling thread (at most `rounds` helping calls), and returns
/// the map's statistics afterwards.
pub fn settle(map: &Map, rounds: usize) -> epochmap::Stats {
    for _ in 0..rounds {
        if map.stats().migration.is_none() {
            break;
        }
        map.reserve(0, &map.guard());
    }
    map.stats()
}

/// [`model_with`] (the bound from `LOOM_MAX_PREEMPTIONS`, 10,000 branches)
/// for a model that must reach a rare state: `f` returns whether the
/// execution reached it, and the model fails if none of the explored
/// executions did, so that it cannot pass by never getting there; it prints
/// how many did. `what` completes "no explored interleaving ..." and
/// "... in N executions".
pub fn model_reaching<F>(what: &'static str, f: F)
where
    F: Fn() -> bool + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    model_with(None, 10_000, move || {
        if f() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let reached = reached.load(Ordering::Relaxed);
    let name = std::thread::current().name().unwrap_or("model").to_string();
    eprintln!("{name}: {what} in {reached} executions");
    assert!(reached > 0, "no explored interleaving {what}");
}

/// Drives every resize to its end ([`settle`]), then checks that the map
/// holds exactly `keys`, each with its own key as value, and each once
/// (removing them: the map is empty afterwards).
pub fn settle_and_check_each_key_once(map: &Map, keys: &[u64]) {
    let stats = settle(map, 32);
    assert!(stats.migration.is_none(), "the resizes finish: {stats:?}");
    assert_eq!(map.len(), keys.len());
    let guard = map.guard();
    for &k in keys {
        assert_eq!(value(map, k, &guard), Some(k));
    }
    drop(guard);
    for &k in keys {
        assert_single(map, k);
    }
}

/// Advances the epoch far enough that garbage retired before this call is
/// freed, if no other thread is pinned.
pub fn collect(map: &Map) {
    for _ in 0..3 {
        map.guard().flush();
    }
}

/// Checks that `k` has exactly one live entry: after removing it, no other
/// entry of `k` may be found.
pub fn assert_single(map: &Map, k: u64) {
    let guard = map.guard();
    assert!(map.remove(&k, &guard).is_some(), "key {k:#x} missing");
    assert!(
        map.get(&k, &guard).is_none(),
        "key {k:#x} had a second entry"
    );
}

/// The payload of a panic a model injects into the map's calls of user code
/// (`std::panic::panic_any(Injected)`) and catches inside its own thread: the
/// panic hook of [`model_with`] lets it unwind instead of failing the model.
pub struct Injected;

/// Runs `f` under loom, exploring every interleaving within the preemption
/// bound `LOOM_MAX_PREEMPTIONS` (2 when unset, so a bare `cargo test` stays
/// bounded), and prints how many executions were explored.
///
/// A failing model exits the process from the panic hook: unwinding out of
/// a loom execution would drop crossbeam-epoch's thread-local handles outside
/// the model, which panics again and aborts with a less useful message.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with(None, loom::model::Builder::new().max_branches, f)
}

/// [`model`] with a fixed preemption bound (`None`: `LOOM_MAX_PREEMPTIONS`),
/// for a model whose bug needs only that many preemptions to show and whose
/// bound-2 run is too slow for CI, and with a limit on scheduling points per
/// execution, for a model whose sequential set-up alone (a dozen inserts and
/// a migration) passes loom's default of 1,000. The branch limit guards
/// against spin loops; it does not change which interleavings are explored.
pub fn model_with<F>(preemption_bound: Option<usize>, max_branches: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Once};
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            use std::io::Write;
            if info.payload().is::<Injected>() {
                // A model's own panic, caught inside its thread (see `Injected`).
                return;
            }
            // Written past the test harness's output capture, which the exit discards.
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("?");
            let _ = writeln!(
                std::io::stderr().lock(),
                "\nloom model '{name}' failed: {info}\n\
                 (rerun it alone with LOOM_LOG=trace LOOM_LOCATION=1 to print the interleaving)"
            );
            if std::env::var_os("LOOM_BT").is_some() {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}",
                    std::backtrace::Backtrace::force_capture()
                );
            }
            std::process::exit(101);
        }));
    });
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        std::env::set_var("LOOM_MAX_PREEMPTIONS", "2");
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    let start = std::time::Instant::now();
    let mut builder = loom::model::Builder::new();
    builder.max_branches = max_branches;
    // A model's fixed bound gives way to LOOM_MAX_PREEMPTIONS when
    // EPOCHMAP_LOOM_ANY_BOUND is set, so a deeper run of such a model needs no edit.
    let preemption_bound =
        preemption_bound.filter(|_| std::env::var_os("EPOCHMAP_LOOM_ANY_BOUND").is_none());
    if preemption_bound.is_some() {
        builder.preemption_bound = preemption_bound;
    }
    let check = move || {
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            f();
        })
    };
    if std::env::var_os("LOOM_LOG").is_some() {
        // `loom::model` installs this subscriber, `Builder::check` does not:
        // without it `LOOM_LOG` prints nothing. Written to stderr, uncaptured,
        // because a failing model exits from the panic hook.
        let subscriber = tracing_subscriber::fmt::Subscriber::builder()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("LOOM_LOG"))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, check);
    } else {
        check();
    }
    let name = std::thread::current().name().unwrap_or("model").to_string();
    eprintln!(
        "{name}: {} executions in {:.1} s",
        executions.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
}

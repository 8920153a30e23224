//! Keys whose `Hash` or `Eq` break their contracts, which `std` calls a logic
//! error that must not cause undefined behaviour: the map may give odd
//! answers for such keys, but it must not free a node twice or lose the
//! entries of other keys.

use epochmap::HashMap;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Barrier;

/// Equal to nothing, itself included: a float key holding NaN under a
/// hand-written `Eq`.
struct NanKey(u64);
impl Hash for NanKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}
impl PartialEq for NanKey {
    fn eq(&self, _: &Self) -> bool {
        false
    }
}
impl Eq for NanKey {}

const THREADS: usize = 2;
const PER_THREAD: usize = if cfg!(miri) { 40 } else { 2_000 };
const ROUNDS: usize = if cfg!(miri) { 2 } else { 60 };

/// Two copiers of one entry (a resize in flight, each writer helping) used
/// to recognise each other only through `Eq`; with this key neither did, both
/// committed, and one node was live in two slots, dropped twice with the map.
/// Each value counts its drops; every value must be dropped exactly once and
/// iteration must meet each node once.
#[test]
fn a_non_reflexive_eq_never_puts_one_node_in_two_slots() {
    static DROPS: [AtomicU8; THREADS * PER_THREAD] =
        [const { AtomicU8::new(0) }; THREADS * PER_THREAD];
    struct Counted(usize);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS[self.0].fetch_add(1, Relaxed);
        }
    }
    let mut resizes = 0;
    for round in 0..ROUNDS {
        for d in &DROPS {
            d.store(0, Relaxed);
        }
        let map: HashMap<NanKey, Counted> = HashMap::with_tuning(2, 1, 1, Default::default());
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let m = map.pin();
                    for i in 0..PER_THREAD {
                        let id = t * PER_THREAD + i;
                        m.insert(NanKey(id as u64), Counted(id));
                    }
                });
            }
        });
        let g = map.guard();
        while map.stats().migration.is_some() {
            map.help_resize(&g);
        }
        resizes += map.stats().resizes_finished;
        let mut nodes: Vec<*const Counted> = map.iter(&g).map(|(_, v)| v as *const _).collect();
        let seen = nodes.len();
        nodes.sort_unstable();
        nodes.dedup();
        assert_eq!(
            nodes.len(),
            seen,
            "round {round}: a node is live in two slots"
        );
        assert_eq!(
            seen,
            THREADS * PER_THREAD,
            "round {round}: every insert is an entry"
        );
        assert_eq!(map.len(), seen, "round {round}");
        drop(g);
        let mut map = map;
        let audit = map.audit();
        assert_eq!(
            (
                audit.shared_nodes,
                audit.claims,
                audit.wrong_tags,
                audit.entries
            ),
            (0, 0, 0, seen),
            "round {round}: {audit:?}"
        );
        drop(map);
        let wrong: Vec<usize> = (0..THREADS * PER_THREAD)
            .filter(|&i| DROPS[i].load(Relaxed) != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "round {round}: values not dropped exactly once: {wrong:?}"
        );
    }
    assert!(resizes > ROUNDS, "the inserts crossed resizes ({resizes})");
}

thread_local! {
    /// Calls of `Fragile`'s `Hash` left before one panics (0: never).
    static HASHES_LEFT: Cell<usize> = const { Cell::new(0) };
    /// Whether `Fragile`'s `Eq` panics.
    static EQ_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// A key whose `Hash` panics on the armed call, and whose `Eq` panics while
/// `EQ_PANICS` is set.
struct Fragile(u64);
impl Hash for Fragile {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let left = HASHES_LEFT.get();
        if left == 1 {
            panic!("injected Hash panic");
        }
        HASHES_LEFT.set(left.saturating_sub(1));
        self.0.hash(h);
    }
}
impl PartialEq for Fragile {
    fn eq(&self, other: &Self) -> bool {
        assert!(!EQ_PANICS.get(), "injected Eq panic");
        self.0 == other.0
    }
}
impl Eq for Fragile {}

fn sorted_values(map: &HashMap<Fragile, u64>) -> Vec<u64> {
    let mut v: Vec<u64> = map.pin().iter().map(|(_, v)| *v).collect();
    v.sort_unstable();
    v
}

/// `shrink_to_fit` used to take every entry out and insert them again, so a
/// `Hash` or `Eq` that panicked half-way dropped the entries not yet back in.
/// Now it hashes them all before it changes anything and places them without
/// comparing keys: a `Hash` panic leaves the map as it was, and an `Eq` that
/// would panic is never called.
#[test]
fn shrink_to_fit_loses_nothing_to_a_panicking_hash_and_compares_no_keys() {
    const N: u64 = if cfg!(miri) { 30 } else { 3_000 };
    let mut map: HashMap<Fragile, u64> = (0..N).map(|k| (Fragile(k), k)).collect();
    map.pin().retain(|k, _| k.0 % 4 == 0);
    let before = sorted_values(&map);
    let capacity = map.capacity();
    HASHES_LEFT.set(before.len() / 2);
    EQ_PANICS.set(true);
    let r = catch_unwind(AssertUnwindSafe(|| map.shrink_to_fit()));
    let message = r.expect_err("the armed Hash panicked");
    assert_eq!(message.downcast_ref::<&str>(), Some(&"injected Hash panic"));
    HASHES_LEFT.set(0);
    EQ_PANICS.set(false);
    assert_eq!(sorted_values(&map), before, "nothing lost to the panic");
    assert_eq!(map.capacity(), capacity, "the map is as it was");
    EQ_PANICS.set(true);
    map.shrink_to_fit();
    EQ_PANICS.set(false);
    assert_eq!(sorted_values(&map), before, "nothing lost to the rebuild");
    assert!(
        map.capacity() < capacity,
        "{capacity} -> {}",
        map.capacity()
    );
    assert_eq!(map.len(), before.len());
    let m = map.pin();
    for k in (0..N).step_by(4) {
        assert_eq!(
            m.get(&Fragile(k)),
            Some(&k),
            "key {k} is found where it was placed"
        );
    }
}

/// An iterator collects the entries of a range of hashes at a time, hashing
/// each key. When a `Hash` panicked half-way through a range, the entries
/// collected before it stayed in the iterator's buffer, and an iterator used
/// again after the caller caught the panic yielded them, then collected the
/// whole range again and yielded them a second time (found in review,
/// twenty-fifth session). The range is now collected into a buffer the
/// iterator gets back only when the range is complete.
#[test]
fn an_iterator_used_again_after_a_panicking_hash_yields_each_key_once() {
    let map: HashMap<Fragile, u64> = (0..8).map(|k| (Fragile(k), k)).collect();
    let g = map.guard();
    let mut panicked = 0;
    for arm in 2..20 {
        let mut it = map.iter(&g);
        HASHES_LEFT.set(arm);
        let mut seen = Vec::new();
        loop {
            match catch_unwind(AssertUnwindSafe(|| it.next())) {
                Ok(Some((k, _))) => seen.push(k.0),
                Ok(None) => break,
                Err(_) => {
                    panicked += 1;
                    HASHES_LEFT.set(0);
                }
            }
        }
        HASHES_LEFT.set(0);
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<_>>(), "Hash armed at call {arm}");
    }
    assert!(
        panicked >= 6,
        "the armed Hash panicked inside iteration ({panicked} times)"
    );
}

//! The public map: [`HashMap`], its pinned handle [`HashMapRef`], iterators.
//!
//! Every operation needs a crossbeam-epoch [`Guard`]: references returned by
//! the map stay valid while the guard lives, because memory is reclaimed only
//! after every guard that could see it is dropped. Take one with
//! [`HashMap::guard`] and pass it to the guard-taking methods, or call
//! [`HashMap::pin`] for a [`HashMapRef`] that holds one and offers the same
//! operations without the argument.

use crate::compute::{Compute, Operation};
use crate::error::{CompareExchangeError, OccupiedError, TryReserveError};
use crate::raw::compute::{Computed, Decision};
use crate::raw::exclusive::{Detached, RawIterMut};
use crate::raw::{alloc_panic, RawIter, RawMap, Tuning};
use crate::stats::Stats;
use crate::Guard;
use core::cell::Cell;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use equivalent::Equivalent;

/// The default hasher: [`ahash::RandomState`], seeded randomly per map so that
/// an outside party cannot choose colliding keys.
pub type DefaultHashBuilder = ahash::RandomState;

/// A lock-free concurrent hash map with epoch-based reclamation.
///
/// Reads never write shared memory, never wait and never block a writer;
/// writes never wait for another thread (lock-free, but racing first inserts
/// of one absent key, which are obstruction-free); the table grows and
/// shrinks incrementally. See the [crate documentation](crate) for the
/// guarantees and when to choose it.
///
/// ```
/// use epochmap::HashMap;
///
/// let map = HashMap::new();
/// let m = map.pin();
/// assert_eq!(m.insert("a", 1), None);
/// assert_eq!(m.get("a"), Some(&1));
/// assert_eq!(m.update("a", |v| v + 1), Some(&2));
/// assert_eq!(m.remove("a"), Some(&2));
/// assert!(m.is_empty());
/// ```
pub struct HashMap<K, V, S = DefaultHashBuilder> {
    raw: RawMap<K, V, S>,
}

// `Send`/`Sync` come from `RawMap` (src/raw/mod.rs), where the unsafe impls live.

#[track_caller]
fn new_raw<K, V, S>(capacity: usize, hasher: S, tuning: Tuning) -> RawMap<K, V, S> {
    match RawMap::with_tuning(capacity, hasher, tuning) {
        Ok(raw) => raw,
        Err(e) => alloc_panic(e),
    }
}

/// [`new_raw`] for a size a size hint promised, not a caller: no room is
/// reserved ([`HashMap::presized`]).
#[track_caller]
fn presized_raw<K, V, S>(capacity: usize, hasher: S, tuning: Tuning) -> RawMap<K, V, S> {
    let mut raw = new_raw(capacity, hasher, tuning);
    raw.release_reservation();
    raw
}

#[cold]
#[track_caller]
fn foreign_guard() -> ! {
    panic!(
        "epochmap: this guard does not come from crossbeam-epoch's default collector \
         (e.g. `unprotected()`); use `map.guard()` or `map.pin()`"
    )
}

impl<K, V> HashMap<K, V> {
    /// An empty map with the default hasher.
    ///
    /// ```
    /// let map: epochmap::HashMap<u64, String> = epochmap::HashMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_capacity_and_hasher(0, DefaultHashBuilder::new())
    }

    /// An empty map that holds `capacity` entries before it resizes. The room
    /// stays reserved: removes never shrink the table below it, until
    /// [`shrink_to_fit`](Self::shrink_to_fit) gives it up.
    ///
    /// # Panics
    /// If the table for `capacity` cannot be allocated (e.g. `usize::MAX`).
    ///
    /// ```
    /// let map: epochmap::HashMap<u64, u64> = epochmap::HashMap::with_capacity(1000);
    /// assert!(map.capacity() >= 1000);
    /// ```
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::new())
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// An empty map using `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: epochmap::HashMap<u32, u32, _> = epochmap::HashMap::with_hasher(RandomState::new());
    /// map.pin().insert(1, 2);
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_capacity_and_hasher(0, hasher)
    }

    /// An empty map using `hasher` that holds `capacity` entries before it
    /// resizes, and keeps that room reserved ([`with_capacity`](HashMap::with_capacity)).
    ///
    /// # Panics
    /// If the table for `capacity` cannot be allocated.
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> =
    ///     epochmap::HashMap::with_capacity_and_hasher(64, ahash::RandomState::new());
    /// assert!(map.capacity() >= 64);
    /// ```
    #[track_caller]
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashMap {
            raw: new_raw(capacity, hasher, Tuning::default()),
        }
    }

    /// A map sized for `capacity` entries that a size hint promised (`collect`,
    /// `clone`, serde), not a caller: unlike
    /// [`with_capacity_and_hasher`](Self::with_capacity_and_hasher) it may
    /// shrink below that size once entries are removed.
    #[track_caller]
    pub(crate) fn presized(capacity: usize, hasher: S) -> Self {
        HashMap {
            raw: presized_raw(capacity, hasher, Tuning::default()),
        }
    }

    /// A map with explicit table sizes: tests and model checking use tiny tables
    /// (`min_buckets` = 2) and one-bucket migration chunks so that a few keys
    /// cross a resize. Not part of the stable API.
    #[doc(hidden)]
    #[track_caller]
    pub fn with_tuning(
        min_buckets: usize,
        chunk_buckets: usize,
        help_buckets: usize,
        hasher: S,
    ) -> Self {
        HashMap {
            raw: new_raw(
                0,
                hasher,
                Tuning {
                    min_buckets,
                    chunk: chunk_buckets,
                    help: help_buckets,
                    ..Tuning::default()
                },
            ),
        }
    }

    /// Makes every remove check whether the table should shrink (normally a
    /// remove checks only when its counter stripe's count before it is a
    /// multiple of 64): models use it to reach a shrink with a few keys. Not
    /// part of the stable API.
    #[doc(hidden)]
    pub fn check_shrink_on_every_remove(mut self) -> Self {
        self.raw.tuning.shrink_check_mask = 0;
        self
    }

    /// The number of entries. Exact when no write is in flight, an estimate
    /// during concurrent writes. O(1) in the map size (sums a few per-thread
    /// counters).
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// map.pin().insert(1, 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// ```
    /// assert!(epochmap::HashMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries the table has room for under its load limit, 5/8 of its slots
    /// (of the table being migrated into, while a resize is in flight).
    ///
    /// It is not the exact point of the next resize, either way. The load is
    /// checked when an insert lands outside its key's home bucket, so a table
    /// whose keys all land at home may fill past it, up to its last slot,
    /// before it grows: `len()` can exceed `capacity()` briefly. And the load
    /// counts tombstones as well as entries (removes leave them, and so do the
    /// losing claims of inserts of one key that race each other), so a resize
    /// (a rebuild at the same size, which drops them) can start while `len()`
    /// is below `capacity()`. Without those, a map holds `capacity()` entries
    /// without resizing, as [`with_capacity`](Self::with_capacity) and
    /// [`reserve`](Self::reserve) promise.
    ///
    /// ```
    /// let map = epochmap::HashMap::<u8, u8>::with_capacity(100);
    /// assert!(map.capacity() >= 100);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity_under(&self.guard())
    }

    /// [`capacity`](Self::capacity) read under a guard the caller holds.
    pub(crate) fn capacity_under(&self, guard: &Guard) -> usize {
        self.raw.capacity(guard)
    }

    /// The map's hasher.
    ///
    /// ```
    /// let map = epochmap::HashMap::<u8, u8>::new();
    /// let _hasher: &ahash::RandomState = map.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        &self.raw.hasher
    }

    /// Pins the current thread: a guard for the guard-taking methods.
    ///
    /// Memory removed from any crossbeam-epoch structure is not freed while a
    /// guard pinned before the removal lives, so keep guards short-lived.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, "one", &guard);
    /// assert_eq!(map.get(&1, &guard), Some(&"one"));
    /// ```
    pub fn guard(&self) -> Guard {
        crossbeam_epoch::pin()
    }

    /// A handle holding a pinned guard, offering the map's guard-taking
    /// operations without a guard argument (the parallel iterators of the
    /// `rayon` feature stay on [`HashMap`], since each worker pins its own
    /// guard).
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(7, 49);
    /// assert_eq!(m.get(&7), Some(&49));
    /// ```
    pub fn pin(&self) -> HashMapRef<'_, K, V, S> {
        HashMapRef {
            map: self,
            guard: self.guard(),
        }
    }

    /// An observability snapshot: sizes, load, resizes started and finished,
    /// and the progress of a resize in flight. Cheap (a few counter loads, no
    /// walk over the entries): fit for a metrics endpoint.
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> = epochmap::HashMap::new();
    /// map.pin().insert(1, 1);
    /// let stats = map.stats();
    /// assert_eq!(stats.len, 1);
    /// assert_eq!(stats.resizes_finished, 0);
    /// assert!(stats.migration.is_none());
    /// ```
    pub fn stats(&self) -> Stats {
        let guard = self.guard();
        Stats::from_snapshot(self.raw.snapshot(&guard))
    }

    /// Iterates with mutable access to the values. Needs `&mut self`, so no
    /// guard and no atomic read-modify-write: nobody else can be in the map.
    ///
    /// ```
    /// let mut map: epochmap::HashMap<u32, u32> = (0..3).map(|i| (i, i)).collect();
    /// for (_, v) in map.iter_mut() {
    ///     *v *= 10;
    /// }
    /// assert_eq!(map.pin().get(&2), Some(&20));
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        IterMut {
            raw: self.raw.iter_mut(),
        }
    }

    /// Removes every entry and returns them; the table keeps its size.
    /// The map is empty as soon as the call returns; entries the iterator
    /// has not yielded when it is dropped are dropped with it.
    ///
    /// ```
    /// let mut map: epochmap::HashMap<u32, char> = [(1, 'a'), (2, 'b')].into_iter().collect();
    /// let mut taken: Vec<_> = map.drain().collect();
    /// taken.sort();
    /// assert_eq!(taken, [(1, 'a'), (2, 'b')]);
    /// assert!(map.is_empty());
    /// ```
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        Drain {
            inner: self.raw.drain(),
            _map: PhantomData,
        }
    }

    #[inline]
    #[track_caller]
    fn check(&self, guard: &Guard) {
        if guard.collector() != Some(crossbeam_epoch::default_collector()) {
            foreign_guard();
        }
    }

    /// The raw map, and proof that `guard` stays pinned for `'g`, for the
    /// parallel scan of `crate::rayon`. Rejects a foreign guard like every method.
    #[cfg(feature = "rayon")]
    #[track_caller]
    pub(crate) fn raw_pinned<'g>(
        &'g self,
        guard: &'g Guard,
    ) -> (&'g RawMap<K, V, S>, crate::sync::Pinned<'g>) {
        match crate::sync::Pinned::new(guard) {
            Some(pinned) => (&self.raw, pinned),
            None => foreign_guard(),
        }
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The value of `key`.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(String::from("k"), 1, &guard);
    /// assert_eq!(map.get("k", &guard), Some(&1));
    /// ```
    #[inline]
    pub fn get<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.check(guard);
        self.raw.get(key, guard).map(|n| &*n.value)
    }

    /// The stored key and value of `key`.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, 'a', &guard);
    /// assert_eq!(map.get_key_value(&1, &guard), Some((&1, &'a')));
    /// ```
    pub fn get_key_value<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<(&'g K, &'g V)>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.check(guard);
        self.raw.get(key, guard).map(|n| (&n.key, &*n.value))
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, (), &guard);
    /// assert!(map.contains_key(&1, &guard));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q, guard: &Guard) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.get(key, guard).is_some()
    }

    /// Inserts or replaces; returns the replaced value.
    ///
    /// Everything this thread wrote before the call is visible to any thread
    /// whose `get` returns the new value.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.insert(1, 10, &guard), None);
    /// assert_eq!(map.insert(1, 11, &guard), Some(&10));
    /// ```
    pub fn insert<'g>(&'g self, key: K, value: V, guard: &'g Guard) -> Option<&'g V> {
        self.check(guard);
        self.raw.insert(key, value, guard)
    }

    /// Inserts only if `key` is absent. Of racing callers exactly one succeeds.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.try_insert(1, 'a', &guard).unwrap(), &'a');
    /// let err = map.try_insert(1, 'b', &guard).unwrap_err();
    /// assert_eq!((err.current, err.not_inserted), (&'a', 'b'));
    /// ```
    pub fn try_insert<'g>(
        &'g self,
        key: K,
        value: V,
        guard: &'g Guard,
    ) -> Result<&'g V, OccupiedError<'g, V>> {
        self.check(guard);
        self.raw
            .try_insert(key, value, guard)
            .map_err(|(current, not_inserted)| OccupiedError {
                current,
                not_inserted,
            })
    }

    /// The value of `key`, inserting `make()` first if it is absent.
    ///
    /// Exactly one value wins a race and every caller gets that one. `make`
    /// runs only if the key was absent when the call looked, but racing callers
    /// may each run it; the losers' values are dropped.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// assert_eq!(map.get_or_insert_with(1, || 5, &guard), &5);
    /// assert_eq!(map.get_or_insert_with(1, || 6, &guard), &5);
    /// ```
    pub fn get_or_insert_with<'g, F>(&'g self, key: K, make: F, guard: &'g Guard) -> &'g V
    where
        F: FnOnce() -> V,
    {
        self.check(guard);
        self.raw.get_or_insert_with(key, make, guard)
    }

    /// The general atomic read-modify-write: `f` sees the key's entry (or
    /// `None`) and returns an [`Operation`]: insert or replace a value,
    /// remove the entry, or abort with a value of its own. The result says
    /// what happened.
    ///
    /// The decision is written only if the entry is still the one `f` saw
    /// (a compare-and-swap on it, or an insert-if-absent). If another writer
    /// got there first, `f` runs again on what that writer left, so **`f` may
    /// run more than once** and should have no side effects that must not
    /// repeat; values it made in runs that lost are dropped. The run whose
    /// decision took effect is the last one. Linearizable, like [`update`](Self::update).
    ///
    /// The key is moved into the new entry; it is cloned (`K: Clone`) only
    /// when a racing insert of the same key wins after this call had claimed
    /// a slot.
    ///
    /// ```
    /// use epochmap::{Compute, HashMap, Operation};
    ///
    /// let stock = HashMap::new();
    /// let guard = stock.guard();
    /// stock.insert("apples", 2u32, &guard);
    /// // Take one apple; remove the entry when the last one goes.
    /// let take = |e: Option<(&&str, &u32)>| match e {
    ///     Some((_, 1)) => Operation::Remove,
    ///     Some((_, n)) => Operation::Insert(n - 1),
    ///     None => Operation::Abort("sold out"),
    /// };
    /// assert!(matches!(stock.compute("apples", take, &guard), Compute::Updated { .. }));
    /// assert_eq!(stock.compute("apples", take, &guard), Compute::Removed(&"apples", &1));
    /// assert_eq!(stock.compute("apples", take, &guard), Compute::Aborted("sold out"));
    /// ```
    pub fn compute<'g, F, T>(&'g self, key: K, mut f: F, guard: &'g Guard) -> Compute<'g, K, V, T>
    where
        K: Clone,
        F: FnMut(Option<(&K, &V)>) -> Operation<V, T>,
    {
        self.check(guard);
        let decide = |entry: Option<&crate::raw::compute::Entry<K, V>>| match f(
            entry.map(|n| (&n.key, &*n.value))
        ) {
            Operation::Insert(v) => Decision::Insert(v),
            Operation::Remove => Decision::Remove,
            Operation::Abort(t) => Decision::Abort(t),
        };
        match self.raw.compute(key, decide, drop, guard) {
            Computed::Inserted(n) => Compute::Inserted(&n.key, &n.value),
            Computed::Updated { old, new } => Compute::Updated {
                old: (&old.key, &old.value),
                new: (&new.key, &new.value),
            },
            Computed::Removed(n) => Compute::Removed(&n.key, &n.value),
            Computed::Absent => Compute::Absent,
            Computed::Aborted(t) => Compute::Aborted(t),
        }
    }

    /// Replaces the value of `key` with `update(current)`, or inserts
    /// `insert()` if the key is absent; returns the value now in the map.
    /// Atomic: no update is lost and at most one insert wins.
    ///
    /// `update` may run more than once under contention (see
    /// [`compute`](Self::compute)); `insert` runs at most once (a value it
    /// made that lost a race is kept for the next try).
    ///
    /// ```
    /// let counts = epochmap::HashMap::new();
    /// let guard = counts.guard();
    /// for word in ["a", "b", "a"] {
    ///     counts.update_or_insert_with(word, |n| n + 1, || 1, &guard);
    /// }
    /// assert_eq!(counts.get("a", &guard), Some(&2));
    /// assert_eq!(counts.get("b", &guard), Some(&1));
    /// ```
    pub fn update_or_insert_with<'g, U, I>(
        &'g self,
        key: K,
        update: U,
        insert: I,
        guard: &'g Guard,
    ) -> &'g V
    where
        K: Clone,
        U: Fn(&V) -> V,
        I: FnOnce() -> V,
    {
        self.check(guard);
        let mut insert = Some(insert);
        // A value made by `insert` whose insert lost a race: reused, so `insert` runs once.
        let spare: Cell<Option<V>> = Cell::new(None);
        let last_was_insert = Cell::new(false);
        let decide = |entry: Option<&crate::raw::compute::Entry<K, V>>| {
            last_was_insert.set(entry.is_none());
            Decision::<V, core::convert::Infallible>::Insert(match entry {
                Some(n) => update(&n.value),
                None => match spare.take() {
                    Some(v) => v,
                    None => (insert
                        .take()
                        .expect("`insert` runs once; later tries reuse its value"))(
                    ),
                },
            })
        };
        let lost = |v: V| {
            if last_was_insert.get() {
                spare.set(Some(v));
            }
        };
        match self.raw.compute(key, decide, lost, guard) {
            Computed::Inserted(n) => &n.value,
            Computed::Updated { new, .. } => &new.value,
            Computed::Removed(_) | Computed::Absent | Computed::Aborted(_) => {
                unreachable!("the closure only inserts")
            }
        }
    }

    /// The value of `key`, cloned. Pins and unpins inside the call, so the
    /// caller holds no guard afterwards: the form for `async` code (a future
    /// that calls it stays `Send`) and for threads that must not delay memory
    /// reclamation.
    ///
    /// Why not hold a guard across `.await`: a [`Guard`] is tied to the thread
    /// that pinned (it is not `Send`), so a future holding one cannot move
    /// between executor threads, and while it is pinned no memory retired by
    /// any crossbeam-epoch structure in the process can be freed: a future
    /// parked for seconds would stall reclamation for everyone.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// map.pin().insert(String::from("user:1"), String::from("Ada"));
    /// let name: Option<String> = map.get_cloned("user:1");
    /// assert_eq!(name.as_deref(), Some("Ada"));
    /// ```
    pub fn get_cloned<Q>(&self, key: &Q) -> Option<V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        V: Clone,
    {
        let guard = self.guard();
        self.raw.get(key, &guard).map(|n| (*n.value).clone())
    }

    /// Calls `f` on the entry of `key` and returns its result, pinning only
    /// for the duration of the call (see [`get_cloned`](Self::get_cloned)
    /// for why that matters in `async` code). Use it to copy out part of a
    /// large value without cloning all of it.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// map.pin().insert(1, vec![10, 20, 30]);
    /// assert_eq!(map.read(&1, |_, v| v.len()), Some(3));
    /// assert_eq!(map.read(&2, |_, v| v.len()), None);
    /// ```
    pub fn read<Q, R, F>(&self, key: &Q, f: F) -> Option<R>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        F: FnOnce(&K, &V) -> R,
    {
        let guard = self.guard();
        self.raw.get(key, &guard).map(|n| f(&n.key, &n.value))
    }

    /// Rebuilds the map into the smallest table that holds its entries (a
    /// resize in flight is finished, tombstones are dropped). It gives up the
    /// room reserved by [`with_capacity`](Self::with_capacity) and
    /// [`reserve`](Self::reserve): later removes may shrink the table further.
    /// Exclusive access: no guard needed.
    ///
    /// ```
    /// let mut map: epochmap::HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
    /// map.retain(|k, _| *k < 10, &map.guard());
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < 100);
    /// assert_eq!(map.len(), 10);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.raw.shrink_to_fit();
    }

    /// Walks the whole table chain and counts what no operation may leave
    /// behind: claims, a node in two slots, a key in two entries, a slot under
    /// another key's tag ([`Audit`](crate::Audit)). Exclusive access, so no
    /// operation is in flight; runs the keys' `Hash` and `Eq`. For the map's
    /// own tests: not stable API.
    #[doc(hidden)]
    pub fn audit(&mut self) -> crate::Audit {
        self.raw.audit()
    }

    /// The value of `key`, mutably. Exclusive access: no guard, no atomic
    /// read-modify-write.
    ///
    /// ```
    /// let mut map = epochmap::HashMap::new();
    /// map.pin().insert(String::from("k"), 1);
    /// *map.get_mut("k").unwrap() += 1;
    /// assert_eq!(map.pin().get("k"), Some(&2));
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.raw.get_mut(key)
    }

    /// Atomically replaces the value of `key` with `f(current)`; returns the
    /// new value, or `None` if the key is absent.
    ///
    /// No update is ever lost: if another writer changes the entry between the
    /// read and the write, `f` runs again on the newer value, so `f` may run
    /// more than once and must not have side effects that cannot repeat. `f`
    /// is not called if the key is absent when the call looks; if another
    /// thread removes the key after `f` ran, `f`'s value is dropped unseen
    /// and the result is `None`. The key is cloned into the new entry
    /// (`K: Clone`). An `f` that writes `key` itself makes the call run `f`
    /// again, and one that does so on every run never returns (see the crate
    /// docs, "Guarantees").
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert("hits", 0, &guard);
    /// assert_eq!(map.update("hits", |n| n + 1, &guard), Some(&1));
    /// assert_eq!(map.update("misses", |n| n + 1, &guard), None);
    /// ```
    #[must_use = "`None` means the key was absent and nothing was updated"]
    pub fn update<'g, Q, F>(&'g self, key: &Q, f: F, guard: &'g Guard) -> Option<&'g V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        K: Clone,
        F: Fn(&V) -> V,
    {
        self.check(guard);
        self.raw.update(key, f, guard)
    }

    /// Replaces the value of `key` with `new` only if it equals `current`.
    ///
    /// `Ok` holds the value that was replaced; `Err` holds what the map held
    /// instead (`None` if the key is absent) and gives `new` back, ready for
    /// an optimistic retry loop.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert("balance", 100, &guard);
    /// assert_eq!(map.compare_exchange("balance", &100, 70, &guard), Ok(&100));
    /// let err = map.compare_exchange("balance", &100, 40, &guard).unwrap_err();
    /// assert_eq!((err.current, err.new), (Some(&70), 40));
    /// ```
    pub fn compare_exchange<'g, Q>(
        &'g self,
        key: &Q,
        current: &V,
        new: V,
        guard: &'g Guard,
    ) -> Result<&'g V, CompareExchangeError<'g, V>>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        K: Clone,
        V: PartialEq,
    {
        self.check(guard);
        self.raw
            .compare_exchange(key, current, new, guard)
            .map_err(|(current, new)| CompareExchangeError { current, new })
    }

    /// Removes `key`; returns its value (readable until the guard is dropped).
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, 'x', &guard);
    /// assert_eq!(map.remove(&1, &guard), Some(&'x'));
    /// assert_eq!(map.remove(&1, &guard), None);
    /// ```
    #[must_use = "`None` means the key was absent and nothing was removed"]
    pub fn remove<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.check(guard);
        self.raw
            .remove_if(key, |_, _| true, guard)
            .map(|n| &*n.value)
    }

    /// Removes `key` if `pred(key, value)` holds for its current entry,
    /// atomically: an entry replaced after `pred` looked is not removed.
    ///
    /// If another writer replaces the entry between `pred`'s verdict and the
    /// removal, `pred` runs again on the newer entry, which is removed if it
    /// holds for that one: `pred` may run more than once, so it must not have
    /// side effects that cannot repeat.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let guard = map.guard();
    /// map.insert(1, 10, &guard);
    /// assert_eq!(map.remove_if(&1, |_, v| *v > 50, &guard), None);
    /// assert_eq!(map.remove_if(&1, |_, v| *v == 10, &guard), Some((&1, &10)));
    /// ```
    #[must_use = "`None` means nothing was removed"]
    pub fn remove_if<'g, Q, F>(
        &'g self,
        key: &Q,
        pred: F,
        guard: &'g Guard,
    ) -> Option<(&'g K, &'g V)>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        F: FnMut(&K, &V) -> bool,
    {
        self.check(guard);
        self.raw
            .remove_if(key, pred, guard)
            .map(|n| (&n.key, &*n.value))
    }

    /// Keeps only the entries for which `keep` returns true. Weakly consistent,
    /// like [`iter`](Self::iter): entries inserted meanwhile may be skipped.
    /// `keep` runs once per entry it is shown, and an entry is removed only if
    /// it still holds the value `keep` judged: a key whose value another thread
    /// (or `keep` itself) replaces after the verdict keeps the new value, which
    /// is not judged again.
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
    /// let guard = map.guard();
    /// map.retain(|_, v| v % 2 == 0, &guard);
    /// assert_eq!(map.len(), 5);
    /// ```
    pub fn retain<F>(&self, mut keep: F, guard: &Guard)
    where
        F: FnMut(&K, &V) -> bool,
    {
        self.check(guard);
        for (k, v) in self.raw.iter(guard) {
            if !keep(k, v) {
                // Remove exactly the entry judged, not a newer value of the key.
                let _ = self.raw.remove_if(k, |_, now| core::ptr::eq(now, v), guard);
            }
        }
    }

    /// Removes every entry present when the call starts and left alone during
    /// it. Entries inserted, replaced or removed and inserted again by other
    /// threads while it runs may survive: like [`retain`](Self::retain), it
    /// removes exactly the entries it judged, never a newer value of a key.
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
    /// map.clear(&map.guard());
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&self, guard: &Guard) {
        self.retain(|_, _| false, guard);
    }

    /// Makes room for `additional` more entries: starts the resize at once
    /// (it completes incrementally, as writers touch the map). A resize already
    /// in flight whose target is too small for them, a growth the load started
    /// or a shrink, this call first helps to its end, which can mean migrating
    /// most of the table in this call.
    ///
    /// The room stays reserved: removes never shrink the table below it, until
    /// [`shrink_to_fit`](Self::shrink_to_fit) gives it up. One race is left: a
    /// remove on another thread that decided to shrink just before this call
    /// raised the reservation, and links its shrink just after this call
    /// looked at the table, can still shrink it; the map then grows back as
    /// inserts need the room. A shrink that this call sees in flight it helps
    /// to the end, and then it grows the table itself.
    ///
    /// # Panics
    /// If the table cannot be allocated; see [`try_reserve`](Self::try_reserve).
    ///
    /// ```
    /// let map = epochmap::HashMap::<u64, u64>::new();
    /// map.reserve(10_000, &map.guard());
    /// assert!(map.capacity() >= 10_000);
    /// ```
    #[track_caller]
    pub fn reserve(&self, additional: usize, guard: &Guard) {
        if let Err(e) = self.try_reserve(additional, guard) {
            panic!("epochmap: reserve({additional}) failed: {e}");
        }
    }

    /// Like [`reserve`](Self::reserve), but returns an error instead of
    /// panicking when the size overflows or its table cannot be allocated.
    ///
    /// # Panics
    /// Like any write that helps a resize in flight: if that resize's target
    /// overflows while this call helps it and the table the overflow needs
    /// cannot be allocated (crate docs, "Panics"). Only the table of this
    /// call's own resize is covered by the error.
    ///
    /// ```
    /// let map = epochmap::HashMap::<u64, u64>::new();
    /// assert!(map.try_reserve(usize::MAX, &map.guard()).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize, guard: &Guard) -> Result<(), TryReserveError> {
        self.check(guard);
        self.raw.try_reserve(additional, guard).map_err(Into::into)
    }

    /// Starts a resize of the table to `buckets` buckets now (tests and models
    /// use it to put a resize in the middle of a scenario), raised to what the
    /// current entries need. Not stable API.
    #[doc(hidden)]
    pub fn begin_resize(&self, buckets: usize, guard: &Guard) {
        self.check(guard);
        if let Err(e) = self.raw.begin_resize(buckets, guard) {
            alloc_panic(e);
        }
    }

    /// Starts a resize to exactly `buckets` buckets (a power of two, at least
    /// the map's minimum), even if the current entries do not fit in it: the
    /// copy then overflows the target into a resize of its own, the state a
    /// shrink reaches when inserts overtake it. Models use it to put that
    /// state in a scenario without the race that produces it. Not stable API.
    #[doc(hidden)]
    pub fn begin_resize_exact(&self, buckets: usize, guard: &Guard) {
        self.check(guard);
        if let Err(e) = self.raw.begin_resize_exact(buckets, guard) {
            alloc_panic(e);
        }
    }

    /// Migrates one helping budget (the chunks a write would migrate) of the
    /// resize in flight, if any, and nothing else: models use it to put a
    /// migration step exactly where a scenario needs it. Not stable API.
    #[doc(hidden)]
    pub fn help_resize(&self, guard: &Guard) {
        self.check(guard);
        self.raw.help_root(guard);
    }

    /// An iterator over the entries; weakly consistent: every entry present
    /// for the whole iteration is yielded exactly once, even across a resize;
    /// entries inserted or removed meanwhile may or may not be. Never waits.
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> = (0..3).map(|i| (i, i * i)).collect();
    /// let guard = map.guard();
    /// let mut all: Vec<_> = map.iter(&guard).map(|(k, v)| (*k, *v)).collect();
    /// all.sort();
    /// assert_eq!(all, [(0, 0), (1, 1), (2, 4)]);
    /// ```
    pub fn iter<'g>(&'g self, guard: &'g Guard) -> Iter<'g, K, V, S> {
        self.check(guard);
        Iter {
            raw: self.raw.iter(guard),
        }
    }

    /// The keys, weakly consistent like [`iter`](Self::iter).
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, ()> = (0..3).map(|i| (i, ())).collect();
    /// assert_eq!(map.keys(&map.guard()).count(), 3);
    /// ```
    pub fn keys<'g>(&'g self, guard: &'g Guard) -> Keys<'g, K, V, S> {
        Keys {
            inner: self.iter(guard),
        }
    }

    /// The values, weakly consistent like [`iter`](Self::iter).
    ///
    /// ```
    /// let map: epochmap::HashMap<u32, u32> = (1..4).map(|i| (i, i)).collect();
    /// assert_eq!(map.values(&map.guard()).sum::<u32>(), 6);
    /// ```
    pub fn values<'g>(&'g self, guard: &'g Guard) -> Values<'g, K, V, S> {
        Values {
            inner: self.iter(guard),
        }
    }
}

/// A [`HashMap`] with a pinned guard: the guard-taking operations, without a
/// guard argument.
///
/// References it returns live as long as the handle. Holding a handle delays
/// memory reclamation (for every crossbeam-epoch structure), so drop it when
/// the work at hand is done; do not hold it across `.await` or blocking calls.
pub struct HashMapRef<'m, K, V, S = DefaultHashBuilder> {
    map: &'m HashMap<K, V, S>,
    guard: Guard,
}

impl<K, V, S> HashMapRef<'_, K, V, S> {
    /// The underlying map.
    ///
    /// ```
    /// let map = epochmap::HashMap::<u8, u8>::new();
    /// assert!(std::ptr::eq(map.pin().map(), &map));
    /// ```
    pub fn map(&self) -> &HashMap<K, V, S> {
        self.map
    }

    /// The guard this handle holds.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// map.insert(1, 2, m.guard());
    /// ```
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Lets memory reclamation go on while keeping the handle: moves its
    /// guard to the current epoch (crossbeam-epoch's [`Guard::repin`]).
    /// References obtained through the handle before the call end with it,
    /// which the `&mut self` borrow enforces.
    ///
    /// A worker that keeps one handle for a loop of operations should call
    /// this every few hundred or thousand operations: while a guard stays in
    /// one epoch, nothing retired since then can be freed, in this map or in
    /// any other crossbeam-epoch structure of the process. If the thread
    /// holds other guards too, the epoch cannot move and this does nothing.
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let mut m = map.pin();
    /// for i in 0..10_000u64 {
    ///     m.insert(i % 100, i);
    ///     if i % 1_000 == 999 {
    ///         m.repin();
    ///     }
    /// }
    /// assert_eq!(m.len(), 100);
    /// ```
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// See [`HashMap::len`].
    ///
    /// ```
    /// assert_eq!(epochmap::HashMap::<u8, u8>::new().pin().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// See [`HashMap::is_empty`].
    ///
    /// ```
    /// assert!(epochmap::HashMap::<u8, u8>::new().pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// See [`HashMap::capacity`].
    ///
    /// ```
    /// assert!(epochmap::HashMap::<u8, u8>::with_capacity(9).pin().capacity() >= 9);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity_under(&self.guard)
    }
}

impl<K, V, S> HashMapRef<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// See [`HashMap::get`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.get(&1), Some(&2));
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map.raw.get(key, &self.guard).map(|n| &*n.value)
    }

    /// See [`HashMap::get_key_value`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.get_key_value(&1), Some((&1, &2)));
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map
            .raw
            .get(key, &self.guard)
            .map(|n| (&n.key, &*n.value))
    }

    /// See [`HashMap::contains_key`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert!(m.contains_key(&1));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.get(key).is_some()
    }

    /// See [`HashMap::insert`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.insert(1, 2), None);
    /// assert_eq!(m.insert(1, 3), Some(&2));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map.raw.insert(key, value, &self.guard)
    }

    /// See [`HashMap::try_insert`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// assert!(m.try_insert(1, 2).is_ok());
    /// assert!(m.try_insert(1, 3).is_err());
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<&V, OccupiedError<'_, V>> {
        self.map.try_insert(key, value, &self.guard)
    }

    /// See [`HashMap::get_or_insert_with`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert_with(1, || 2), &2);
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> &V
    where
        F: FnOnce() -> V,
    {
        self.map.raw.get_or_insert_with(key, make, &self.guard)
    }

    /// See [`HashMap::compute`].
    ///
    /// ```
    /// use epochmap::{Compute, HashMap, Operation};
    /// let map = HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.compute(1, |_| Operation::<_, ()>::Insert(5)), Compute::Inserted(&1, &5));
    /// ```
    pub fn compute<F, T>(&self, key: K, f: F) -> Compute<'_, K, V, T>
    where
        K: Clone,
        F: FnMut(Option<(&K, &V)>) -> Operation<V, T>,
    {
        self.map.compute(key, f, &self.guard)
    }

    /// See [`HashMap::update_or_insert_with`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.update_or_insert_with("a", |n| n + 1, || 1), &1);
    /// assert_eq!(m.update_or_insert_with("a", |n| n + 1, || 1), &2);
    /// ```
    pub fn update_or_insert_with<U, I>(&self, key: K, update: U, insert: I) -> &V
    where
        K: Clone,
        U: Fn(&V) -> V,
        I: FnOnce() -> V,
    {
        self.map
            .update_or_insert_with(key, update, insert, &self.guard)
    }

    /// See [`HashMap::update`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.update(&1, |v| v * 10), Some(&20));
    /// ```
    #[must_use = "`None` means the key was absent and nothing was updated"]
    pub fn update<Q, F>(&self, key: &Q, f: F) -> Option<&V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        K: Clone,
        F: Fn(&V) -> V,
    {
        self.map.raw.update(key, f, &self.guard)
    }

    /// See [`HashMap::compare_exchange`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.compare_exchange(&1, &2, 3), Ok(&2));
    /// ```
    pub fn compare_exchange<Q>(
        &self,
        key: &Q,
        current: &V,
        new: V,
    ) -> Result<&V, CompareExchangeError<'_, V>>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        K: Clone,
        V: PartialEq,
    {
        self.map.compare_exchange(key, current, new, &self.guard)
    }

    /// See [`HashMap::remove`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.remove(&1), Some(&2));
    /// ```
    #[must_use = "`None` means the key was absent and nothing was removed"]
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map.remove(key, &self.guard)
    }

    /// See [`HashMap::remove_if`].
    ///
    /// ```
    /// let map = epochmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 2);
    /// assert_eq!(m.remove_if(&1, |_, v| *v == 2), Some((&1, &2)));
    /// ```
    #[must_use = "`None` means nothing was removed"]
    pub fn remove_if<Q, F>(&self, key: &Q, pred: F) -> Option<(&K, &V)>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        F: FnMut(&K, &V) -> bool,
    {
        self.map.remove_if(key, pred, &self.guard)
    }

    /// See [`HashMap::retain`].
    ///
    /// ```
    /// let map: epochmap::HashMap<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// map.pin().retain(|k, _| *k < 2);
    /// assert_eq!(map.len(), 2);
    /// ```
    pub fn retain<F>(&self, keep: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        self.map.retain(keep, &self.guard)
    }

    /// See [`HashMap::clear`].
    ///
    /// ```
    /// let map: epochmap::HashMap<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// map.pin().clear();
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.clear(&self.guard)
    }

    /// See [`HashMap::reserve`].
    ///
    /// ```
    /// let map = epochmap::HashMap::<u8, u8>::new();
    /// map.pin().reserve(100);
    /// ```
    #[track_caller]
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional, &self.guard)
    }

    /// See [`HashMap::try_reserve`].
    ///
    /// ```
    /// let map = epochmap::HashMap::<u8, u8>::new();
    /// assert!(map.pin().try_reserve(100).is_ok());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        self.map.try_reserve(additional, &self.guard)
    }

    /// See [`HashMap::iter`].
    ///
    /// ```
    /// let map: epochmap::HashMap<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// assert_eq!(map.pin().iter().count(), 4);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        self.map.iter(&self.guard)
    }

    /// See [`HashMap::keys`].
    ///
    /// ```
    /// let map: epochmap::HashMap<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// assert_eq!(map.pin().keys().count(), 4);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, S> {
        self.map.keys(&self.guard)
    }

    /// See [`HashMap::values`].
    ///
    /// ```
    /// let map: epochmap::HashMap<u8, u8> = (0..4).map(|i| (i, i)).collect();
    /// assert_eq!(map.pin().values().count(), 4);
    /// ```
    pub fn values(&self) -> Values<'_, K, V, S> {
        self.map.values(&self.guard)
    }
}

impl<'a, K, V, S> IntoIterator for &'a HashMapRef<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V, S>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over `(&K, &V)`; see [`HashMap::iter`].
pub struct Iter<'g, K, V, S> {
    raw: RawIter<'g, K, V, S>,
}

impl<'g, K: Hash + Eq, V, S: BuildHasher> Iterator for Iter<'g, K, V, S> {
    type Item = (&'g K, &'g V);
    fn next(&mut self) -> Option<Self::Item> {
        self.raw.next()
    }
}

/// Iterator over the keys; see [`HashMap::keys`].
pub struct Keys<'g, K, V, S> {
    inner: Iter<'g, K, V, S>,
}

impl<'g, K: Hash + Eq, V, S: BuildHasher> Iterator for Keys<'g, K, V, S> {
    type Item = &'g K;
    fn next(&mut self) -> Option<&'g K> {
        self.inner.next().map(|(k, _)| k)
    }
}

/// Iterator over the values; see [`HashMap::values`].
pub struct Values<'g, K, V, S> {
    inner: Iter<'g, K, V, S>,
}

impl<'g, K: Hash + Eq, V, S: BuildHasher> Iterator for Values<'g, K, V, S> {
    type Item = &'g V;
    fn next(&mut self) -> Option<&'g V> {
        self.inner.next().map(|(_, v)| v)
    }
}

/// Iterator over `(&K, &mut V)`; see [`HashMap::iter_mut`].
pub struct IterMut<'a, K, V> {
    raw: RawIterMut<'a, K, V>,
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        self.raw.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.raw.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}

/// Owning iterator over `(K, V)`; see [`HashMap::drain`].
pub struct Drain<'a, K, V> {
    inner: Detached<K, V>,
    _map: PhantomData<&'a mut ()>,
}

impl<K, V> Iterator for Drain<'_, K, V> {
    type Item = (K, V);
    fn next(&mut self) -> Option<(K, V)> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Drain<'_, K, V> {}

/// Owning iterator over `(K, V)`, from `HashMap::into_iter`.
///
/// ```
/// let map: epochmap::HashMap<u8, u8> = [(1, 2)].into_iter().collect();
/// let pairs: Vec<(u8, u8)> = map.into_iter().collect();
/// assert_eq!(pairs, [(1, 2)]);
/// ```
pub struct IntoIter<K, V> {
    inner: Detached<K, V>,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);
    fn next(&mut self) -> Option<(K, V)> {
        self.inner.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {
    fn len(&self) -> usize {
        self.inner.len()
    }
}

impl<K, V, S> IntoIterator for HashMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;
    /// Takes every entry out of the map, without atomics (the map is owned).
    fn into_iter(mut self) -> IntoIter<K, V> {
        let min = self.raw.tuning.min_buckets;
        let inner = match self.raw.detach_all(min) {
            Ok(d) => d,
            Err(e) => alloc_panic(e),
        };
        IntoIter { inner }
    }
}

impl<'a, K, V, S> IntoIterator for &'a mut HashMap<K, V, S> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;
    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K, V, S: Default> Default for HashMap<K, V, S> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K, V, S> fmt::Debug for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    V: Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.guard();
        f.debug_map().entries(self.iter(&guard)).finish()
    }
}

impl<K, V, S> fmt::Debug for HashMapRef<'_, K, V, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    V: Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    V: Send + 'static + Clone,
    S: BuildHasher + Clone,
{
    fn clone(&self) -> Self {
        let copy = HashMap {
            raw: presized_raw(self.len(), self.raw.hasher.clone(), self.raw.tuning),
        };
        {
            let guard = self.guard();
            for (k, v) in self.iter(&guard) {
                copy.raw.insert(k.clone(), v.clone(), &guard);
            }
        }
        copy
    }
}

impl<K, V, S> PartialEq for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static + PartialEq,
    S: BuildHasher,
{
    /// Equal if both hold the same entries (a snapshot comparison, meaningful
    /// when neither map is being written).
    fn eq(&self, other: &Self) -> bool {
        let guard = self.guard();
        self.len() == other.len()
            && self
                .iter(&guard)
                .all(|(k, v)| other.get(k, &guard) == Some(v))
    }
}

impl<K, V, S> Eq for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static + Eq,
    S: BuildHasher,
{
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher + Default,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let map = HashMap::presized(iter.size_hint().0, S::default());
        {
            let guard = map.guard();
            for (k, v) in iter {
                map.raw.insert(k, v, &guard);
            }
        }
        map
    }
}

impl<K, V, S> Extend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        (&*self).extend(iter)
    }
}

impl<K, V, S> Extend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let guard = self.guard();
        for (k, v) in iter {
            self.raw.insert(k, v, &guard);
        }
    }
}

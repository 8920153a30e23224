//! Iteration: weakly consistent, never waits for a resize.
//!
//! The iterator walks the *hash space*, not a table. Because a key's home
//! bucket is the top bits of its hash, the keys whose hashes fall in a range
//! `[lo, hi)` live in one short run of buckets in every table, whatever its
//! size. Each step takes the range of one root bucket, collects the readable
//! entries with hashes in the range from the root table and then from the
//! table it is migrating into (an entry can move from the first to the second
//! between the two looks, so the second look skips keys already collected),
//! and yields them. Then `lo` moves to `hi`.
//!
//! A key present for the whole iteration has one hash, so exactly one step
//! looks for it; that step finds it in the old table or, if it moved before
//! the look, in the new one (its copy is committed before its old slot says
//! MOVED). Hence: yielded exactly once, even while the table resizes, and
//! the iterator never waits for anyone. Keys inserted or removed during the
//! iteration may or may not be yielded, never twice.
//!
//! The price is one hash per entry visited, paid by iteration only.
//!
//! # Parts of the hash space, and the parallel scan
//!
//! Nothing above needs the walk to start at 0 or to end at `u64::MAX`: a
//! [`RawIter`] covers any range `[lo, last]`, and iterators over disjoint
//! ranges that cover the hash space together yield what one walk would, with
//! the same guarantee (a key's hash lies in exactly one of the ranges). The
//! rayon scan (`crate::rayon`) splits `[0, u64::MAX]` at power-of-two aligned
//! midpoints and gives each part to a worker, which walks it with
//! `RawMap::scan_range` concurrently with the others.
//!
//! A worker cannot use the caller's guard (a `Guard` is bound to the thread
//! that pinned it), so it pins its own for the walk of its part. The
//! references it yields must outlive that guard, up to the caller's `'g`:
//! `Pinned` proves that the caller's guard stays pinned that long, and the
//! safety comment in `RawMap::scan_range` explains why that keeps them valid.

use super::bucket::{match_empty, readable, SLOTS};
use super::table::Table;
use super::RawMap;
#[cfg(feature = "rayon")]
use crate::sync::Pinned;
use crate::sync::{ord, Guard};
use core::hash::{BuildHasher, Hash};
#[cfg(feature = "rayon")]
use core::ops::ControlFlow;

pub(crate) struct RawIter<'g, K, V, S> {
    map: &'g RawMap<K, V, S>,
    guard: &'g Guard,
    /// The first hash of the next step.
    lo: u64,
    /// The last hash of the range (inclusive, so the whole space fits in `u64`).
    last: u64,
    finished: bool,
    buf: Vec<(u64, &'g K, &'g V)>,
    pos: usize,
}

impl<'g, K, V, S> RawIter<'g, K, V, S> {
    /// An iterator over the whole hash space.
    pub(crate) fn new(map: &'g RawMap<K, V, S>, guard: &'g Guard) -> Self {
        Self::range(map, guard, 0, u64::MAX)
    }

    /// An iterator over the entries whose hashes lie in `[lo, last]`.
    fn range(map: &'g RawMap<K, V, S>, guard: &'g Guard, lo: u64, last: u64) -> Self {
        debug_assert!(lo <= last);
        RawIter {
            map,
            guard,
            lo,
            last,
            finished: false,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl<'g, K, V, S> Iterator for RawIter<'g, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    type Item = (&'g K, &'g V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(&(_, k, v)) = self.buf.get(self.pos) {
                self.pos += 1;
                return Some((k, v));
            }
            if self.finished {
                return None;
            }
            self.step();
        }
    }
}

impl<'g, K, V, S> RawIter<'g, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Collects the entries whose hashes lie in the next range.
    fn step(&mut self) {
        // Collect into a buffer taken out of `self`: if a key's `Hash` or `Eq` unwinds
        // half-way, `self.buf` is left empty, and a later `next` redoes the step
        // instead of yielding the partial buffer and then the whole step again.
        let mut buf = core::mem::take(&mut self.buf);
        buf.clear();
        self.pos = 0;
        let mut table = self.map.root.load(self.guard);
        // SAFETY: tables are retired only through `Table::retire` (an epoch-deferred
        // free); the guard is pinned.
        let root = unsafe { table.deref() };
        // One root bucket's worth of hash space, aligned to `lo` if the root shrank
        // (or if the range starts inside a root bucket), cut at the end of the range.
        let width_log = if self.lo == 0 {
            root.shift()
        } else {
            root.shift().min(self.lo.trailing_zeros())
        };
        let lo = self.lo;
        // `lo` is a multiple of `1 << width_log`, so this is `lo + width - 1`, no overflow.
        let last = (lo | ((1u64 << width_log) - 1)).min(self.last);
        while !table.is_null() {
            // SAFETY: as above.
            let t = unsafe { table.deref() };
            self.collect_range(&mut buf, t, lo, last);
            table = t.load_next(self.guard);
        }
        self.buf = buf;
        if last == self.last {
            self.finished = true;
        } else {
            self.lo = last + 1;
        }
    }

    fn collect_range(
        &self,
        buf: &mut Vec<(u64, &'g K, &'g V)>,
        t: &'g Table<K, V>,
        lo: u64,
        last: u64,
    ) {
        let first = t.home(lo);
        let span = t.home(last) - first;
        for dist in 0..t.nbuckets {
            let bucket = t.bucket(first + dist);
            // Relaxed, pairing with nothing (no tag CAS is a release), as the reader's
            // tag load (design.md, row R2): the word only says where the region ends,
            // and the nodes come with the Acquire slot loads. Acquire until the
            // sixteenth session (loom.md, thirteenth run).
            let word = bucket.tags.load(ord::RELAXED);
            for i in 0..SLOTS {
                // Acquire: pairs with the Release CAS that published the node.
                let p = bucket.slots[i].load(ord::ACQUIRE, self.guard);
                if !readable(p) {
                    continue;
                }
                // SAFETY: readable nodes are freed only through `defer` after unlinking;
                // the guard is pinned for 'g.
                let node = unsafe { p.deref() };
                let h = self.map.hash(&node.key);
                if h < lo || h > last {
                    continue;
                }
                // A key moves between tables while we look, or is removed and re-inserted
                // elsewhere in its region: keep the first sighting only.
                let dup = buf.iter().any(|&(bh, k, _)| bh == h && *k == node.key);
                if !dup {
                    buf.push((h, &node.key, &*node.value));
                }
            }
            if dist >= span && match_empty(word).any() {
                break;
            }
        }
    }
}

#[cfg(feature = "rayon")]
impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// log2 of the hash-space width of one bucket of the current root table.
    pub(crate) fn root_bucket_log(&self, guard: &Guard) -> u32 {
        self.root.table(guard).shift()
    }

    /// Folds `f` over the entries whose hashes lie in `[lo, last]`, on any
    /// thread, until it breaks; weakly consistent like [`RawIter`].
    ///
    /// The references live for `'g`, the life of the guard behind `pinned`,
    /// although the walk runs under a guard of the current thread.
    pub(crate) fn scan_range<'g, A>(
        &'g self,
        _pinned: Pinned<'g>,
        lo: u64,
        last: u64,
        mut acc: A,
        mut f: impl FnMut(A, (&'g K, &'g V)) -> ControlFlow<A, A>,
    ) -> A {
        let local = crossbeam_epoch::pin();
        for (k, v) in RawIter::range(self, &local, lo, last) {
            // SAFETY: `k` and `v` belong to a node that was readable when this
            // thread, pinned by `local`, loaded it, so it was unlinked (if ever) after
            // that load; a node is freed only by a function deferred after its unlink,
            // which crossbeam runs only once every participant pinned at the deferral
            // has unpinned. `_pinned` proves the caller's guard (default collector)
            // stays pinned for all of `'g`, and it was pinned before the token was
            // made, which happens before this load (a value only reaches another
            // thread through synchronization). So the caller is pinned when the node
            // is retired (formally: its SeqCst pin fence precedes the retiring thread's
            // SeqCst fence in the total order, as in a one-thread walk), and the node
            // outlives `'g`.
            let (k, v): (&'g K, &'g V) = unsafe { (&*(k as *const K), &*(v as *const V)) };
            acc = match f(acc, (k, v)) {
                ControlFlow::Continue(a) => a,
                ControlFlow::Break(a) => return a,
            };
        }
        acc
    }
}

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

use super::bucket::{match_empty, readable, SLOTS};
use super::table::Table;
use super::RawMap;
use crate::sync::{ord, Guard};
use core::hash::{BuildHasher, Hash};

pub(crate) struct RawIter<'g, K, V, S> {
    map: &'g RawMap<K, V, S>,
    guard: &'g Guard,
    lo: u64,
    finished: bool,
    buf: Vec<(u64, &'g K, &'g V)>,
    pos: usize,
}

impl<'g, K, V, S> RawIter<'g, K, V, S> {
    pub(crate) fn new(map: &'g RawMap<K, V, S>, guard: &'g Guard) -> Self {
        RawIter {
            map,
            guard,
            lo: 0,
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
        self.buf.clear();
        self.pos = 0;
        // Acquire: pairs with the Release root swing of a finished migration.
        let mut table = self.map.root.load(ord::ACQUIRE, self.guard);
        // SAFETY: tables are retired only through `defer_destroy`; the guard is pinned.
        let root = unsafe { table.deref() };
        // One root bucket's worth of hash space, aligned to `lo` if the root shrank.
        let width_log = if self.lo == 0 {
            root.shift
        } else {
            root.shift.min(self.lo.trailing_zeros())
        };
        let lo = self.lo;
        let hi = lo.checked_add(1u64 << width_log);
        let last = hi.map_or(u64::MAX, |h| h - 1);
        while !table.is_null() {
            // SAFETY: as above.
            let t = unsafe { table.deref() };
            self.collect(t, lo, last);
            // Acquire: pairs with the Release CAS linking `next` (`link_next`).
            table = t.next.load(ord::ACQUIRE, self.guard);
        }
        match hi {
            Some(h) => self.lo = h,
            None => self.finished = true,
        }
    }

    fn collect(&mut self, t: &'g Table<K, V>, lo: u64, last: u64) {
        let first = t.home(lo);
        let span = t.home(last) - first;
        for dist in 0..t.nbuckets {
            let bucket = t.bucket(first + dist);
            // Acquire: pairs with the Release tag CASes of claims.
            let word = bucket.tags.load(ord::ACQUIRE);
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
                let dup = self.buf.iter().any(|&(bh, k, _)| bh == h && *k == node.key);
                if !dup {
                    self.buf.push((h, &node.key, &*node.value));
                }
            }
            if dist >= span && match_empty(word).any() {
                break;
            }
        }
    }
}

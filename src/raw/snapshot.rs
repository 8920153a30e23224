//! A snapshot of the map's sizes and resize activity, for `stats()`.
//!
//! Everything here is a `Relaxed` (or `Acquire` for table pointers) load of a
//! counter or header field: no lock, no write, O(counter stripes). The values
//! are read one after another, so during concurrent writes they describe
//! slightly different instants; each one is exact when the map is quiet.

use super::bucket::SLOTS;
use super::RawMap;
use crate::sync::{ord, Guard};

/// Raw figures; `crate::stats` turns them into the public `Stats`.
pub(crate) struct Snapshot {
    pub(crate) len: usize,
    pub(crate) root_buckets: usize,
    pub(crate) root_slots_used: usize,
    pub(crate) capacity: usize,
    pub(crate) resizes_started: usize,
    pub(crate) resizes_finished: usize,
    pub(crate) buckets_migrated: usize,
    /// `(to_buckets, chunks_done, chunks_total, buckets_per_chunk)` of a resize in flight.
    pub(crate) migration: Option<(usize, usize, usize, usize)>,
}

impl<K, V, S> RawMap<K, V, S> {
    pub(crate) fn snapshot(&self, guard: &Guard) -> Snapshot {
        let r = self.root.table(guard);
        r.witness();
        let next = r.load_next(guard);
        let migration = if next.is_null() {
            None
        } else {
            // SAFETY: tables are retired only through `Table::retire` (an
            // epoch-deferred free) and `next` was loaded under `guard`, which is pinned.
            let n = unsafe { next.deref() };
            n.witness();
            // Relaxed: a progress figure only; nothing is read through it.
            let done = r.aux.chunks_done.load(ord::RELAXED);
            Some((n.nbuckets, done, r.nchunks(), r.chunk))
        };
        Snapshot {
            len: self.len(),
            root_buckets: r.nbuckets,
            root_slots_used: r.aux.used.sum().min(r.nbuckets * SLOTS),
            capacity: self.capacity(guard),
            // Relaxed: statistics counters, paired with their Relaxed increments.
            resizes_started: self.stats.resizes_started.load(ord::RELAXED),
            // Relaxed: as above.
            resizes_finished: self.stats.resizes_finished.load(ord::RELAXED),
            // Relaxed: as above.
            buckets_migrated: self.stats.buckets_migrated.load(ord::RELAXED),
            migration,
        }
    }
}

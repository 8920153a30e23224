//! `rayon` support (feature `rayon`): parallel fill and parallel scan.
//!
//! - **Fill**: [`ParallelExtend`] for `HashMap`, `&HashMap`, `HashSet` and
//!   `&HashSet`, and [`FromParallelIterator`]. Each rayon worker inserts
//!   through its own guard, pinned per split of the input (a guard is bound
//!   to the thread that pinned it), so the workers insert concurrently
//!   exactly as separate threads would.
//! - **Scan**: [`HashMap::par_iter`] and [`HashSet::par_iter`] split the
//!   *hash space* among the rayon workers. The range of 64-bit hashes is
//!   halved at power-of-two aligned midpoints, as deep as rayon asks but no
//!   finer than 16 buckets of the root table (so a small map is walked by one
//!   worker), and each worker walks its part of every table of the map (the
//!   root and any table a resize is moving it into) the way [`HashMap::iter`]
//!   walks the whole space. A key's hash lies in exactly one part, so the scan
//!   keeps the guarantee of `iter`: every entry present for the whole scan is
//!   yielded exactly once, even while the table resizes, and no worker ever
//!   waits for a resize. Entries inserted or removed meanwhile may or may not
//!   be yielded, never twice.
//!
//!   Each worker pins its own guard while it walks its part (a guard is bound
//!   to the thread that pinned it). The references it yields live as long as
//!   the caller's guard, which the parallel iterator borrows: that guard,
//!   pinned before the scan started and until it is dropped, keeps the memory
//!   they point to from being reclaimed, whichever thread read it.

use crate::raw::RawMap;
use crate::sync::Pinned;
use crate::{Guard, HashMap, HashSet};
use ::rayon::iter::plumbing::{bridge_unindexed, Folder, UnindexedConsumer, UnindexedProducer};
use ::rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};
use core::hash::{BuildHasher, Hash};
use core::ops::ControlFlow;

/// The scan never splits a part narrower than this many root buckets (log2),
/// so that a worker's share is worth the split and a tiny map is not split.
const MIN_SPLIT_BUCKETS_LOG: u32 = 4;

/// Parallel iterator over `(&K, &V)`; see [`HashMap::par_iter`].
///
/// A parallel scan of the *hash space*: the range of 64-bit hashes is halved
/// at aligned midpoints as rayon asks for work to share (never finer than 16
/// buckets of the table, so a small map is walked by one worker), and each
/// worker walks the entries whose hashes fall in its part, in the table and in
/// any table a resize is moving it into. The parts are disjoint, so an entry
/// present for the whole scan is yielded exactly once.
pub struct ParIter<'g, K, V, S> {
    map: &'g RawMap<K, V, S>,
    pinned: Pinned<'g>,
    /// log2 of the narrowest part a split may leave.
    min_log: u32,
}

/// Parallel iterator over the keys; see [`HashSet::par_iter`].
pub struct ParKeys<'g, K, V, S> {
    inner: ParIter<'g, K, V, S>,
}

impl<'g, K, V, S> ParallelIterator for ParIter<'g, K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    type Item = (&'g K, &'g V);

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        let whole = Part {
            map: self.map,
            pinned: self.pinned,
            lo: 0,
            last: u64::MAX,
            min_log: self.min_log,
        };
        bridge_unindexed(whole, consumer)
    }
}

impl<'g, K, V, S> ParallelIterator for ParKeys<'g, K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    type Item = &'g K;

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        self.inner.map(|(k, _)| k).drive_unindexed(consumer)
    }
}

/// The part `[lo, last]` of the hash space (inclusive, so the whole space fits
/// in `u64`), walked by one worker unless rayon splits it further.
struct Part<'g, K, V, S> {
    map: &'g RawMap<K, V, S>,
    pinned: Pinned<'g>,
    lo: u64,
    last: u64,
    min_log: u32,
}

impl<'g, K, V, S> UnindexedProducer for Part<'g, K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    type Item = (&'g K, &'g V);

    /// Halves the part at the aligned midpoint: for a part `[a * 2w, (a + 1) * 2w)`
    /// (every part is one, starting from the whole space) that is `a * 2w + w`.
    fn split(self) -> (Self, Option<Self>) {
        if self.lo == self.last {
            return (self, None);
        }
        // The highest bit in which the bounds differ: 0 in `lo`, 1 in `last`.
        let k = 63 - (self.lo ^ self.last).leading_zeros();
        if k < self.min_log {
            return (self, None);
        }
        // `lo < mid <= last`, and `mid` is a multiple of `1 << k`.
        let mid = (self.last >> k) << k;
        let right = Part { lo: mid, ..self };
        (
            Part {
                last: mid - 1,
                ..self
            },
            Some(right),
        )
    }

    fn fold_with<F>(self, folder: F) -> F
    where
        F: Folder<Self::Item>,
    {
        if folder.full() {
            return folder;
        }
        self.map
            .scan_range(self.pinned, self.lo, self.last, folder, |folder, entry| {
                let folder = folder.consume(entry);
                if folder.full() {
                    ControlFlow::Break(folder)
                } else {
                    ControlFlow::Continue(folder)
                }
            })
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// A rayon parallel iterator over the entries (feature `rayon`), weakly
    /// consistent like [`iter`](Self::iter): every entry present for the whole
    /// scan is yielded exactly once, even while the table resizes; entries
    /// inserted or removed meanwhile may or may not be. Never waits.
    ///
    /// The scan itself is parallel (see [`ParIter`]): rayon's workers split
    /// the hash space between them and each walks its part of the table(s)
    /// concurrently, so no one thread walks the whole map first. The
    /// references live as long as `guard`, which keeps them valid on every
    /// thread; the workers pin their own guards only while they walk.
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let map: epochmap::HashMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// let guard = map.guard();
    /// let sum: u64 = map.par_iter(&guard).map(|(_, v)| *v).sum();
    /// assert_eq!(sum, (0..10_000).sum());
    /// ```
    #[track_caller]
    pub fn par_iter<'g>(&'g self, guard: &'g Guard) -> ParIter<'g, K, V, S> {
        let (map, pinned) = self.raw_pinned(guard);
        ParIter {
            map,
            pinned,
            min_log: map
                .root_bucket_log(guard)
                .saturating_add(MIN_SPLIT_BUCKETS_LOG),
        }
    }
}

impl<K, S> HashSet<K, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// A rayon parallel iterator over the keys (feature `rayon`): a parallel
    /// scan, weakly consistent like [`iter`](Self::iter); see
    /// [`HashMap::par_iter`].
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let set: epochmap::HashSet<u64> = (0..1000).collect();
    /// let guard = set.guard();
    /// assert_eq!(set.par_iter(&guard).filter(|k| **k % 2 == 0).count(), 500);
    /// ```
    #[track_caller]
    pub fn par_iter<'g>(&'g self, guard: &'g Guard) -> ParKeys<'g, K, (), S> {
        ParKeys {
            inner: self.as_map().par_iter(guard),
        }
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Inserts every pair in parallel into a shared map (later pairs of an
    /// equal key win in no particular order).
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, pairs: I) {
        let map: &HashMap<K, V, S> = self;
        pairs.into_par_iter().for_each_init(
            || map.guard(),
            |guard, (k, v)| {
                map.insert(k, v, guard);
            },
        );
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Inserts every pair in parallel (see the `&HashMap` implementation).
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, pairs: I) {
        (&*self).par_extend(pairs)
    }
}

impl<K, V, S> FromParallelIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Default + Sync,
{
    /// Builds a map by inserting the pairs in parallel.
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut map = HashMap::with_hasher(S::default());
        map.par_extend(pairs);
        map
    }
}

impl<K, S> ParallelExtend<K> for &HashSet<K, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Inserts every key in parallel into a shared set.
    fn par_extend<I: IntoParallelIterator<Item = K>>(&mut self, keys: I) {
        let set: &HashSet<K, S> = self;
        keys.into_par_iter().for_each_init(
            || set.guard(),
            |guard, k| {
                set.insert(k, guard);
            },
        );
    }
}

impl<K, S> ParallelExtend<K> for HashSet<K, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    S: BuildHasher + Sync,
{
    /// Inserts every key in parallel.
    fn par_extend<I: IntoParallelIterator<Item = K>>(&mut self, keys: I) {
        (&*self).par_extend(keys)
    }
}

impl<K, S> FromParallelIterator<K> for HashSet<K, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    S: BuildHasher + Default + Sync,
{
    /// Builds a set by inserting the keys in parallel.
    fn from_par_iter<I: IntoParallelIterator<Item = K>>(keys: I) -> Self {
        let mut set = HashSet::with_hasher(S::default());
        set.par_extend(keys);
        set
    }
}

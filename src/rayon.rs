//! `rayon` support (feature `rayon`): parallel fill and parallel scan.
//!
//! - **Fill**: [`ParallelExtend`] for `HashMap`, `&HashMap`, `HashSet` and
//!   `&HashSet`, and [`FromParallelIterator`]. Each rayon worker inserts
//!   through its own guard, pinned per split of the input (a guard is bound
//!   to the thread that pinned it), so the workers insert concurrently
//!   exactly as separate threads would.
//! - **Scan**: [`HashMap::par_iter`] hands `(&K, &V)` to rayon workers. The
//!   entries are gathered first by one weakly consistent walk under the
//!   caller's guard (about a pointer load and a hash per entry); the work on
//!   them is spread over the pool. The caller's guard keeps every yielded
//!   reference valid while the workers use it: the caller's thread stays
//!   pinned until the guard is dropped, which the borrow makes impossible
//!   before the parallel iterator is gone.

use crate::{HashMap, HashSet};
use ::rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};
use core::hash::{BuildHasher, Hash};

/// Parallel iterator over `(&K, &V)`; see [`HashMap::par_iter`].
pub type ParIter<'g, K, V> = ::rayon::vec::IntoIter<(&'g K, &'g V)>;

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    /// A rayon parallel iterator over the entries (feature `rayon`), weakly
    /// consistent like [`iter`](Self::iter): the entries are gathered by one
    /// walk, then processed in parallel.
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let map: epochmap::HashMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// let guard = map.guard();
    /// let sum: u64 = map.par_iter(&guard).map(|(_, v)| *v).sum();
    /// assert_eq!(sum, (0..10_000).sum());
    /// ```
    pub fn par_iter<'g>(&'g self, guard: &'g crate::Guard) -> ParIter<'g, K, V> {
        self.iter(guard).collect::<Vec<_>>().into_par_iter()
    }
}

impl<K, S> HashSet<K, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    S: BuildHasher,
{
    /// A rayon parallel iterator over the keys (feature `rayon`); see
    /// [`HashMap::par_iter`].
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let set: epochmap::HashSet<u64> = (0..1000).collect();
    /// let guard = set.guard();
    /// assert_eq!(set.par_iter(&guard).filter(|k| **k % 2 == 0).count(), 500);
    /// ```
    pub fn par_iter<'g>(&'g self, guard: &'g crate::Guard) -> ::rayon::vec::IntoIter<&'g K> {
        self.iter(guard).collect::<Vec<_>>().into_par_iter()
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

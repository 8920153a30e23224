//! [`HashSet`]: the map's table with `()` values.

use crate::map::{DefaultHashBuilder, HashMap, Keys};
use crate::stats::Stats;
use crate::{Guard, TryReserveError};
use core::fmt;
use core::hash::{BuildHasher, Hash};
use equivalent::Equivalent;

/// A lock-free concurrent hash set, built on [`HashMap<K, ()>`](HashMap) with
/// the same guarantees.
///
/// ```
/// let set = epochmap::HashSet::new();
/// let s = set.pin();
/// assert!(s.insert(3));
/// assert!(!s.insert(3));
/// assert!(s.contains(&3));
/// assert!(s.remove(&3));
/// ```
pub struct HashSet<K, S = DefaultHashBuilder> {
    map: HashMap<K, (), S>,
}

impl<K> HashSet<K> {
    /// An empty set.
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        HashSet {
            map: HashMap::new(),
        }
    }

    /// An empty set that holds `capacity` keys before it resizes, and keeps
    /// that room reserved (see [`HashMap::with_capacity`]).
    ///
    /// # Panics
    /// If the table for `capacity` cannot be allocated (e.g. `usize::MAX`).
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::with_capacity(10).capacity() >= 10);
    /// ```
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        HashSet {
            map: HashMap::with_capacity(capacity),
        }
    }
}

impl<K, S> HashSet<K, S> {
    /// An empty set using `hasher`.
    ///
    /// ```
    /// let set: epochmap::HashSet<u8, ahash::RandomState> = epochmap::HashSet::with_hasher(Default::default());
    /// assert!(set.is_empty());
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        HashSet {
            map: HashMap::with_hasher(hasher),
        }
    }

    /// An empty set using `hasher` that holds `capacity` keys before it resizes.
    ///
    /// # Panics
    /// If the table for `capacity` cannot be allocated.
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = epochmap::HashSet::with_capacity_and_hasher(5, Default::default());
    /// assert!(set.capacity() >= 5);
    /// ```
    #[track_caller]
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashSet {
            map: HashMap::with_capacity_and_hasher(capacity, hasher),
        }
    }

    /// A set sized from a size hint ([`HashMap::presized`]).
    #[cfg(feature = "serde")]
    #[track_caller]
    pub(crate) fn presized(capacity: usize, hasher: S) -> Self {
        HashSet {
            map: HashMap::presized(capacity, hasher),
        }
    }

    /// Number of keys (see [`HashMap::len`]).
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// set.pin().insert(1);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys the table has room for under its load limit; not the exact point
    /// of the next resize, either way (tombstones count toward the load): see
    /// [`HashMap::capacity`](crate::HashMap::capacity).
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::with_capacity(3).capacity() >= 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// The set's hasher.
    ///
    /// ```
    /// let set = epochmap::HashSet::<u8>::new();
    /// let _hasher: &ahash::RandomState = set.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }

    /// A guard for the guard-taking methods (see [`HashMap::guard`]).
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let g = set.guard();
    /// set.insert(1, &g);
    /// ```
    pub fn guard(&self) -> Guard {
        self.map.guard()
    }

    /// An observability snapshot (see [`HashMap::stats`]).
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..10).collect();
    /// assert_eq!(set.stats().len, 10);
    /// ```
    pub fn stats(&self) -> Stats {
        self.map.stats()
    }

    /// Removes every key and returns them (see [`HashMap::drain`]).
    ///
    /// ```
    /// let mut set: epochmap::HashSet<u8> = (0..3).collect();
    /// let mut keys: Vec<u8> = set.drain().collect();
    /// keys.sort();
    /// assert_eq!(keys, [0, 1, 2]);
    /// assert!(set.is_empty());
    /// ```
    pub fn drain(&mut self) -> impl ExactSizeIterator<Item = K> + '_ {
        self.map.drain().map(|(k, ())| k)
    }

    /// A handle with a pinned guard (see [`HashMap::pin`]).
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// assert!(set.pin().insert("x"));
    /// ```
    pub fn pin(&self) -> HashSetRef<'_, K, S> {
        HashSetRef {
            set: self,
            guard: self.guard(),
        }
    }

    /// The underlying map, for the parallel scan of `crate::rayon`.
    #[cfg(feature = "rayon")]
    pub(crate) fn as_map(&self) -> &HashMap<K, (), S> {
        &self.map
    }
}

impl<K, S> HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// Adds `key`; true if it was absent.
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let g = set.guard();
    /// assert!(set.insert(1, &g));
    /// assert!(!set.insert(1, &g));
    /// ```
    pub fn insert(&self, key: K, guard: &Guard) -> bool {
        self.map.try_insert(key, (), guard).is_ok()
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let g = set.guard();
    /// set.insert(String::from("a"), &g);
    /// assert!(set.contains("a", &g));
    /// ```
    pub fn contains<Q>(&self, key: &Q, guard: &Guard) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map.contains_key(key, guard)
    }

    /// The stored key equal to `key`.
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let g = set.guard();
    /// set.insert(5, &g);
    /// assert_eq!(set.get(&5, &g), Some(&5));
    /// ```
    pub fn get<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g K>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map.get_key_value(key, guard).map(|(k, _)| k)
    }

    /// Removes `key`; true if it was present.
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let g = set.guard();
    /// set.insert(1, &g);
    /// assert!(set.remove(&1, &g));
    /// assert!(!set.remove(&1, &g));
    /// ```
    #[must_use = "`false` means the key was absent and nothing was removed"]
    pub fn remove<Q>(&self, key: &Q, guard: &Guard) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.map.remove(key, guard).is_some()
    }

    /// Rebuilds the set into the smallest table that holds its keys and gives
    /// up reserved room (see [`HashMap::shrink_to_fit`]).
    ///
    /// ```
    /// let mut set: epochmap::HashSet<u32> = (0..1000).collect();
    /// set.retain(|k| *k < 5, &set.guard());
    /// set.shrink_to_fit();
    /// assert!(set.capacity() < 100);
    /// ```
    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit()
    }

    /// [`HashMap::audit`](crate::HashMap::audit) of the set's table chain. For
    /// the map's own tests: not stable API.
    #[doc(hidden)]
    pub fn audit(&mut self) -> crate::Audit {
        self.map.audit()
    }

    /// Keeps only the keys for which `keep` is true. Weakly consistent, like
    /// [`iter`](Self::iter): keys inserted meanwhile may be skipped, and a key
    /// removed and inserted again after `keep` judged it stays.
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..6).collect();
    /// set.retain(|k| k % 3 == 0, &set.guard());
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn retain<F: FnMut(&K) -> bool>(&self, mut keep: F, guard: &Guard) {
        self.map.retain(|k, _| keep(k), guard)
    }

    /// Removes every key present when the call starts and left alone during it
    /// (see [`HashMap::clear`]).
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..6).collect();
    /// set.clear(&set.guard());
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self, guard: &Guard) {
        self.map.clear(guard)
    }

    /// Makes room for `additional` more keys, and keeps it reserved (see
    /// [`HashMap::reserve`]).
    ///
    /// # Panics
    /// If the table cannot be allocated; see [`try_reserve`](Self::try_reserve).
    ///
    /// ```
    /// let set = epochmap::HashSet::<u8>::new();
    /// set.reserve(50, &set.guard());
    /// assert!(set.capacity() >= 50);
    /// ```
    #[track_caller]
    pub fn reserve(&self, additional: usize, guard: &Guard) {
        self.map.reserve(additional, guard)
    }

    /// Like [`reserve`](Self::reserve), but returns an error instead of
    /// panicking when the size overflows or its table cannot be allocated;
    /// see [`HashMap::try_reserve`] for the one panic left.
    ///
    /// ```
    /// let set = epochmap::HashSet::<u64>::new();
    /// assert!(set.try_reserve(usize::MAX, &set.guard()).is_err());
    /// assert!(set.try_reserve(100, &set.guard()).is_ok());
    /// ```
    pub fn try_reserve(&self, additional: usize, guard: &Guard) -> Result<(), TryReserveError> {
        self.map.try_reserve(additional, guard)
    }

    /// The keys, weakly consistent (see [`HashMap::iter`]).
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..6).collect();
    /// assert_eq!(set.iter(&set.guard()).count(), 6);
    /// ```
    pub fn iter<'g>(&'g self, guard: &'g Guard) -> Keys<'g, K, (), S> {
        self.map.keys(guard)
    }
}

/// A [`HashSet`] with a pinned guard.
pub struct HashSetRef<'s, K, S = DefaultHashBuilder> {
    set: &'s HashSet<K, S>,
    guard: Guard,
}

impl<K, S> HashSetRef<'_, K, S> {
    /// The underlying set.
    ///
    /// ```
    /// let set = epochmap::HashSet::<u8>::new();
    /// assert!(std::ptr::eq(set.pin().set(), &set));
    /// ```
    pub fn set(&self) -> &HashSet<K, S> {
        self.set
    }

    /// The guard this handle holds.
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let s = set.pin();
    /// set.insert(1, s.guard());
    /// assert!(s.contains(&1));
    /// ```
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Lets memory reclamation go on while keeping the handle; see
    /// [`HashMapRef::repin`](crate::HashMapRef::repin).
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let mut s = set.pin();
    /// for i in 0..4_000u32 {
    ///     s.insert(i % 10);
    ///     if i % 1_000 == 999 {
    ///         s.repin();
    ///     }
    /// }
    /// assert_eq!(s.len(), 10);
    /// ```
    pub fn repin(&mut self) {
        self.guard.repin();
    }

    /// See [`HashSet::len`].
    ///
    /// ```
    /// assert_eq!(epochmap::HashSet::<u8>::new().pin().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// See [`HashSet::is_empty`].
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::new().pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// See [`HashSet::capacity`].
    ///
    /// ```
    /// assert!(epochmap::HashSet::<u8>::with_capacity(9).pin().capacity() >= 9);
    /// ```
    pub fn capacity(&self) -> usize {
        self.set.map.capacity_under(&self.guard)
    }
}

impl<K, S> HashSetRef<'_, K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    /// See [`HashSet::insert`].
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// assert!(set.pin().insert(1));
    /// ```
    pub fn insert(&self, key: K) -> bool {
        self.set.insert(key, &self.guard)
    }

    /// See [`HashSet::contains`].
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// assert!(s.contains(&1));
    /// ```
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.set.contains(key, &self.guard)
    }

    /// See [`HashSet::get`].
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// assert_eq!(s.get(&1), Some(&1));
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<&K>
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.set.get(key, &self.guard)
    }

    /// See [`HashSet::remove`].
    ///
    /// ```
    /// let set = epochmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// assert!(s.remove(&1));
    /// ```
    #[must_use = "`false` means the key was absent and nothing was removed"]
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        self.set.remove(key, &self.guard)
    }

    /// See [`HashSet::retain`].
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..4).collect();
    /// set.pin().retain(|k| *k > 1);
    /// assert_eq!(set.len(), 2);
    /// ```
    pub fn retain<F: FnMut(&K) -> bool>(&self, keep: F) {
        self.set.retain(keep, &self.guard)
    }

    /// See [`HashSet::clear`].
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..4).collect();
    /// set.pin().clear();
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self) {
        self.set.clear(&self.guard)
    }

    /// See [`HashSet::iter`].
    ///
    /// ```
    /// let set: epochmap::HashSet<u8> = (0..4).collect();
    /// assert_eq!(set.pin().iter().count(), 4);
    /// ```
    pub fn iter(&self) -> Keys<'_, K, (), S> {
        self.set.iter(&self.guard)
    }

    /// See [`HashSet::reserve`].
    ///
    /// ```
    /// let set = epochmap::HashSet::<u64>::new();
    /// set.pin().reserve(1_000);
    /// assert!(set.capacity() >= 1_000);
    /// ```
    #[track_caller]
    pub fn reserve(&self, additional: usize) {
        self.set.reserve(additional, &self.guard)
    }

    /// See [`HashSet::try_reserve`].
    ///
    /// ```
    /// let set = epochmap::HashSet::<u64>::new();
    /// assert!(set.pin().try_reserve(usize::MAX).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        self.set.try_reserve(additional, &self.guard)
    }
}

impl<'a, K, S> IntoIterator for &'a HashSetRef<'_, K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    type Item = &'a K;
    type IntoIter = Keys<'a, K, (), S>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K, S> fmt::Debug for HashSetRef<'_, K, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<K, S> IntoIterator for HashSet<K, S> {
    type Item = K;
    type IntoIter = IntoIter<K>;
    /// Takes every key out of the set, without atomics (the set is owned).
    fn into_iter(self) -> IntoIter<K> {
        IntoIter {
            inner: self.map.into_iter(),
        }
    }
}

/// Owning iterator over the keys of a [`HashSet`].
///
/// ```
/// let set: epochmap::HashSet<u8> = [4].into_iter().collect();
/// assert_eq!(set.into_iter().collect::<Vec<_>>(), [4]);
/// ```
pub struct IntoIter<K> {
    inner: crate::map::IntoIter<K, ()>,
}

impl<K> Iterator for IntoIter<K> {
    type Item = K;
    fn next(&mut self) -> Option<K> {
        self.inner.next().map(|(k, ())| k)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K> ExactSizeIterator for IntoIter<K> {}

impl<K, S: Default> Default for HashSet<K, S> {
    fn default() -> Self {
        HashSet {
            map: HashMap::default(),
        }
    }
}

impl<K, S> fmt::Debug for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static + fmt::Debug,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.guard();
        f.debug_set().entries(self.iter(&guard)).finish()
    }
}

impl<K, S> Clone for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static + Clone,
    S: BuildHasher + Clone,
{
    fn clone(&self) -> Self {
        HashSet {
            map: self.map.clone(),
        }
    }
}

impl<K, S> PartialEq for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K, S> Eq for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
}

impl<K, S> FromIterator<K> for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher + Default,
{
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        HashSet {
            map: iter.into_iter().map(|k| (k, ())).collect(),
        }
    }
}

impl<K, S> Extend<K> for HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = K>>(&mut self, iter: I) {
        (&*self).extend(iter)
    }
}

/// Fills a shared set, like `Extend for &HashMap`.
///
/// ```
/// let set = epochmap::HashSet::new();
/// (&set).extend([1, 2, 2]);
/// assert_eq!(set.len(), 2);
/// ```
impl<K, S> Extend<K> for &HashSet<K, S>
where
    K: Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    fn extend<I: IntoIterator<Item = K>>(&mut self, iter: I) {
        let guard = self.guard();
        for k in iter {
            self.insert(k, &guard);
        }
    }
}

//! [`Operation`] and [`Compute`]: the vocabulary of
//! [`HashMap::compute`](crate::HashMap::compute).

/// What a [`compute`](crate::HashMap::compute) closure asks the map to do
/// with the entry it was shown.
///
/// ```
/// use epochmap::{Compute, HashMap, Operation};
///
/// let map = HashMap::new();
/// let m = map.pin();
/// // Insert 1 if absent, otherwise add 1; never go above 3.
/// let bump = |entry: Option<(&&str, &u32)>| match entry {
///     None => Operation::Insert(1),
///     Some((_, &n)) if n < 3 => Operation::Insert(n + 1),
///     Some(_) => Operation::Abort("full"),
/// };
/// assert_eq!(m.compute("k", bump), Compute::Inserted(&"k", &1));
/// assert_eq!(m.compute("k", bump).new_value(), Some(&2));
/// assert_eq!(m.compute("k", bump).new_value(), Some(&3));
/// assert_eq!(m.compute("k", bump), Compute::Aborted("full"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation<V, T> {
    /// Store this value: insert it if the key is absent, replace the value
    /// the closure saw otherwise.
    Insert(V),
    /// Remove the entry the closure saw (nothing happens if it saw none).
    Remove,
    /// Leave the map unchanged and return this value to the caller.
    Abort(T),
}

/// What a [`compute`](crate::HashMap::compute) did, with references valid
/// as long as the guard the call used.
///
/// ```
/// use epochmap::{Compute, HashMap, Operation};
///
/// let map = HashMap::new();
/// let m = map.pin();
/// m.insert(1, 10);
/// match m.compute(1, |e| match e {
///     Some((_, v)) => Operation::Insert(v * 2),
///     None => Operation::Abort(()),
/// }) {
///     Compute::Updated { old, new } => assert_eq!((old.1, new.1), (&10, &20)),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
///
/// `Clone` and `Copy` need them of `T` only: the entries are references.
///
/// ```
/// use epochmap::{HashMap, Operation};
///
/// let map: HashMap<String, Vec<u8>> = HashMap::new();
/// let m = map.pin();
/// let r = m.compute("k".to_string(), |_| Operation::<_, ()>::Insert(vec![1]));
/// let copy = r; // a copy, although `String` and `Vec<u8>` are not `Copy`
/// assert_eq!(r, copy);
/// ```
#[must_use = "`Absent` and `Aborted` mean nothing changed"]
#[derive(Debug, PartialEq, Eq, Hash)]
pub enum Compute<'g, K, V, T> {
    /// The key was absent and this entry was inserted.
    Inserted(&'g K, &'g V),
    /// The entry `old` was replaced by `new`.
    Updated {
        /// The entry the closure saw, now unlinked (readable while the guard lives).
        old: (&'g K, &'g V),
        /// The entry now in the map.
        new: (&'g K, &'g V),
    },
    /// This entry was removed (readable while the guard lives).
    Removed(&'g K, &'g V),
    /// The closure returned [`Operation::Remove`] for an absent key: nothing changed.
    Absent,
    /// The closure returned [`Operation::Abort`] with this value: nothing changed.
    Aborted(T),
}

// By hand: derived impls would ask `K: Clone` and `V: Clone` of references.
impl<K, V, T: Clone> Clone for Compute<'_, K, V, T> {
    fn clone(&self) -> Self {
        match self {
            Compute::Inserted(k, v) => Compute::Inserted(k, v),
            Compute::Updated { old, new } => Compute::Updated {
                old: *old,
                new: *new,
            },
            Compute::Removed(k, v) => Compute::Removed(k, v),
            Compute::Absent => Compute::Absent,
            Compute::Aborted(t) => Compute::Aborted(t.clone()),
        }
    }
}

impl<K, V, T: Copy> Copy for Compute<'_, K, V, T> {}

impl<'g, K, V, T> Compute<'g, K, V, T> {
    /// The value the key holds after the operation, if it holds one.
    ///
    /// ```
    /// use epochmap::{HashMap, Operation};
    ///
    /// let map = HashMap::new();
    /// let m = map.pin();
    /// let r = m.compute(7, |_| Operation::<_, ()>::Insert(49));
    /// assert_eq!(r.new_value(), Some(&49));
    /// ```
    pub fn new_value(&self) -> Option<&'g V> {
        match *self {
            Compute::Inserted(_, v) | Compute::Updated { new: (_, v), .. } => Some(v),
            _ => None,
        }
    }

    /// The value the operation replaced or removed, if any.
    ///
    /// ```
    /// use epochmap::{HashMap, Operation};
    ///
    /// let map = HashMap::new();
    /// let m = map.pin();
    /// m.insert(7, 1);
    /// let r = m.compute(7, |_| Operation::<u32, ()>::Remove);
    /// assert_eq!(r.old_value(), Some(&1));
    /// ```
    pub fn old_value(&self) -> Option<&'g V> {
        match *self {
            Compute::Removed(_, v) | Compute::Updated { old: (_, v), .. } => Some(v),
            _ => None,
        }
    }
}

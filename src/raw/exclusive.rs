//! Exclusive access: operations through `&mut RawMap` (or by value).
//!
//! A `&mut` borrow of the map proves that no other thread is inside it: every
//! reference a guard handed out borrows the map, so none is alive, and no
//! operation is half-way through a claim or a CAS. These operations therefore
//! use crossbeam-epoch's `unprotected()` guard, load with `Relaxed` (nothing
//! is published to anyone) and free memory synchronously, like `Drop`.
//!
//! The one thing they must respect is an *unfinished resize*: a map can be
//! handed over mid-migration, with a node FROZEN in the old table and LIVE in
//! the new one (the same pointer), or still only in the old table. Lookups
//! walk the tables oldest first and take the first readable match (a frozen
//! node is current, see `docs/design.md` section 5); whole-map walks use
//! [`RawMap::owned_nodes`], which deduplicates.
//!
//! Taking the entries out (`drain`, `into_iter`) detaches every node and
//! replaces the table chain by one fresh table, so the map is valid and empty
//! before the first entry is handed to the caller. `shrink_to_fit` replaces
//! the chain the same way and places the nodes in the new table itself,
//! after hashing them all and without comparing keys, so that no caller code
//! runs while the entries are out of the map.

use super::bucket::{
    match_empty, match_tag, readable, state, tag_byte, tag_of, with_tag_byte, State,
};
use super::node::Node;
use super::table::{AllocFailure, Table};
use super::{alloc_panic, RawMap};
use crate::counter::Striped;
use crate::sync::{ord, parallelism, Shared};
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use equivalent::Equivalent;

/// Nodes taken out of a map: owned, each exactly once.
pub(crate) struct Detached<K, V> {
    nodes: std::vec::IntoIter<*mut Node<K, V>>,
}

// SAFETY: the nodes are owned by this value alone (detached from every table),
// so sending it sends the keys and values.
unsafe impl<K: Send, V: Send> Send for Detached<K, V> {}
// SAFETY: `&Detached` gives no access to the nodes.
unsafe impl<K: Sync, V: Sync> Sync for Detached<K, V> {}

impl<K, V> Detached<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

impl<K, V> Iterator for Detached<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        let ptr = self.nodes.next()?;
        // SAFETY: detached nodes are owned by this iterator alone and each pointer is
        // yielded once; no guard can reach them (they are in no table).
        let node = unsafe { Box::from_raw(ptr) };
        let Node { key, value } = *node;
        Some((key, ManuallyDrop::into_inner(value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.nodes.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Detached<K, V> {}

impl<K, V> Drop for Detached<K, V> {
    fn drop(&mut self) {
        for ptr in self.nodes.by_ref() {
            // SAFETY: as in `next`: owned, not yet handed out, freed once.
            unsafe { Node::destroy(ptr) };
        }
    }
}

/// `(&K, &mut V)` over the nodes of a map borrowed mutably.
pub(crate) struct RawIterMut<'a, K, V> {
    nodes: std::vec::IntoIter<*mut Node<K, V>>,
    _map: PhantomData<&'a mut (K, V)>,
}

// SAFETY: yields `&K` and `&mut V` borrowed from a `&mut` map.
unsafe impl<K: Sync, V: Send> Send for RawIterMut<'_, K, V> {}
// SAFETY: `&RawIterMut` gives no access to the entries.
unsafe impl<K: Sync, V: Sync> Sync for RawIterMut<'_, K, V> {}

impl<'a, K, V> Iterator for RawIterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        let ptr = self.nodes.next()?;
        // SAFETY: the map is borrowed mutably for 'a, so no other reference to its nodes
        // exists; `owned_nodes` lists each node once, so the `&mut V`s never alias.
        let node = unsafe { &mut *ptr };
        Some((&node.key, &mut *node.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.nodes.size_hint()
    }
}

impl<K, V> ExactSizeIterator for RawIterMut<'_, K, V> {}

impl<K, V, S> RawMap<K, V, S> {
    /// The node of `key` through exclusive access, as a raw pointer (no shared
    /// reference is created, so the caller may turn it into `&mut`).
    fn find_exclusive<Q>(&mut self, key: &Q) -> Option<*mut Node<K, V>>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        S: BuildHasher,
    {
        let hash = self.hash(key);
        let tag = tag_of(hash);
        // SAFETY: `&mut self`: no other thread can reach the tables or nodes.
        let guard = unsafe { crossbeam_epoch::unprotected() };
        // Exclusive access: no other thread, so Relaxed (nothing to pair with).
        let mut t = self.root.load_relaxed(guard);
        while !t.is_null() {
            // SAFETY: a table of the chain, live while the map is.
            let table = unsafe { t.deref() };
            let home = table.home(hash);
            for dist in 0..table.nbuckets {
                let bucket = table.bucket(home + dist);
                // Exclusive access: Relaxed, as above.
                let word = bucket.tags.load(ord::RELAXED);
                for i in match_tag(word, tag) {
                    // Exclusive access: Relaxed, as above.
                    let p = bucket.slots[i].load(ord::RELAXED, guard);
                    if !readable(p) {
                        continue;
                    }
                    // SAFETY: readable slots point to live nodes the map owns.
                    if key.equivalent(unsafe { &p.deref().key }) {
                        return Some(p.as_raw() as *mut Node<K, V>);
                    }
                }
                if match_empty(word).any() {
                    break;
                }
            }
            // Exclusive access: Relaxed, as above.
            t = table.next.load(ord::RELAXED, guard);
        }
        None
    }

    /// The value of `key`, mutably.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: ?Sized + Hash + Equivalent<K>,
        S: BuildHasher,
    {
        let ptr = self.find_exclusive(key)?;
        // SAFETY: `&mut self` for the returned lifetime: no other reference to the node
        // exists; the pointer came from the slot, not from a shared reference.
        Some(unsafe { &mut *(*ptr).value })
    }

    /// Every entry, values mutable.
    pub(crate) fn iter_mut(&mut self) -> RawIterMut<'_, K, V> {
        RawIterMut {
            nodes: self.owned_nodes().into_iter(),
            _map: PhantomData,
        }
    }

    /// Detaches every node and leaves the map empty, with one table of `nbuckets`.
    pub(crate) fn detach_all(&mut self, nbuckets: usize) -> Result<Detached<K, V>, AllocFailure> {
        let nodes = self.owned_nodes();
        self.replace_tables(nbuckets)?;
        Ok(Detached {
            nodes: nodes.into_iter(),
        })
    }

    /// Replaces the table chain by one empty table of `nbuckets` and frees the
    /// old chain, but not its nodes: the caller has taken them
    /// ([`owned_nodes`](Self::owned_nodes)) and owns them from now on. On an
    /// allocation failure nothing has changed.
    fn replace_tables(&mut self, nbuckets: usize) -> Result<(), AllocFailure> {
        let fresh = Table::<K, V>::allocate(nbuckets, self.tuning.chunk)?;
        // SAFETY: exclusive access (see `find_exclusive`).
        let guard = unsafe { crossbeam_epoch::unprotected() };
        // Exclusive access: Relaxed, nothing is published to another thread.
        let old = self.root.swap(
            Shared::from(fresh as *const Table<K, V>),
            ord::RELAXED,
            guard,
        );
        let mut t = old;
        while !t.is_null() {
            // SAFETY: a table of the old chain, unreachable from the map from now on.
            // Exclusive access: Relaxed, as above.
            let next = unsafe { t.deref() }.next.load(ord::RELAXED, guard);
            // SAFETY: no guard can reach the old chain (exclusive access), and its nodes
            // were detached above; each table is freed once.
            unsafe { Table::deallocate(t.as_raw() as *mut Table<K, V>) };
            t = next;
        }
        self.len = Striped::new(parallelism() * 2);
        Ok(())
    }

    /// Buckets of the newest table (the one a resize in flight moves into).
    pub(crate) fn buckets_exclusive(&mut self) -> usize {
        // SAFETY: exclusive access (see `find_exclusive`).
        let guard = unsafe { crossbeam_epoch::unprotected() };
        // Exclusive access: Relaxed.
        let mut t = self.root.load_relaxed(guard);
        loop {
            // SAFETY: a table of the chain, live while the map is.
            let table = unsafe { t.deref() };
            // Exclusive access: Relaxed.
            let next = table.next.load(ord::RELAXED, guard);
            if next.is_null() {
                return table.nbuckets;
            }
            t = next;
        }
    }

    /// Empties the map, returning its entries; the table keeps its size.
    pub(crate) fn drain(&mut self) -> Detached<K, V> {
        let nbuckets = self.buckets_exclusive();
        match self.detach_all(nbuckets) {
            Ok(d) => d,
            Err(e) => alloc_panic(e),
        }
    }

    /// Rebuilds the map into the smallest table that holds its entries,
    /// finishing any resize in flight and dropping every tombstone.
    ///
    /// Every call of the caller's `Hash` comes first, before anything changes,
    /// so a panic there leaves the map as it was. The nodes are then placed in
    /// the new table without comparing keys (they come from one map, so they
    /// are distinct): no `Eq` runs, and nothing between taking the nodes out
    /// and placing the last one can unwind. (Until the twenty-fourth session the
    /// entries were re-inserted through `insert`, and a panicking `Hash` or
    /// `Eq` dropped every entry not yet back in; found in review.)
    pub(crate) fn shrink_to_fit(&mut self)
    where
        S: BuildHasher,
        K: Hash,
    {
        let nodes: Vec<(u64, *mut Node<K, V>)> = self
            .owned_nodes()
            .into_iter()
            // SAFETY: a node of the map, listed once; `&mut self`, so nothing frees it
            // while this runs, and only its key is read.
            .map(|p| (self.hash(unsafe { &(*p).key }), p))
            .collect();
        let nbuckets = match Table::<K, V>::buckets_for(nodes.len()) {
            Ok(n) => n.max(self.tuning.min_buckets),
            Err(e) => alloc_panic(e),
        };
        if let Err(e) = self.replace_tables(nbuckets) {
            alloc_panic(e);
        }
        self.release_reservation();
        // SAFETY: exclusive access (see `find_exclusive`).
        let guard = unsafe { crossbeam_epoch::unprotected() };
        // Exclusive access: Relaxed, nothing is published to another thread.
        // SAFETY: the table `replace_tables` just installed, owned by the map.
        let table = unsafe { self.root.load_relaxed(guard).deref() };
        for &(hash, node) in &nodes {
            // The table was sized for every node under its load limit.
            let free = table
                .first_empty(hash)
                .expect("epochmap: shrink_to_fit found no free slot");
            let bucket = free.bucket;
            // Exclusive access: Relaxed, as above (twice below, too).
            let word = bucket.tags.load(ord::RELAXED);
            bucket
                .tags
                .store(with_tag_byte(word, free.index, tag_of(hash)), ord::RELAXED);
            bucket.slots[free.index].store(Shared::from(node as *const Node<K, V>), ord::RELAXED);
        }
        table.aux.used.add(nodes.len() as isize);
        self.len.add(nodes.len() as isize);
    }
}

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Checks the structure of the table chain through `&mut` access, when no
    /// operation can be in flight (see [`crate::Audit`] for what is counted).
    /// Hashes and compares the keys, so it runs the caller's `Hash` and `Eq`.
    pub(crate) fn audit(&mut self) -> crate::Audit {
        // SAFETY: exclusive access (see `find_exclusive`).
        let guard = unsafe { crossbeam_epoch::unprotected() };
        let mut audit = crate::Audit::default();
        // (hash, node, table index) of every readable slot of every table.
        let mut seen: Vec<(u64, *const Node<K, V>, usize)> = Vec::new();
        // Exclusive access: Relaxed, nothing is published (twice below, too).
        let mut t = self.root.load_relaxed(guard);
        while !t.is_null() {
            // SAFETY: a table of the chain, live while the map is.
            let table = unsafe { t.deref() };
            let index = audit.tables;
            audit.tables += 1;
            for i in 0..table.nbuckets {
                let bucket = table.bucket(i);
                // Exclusive access: Relaxed.
                let word = bucket.tags.load(ord::RELAXED);
                for (s, slot) in bucket.slots.iter().enumerate() {
                    // Exclusive access: Relaxed.
                    let p = slot.load(ord::RELAXED, guard);
                    match state(p) {
                        State::Pending | State::Copy | State::Claiming => audit.claims += 1,
                        State::Live | State::Frozen => {
                            // SAFETY: a readable node of the map; `&mut self`, so nothing
                            // frees it while this runs.
                            let hash = self.hash(unsafe { &p.deref().key });
                            if tag_byte(word, s) != tag_of(hash) {
                                audit.wrong_tags += 1;
                            }
                            seen.push((hash, p.as_raw(), index));
                        }
                        State::Empty | State::Tombstone | State::Moved => {}
                    }
                }
            }
            // Exclusive access: Relaxed.
            t = table.next.load(ord::RELAXED, guard);
        }
        seen.sort_unstable_by_key(|&(hash, node, table)| (hash, node, table));
        for (i, &(hash, node, table)) in seen.iter().enumerate() {
            let mut earlier = seen[..i].iter().rev().take_while(|e| e.0 == hash);
            if earlier.clone().any(|e| e.1 == node && e.2 == table) {
                audit.shared_nodes += 1;
            } else if earlier.clone().any(|e| e.1 == node) {
                // The same node in an older table: frozen there, copied here.
            } else {
                audit.entries += 1;
                // SAFETY: as above, for both nodes.
                if earlier.any(|e| unsafe { (*e.1).key == (*node).key }) {
                    audit.keys_twice += 1;
                }
            }
        }
        audit
    }
}

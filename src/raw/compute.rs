//! Compute: the general atomic read-modify-write of one key.
//!
//! The caller's closure looks at the key's entry (or its absence) and decides:
//! insert or replace a value, remove the entry, or stop. The decision is then
//! written with the same single-CAS steps the other writes use, *conditional
//! on the entry still being the one the closure saw*:
//!
//! - entry seen, new value → CAS the slot from the seen node to a new node
//!   (a replacement, `W7` in `docs/design.md`);
//! - entry seen, remove → CAS the slot from the seen node to a tombstone (`W8`);
//! - no entry seen, new value → the claim protocol with "insert only if
//!   absent" (`insert_node` with `replace = false`).
//!
//! If the CAS fails, or the insert finds that someone else inserted the key
//! first, the state the closure judged is gone: the loop scans again and calls
//! the closure again on what it finds now. So the closure may run several
//! times, the last run is the one whose decision took effect, and values made
//! by runs that lost are handed to `lost` (they were never visible to anyone).
//!
//! Each successful path is linearizable at its CAS (or at the insert's
//! commit), exactly like `update`, `remove_if` and `try_insert`.

use super::node::Node;
use super::probe::Scan;
use super::{Inserted, RawMap};
use crate::sync::{Guard, Owned};
use core::hash::{BuildHasher, Hash};
use core::mem::ManuallyDrop;

/// An entry as the closure sees it (fields `key` and `value`).
pub(crate) type Entry<K, V> = Node<K, V>;

/// What a compute closure decided (the raw mirror of `crate::Operation`).
pub(crate) enum Decision<V, T> {
    Insert(V),
    Remove,
    Abort(T),
}

/// What a compute did, with the nodes involved.
pub(crate) enum Computed<'g, K, V, T> {
    /// The key was absent; this node was inserted.
    Inserted(&'g Node<K, V>),
    /// The entry `old` was replaced by `new`.
    Updated {
        old: &'g Node<K, V>,
        new: &'g Node<K, V>,
    },
    /// The entry was removed.
    Removed(&'g Node<K, V>),
    /// The closure asked to remove an entry that does not exist: nothing was written.
    Absent,
    /// The closure stopped with this value: nothing was written.
    Aborted(T),
}

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Runs `decide` on the entry of `key` until its decision is written
    /// against the state it saw. Values of runs that lost a race go to `lost`.
    pub(crate) fn compute<'g, F, T>(
        &'g self,
        key: K,
        mut decide: F,
        mut lost: impl FnMut(V),
        guard: &'g Guard,
    ) -> Computed<'g, K, V, T>
    where
        K: Clone,
        F: FnMut(Option<&'g Node<K, V>>) -> Decision<V, T>,
    {
        let hash = self.hash(&key);
        // The key travels into whichever node gets published; a node that lost its
        // CAS gives it back. Only a claim that other writers may still be reading
        // keeps its key, and then the winner's equal key is cloned.
        let mut key = Some(key);
        super::node::collect_if_due(guard);
        let mut table = self.writable(hash, guard);
        loop {
            // SAFETY: tables are retired only through `Table::retire` (an epoch-deferred
            // free); `guard` is pinned.
            let t = unsafe { table.deref() };
            let probe = key
                .as_ref()
                .expect("the key is put back after every lost race");
            match t.scan_existing(hash, probe, guard) {
                Scan::Migrating => table = self.advance(table, hash, guard),
                Scan::Live(hit) => {
                    // SAFETY: a live slot's node is freed only through `defer`; pinned.
                    let current = unsafe { hit.ptr.deref() };
                    match decide(Some(current)) {
                        Decision::Abort(t) => return Computed::Aborted(t),
                        Decision::Insert(value) => {
                            let new = Owned::from(Node::boxed(
                                key.take().expect("present until published"),
                                value,
                            ));
                            match hit.replace(new, guard) {
                                Ok(published) => {
                                    // SAFETY: just published; freed only via `defer`.
                                    let new = unsafe { published.deref() };
                                    return Computed::Updated { old: current, new };
                                }
                                Err(new) => {
                                    // Never published: the node is still ours alone.
                                    let Node { key: k, value } = *new.into_box();
                                    key = Some(k);
                                    lost(ManuallyDrop::into_inner(value));
                                }
                            }
                        }
                        Decision::Remove => {
                            if self.remove_hit(&hit, guard) {
                                return Computed::Removed(current);
                            }
                        }
                    }
                }
                Scan::Absent(_) => match decide(None) {
                    Decision::Abort(t) => return Computed::Aborted(t),
                    Decision::Remove => return Computed::Absent,
                    Decision::Insert(value) => {
                        let k = key.take().expect("present until published");
                        match self.insert_node(hash, Node::boxed(k, value), false, guard) {
                            Inserted::New(node) => return Computed::Inserted(node),
                            Inserted::Occupied { current, rejected } => {
                                // Someone inserted the key first: judge their entry.
                                if rejected.published {
                                    key = Some(current.key.clone());
                                    lost(rejected.into_value());
                                } else {
                                    let ptr = rejected.ptr.as_raw() as *mut Node<K, V>;
                                    core::mem::forget(rejected);
                                    // SAFETY: never published (no claim was made), so this
                                    // thread owns the node alone; `forget` above keeps
                                    // `Rejected` from freeing it a second time.
                                    let (k, v) = unsafe { Node::into_parts(ptr) };
                                    key = Some(k);
                                    lost(v);
                                }
                                table = self.writable(hash, guard);
                            }
                            Inserted::Replaced { .. } => {
                                unreachable!("insert_node with replace = false never replaces")
                            }
                        }
                    }
                },
            }
        }
    }
}

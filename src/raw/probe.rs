//! Probing: how a key's region of buckets is walked, by readers and writers.
//!
//! Probing is linear over whole buckets, starting at the key's home bucket
//! (the top bits of its hash) and wrapping at the end of the table. A key's
//! *region* ends with the first bucket that still has an EMPTY tag byte: an
//! insert always takes the first free slot of its region, and EMPTY never
//! comes back, so no entry of that key can lie beyond that bucket.
//!
//! - [`Table::lookup`] is the reader: loads only, no writes (the tag word
//!   `Relaxed`, every pointer `Acquire`), stops at the first readable node
//!   with an equal key.
//! - [`Table::scan`] is the writer's view of the whole region: the live entry
//!   of the key if any, the first reusable slot (a tombstone before an EMPTY
//!   slot, so removed slots are reused before fresh ones are consumed), and
//!   whether migration has sealed part of it. It also kills stale migration
//!   claims of the key (see `docs/design.md`, "late copiers").
//! - [`Table::scan_existing`] is the same walk for writers that need only
//!   the live entry: it does not look for a reusable slot.

use super::bucket::{
    match_empty, match_tag, match_unclaimed, match_used, readable_node, state, tag_of, Bucket,
    State, SLOTS, TOMBSTONE_HINT,
};
use super::node::Node;
use super::table::Table;
use crate::sync::{ord, Guard, Pointer, Shared};
use equivalent::Equivalent;

/// A slot a writer may claim.
pub(crate) struct Free<'g, K, V> {
    pub(crate) bucket: &'g Bucket<K, V>,
    pub(crate) index: usize,
    /// Probe position: `distance * SLOTS + index`.
    pub(crate) pos: usize,
    /// True for a never-used slot (claimed through the tag word), false for a tombstone.
    pub(crate) empty: bool,
}

/// A slot holding the key's entry.
pub(crate) struct Hit<'g, K, V> {
    pub(crate) bucket: &'g Bucket<K, V>,
    pub(crate) index: usize,
    pub(crate) ptr: Shared<'g, Node<K, V>>,
}

impl<'g, K, V> Hit<'g, K, V> {
    /// Replaces the live node with `new` and retires the old one (W7 in
    /// docs/design.md). On failure `new` comes back: the slot changed first.
    #[inline(always)]
    pub(crate) fn replace<P>(&self, new: P, guard: &'g Guard) -> Result<Shared<'g, Node<K, V>>, P>
    where
        P: Pointer<Node<K, V>>,
        K: Send + 'static,
        V: Send + 'static,
    {
        // Release: publishes the new node to readers' Acquire slot loads. Relaxed on
        // failure: only `new` goes back, the value found is not read, and
        // the caller rescans with Acquire loads (was Acquire until the twelfth
        // session, when no model caught it weakened: docs/loom.md).
        match self.bucket.slots[self.index].compare_exchange(
            self.ptr,
            new,
            ord::ACQ_REL,
            ord::RELAXED,
            guard,
        ) {
            Ok(published) => {
                // SAFETY: unlinked by our CAS (no other thread can unlink it again), and
                // retired once, here.
                unsafe { Node::retire(self.ptr.as_raw() as *mut Node<K, V>, guard) };
                Ok(published)
            }
            Err(e) => Err(e.new),
        }
    }
}

pub(crate) enum Scan<'g, K, V> {
    /// The key's live entry.
    Live(Hit<'g, K, V>),
    /// No entry; the first reusable slot, if the table has one.
    Absent(Option<Free<'g, K, V>>),
    /// Migration has sealed or frozen part of the region: continue in `next`.
    Migrating,
}

impl<K, V> Table<K, V> {
    /// Finds a readable entry for `key`. The read path: loads only.
    ///
    /// The home bucket is `hash >> shift`, already in range, so the first
    /// step needs no index mask, and the loop bound is only read by a probe
    /// that goes past home.
    #[inline(always)]
    pub(crate) fn lookup<'g, Q>(
        &'g self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<&'g Node<K, V>>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let tag = tag_of(hash);
        let mut bucket = self.home_bucket(hash);
        let mut dist = 0;
        loop {
            let (found, word) = Self::lookup_in(bucket, tag, key, guard);
            if found.is_some() || match_empty(word).any() {
                return found;
            }
            dist += 1;
            if dist == self.nbuckets {
                return None;
            }
            bucket = self.bucket(self.home(hash) + dist);
        }
    }

    /// One bucket of a lookup: the readable node of `key` in it, if any, and
    /// the bucket's tag word (which tells the caller whether to go on).
    #[inline(always)]
    fn lookup_in<'g, Q>(
        bucket: &'g Bucket<K, V>,
        tag: u8,
        key: &Q,
        guard: &'g Guard,
    ) -> (Option<&'g Node<K, V>>, u64)
    where
        Q: ?Sized + Equivalent<K>,
    {
        // Relaxed, pairing with nothing: no tag CAS is a release (design.md, W1, W3).
        // The word only picks the slots to load and says where the region ends; the
        // node comes with the Acquire slot load below, and a key that must be found
        // is found by coherence (design.md, row R2). Acquire until the sixteenth
        // session: weakened for real because that argument shows it unnecessary and
        // no loom model catches it weakened (loom.md, thirteenth run).
        let word = bucket.tags.load(ord::RELAXED);
        for i in match_tag(word, tag) {
            // Acquire: pairs with the Release CAS that published this node (commit,
            // replace or copy commit), making the node's key and value visible.
            let p = bucket.slots[i].load(ord::ACQUIRE, guard);
            if let Some(node) = readable_node(p) {
                if key.equivalent(&node.key) {
                    return (Some(node), word);
                }
            }
        }
        (None, word)
    }

    /// The writer's scan of `key`'s region, for an insert: `Absent` carries the
    /// first reusable slot. Kills stale COPY claims of the key.
    pub(crate) fn scan<'g, Q>(&'g self, hash: u64, key: &Q, guard: &'g Guard) -> Scan<'g, K, V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        self.scan_region::<true, Q>(hash, key, guard)
    }

    /// [`Table::scan`] for writers that act only on a live entry (remove,
    /// update, compare-exchange, compute): the same verdicts, but `Absent`
    /// never carries a slot. The search for one is skipped: `scan` makes it in
    /// each bucket of the region before the one holding the key's entry (for
    /// an absent key, in each bucket until one offers a slot), and where a
    /// bucket's tombstone hint is set it loads the used slots' pointers until
    /// it meets a tombstone.
    pub(crate) fn scan_existing<'g, Q>(
        &'g self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Scan<'g, K, V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        self.scan_region::<false, Q>(hash, key, guard)
    }

    /// The scan itself; `FREE` says whether to look for a reusable slot.
    #[inline(always)]
    fn scan_region<'g, const FREE: bool, Q>(
        &'g self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Scan<'g, K, V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let tag = tag_of(hash);
        let home = self.home(hash);
        let mut free: Option<Free<'g, K, V>> = None;
        let mut live: Option<Hit<'g, K, V>> = None;
        for dist in 0..self.nbuckets {
            let bucket = self.bucket(home + dist);
            // Relaxed (pairs with nothing): the word only chooses which slots to load,
            // where a free slot is and where the region ends; no tag CAS is a release.
            // The nodes come with the Acquire slot loads. Acquire would not make the
            // word any fresher: a free slot a stale word shows is rejected by the
            // claim's CAS, and a claim or entry it hides is what the fenced re-scan
            // of `resolve` is there to catch. Was Acquire; weakened with the tag
            // CASes (docs/loom.md, eighth run).
            let word = bucket.tags.load(ord::RELAXED);
            for i in match_tag(word, tag) {
                // Acquire: pairs with the Release CAS that published the node.
                let p = bucket.slots[i].load(ord::ACQUIRE, guard);
                match state(p) {
                    State::Moved => return Scan::Migrating,
                    State::Live | State::Frozen | State::Copy => {
                        // SAFETY: non-null slot pointers are freed only through `defer`
                        // after unlinking; `guard` is pinned.
                        let node = unsafe { p.deref() };
                        if !key.equivalent(&node.key) {
                            continue;
                        }
                        match state(p) {
                            State::Frozen => return Scan::Migrating,
                            State::Live => {
                                live = Some(Hit {
                                    bucket,
                                    index: i,
                                    ptr: p,
                                })
                            }
                            _ => {
                                // A COPY claim of this key seen by a writer is stale:
                                // the key's old region is sealed, so its copy is done
                                // (design.md, "late copiers"). Failure means it is
                                // already gone.
                                // Relaxed both ways (pairs with nothing): a kill, as in
                                // `resolve`; the copier reads nothing through the tombstone
                                // and the node is the frozen one, still owned by the old
                                // table. Nothing is read from a failure. Was AcqRel /
                                // Acquire (docs/loom.md, eighth run).
                                if bucket.slots[i]
                                    .compare_exchange(
                                        p,
                                        Shared::null().with_tag(super::bucket::TAG_TOMBSTONE),
                                        ord::RELAXED,
                                        ord::RELAXED,
                                        guard,
                                    )
                                    .is_ok()
                                {
                                    bucket.note_tombstone();
                                }
                            }
                        }
                    }
                    // A CLAIMING slot is a claim that is not re-tagged yet: no other
                    // writer acts on it (claim.rs), and its node is not read here.
                    State::Empty | State::Tombstone | State::Pending | State::Claiming => {}
                }
            }
            if FREE && free.is_none() && live.is_none() {
                free = self.free_slot(bucket, word, dist, guard);
            }
            if match_empty(word).any() {
                break;
            }
        }
        match live {
            Some(hit) => Scan::Live(hit),
            None => Scan::Absent(free),
        }
    }

    /// The first EMPTY slot of `hash`'s region, for a COPY claim, which must not
    /// reuse a tombstone (see `copy_into`). None if the region has none: its last
    /// bucket (the first with an EMPTY or CLOSED byte) may hold only CLOSED ones,
    /// and a slot past it is outside the region, where lookups never look.
    pub(crate) fn first_empty(&self, hash: u64) -> Option<Free<'_, K, V>> {
        let home = self.home(hash);
        for dist in 0..self.nbuckets {
            let bucket = self.bucket(home + dist);
            // Relaxed (pairs with nothing): the word only chooses the slot, which
            // `claim` then takes with its own tag CAS, failing on a slot taken
            // meanwhile; nothing is read through it. Tag bytes only go from EMPTY to
            // taken or CLOSED, so a stale word shows more EMPTY slots, never fewer,
            // and an end it shows is an end (design.md, W1). Was Acquire; weakened
            // after no model caught it (docs/loom.md, sixth run).
            let word = bucket.tags.load(ord::RELAXED);
            if match_empty(word).any() {
                return Self::empty_slot(bucket, word, dist);
            }
        }
        None
    }

    /// The first EMPTY slot of `bucket` as its tag word `word` shows it, `dist`
    /// buckets from home (not a CLOSED one, which ends the region but is not free).
    fn empty_slot<'g>(bucket: &'g Bucket<K, V>, word: u64, dist: usize) -> Option<Free<'g, K, V>> {
        match_unclaimed(word).next().map(|i| Free {
            bucket,
            index: i,
            pos: dist * SLOTS + i,
            empty: true,
        })
    }

    /// The first reusable slot of a bucket: a tombstone, else an EMPTY slot.
    fn free_slot<'g>(
        &'g self,
        bucket: &'g Bucket<K, V>,
        word: u64,
        dist: usize,
        guard: &'g Guard,
    ) -> Option<Free<'g, K, V>> {
        if word & TOMBSTONE_HINT != 0 {
            for i in match_used(word) {
                // Relaxed (pairs with nothing): only the state is tested; a tombstone
                // carries no data, and the claim's CAS (tombstone -> claim) decides on
                // the latest value. Was Acquire (docs/loom.md, eighth run).
                let p = bucket.slots[i].load(ord::RELAXED, guard);
                if state(p) == State::Tombstone {
                    return Some(Free {
                        bucket,
                        index: i,
                        pos: dist * SLOTS + i,
                        empty: false,
                    });
                }
            }
        }
        Self::empty_slot(bucket, word, dist)
    }
}

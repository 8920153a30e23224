//! Claims: how a new entry gets a slot without ever creating a duplicate key.
//!
//! A slot freed by `remove` may be reused by any key, so two inserts of the
//! same key can pick different free slots of its region. They settle it like
//! this (Purcell–Harris style, simplified by buckets):
//!
//! 1. **Claim** the first free slot with the node tagged PENDING (or COPY for
//!    migration). Readers skip pending nodes. An EMPTY slot is claimed by a
//!    CAS on its tag byte first (so the region end moves before the pointer
//!    appears), a tombstone by a CAS on its pointer and then a re-tag. A
//!    COPY claim takes only EMPTY slots: all copiers of a node claim with the
//!    same value, and only a slot that holds a COPY value once in its life
//!    keeps one copier's commit from landing on another's claim.
//! 2. **Fence** (`SeqCst`) and **re-scan** the region. The fence is the one
//!    place the map needs store→load order: two claimers each store their
//!    claim and then load the other's slot (Dekker); with the fences at least
//!    one of them sees the other.
//! 3. **Resolve**: a live entry of the key elsewhere means this claim
//!    retracts. A claim of the key at a later position is killed (CAS to
//!    tombstone); if that CAS fails because the claim was committed meanwhile,
//!    the key exists and this claim retracts. A claim at an earlier position
//!    is given one chance: this claim retracts and retries from its scan, and
//!    if its next resolve meets the *same* earlier claim still pending, it
//!    kills that one too. A COPY claim also retracts when its source slot in
//!    the old table is no longer frozen.
//! 4. **Commit** with a `Release` CAS that clears the tag bit. It fails if the
//!    claim was killed or sealed by migration; the operation then retries.
//!
//! At most one live entry of a key exists at any time: whenever two claimers
//! of a key see each other, one of them kills the other or retracts, and the
//! fences make sure at least one sees the other; a kill only ever stops a
//! commit, so *who* kills whom does not matter for this. The order of claims
//! decides who usually wins, so that racing inserts rarely undo each other's
//! work; the second-sighting kill is what keeps a suspended claimer from
//! holding up other inserts of its key (docs/design.md, "Progress").

use super::bucket::{
    match_empty, match_tag, state, tag_byte, tag_of, with_tag_byte, State, TAG_TOMBSTONE,
};
use super::bucket::{readable, SLOTS};
use super::node::Node;
use super::probe::Free;
use super::table::Table;
use crate::sync::{fence, ord, Atomic, Guard, Shared};

/// The old-table slot a COPY claim copies from, and the frozen pointer it must still hold.
pub(crate) type CopySource<'a, 'g, K, V> = (&'a Atomic<Node<K, V>>, Shared<'g, Node<K, V>>);

/// The earlier claim of its key a writer last retracted for: the slot and the
/// pointer it held. Meeting the same pair again in the next resolve means that
/// claim made no progress for a whole retry, and it is killed instead of waited for.
pub(crate) type Sighting<'g, K, V> = Option<(*const Atomic<Node<K, V>>, Shared<'g, Node<K, V>>)>;

/// Outcome of trying to claim a free slot.
pub(crate) enum Claim {
    Claimed,
    /// Another writer took the slot first: scan again.
    Lost,
    /// Migration sealed the slot: continue in the next table.
    Moved,
}

/// What the re-scan after a claim decided.
pub(crate) enum Verdict {
    Commit,
    /// A live entry of the key exists elsewhere.
    Exists,
    /// An earlier claim of the key, seen for the first time, or a stale copy
    /// (the source is no longer frozen): try again from the scan.
    Retry,
    /// The region is being migrated.
    Moved,
}

impl<K, V> Table<K, V> {
    /// Claims `free` for `claim` (a node pointer tagged PENDING or COPY).
    pub(crate) fn claim<'g>(
        &'g self,
        free: &Free<'g, K, V>,
        hash: u64,
        claim: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) -> Claim {
        let tag = tag_of(hash);
        let bucket = free.bucket;
        let slot = &bucket.slots[free.index];
        if free.empty {
            // Take the EMPTY tag byte first: from here on the region end has moved past this
            // bucket for every later writer, and no other writer can claim this slot.
            // Relaxed (pairs with nothing): the word only seeds the CAS below, which fails
            // and reloads with Acquire if it is stale, or sends us back to `scan` (Lost),
            // whose loads are Acquire. Nothing is read through it, and an EMPTY byte never
            // comes back, so a stale word cannot show a taken slot as free for good. Was
            // Acquire; weakened after no model caught it (docs/loom.md, fifth weaken run).
            let mut word = bucket.tags.load(ord::RELAXED);
            loop {
                if tag_byte(word, free.index) != 0 {
                    return Claim::Lost;
                }
                // AcqRel: Release publishes the tag to readers' Acquire tag loads; Acquire
                // (also on failure) orders our view after earlier claims of this bucket.
                match bucket.tags.compare_exchange_weak(
                    word,
                    with_tag_byte(word, free.index, tag),
                    ord::ACQ_REL,
                    ord::ACQUIRE,
                ) {
                    Ok(_) => break,
                    Err(w) => word = w,
                }
            }
            self.aux.used.add(1);
            // Release: pairs with the Acquire slot loads of `scan`/`resolve`, which then see
            // the node's key. Fails only if migration sealed the slot (null -> MOVED).
            match slot.compare_exchange(Shared::null(), claim, ord::ACQ_REL, ord::ACQUIRE, guard) {
                Ok(_) => Claim::Claimed,
                Err(_) => Claim::Moved,
            }
        } else {
            let tombstone = Shared::null().with_tag(TAG_TOMBSTONE);
            // Release: pairs with the Acquire slot loads of other writers' scans.
            if let Err(e) =
                slot.compare_exchange(tombstone, claim, ord::ACQ_REL, ord::ACQUIRE, guard)
            {
                return if state(e.current) == State::Moved {
                    Claim::Moved
                } else {
                    Claim::Lost
                };
            }
            self.retag(free, tag, claim, guard);
            Claim::Claimed
        }
    }

    /// Sets the tag byte of a reused slot to `tag` while the slot is still ours.
    fn retag<'g>(
        &'g self,
        free: &Free<'g, K, V>,
        tag: u8,
        ours: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) {
        let bucket = free.bucket;
        // Acquire: pairs with Release tag CASes of other slots' claimers.
        let mut word = bucket.tags.load(ord::ACQUIRE);
        while tag_byte(word, free.index) != tag {
            // Re-check ownership after reading `word`: if the claim was killed and the slot
            // re-claimed, its new owner's tag must not be overwritten. Acquire: pairs with
            // the killer's and the new claimer's Release CASes.
            if bucket.slots[free.index].load(ord::ACQUIRE, guard) != ours {
                return;
            }
            // AcqRel: Release publishes the tag to scans that run after our fence; Acquire
            // orders this read after other claimers' tag CASes.
            match bucket.tags.compare_exchange_weak(
                word,
                with_tag_byte(word, free.index, tag),
                ord::ACQ_REL,
                ord::ACQUIRE,
            ) {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    /// Steps 2 and 3: fence, re-scan the region, kill later claims of the key.
    ///
    /// `source` is the old-table slot and its frozen value for a COPY claim.
    /// `yielded` is the caller's memory of the earlier claim it last retracted
    /// for (None at the start of an operation); it is updated on `Retry`.
    pub(crate) fn resolve<'g>(
        &'g self,
        hash: u64,
        key: &K,
        own: &Free<'g, K, V>,
        source: Option<CopySource<'_, 'g, K, V>>,
        yielded: &mut Sighting<'g, K, V>,
        guard: &'g Guard,
    ) -> Verdict
    where
        K: Eq,
    {
        // SeqCst fence: the store of our claim (before) and the loads of other claimers'
        // slots (after) need store->load order against their mirror-image sequence
        // (Dekker). It pairs with the same fence in every other claimer, with the fence
        // of writers entering a table after sealing (`advance`) and with the fence before
        // the root swing (`finish`). Proof in docs/design.md, "Why SeqCst here".
        fence(ord::SEQ_CST);
        let tag = tag_of(hash);
        let home = self.home(hash);
        for dist in 0..self.nbuckets {
            let bucket = self.bucket(home + dist);
            // Acquire: pairs with the Release tag CASes of `claim`/`retag`.
            let word = bucket.tags.load(ord::ACQUIRE);
            for i in match_tag(word, tag) {
                if core::ptr::eq(bucket, own.bucket) && i == own.index {
                    continue;
                }
                // Acquire: pairs with the Release CASes that publish claims and entries.
                let p = bucket.slots[i].load(ord::ACQUIRE, guard);
                let st = state(p);
                if st == State::Moved {
                    return Verdict::Moved;
                }
                if p.is_null() {
                    continue;
                }
                // SAFETY: non-null slot pointers are freed only through `defer` after
                // unlinking; `guard` is pinned.
                let node = unsafe { p.deref() };
                if node.key != *key {
                    continue;
                }
                let pos = dist * SLOTS + i;
                match st {
                    State::Live => return Verdict::Exists,
                    State::Frozen => return Verdict::Moved,
                    // An insert claim seen by a copy: inserts of this key happen only after its
                    // old region is sealed, so this copy is stale (the source check ends it).
                    State::Pending if source.is_some() => return Verdict::Retry,
                    // A claim of the same kind at an earlier position, seen for the first
                    // time, wins: retract and retry from the scan, which gives its owner a
                    // whole retry of ours to commit. Seen again (same slot, same pointer),
                    // its owner may be suspended: fall through and kill it, so that no
                    // insert waits for another thread (design.md, "Progress"). A kill only
                    // stops a commit, so killing an earlier claim is as safe as a later one.
                    State::Pending | State::Copy
                        if pos < own.pos
                            && (st == State::Copy) == source.is_some()
                            && *yielded != Some((&bucket.slots[i] as *const _, p)) =>
                    {
                        *yielded = Some((&bucket.slots[i] as *const _, p));
                        return Verdict::Retry;
                    }
                    _ => {
                        // A later claim, an earlier one seen pending for the second time, or
                        // a stale COPY seen by an insert: kill it; its owner's commit then
                        // fails. AcqRel: Release pairs with the owner's Acquire failure load;
                        // Acquire on failure: see what won instead.
                        match bucket.slots[i].compare_exchange(
                            p,
                            Shared::null().with_tag(TAG_TOMBSTONE),
                            ord::ACQ_REL,
                            ord::ACQUIRE,
                            guard,
                        ) {
                            Ok(_) => bucket.note_tombstone(),
                            Err(e) => {
                                // The claim was committed (by its owner or a helper) before
                                // we could kill it: the key exists, we must not commit.
                                let now = e.current;
                                if state(now) == State::Moved {
                                    return Verdict::Moved;
                                }
                                if readable(now) {
                                    // SAFETY: as above.
                                    if unsafe { now.deref() }.key == *key {
                                        return Verdict::Exists;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if match_empty(word).any() {
                break;
            }
        }
        if let Some((slot, frozen)) = source {
            // Acquire: pairs with the Release CAS FROZEN -> MOVED in `migrate_slot`. With the
            // fence above, a copy that misses MOVED here is seen and killed by every writer
            // of the key in this table (design.md, "late copiers").
            if slot.load(ord::ACQUIRE, guard) != frozen {
                return Verdict::Retry;
            }
        }
        Verdict::Commit
    }

    /// Step 4: publish the claimed node. False if the claim was killed or sealed
    /// (only its owner ever commits a claim).
    pub(crate) fn commit<'g>(
        &'g self,
        own: &Free<'g, K, V>,
        claim: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) -> bool {
        // Relaxed on success: the node is already published. The value this CAS replaces
        // was written by a claim CAS (nothing else writes a PENDING or COPY pointer), which
        // is a Release RMW, and an RMW continues the release sequence of the write it
        // reads from; so a reader whose Acquire load (`lookup`) reads the committed
        // pointer synchronizes with that claim, after which the node was never written.
        // Nothing is read after a success. Acquire on failure: pairs with the killer's or
        // sealer's Release CAS. Was AcqRel; weakened after no model caught it (docs/loom.md,
        // fifth weaken run).
        own.bucket.slots[own.index]
            .compare_exchange(claim, claim.with_tag(0), ord::RELAXED, ord::ACQUIRE, guard)
            .is_ok()
    }

    /// Withdraws a claim (it becomes a reusable tombstone). Failure means it was
    /// already killed or sealed, which is just as good.
    pub(crate) fn retract<'g>(
        &'g self,
        own: &Free<'g, K, V>,
        claim: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) {
        // A retracting writer retries from its scan: under loom, let the model run the
        // other threads first so that retry loops stay short.
        #[cfg(loom)]
        crate::sync::yield_to_others();
        // Relaxed both ways (pairs with nothing): a tombstone carries no data. A claimer
        // that reuses it, a sealer that turns it MOVED and a resolve that skips it read
        // nothing through it (the retracted node is freed through the epoch, not through
        // this slot), and we read nothing after it: the caller retries from `scan`, whose
        // loads are Acquire, whether this succeeds or finds the claim killed or sealed.
        // Was AcqRel/Acquire; weakened after no model caught the success ordering
        // Relaxed (docs/loom.md, fifth weaken run).
        if own.bucket.slots[own.index]
            .compare_exchange(
                claim,
                Shared::null().with_tag(TAG_TOMBSTONE),
                ord::RELAXED,
                ord::RELAXED,
                guard,
            )
            .is_ok()
        {
            own.bucket.note_tombstone();
        }
    }
}

//! Claims: how a new entry gets a slot without ever creating a duplicate key.
//!
//! A slot freed by `remove` may be reused by any key, so two inserts of the
//! same key can pick different free slots of its region. They settle it like
//! this (Purcell–Harris style, simplified by buckets):
//!
//! 1. **Claim** the first free slot with the node tagged PENDING (or COPY for
//!    migration). Readers skip pending nodes. An EMPTY slot is claimed by a
//!    CAS on its tag byte first (so the region end moves before the pointer
//!    appears), a tombstone by a CAS on its pointer to CLAIMING (a state no
//!    other writer acts on), a re-tag, and a CAS to PENDING. A COPY claim
//!    takes only EMPTY slots: all copiers of a node claim with the
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
//! 4. **Commit** with a CAS that clears the tag bit (`Relaxed`: it continues
//!    the release sequence of the claim's pointer CAS, which published the
//!    node). It fails if the claim was killed or sealed by migration; the
//!    operation then retries.
//!
//! At most one live entry of a key exists at any time: whenever two claimers
//! of a key see each other, one of them kills the other or retracts, and the
//! fences make sure at least one sees the other; a kill only ever stops a
//! commit, so *who* kills whom does not matter for this. The order of claims
//! decides who usually wins, so that racing inserts rarely undo each other's
//! work; the second-sighting kill is what keeps a suspended claimer from
//! holding up other inserts of its key (docs/design.md, "Progress").

use super::bucket::{
    match_empty, match_tag, state, tag_byte, tag_of, with_tag_byte, State, TAG_CLAIMING,
    TAG_TOMBSTONE,
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

/// Retracts a claim if its `resolve` unwinds (a panicking `Eq`).
struct ClaimGuard<'a, 'g, K, V> {
    table: &'g Table<K, V>,
    free: &'a Free<'g, K, V>,
    claim: Shared<'g, Node<K, V>>,
    guard: &'g Guard,
}

impl<K, V> Drop for ClaimGuard<'_, '_, K, V> {
    fn drop(&mut self) {
        self.table.retract(self.free, self.claim, self.guard);
    }
}

impl<K, V> Table<K, V> {
    /// Claims `free` for `claim` (a node pointer tagged PENDING or COPY).
    #[inline(always)]
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
            // and reloads if it is stale, or sends us back to `scan` (Lost). Nothing is
            // read through it, and an EMPTY byte never comes back, so a stale word cannot
            // show a taken slot as free for good. Was Acquire; weakened after no model
            // caught it (docs/loom.md, fifth weaken run).
            let mut word = bucket.tags.load(ord::RELAXED);
            loop {
                if tag_byte(word, free.index) != 0 {
                    return Claim::Lost;
                }
                // Relaxed both ways (pairs with nothing): no data travels with a tag byte.
                // Our node is published by the pointer CAS below (Release, W2), which
                // every reader, scanner and resolver loads with Acquire before touching
                // it; other claimers see the byte through the fence argument of
                // `resolve` (it holds for Relaxed stores), readers through coherence
                // (design.md, R2), and a seal's `close_region` through the word's
                // modification order. On failure we only test the byte. Was AcqRel /
                // Acquire; weakened after no model caught it Relaxed together with the
                // other tag-word orderings, while each of W2's sites was caught once
                // the tag word no longer covered for it (docs/loom.md, eighth run).
                match bucket.tags.compare_exchange_weak(
                    word,
                    with_tag_byte(word, free.index, tag),
                    ord::RELAXED,
                    ord::RELAXED,
                ) {
                    Ok(_) => break,
                    Err(w) => word = w,
                }
            }
            self.aux.used.add(1);
            // Release: pairs with the Acquire slot loads of `scan`/`resolve`, which then see
            // the node's key. Fails only if migration sealed the slot (null -> MOVED).
            // Relaxed on failure: the value is not read; the caller goes on to `advance`,
            // whose own Acquire loads order what it reads next (was Acquire until the
            // twelfth session, when no model caught it weakened: docs/loom.md).
            match slot.compare_exchange(Shared::null(), claim, ord::ACQ_REL, ord::RELAXED, guard) {
                Ok(_) => Claim::Claimed,
                Err(_) => Claim::Moved,
            }
        } else {
            // A tombstone is claimed in two steps. First as CLAIMING, a state every
            // other writer ignores (`scan`, `resolve`) and only a seal may change, so
            // that nobody can kill the claim while its tag byte is still another
            // key's: a kill there would let this thread's re-tag, a check of the slot
            // followed by a CAS on the word, land after the slot was re-claimed by
            // another key and overwrite that key's tag (found in review, ninth
            // session; design.md, "Claims"). Then, re-tagged, as PENDING.
            let tombstone = Shared::null().with_tag(TAG_TOMBSTONE);
            let claiming = claim.with_tag(TAG_CLAIMING);
            // Acquire on success: pairs with the Release CAS to PENDING of the slot's
            // previous claim (or the EMPTY claim CAS that first took it), whose release
            // sequence every later write to the slot continues; so our `retag` sees
            // the byte the previous owner's re-tag wrote, and cannot find its own tag
            // in an older word and skip its CAS. No Release: no other thread
            // dereferences a CLAIMING pointer, and the node is published by the CAS to
            // PENDING below. (Relaxed on success in 4386e1e, which review found lost
            // that edge; AcqRel before. Loom model 21 catches it weakened: docs/loom.md.)
            // Relaxed on failure: the value's state is only classified (MOVED or not)
            // and nothing is read through it (was Acquire until the twelfth session,
            // when no model caught it weakened: docs/loom.md).
            if let Err(e) =
                slot.compare_exchange(tombstone, claiming, ord::ACQUIRE, ord::RELAXED, guard)
            {
                return if state(e.current) == State::Moved {
                    Claim::Moved
                } else {
                    Claim::Lost
                };
            }
            if !self.retag(free, tag, claiming, guard) {
                return Claim::Moved;
            }
            // AcqRel on success for its Release half: every later write to this slot
            // (commit, kill, retract, replace, remove) is an RMW, so this CAS heads the
            // release sequence they continue, and whoever reuses the slot's tombstone
            // (an Acquire claim CAS) synchronizes with it and sees our re-tag. Without
            // it nothing after the re-tag would be a release (the CAS to CLAIMING is
            // none, and a kill, retract or remove only continues a sequence), so the
            // reuser's re-tag could read an older word, skip its CAS and leave our tag
            // on its entry (found in review, ninth session). It also publishes the node: other claimers' `resolve`
            // loads PENDING with Acquire and reads the key. Relaxed on failure: it
            // fails only on a seal (CLAIMING -> MOVED), and nothing is read from it.
            match slot.compare_exchange(claiming, claim, ord::ACQ_REL, ord::RELAXED, guard) {
                Ok(_) => Claim::Claimed,
                Err(_) => Claim::Moved,
            }
        }
    }

    /// Sets the tag byte of a reused slot to `tag` while the slot still holds our
    /// CLAIMING value `ours`. False if a seal took the slot first.
    fn retag<'g>(
        &'g self,
        free: &Free<'g, K, V>,
        tag: u8,
        ours: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) -> bool {
        let bucket = free.bucket;
        // Relaxed (pairs with nothing): the word only seeds the CAS below, which fails
        // and reloads if it is stale; as for `claim`'s seed load (W1).
        let mut word = bucket.tags.load(ord::RELAXED);
        while tag_byte(word, free.index) != tag {
            // A CLAIMING slot changes only by our own CAS or a seal (MOVED), so this
            // check can only find a seal: then stop, the migration owns the slot.
            // Relaxed: only compared with `ours`, nothing is read through it; a stale
            // `ours` after a seal costs a tag byte written on a MOVED slot, which no
            // reader or claimer acts on, and our CAS to PENDING then fails. Was
            // Acquire (it guarded against a killed and re-claimed slot, which the
            // CLAIMING state has made impossible; docs/loom.md, eighth run).
            if bucket.slots[free.index].load(ord::RELAXED, guard) != ours {
                return false;
            }
            // Relaxed both ways: as for the tag CAS in `claim` (W1); the node is
            // published by our CAS to PENDING after this (W2), and other claimers see
            // this byte through the fence argument of `resolve`. Was AcqRel / Acquire
            // (W3).
            match bucket.tags.compare_exchange_weak(
                word,
                with_tag_byte(word, free.index, tag),
                ord::RELAXED,
                ord::RELAXED,
            ) {
                Ok(_) => return true,
                Err(w) => word = w,
            }
        }
        true
    }

    /// Steps 2 and 3 ([`resolve`](Self::resolve)) for the claim `claim` in
    /// `own`, retracted if the step unwinds: the only way claimers call it.
    ///
    /// The caller's `Eq` runs in `resolve`. If it panics, the claim is
    /// retracted as the call unwinds, for every claimer: a COPY claim left behind could outlive
    /// its node once a writer removed the key from the slot another copier
    /// committed, and later scans would read the freed node. (Until the
    /// twenty-fourth session the unwind guard was the insert's own, and copies
    /// had none; found in review.)
    #[inline(always)]
    // Eight inputs: the unwind guard needs the claim's value beside its slot.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resolve_guarded<'g>(
        &'g self,
        hash: u64,
        key: &K,
        own: &Free<'g, K, V>,
        claim: Shared<'g, Node<K, V>>,
        source: Option<CopySource<'_, 'g, K, V>>,
        yielded: &mut Sighting<'g, K, V>,
        guard: &'g Guard,
    ) -> Verdict
    where
        K: Eq,
    {
        let unwinding = ClaimGuard {
            table: self,
            free: own,
            claim,
            guard,
        };
        let verdict = self.resolve(hash, key, own, source, yielded, guard);
        core::mem::forget(unwinding);
        verdict
    }

    /// Steps 2 and 3: fence, re-scan the region, kill later claims of the key.
    /// Called through [`resolve_guarded`](Self::resolve_guarded).
    ///
    /// `source` is the old-table slot and its frozen value for a COPY claim.
    /// `yielded` is the caller's memory of the earlier claim it last retracted
    /// for (None at the start of an operation); it is updated on `Retry`.
    #[inline(always)]
    fn resolve<'g>(
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
        // A copy recognises the node it copies by its address, before any key
        // comparison: another copier's claim or commit of the same node is this
        // key whatever the caller's `Eq` says. With an `Eq` that is not reflexive
        // (a NaN inside a hand-written `Eq`), comparing keys alone let two copiers
        // of one node both commit it, and the node was then freed twice (found in
        // review, twenty-fourth session).
        let copying = source.map(|(_, frozen)| frozen.as_raw());
        let same_key = |p: Shared<'g, Node<K, V>>, node: &Node<K, V>| {
            copying == Some(p.as_raw()) || node.key == *key
        };
        for dist in 0..self.nbuckets {
            let bucket = self.bucket(home + dist);
            // Relaxed (pairs with nothing): the word only chooses which slots to load
            // and where the region ends. The fence above makes every claim whose
            // owner fenced before us show up here (a store before one SeqCst fence is
            // seen by a load after a later one, whatever their orderings), and the
            // claimed node comes with the Acquire slot load below. Was Acquire;
            // weakened with the tag CASes (docs/loom.md, eighth run).
            let word = bucket.tags.load(ord::RELAXED);
            for i in match_tag(word, tag) {
                // Exact matches only (`match_tag` is exact since the eleventh session;
                // the SWAR test before it also reported the byte after a true match when
                // it differed from `tag` in its lowest bit, and this loop skipped those).
                // A slot whose byte is not `tag` holds no claim or entry of this key
                // that the fence argument needs us to see: a claim's tag is in the word
                // before its owner's fence (a tombstone claim is CLAIMING, and skipped
                // below, until its re-tag), so it is not even loaded.
                debug_assert_eq!(tag_byte(word, i), tag);
                if core::ptr::eq(bucket, own.bucket) && i == own.index {
                    continue;
                }
                // Acquire: pairs with the Release CASes that publish claims and entries.
                let p = bucket.slots[i].load(ord::ACQUIRE, guard);
                let st = state(p);
                if st == State::Moved {
                    return Verdict::Moved;
                }
                // A CLAIMING slot is ignored: its owner has not re-tagged it yet, and no
                // writer but a sealer may change it (see `claim`). Its owner makes it
                // PENDING before its own fence, so the fence argument still sees it.
                if p.is_null() || st == State::Claiming {
                    continue;
                }
                // SAFETY: non-null slot pointers are freed only through `defer` after
                // unlinking; `guard` is pinned.
                let node = unsafe { p.deref() };
                if !same_key(p, node) {
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
                        // fails. Relaxed on success (pairs with nothing): we read nothing
                        // through the tombstone, and the victim's node came with the Acquire
                        // load above. Whoever reuses the tombstone must see the victim's
                        // tag byte, and gets it from the victim's claim: its CAS CLAIMING ->
                        // PENDING (after a re-tag) or its EMPTY claim's CAS, PENDING or COPY
                        // (after the tag CAS), is a release, and this RMW continues its
                        // release sequence. Was AcqRel until the eleventh session; no model
                        // caught it Relaxed (design.md, W4). Acquire on failure: pairs with
                        // the replace that won, or with the claim CAS whose release sequence
                        // the winning (Relaxed) commit continues; we read that node's key.
                        match bucket.slots[i].compare_exchange(
                            p,
                            Shared::null().with_tag(TAG_TOMBSTONE),
                            ord::RELAXED,
                            ord::ACQUIRE,
                            guard,
                        ) {
                            Ok(_) => bucket.note_tombstone(),
                            Err(e) => {
                                // The claim was committed (by its owner) before
                                // we could kill it: the key exists, we must not commit.
                                let now = e.current;
                                if state(now) == State::Moved {
                                    return Verdict::Moved;
                                }
                                if readable(now) {
                                    // SAFETY: as above.
                                    if same_key(now, unsafe { now.deref() }) {
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
            // Relaxed (pairs with nothing): only compared with `frozen`; nothing is read
            // through it. What makes the check work is the fence above, against the
            // writers' fences (F3, F2): a copy that misses MOVED here is seen and killed
            // by every writer of the key in this table (design.md, "late copiers"), an
            // argument that holds for Relaxed loads. Was Acquire; weakened after no
            // model caught it (docs/loom.md, eighth run).
            if slot.load(ord::RELAXED, guard) != frozen {
                return Verdict::Retry;
            }
        }
        Verdict::Commit
    }

    /// Step 4: publish the claimed node. False if the claim was killed or sealed
    /// (only its owner ever commits a claim).
    #[inline(always)]
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
        // Nothing is read after a success. This CAS is also the write after our `resolve`
        // fence that carries a reused slot's re-tag to whoever removes the entry and
        // reuses the tombstone later (their RMWs continue its sequence, and the fence
        // synchronizes with their Acquire claim CAS). Was AcqRel; weakened after no
        // model caught it (docs/loom.md, fifth weaken run). Relaxed on failure too: the
        // value (a seal's MOVED or a kill's tombstone) is not read, and the caller's
        // next reads (`advance`, a new scan) make their own Acquire loads. It was
        // Acquire, "pairing with the sealer's Release CAS", until the twelfth session,
        // when no model caught it weakened.
        own.bucket.slots[own.index]
            .compare_exchange(claim, claim.with_tag(0), ord::RELAXED, ord::RELAXED, guard)
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
        // Relaxed both ways. A sealer and a resolve read nothing through a tombstone
        // (the retracted node is freed through the epoch, not through this slot), and
        // we read nothing after it: the caller retries from `scan` whether this
        // succeeds or finds the claim killed or sealed. A claimer that reuses the
        // tombstone must see the slot's tag byte: this RMW continues the release
        // sequence of our claim CAS (EMPTY: after the tag CAS) or of our CAS to
        // PENDING (after the re-tag), which the reuser's Acquire claim CAS then
        // acquires; `resolve`'s SeqCst fence, which every retract follows, would
        // give the same edge. Was AcqRel/Acquire; weakened after no model caught
        // the success ordering Relaxed (docs/loom.md, fifth run).
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

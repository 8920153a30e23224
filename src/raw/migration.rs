//! Migration: the incremental resize state machine.
//!
//! ```text
//!   STABLE ──start──▶ MIGRATING ──last chunk done──▶ root swung, old table retired
//!  (next = null)     (next = T')                     (T' becomes the root)
//! ```
//!
//! A resize (grow, shrink, or a same-size rebuild that drops tombstones)
//! allocates the new table zeroed, which is O(1) work, and links it with a
//! `Release` CAS on `next`. From then on:
//!
//! - **Writers help.** Every write that meets a table with a `next` migrates
//!   a bounded number of buckets (`Tuning::help`, 2 by default), claimed a
//!   chunk at a time with `fetch_add` on the table's cursor, then seals the
//!   buckets of its own key's region, issues a `SeqCst` fence and works in
//!   the new table. No operation ever copies the whole table.
//! - **Readers never help and never wait.** They look in the old table; a
//!   FROZEN entry is still readable there, a MOVED slot means the entry is in
//!   the new table, where they look next.
//! - **A slot is migrated** by sealing it: EMPTY, tombstone and pending
//!   claims become MOVED directly (killing the claim); a LIVE node becomes
//!   FROZEN (no writer can change it any more), is copied into the new table
//!   through a COPY claim (see [`super::claim`]), and then becomes MOVED. A
//!   sealed slot is never written again. Copying moves the pointer: the node
//!   itself is not reallocated.
//! - **Completion.** Each chunk sets its bit in `done_bits`; whoever sets a
//!   bit first counts it, and whoever counts the last chunk fences and swings
//!   the map's root to the new table, then retires the old one with
//!   `Table::retire` (an epoch-deferred free). The cursor wraps, so a chunk
//!   claimed by a thread that stalled is handed out again, and a finisher that
//!   set the last bit but stalled before counting it is covered by a scan of
//!   the bits: completion never waits for one thread.
//! - Only the root table starts a migration by load or by request. The one
//!   exception is a resize target that overflows while entries are still being
//!   copied into it ([`RawMap::overflow`]): it starts a resize of its own, so
//!   a chain of three or more tables can be in play for a while. Readers,
//!   writers and iterators all follow `next` to the end of the chain.

use super::bucket::{readable_node, state, State, SLOTS, TAG_COPY, TAG_FROZEN, TAG_MOVED};
use super::claim::{Claim, Verdict};
use super::node::Node;
use super::probe::Scan;
use super::table::{AllocFailure, Table};
use super::RawMap;
use crate::sync::{fence, ord, Atomic, Guard, Shared};
use core::hash::{BuildHasher, Hash};

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Links a new table of `nbuckets` behind `table` if it is the root and not
    /// already migrating.
    pub(crate) fn start_migration<'g>(
        &self,
        table: Shared<'g, Table<K, V>>,
        nbuckets: usize,
        guard: &'g Guard,
    ) -> Result<(), AllocFailure> {
        // SAFETY: tables are retired only through `Table::retire` (an epoch-deferred
        // free); `guard` is pinned.
        let t = unsafe { table.deref() };
        t.witness();
        // Relaxed: only tested for null, an early exit; nothing is read through it (the
        // CAS in `link_next` decides). No loom model fails with it weakened (loom.md).
        if !t.next.load(ord::RELAXED, guard).is_null() {
            return Ok(());
        }
        // Relaxed: only compared with `table`, never dereferenced. A stale root can
        // only start a resize of a table that has just been replaced, whose `next`
        // is already set, so the CAS in `link_next` fails harmlessly.
        if self.root.load_relaxed(guard) != table {
            return Ok(());
        }
        self.link_next(t, nbuckets, guard)
    }

    /// A resize target ran out of room for the entries still being copied into
    /// it: a shrink sized from a `len` that inserts overtook before the new table
    /// was linked (or a flood of inserts that landed in the old table's unsealed
    /// buckets meanwhile). Nothing can wait for room there (the copies *are* the
    /// resize), so the target gets a resize of its own, at least twice its size,
    /// and copies that meet its sealed buckets go on into that table. The one
    /// place where a table other than the root starts a migration (design.md,
    /// "Overflowing targets").
    #[cold]
    fn overflow(&self, target: &Table<K, V>, guard: &Guard) {
        // Relaxed: only tested for null, an early exit; nothing is read through it
        // (the CAS in `link_next` decides, as in `start_migration`). No loom model
        // fails with it Relaxed (loom.md, seventh run).
        if !target.next.load(ord::RELAXED, guard).is_null() {
            return;
        }
        let want = self.len.sum().saturating_mul(2);
        let nbuckets = match Table::<K, V>::buckets_for(want) {
            Ok(n) => n.max(target.nbuckets.saturating_mul(2)),
            Err(e) => super::alloc_panic(e),
        };
        if let Err(e) = self.link_next(target, nbuckets, guard) {
            super::alloc_panic(e);
        }
    }

    /// Allocates a table of `nbuckets` and links it as `t.next`, unless another
    /// thread links one first.
    fn link_next(
        &self,
        t: &Table<K, V>,
        nbuckets: usize,
        guard: &Guard,
    ) -> Result<(), AllocFailure> {
        let fresh = Table::<K, V>::allocate(nbuckets, self.tuning.chunk)?;
        // AcqRel (design.md, W9). Its Release half publishes the zeroed new table
        // before any slot is sealed and pairs with the Acquire `next` loads (R4) of
        // readers, writers and migrators. Its Acquire half reads the null the table
        // was allocated with and acquires nothing; it stays because only the
        // weakening to Relaxed is model-checked (loom/weaken.sh). Relaxed on failure:
        // the loser frees its own table and reads nothing of the winner's.
        let linked = t.next.compare_exchange(
            Shared::null(),
            Shared::from(fresh as *const Table<K, V>),
            ord::ACQ_REL,
            ord::RELAXED,
            guard,
        );
        if linked.is_ok() {
            self.stats_resizes_started();
        } else {
            // SAFETY: the loser's table was never shared.
            unsafe { Table::deallocate(fresh) };
        }
        Ok(())
    }

    /// Helps the migration of `table` into `next` with about `tuning.help` buckets.
    pub(crate) fn help_migrate<'g>(
        &'g self,
        table: &'g Table<K, V>,
        next: &'g Table<K, V>,
        guard: &'g Guard,
    ) {
        let nchunks = table.nchunks();
        let mut budget = self.tuning.help.max(1);
        while budget > 0 && !table.migration_complete() {
            // Relaxed: the cursor only hands out work; entries are published by slot CASes.
            let c = table.aux.cursor.fetch_add(1, ord::RELAXED) % nchunks;
            budget = budget.saturating_sub(table.chunk);
            let bit = 1u64 << (c % 64);
            // Relaxed: a set bit only skips work; nothing is read on its account (the
            // path to `finish` acquires the chunks through the fence that opens it,
            // design.md rows R5 and R6). A stale clear bit makes us walk buckets that
            // are sealed already: the freeze and seal CASes read the latest slot
            // values and find MOVED, and `fetch_or` finds the bit set, so the chunk
            // is not counted twice. No loom model fails with it Relaxed (loom.md).
            if table.aux.done_bits[c / 64].load(ord::RELAXED) & bit != 0 {
                continue;
            }
            self.migrate_chunk(table, next, c, guard);
        }
        // Relaxed: the cursor only gates the bit scan (every chunk handed out). The
        // bits are Relaxed too; `finish` opens with the fence that acquires them.
        if table.migration_complete()
            || (table.aux.cursor.load(ord::RELAXED) >= nchunks && table.all_chunks_marked())
        {
            // Normally the thread that counted the last chunk has swung the root
            // already; if it stalled before doing so, anyone may (the CAS succeeds
            // once). The bit scan covers a finisher stalled between setting its
            // chunk's bit and counting it: without it, completion (and every writer
            // waiting for room in the target) would wait for that thread.
            self.finish(table, next, guard);
        }
    }

    fn migrate_chunk<'g>(
        &'g self,
        table: &'g Table<K, V>,
        next: &'g Table<K, V>,
        c: usize,
        guard: &'g Guard,
    ) {
        let start = c * table.chunk;
        let end = (start + table.chunk).min(table.nbuckets);
        for i in start..end {
            self.migrate_bucket(table, next, i, guard);
        }
        let bit = 1u64 << (c % 64);
        // AcqRel: Release hands our seals to whoever counts the last chunk; only the
        // thread that flips the bit counts the chunk.
        let prev = table.aux.done_bits[c / 64].fetch_or(bit, ord::ACQ_REL);
        if prev & bit == 0 {
            // Relaxed: statistics only.
            self.stats
                .buckets_migrated
                .fetch_add(end - start, ord::RELAXED);
            // AcqRel: the increments form a release sequence, so the thread that counts
            // the last chunk acquires every chunk's seals before it swings the root.
            let done = table.aux.chunks_done.fetch_add(1, ord::ACQ_REL) + 1;
            if done == table.nchunks() {
                self.finish(table, next, guard);
            }
        }
    }

    /// Swings the root from `table` to `next` and retires `table`. Idempotent: the
    /// root CAS succeeds for exactly one caller, which alone retires `table`.
    fn finish<'g>(&'g self, table: &'g Table<K, V>, next: &'g Table<K, V>, guard: &'g Guard) {
        // SeqCst fence: writers that reach `next` through the root (without sealing
        // anything themselves) must see any COPY claim a late copier stored before that
        // copier's own fence; pairs with the fence in `resolve` (design.md, "late copiers").
        // It is also the acquire fence for the Relaxed loads that brought the caller
        // here: the done bits of `all_chunks_marked` (pairs with each chunk's
        // `fetch_or`) and the counter of `migration_complete` (pairs with each
        // chunk's `fetch_add`); design.md rows R5 and R6. And it is the release fence
        // of the Relaxed root swing below: pairs with every Acquire root load (R1).
        fence(ord::SEQ_CST);
        // Take the old table's pointer from the atomic, not from `table`: the pointer
        // that frees it must carry the allocation's provenance, not a shared borrow's.
        // Relaxed: the ordering buys nothing. We go on only if the value equals
        // `table`, whose header we already see through the Acquire load that gave
        // us `table`; the swing then reads the root again (its release is the fence), and
        // crossbeam's epoch orders every other thread's use of the table before
        // `retire` frees it. No loom model fails with it Relaxed (loom.md).
        let old = self.root.load_relaxed(guard);
        if !core::ptr::eq(old.as_raw(), table) {
            return;
        }
        // Relaxed: the value is `next` (written once, by `link_next`), which every
        // caller reached through an Acquire load of this same field, so its
        // initialisation is already ordered before us; the load only gives the
        // pointer its provenance. No loom model fails with it Relaxed (loom.md).
        let new = table.next.load(ord::RELAXED, guard);
        debug_assert!(core::ptr::eq(new.as_raw(), next));
        // Relaxed (pairs through the fence above): the fence is a release fence, and a
        // release fence followed by this store synchronizes with every Acquire root
        // load that reads it (R1), so the completed table and every entry copied into
        // it are visible there. Nothing is read through the old value. Was AcqRel until
        // the eleventh session: loom shows the fence needed for this (model 9 fails
        // without it once the swing is Relaxed; design.md, W14). Relaxed on failure:
        // nothing is read, the caller just returns.
        if self.root.swing(old, new, ord::RELAXED, ord::RELAXED) {
            self.stats_resizes_finished();
            // SAFETY: the old table is unreachable from the root now; guards that loaded
            // it earlier keep it alive until they unpin. Its slots are all MOVED, so
            // freeing it frees no node.
            unsafe { Table::retire(old.as_raw(), guard) };
        }
    }

    /// Seals every slot of bucket `i` of `table`.
    ///
    /// Two passes: the first loads every slot, hashes every readable entry and
    /// prefetches the entry's home bucket in `next`, the second freezes, copies
    /// and seals slot by slot. The hashes read the nodes, which are cold during
    /// a resize, and the copies write target buckets that are just as cold; done
    /// in their own loop those loads are independent and their cache misses
    /// overlap, where inside the second pass each would wait behind the previous
    /// copy's CASes (one miss per entry, most of a helping insert's time before
    /// this split).
    pub(crate) fn migrate_bucket<'g>(
        &'g self,
        table: &'g Table<K, V>,
        next: &'g Table<K, V>,
        i: usize,
        guard: &'g Guard,
    ) {
        let bucket = table.bucket(i);
        let mut seen = [(Shared::null(), None); SLOTS];
        for ((p, hash), slot) in seen.iter_mut().zip(bucket.slots.iter()) {
            // Acquire: pairs with the Release CAS that last wrote the slot (commit,
            // replace, freeze), so a readable node's key is visible.
            *p = slot.load(ord::ACQUIRE, guard);
            *hash = readable_node(*p).map(|node| self.hash(&node.key));
            if let Some(h) = *hash {
                // The copy below writes this key's home bucket in `next`: start its miss
                // now, beside the others, rather than after the previous copy's CASes.
                next.prefetch_home(h);
            }
        }
        for (slot, (p, hash)) in bucket.slots.iter().zip(seen) {
            self.migrate_slot(slot, p, hash, next, guard);
        }
    }

    /// Seals `slot`, copying its entry into `next` first if it has one. `seen`
    /// is what `migrate_bucket` loaded from the slot, and `seen_hash` the hash
    /// of its key if it was readable; a slot that changed since is reloaded by
    /// the failing CAS, and its key hashed again.
    pub(super) fn migrate_slot<'g>(
        &'g self,
        slot: &'g Atomic<Node<K, V>>,
        seen: Shared<'g, Node<K, V>>,
        seen_hash: Option<u64>,
        next: &'g Table<K, V>,
        guard: &'g Guard,
    ) {
        let moved = Shared::null().with_tag(TAG_MOVED);
        let mut p = seen;
        loop {
            match state(p) {
                State::Moved => return,
                State::Empty
                | State::Tombstone
                | State::Pending
                | State::Copy
                | State::Claiming => {
                    // Seal, killing a claim in progress (its owner's commit fails).
                    // Release: pairs with the Acquire loads of readers, which then look in
                    // `next`, and of writers' `scan`, which must then see `next` in
                    // `advance` (loom model 24 livelocks with it Relaxed). Acquire on
                    // failure: the value found may be a node another copier froze (the
                    // loop's `Frozen` arm then dereferences it), and a freeze continues
                    // the release sequence of the CAS that published the node (claim or
                    // replace), so this synchronizes with it (loom model 24 fails with it
                    // Relaxed); or another copier's MOVED, on which the chunk is counted
                    // (see the MOVED CAS below).
                    match slot.compare_exchange(p, moved, ord::ACQ_REL, ord::ACQUIRE, guard) {
                        Ok(_) => return,
                        Err(e) => p = e.current,
                    }
                }
                State::Live => {
                    let frozen = p.with_tag(TAG_FROZEN);
                    // Release/Acquire: freezing must read the latest node. Acquire on
                    // failure: the value found may be a node another copier froze (a
                    // freeze continues the release sequence of the CAS that published
                    // the node), which the `Frozen` arm dereferences without another
                    // CAS (loom model 23 fails with it Relaxed), or another copier's
                    // MOVED (see the MOVED CAS below). (A newer live node is acquired
                    // by the next freeze.)
                    match slot.compare_exchange(p, frozen, ord::ACQ_REL, ord::ACQUIRE, guard) {
                        Ok(_) => p = frozen,
                        Err(e) => p = e.current,
                    }
                }
                State::Frozen => {
                    // The node `migrate_bucket` hashed, or another one (a replace or a
                    // reused slot since): then hash its key here.
                    let hash = seen_hash.filter(|_| p.as_raw() == seen.as_raw());
                    self.copy_into(next, slot, p, hash, guard);
                    // Release: the copy is committed in `next` before MOVED is visible, so a
                    // reader who sees MOVED finds the entry there (pairs with its Acquire).
                    // Acquire on failure: a frozen slot changes only to MOVED, so this
                    // fails on another copier's MOVED, and the loop returns and the chunk
                    // is counted on that observation. The Acquire synchronizes with that
                    // copier's Release MOVED, so its commit in `next` happens before our
                    // chunk count, and through it (W13, F2, the root swing) before a
                    // reader of the new root. Nothing is read through the value, but
                    // Relaxed here loses that edge (review, twelfth session). No loom
                    // model can show it lost: loom 0.7.2's acquire fence (F2) acquires
                    // what any thread it has synchronized with has read, which C++ does
                    // not promise (docs/loom.md, thirteenth session). The Relacy model
                    // loom/relacy/moved_count.cpp, which transcribes this slice, fails
                    // with it Relaxed (docs/loom.md, "Site 18 in Relacy").
                    match slot.compare_exchange(p, moved, ord::ACQ_REL, ord::ACQUIRE, guard) {
                        Ok(_) => return,
                        Err(e) => p = e.current,
                    }
                }
            }
        }
    }

    /// Copies the frozen node behind `source` into `next` (or, if `next` has
    /// overflowed into a resize of its own, into the table after it), unless it
    /// is there already.
    fn copy_into<'g>(
        &'g self,
        next: &'g Table<K, V>,
        source: &'g Atomic<Node<K, V>>,
        frozen: Shared<'g, Node<K, V>>,
        hash: Option<u64>,
        guard: &'g Guard,
    ) {
        // SAFETY: a frozen node is never retired before it has been moved; `guard` is pinned.
        let node = unsafe { frozen.deref() };
        let hash = hash.unwrap_or_else(|| self.hash(&node.key));
        let claim = frozen.with_tag(TAG_COPY);
        let mut target: Shared<'g, Table<K, V>> = Shared::from(next as *const Table<K, V>);
        let mut yielded = None;
        loop {
            // Relaxed (pairs with nothing): only compared with `frozen`, the node this
            // copier already holds; nothing is read through the value. A stale FROZEN
            // lets the copier go on to a copy that is no longer needed: its scan then
            // finds the entry in the target (it returns), or its claim's `resolve`,
            // after the fence, finds the source changed and retries into this check.
            // Was Acquire; weakened after no model caught it in any weaken run
            // (docs/loom.md, eighth run).
            if source.load(ord::RELAXED, guard) != frozen {
                return;
            }
            // SAFETY: `target` is `next` or a table linked behind it; tables are retired
            // only through `Table::retire` and `guard` is pinned.
            let t = unsafe { target.deref() };
            match t.scan(hash, &node.key, guard) {
                // The target is sealed where this key lives: it overflowed and is migrating
                // itself (nothing else seals a table before this migration completes).
                // Seal the key's region there and copy into the table after it.
                Scan::Migrating => target = self.advance(target, hash, guard),
                Scan::Live(_) => return,
                Scan::Absent(None) => {
                    // No free slot in the whole target: it is too small for what is being
                    // copied into it. Give it a resize and go on past it.
                    self.overflow(t, guard);
                    target = self.advance(target, hash, guard);
                }
                Scan::Absent(Some(free)) => {
                    // A COPY claim goes only into an EMPTY slot, never a tombstone. Every
                    // copier of this node claims with the same value, COPY(node), so a
                    // tombstone that once held one copier's killed claim could take another
                    // copier's identical claim, and the first copier's commit CAS, which
                    // compares values, would then succeed on a claim it does not own, one
                    // whose owner has not resolved yet (and whose retag it can overtake):
                    // the key could end up in two slots, or in one under another key's
                    // tag. An EMPTY slot is claimed once in a table's life, so a COPY
                    // value sits in a given slot at most once, and a commit or retract of
                    // a COPY claim can only meet its own.
                    let free = if free.empty {
                        free
                    } else if let Some(empty) = t.first_empty(hash) {
                        empty
                    } else {
                        // No EMPTY slot in the key's region of the target (none left, or
                        // its region ends in a bucket a seal closed, when the target is
                        // migrating itself): as for `Absent(None)`; `overflow` then links
                        // nothing new and `advance` moves on to the target's `next`.
                        self.overflow(t, guard);
                        target = self.advance(target, hash, guard);
                        continue;
                    };
                    if free.pos >= SLOTS && t.over_load() {
                        // Copies have pushed the target past its load limit: start its
                        // resize early, while there is still room to copy into it. Checked
                        // only on a spill past the home bucket, as for writers
                        // (`after_spill`): the check sums the striped counter.
                        self.overflow(t, guard);
                    }
                    match t.claim(&free, hash, claim, guard) {
                        Claim::Lost | Claim::Moved => continue,
                        Claim::Claimed => {
                            let source = Some((source, frozen));
                            match t.resolve_guarded(
                                hash,
                                &node.key,
                                &free,
                                claim,
                                source,
                                &mut yielded,
                                guard,
                            ) {
                                Verdict::Commit => {
                                    if t.commit(&free, claim, guard) {
                                        return;
                                    }
                                }
                                Verdict::Exists | Verdict::Retry | Verdict::Moved => {
                                    t.retract(&free, claim, guard);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Seals the region of `hash` in `table` so that its key can be written in `next`.
    pub(crate) fn seal_region<'g>(
        &'g self,
        table: &'g Table<K, V>,
        next: &'g Table<K, V>,
        hash: u64,
        guard: &'g Guard,
    ) {
        let home = table.home(hash);
        for dist in 0..table.nbuckets {
            self.migrate_bucket(table, next, home + dist, guard);
            // Where the region ends is decided by an RMW on the tag word, which also
            // makes that end final: `close_region` says why a load is not enough.
            if table.bucket(home + dist).close_region() {
                break;
            }
        }
    }

    /// Moves a writer from `table` to its `next`: helps, seals the key's region, fences.
    /// Returns `table` itself if it is not migrating.
    #[cold]
    pub(crate) fn advance<'g>(
        &'g self,
        table: Shared<'g, Table<K, V>>,
        hash: u64,
        guard: &'g Guard,
    ) -> Shared<'g, Table<K, V>> {
        // SAFETY: tables are retired only through `Table::retire` (an epoch-deferred
        // free); `guard` is pinned.
        let t = unsafe { table.deref() };
        let next = t.load_next(guard);
        if next.is_null() {
            return table;
        }
        // SAFETY: as above.
        let n = unsafe { next.deref() };
        self.help_migrate(t, n, guard);
        self.seal_region(t, n, hash, guard);
        // SeqCst fence: we are about to write this key in `next`; a late copier of one of
        // its old entries must either see MOVED or have its COPY claim seen (and killed)
        // by our scan. Pairs with the fence in `resolve`.
        fence(ord::SEQ_CST);
        next
    }
}

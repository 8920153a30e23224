// A Relacy model of one edge of epochmap's migration that loom cannot check:
// a chunk counted on another copier's MOVED (docs/design.md, row W11; weaken
// site 18 of `WEAKEN_LIST=1 loom/weaken.sh`). Run by loom/relacy/run.sh.
//
// Why Relacy and not loom. loom 0.7.2's acquire fence acquires every store
// that any thread in the fencing thread's causality has read, so a finisher's
// fence F2 acquires a MOVED that only a helper read (Relaxed), and the edge
// that the helper's Acquire supplies can never be seen missing there
// (docs/loom.md, "A three-thread model of a chunk counted on another
// copier's MOVED"). Relacy's acquire fence takes in only what the fencing
// thread itself has read (relacy/thread.hpp: a relaxed load joins the
// store's clock into the loading thread's `acquire_fence_order_`, which any
// later acquire fence of that thread takes in), as in C++; fence_rule.cpp
// checks that. Relacy is stronger than C++ elsewhere, among others: its
// `SeqCst` fences synchronize with each other (a global clock; the model's
// fences are therefore AcqRel, see FENCE_ORDER), and its schedulers explore
// only some of the executions (a load reads at most one store back under the
// systematic scheduler, two under the random one). docs/loom.md, "Site 18
// in Relacy".
//
// The model is a transcription of the Rust code, not the Rust code: each
// atomic access below names its function and design.md row, and its ordering
// is a macro whose default is the ordering in src/raw today (the fences
// excepted: see FENCE_ORDER). run.sh builds it in two configurations
// (without and with SCAN), with those defaults (it must pass) and once per
// weakened access, each with the verdict it must give (the build with the
// MOVED CAS's failure ordering Relaxed must fail on the lookup, with AcqRel
// and with SeqCst fences).
//
// The scenario (the three threads of docs/loom.md's description):
// - S copies the one entry A of chunk 0: it freezes A's slot in the old
//   table, claims an EMPTY slot of the new table (COPY), fences (F1),
//   commits the claim (LIVE) and seals the old slot (MOVED), then counts
//   chunk 0 if nobody has.
// - H also migrates chunk 0 (a helper that found its done bit clear). If it
//   meets S's MOVED (its first load of the slot, its freeze or its MOVED CAS
//   reads it) it counts chunk 0 without copying anything. Where it would
//   have to copy A itself (the old slot still frozen and the new slot not
//   yet live), the model stops H: a copier stalled before its copy, which
//   the real protocol allows. This also cuts off H's `scan` killing S's COPY
//   claim as stale (probe.rs, `scan`); two racing copies are the loom
//   models' subject (models 6, 13).
// - L migrates chunk 1, which holds no entry, and counts it. Whoever counts
//   the second chunk finishes: fence F2, swing the root, then look A up in
//   the new table, which must find it. With SCAN, each thread then ends as
//   help_migrate does, and may finish on Relaxed loads of the counter and
//   the done bits.
// A is the only entry of chunk 0 here. In the Rust code H would go on to the
// chunk's other slots, and meeting any seal S made after A's would give H
// the edge through an Acquire; the failure needs H to get there first (or A
// in the chunk's last slot). L seals nothing here; in the Rust code a
// finisher that is a writer seals its key's region after `finish`, which
// can give its own later lookup the edge (docs/loom.md).

#include <relacy/relacy.hpp>

// Orderings of src/raw today (weaken one with -DNAME=rl::mo_relaxed).
#ifndef MIGRATE_LOAD        // migration.rs migrate_bucket: slot load (R3's load in the migration, site 12)
#define MIGRATE_LOAD rl::mo_acquire
#endif
#ifndef FREEZE_OK           // migrate_slot: CAS LIVE -> FROZEN, success (W10, site 15)
#define FREEZE_OK rl::mo_acq_rel
#endif
#ifndef FREEZE_FAIL         // migrate_slot: CAS LIVE -> FROZEN, failure (W10, site 16)
#define FREEZE_FAIL rl::mo_acquire
#endif
#ifndef SCAN_LOAD           // probe.rs scan: slot load of the target (R3, site 22)
#define SCAN_LOAD rl::mo_acquire
#endif
#ifndef CLAIM_OK            // claim.rs claim: CAS EMPTY -> COPY, success (W2, site 1)
#define CLAIM_OK rl::mo_acq_rel
#endif
#ifndef COMMIT              // claim.rs commit: CAS COPY -> LIVE (W5, Relaxed)
#define COMMIT rl::mo_relaxed
#endif
#ifndef SEAL_OK             // migrate_slot: CAS FROZEN -> MOVED after a copy, success (W11, site 17)
#define SEAL_OK rl::mo_acq_rel
#endif
#ifndef SEAL_FAIL           // migrate_slot: CAS FROZEN -> MOVED after a copy, failure (W11, site 18)
#define SEAL_FAIL rl::mo_acquire
#endif
#ifndef DONE_OR             // migrate_chunk: done_bits.fetch_or (W13, site 9)
#define DONE_OR rl::mo_acq_rel
#endif
#ifndef COUNT_ADD           // migrate_chunk: chunks_done.fetch_add (W13, site 10)
#define COUNT_ADD rl::mo_acq_rel
#endif
#ifndef ROOT_LOAD           // table.rs Root::acquire (R1, site 24)
#define ROOT_LOAD rl::mo_acquire
#endif
#ifndef LOOKUP_LOAD         // probe.rs lookup_in: slot load (R3, site 21)
#define LOOKUP_LOAD rl::mo_acquire
#endif
#ifndef F1                  // claim.rs resolve: fence(SeqCst) (site 4); 0 removes it
#define F1 1
#endif
#ifndef F2                  // migration.rs finish: fence(SeqCst) (site 11); 0 removes it
#define F2 1
#endif
// The fences' ordering in the model. The source's F1 and F2 are SeqCst; their
// place in the single total order serves the late-copier Dekker pairs (F1
// against F2 and F3), which this slice leaves out. Relacy's SeqCst fences
// also synchronize with one another through a global clock, which C++'s do
// not, and that could hide a failure. So the model uses AcqRel fences: in C++
// a SeqCst fence is an AcqRel fence with more constraints, so every execution
// of the source's fences is one of these, and a pass here holds there. The
// converse does not hold: a failure with AcqRel fences might be one the
// source's fences forbid, so run.sh also runs the failures that matter with
// SeqCst fences (Relacy's, stronger than C++'s: a failure there is real).
#ifndef FENCE_ORDER
#define FENCE_ORDER rl::mo_acq_rel
#endif
#ifndef SCAN                // 1: helpers end with help_migrate's check (R5, R6)
#define SCAN 0
#endif
#ifndef BOUND               // preemptions explored (Relacy's context bound)
#define BOUND 5
#endif

// The old table's slot of A, the new table's slot it is copied to, the root.
static const int LIVE = 1, FROZEN = 2, MOVED = 3;
static const int EMPTY = 0, COPY = 4, COPIED = 5;
static const int OLD_TABLE = 0, NEW_TABLE = 1;
static const int CHUNKS = 2;

struct moved_count : rl::test_suite<moved_count, 3> {
    rl::atomic<int> old_slot, new_slot, done_bits, chunks_done, root;

    void before() {
        old_slot($) = LIVE;
        new_slot($) = EMPTY;
        done_bits($) = 0;
        chunks_done($) = 0;
        root($) = OLD_TABLE;
    }

    // migration.rs finish, then a get of A through the new root.
    void finish() {
        // F2: acquire fence for this thread's earlier Relaxed reads; release
        // fence of the swing below (pairs with Root::acquire).
        if (F2) rl::atomic_thread_fence(FENCE_ORDER, $);
        // Root::load_relaxed: compared with the caller's table only; pairs with nothing.
        if (root.load(rl::mo_relaxed, $) != OLD_TABLE) return;
        int old = OLD_TABLE;
        // Root::swing (W14): Relaxed, released by F2; pairs with Root::acquire.
        if (!root.compare_exchange_strong(old, NEW_TABLE, rl::mo_relaxed, $, rl::mo_relaxed, $))
            return;
        // Root::acquire (R1): pairs with the swing through F2 (here our own swing).
        RL_ASSERT(root.load(ROOT_LOAD, $) == NEW_TABLE);
        // lookup_in (R3): pairs with the claim's Release, whose release
        // sequence the Relaxed commit continues.
        int v = new_slot.load(LOOKUP_LOAD, $);
        RL_ASSERT(v == COPIED); // A is present throughout: the get must find it
    }

    // migration.rs migrate_chunk, after its buckets.
    void count_chunk(int c) {
        int bit = 1 << c;
        // done_bits.fetch_or (W13): AcqRel, pairs with every earlier fetch_or of
        // the word (one release sequence: S and H both set bit 0).
        if ((done_bits.fetch_or(bit, DONE_OR, $) & bit) == 0) {
            // chunks_done.fetch_add (W13): AcqRel; the increments form one release
            // sequence, so the last counter acquires every earlier counter's seals.
            if (chunks_done.fetch_add(1, COUNT_ADD, $) + 1 == CHUNKS) finish();
        }
    }

    // migration.rs help_migrate, after its chunks: a helper finishes even if it
    // did not count the last chunk, when every chunk is counted or marked (a
    // counter may stall between its fetch_or and its fetch_add). Both loads are
    // Relaxed in the source: F2, which opens finish, makes them acquire the
    // increment and the fetch_ors they read (rows R5 and R6; the cursor test
    // before the bit scan is left out: every chunk is handed out here).
    void help_end() {
        if (chunks_done.load(rl::mo_relaxed, $) == CHUNKS ||
            done_bits.load(rl::mo_relaxed, $) == (1 << CHUNKS) - 1)
            finish();
    }

    // migration.rs migrate_slot with copy_into folded in. Returns false where
    // a thread that may not copy (H) would have to: it stops there.
    bool migrate_slot(bool may_copy) {
        // migrate_bucket's slot load: Acquire, pairs with the publishing CAS of
        // what it reads (here S's freeze or S's seal).
        int p = old_slot.load(MIGRATE_LOAD, $);
        for (;;) {
            if (p == MOVED) return true;
            if (p == LIVE) {
                // The freeze (W10): its Release pairs with a writer's scan; its Acquire
                // on failure pairs with another copier's freeze or seal (here S's).
                if (old_slot.compare_exchange_strong(p, FROZEN, FREEZE_OK, $, FREEZE_FAIL, $))
                    p = FROZEN;
                continue;
            }
            // Frozen: copy_into. Its source check is Relaxed in the source and
            // pairs with nothing (only compared).
            if (old_slot.load(rl::mo_relaxed, $) == FROZEN) {
                // scan's slot load (R3): Acquire, pairs with the claim's Release.
                if (new_slot.load(SCAN_LOAD, $) != COPIED) {
                    if (!may_copy) return false;
                    int e = EMPTY;
                    // The COPY claim (W2): Release pairs with the Acquire slot loads of
                    // scans and lookups; Relaxed on failure.
                    if (new_slot.compare_exchange_strong(e, COPY, CLAIM_OK, $, rl::mo_relaxed, $)) {
                        // F1: in the source a SeqCst fence that pairs with F2 and F3 of
                        // other threads (the late-copier Dekker pairs), a role this slice
                        // leaves out; here an AcqRel fence (FENCE_ORDER).
                        if (F1) rl::atomic_thread_fence(FENCE_ORDER, $);
                        // resolve's source check (Relaxed, pairs with nothing). Only H's
                        // MOVED CAS could change the slot besides S, and H makes it only
                        // after reading S's commit, which comes after this load.
                        RL_ASSERT(old_slot.load(rl::mo_relaxed, $) == FROZEN);
                        int c = COPY;
                        // The commit (W5): Relaxed, continues the claim's release sequence.
                        new_slot.compare_exchange_strong(c, COPIED, COMMIT, $, COMMIT, $);
                    }
                }
            }
            // The MOVED CAS after a copy (W11): its Release pairs with the Acquire of
            // whoever reads MOVED (a helper's load, freeze or this CAS's failure);
            // its Acquire on failure pairs with the other copier's Release MOVED, so
            // that copier's commit happens before our chunk count (site 18).
            if (old_slot.compare_exchange_strong(p, MOVED, SEAL_OK, $, SEAL_FAIL, $)) return true;
        }
    }

    void thread(unsigned i) {
        if (i == 0) {
            if (!migrate_slot(true)) return;  // S
            count_chunk(0);
        } else if (i == 1) {
            if (!migrate_slot(false)) return; // H
            count_chunk(0);
        } else {
            count_chunk(1);                   // L
        }
        if (SCAN) help_end();
    }
};

int main() {
    rl::test_params p;
#ifdef RANDOM_ITERATIONS
    // Random schedules, in which a load may read any of the last stores Relacy
    // keeps (the systematic scheduler below offers only the latest two).
    p.search_type = rl::random_scheduler_type;
    p.iteration_count = RANDOM_ITERATIONS;
#else
    p.search_type = rl::sched_bound;
    p.context_bound = BOUND;
#endif
    return rl::simulate<moved_count>(p) ? 0 : 1;
}

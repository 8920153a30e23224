//! Tables: one allocation holding a small header and the bucket array.
//!
//! ```text
//!  +----------------------+----------+----------+-----+--------------+
//!  | header (64 B)        | bucket 0 | bucket 1 | ... | bucket n - 1 |
//!  | shift, n, next, aux  |  64 B    |  64 B    |     |   64 B       |
//!  +----------------------+----------+----------+-----+--------------+
//! ```
//!
//! Keeping the header and the buckets in one allocation means a lookup goes
//! from the map's root pointer straight to the bucket: root → header (hot in
//! L1) → bucket line → node. The number of buckets is a power of two and a
//! key's home bucket is the top bits of its hash (`hash >> shift`), so the
//! order of buckets follows the order of hashes in every table size; the
//! iterator relies on that (see [`super::iter`]).
//!
//! Outside loom the array is allocated zeroed, which is the all-EMPTY state.
//! At the table's 64-byte alignment std's `alloc_zeroed` writes every byte,
//! so the insert that starts a resize zeroes (and faults in) the new table;
//! docs/design.md, section 2, says why that was kept. On Linux a table of
//! [`HUGE_TABLE`] bytes or more is aligned to a 2 MiB huge page and advised
//! `MADV_HUGEPAGE` before it is zeroed, so that the kernel can back it with
//! transparent huge pages: a lookup in a table far larger than the TLB's
//! reach then skips a page walk (docs/benchmarks.md, "Huge pages for large
//! tables").
//!
//! The block is allocated and freed here (crossbeam's `Owned` would free it
//! with the header's layout only); retired tables go through `defer_unchecked`.

use super::bucket::{Bucket, SLOTS};
use crate::counter::Striped;
use crate::sync::{ord, parallelism, Atomic, AtomicPtr, AtomicU64, AtomicUsize, Guard, Shared};
use core::sync::atomic::Ordering;
use crossbeam_utils::CachePadded;
use std::alloc::{self, Layout};

/// Smallest table: two buckets (14 slots). `shift` must stay below 64.
pub(crate) const MIN_BUCKETS: usize = 2;

/// Occupied (non-EMPTY) slots may reach 5/8 of all slots before a resize
/// (design.md section 2 says why 5/8 and not 3/4 or 7/8).
pub(crate) const MAX_LOAD_NUM: usize = 5;
pub(crate) const MAX_LOAD_DEN: usize = 8;

/// A retired table of at least this many buckets (64 KiB) is handed to the
/// collector at once (see [`Table::retire`]).
const FLUSH_RETIRED_BUCKETS: usize = 1024;

/// The largest bucket count whose layout fits in `isize::MAX` bytes.
const MAX_BUCKETS: usize = 1 << (usize::BITS - 8);

/// Why a table could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllocFailure {
    /// The requested capacity does not fit in the address space.
    CapacityOverflow,
    /// The allocator returned null for this many bytes.
    OutOfMemory(usize),
}

/// Migration bookkeeping of a table that is being moved into `next`.
pub(crate) struct Aux {
    /// Next chunk to hand out (monotonic; taken modulo the chunk count, so
    /// chunks claimed by a stalled thread are handed out again).
    pub(crate) cursor: CachePadded<AtomicUsize>,
    /// Chunks known to be fully migrated.
    pub(crate) chunks_done: CachePadded<AtomicUsize>,
    /// One bit per chunk, set by whoever finished it first.
    pub(crate) done_bits: Box<[AtomicU64]>,
    /// Estimate of slots that are no longer EMPTY (live + tombstones + claims).
    pub(crate) used: Striped,
}

#[repr(C, align(64))]
pub(crate) struct Table<K, V> {
    pub(crate) shift: u32,
    pub(crate) nbuckets: usize,
    /// `nbuckets - 1`, kept so the hot path needs no arithmetic.
    pub(crate) mask: usize,
    /// Buckets per migration chunk.
    pub(crate) chunk: usize,
    /// The table this one is migrating into; null while it is not resizing.
    pub(crate) next: Atomic<Table<K, V>>,
    pub(crate) aux: Box<Aux>,
    /// Under loom: a cell written when the table is built and read by
    /// [`Table::witness`] wherever the header is used, so that loom sees the
    /// header's initialisation (see there).
    #[cfg(loom)]
    born: loom::cell::UnsafeCell<u8>,
    _marker: core::marker::PhantomData<Bucket<K, V>>,
}

/// Size of a transparent huge page on x86-64 and on aarch64 with 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

/// Tables of at least this many bytes (65,536 buckets: two huge pages) are
/// aligned to [`HUGE_PAGE`] and advised to use huge pages, where the target
/// supports it ([`advise_huge_pages`]).
pub(crate) const HUGE_TABLE: usize = 2 * HUGE_PAGE;

/// Whether this build asks for huge pages: Linux only, and not under loom or
/// Miri (which model no page tables, and cannot run `madvise`).
const ADVISE_HUGE: bool = cfg!(all(target_os = "linux", not(loom), not(miri)));

/// The layout of a table of `nbuckets`: the header, then the buckets; aligned
/// to a huge page when it is that large and this build advises huge pages.
/// `allocate` and `deallocate` both take it from here, so they agree.
fn layout_for<K, V>(nbuckets: usize) -> Option<Layout> {
    let header = Layout::new::<Table<K, V>>();
    let buckets = Layout::array::<Bucket<K, V>>(nbuckets).ok()?;
    let (layout, offset) = header.extend(buckets).ok()?;
    debug_assert_eq!(offset, core::mem::size_of::<Table<K, V>>());
    if ADVISE_HUGE && layout.size() >= HUGE_TABLE {
        return layout.align_to(HUGE_PAGE).ok();
    }
    Some(layout)
}

/// Allocates a zeroed block of `layout` (null if the allocator refuses). A
/// huge-page-aligned layout is allocated without zeroing, advised
/// `MADV_HUGEPAGE`, and zeroed after: the advice must come before the first
/// write, or the writes fault in small pages that stay small.
#[cfg(not(loom))]
fn alloc_table(layout: Layout) -> *mut u8 {
    if layout.align() < HUGE_PAGE {
        // SAFETY: the layout has non-zero size (the header alone is 64 bytes).
        return unsafe { alloc::alloc_zeroed(layout) };
    }
    // SAFETY: as above.
    let raw = unsafe { alloc::alloc(layout) };
    if !raw.is_null() {
        advise_huge_pages(raw, layout.size());
        // SAFETY: `raw` is a fresh allocation of `layout.size()` bytes, ours alone.
        unsafe { core::ptr::write_bytes(raw, 0, layout.size()) };
    }
    raw
}

/// Asks Linux to back the whole huge pages of the block `[raw, raw + size)`
/// with transparent huge pages. `raw` is aligned to [`HUGE_PAGE`]; the tail
/// past the last whole huge page (a table's last 64 bytes, since it is a
/// power of two of buckets plus the header) is left out, so the advice never
/// reaches a page that holds other allocations. `madvise` fails only on a
/// kernel built without THP (with `enabled=never` it succeeds and is
/// ignored); either way the table gets small pages as before, so the result
/// is ignored. The advice stays on the range after the table is freed
/// (docs/design.md, section 2, says why that is left so).
#[cfg(all(target_os = "linux", not(loom), not(miri)))]
fn advise_huge_pages(raw: *mut u8, size: usize) {
    debug_assert_eq!(raw as usize % HUGE_PAGE, 0);
    let whole = size / HUGE_PAGE * HUGE_PAGE;
    // SAFETY: `[raw, raw + whole)` lies inside the allocation `raw` heads, which
    // is ours, and MADV_HUGEPAGE changes only how the kernel backs its pages,
    // never their contents.
    unsafe { libc::madvise(raw.cast(), whole, libc::MADV_HUGEPAGE) };
}

/// Nothing to ask for where huge pages are not advised (see [`ADVISE_HUGE`]).
#[cfg(all(not(loom), not(all(target_os = "linux", not(miri)))))]
fn advise_huge_pages(_raw: *mut u8, _size: usize) {}

impl<K, V> Table<K, V> {
    /// Buckets needed so that `capacity` entries fit under the load limit.
    pub(crate) fn buckets_for(capacity: usize) -> Result<usize, AllocFailure> {
        let slots = capacity
            .checked_mul(MAX_LOAD_DEN)
            .map(|x| x.div_ceil(MAX_LOAD_NUM))
            .ok_or(AllocFailure::CapacityOverflow)?;
        let buckets = slots.div_ceil(SLOTS).max(MIN_BUCKETS);
        let buckets = buckets
            .checked_next_power_of_two()
            .ok_or(AllocFailure::CapacityOverflow)?;
        if buckets > MAX_BUCKETS {
            return Err(AllocFailure::CapacityOverflow);
        }
        Ok(buckets)
    }

    /// Entries this many buckets hold before the table grows.
    pub(crate) fn capacity_of(nbuckets: usize) -> usize {
        nbuckets * SLOTS * MAX_LOAD_NUM / MAX_LOAD_DEN
    }

    /// Allocates an all-EMPTY table.
    pub(crate) fn allocate(nbuckets: usize, chunk: usize) -> Result<*mut Self, AllocFailure> {
        assert!(nbuckets.is_power_of_two() && nbuckets >= MIN_BUCKETS);
        let layout = layout_for::<K, V>(nbuckets).ok_or(AllocFailure::CapacityOverflow)?;
        #[cfg(not(loom))]
        let raw = alloc_table(layout);
        // SAFETY: the layout has non-zero size (the header alone is 64 bytes);
        // under loom the buckets are initialised below.
        #[cfg(loom)]
        let raw = unsafe { alloc::alloc(layout) };
        if raw.is_null() {
            return Err(AllocFailure::OutOfMemory(layout.size()));
        }
        let chunk = chunk.clamp(1, nbuckets);
        let nchunks = nbuckets.div_ceil(chunk);
        let used_stripes = (parallelism() * 2).min(nbuckets / 8).max(1);
        let header = Table::<K, V> {
            shift: 64 - nbuckets.trailing_zeros(),
            nbuckets,
            mask: nbuckets - 1,
            chunk,
            next: Atomic::null(),
            aux: Box::new(Aux {
                cursor: CachePadded::new(AtomicUsize::new(0)),
                chunks_done: CachePadded::new(AtomicUsize::new(0)),
                done_bits: (0..nchunks.div_ceil(64))
                    .map(|_| AtomicU64::new(0))
                    .collect(),
                used: Striped::new(used_stripes),
            }),
            #[cfg(loom)]
            born: loom::cell::UnsafeCell::new(0),
            _marker: core::marker::PhantomData,
        };
        // SAFETY: `raw` is a fresh allocation of `layout`, which starts with a
        // `Table` header at offset 0 and is aligned for it.
        unsafe { core::ptr::write(raw as *mut Table<K, V>, header) };
        #[cfg(loom)]
        for i in 0..nbuckets {
            // SAFETY: bucket `i` lies inside the allocation (layout_for) and is
            // uninitialised; loom atomics must be constructed, not zeroed.
            unsafe { core::ptr::write(Self::bucket_ptr(raw as *const Self, i), Bucket::new()) };
        }
        Ok(raw as *mut Self)
    }

    #[inline(always)]
    fn bucket_ptr(this: *const Self, i: usize) -> *mut Bucket<K, V> {
        // The bucket array starts right after the 64-byte header.
        (this as *mut u8)
            .wrapping_add(core::mem::size_of::<Self>() + i * core::mem::size_of::<Bucket<K, V>>())
            as *mut Bucket<K, V>
    }

    /// Bucket `i & (nbuckets - 1)`.
    #[inline(always)]
    pub(crate) fn bucket(&self, i: usize) -> &Bucket<K, V> {
        self.witness();
        let i = i & self.mask;
        // SAFETY: `i < nbuckets`, the allocation holds `nbuckets` initialised
        // buckets after the header, and they live as long as the header.
        unsafe { &*Self::bucket_ptr(self, i) }
    }

    /// The home bucket of `hash`, without the index mask: `hash >> shift` is
    /// below `nbuckets` because `shift = 64 - log2(nbuckets)`.
    #[inline(always)]
    pub(crate) fn home_bucket(&self, hash: u64) -> &Bucket<K, V> {
        let i = self.home(hash);
        debug_assert!(i < self.nbuckets);
        // SAFETY: `i < nbuckets` (above), the allocation holds `nbuckets`
        // initialised buckets after the header, and they live as long as it.
        unsafe { &*Self::bucket_ptr(self, i) }
    }

    /// Starts loading the home bucket of `hash` into the cache. A hint with no
    /// effect on memory: migration calls it for every entry it is about to copy,
    /// so that the target buckets' cache misses overlap instead of each waiting
    /// behind the previous copy's CASes (design.md section 5). A no-op where no
    /// stable prefetch instruction is available (outside x86_64) and under loom.
    #[inline(always)]
    pub(crate) fn prefetch_home(&self, hash: u64) {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let p: *const Bucket<K, V> = self.home_bucket(hash);
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in
            // the target's baseline), and a prefetch never faults or changes memory,
            // whatever the address; this one is a bucket of this table anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) };
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        let _ = hash;
    }

    /// The home bucket of a hash: its top bits.
    #[inline(always)]
    pub(crate) fn home(&self, hash: u64) -> usize {
        self.witness();
        (hash >> self.shift) as usize
    }

    /// `64 - log2(nbuckets)`, for the iterator's hash ranges.
    #[inline(always)]
    pub(crate) fn shift(&self) -> u32 {
        self.witness();
        self.shift
    }

    pub(crate) fn nchunks(&self) -> usize {
        self.witness();
        self.nbuckets.div_ceil(self.chunk)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.witness();
        Self::capacity_of(self.nbuckets)
    }

    /// Tells loom that this thread reads the table's header.
    ///
    /// The header (`shift`, `nbuckets`, `mask`, `chunk`) is plain data written
    /// once, before the table is published by a `Release` store or CAS; every
    /// thread that reaches the table must have loaded its pointer with
    /// `Acquire` (or be ordered after such a load) to read it. Loom does not
    /// track plain fields, so a root or `next` load weakened to `Relaxed`
    /// went unnoticed as long as the buckets' atomics were all the model
    /// checked (docs/loom.md, fifth weaken run). Under loom this reads a cell
    /// written at construction, which loom reports as a causality violation
    /// when it is not ordered after the table was built. Outside loom it is
    /// nothing.
    #[inline(always)]
    pub(crate) fn witness(&self) {
        #[cfg(loom)]
        self.born.with(|_| ());
    }

    /// The table this one is migrating into, or null. The one `Acquire` load of
    /// `next` (design.md, row R4), so that `loom/weaken.sh` weakens every caller's
    /// at once; loads that only test `next` for null stay `Relaxed` at their call
    /// sites, with their argument.
    #[inline(always)]
    pub(crate) fn load_next<'g>(&self, guard: &'g Guard) -> Shared<'g, Table<K, V>> {
        // Acquire: pairs with the Release CAS that links `next` (`link_next`): the
        // new table's header and buckets are initialised before it.
        self.next.load(ord::ACQUIRE, guard)
    }

    /// Whether the used-slot estimate is past the load limit. A table filled
    /// to exactly [`capacity`](Self::capacity) is not: `with_capacity(n)`
    /// promises `n` inserts without a resize (the `ops` fuzz target caught the
    /// earlier `>=`, which grew a 49-capacity table on its 49th insert).
    pub(crate) fn over_load(&self) -> bool {
        self.witness();
        self.aux.used.sum() * MAX_LOAD_DEN > self.nbuckets * SLOTS * MAX_LOAD_NUM
    }

    /// Whether every chunk's done bit is set: the exact form of
    /// [`migration_complete`](Self::migration_complete), which can lag it while
    /// a finisher has set its bit and not yet counted it. Costs one load per 64
    /// chunks; used only once every chunk has been handed out. The loads are
    /// Relaxed: a caller that acts on `true` must call `finish`, whose opening
    /// fence gives them acquire semantics.
    pub(crate) fn all_chunks_marked(&self) -> bool {
        let n = self.nchunks();
        self.aux.done_bits.iter().enumerate().all(|(w, word)| {
            let bits = (n - 64 * w).min(64);
            let want = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            // Relaxed: pairs with the AcqRel `fetch_or` of each chunk's finisher through
            // the SeqCst fence that opens `finish`, the only thing a caller does with
            // `true`. A relaxed load that reads a word's release sequence, followed by an
            // acquire fence, synchronizes with every `fetch_or` in that sequence, so the
            // fence already acquires every chunk's seals (design.md, row R5).
            word.load(ord::RELAXED) & want == want
        })
    }

    /// Whether every chunk has been migrated.
    pub(crate) fn migration_complete(&self) -> bool {
        // Relaxed: pairs with the AcqRel increment of the chunk that finished last
        // through the SeqCst fence that opens `finish`, the only thing a caller does
        // with `true` (a `false` only keeps it helping); as for the done bits above,
        // a relaxed load followed by an acquire fence synchronizes with the increment
        // it read, and that one, an RMW, with every increment before it. No loom
        // model fails with it Relaxed (loom.md).
        self.aux.chunks_done.load(ord::RELAXED) == self.nchunks()
    }
}

impl<K, V> Table<K, V> {
    /// Frees a table block (header allocations and buckets; not the nodes, which
    /// the map frees, since they may have moved to another table).
    ///
    /// # Safety
    /// `ptr` came from [`Table::allocate`], is not used afterwards, and no
    /// guard can still reach it.
    pub(crate) unsafe fn deallocate(ptr: *mut Self) {
        // SAFETY: `ptr` came from `allocate` and is live and exclusively ours.
        let nbuckets = unsafe { (*ptr).nbuckets };
        let layout = layout_for::<K, V>(nbuckets).expect("layout was valid at allocation");
        #[cfg(loom)]
        for i in 0..nbuckets {
            // SAFETY: each bucket was constructed in `allocate` and is dropped once.
            unsafe { core::ptr::drop_in_place(Self::bucket_ptr(ptr, i)) };
        }
        // SAFETY: the header was written in `allocate` and is dropped once.
        unsafe { core::ptr::drop_in_place(ptr) };
        // SAFETY: same pointer and layout as the allocation.
        unsafe { alloc::dealloc(ptr as *mut u8, layout) };
    }

    /// Frees the table once no guard can see it.
    ///
    /// # Safety
    /// The table is unreachable from the map for guards pinned from now on, and
    /// is retired once.
    pub(crate) unsafe fn retire(ptr: *const Self, guard: &crate::sync::Guard) {
        struct SendPtr<K, V>(*mut Table<K, V>);
        // SAFETY: a retired table holds no nodes (all its slots are MOVED) and its
        // header is plain data, so freeing it on another thread is sound.
        unsafe impl<K, V> Send for SendPtr<K, V> {}
        let p = SendPtr(ptr as *mut Self);
        // SAFETY: the caller hands over a table that is still allocated; the
        // reference is not used after the free is deferred below.
        let table = unsafe { &*ptr };
        table.witness();
        let large = table.nbuckets >= FLUSH_RETIRED_BUCKETS;
        // SAFETY: crossbeam runs the closure after every guard pinned before this call
        // is gone; later guards cannot reach the table.
        unsafe {
            guard.defer_unchecked(move || {
                let p = p;
                Table::deallocate(p.0)
            })
        };
        // Hand a large table to the global queue now. A thread's bag of deferred
        // frees goes there only when 64 have gathered, and a run of inserts retires
        // tables but no nodes: without this every old table stayed allocated until
        // then (1M inserts: a peak of 49.6 instead of 38.3 bytes per entry, the sum
        // of all the smaller tables). Small tables wait for the bag as before: they
        // cost little memory, and flushing (a collection step) on every resize of a
        // small map is not free. Loom's tiny tables stay below the threshold, so its
        // search is not widened by crossbeam's queue; with a flush for every table,
        // the migration models explored up to 4.8 times as many executions (model 12:
        // 1,091,809 against 229,599).
        if large {
            guard.flush();
        }
    }
}

/// The map's root: the oldest table of the chain.
///
/// A plain atomic pointer rather than crossbeam's `Atomic`, because the root
/// never carries tag bits: [`Root::table`] hands the read path its table
/// without the tag mask that every `Shared::deref` pays (one instruction of
/// about fifty in a `get`). The other methods speak `Shared` like the rest
/// of the raw layer.
///
/// Every load through which a table is read is the one `Acquire` load of
/// [`Root::acquire`], so its pairing is argued once (design.md, row R1) and
/// `loom/weaken.sh` weakens it as one site for every caller. Only
/// [`Root::load_relaxed`] loads it otherwise, for callers that read nothing
/// through the value or have another edge to it. The swap and the swing take
/// their caller's orderings, named at the call site.
pub(crate) struct Root<K, V>(AtomicPtr<Table<K, V>>);

impl<K, V> Root<K, V> {
    pub(crate) fn new(table: *mut Table<K, V>) -> Self {
        Root(AtomicPtr::new(table))
    }

    #[inline(always)]
    fn acquire(&self) -> *mut Table<K, V> {
        // Acquire: pairs with the root swing in `finish` (the fence F2, then the
        // Relaxed swing): the new table's header and every entry copied into it are
        // visible to whoever reads the swung root. The first table is published with
        // the map itself (its constructor, before the map is shared).
        self.0.load(ord::ACQUIRE)
    }

    /// The root table, for a caller pinned by `guard`.
    #[inline(always)]
    pub(crate) fn table<'g>(&self, _guard: &'g Guard) -> &'g Table<K, V> {
        let p = self.acquire();
        // SAFETY: the root is never null (set from `allocate` and swung only to
        // linked tables), and a table is freed only through `retire`, after it has
        // left the root and every guard pinned before that is gone; `_guard` is pinned.
        unsafe { &*p }
    }

    /// The root table as a `Shared`, loaded as by [`Root::table`].
    #[inline]
    pub(crate) fn load<'g>(&self, _guard: &'g Guard) -> Shared<'g, Table<K, V>> {
        Shared::from(self.acquire() as *const Table<K, V>)
    }

    /// The root without an Acquire: for comparisons with a table the caller
    /// holds, for a caller with exclusive access, and for tests on one thread.
    /// Each caller says why nothing it reads through the value needs the edge.
    #[inline]
    pub(crate) fn load_relaxed<'g>(&self, _guard: &'g Guard) -> Shared<'g, Table<K, V>> {
        // Relaxed: the caller's argument (above).
        Shared::from(self.0.load(ord::RELAXED) as *const Table<K, V>)
    }

    pub(crate) fn swap<'g>(
        &self,
        new: Shared<'_, Table<K, V>>,
        order: Ordering,
        _guard: &'g Guard,
    ) -> Shared<'g, Table<K, V>> {
        // The caller's ordering; the pairing is named at the call site.
        Shared::from(self.0.swap(new.as_raw() as *mut Table<K, V>, order) as *const Table<K, V>)
    }

    /// Swings the root from `current` to `new`; false if it was not `current`.
    pub(crate) fn swing(
        &self,
        current: Shared<'_, Table<K, V>>,
        new: Shared<'_, Table<K, V>>,
        success: Ordering,
        failure: Ordering,
    ) -> bool {
        // The caller's orderings; the pairing is named at the call site.
        self.0
            .compare_exchange(
                current.as_raw() as *mut Table<K, V>,
                new.as_raw() as *mut Table<K, V>,
                success,
                failure,
            )
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::{ord, Guard};
    use std::alloc::{GlobalAlloc, System};

    /// The unit tests' global allocator: the system's, except that a block from
    /// `alloc` (not `alloc_zeroed`) comes filled with 0xa5 instead of whatever
    /// the system left there, often zeros. Code that takes memory from `alloc`
    /// and treats it as zeroed then fails its test instead of passing by luck.
    struct Scribble;

    // SAFETY: every call goes to `System`, which keeps the `GlobalAlloc` contract;
    // `alloc` only writes inside the block it returns.
    unsafe impl GlobalAlloc for Scribble {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's layout contract is `System`'s.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` is a fresh block of `layout.size()` bytes.
                unsafe { p.write_bytes(0xa5, layout.size()) };
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            // SAFETY: `p` came from this allocator, that is from `System`, with `layout`.
            unsafe { System.dealloc(p, layout) }
        }
    }

    #[global_allocator]
    static SCRIBBLE: Scribble = Scribble;

    /// Every bucket of `t` is all EMPTY: a zero tag word and null slots.
    fn all_empty(t: &Table<u64, u64>, guard: &Guard) -> bool {
        (0..t.nbuckets).all(|i| {
            let b = t.bucket(i);
            // Relaxed (pairs with nothing): the table is fresh and this thread's alone.
            b.tags.load(ord::RELAXED) == 0
                && b.slots
                    .iter()
                    .all(|s| s.load(ord::RELAXED, guard).is_null())
        })
    }

    #[test]
    fn large_tables_are_huge_page_aligned_and_still_all_empty() {
        let guard = crossbeam_epoch::pin();
        let bucket = core::mem::size_of::<Bucket<u64, u64>>();
        let large = HUGE_TABLE / bucket;
        let small = large / 2;
        let (large_layout, small_layout) = (
            layout_for::<u64, u64>(large).unwrap(),
            layout_for::<u64, u64>(small).unwrap(),
        );
        assert!(large_layout.size() >= HUGE_TABLE && small_layout.size() < HUGE_TABLE);
        assert_eq!(
            small_layout.align(),
            64,
            "a table under HUGE_TABLE keeps its own alignment"
        );
        let want = if ADVISE_HUGE { HUGE_PAGE } else { 64 };
        assert_eq!(large_layout.align(), want);
        for (n, layout) in [(large, large_layout), (small, small_layout)] {
            let t = Table::<u64, u64>::allocate(n, 64).unwrap();
            assert_eq!(t as usize % layout.align(), 0);
            // SAFETY: fresh from `allocate`, freed below, seen by this thread only.
            let table = unsafe { &*t };
            assert_eq!(table.nbuckets, n);
            assert!(
                all_empty(table, &guard),
                "a table of {n} buckets is not all EMPTY"
            );
            // SAFETY: from `allocate`, not used after this, never shared.
            unsafe { Table::deallocate(t) };
        }
    }
}

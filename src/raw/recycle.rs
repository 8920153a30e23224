//! Node memory recycling: a small per-thread free list of node-sized blocks.
//!
//! A node is freed only after a grace period, by whichever thread runs
//! crossbeam-epoch's collection, and those frees come in bursts: a collection
//! step frees up to 512 nodes at once, while inserts take one node at a time.
//! glibc's per-thread cache holds 7 blocks of a size, so most of a burst went
//! to glibc's shared bins, and the next insert's `malloc` took the slow path
//! (and a 2 KiB bag of crossbeam's, a "large" request, consolidated those
//! bins every 64 retirements). This cache keeps the freed blocks of up to
//! [`CLASSES`] node layouts per thread, up to [`CLASS_BYTES`] bytes each, and
//! hands them to the next node allocations of that thread. Blocks beyond the
//! bound, and every block when the thread exits, go back to the global
//! allocator. Measurements: docs/benchmarks.md ("Node recycling").
//!
//! Every block here was allocated by the global allocator with exactly the
//! layout of the class it sits in, so a recycled block may be freed by a `Box`
//! of that layout, and a block from `Box::new` may be recycled.
//!
//! A zero-sized layout gets a dangling, aligned pointer and no memory, as
//! `Box` does, but a distinct one each time (nodes are told apart by address),
//! and layouts over [`MAX_BLOCK`] bytes are not cached (a class
//! would hold fewer than 32 of them).
//!
//! The cache is off where a tool must see every free: under loom
//! (`cfg(loom)`: the models see every allocation as its own), Miri
//! (`cfg(miri)`), the AddressSanitizer run of `scripts/sanitize.sh`
//! (`cfg(crossbeam_sanitize)`) and cargo-fuzz (`cfg(fuzzing)`). A use after
//! free of a recycled node reads live memory, and a block freed twice is
//! linked twice (where glibc's own cache would abort), so only those builds
//! can catch either. The [`FreeLists`] type itself is exercised by its unit
//! tests in every configuration, under Miri too.
//!
//! glibc catches most double frees into its per-thread cache with a key that
//! a cached block carries in its second word (glibc 2.29 and later; a random
//! `tcache_key` since 2.34): a block that arrives with the key in place is
//! looked for in its list. That check is not made here. It reads the second
//! word of every block freed, and in a dropped node that word may be padding
//! (a `Node<u64, u8>` has seven bytes of it there), which is uninitialized
//! memory: reading it as an integer is undefined behaviour in Rust, whatever
//! the hardware does. A node of one word (`Node<u64, ()>`, a
//! `HashSet<u64>`'s) has no second word at all.

use core::alloc::Layout;
use core::ptr;

/// Node layouts cached per thread (most programs have one or two map types).
pub(crate) const CLASSES: usize = 4;
/// Bytes of free blocks kept per layout and thread.
pub(crate) const CLASS_BYTES: usize = 16 * 1024;
/// Layouts larger than this are not cached (fewer than 32 would fit).
const MAX_BLOCK: usize = CLASS_BYTES / 32;

/// Whether node allocations go through the per-thread cache in this build.
pub(crate) const ENABLED: bool = !cfg!(any(loom, miri, crossbeam_sanitize, fuzzing));

/// Free blocks of one layout, linked through their first word.
struct Class {
    /// Layout of every block in the list (size 0: the class is unused).
    layout: Layout,
    head: *mut u8,
    len: usize,
    cap: usize,
}

impl Class {
    /// Unlinks the first block.
    #[inline]
    fn take(&mut self) -> Option<*mut u8> {
        if self.len == 0 {
            return None;
        }
        let block = self.head;
        // SAFETY: `len > 0`, so `head` is a block that `push` linked:
        // allocated with `layout` (at least a pointer in size and alignment),
        // unused since, its first word the link to the next.
        self.head = unsafe { block.cast::<*mut u8>().read() };
        self.len -= 1;
        Some(block)
    }
}

/// The free lists of one thread.
pub(crate) struct FreeLists {
    classes: [Class; CLASSES],
}

/// Whether blocks of `layout` can be cached: room for the link, aligned for
/// it, and small enough that a class holds at least 32.
fn cacheable(layout: Layout) -> bool {
    layout.size() >= core::mem::size_of::<*mut u8>()
        && layout.align() >= core::mem::align_of::<*mut u8>()
        && layout.size() <= MAX_BLOCK
}

impl FreeLists {
    pub(crate) const fn new() -> Self {
        const UNUSED: Class = Class {
            layout: Layout::new::<()>(),
            head: ptr::null_mut(),
            len: 0,
            cap: 0,
        };
        FreeLists {
            classes: [UNUSED; CLASSES],
        }
    }

    /// A cached block of `layout`, if there is one.
    #[inline]
    pub(crate) fn pop(&mut self, layout: Layout) -> Option<*mut u8> {
        self.classes.iter_mut().find(|c| c.layout == layout)?.take()
    }

    /// Keeps `block` for reuse, or hands it back if its class is full or no
    /// class is free for its layout.
    ///
    /// # Safety
    /// `block` was allocated by the global allocator with `layout` and is
    /// not used by anyone after this call.
    #[inline]
    pub(crate) unsafe fn push(&mut self, block: *mut u8, layout: Layout) -> Result<(), *mut u8> {
        if !cacheable(layout) {
            return Err(block);
        }
        let class = match self.classes.iter().position(|c| c.layout == layout) {
            Some(i) => &mut self.classes[i],
            None => match self.classes.iter().position(|c| c.len == 0) {
                // An empty class is taken over by the new layout.
                Some(i) => {
                    let c = &mut self.classes[i];
                    c.layout = layout;
                    c.cap = CLASS_BYTES / layout.size();
                    c
                }
                None => return Err(block),
            },
        };
        if class.len == class.cap {
            return Err(block);
        }
        // SAFETY: the caller gives up `block`, which has room and alignment
        // for a pointer (`cacheable`); its first word becomes the link.
        unsafe { block.cast::<*mut u8>().write(class.head) };
        class.head = block;
        class.len += 1;
        Ok(())
    }

    /// Bytes held in the lists.
    pub(crate) fn bytes(&self) -> usize {
        self.classes.iter().map(|c| c.len * c.layout.size()).sum()
    }
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for class in &mut self.classes {
            while let Some(block) = class.take() {
                // SAFETY: the block was allocated by the global allocator with
                // the class's layout (`push`'s contract) and is in no list now.
                unsafe { std::alloc::dealloc(block, class.layout) };
            }
        }
    }
}

std::thread_local! {
    static LISTS: core::cell::RefCell<FreeLists> = const { core::cell::RefCell::new(FreeLists::new()) };
}

/// A block for a value of `layout`: recycled if this thread has one,
/// otherwise from the global allocator; for a zero-sized layout, a dangling
/// pointer aligned to it, as `Box` uses, but a different one each time
/// ([`crate::sync::distinct_zero_sized_address`]). Aborts through
/// [`std::alloc::handle_alloc_error`] if the allocator fails, as `Box::new`
/// does.
#[inline]
pub(crate) fn alloc(layout: Layout) -> *mut u8 {
    if layout.size() == 0 {
        // An aligned address without provenance, as `NonNull::dangling` makes
        // it (`ptr::without_provenance_mut` needs Rust 1.84, above the crate's
        // MSRV); distinct, because two live nodes at one address would let a
        // stalled claimer's commit land on another thread's claim (found in
        // review, twenty-fourth session).
        return ptr::null_mut::<u8>()
            .wrapping_add(crate::sync::distinct_zero_sized_address(layout.align()));
    }
    if ENABLED && cacheable(layout) {
        // `try_with` fails while the thread's locals are being destroyed, and
        // `try_borrow_mut` if the global allocator re-entered us: then the
        // allocator serves the request.
        if let Ok(Some(block)) = LISTS.try_with(|l| l.try_borrow_mut().ok()?.pop(layout)) {
            return block;
        }
    }
    // SAFETY: `layout` has a non-zero size (checked above).
    let block = unsafe { std::alloc::alloc(layout) };
    if block.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    block
}

/// Frees a block: into this thread's cache if it has room, otherwise to the
/// global allocator. A zero-sized layout has no block: nothing is freed.
///
/// # Safety
/// `block` was allocated by the global allocator (directly, by `Box`, or by
/// [`alloc`]) with `layout`, and nothing uses it after this call.
#[inline]
pub(crate) unsafe fn free(block: *mut u8, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    if ENABLED {
        let kept = LISTS.try_with(|l| match l.try_borrow_mut() {
            // SAFETY: the caller's contract is `push`'s.
            Ok(mut lists) => unsafe { lists.push(block, layout) }.is_ok(),
            Err(_) => false,
        });
        if kept == Ok(true) {
            return;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { std::alloc::dealloc(block, layout) };
}

/// Bytes this thread's cache holds (0 where the cache is off). For tests that
/// check that memory returns to a baseline.
pub(crate) fn cached_bytes() -> usize {
    if !ENABLED {
        return 0;
    }
    if let Ok(Ok(bytes)) = LISTS.try_with(|l| l.try_borrow().map(|l| l.bytes())) {
        return bytes;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(layout: Layout) -> *mut u8 {
        // SAFETY: the layouts below have non-zero sizes.
        let b = unsafe { std::alloc::alloc(layout) };
        assert!(!b.is_null());
        b
    }

    #[test]
    fn blocks_come_back_last_in_first_out_per_layout() {
        let small = Layout::from_size_align(16, 8).unwrap();
        let large = Layout::from_size_align(48, 16).unwrap();
        let mut lists = FreeLists::new();
        let (a, b, c) = (block(small), block(small), block(large));
        // SAFETY: fresh blocks of these layouts, given up here.
        unsafe {
            assert_eq!(lists.push(a, small), Ok(()));
            assert_eq!(lists.push(b, small), Ok(()));
            assert_eq!(lists.push(c, large), Ok(()));
        }
        assert_eq!(lists.bytes(), 2 * 16 + 48);
        assert_eq!(lists.pop(large), Some(c));
        assert_eq!(lists.pop(large), None);
        assert_eq!(lists.pop(small), Some(b));
        assert_eq!(lists.pop(Layout::from_size_align(16, 16).unwrap()), None);
        assert_eq!(lists.bytes(), 16);
        // SAFETY: `b` and `c` were popped and are ours again.
        unsafe {
            std::alloc::dealloc(b, small);
            std::alloc::dealloc(c, large);
        }
        // `a` is still in the lists, which free it when dropped.
    }

    #[test]
    fn a_class_holds_at_most_its_bytes_and_the_classes_are_bounded() {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let mut lists = FreeLists::new();
        let cap = CLASS_BYTES / 64;
        for _ in 0..cap {
            let b = block(layout);
            // SAFETY: a fresh block, given up.
            assert_eq!(unsafe { lists.push(b, layout) }, Ok(()));
        }
        let extra = block(layout);
        // SAFETY: a fresh block; it comes back, and is freed below.
        assert_eq!(unsafe { lists.push(extra, layout) }, Err(extra));
        // SAFETY: refused by `push`, so still ours.
        unsafe { std::alloc::dealloc(extra, layout) };
        assert_eq!(lists.bytes(), CLASS_BYTES);
        // Three more layouts fill the other classes; a fifth is refused.
        let others: Vec<Layout> = (1..=4)
            .map(|i| Layout::from_size_align(64 + 8 * i, 8).unwrap())
            .collect();
        for (i, &l) in others.iter().enumerate() {
            let b = block(l);
            // SAFETY: a fresh block, given up (or refused and freed below).
            let kept = unsafe { lists.push(b, l) };
            if i < CLASSES - 1 {
                assert_eq!(kept, Ok(()));
            } else {
                assert_eq!(kept, Err(b));
                // SAFETY: refused, so still ours.
                unsafe { std::alloc::dealloc(b, l) };
            }
        }
        // Too small for the link, or too large: refused.
        for l in [
            Layout::from_size_align(4, 4).unwrap(),
            Layout::from_size_align(MAX_BLOCK + 8, 8).unwrap(),
        ] {
            let b = block(l);
            // SAFETY: a fresh block, refused and freed below.
            assert_eq!(unsafe { lists.push(b, l) }, Err(b));
            // SAFETY: refused, so still ours.
            unsafe { std::alloc::dealloc(b, l) };
        }
        // Dropping the lists frees every block they hold (Miri and the leak
        // checks would report any left).
    }

    #[test]
    fn an_emptied_class_is_taken_over_by_a_new_layout() {
        let mut lists = FreeLists::new();
        let layouts: Vec<Layout> = (0..CLASSES)
            .map(|i| Layout::from_size_align(16 + 8 * i, 8).unwrap())
            .collect();
        let mut blocks = Vec::new();
        for &l in &layouts {
            let b = block(l);
            // SAFETY: a fresh block, given up.
            assert_eq!(unsafe { lists.push(b, l) }, Ok(()));
            blocks.push(b);
        }
        assert_eq!(lists.pop(layouts[1]), Some(blocks[1]));
        // SAFETY: popped, so ours again.
        unsafe { std::alloc::dealloc(blocks[1], layouts[1]) };
        let new = Layout::from_size_align(200, 8).unwrap();
        let b = block(new);
        // SAFETY: a fresh block, given up.
        assert_eq!(unsafe { lists.push(b, new) }, Ok(()));
        assert_eq!(lists.pop(new), Some(b));
        // SAFETY: popped, so ours again.
        unsafe { std::alloc::dealloc(b, new) };
    }

    #[test]
    fn a_zero_sized_layout_gets_an_aligned_pointer_and_no_memory() {
        let layout = Layout::from_size_align(0, 16).unwrap();
        let before = cached_bytes();
        let p = alloc(layout);
        let q = alloc(layout);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        assert_eq!(q as usize % 16, 0);
        assert_ne!(p, q, "each zero-sized block has an address of its own");
        // SAFETY: `p` and `q` came from `alloc` with `layout`.
        unsafe {
            free(p, layout);
            free(q, layout);
        }
        assert_eq!(cached_bytes(), before, "nothing was cached");
    }

    #[test]
    fn the_thread_cache_recycles_only_where_enabled() {
        let layout = Layout::from_size_align(24, 8).unwrap();
        let before = cached_bytes();
        let a = alloc(layout);
        // SAFETY: `a` came from `alloc` with `layout`; given up here.
        unsafe { free(a, layout) };
        if ENABLED {
            assert_eq!(cached_bytes(), before + 24);
            assert_eq!(alloc(layout), a, "the block just freed comes back first");
            assert_eq!(cached_bytes(), before);
        } else {
            assert_eq!(cached_bytes(), 0);
        }
        let b = alloc(layout);
        // SAFETY: as above.
        unsafe { free(b, layout) };
        if ENABLED {
            // `a` is ours again in this branch; free it for real.
            // SAFETY: popped above, unused since.
            unsafe { std::alloc::dealloc(a, layout) };
        }
    }
}

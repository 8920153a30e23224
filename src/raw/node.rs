//! Nodes: the heap cells a bucket slot points to, and how they are freed.
//!
//! A node holds one key and one value and is immutable once published: a new
//! value for a key is a new node swapped in with a `Release` CAS, so a reader
//! that loaded a pointer with `Acquire` can read both fields without further
//! synchronisation.
//!
//! Nodes are 8-byte aligned so that a slot pointer has three tag bits for the
//! slot states (see [`super::bucket`]).
//!
//! Freeing: a node that was ever visible to another thread (published, or
//! only claimed as pending) is freed through crossbeam-epoch's
//! `defer_unchecked`, after every guard that could have loaded it is gone.
//! The value is kept in `ManuallyDrop` so a pending node that lost its race
//! can hand its value back to the caller while the key (which other writers
//! may still be comparing) is freed later.

use super::recycle;
use crate::sync::Guard;
use core::alloc::Layout;
use core::mem::ManuallyDrop;

/// How many nodes a thread retires between two collection steps it runs
/// itself ([`collect_if_due`]). Two of crossbeam-epoch's bags (64 each).
#[cfg(not(loom))]
const COLLECT_EVERY: u32 = 128;

#[cfg(not(loom))]
std::thread_local! {
    /// Nodes this thread retired since it last ran a collection step.
    static RETIRED: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Counts one retired node against this thread's collection budget.
#[inline]
fn note_retired() {
    #[cfg(not(loom))]
    RETIRED.with(|r| r.set(r.get().saturating_add(1)));
}

/// Runs a collection step (`Guard::flush`) if this thread has retired
/// [`COLLECT_EVERY`] nodes since its last one.
///
/// crossbeam-epoch frees garbage in proportion to *pins*: every 128th pin of
/// a thread frees at most 8 bags of 64. A thread that keeps one guard (a
/// `HashMapRef`, re-pinned now and then) while it replaces and removes
/// entries retires far more than that, and its garbage grew with the number
/// of writes: 1M replaces on a handle re-pinned every 1,024 left a peak of
/// 48 MB of garbage, 186 KB with this step (`tests/bounded_garbage.rs`,
/// `a_handle_pinned_again_every_1024_replaces_does_not_pile_up_garbage` and its
/// `repin` twin). With it the
/// work of freeing follows the garbage made: 128 retired nodes, then a step
/// that frees up to 512.
///
/// Called at the *start* of a write operation, before it changes anything:
/// the step runs the destructors of other keys and values, and one that
/// panics must find the map consistent, as it does when a pin panics.
/// Under loom it does nothing, so the models' executions are unchanged
/// (loom's `thread_local!` would also carry the count from one execution
/// into the next).
#[inline]
pub(crate) fn collect_if_due(guard: &Guard) {
    #[cfg(not(loom))]
    if RETIRED.with(|r| r.get()) >= COLLECT_EVERY {
        RETIRED.with(|r| r.set(0));
        guard.flush();
    }
    #[cfg(loom)]
    let _ = guard;
}

#[repr(C, align(8))]
pub(crate) struct Node<K, V> {
    pub(crate) key: K,
    pub(crate) value: ManuallyDrop<V>,
}

/// A `*mut Node` that may be moved into a deferred closure.
struct SendPtr<K, V>(*mut Node<K, V>);
// SAFETY: the map only defers the destruction of nodes whose `K` and `V` are
// `Send` (the bounds on every retiring operation), so running the destructor
// on another thread is sound.
unsafe impl<K, V> Send for SendPtr<K, V> {}

impl<K, V> Node<K, V> {
    /// A new node in a block of this thread's node cache ([`recycle`]) if it
    /// has one, otherwise from the global allocator.
    #[inline(always)]
    pub(crate) fn boxed(key: K, value: V) -> Box<Self> {
        let node = Node {
            key,
            value: ManuallyDrop::new(value),
        };
        let block = recycle::alloc(Layout::new::<Self>()).cast::<Self>();
        // SAFETY: `block` was allocated by the global allocator with
        // `Layout::new::<Self>()` and is unused, or is dangling and aligned if
        // that layout is zero-sized (`recycle::alloc`): what `Box::from_raw`
        // needs. Writing initialises it.
        unsafe {
            block.write(node);
            Box::from_raw(block)
        }
    }

    /// Frees a node (key and value) that no other thread can reach any more;
    /// its block goes to this thread's node cache ([`recycle`]).
    ///
    /// If the value's or the key's destructor panics, the other field is still
    /// dropped and the block still freed, as when a `Box` is dropped.
    ///
    /// # Safety
    /// `ptr` came from `Box::into_raw` of a node and is not used afterwards.
    pub(crate) unsafe fn destroy(ptr: *mut Self) {
        /// Frees the block last, whether the destructors return or unwind.
        struct Block(*mut u8, Layout);
        impl Drop for Block {
            fn drop(&mut self) {
                // SAFETY: the node's block, from the global allocator with this
                // layout (`destroy`'s contract; a zero-sized node's is dangling
                // and `free` leaves it alone); its fields are dropped or moved
                // out by now, and nothing uses it after.
                unsafe { recycle::free(self.0, self.1) }
            }
        }
        let _block = Block(ptr.cast(), Layout::new::<Self>());
        // SAFETY: the caller hands over the unique ownership of the node: the
        // key is moved out once (and dropped after the value, as a `Box`
        // would), the value dropped in place once.
        let _key = unsafe { core::ptr::read(&(*ptr).key) };
        // SAFETY: as above.
        unsafe { ManuallyDrop::drop(&mut (*ptr).value) };
    }

    /// Takes key and value out of a node that was never shared.
    ///
    /// # Safety
    /// As for [`Node::destroy`], and no other thread ever saw `ptr`.
    pub(crate) unsafe fn into_parts(ptr: *mut Self) -> (K, V) {
        // SAFETY: unique ownership, as for `destroy`.
        let node = unsafe { Box::from_raw(ptr) };
        let Node { key, value } = *node;
        (key, ManuallyDrop::into_inner(value))
    }

    /// Frees the node once no guard can still see it.
    ///
    /// # Safety
    /// `ptr` was unlinked from every slot before this call, and is retired once.
    pub(crate) unsafe fn retire(ptr: *mut Self, guard: &Guard)
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        note_retired();
        let p = SendPtr(ptr);
        // SAFETY: the node is unreachable for guards pinned after this point,
        // and crossbeam runs the closure only after all earlier guards are gone.
        unsafe {
            guard.defer_unchecked(move || {
                let p = p;
                Node::destroy(p.0)
            })
        };
    }

    /// Takes the value out now and frees the key once no guard can see it.
    ///
    /// Used for a pending node that lost its race: other writers may still be
    /// comparing its key, but nobody reads the value of a pending node.
    ///
    /// # Safety
    /// `ptr` is owned by the caller (its claim was retracted or killed) and
    /// is not in any slot.
    pub(crate) unsafe fn retire_keep_value(ptr: *mut Self, guard: &Guard) -> V
    where
        K: Send + 'static,
    {
        // SAFETY: no thread reads the value of a pending node, so moving it
        // out while the key is still readable is sound.
        let value = unsafe { core::ptr::read(&*(*ptr).value) };
        note_retired();
        let p = SendPtr(ptr as *mut Node<K, ManuallyDrop<V>>);
        // SAFETY: as for `retire`. `Node<K, ManuallyDrop<V>>` has the layout of
        // `Node<K, V>` (`repr(C)`, and `ManuallyDrop` is `repr(transparent)`),
        // so the `Box` frees the block with the layout it was allocated with;
        // its value field is `ManuallyDrop<ManuallyDrop<V>>`, so dropping the
        // box drops the key only.
        unsafe {
            guard.defer_unchecked(move || {
                let p = p;
                drop(Box::from_raw(p.0))
            })
        };
        value
    }
}

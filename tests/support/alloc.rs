//! A global allocator that counts the bytes currently allocated and the peak.
//!
//! A test binary installs it with
//! `#[global_allocator] static ALLOC: Counting = Counting;`. The counters are
//! process-wide, so a binary that reads them runs its tests one at a time
//! (see [`exclusive`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    // Relaxed: statistics; nothing is published through these counters.
    let now = CURRENT.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees carry over; the counters have no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. `System`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` came from `System` with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

/// Bytes currently allocated through the global allocator.
pub fn current() -> usize {
    CURRENT.load(Relaxed)
}

/// [`current`] less the freed node memory this thread's node cache keeps for
/// reuse (`epochmap::thread_node_cache_bytes`): memory the map no longer holds.
pub fn current_net() -> usize {
    current() - epochmap::thread_node_cache_bytes()
}

/// The lowest [`current_net`] seen over `rounds` pin-and-flush rounds.
///
/// crossbeam-epoch always has a little of its own memory in flight: popping
/// a bag from the global queue defers the free of the queue's old head node,
/// which goes into this thread's bag, which the next flush pushes as a new
/// queue node. So the byte count cycles by a queue node (about 2 KiB) while
/// the process is otherwise at rest; its floor over a few rounds does not.
pub fn floor(rounds: usize) -> usize {
    floor_of(rounds, current_net)
}

/// The lowest [`current`] (freed node blocks in the thread's node cache
/// included) over `rounds` pin-and-flush rounds: the baseline for a
/// [`peak`], which counts those blocks too.
pub fn gross_floor(rounds: usize) -> usize {
    floor_of(rounds, current)
}

fn floor_of(rounds: usize, count: fn() -> usize) -> usize {
    let mut low = count();
    for _ in 0..rounds {
        crossbeam_epoch::pin().flush();
        low = low.min(count());
    }
    low
}

/// The highest [`current`] since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Starts a new peak measurement from the current figure.
pub fn reset_peak() {
    PEAK.store(current(), Relaxed);
}

/// Serialises the tests of one binary that read the process-wide counters.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

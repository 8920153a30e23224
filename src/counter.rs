//! Striped counters: `len` and the per-table "slots used" estimate.
//!
//! A single shared counter would put every writer on the same cache line.
//! Instead each thread adds to its own stripe (one cache line each, see
//! [`crossbeam_utils::CachePadded`]) and a reader sums the stripes. The sum
//! is exact whenever no increment is in flight, and a close estimate while
//! writers run, which is what `len()` promises.

use crate::sync::{ord, thread_stripe, AtomicIsize};
use crossbeam_utils::CachePadded;

pub(crate) struct Striped {
    cells: Box<[CachePadded<AtomicIsize>]>,
}

impl Striped {
    /// A counter with `stripes` cells, rounded up to a power of two.
    pub(crate) fn new(stripes: usize) -> Self {
        let n = stripes.max(1).next_power_of_two();
        Striped {
            cells: (0..n)
                .map(|_| CachePadded::new(AtomicIsize::new(0)))
                .collect(),
        }
    }

    /// Adds `delta` to this thread's stripe and returns the stripe's previous value.
    #[inline]
    pub(crate) fn add(&self, delta: isize) -> isize {
        let i = thread_stripe() & (self.cells.len() - 1);
        // Counts only; no data is published through the counter, so Relaxed
        // suffices (the entries themselves are published by the slot CASes).
        self.cells[i].fetch_add(delta, ord::RELAXED)
    }

    /// The sum of all stripes, clamped at zero (a stripe may be negative when
    /// one thread inserts and another removes).
    pub(crate) fn sum(&self) -> usize {
        let total: isize = self
            .cells
            .iter()
            // Relaxed: an estimate of counts, pairs with the Relaxed `add`s.
            .map(|c| c.load(ord::RELAXED))
            .sum();
        total.max(0) as usize
    }
}

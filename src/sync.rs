//! The one place that names atomics, fences and orderings.
//!
//! Everything concurrent in the crate goes through this module, so that two
//! configuration switches reach every atomic operation at once:
//!
//! - `--cfg loom` swaps the standard atomics for [loom]'s model-checked ones
//!   (crossbeam-epoch follows with `--cfg crossbeam_loom` and its `loom`
//!   feature), which lets the `loom/` crate explore every interleaving and
//!   weak-memory outcome of the protocol in `docs/design.md`.
//! - `--cfg epochmap_seqcst` turns every ordering constant below into
//!   `SeqCst`. The map then behaves identically but pays for sequential
//!   consistency everywhere; `benches/fences.rs` compares the two builds to
//!   show what the Acquire/Release design buys on the machine it runs on.
//!
//! The raw table never writes `Ordering::Acquire` directly: it writes
//! [`ord::ACQUIRE`] and says, on the same line, which operation the access
//! pairs with.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize};

pub(crate) use crossbeam_epoch::{Atomic, Guard, Owned, Pointer, Shared};

/// Proof that a guard of crossbeam-epoch's default collector stays pinned for
/// `'g`, on whichever thread pinned it.
///
/// A `&'g Guard` proves the same but is neither `Send` nor `Sync`, so it
/// cannot go with the work to rayon's threads; this token can. The raw layer
/// (`raw::iter`) relies on it to hand out references that live for `'g` from
/// those threads. It can only be made from such a guard: the field is private.
#[cfg(feature = "rayon")]
#[derive(Clone, Copy)]
pub(crate) struct Pinned<'g> {
    _guard: core::marker::PhantomData<&'g ()>,
}

#[cfg(feature = "rayon")]
impl<'g> Pinned<'g> {
    /// `None` for `unprotected()` or a guard of another collector, which do not
    /// hold back the reclamation of the map's memory.
    pub(crate) fn new(guard: &'g Guard) -> Option<Self> {
        // A guard of the default collector is pinned for as long as it exists:
        // unpinning it (`repin`, `repin_after`) takes `&mut`, which the borrow forbids.
        (guard.collector() == Some(crossbeam_epoch::default_collector())).then_some(Pinned {
            _guard: core::marker::PhantomData,
        })
    }
}

/// Memory orderings used by the map, switchable to `SeqCst` as a whole.
pub(crate) mod ord {
    use core::sync::atomic::Ordering;

    macro_rules! orderings {
        ($($name:ident = $ord:ident;)*) => {$(
            #[cfg(not(epochmap_seqcst))]
            pub(crate) const $name: Ordering = Ordering::$ord;
            #[cfg(epochmap_seqcst)]
            pub(crate) const $name: Ordering = Ordering::SeqCst;
        )*};
    }

    orderings! {
        RELAXED = Relaxed;
        ACQUIRE = Acquire;
        ACQ_REL = AcqRel;
    }

    /// Sequential consistency, used only by the three fences (F1, F2, F3) for
    /// which `docs/design.md` proves a store→load (Dekker) ordering is needed.
    pub(crate) const SEQ_CST: Ordering = Ordering::SeqCst;
}

/// The index of the counter stripe the current thread writes to.
///
/// Threads get consecutive numbers on first use, so up to `stripes` threads
/// never share a stripe.
#[cfg(not(loom))]
#[inline]
pub(crate) fn thread_stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering};
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        // Only hands out distinct numbers; nothing is published through it.
        let v = NEXT.fetch_add(1, Ordering::Relaxed);
        s.set(v);
        v
    })
}

/// A distinct non-null address aligned to `align`, for a zero-sized node:
/// `align` times a number this function never returns twice (until it wraps,
/// after `2^64 / align` calls). A zero-sized value needs no memory, but the
/// claim protocol tells nodes apart by address (a commit CAS compares the
/// slot with its own claim), so zero-sized nodes must not all sit at
/// `align`, as `Box` would put them (docs/design.md, section 6).
pub(crate) fn distinct_zero_sized_address(align: usize) -> usize {
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering};
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(1);
    loop {
        // Relaxed (pairs with nothing): only distinct numbers are needed, which
        // the read-modify-write gives; nothing is published through them.
        let address = NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(align);
        if address != 0 {
            return address;
        }
    }
}

/// Under loom every thread uses stripe 0: the counters stay exact and the
/// models stay small.
#[cfg(loom)]
#[inline]
pub(crate) fn thread_stripe() -> usize {
    0
}

/// Tells loom that this thread is about to retry because of another thread's
/// unfinished step, so that the model runs the others instead of exploring an
/// endless retry loop (loom gives up on executions past `LOOM_MAX_BRANCHES`).
#[cfg(loom)]
#[inline]
pub(crate) fn yield_to_others() {
    loom::thread::yield_now();
}

/// How many hardware threads to size striped counters for.
pub(crate) fn parallelism() -> usize {
    #[cfg(not(loom))]
    {
        use std::sync::OnceLock;
        static P: OnceLock<usize> = OnceLock::new();
        *P.get_or_init(|| std::thread::available_parallelism().map_or(4, |n| n.get()))
    }
    #[cfg(loom)]
    {
        1
    }
}

//! Portable atomic operations at each memory ordering, one kernel per
//! (operation, ordering, shape).
//!
//! Every kernel has the same signature, `fn(&Cells, usize) -> usize`: it runs
//! the operation `n` times in a loop and returns something derived from the
//! results so that nothing can be thrown away. The loop lives inside the
//! kernel, so the cost of calling it through a function pointer is paid once
//! per batch, not once per operation.
//!
//! Two shapes:
//!
//! - `chain`: each operation depends on the result of the one before it
//!   (a load's address comes from the previous load, a store's value from the
//!   previous load, a CAS's expected value from the previous CAS). This is
//!   latency.
//! - `indep`: the operations do not feed each other, so the CPU may overlap
//!   them as far as the ordering lets it. This is throughput.
//!
//! The kernels are `#[no_mangle]` and `#[inline(never)]` so that
//! `scripts/check-codegen.sh` can find each one by name in the disassembly and
//! assert which instruction the ordering became. The same file is compiled
//! into the bench (`benches/fences.rs`) and the probe
//! (`examples/fence_probe.rs`).
//!
//! Pitfalls and how each kernel avoids them:
//!
//! - A plain (non-atomic) load of a location nobody writes in the loop is
//!   hoisted out of the loop. The plain baseline is a volatile read.
//! - `black_box(x)` makes LLVM spill `x` to a stack slot, i.e. it adds a
//!   store. A store in the store buffer is exactly what a StoreLoad fence has
//!   to wait for, so `black_box` inside a fence loop changes what is measured.
//!   The kernels sink values with [`keep`], an empty `asm!` that takes the
//!   value in a register; `fence_seqcst_black_box` shows the difference.
//! - `fetch_add(0)` is an idempotent RMW, which LLVM rewrites (on x86_64 into
//!   a fenced plain load). The `fetch_add` kernels add [`opaque`]`(1)`; the
//!   `fetch_add_zero` kernels show the rewrite.
//! - Two fences with nothing between them are folded into one by LLVM
//!   (`fences_pitfall_fence_twice`); a loop of bare fences would even become
//!   a single fence, so every fence loop also consumes the loop counter with
//!   [`keep`], which is an `asm!` block the compiler must not merge across.
//!   And in hardware, fences back to back are cheaper than a fence that has
//!   a store to drain.
//!   `fence_*_alone` is the back-to-back case; `fence_*_indep` puts a store
//!   before every fence; `fence_*_chain` is store, fence, load of the same
//!   location, the StoreLoad pattern a `SeqCst` fence exists for.

use std::hint::black_box;
use std::sync::atomic::{
    fence, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};

/// Eight atomic words on their own pair of cache lines. All start at zero;
/// chained loads index with `value & 7`, so whatever a store kernel left
/// behind is still a valid index.
#[repr(C, align(128))]
pub struct Cells {
    pub slots: [AtomicUsize; 8],
}

impl Cells {
    pub fn new() -> Self {
        Cells {
            slots: Default::default(),
        }
    }

    /// The first word, the one every non-chained kernel works on.
    #[inline(always)]
    pub fn word(&self) -> &AtomicUsize {
        &self.slots[0]
    }
}

impl Default for Cells {
    fn default() -> Self {
        Self::new()
    }
}

/// A kernel: runs one operation `n` times over `cells`.
pub type Kernel = fn(&Cells, usize) -> usize;

/// A named kernel.
pub struct Case {
    pub name: &'static str,
    pub run: Kernel,
}

/// Consumes `x` in a register without touching memory, so the value must be
/// computed but no store is added (unlike `black_box`).
#[inline(always)]
pub fn keep(x: usize) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the template is a comment; the asm reads one register, writes
    // nothing and touches no memory or flags.
    unsafe {
        std::arch::asm!("/* keep {0} */", in(reg) x, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    black_box(x);
}

/// Returns `x` unchanged, but the compiler cannot see that, so a constant
/// passed through it is not folded (and, unlike `black_box`, no store is
/// added).
#[inline(always)]
pub fn opaque(mut x: usize) -> usize {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the template is a comment; the register is left as it was and
    // no memory or flags are touched.
    unsafe {
        std::arch::asm!("/* opaque {0} */", inout(reg) x, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        x = black_box(x);
    }
    x
}

macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, |$c:ident, $n:ident| $body:block) => {
        $(#[$doc])*
        #[no_mangle]
        #[inline(never)]
        pub fn $name($c: &Cells, $n: usize) -> usize $body
    };
}

/// Dependent loads: the address of each comes from the value of the last.
macro_rules! load_chain {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let mut v = 0;
            for _ in 0..n {
                v = c.slots[v & 7].load($ord);
            }
            v
        });
    };
}

/// Independent loads of one word, summed.
macro_rules! load_indep {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let mut acc = 0usize;
            for _ in 0..n {
                acc = acc.wrapping_add(c.word().load($ord));
            }
            acc
        });
    };
}

/// Load, add one, store back: each store's value depends on the last store
/// (through store-to-load forwarding).
macro_rules! store_chain {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            for _ in 0..n {
                let v = w.load(Relaxed);
                w.store(v.wrapping_add(1), $ord);
            }
            w.load(Relaxed)
        });
    };
}

/// Stores of the loop counter, nothing read.
macro_rules! store_indep {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            for i in 0..n {
                w.store(i, $ord);
            }
            n
        });
    };
}

/// Store, fence, load the same word, and the next store's value comes from
/// that load: the StoreLoad pattern.
macro_rules! fence_chain {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            let mut v = 0usize;
            for _ in 0..n {
                w.store(v.wrapping_add(1), Relaxed);
                fence($ord);
                v = w.load(Relaxed);
            }
            v
        });
    };
}

/// A store of the loop counter, then the fence.
macro_rules! fence_indep {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            for i in 0..n {
                w.store(i, Relaxed);
                fence($ord);
            }
            n
        });
    };
}

/// Fences back to back, nothing between them but the loop counter.
macro_rules! fence_alone {
    ($name:ident, $ord:expr) => {
        kernel!($name, |_c, n| {
            for i in 0..n {
                keep(i);
                fence($ord);
            }
            n
        });
    };
}

/// Each CAS expects what the previous one wrote, learned from its result.
macro_rules! cas_chain {
    ($name:ident, $ok:expr, $err:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            let mut v = w.load(Relaxed);
            for _ in 0..n {
                v = match w.compare_exchange(v, v.wrapping_add(1), $ok, $err) {
                    Ok(old) => old.wrapping_add(1),
                    Err(current) => current,
                };
            }
            v
        });
    };
}

/// Each CAS expects a value computed from the loop counter, not from the
/// previous result (it succeeds, since nobody else writes the word).
macro_rules! cas_indep {
    ($name:ident, $ok:expr, $err:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            let base = w.load(Relaxed);
            let mut won = 0usize;
            for i in 0..n {
                let expected = base.wrapping_add(i);
                let r = w.compare_exchange(expected, expected.wrapping_add(1), $ok, $err);
                won += r.is_ok() as usize;
            }
            won
        });
    };
}

/// The increment of each `fetch_add` is derived from the previous result
/// (it is always 1, but the compiler cannot know that).
macro_rules! rmw_chain {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            let mut inc = opaque(1);
            for _ in 0..n {
                // `opaque` keeps LLVM from answering the shift from the
                // flags of a `lock inc` instead of using the returned value.
                inc = (opaque(w.fetch_add(inc, $ord)) >> (usize::BITS - 1)) | 1;
            }
            inc
        });
    };
}

/// `fetch_add` of an opaque 1, results summed.
macro_rules! rmw_indep {
    ($name:ident, $ord:expr) => {
        kernel!($name, |c, n| {
            let w = c.word();
            let one = opaque(1);
            let mut acc = 0usize;
            for _ in 0..n {
                acc = acc.wrapping_add(w.fetch_add(one, $ord));
            }
            acc
        });
    };
}

kernel!(
    /// Loop overhead: the counter and a register sink, nothing else.
    fences_empty_loop,
    |_c, n| {
        for i in 0..n {
            keep(i);
        }
        n
    }
);

kernel!(
    /// Baseline for the `chain` loads: a volatile (plain `mov`/`ldr`) load.
    fences_load_plain_chain,
    |c, n| {
        let mut v = 0;
        for _ in 0..n {
            // SAFETY: the pointer comes from a live `AtomicUsize` in `c`,
            // is aligned, and nothing writes the word while we read it.
            v = unsafe { c.slots[v & 7].as_ptr().read_volatile() };
        }
        v
    }
);

kernel!(
    /// Baseline for the `indep` loads.
    fences_load_plain_indep,
    |c, n| {
        let p = c.word().as_ptr();
        let mut acc = 0usize;
        for _ in 0..n {
            // SAFETY: as in `fences_load_plain_chain`.
            acc = acc.wrapping_add(unsafe { p.read_volatile() });
        }
        acc
    }
);

load_chain!(fences_load_relaxed_chain, Relaxed);
load_chain!(fences_load_acquire_chain, Acquire);
load_chain!(fences_load_seqcst_chain, SeqCst);
load_indep!(fences_load_relaxed_indep, Relaxed);
load_indep!(fences_load_acquire_indep, Acquire);
load_indep!(fences_load_seqcst_indep, SeqCst);

store_chain!(fences_store_relaxed_chain, Relaxed);
store_chain!(fences_store_release_chain, Release);
store_chain!(fences_store_seqcst_chain, SeqCst);
store_indep!(fences_store_relaxed_indep, Relaxed);
store_indep!(fences_store_release_indep, Release);
store_indep!(fences_store_seqcst_indep, SeqCst);

fence_chain!(fences_fence_acquire_chain, Acquire);
fence_chain!(fences_fence_release_chain, Release);
fence_chain!(fences_fence_acqrel_chain, AcqRel);
fence_chain!(fences_fence_seqcst_chain, SeqCst);
fence_indep!(fences_fence_acquire_indep, Acquire);
fence_indep!(fences_fence_release_indep, Release);
fence_indep!(fences_fence_acqrel_indep, AcqRel);
fence_indep!(fences_fence_seqcst_indep, SeqCst);
fence_alone!(fences_fence_acquire_alone, Acquire);
fence_alone!(fences_fence_release_alone, Release);
fence_alone!(fences_fence_acqrel_alone, AcqRel);
fence_alone!(fences_fence_seqcst_alone, SeqCst);

kernel!(
    /// Pitfall: `black_box(i)` before the fence spills `i` to the stack, so
    /// every fence has a store to drain. Compare with `fences_fence_seqcst_alone`.
    fences_fence_seqcst_black_box,
    |_c, n| {
        for i in 0..n {
            black_box(i);
            fence(SeqCst);
        }
        n
    }
);

cas_chain!(fences_cas_relaxed_chain, Relaxed, Relaxed);
cas_chain!(fences_cas_acqrel_chain, AcqRel, Acquire);
cas_chain!(fences_cas_seqcst_chain, SeqCst, SeqCst);
cas_indep!(fences_cas_relaxed_indep, Relaxed, Relaxed);
cas_indep!(fences_cas_acqrel_indep, AcqRel, Acquire);
cas_indep!(fences_cas_seqcst_indep, SeqCst, SeqCst);

rmw_chain!(fences_fetch_add_relaxed_chain, Relaxed);
rmw_chain!(fences_fetch_add_acqrel_chain, AcqRel);
rmw_chain!(fences_fetch_add_seqcst_chain, SeqCst);
rmw_indep!(fences_fetch_add_relaxed_indep, Relaxed);
rmw_indep!(fences_fetch_add_acqrel_indep, AcqRel);
rmw_indep!(fences_fetch_add_seqcst_indep, SeqCst);

kernel!(
    /// Pitfall: `fetch_add(0)` with a literal zero is an idempotent RMW that
    /// LLVM is free to lower as something other than a locked add.
    fences_fetch_add_zero_relaxed,
    |c, n| {
        let w = c.word();
        let mut acc = 0usize;
        for _ in 0..n {
            acc = acc.wrapping_add(w.fetch_add(0, Relaxed));
        }
        acc
    }
);

kernel!(
    /// Pitfall: as `fences_fetch_add_zero_relaxed`, at `SeqCst`.
    fences_fetch_add_zero_seqcst,
    |c, n| {
        let w = c.word();
        let mut acc = 0usize;
        for _ in 0..n {
            acc = acc.wrapping_add(w.fetch_add(0, SeqCst));
        }
        acc
    }
);

kernel!(
    /// Pitfall: two `SeqCst` fences with nothing between them. LLVM folds
    /// them into one, so this costs what `fences_fence_seqcst_alone` costs.
    fences_pitfall_fence_twice,
    |_c, n| {
        for i in 0..n {
            keep(i);
            fence(SeqCst);
            fence(SeqCst);
            // A second sink, so the kernel is not identical to
            // `fences_fence_seqcst_alone` and merged with it.
            keep(i);
        }
        n
    }
);

kernel!(
    /// Pitfall: a plain (non-volatile, non-atomic) load in a loop. Nothing in
    /// the loop writes memory, so LLVM loads once and multiplies: the loop is
    /// gone and the "per-load" time is a fraction of a cycle.
    fences_pitfall_plain_load,
    |c, n| {
        let p = c.word().as_ptr();
        let mut acc = 0usize;
        for _ in 0..n {
            // SAFETY: `p` is a live, aligned word of `c`; nothing writes it
            // while this runs.
            acc = acc.wrapping_add(unsafe { *p });
        }
        acc
    }
);

/// Every kernel in this file, in the order the bench runs them.
pub const CASES: &[Case] = &[
    Case {
        name: "empty_loop",
        run: fences_empty_loop,
    },
    Case {
        name: "load_plain_chain",
        run: fences_load_plain_chain,
    },
    Case {
        name: "load_relaxed_chain",
        run: fences_load_relaxed_chain,
    },
    Case {
        name: "load_acquire_chain",
        run: fences_load_acquire_chain,
    },
    Case {
        name: "load_seqcst_chain",
        run: fences_load_seqcst_chain,
    },
    Case {
        name: "load_plain_indep",
        run: fences_load_plain_indep,
    },
    Case {
        name: "load_relaxed_indep",
        run: fences_load_relaxed_indep,
    },
    Case {
        name: "load_acquire_indep",
        run: fences_load_acquire_indep,
    },
    Case {
        name: "load_seqcst_indep",
        run: fences_load_seqcst_indep,
    },
    Case {
        name: "store_relaxed_chain",
        run: fences_store_relaxed_chain,
    },
    Case {
        name: "store_release_chain",
        run: fences_store_release_chain,
    },
    Case {
        name: "store_seqcst_chain",
        run: fences_store_seqcst_chain,
    },
    Case {
        name: "store_relaxed_indep",
        run: fences_store_relaxed_indep,
    },
    Case {
        name: "store_release_indep",
        run: fences_store_release_indep,
    },
    Case {
        name: "store_seqcst_indep",
        run: fences_store_seqcst_indep,
    },
    Case {
        name: "fence_acquire_chain",
        run: fences_fence_acquire_chain,
    },
    Case {
        name: "fence_release_chain",
        run: fences_fence_release_chain,
    },
    Case {
        name: "fence_acqrel_chain",
        run: fences_fence_acqrel_chain,
    },
    Case {
        name: "fence_seqcst_chain",
        run: fences_fence_seqcst_chain,
    },
    Case {
        name: "fence_acquire_indep",
        run: fences_fence_acquire_indep,
    },
    Case {
        name: "fence_release_indep",
        run: fences_fence_release_indep,
    },
    Case {
        name: "fence_acqrel_indep",
        run: fences_fence_acqrel_indep,
    },
    Case {
        name: "fence_seqcst_indep",
        run: fences_fence_seqcst_indep,
    },
    Case {
        name: "fence_acquire_alone",
        run: fences_fence_acquire_alone,
    },
    Case {
        name: "fence_release_alone",
        run: fences_fence_release_alone,
    },
    Case {
        name: "fence_acqrel_alone",
        run: fences_fence_acqrel_alone,
    },
    Case {
        name: "fence_seqcst_alone",
        run: fences_fence_seqcst_alone,
    },
    Case {
        name: "fence_seqcst_black_box",
        run: fences_fence_seqcst_black_box,
    },
    Case {
        name: "cas_relaxed_chain",
        run: fences_cas_relaxed_chain,
    },
    Case {
        name: "cas_acqrel_chain",
        run: fences_cas_acqrel_chain,
    },
    Case {
        name: "cas_seqcst_chain",
        run: fences_cas_seqcst_chain,
    },
    Case {
        name: "cas_relaxed_indep",
        run: fences_cas_relaxed_indep,
    },
    Case {
        name: "cas_acqrel_indep",
        run: fences_cas_acqrel_indep,
    },
    Case {
        name: "cas_seqcst_indep",
        run: fences_cas_seqcst_indep,
    },
    Case {
        name: "fetch_add_relaxed_chain",
        run: fences_fetch_add_relaxed_chain,
    },
    Case {
        name: "fetch_add_acqrel_chain",
        run: fences_fetch_add_acqrel_chain,
    },
    Case {
        name: "fetch_add_seqcst_chain",
        run: fences_fetch_add_seqcst_chain,
    },
    Case {
        name: "fetch_add_relaxed_indep",
        run: fences_fetch_add_relaxed_indep,
    },
    Case {
        name: "fetch_add_acqrel_indep",
        run: fences_fetch_add_acqrel_indep,
    },
    Case {
        name: "fetch_add_seqcst_indep",
        run: fences_fetch_add_seqcst_indep,
    },
    Case {
        name: "fetch_add_zero_relaxed",
        run: fences_fetch_add_zero_relaxed,
    },
    Case {
        name: "fetch_add_zero_seqcst",
        run: fences_fetch_add_zero_seqcst,
    },
    Case {
        name: "pitfall_fence_twice",
        run: fences_pitfall_fence_twice,
    },
    Case {
        name: "pitfall_plain_load",
        run: fences_pitfall_plain_load,
    },
];

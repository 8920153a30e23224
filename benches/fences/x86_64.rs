//! x86_64 instruction sequences, written in `asm!` so that what is measured
//! is the instruction named, whatever the compiler would have chosen.
//!
//! x86 is TSO: loads are not reordered with loads, stores not with stores,
//! and a load is not moved above an earlier load or below a later store. The
//! one reordering the hardware does is a store followed by a load of a
//! different location (the store waits in the store buffer). So an acquire
//! load is a plain `mov`, a release store a plain `mov`, and only the
//! StoreLoad case (a `SeqCst` store, a `SeqCst` fence) needs a full barrier:
//! `mfence`, or any `lock`-prefixed instruction, which also drains the store
//! buffer. `xchg` with a memory operand is implicitly locked.
//!
//! Each kernel has the signature of [`Kernel`]: the loop is in Rust, one
//! `asm!` block per iteration, and `empty_loop` in `orderings.rs` measures
//! the loop. The kernels are `#[no_mangle]` so `scripts/check-codegen.sh`
//! can find them.

use std::arch::asm;

use super::orderings::{Case, Cells};

macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, |$c:ident, $n:ident| $body:block) => {
        $(#[$doc])*
        #[no_mangle]
        #[inline(never)]
        pub fn $name($c: &Cells, $n: usize) -> usize $body
    };
}

/// A store of `v + 1`, the barrier `$fence` (may be empty), then a load of
/// the same word into `v`: the StoreLoad pattern, chained through `v`.
macro_rules! store_barrier_load {
    ($name:ident, $fence:literal) => {
        kernel!($name, |c, n| {
            let p = c.word().as_ptr();
            let mut v = 0usize;
            for _ in 0..n {
                // SAFETY: `p` points to a live, aligned word of `c` that no
                // other thread touches. The barrier, if it names the stack,
                // is a locked RMW that adds or ors 0 into memory that belongs
                // to this thread's stack (we did not pass `nostack`, so the
                // red zone is free), leaving it unchanged.
                unsafe {
                    asm!(
                        "add {v}, 1",
                        "mov qword ptr [{p}], {v}",
                        $fence,
                        "mov {v}, qword ptr [{p}]",
                        p = in(reg) p,
                        v = inout(reg) v,
                    );
                }
            }
            v
        });
    };
}

/// The barrier `$fence` alone, back to back.
macro_rules! barrier_alone {
    ($name:ident, $fence:literal) => {
        kernel!($name, |_c, n| {
            for _ in 0..n {
                // SAFETY: a fence instruction, or a locked RMW adding/oring 0
                // into this thread's own stack (not `nostack`, so the red
                // zone is free); memory is left unchanged.
                unsafe { asm!($fence) };
            }
            n
        });
    };
}

kernel!(
    /// `mov` load, address from the previous value (baseline).
    fences_x86_mov_load_chain,
    |c, n| {
        let p = c.slots.as_ptr();
        let mut v = 0usize;
        for _ in 0..n {
            // SAFETY: `v & 7` indexes one of the eight live, aligned words
            // of `c`; nothing writes them meanwhile.
            unsafe {
                asm!(
                    "and {v}, 7",
                    "mov {v}, qword ptr [{p} + {v}*8]",
                    p = in(reg) p,
                    v = inout(reg) v,
                    options(nostack, readonly),
                );
            }
        }
        v
    }
);

kernel!(
    /// Independent `mov` loads of one word, summed.
    fences_x86_mov_load_indep,
    |c, n| {
        let p = c.word().as_ptr();
        let mut acc = 0usize;
        for _ in 0..n {
            // SAFETY: `p` is a live, aligned word of `c`.
            unsafe {
                asm!(
                    "add {acc}, qword ptr [{p}]",
                    p = in(reg) p,
                    acc = inout(reg) acc,
                    options(nostack, readonly),
                );
            }
        }
        acc
    }
);

kernel!(
    /// `mov` store: what `Relaxed` and `Release` stores compile to.
    fences_x86_mov_store,
    |c, n| {
        let p = c.word().as_ptr();
        for i in 0..n {
            // SAFETY: `p` is a live, aligned word of `c` that only this
            // thread touches.
            unsafe {
                asm!(
                    "mov qword ptr [{p}], {i}",
                    p = in(reg) p,
                    i = in(reg) i,
                    options(nostack, preserves_flags),
                );
            }
        }
        n
    }
);

kernel!(
    /// `xchg` with memory (implicitly locked): the `SeqCst` store.
    fences_x86_xchg_store,
    |c, n| {
        let p = c.word().as_ptr();
        for i in 0..n {
            // SAFETY: as in `fences_x86_mov_store`; `xchg` also reads the
            // word, which is initialised.
            unsafe {
                asm!(
                    "xchg qword ptr [{p}], {i}",
                    p = in(reg) p,
                    i = inout(reg) i => _,
                    options(nostack, preserves_flags),
                );
            }
        }
        n
    }
);

kernel!(
    /// `mov` then `mfence`: the `SeqCst` store as older compilers wrote it.
    fences_x86_mov_mfence_store,
    |c, n| {
        let p = c.word().as_ptr();
        for i in 0..n {
            // SAFETY: as in `fences_x86_mov_store`.
            unsafe {
                asm!(
                    "mov qword ptr [{p}], {i}",
                    "mfence",
                    p = in(reg) p,
                    i = in(reg) i,
                    options(nostack, preserves_flags),
                );
            }
        }
        n
    }
);

kernel!(
    /// `lock cmpxchg`, expected value from the previous result.
    fences_x86_lock_cmpxchg,
    |c, n| {
        let p = c.word().as_ptr();
        let mut v = c.word().load(std::sync::atomic::Ordering::Relaxed);
        for _ in 0..n {
            let new = v.wrapping_add(1);
            // SAFETY: `p` is a live, aligned word of `c`; `rax` holds the
            // expected value in and the old value out, as `cmpxchg` needs.
            unsafe {
                asm!(
                    "lock cmpxchg qword ptr [{p}], {new}",
                    p = in(reg) p,
                    new = in(reg) new,
                    inout("rax") v,
                    options(nostack),
                );
            }
            v = v.wrapping_add(1);
        }
        v
    }
);

kernel!(
    /// `lock xadd` of 1, results summed.
    fences_x86_lock_xadd,
    |c, n| {
        let p = c.word().as_ptr();
        let mut acc = 0usize;
        for _ in 0..n {
            let mut t = 1usize;
            // SAFETY: `p` is a live, aligned word of `c`.
            unsafe {
                asm!(
                    "lock xadd qword ptr [{p}], {t}",
                    p = in(reg) p,
                    t = inout(reg) t,
                    options(nostack),
                );
            }
            acc = acc.wrapping_add(t);
        }
        acc
    }
);

barrier_alone!(fences_x86_mfence_alone, "mfence");
barrier_alone!(fences_x86_lfence_alone, "lfence");
barrier_alone!(fences_x86_sfence_alone, "sfence");
barrier_alone!(fences_x86_lock_add_rsp_alone, "lock add qword ptr [rsp], 0");
barrier_alone!(
    fences_x86_lock_or_rsp64_alone,
    "lock or dword ptr [rsp - 64], 0"
);

store_barrier_load!(fences_x86_store_load, "");
store_barrier_load!(fences_x86_store_mfence_load, "mfence");
store_barrier_load!(
    fences_x86_store_lock_add_rsp_load,
    "lock add qword ptr [rsp], 0"
);
store_barrier_load!(
    fences_x86_store_lock_or_rsp64_load,
    "lock or dword ptr [rsp - 64], 0"
);

/// The instruction-level kernels, in bench order.
const ALL: &[Case] = &[
    Case {
        name: "x86_mov_load_chain",
        run: fences_x86_mov_load_chain,
    },
    Case {
        name: "x86_mov_load_indep",
        run: fences_x86_mov_load_indep,
    },
    Case {
        name: "x86_mov_store",
        run: fences_x86_mov_store,
    },
    Case {
        name: "x86_xchg_store",
        run: fences_x86_xchg_store,
    },
    Case {
        name: "x86_mov_mfence_store",
        run: fences_x86_mov_mfence_store,
    },
    Case {
        name: "x86_lock_cmpxchg",
        run: fences_x86_lock_cmpxchg,
    },
    Case {
        name: "x86_lock_xadd",
        run: fences_x86_lock_xadd,
    },
    Case {
        name: "x86_mfence_alone",
        run: fences_x86_mfence_alone,
    },
    Case {
        name: "x86_lfence_alone",
        run: fences_x86_lfence_alone,
    },
    Case {
        name: "x86_sfence_alone",
        run: fences_x86_sfence_alone,
    },
    Case {
        name: "x86_lock_add_rsp_alone",
        run: fences_x86_lock_add_rsp_alone,
    },
    Case {
        name: "x86_lock_or_rsp64_alone",
        run: fences_x86_lock_or_rsp64_alone,
    },
    Case {
        name: "x86_store_load",
        run: fences_x86_store_load,
    },
    Case {
        name: "x86_store_mfence_load",
        run: fences_x86_store_mfence_load,
    },
    Case {
        name: "x86_store_lock_add_rsp_load",
        run: fences_x86_store_lock_add_rsp_load,
    },
    Case {
        name: "x86_store_lock_or_rsp64_load",
        run: fences_x86_store_lock_or_rsp64_load,
    },
];

/// The instruction-level kernels this CPU can run, in bench order (all of
/// them: everything here is baseline x86_64).
pub fn cases() -> Vec<&'static Case> {
    ALL.iter().collect()
}

/// The kernels left out of [`cases`] on this CPU: none on x86_64.
pub fn unavailable() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}

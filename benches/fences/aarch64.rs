//! aarch64 instruction sequences, written in `asm!` so that what is measured
//! is the instruction named.
//!
//! AArch64 is weakly ordered: without a barrier, loads and stores to
//! different locations may be reordered every way. The acquire/release
//! instructions carry the ordering themselves:
//!
//! - `ldar` (acquire load, RCsc: not reordered with an earlier `stlr`) and
//!   `ldapr` (acquire load, RCpc: may pass an earlier `stlr` to another
//!   location; needs FEAT_LRCPC, "rcpc");
//! - `stlr` (release store);
//! - `dmb ish` (full barrier in the inner-shareable domain) and `dmb ishld`
//!   (orders earlier loads against later loads and stores);
//! - `cas`/`casal` (single-instruction CAS, FEAT_LSE, "lse") or the older
//!   `ldaxr`/`stlxr` exclusive loop.
//!
//! `ldapr` and the LSE instructions are only run when the CPU reports them
//! (`is_aarch64_feature_detected!`); [`cases`] leaves out the others and
//! [`unavailable`] names them.
//!
//! Each kernel has the signature of [`Kernel`]: the loop is in Rust, one
//! `asm!` block per iteration, and `empty_loop` in `orderings.rs` measures
//! the loop. The kernels are `#[no_mangle]` so `scripts/check-codegen.sh`
//! can find them, and `examples/fence_probe.rs` executes each once under
//! qemu to show the assembler accepted what the CPU will run.

use std::arch::asm;
use std::arch::is_aarch64_feature_detected;

use super::orderings::{Case, Cells, Kernel};

macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, |$c:ident, $n:ident| $body:block) => {
        $(#[$doc])*
        #[no_mangle]
        #[inline(never)]
        pub fn $name($c: &Cells, $n: usize) -> usize $body
    };
}

/// A load chain: index with `v & 7`, form the address, load it with the
/// sequence `$load` (operands `{v}` and `{a}`).
macro_rules! load_chain {
    ($(#[$attr:meta])* [$($qual:tt)*] $name:ident, $load:literal) => {
        $(#[$attr])*
        #[inline(never)]
        #[no_mangle]
        $($qual)* fn $name(c: &Cells, n: usize) -> usize {
            let p = c.slots.as_ptr();
            let mut v = 0usize;
            for _ in 0..n {
                // SAFETY: `v & 7` indexes one of the eight live, aligned
                // words of `c`; nothing writes them meanwhile.
                unsafe {
                    asm!(
                        "and {v}, {v}, #7",
                        "add {a}, {p}, {v}, lsl #3",
                        $load,
                        p = in(reg) p,
                        v = inout(reg) v,
                        a = out(reg) _,
                        options(nostack, readonly, preserves_flags),
                    );
                }
            }
            v
        }
    };
}

/// Stores of the loop counter with the sequence `$store` (operands `{p}`
/// and `{i}`).
macro_rules! store_indep {
    ($name:ident, $store:literal) => {
        kernel!($name, |c, n| {
            let p = c.word().as_ptr();
            for i in 0..n {
                // SAFETY: `p` is a live, aligned word of `c` that only this
                // thread touches.
                unsafe {
                    asm!($store, p = in(reg) p, i = in(reg) i, options(nostack, preserves_flags));
                }
            }
            n
        });
    };
}

/// A barrier alone, back to back.
macro_rules! barrier_alone {
    ($name:ident, $fence:literal) => {
        kernel!($name, |_c, n| {
            for _ in 0..n {
                // SAFETY: a barrier instruction; no registers or memory
                // are changed.
                unsafe { asm!($fence, options(nostack, preserves_flags)) };
            }
            n
        });
    };
}

/// Store `v + 1`, then the sequence `$rest`, which must end with `{v}`
/// loaded from `[{p}]`: the StoreLoad pattern, chained through `v`.
macro_rules! store_then_load {
    ($(#[$attr:meta])* [$($qual:tt)*] $name:ident, $store:literal, $rest:literal) => {
        $(#[$attr])*
        #[inline(never)]
        #[no_mangle]
        $($qual)* fn $name(c: &Cells, n: usize) -> usize {
            let p = c.word().as_ptr();
            let mut v = 0usize;
            for _ in 0..n {
                // SAFETY: `p` is a live, aligned word of `c` that only this
                // thread touches.
                unsafe {
                    asm!(
                        "add {v}, {v}, #1",
                        $store,
                        $rest,
                        p = in(reg) p,
                        v = inout(reg) v,
                        options(nostack, preserves_flags),
                    );
                }
            }
            v
        }
    };
}

load_chain!([pub] fences_a64_ldr_load_chain, "ldr {v}, [{a}]");
load_chain!([pub] fences_a64_ldar_load_chain, "ldar {v}, [{a}]");
load_chain!([pub] fences_a64_ldr_dmb_ishld_chain, "ldr {v}, [{a}]\ndmb ishld");
load_chain!(
    /// # Safety
    /// The CPU must implement FEAT_LRCPC.
    #[target_feature(enable = "rcpc")]
    [unsafe] fences_a64_ldapr_load_chain_rcpc,
    "ldapr {v}, [{a}]"
);

store_indep!(fences_a64_str_store, "str {i}, [{p}]");
store_indep!(fences_a64_stlr_store, "stlr {i}, [{p}]");
store_indep!(fences_a64_dmb_ish_str_store, "dmb ish\nstr {i}, [{p}]");

barrier_alone!(fences_a64_dmb_ish_alone, "dmb ish");
barrier_alone!(fences_a64_dmb_ishld_alone, "dmb ishld");

store_then_load!([pub] fences_a64_str_ldr, "str {v}, [{p}]", "ldr {v}, [{p}]");
store_then_load!([pub] fences_a64_str_dmb_ish_ldr, "str {v}, [{p}]", "dmb ish\nldr {v}, [{p}]");
store_then_load!([pub] fences_a64_stlr_ldar, "stlr {v}, [{p}]", "ldar {v}, [{p}]");
store_then_load!(
    /// # Safety
    /// The CPU must implement FEAT_LRCPC.
    #[target_feature(enable = "rcpc")]
    [unsafe] fences_a64_stlr_ldapr_rcpc,
    "stlr {v}, [{p}]",
    "ldapr {v}, [{p}]"
);

kernel!(
    /// CAS as an exclusive loop: `ldaxr`, compare, `stlxr`, retry if the
    /// reservation was lost. Expected value from the previous result.
    fences_a64_ldaxr_stlxr_cas,
    |c, n| {
        let p = c.word().as_ptr();
        let mut v = c.word().load(std::sync::atomic::Ordering::Relaxed);
        for _ in 0..n {
            let new = v.wrapping_add(1);
            let old: usize;
            // SAFETY: `p` is a live, aligned word of `c`; the loop only
            // writes `new` when the word held `v`.
            unsafe {
                asm!(
                    "2:",
                    "ldaxr {old}, [{p}]",
                    "cmp {old}, {exp}",
                    "b.ne 3f",
                    "stlxr {st:w}, {new}, [{p}]",
                    "cbnz {st:w}, 2b",
                    "3:",
                    p = in(reg) p,
                    exp = in(reg) v,
                    new = in(reg) new,
                    old = out(reg) old,
                    st = out(reg) _,
                    options(nostack),
                );
            }
            v = old.wrapping_add(1);
        }
        v
    }
);

/// A single-instruction CAS kernel (`cas` or `casal`), expected value from
/// the previous result.
macro_rules! lse_cas {
    ($name:ident, $insn:literal) => {
        /// # Safety
        /// The CPU must implement FEAT_LSE.
        #[target_feature(enable = "lse")]
        #[inline(never)]
        #[no_mangle]
        unsafe fn $name(c: &Cells, n: usize) -> usize {
            let p = c.word().as_ptr();
            let mut v = c.word().load(std::sync::atomic::Ordering::Relaxed);
            for _ in 0..n {
                let new = v.wrapping_add(1);
                // SAFETY: `p` is a live, aligned word of `c`; `{v}` holds
                // the expected value in and the old value out.
                unsafe {
                    asm!(
                        concat!($insn, " {v}, {new}, [{p}]"),
                        p = in(reg) p,
                        new = in(reg) new,
                        v = inout(reg) v,
                        options(nostack, preserves_flags),
                    );
                }
                v = v.wrapping_add(1);
            }
            v
        }
    };
}

lse_cas!(fences_a64_cas_lse, "cas");
lse_cas!(fences_a64_casal_lse, "casal");

/// # Safety
/// The CPU must implement FEAT_LSE.
#[target_feature(enable = "lse")]
#[inline(never)]
#[no_mangle]
unsafe fn fences_a64_ldaddal_lse(c: &Cells, n: usize) -> usize {
    let p = c.word().as_ptr();
    let mut acc = 0usize;
    for _ in 0..n {
        let old: usize;
        // SAFETY: `p` is a live, aligned word of `c`.
        unsafe {
            asm!(
                "ldaddal {one}, {old}, [{p}]",
                p = in(reg) p,
                one = in(reg) 1usize,
                old = out(reg) old,
                options(nostack, preserves_flags),
            );
        }
        acc = acc.wrapping_add(old);
    }
    acc
}

// Safe entry points for the kernels that need a CPU feature. Each checks
// the feature (a cached load) before the loop, so calling one on a CPU
// without it panics instead of executing an undefined instruction.

macro_rules! checked {
    ($name:ident, $inner:ident, $feature:tt) => {
        fn $name(c: &Cells, n: usize) -> usize {
            assert!(is_aarch64_feature_detected!($feature));
            // SAFETY: the feature `$inner` is compiled for was just detected.
            unsafe { $inner(c, n) }
        }
    };
}

checked!(ldapr_load_chain, fences_a64_ldapr_load_chain_rcpc, "rcpc");
checked!(stlr_ldapr, fences_a64_stlr_ldapr_rcpc, "rcpc");
checked!(cas, fences_a64_cas_lse, "lse");
checked!(casal, fences_a64_casal_lse, "lse");
checked!(ldaddal, fences_a64_ldaddal_lse, "lse");

/// Kernels that run on every aarch64 CPU.
const BASE: &[Case] = &[
    Case {
        name: "a64_ldr_load_chain",
        run: fences_a64_ldr_load_chain,
    },
    Case {
        name: "a64_ldar_load_chain",
        run: fences_a64_ldar_load_chain,
    },
    Case {
        name: "a64_ldr_dmb_ishld_chain",
        run: fences_a64_ldr_dmb_ishld_chain,
    },
    Case {
        name: "a64_str_store",
        run: fences_a64_str_store,
    },
    Case {
        name: "a64_stlr_store",
        run: fences_a64_stlr_store,
    },
    Case {
        name: "a64_dmb_ish_str_store",
        run: fences_a64_dmb_ish_str_store,
    },
    Case {
        name: "a64_dmb_ish_alone",
        run: fences_a64_dmb_ish_alone,
    },
    Case {
        name: "a64_dmb_ishld_alone",
        run: fences_a64_dmb_ishld_alone,
    },
    Case {
        name: "a64_str_ldr",
        run: fences_a64_str_ldr,
    },
    Case {
        name: "a64_str_dmb_ish_ldr",
        run: fences_a64_str_dmb_ish_ldr,
    },
    Case {
        name: "a64_stlr_ldar",
        run: fences_a64_stlr_ldar,
    },
    Case {
        name: "a64_ldaxr_stlxr_cas",
        run: fences_a64_ldaxr_stlxr_cas,
    },
];

/// Kernels that need FEAT_LRCPC.
const RCPC: &[Case] = &[
    Case {
        name: "a64_ldapr_load_chain",
        run: ldapr_load_chain as Kernel,
    },
    Case {
        name: "a64_stlr_ldapr",
        run: stlr_ldapr as Kernel,
    },
];

/// Kernels that need FEAT_LSE.
const LSE: &[Case] = &[
    Case {
        name: "a64_cas",
        run: cas as Kernel,
    },
    Case {
        name: "a64_casal",
        run: casal as Kernel,
    },
    Case {
        name: "a64_ldaddal",
        run: ldaddal as Kernel,
    },
];

/// The instruction-level kernels this CPU can run, in bench order.
pub fn cases() -> Vec<&'static Case> {
    let mut all: Vec<&'static Case> = BASE.iter().collect();
    if is_aarch64_feature_detected!("rcpc") {
        all.extend(RCPC);
    }
    if is_aarch64_feature_detected!("lse") {
        all.extend(LSE);
    }
    all
}

/// The kernels left out of [`cases`] on this CPU, with the missing feature.
pub fn unavailable() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if !is_aarch64_feature_detected!("rcpc") {
        out.extend(RCPC.iter().map(|c| (c.name, "rcpc")));
    }
    if !is_aarch64_feature_detected!("lse") {
        out.extend(LSE.iter().map(|c| (c.name, "lse")));
    }
    out
}

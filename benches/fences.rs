//! What memory orderings cost on the machine this runs on.
//!
//! Four groups, each a section of `docs/fences.md`:
//!
//! - `ordering/`: portable Rust atomics at each ordering (loads, stores,
//!   fences, CAS, `fetch_add`) in a dependent chain (latency) and as
//!   independent operations (throughput), plus `crossbeam_epoch::pin()`,
//!   which every pinned map operation pays. Kernels: `fences/orderings.rs`.
//! - `instr/`: the hardware instructions themselves in `asm!`, from the file
//!   named after the architecture (`fences/x86_64.rs`, `fences/aarch64.rs`),
//!   chosen by `cfg` in exactly one place, the `mod arch` below.
//! - `contended/`: two threads handing a cache line back and forth with each
//!   ordering (skipped on a single core). `fences/contended.rs`.
//! - `map/`: `get` and `insert` on `epochmap::HashMap`. Run once normally
//!   and once built with `RUSTFLAGS="--cfg epochmap_seqcst"` (every atomic in
//!   the map forced to `SeqCst`) to see what the map's orderings buy:
//!   `scripts/bench-orderings.sh` does both. `fences/map.rs`.
//!
//! Every reported time is per single operation: each kernel runs a batch of
//! operations in its own loop, and the harness divides the batch's time by
//! its length. `ordering/empty_loop` is the loop overhead included in every
//! per-operation figure. `scripts/check-codegen.sh` verifies which
//! instruction each kernel compiles to.
//!
//! Compare machines with `cargo bench --bench fences -- --save-baseline NAME`
//! on each, then `cargo run --example compare_baselines -- A B`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "fences/orderings.rs"]
mod orderings;

#[cfg_attr(target_arch = "x86_64", path = "fences/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "fences/aarch64.rs")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    path = "fences/other.rs"
)]
mod arch;

#[path = "fences/contended.rs"]
mod contended;

#[path = "fences/map.rs"]
mod map;

use orderings::{keep, Case, Cells};

/// Operations per timed batch: enough that the indirect call into a kernel
/// is noise, few enough that a batch stays well under a timer tick.
const BATCH: usize = 1000;

/// Short runs: the whole bench must finish in a few minutes on two cores.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .nresamples(20_000)
}

/// Times `iters` batches of `case` and returns the time per operation.
fn time_case(case: &Case, cells: &Cells, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        keep((case.run)(cells, BATCH));
    }
    start.elapsed().div_f64(BATCH as f64)
}

/// `crossbeam_epoch::pin()` and the drop of its guard, on a thread that is
/// not otherwise pinned (so every pin is the outermost one).
fn epoch_pin_drop(_cells: &Cells, n: usize) -> usize {
    for _ in 0..n {
        drop(crossbeam_epoch::pin());
    }
    n
}

fn ordering(c: &mut Criterion) {
    let cells = Cells::new();
    let mut group = c.benchmark_group("ordering");
    let pin = Case {
        name: "epoch_pin_drop",
        run: epoch_pin_drop,
    };
    for case in orderings::CASES.iter().chain([&pin]) {
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| time_case(case, &cells, iters))
        });
    }
    group.finish();
}

fn instr(c: &mut Criterion) {
    let cells = Cells::new();
    for (name, feature) in arch::unavailable() {
        eprintln!("instr/{name}: skipped, CPU lacks {feature}");
    }
    let mut group = c.benchmark_group("instr");
    for case in arch::cases() {
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| time_case(case, &cells, iters))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = ordering, instr, contended::bench, map::bench
}
criterion_main!(benches);

//! Executes every kernel of the fence benches once and prints one `OK` line
//! per kernel.
//!
//! This is how `scripts/check-codegen.sh` shows that the aarch64 `asm!`
//! sequences are valid instructions, by running the cross-built probe under
//! `qemu-aarch64`. The probe is deliberately minimal, because qemu-user 7.2
//! hangs in guests that create threads (and in some that do not): no
//! criterion, no threads, no locks (output goes straight to file descriptor
//! 1 rather than through the locked `stdout()`), one call per kernel with
//! `n = 1`. It needs nothing but `std`, so the script builds it with plain
//! `rustc` for each target and target feature in seconds.
//!
//! It runs natively too (`cargo run --release --example fence_probe`).
//! Nothing here is timed: qemu timings say nothing about ARM hardware.

#[path = "../benches/fences/orderings.rs"]
mod orderings;

#[cfg_attr(target_arch = "x86_64", path = "../benches/fences/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "../benches/fences/aarch64.rs")]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    path = "../benches/fences/other.rs"
)]
mod arch;

use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

fn main() {
    // SAFETY: file descriptor 1 is open for the life of the process, and
    // `ManuallyDrop` keeps this `File` from closing it.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let cells = orderings::Cells::new();
    let mut ran = 0usize;
    for case in orderings::CASES.iter().chain(arch::cases()) {
        let result = (case.run)(&cells, 1);
        writeln!(out, "OK {} -> {}", case.name, result).expect("write to fd 1");
        ran += 1;
    }
    for (name, feature) in arch::unavailable() {
        writeln!(out, "SKIP {name} (CPU lacks {feature})").expect("write to fd 1");
    }
    writeln!(
        out,
        "probe: {ran} sequences executed on {}",
        std::env::consts::ARCH
    )
    .expect("write to fd 1");
}

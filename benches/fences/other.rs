//! Architectures without instruction-level kernels: the `ordering/` group
//! (portable Rust) still runs; this group is empty.

use super::orderings::Case;

/// No instruction-level kernels on this architecture.
pub fn cases() -> Vec<&'static Case> {
    Vec::new()
}

/// Nothing is left out: there is nothing to run.
pub fn unavailable() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}

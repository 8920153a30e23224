//! Shared pieces of the fuzz targets in `fuzz_targets/`.
//!
//! Every target reads its input through [`arbitrary`], so the first bytes of
//! an input choose how the map is built ([`Shape`]: hasher, initial capacity
//! or tuning) and the rest is a list of operations. The hashers are the point:
//! a seeded ahash spreads keys, [`HasherChoice::OneBucket`] sends every key to
//! one bucket (the longest probe chains the table can have) and
//! [`HasherChoice::LowBits`] keeps only a few low bits (every key's home is
//! bucket 0, the tags differ). With a 2-bucket table that migrates one bucket per write, a
//! few dozen operations cross several grows and shrinks.
//!
//! [`history`] checks the results of the `concurrent` target: it decides,
//! key by key, whether some sequential order of the operations explains
//! everything the threads observed.

pub mod hasher;
pub mod history;
pub mod lookup;
pub mod predicate;
pub mod shape;
pub mod stats;

pub use hasher::{FuzzHasher, FuzzState, HasherChoice};
pub use lookup::Lookup;
pub use predicate::Pred;
pub use shape::Shape;
pub use stats::{check_capacity, check_shrunk, check_stats};

/// Runs a few pin/flush cycles so that the global epoch advances and garbage
/// retired so far is freed: a node that the map retired while still reachable
/// is then a use-after-free that AddressSanitizer reports.
pub fn reclaim() {
    for _ in 0..4 {
        epochmap::HashMap::<u8, u8>::new().guard().flush();
    }
}

/// Whether a table of `buckets` buckets (7 slots each) holding `entries`
/// entries is at most half full: the sizes the targets pass to the
/// `begin_resize` test hook, so that a forced resize leaves room as a
/// resize triggered by load would. (Inserts into the target of a resize in
/// flight used to be able to fill it and hang the migration;
/// `tests/fuzz_regressions.rs` keeps that case.)
pub fn fits(buckets: usize, entries: usize) -> bool {
    buckets * 7 >= 2 * entries
}

/// Calls of a `reserve(n)` after which the capacity must be `len + n`: one,
/// as documented. (While a resize was in flight `reserve` used to only help
/// it along; see `tests/fuzz_regressions.rs`. Raise this to check only that
/// repeated calls get there.)
pub const RESERVE_CALLS: usize = 1;

/// Checks a call that makes room for `additional` more entries (`reserve`
/// or a successful `try_reserve`, named by `what`): `call` makes it and
/// returns the capacity after it, which must cover `len + additional` within
/// [`RESERVE_CALLS`] calls.
pub fn check_reserve(
    at: &dyn std::fmt::Display,
    what: &str,
    len: usize,
    additional: usize,
    mut call: impl FnMut() -> usize,
) {
    let mut capacity = 0;
    for _ in 0..RESERVE_CALLS {
        capacity = call();
        if capacity >= len + additional {
            return;
        }
    }
    panic!(
        "{at}: capacity {capacity} after {RESERVE_CALLS} {what}({additional}) with {len} entries"
    );
}

/// Sorted copy of `(key, value)` pairs, for comparing iteration orders.
pub fn sorted<K: Ord + Copy, V: Ord + Copy>(it: impl IntoIterator<Item = (K, V)>) -> Vec<(K, V)> {
    let mut v: Vec<_> = it.into_iter().collect();
    v.sort_unstable();
    v
}

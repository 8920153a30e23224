//! Shared pieces of the reliability suite (`docs/reliability.md`).
//!
//! Each integration test binary includes this module and uses a subset of it,
//! hence the `dead_code` allowance below: an item unused by one binary is used
//! by another.
#![allow(dead_code)]

pub mod alloc;
pub mod ledger;

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// `normal` in native runs, `miri` under Miri (which is ~1000x slower).
pub const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

/// The two table configurations every workload runs on.
#[derive(Clone, Copy, Debug)]
pub enum Tables {
    /// Two buckets, migrating one bucket per chunk and per helping write: a
    /// handful of keys crosses several resizes.
    TinyChunkOne,
    /// The production defaults (`HashMap::with_hasher`).
    Default,
}

pub const ALL_TABLES: [Tables; 2] = [Tables::TinyChunkOne, Tables::Default];

impl Tables {
    pub fn map<K, V, S>(self, hasher: S) -> epochmap::HashMap<K, V, S> {
        match self {
            Tables::TinyChunkOne => epochmap::HashMap::with_tuning(2, 1, 1, hasher),
            Tables::Default => epochmap::HashMap::with_hasher(hasher),
        }
    }
}

/// A fixed-seed hasher, so that a failing run can be replayed.
pub fn seeded(seed: u64) -> ahash::RandomState {
    ahash::RandomState::with_seeds(seed, seed ^ 0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d, 7)
}

/// xorshift64*: deterministic, allocation-free, good enough for workloads.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Every key hashes to the same value: the worst case for any hash table.
#[derive(Clone, Copy, Default)]
pub struct Collide;

pub struct CollideHasher;

impl Hasher for CollideHasher {
    fn finish(&self) -> u64 {
        0x5555_5555_5555_5555
    }
    fn write(&mut self, _: &[u8]) {}
}

impl BuildHasher for Collide {
    type Hasher = CollideHasher;
    fn build_hasher(&self) -> CollideHasher {
        CollideHasher
    }
}

/// Pins and flushes this thread until `done()` holds or `timeout` passes.
/// Each round pushes this thread's garbage to the global queue, tries to
/// advance the epoch and runs up to 8 expired bags (crossbeam-epoch's
/// `COLLECT_STEPS`). Returns whether `done()` held.
pub fn flush_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
        if cfg!(miri) {
            std::thread::yield_now();
        }
    }
}

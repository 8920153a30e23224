//! Counting every object a test creates and checking each is dropped once.
//!
//! A [`Ledger`] hands out ids; a [`Tracked`] value carries one and marks it in
//! the ledger's bitmap when dropped. A second mark of the same id counts as a
//! double drop (recorded, not panicked on: the drop may run inside the epoch
//! collector on another thread, where a panic would be reported elsewhere).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Ids one ledger can track (a 512 KiB bitmap in `.bss`).
pub const CAPACITY: usize = 1 << 22;

pub struct Ledger {
    next: AtomicU64,
    dropped: AtomicU64,
    double: AtomicU64,
    bits: [AtomicU64; CAPACITY / 64],
}

impl Ledger {
    #[allow(clippy::new_without_default)] // `const` use in statics
    pub const fn new() -> Self {
        Ledger {
            next: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            double: AtomicU64::new(0),
            bits: [const { AtomicU64::new(0) }; CAPACITY / 64],
        }
    }

    fn issue(&self) -> u64 {
        // Relaxed: the counters and bitmap are read after the threads that
        // touched them were joined (or under `flush_until`'s polling, which
        // only needs eventual values).
        let id = self.next.fetch_add(1, Relaxed);
        assert!((id as usize) < CAPACITY, "ledger full: raise CAPACITY");
        id
    }

    fn record_drop(&self, id: u64) {
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if self.bits[word].fetch_or(bit, Relaxed) & bit != 0 {
            self.double.fetch_add(1, Relaxed);
        } else {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    pub fn created(&self) -> u64 {
        self.next.load(Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Objects created and not yet dropped.
    pub fn live(&self) -> u64 {
        self.created() - self.dropped()
    }

    /// Drops of an id that had already been dropped: must stay 0.
    pub fn double_drops(&self) -> u64 {
        self.double.load(Relaxed)
    }

    pub fn track<T>(&'static self, payload: T) -> Tracked<T> {
        Tracked {
            id: self.issue(),
            ledger: self,
            payload,
        }
    }
}

/// A value whose creation and drop are counted by a [`Ledger`]. Equality and
/// hashing look at the payload only; a clone is a new object with a new id.
pub struct Tracked<T> {
    id: u64,
    ledger: &'static Ledger,
    pub payload: T,
}

impl<T> Drop for Tracked<T> {
    fn drop(&mut self) {
        self.ledger.record_drop(self.id);
    }
}

impl<T: Clone> Clone for Tracked<T> {
    fn clone(&self) -> Self {
        self.ledger.track(self.payload.clone())
    }
}

impl<T: PartialEq> PartialEq for Tracked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
    }
}

impl<T: Eq> Eq for Tracked<T> {}

impl<T: Hash> Hash for Tracked<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.payload.hash(state)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Tracked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.payload.fmt(f)
    }
}

//! How a fuzz input builds the map: hasher and initial table.

use crate::hasher::{FuzzState, HasherChoice};
use arbitrary::Arbitrary;

/// The map's hasher and its initial table.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Shape {
    /// The hash function.
    pub hasher: HasherChoice,
    /// The initial table.
    pub table: Table,
}

/// The initial table of the map under test.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Table {
    /// `with_capacity_and_hasher(capacity % 1024, _)`: default tuning.
    Capacity(u16),
    /// `with_tuning(1 << (min_log % 4), chunk, help, _)`, with `chunk` and
    /// `help` taken from small lists that include 1 (one bucket migrated per
    /// write, so a resize stays in flight across many operations).
    Tuned {
        /// log2 of the minimum bucket count, mod 4.
        min_log: u8,
        /// Index into [`CHUNKS`].
        chunk: u8,
        /// Index into [`HELPS`].
        help: u8,
    },
}

/// Migration chunk sizes a [`Table::Tuned`] input can pick.
pub const CHUNKS: [usize; 4] = [1, 1, 2, 64];
/// Buckets each write migrates, for a [`Table::Tuned`] input.
pub const HELPS: [usize; 4] = [1, 1, 2, 64];

impl Shape {
    /// The hasher.
    pub fn state(&self) -> FuzzState {
        FuzzState(self.hasher)
    }

    /// Builds an empty map of this shape.
    pub fn map<K, V>(&self) -> epochmap::HashMap<K, V, FuzzState> {
        match self.table {
            Table::Capacity(c) => {
                epochmap::HashMap::with_capacity_and_hasher(usize::from(c % 1024), self.state())
            }
            Table::Tuned {
                min_log,
                chunk,
                help,
            } => epochmap::HashMap::with_tuning(
                1 << (min_log % 4),
                CHUNKS[usize::from(chunk) % CHUNKS.len()],
                HELPS[usize::from(help) % HELPS.len()],
                self.state(),
            ),
        }
    }

    /// The fewest buckets the map's table may have: the `min_buckets` of
    /// [`Table::Tuned`] (raised to 2, the library's minimum), 2 otherwise.
    pub fn min_buckets(&self) -> usize {
        match self.table {
            Table::Capacity(_) => 2,
            Table::Tuned { min_log, .. } => (1usize << (min_log % 4)).max(2),
        }
    }

    /// The initial capacity for types without `with_tuning` (the set): the
    /// capacity of [`Table::Capacity`], zero for [`Table::Tuned`].
    pub fn capacity(&self) -> usize {
        match self.table {
            Table::Capacity(c) => usize::from(c % 1024),
            Table::Tuned { .. } => 0,
        }
    }
}

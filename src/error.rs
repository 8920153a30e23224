//! Error types of the fallible operations.

use core::fmt;

/// Returned by [`try_insert`](crate::HashMapRef::try_insert) when the key is
/// already present: the value found in the map and the value that was not
/// inserted.
#[derive(PartialEq, Eq)]
pub struct OccupiedError<'g, V> {
    /// The value present in the map.
    pub current: &'g V,
    /// The value the caller tried to insert, handed back.
    pub not_inserted: V,
}

impl<V: fmt::Debug> fmt::Debug for OccupiedError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OccupiedError")
            .field("current", self.current)
            .field("not_inserted", &self.not_inserted)
            .finish()
    }
}

impl<V: fmt::Debug> fmt::Display for OccupiedError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key already present with value {:?}", self.current)
    }
}

impl<V: fmt::Debug> std::error::Error for OccupiedError<'_, V> {}

/// Returned by [`compare_exchange`](crate::HashMapRef::compare_exchange) when
/// nothing was replaced: what the map held instead (`None` if the key was
/// absent) and the new value, handed back for a retry.
#[derive(PartialEq, Eq)]
pub struct CompareExchangeError<'g, V> {
    /// The value present in the map, or `None` if the key is absent.
    pub current: Option<&'g V>,
    /// The value the caller offered, handed back.
    pub new: V,
}

impl<V: fmt::Debug> fmt::Debug for CompareExchangeError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompareExchangeError")
            .field("current", &self.current)
            .field("new", &self.new)
            .finish()
    }
}

impl<V: fmt::Debug> fmt::Display for CompareExchangeError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current {
            Some(v) => write!(f, "value did not match: the map holds {v:?}"),
            None => write!(f, "key is absent"),
        }
    }
}

impl<V: fmt::Debug> std::error::Error for CompareExchangeError<'_, V> {}

/// Returned by [`try_reserve`](crate::HashMapRef::try_reserve) when the table
/// cannot be allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryReserveError {
    /// The requested capacity does not fit in the address space.
    CapacityOverflow,
    /// The allocator could not provide this many bytes.
    AllocError {
        /// Size of the failed allocation.
        bytes: usize,
    },
}

impl fmt::Display for TryReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReserveError::CapacityOverflow => f.write_str("capacity overflow"),
            TryReserveError::AllocError { bytes } => {
                write!(f, "allocation of {bytes} bytes failed")
            }
        }
    }
}

impl std::error::Error for TryReserveError {}

impl From<crate::raw::AllocFailure> for TryReserveError {
    fn from(e: crate::raw::AllocFailure) -> Self {
        match e {
            crate::raw::AllocFailure::CapacityOverflow => TryReserveError::CapacityOverflow,
            crate::raw::AllocFailure::OutOfMemory(bytes) => TryReserveError::AllocError { bytes },
        }
    }
}

//! A borrowed-lookup key for the `Equivalent` paths of `ops` and `set`.

use core::hash::{Hash, Hasher};

/// A query for the `u16` keys of the targets through
/// [`Equivalent`](epochmap::Equivalent) rather than `Borrow`: a `u32` that
/// hashes as its low 16 bits and is equivalent only to the key with the
/// same value. A query above `u16::MAX` therefore has the hash (and tag) of
/// a key that may well be present, yet must match nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup(pub u32);

impl Lookup {
    /// The query for key `k`, or, if `high`, a query that hashes as `k`
    /// but matches no `u16`.
    pub fn new(k: u8, high: bool) -> Lookup {
        Lookup(u32::from(k) | u32::from(high) << 16)
    }

    /// The key this query matches, if any.
    pub fn key(self) -> Option<u16> {
        u16::try_from(self.0).ok()
    }
}

impl Hash for Lookup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal to `u16::hash` of the key it matches: the `Equivalent` contract.
        (self.0 as u16).hash(state);
    }
}

impl epochmap::Equivalent<u16> for Lookup {
    fn equivalent(&self, key: &u16) -> bool {
        self.0 == u32::from(*key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FuzzState, HasherChoice};
    use core::hash::BuildHasher;

    #[test]
    fn a_lookup_hashes_as_the_key_it_matches() {
        let s = FuzzState(HasherChoice::LowBits(15));
        for k in 0..=255u8 {
            assert_eq!(s.hash_one(Lookup::new(k, false)), s.hash_one(u16::from(k)));
            assert_eq!(s.hash_one(Lookup::new(k, true)), s.hash_one(u16::from(k)));
            assert_eq!(Lookup::new(k, false).key(), Some(u16::from(k)));
            assert_eq!(Lookup::new(k, true).key(), None);
        }
    }
}

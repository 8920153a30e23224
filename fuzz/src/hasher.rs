//! The hashers a fuzz input can choose from.
//!
//! The map is generic over `BuildHasher`; one enum type keeps each target
//! monomorphised once while the input picks the hash function at run time.

use arbitrary::Arbitrary;
use core::hash::{BuildHasher, Hasher};

/// Fixed ahash seeds: a crash must replay, so nothing is random.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Which hash function the map under test uses.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasherChoice {
    /// ahash with fixed seeds, the first one xored with this byte.
    Seeded(u8),
    /// Every key hashes to this constant: one bucket, one tag, and every
    /// lookup walks the whole probe chain.
    OneBucket(u64),
    /// The key's bytes folded into a word, keeping only the low
    /// `1 + bits % 16` bits. epochmap takes a key's home bucket from the top
    /// bits of its hash, so every key starts probing at bucket 0, while the
    /// tags (the low bits) still tell most keys apart; keys that differ only
    /// above the mask have equal hashes.
    LowBits(u8),
}

/// `BuildHasher` for a [`HasherChoice`].
#[derive(Debug, Clone, Copy)]
pub struct FuzzState(pub HasherChoice);

impl BuildHasher for FuzzState {
    type Hasher = FuzzHasher;

    fn build_hasher(&self) -> FuzzHasher {
        match self.0 {
            HasherChoice::Seeded(b) => {
                let s = ahash::RandomState::with_seeds(
                    SEEDS[0] ^ u64::from(b),
                    SEEDS[1],
                    SEEDS[2],
                    SEEDS[3],
                );
                FuzzHasher::Seeded(s.build_hasher())
            }
            HasherChoice::OneBucket(c) => FuzzHasher::Constant(c),
            HasherChoice::LowBits(bits) => FuzzHasher::LowBits {
                mask: u64::MAX >> (63 - u32::from(bits % 16)),
                acc: 0,
            },
        }
    }
}

/// The hasher built by [`FuzzState`].
#[derive(Debug, Clone)]
pub enum FuzzHasher {
    /// ahash.
    Seeded(ahash::AHasher),
    /// Ignores its input.
    Constant(u64),
    /// Folds the input bytes, keeps `mask`.
    LowBits {
        /// Bits kept by `finish`.
        mask: u64,
        /// The folded input.
        acc: u64,
    },
}

impl Hasher for FuzzHasher {
    fn write(&mut self, bytes: &[u8]) {
        match self {
            FuzzHasher::Seeded(h) => h.write(bytes),
            FuzzHasher::Constant(_) => {}
            FuzzHasher::LowBits { acc, .. } => {
                for &b in bytes {
                    *acc = acc.rotate_left(8) ^ u64::from(b);
                }
            }
        }
    }

    fn finish(&self) -> u64 {
        match self {
            FuzzHasher::Seeded(h) => h.finish(),
            FuzzHasher::Constant(c) => *c,
            FuzzHasher::LowBits { mask, acc } => acc & mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    #[test]
    fn one_bucket_sends_every_key_to_the_same_hash() {
        let s = FuzzState(HasherChoice::OneBucket(77));
        assert!((0u16..1000).all(|k| s.hash_one(k) == 77));
    }

    #[test]
    fn low_bits_keeps_only_the_chosen_bits() {
        let s = FuzzState(HasherChoice::LowBits(3));
        assert!((0u16..1000).all(|k| s.hash_one(k) < 16));
        assert!((0u16..1000).map(|k| s.hash_one(k)).any(|h| h != 0));
    }

    #[test]
    fn seeded_is_deterministic_and_spreads_keys() {
        let a = FuzzState(HasherChoice::Seeded(5));
        let b = FuzzState(HasherChoice::Seeded(5));
        assert!((0u16..100).all(|k| a.hash_one(k) == b.hash_one(k)));
        let mut hashes: Vec<_> = (0u16..100).map(|k| a.hash_one(k)).collect();
        hashes.dedup();
        assert_eq!(hashes.len(), 100);
    }
}

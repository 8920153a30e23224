//! Bucket layout: one cache line holding seven slot pointers and their tags.
//!
//! ```text
//!  byte 0       8      16      24      32      40      48      56     64
//!      +-------+-------+-------+-------+-------+-------+-------+-------+
//!      | tags  | slot0 | slot1 | slot2 | slot3 | slot4 | slot5 | slot6 |
//!      +-------+-------+-------+-------+-------+-------+-------+-------+
//!  tags = [t0 t1 t2 t3 t4 t5 t6 hint], one byte per slot; byte 7 holds the tombstone hint
//! ```
//!
//! A tag byte is `0x00` while its slot has never been claimed in this table
//! (EMPTY), and `0x80 | (hash & 0x7f)` once it has. EMPTY never comes back:
//! a removed entry leaves a tombstone pointer and keeps its tag byte, so "the
//! bucket still has an EMPTY byte" proves that no key whose probe sequence
//! passes through this bucket was ever placed beyond it. That is what lets a
//! lookup stop. A third value, [`TAG_CLOSED`] (`0x01`), is an EMPTY byte that
//! a migration's seal has closed ([`Bucket::close_region`]): it still ends
//! every probe sequence (the region-end tests look at the high bit only),
//! but no claim can take it any more (the free-slot tests are exact), so a
//! region that a seal found ending here can never be extended past the seal.
//! A lookup of a present key reads the tag word, matches all
//! seven tags at once (one SSE2 byte compare on x86_64, SWAR arithmetic
//! elsewhere; exact either way), and loads only the matching
//! pointers from the same cache line, then the node: one line of the table
//! plus the node.
//!
//! The tag is a hint, the pointer is the truth: tags are written beside the
//! pointer CAS (before it for EMPTY slots, after it for reused ones), and
//! every match is confirmed by comparing the key in the node.
//!
//! Byte 7 of the tag word holds one hint bit, [`TOMBSTONE_HINT`]: set when a
//! slot of the bucket becomes a tombstone, so an insert looking for a slot to
//! reuse loads the pointers only of buckets that may hold one.
//!
//! Slot pointer states (crossbeam tag bits; nodes are 8-aligned):
//!
//! | pointer | tag | state | meaning |
//! |---|---|---|---|
//! | null | 0 | EMPTY | never used in this table |
//! | null | 1 | TOMBSTONE | entry removed; reusable by any insert |
//! | null | 2 | MOVED | sealed by migration; look in the next table |
//! | node | 0 | LIVE | a published entry |
//! | node | 1 | PENDING | an insert's claim, not yet visible to readers |
//! | node | 2 | FROZEN | a live entry being copied by migration; readable, not writable |
//! | node | 3 | COPY | migration's claim in the next table, not yet visible |
//! | node | 4 | CLAIMING | a claim of a tombstone before its re-tag: changed only by its owner or a seal, never dereferenced by another thread |

use super::node::Node;
use crate::sync::{Atomic, AtomicU64, Shared};

/// Slots per bucket: seven pointers and one tag word fill a cache line.
pub(crate) const SLOTS: usize = 7;

pub(crate) const TAG_PENDING: usize = 1;
pub(crate) const TAG_FROZEN: usize = 2;
pub(crate) const TAG_COPY: usize = 3;
pub(crate) const TAG_CLAIMING: usize = 4;
pub(crate) const TAG_TOMBSTONE: usize = 1;
pub(crate) const TAG_MOVED: usize = 2;

/// One slot's state, decoded from a loaded pointer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    Empty,
    Tombstone,
    Moved,
    Live,
    Pending,
    Frozen,
    Copy,
    Claiming,
}

#[inline]
pub(crate) fn state<K, V>(p: Shared<'_, Node<K, V>>) -> State {
    match (p.is_null(), p.tag()) {
        (true, 0) => State::Empty,
        (true, TAG_TOMBSTONE) => State::Tombstone,
        (true, _) => State::Moved,
        (false, 0) => State::Live,
        (false, TAG_PENDING) => State::Pending,
        (false, TAG_FROZEN) => State::Frozen,
        (false, TAG_COPY) => State::Copy,
        (false, t) => {
            debug_assert_eq!(t, TAG_CLAIMING, "slot pointer tags 5-7 are unused");
            State::Claiming
        }
    }
}

/// Whether a reader may return the node behind `p` (LIVE or FROZEN).
#[inline(always)]
pub(crate) fn readable<K, V>(p: Shared<'_, Node<K, V>>) -> bool {
    !p.is_null() && (p.tag() == 0 || p.tag() == TAG_FROZEN)
}

/// The node behind `p` if a reader may return it. LIVE (tag 0) is tested
/// first: it is the only state a stable table holds.
#[inline(always)]
pub(crate) fn readable_node<'g, K, V>(p: Shared<'g, Node<K, V>>) -> Option<&'g Node<K, V>> {
    let raw = p.as_raw();
    if p.tag() == 0 {
        // SAFETY: a non-null slot pointer refers to a node that is freed only through
        // `defer` after being unlinked; the caller holds the guard `p` was loaded with.
        unsafe { raw.as_ref() }
    } else if p.tag() == TAG_FROZEN {
        // SAFETY: as above; frozen nodes are non-null.
        unsafe { raw.as_ref() }
    } else {
        None
    }
}

#[repr(C, align(64))]
pub(crate) struct Bucket<K, V> {
    pub(crate) tags: AtomicU64,
    pub(crate) slots: [Atomic<Node<K, V>>; SLOTS],
}

/// The tag byte of a slot that was never claimed and now never will be: a
/// seal ended its key's region in this bucket (see [`Bucket::close_region`]).
pub(crate) const TAG_CLOSED: u8 = 0x01;

/// Tag-word bit (in the unused byte 7): "a slot here may be a tombstone".
/// Never cleared within a table; a stale read only costs a reuse opportunity.
pub(crate) const TOMBSTONE_HINT: u64 = 1 << 56;

impl<K, V> Bucket<K, V> {
    /// Records that a slot of this bucket just became a tombstone.
    #[inline]
    pub(crate) fn note_tombstone(&self) {
        // Relaxed: a hint for `free_slot`; correctness never depends on seeing it
        // (a missed hint means an EMPTY slot is used instead of the tombstone).
        if self.tags.load(crate::sync::ord::RELAXED) & TOMBSTONE_HINT == 0 {
            // Relaxed: as above; no data is published through the hint.
            self.tags
                .fetch_or(TOMBSTONE_HINT, crate::sync::ord::RELAXED);
        }
    }

    /// Called by a seal that has just sealed every slot of this bucket: true if
    /// the region being sealed ends here, and then for good.
    ///
    /// A region ends at the first bucket with an EMPTY byte. Reading that from
    /// the tag word is not enough: a claimer whose scan saw a slot free before
    /// the seal can still set its byte afterwards (the tag CAS comes before the
    /// pointer CAS, which then fails on MOVED), and the bucket then looks full
    /// to later writers of the sealed key, who walk past it into buckets the
    /// seal never reached and can commit the key there while its entry already
    /// lives in the next table. So the EMPTY bytes are closed ([`TAG_CLOSED`])
    /// by one CAS on the word, which the modification order of the word places
    /// either after such a tag CAS (the word is full: the seal goes on to the
    /// next bucket) or before it (the tag CAS fails, the claimer scans again
    /// and finds the region ending here). docs/design.md, "Region ends".
    pub(crate) fn close_region(&self) -> bool {
        // Relaxed (pairs with nothing): the word decides only where the seal stops.
        // Tag bytes change only from EMPTY to taken or closed, and never back, so
        // a stale word that shows a full bucket or a closed byte shows what the
        // latest one shows too; a stale EMPTY byte makes the CAS below fail and
        // reload. Nothing is read through the word: the sealed slots' MOVED marks
        // are what claimers meet, through their own Acquire slot loads.
        let mut word = self.tags.load(crate::sync::ord::RELAXED);
        loop {
            let unclaimed = match_unclaimed(word).0;
            if unclaimed == 0 {
                return match_empty(word).any();
            }
            // Relaxed both ways: an RMW on the word, ordered against the claimers'
            // tag CASes by the word's modification order alone; it publishes
            // nothing (see above). Each EMPTY byte becomes TAG_CLOSED.
            match self.tags.compare_exchange_weak(
                word,
                word | ((unclaimed >> 7) * TAG_CLOSED as u64),
                crate::sync::ord::RELAXED,
                crate::sync::ord::RELAXED,
            ) {
                Ok(_) => return true,
                Err(w) => word = w,
            }
        }
    }

    /// An all-EMPTY bucket (used where memory cannot be zero-initialised, i.e. under loom).
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn new() -> Self {
        Bucket {
            tags: AtomicU64::new(0),
            slots: [
                Atomic::null(),
                Atomic::null(),
                Atomic::null(),
                Atomic::null(),
                Atomic::null(),
                Atomic::null(),
                Atomic::null(),
            ],
        }
    }
}

const LO: u64 = 0x0001_0101_0101_0101;
const HI: u64 = 0x0080_8080_8080_8080;

/// The tag byte for a hash: the low 7 bits with the high bit set.
#[inline(always)]
pub(crate) fn tag_of(hash: u64) -> u8 {
    (hash as u8) | 0x80
}

/// A set of slots as the bits of a word: slot `i` owns the `1 << SHIFT`
/// bits from `i << SHIFT` up, and a member has exactly one of them set (a
/// second would make the iterator yield the slot twice), so the iterator
/// yields `trailing_zeros >> SHIFT`. The two shapes in use are
/// [`SlotMask`] and [`TagMatches`].
#[derive(Clone, Copy)]
pub(crate) struct SlotSet<const SHIFT: u32>(pub(crate) u64);

/// One bit per slot, the high bit of the slot's byte (the SWAR tests on a
/// tag word).
pub(crate) type SlotMask = SlotSet<3>;

/// Bit `i` for slot `i`: what [`match_tag`] returns.
pub(crate) type TagMatches = SlotSet<0>;

impl<const SHIFT: u32> SlotSet<SHIFT> {
    #[inline(always)]
    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }
}

impl<const SHIFT: u32> Iterator for SlotSet<SHIFT> {
    type Item = usize;
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let i = (self.0.trailing_zeros() >> SHIFT) as usize;
        self.0 &= self.0 - 1;
        Some(i)
    }
}

/// Slots whose tag byte equals `tag` (exact).
///
/// On x86_64 with SSE2 (every hosted x86_64 target) one SSE2 byte compare and
/// a mask of the byte signs; elsewhere an exact SWAR zero-byte test.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn match_tag(word: u64, tag: u8) -> TagMatches {
    use core::arch::x86_64::{_mm_cmpeq_epi8, _mm_cvtsi64_si128, _mm_movemask_epi8};
    // SAFETY: the intrinsics need SSE2, which this item is compiled only with
    // (the `cfg` above; targets without SSE2 get the SWAR version), and touch
    // no memory.
    let bits = unsafe {
        let w = _mm_cvtsi64_si128(word as i64);
        let t = _mm_cvtsi64_si128((LO * tag as u64) as i64);
        _mm_movemask_epi8(_mm_cmpeq_epi8(w, t))
    };
    // Byte 7 of the word is not a slot (and the upper halves of both registers
    // are zero, so equal), so only the low seven bits count.
    SlotSet(bits as u64 & 0x7f)
}

/// Slots whose tag byte equals `tag`, on targets without SSE2.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(crate) fn match_tag(word: u64, tag: u8) -> TagMatches {
    match_tag_swar(word, tag)
}

/// [`match_tag`] in plain integer arithmetic: an exact SWAR zero-byte test
/// on `word ^ tag` (the one of [`match_unclaimed`]), whose byte signs are
/// then gathered into bits 0..7 by one multiplication. Compiled on x86_64 too
/// for the tests, which hold both versions to a byte-by-byte reference.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn match_tag_swar(word: u64, tag: u8) -> TagMatches {
    const LOW7: u64 = LO * 0x7f;
    let x = word ^ (LO * tag as u64);
    let zero = !(((x & LOW7) + LOW7) | x) & HI;
    // After `>> 7`, slot i's sign is bit 8i; the multiplier's term 2^(56 - 7i)
    // moves it to bit 56 + i. A term meant for a lower slot lands at or above
    // bit 64 (dropped), one for a higher slot below bit 56, and those never
    // carry into bit 56 (checked for all 128 masks by a test below).
    SlotSet((zero >> 7).wrapping_mul(0x0102_0408_1020_4000) >> 56)
}

/// Slots whose tag byte is not EMPTY (exact).
#[inline(always)]
pub(crate) fn match_used(word: u64) -> SlotMask {
    SlotSet(word & HI)
}

/// Slots whose tag byte ends a probe sequence: EMPTY or CLOSED (exact: every
/// used tag has its high bit set, and those two do not).
#[inline(always)]
pub(crate) fn match_empty(word: u64) -> SlotMask {
    SlotSet(!word & HI)
}

/// Slots a claim may still take: tag byte EMPTY (`0x00`), not CLOSED (exact:
/// adding 0x7f to a byte's low seven bits sets its high bit unless they are
/// all zero, and never carries into the next byte).
#[inline(always)]
pub(crate) fn match_unclaimed(word: u64) -> SlotMask {
    const LOW7: u64 = LO * 0x7f;
    SlotSet(!(((word & LOW7) + LOW7) | word) & HI)
}

/// `word` with slot `i`'s tag byte replaced by `tag`.
#[inline]
pub(crate) fn with_tag_byte(word: u64, i: usize, tag: u8) -> u64 {
    (word & !(0xffu64 << (8 * i))) | ((tag as u64) << (8 * i))
}

#[inline]
pub(crate) fn tag_byte(word: u64, i: usize) -> u8 {
    (word >> (8 * i)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(bytes: [u8; 7]) -> u64 {
        let mut w = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            w |= (*b as u64) << (8 * i);
        }
        w
    }

    #[test]
    fn match_tag_finds_every_equal_byte() {
        for tag in [0x80u8, 0x81, 0xfe, 0xff, 0xaa] {
            for pos in 0..SLOTS {
                let mut b = [0x80 ^ 0x55u8; 7];
                b[pos] = tag;
                let found: Vec<usize> = match_tag(word(b), tag).collect();
                assert!(found.contains(&pos), "tag {tag:#x} at {pos}: {found:?}");
            }
        }
    }

    #[test]
    fn match_tag_never_reports_byte_seven() {
        let w = word([0x90; 7]) | (0x90u64 << 56);
        assert!(match_tag(w, 0x90).all(|i| i < SLOTS));
        assert_eq!(match_tag(w, 0x90).count(), 7);
    }

    #[test]
    fn match_tag_has_no_false_positive_without_a_true_match() {
        let w = word([0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]);
        for tag in 0x88..=0xffu8 {
            assert_eq!(match_tag(w, tag).count(), 0, "tag {tag:#x}");
        }
    }

    /// The slots whose byte equals `tag`, one byte at a time.
    fn reference(w: u64, tag: u8) -> Vec<usize> {
        (0..SLOTS).filter(|&i| tag_byte(w, i) == tag).collect()
    }

    #[test]
    fn match_tag_is_exact_in_both_versions() {
        // Every slot subset holding `tag`, the others holding bytes one bit away
        // from it (the SWAR borrow's false matches of the old test) or other
        // states. Byte 7, not a slot, must never count: it is 0 (equal to the
        // SSE2 version's broadcast there), the tombstone hint, or `tag` (the
        // SWAR version's risk).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for tag in [0x80u8, 0x81, 0x9c, 0xfe, 0xff] {
            for mask in 0u32..128 {
                for filler in [tag ^ 1, tag ^ 0x40, 0, TAG_CLOSED, 0x80] {
                    for top in [0, TOMBSTONE_HINT, (tag as u64) << 56] {
                        let mut b = [filler; 7];
                        for (i, byte) in b.iter_mut().enumerate() {
                            if mask >> i & 1 == 1 {
                                *byte = tag;
                            }
                        }
                        let w = word(b) | top;
                        let want = reference(w, tag);
                        let sse = match_tag(w, tag).collect::<Vec<_>>();
                        assert_eq!(sse, want, "{w:#x} {tag:#x}");
                        let swar = match_tag_swar(w, tag).collect::<Vec<_>>();
                        assert_eq!(swar, want, "{w:#x} {tag:#x}");
                    }
                }
            }
            // And words of random bytes (fewer under Miri, where each costs
            // milliseconds).
            for _ in 0..if cfg!(miri) { 300 } else { 10_000 } {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let want = reference(state, tag);
                assert_eq!(match_tag(state, tag).collect::<Vec<_>>(), want);
                assert_eq!(match_tag_swar(state, tag).collect::<Vec<_>>(), want);
            }
        }
    }

    #[test]
    fn match_empty_is_exact() {
        let w = word([0x80, 0, 0xff, 0, 0x81, 0x80, 0]);
        assert_eq!(match_empty(w).collect::<Vec<_>>(), vec![1, 3, 6]);
        assert!(!match_empty(word([0x80; 7])).any());
        assert_eq!(match_empty(0).count(), 7);
    }

    #[test]
    fn match_unclaimed_is_exact_and_skips_closed_bytes() {
        let w = word([0x80, 0, TAG_CLOSED, 0xff, 0, 0x81, TAG_CLOSED]);
        assert_eq!(match_unclaimed(w).collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(match_empty(w).collect::<Vec<_>>(), vec![1, 2, 4, 6]);
        assert_eq!(match_unclaimed(0).count(), 7);
        assert_eq!(match_unclaimed(TOMBSTONE_HINT).count(), 7);
        assert!(!match_unclaimed(word([TAG_CLOSED; 7])).any());
        for b in 0..=255u8 {
            let found = match_unclaimed(word([b; 7])).count();
            assert_eq!(found, if b == 0 { 7 } else { 0 }, "byte {b:#x}");
        }
    }

    #[test]
    fn closing_a_region_takes_only_empty_bytes_and_is_final() {
        use crate::sync::ord::RELAXED;
        let b = Bucket::<u64, u64>::new();
        b.tags
            .store(word([0x80, 0, 0x9c, 0, 0x81, 0x82, 0x83]), RELAXED);
        assert!(b.close_region());
        let w = b.tags.load(RELAXED);
        assert_eq!(
            w,
            word([0x80, TAG_CLOSED, 0x9c, TAG_CLOSED, 0x81, 0x82, 0x83])
        );
        assert!(b.close_region(), "a closed bucket still ends the region");
        assert_eq!(b.tags.load(RELAXED), w);
        let full = Bucket::<u64, u64>::new();
        full.tags.store(word([0x80; 7]) | TOMBSTONE_HINT, RELAXED);
        assert!(
            !full.close_region(),
            "a full bucket does not end the region"
        );
        assert_eq!(full.tags.load(RELAXED), word([0x80; 7]) | TOMBSTONE_HINT);
    }

    #[test]
    fn tag_byte_round_trips() {
        let w = with_tag_byte(0, 3, 0x9c);
        assert_eq!(tag_byte(w, 3), 0x9c);
        assert_eq!(tag_byte(w, 2), 0);
        assert_eq!(tag_byte(with_tag_byte(w, 3, 0x80), 3), 0x80);
    }

    #[test]
    #[cfg(not(loom))]
    fn bucket_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Bucket<u64, u64>>(), 64);
        assert_eq!(core::mem::align_of::<Bucket<u64, u64>>(), 64);
    }
}

//! Checks of `stats()` snapshots and table sizes, shared by `ops` and `set`.

use core::fmt;
use epochmap::Stats;

/// Slots per bucket, as documented on [`Stats::buckets`].
const SLOTS: usize = 7;

/// `capacity() >= len()` is not an invariant: `capacity` is documented as
/// the entries the map is guaranteed to hold without a resize, a lower
/// bound. The load limit is checked only by inserts that land outside
/// their home bucket, so a table whose keys all land at home fills past it
/// to its last slot before it grows (`len` 9 to 14 with `capacity` 8 in
/// a new map). The targets check that the entries fit in the slots of the
/// table `capacity` describes. (A table filled to exactly its capacity used
/// to start a resize, `with_capacity(49)` growing on its 49th insert under
/// the 7/8 limit of the time; fixed
/// in the library, and [`check_shrunk`] now allows no resize in flight.)
///
/// The capacity of a table of `buckets` buckets: the entries it holds under
/// the documented load limit (a resize starts past 5/8 of the slots).
fn capacity_of(buckets: usize) -> usize {
    buckets.saturating_mul(SLOTS * 5) / 8
}

/// Checks `capacity()` of a quiet map holding `len` entries: it must be the
/// capacity of some table (a power of two of at least 2 buckets), and cover
/// `len` in that table's slots (see the note above).
pub fn check_capacity(capacity: usize, len: usize, at: &dyn fmt::Display) {
    let buckets = (1..usize::BITS)
        .map(|log| 1usize << log)
        .find(|&b| capacity_of(b) >= capacity);
    assert!(
        buckets.is_some_and(|b| capacity_of(b) == capacity),
        "{at}: capacity {capacity} is no table's"
    );
    let slots = buckets.unwrap_or(0) * SLOTS;
    assert!(
        len <= slots,
        "{at}: len {len} above the {slots} slots of capacity {capacity}"
    );
}

/// The smallest table, in buckets, that holds `entries` entries and has at
/// least `min` buckets: what `shrink_to_fit` must leave.
pub fn smallest_buckets(entries: usize, min: usize) -> usize {
    let mut buckets = min.max(2).next_power_of_two();
    while capacity_of(buckets) < entries {
        buckets *= 2;
    }
    buckets
}

/// Checks the snapshot of a map right after `shrink_to_fit`: the smallest
/// table (of at least `min` buckets) that holds its `len` entries, and no
/// resize in flight.
pub fn check_shrunk(s: &Stats, len: usize, min: usize, at: &dyn fmt::Display) {
    let buckets = smallest_buckets(len, min);
    assert_eq!(s.buckets, buckets, "{at}: not the smallest table: {s:?}");
    assert!(s.migration.is_none(), "{at}: a resize in flight: {s:?}");
}

/// Checks a snapshot of a quiet map (no other thread writes it) holding
/// `len` entries whose `capacity()` is `capacity`. `before`, an earlier
/// snapshot of the same map, if any: the counters never go down.
///
/// `load_factor` is `len` over the slots of the current table, which a
/// resize in flight is moving out of: entries inserted meanwhile go to the
/// new table, so with a migration step of one bucket per write it exceeds 1
/// (1.07 with 15 entries over 2 buckets). It is checked to be in `[0, 1]`
/// only when no resize is in flight.
pub fn check_stats(
    s: &Stats,
    len: usize,
    capacity: usize,
    before: Option<&Stats>,
    at: &dyn fmt::Display,
) {
    assert_eq!(s.len, len, "{at}: stats.len in {s:?}");
    assert_eq!(s.capacity, capacity, "{at}: stats.capacity in {s:?}");
    check_capacity(s.capacity, len, at);
    assert!(
        s.buckets.is_power_of_two() && s.buckets >= 2,
        "{at}: buckets in {s:?}"
    );
    assert!(
        s.slots_used <= s.buckets * SLOTS,
        "{at}: slots_used in {s:?}"
    );
    if s.migration.is_none() {
        assert!(
            (0.0..=1.0).contains(&s.load_factor),
            "{at}: load_factor in {s:?}"
        );
        assert_eq!(
            s.capacity,
            capacity_of(s.buckets),
            "{at}: capacity in {s:?}"
        );
    }
    assert_eq!(
        s.load_factor,
        len as f64 / (s.buckets * SLOTS) as f64,
        "{at}: load_factor in {s:?}"
    );
    assert!(
        s.resizes_finished <= s.resizes_started,
        "{at}: more resizes finished than started in {s:?}"
    );
    if let Some(m) = s.migration {
        assert!(
            s.resizes_started > s.resizes_finished,
            "{at}: a resize in flight that was not counted as started in {s:?}"
        );
        assert_eq!(m.from_buckets, s.buckets, "{at}: migration in {s:?}");
        assert!(
            s.capacity >= capacity_of(m.to_buckets),
            "{at}: capacity below the resize target's in {s:?}"
        );
        assert!(
            m.to_buckets.is_power_of_two() && m.to_buckets >= 2,
            "{at}: migration in {s:?}"
        );
        assert!(
            m.chunks_done <= m.chunks_total && m.buckets_migrated <= m.from_buckets,
            "{at}: migration progress in {s:?}"
        );
    }
    if let Some(b) = before {
        assert!(
            s.resizes_started >= b.resizes_started
                && s.resizes_finished >= b.resizes_finished
                && s.buckets_migrated >= b.buckets_migrated,
            "{at}: a counter went down from {b:?} to {s:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_buckets_is_the_smallest_power_of_two_that_holds() {
        assert_eq!(smallest_buckets(0, 1), 2);
        assert_eq!(smallest_buckets(8, 2), 2);
        assert_eq!(smallest_buckets(9, 2), 4);
        assert_eq!(smallest_buckets(0, 8), 8);
        assert_eq!(smallest_buckets(35, 2), 8);
        assert_eq!(smallest_buckets(36, 2), 16);
    }

    #[test]
    fn capacities_of_tables_pass_and_others_do_not() {
        check_capacity(8, 14, &"2 buckets, full");
        check_capacity(35, 0, &"8 buckets");
        assert!(std::panic::catch_unwind(|| check_capacity(9, 0, &"9")).is_err());
        assert!(std::panic::catch_unwind(|| check_capacity(8, 15, &"over")).is_err());
    }

    #[test]
    fn a_fresh_map_passes() {
        let map: epochmap::HashMap<u16, u32> = epochmap::HashMap::with_capacity(100);
        map.pin().insert(1, 2);
        let s = map.stats();
        check_stats(&s, 1, map.capacity(), None, &"fresh");
        assert_eq!(s.buckets, smallest_buckets(100, 2));
    }
}

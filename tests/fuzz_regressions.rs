//! Crashes found by the fuzz targets in `fuzz/`, reduced to plain tests.
//!
//! Each test names the guarantee it checks and the target and input that
//! found it (`cargo +nightly fuzz fmt <target> <file>` prints an input).

use epochmap::HashMap;

/// Found by `ops`: `Capacity(6935)`, `BeginResize(143)`, `Reserve(62834)`.
/// A shrink was in flight when `reserve` ran; `reserve` only helped the
/// shrink along and returned, leaving room for 12 entries instead of 370.
#[test]
fn reserve_makes_room_even_while_a_shrink_is_in_flight() {
    let map: HashMap<u16, u32> =
        HashMap::with_capacity_and_hasher(6935, ahash::RandomState::with_seeds(1, 2, 3, 4));
    let m = map.pin();
    map.begin_resize(1, m.guard());
    m.reserve(370);
    assert!(
        m.capacity() >= 370,
        "capacity {} after reserve(370)",
        m.capacity()
    );
}

/// The same as above with only the stable API: removes shrink the table,
/// and a `reserve` right after the shrink starts does not grow it.
#[test]
fn reserve_right_after_removes_start_a_shrink_makes_room() {
    let map: HashMap<u32, u32> = HashMap::new();
    let m = map.pin();
    for k in 0..4096 {
        m.insert(k, k);
    }
    let mut k = 0;
    let before = m.capacity();
    while m.capacity() == before {
        assert!(m.remove(&k).is_some());
        k += 1;
    }
    m.reserve(4096);
    assert!(
        m.capacity() >= m.len() + 4096,
        "capacity {} after reserve(4096) with {} entries",
        m.capacity(),
        m.len()
    );
}

//! Operations racing an incremental resize forced with `begin_resize`.
//!
//! The map starts with two buckets; `begin_resize(4)` links a four-bucket
//! table, and from then on every write migrates one bucket (one chunk) and
//! seals its own key's region before writing in the new table. Keys A, B, C
//! share home bucket 0 in both tables; D lives in bucket 1 of the old table
//! (bucket 2 of the new one).

mod common;

use common::*;
use epochmap::Guard;
use loom::sync::Arc;
use loom::thread;

/// The value the writer gives A in the models where another thread resizes.
const NEW: u64 = 100;

/// A map holding `keys` (payload = key), no resize started.
fn filled_map(keys: &[u64]) -> Arc<Map> {
    let map = Arc::new(tiny_map());
    let guard = map.guard();
    for &k in keys {
        map.insert(Key::new(k), payload(k), &guard);
    }
    drop(guard);
    map
}

/// A map whose root has 4 buckets (a finished resize from the tiny map's 2),
/// holding `keys` (payload = key).
fn four_bucket_map(keys: &[u64]) -> Arc<Map> {
    let map = Arc::new(tiny_map());
    map.begin_resize(4, &map.guard());
    finish_resize(&map);
    let guard = map.guard();
    for &k in keys {
        map.insert(Key::new(k), payload(k), &guard);
    }
    drop(guard);
    map
}

/// The main thread of models 9 and 14–20 (but 15): links a 4-bucket table,
/// inserts C (its help migrates bucket 0, so C exists only in the new
/// table), then replaces A (its help migrates bucket 1, the last chunk, and
/// swings the root). If another thread linked a resize of the 2-bucket root
/// first, the link is skipped and the two writes help that resize instead.
fn resize_insert_c_replace_a(map: &Map) {
    let guard = map.guard();
    map.begin_resize(4, &guard);
    assert!(map.insert(Key::new(C), payload(C), &guard).is_none());
    let old = map
        .insert(Key::new(A), payload(NEW), &guard)
        .map(Payload::get);
    assert_eq!(old, Some(A));
}

/// The race of models 9 and 14–20 (but 15): `other` on a spawned thread and
/// model 9's writer ([`resize_insert_c_replace_a`]) on the main thread, both
/// in `map` (a [`filled_map`] of A and D). Returns what `other` returned.
fn race_with_resizing_writer<T, F>(map: &Arc<Map>, other: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&Map) -> T + Send + 'static,
{
    let m = map.clone();
    let handle = thread::spawn(move || other(&m));
    resize_insert_c_replace_a(map);
    handle.join().unwrap()
}

/// The end state of models 9, 14 and 18–20, whose main thread ran
/// [`resize_insert_c_replace_a`]: A holds `NEW`, C holds C and D holds `d`,
/// each key once, and `len` is 3. Removes the three keys.
fn assert_after_insert_c_replace_a(map: &Map, d: u64) {
    let guard = map.guard();
    assert_eq!(value(map, A, &guard), Some(NEW));
    assert_eq!(value(map, C, &guard), Some(C));
    assert_eq!(value(map, D, &guard), Some(d));
    drop(guard);
    assert_eq!(map.len(), 3);
    for k in [A, C, D] {
        assert_single(map, k);
    }
}

/// A map holding `keys` (payload = key) with a resize to 4 buckets started.
fn resizing_map(keys: &[u64]) -> Arc<Map> {
    let map = Arc::new(tiny_map());
    let guard = map.guard();
    for &k in keys {
        map.insert(Key::new(k), payload(k), &guard);
    }
    map.begin_resize(4, &guard);
    map
}

/// A reader never misses a key present throughout, while a writer migrates
/// its bucket; a key inserted during the migration is found afterwards.
#[test]
fn present_keys_are_never_missed_during_resize() {
    model(|| {
        let map = resizing_map(&[A, D]);
        let m = map.clone();
        let writer = thread::spawn(move || {
            let guard = m.guard();
            assert!(m.insert(Key::new(C), payload(C), &guard).is_none());
        });
        {
            let guard = map.guard();
            assert_eq!(value(&map, A, &guard), Some(A));
            assert_eq!(value(&map, D, &guard), Some(D));
        }
        writer.join().unwrap();
        let guard = map.guard();
        assert_eq!(value(&map, C, &guard), Some(C));
        assert_eq!(value(&map, A, &guard), Some(A));
    });
}

/// A removal and an insert in the region being migrated: the removed key
/// stays removed (the copy does not bring it back), the others are present.
#[test]
fn writes_during_resize_are_kept() {
    model(|| {
        let map = resizing_map(&[A, B]);
        let m = map.clone();
        let remover = thread::spawn(move || {
            let guard = m.guard();
            assert_eq!(m.remove(&B, &guard).map(Payload::get), Some(B));
        });
        {
            let guard = map.guard();
            assert!(map.insert(Key::new(C), payload(C), &guard).is_none());
        }
        remover.join().unwrap();
        finish_resize(&map);
        let guard = map.guard();
        assert_eq!(value(&map, B, &guard), None);
        drop(guard);
        assert_single(&map, A);
        assert_single(&map, C);
    });
}

/// Two threads migrate the same bucket (one through its chunk, the other
/// sealing its key's region): every entry ends up in the new table once.
#[test]
fn helpers_of_one_chunk_copy_each_entry_once() {
    model(|| {
        let map = resizing_map(&[A, B]);
        let m = map.clone();
        // D's write takes chunk 0 (bucket 0) from the cursor, then seals bucket 1.
        let helper = thread::spawn(move || {
            let guard = m.guard();
            assert!(m.insert(Key::new(D), payload(D), &guard).is_none());
        });
        {
            // C's write takes chunk 1 (bucket 1), then seals its own bucket 0.
            let guard = map.guard();
            assert!(map.insert(Key::new(C), payload(C), &guard).is_none());
        }
        helper.join().unwrap();
        finish_resize(&map);
        for k in [A, B, C, D] {
            assert_single(&map, k);
        }
    });
}

/// An iteration racing a migration yields every key present throughout
/// exactly once.
#[test]
fn iteration_during_resize_yields_present_keys_once() {
    model(|| {
        let map = resizing_map(&[A, D]);
        let m = map.clone();
        let writer = thread::spawn(move || {
            let guard = m.guard();
            assert!(m.insert(Key::new(C), payload(C), &guard).is_none());
        });
        {
            let guard = map.guard();
            let mut seen: Vec<u64> = map
                .iter(&guard)
                .map(|(k, v)| {
                    assert_eq!(v.get(), k.get());
                    k.get()
                })
                .collect();
            seen.sort_unstable();
            seen.retain(|&k| k != C);
            assert_eq!(seen, [A, D]);
        }
        writer.join().unwrap();
    });
}

/// A resize started by another thread while a reader is in the map. Every
/// other model here links the new table before spawning; in this one the
/// reader meets a `next`, and then a root, that another thread wrote
/// concurrently, so only the Acquire/Release pairs of `next` and of the root
/// give it the new table's initialisation and the entries copied into it.
///
/// The main thread is the writer (so that loom runs it ahead of the reader
/// without spending a preemption): it links a 4-bucket table, inserts C (its
/// help migrates bucket 0 first, so C exists only in the new table and A's old
/// slot ends MOVED), then replaces A (its help migrates bucket 1, the last
/// chunk, and swings the root). The reader looks up C first (not in the old
/// table: it must follow `next`), then D (present throughout, never written)
/// and A, all under one guard.
#[test]
fn a_reader_follows_a_resize_started_by_another_thread() {
    model(|| {
        let map = filled_map(&[A, D]);
        race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            let c = value(m, C, &guard);
            assert!(c.is_none() || c == Some(C), "C read as {c:?}");
            assert_eq!(value(m, D, &guard), Some(D), "D is present throughout");
            let a = value(m, A, &guard);
            assert!(a == Some(A) || a == Some(NEW), "A read as {a:?}");
        });
        // The writer's two writes migrated both chunks: the resize is complete.
        let stats = map.stats();
        assert_eq!(
            (stats.resizes_started, stats.resizes_finished, stats.buckets),
            (1, 1, 4)
        );
        assert_after_insert_c_replace_a(&map, D);
    });
}

/// Model 16: the map's shape read while another thread resizes it. `stats()`
/// and `capacity()` read the root table's header and, during a resize, the
/// new table's; model 9's reader reaches the new table only after an `Acquire`
/// load in `get` that already synchronized with its creator, so no model read
/// a header through the root or `next` load of these two functions alone.
/// Here the observer does nothing else, so each table header it reads is
/// ordered after the table's initialisation only by those loads; loom checks
/// that through `Table::witness`, which reads a loom cell written when the
/// table was built.
///
/// The writer is model 9's. The observer's figures must be those of a table
/// that existed: 2 or 4 buckets, a capacity of the 2-bucket or the 4-bucket
/// table, and a migration, if it saw one, into 4 buckets. Once it has seen
/// the 4-bucket table (as the root or as the target), the capacity it reads
/// next is the 4-bucket table's.
#[test]
fn the_shape_is_read_consistently_while_another_thread_resizes() {
    model(|| {
        let map = filled_map(&[A, D]);
        let small = map.capacity();
        let (buckets, to, capacity) = race_with_resizing_writer(&map, |m| {
            let stats = m.stats();
            (
                stats.buckets,
                stats.migration.map(|p| p.to_buckets),
                m.capacity(),
            )
        });
        let large = map.capacity();
        assert!(large > small, "the resize grew the capacity");
        assert!(buckets == 2 || buckets == 4, "{buckets} buckets");
        assert!(to.is_none() || to == Some(4), "a migration into {to:?}");
        assert!(
            capacity == small || capacity == large,
            "capacity {capacity}: neither {small} nor {large}"
        );
        if buckets == 4 || to.is_some() {
            assert_eq!(
                capacity, large,
                "capacity read after the new table was seen"
            );
        }
    });
}

/// Model 17: model 16 with an iterator as the observer. The iterator meets
/// the root and the new table through its own loads (`RawIter::step`), with
/// no `get` before them. D, present throughout, is yielded once; A once,
/// with its old or its new value; C, inserted meanwhile, at most once.
#[test]
fn an_iterator_follows_a_resize_started_by_another_thread() {
    // Bound 1: a weakened root or `next` load needs the observer to run once
    // between the writer's link and its root swing, one preemption; at bound 2
    // the iterator's dozens of slot loads keep this model running past five minutes.
    model_with(Some(1), loom::model::Builder::new().max_branches, || {
        let map = filled_map(&[A, D]);
        let seen = race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            let mut seen: Vec<(u64, u64)> =
                m.iter(&guard).map(|(k, v)| (k.get(), v.get())).collect();
            seen.sort_unstable();
            seen
        });
        let count = |k: u64| seen.iter().filter(|&&(sk, _)| sk == k).count();
        assert_eq!(count(D), 1, "D is present throughout: {seen:?}");
        assert_eq!(count(A), 1, "A is present throughout: {seen:?}");
        assert!(count(C) <= 1, "C at most once: {seen:?}");
        for &(k, v) in &seen {
            assert!(v == k || (k == A && v == NEW), "{k:#x} => {v}");
        }
    });
}

/// Model 18: a `reserve` racing a resize started by another thread. The
/// reserving thread reads the root and its `next` in `try_reserve` and then
/// helps the migration it finds, with nothing before those loads to order
/// it after the new table's creation. Afterwards every key is there once.
#[test]
fn a_reserve_helps_a_resize_started_by_another_thread() {
    model(|| {
        let map = filled_map(&[A, D]);
        race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            m.reserve(0, &guard);
        });
        let stats = map.stats();
        assert!(stats.migration.is_none(), "{stats:?}");
        assert_after_insert_c_replace_a(&map, D);
    });
}

/// Model 19: a `reserve` that needs more room than the resize another thread
/// starts. The reserving thread asks for 30 more entries (a table of at least
/// 8 buckets) while model 9's writer links its 4-bucket table and finishes
/// that resize (or, if the reserver's link comes first, helps the reserver's
/// resize instead). If the writer's link lands between the reserver's look at
/// the root and its own link, the reserver's `start_migration` links nothing; it
/// must look again and resize the 4-bucket table rather than return, or
/// `reserve` would break its promise of room (it did before this model: the
/// reserver returned with a capacity of 24). Afterwards the capacity is at
/// least 32 (`len` is at least 2 when the reserver reads it), and every key is
/// there once.
#[test]
fn a_reserve_that_loses_the_link_race_still_gets_its_room() {
    // Bound 1: the lost race needs one preemption (the reserver stopped between
    // its look at the root and its link); at bound 2 the model ran past ten
    // minutes. 10,000 branches: the 8-bucket resize's copies outrun loom's
    // default limit.
    model_with(Some(1), 10_000, || {
        let map = filled_map(&[A, D]);
        let capacity = race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            m.reserve(30, &guard);
            m.capacity()
        });
        assert!(capacity >= 32, "capacity {capacity} after reserve(30)");
        let stats = settle(&map, 16);
        assert!(stats.migration.is_none(), "{stats:?}");
        assert!(map.capacity() >= 32, "{stats:?}");
        assert_after_insert_c_replace_a(&map, D);
    });
}

/// Model 20: the resize calls that models use to place a resize
/// (`begin_resize`, `help_resize`), made by a thread that did nothing to the
/// map before, while model 9's writer links, fills and swings a 4-bucket
/// table. Each of them starts with a root load of its own, which is then all
/// that orders the table headers it reads after their initialisation (loom
/// sees them through `Table::witness`). The helper's 8-bucket resize lands on
/// the 2-bucket root (and model 9's writer helps it instead), on the 4-bucket
/// root after the swing, or nowhere (a resize already in flight). Afterwards
/// every resize finishes and every key is there once.
#[test]
fn resize_calls_follow_a_resize_started_by_another_thread() {
    // 10,000 branches: the 8-bucket resize's copies outrun loom's default limit.
    model_with(None, 10_000, || {
        let map = filled_map(&[A, D]);
        race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            m.begin_resize(8, &guard);
            m.help_resize(&guard);
        });
        let stats = settle(&map, 16);
        assert!(stats.migration.is_none(), "{stats:?}");
        assert_after_insert_c_replace_a(&map, D);
    });
}

/// Model 22: a remove that looks for a shrink while another thread grows
/// the map. Every remove of this map checks for a shrink
/// (`check_shrink_on_every_remove`; normally only a remove whose counter
/// stripe's count before it is a multiple of 64 does, which no model with
/// a few keys reaches). The map holds A and D in its 2-bucket root; the
/// other thread links a 4-bucket table, migrates both buckets and swings
/// the root. The main thread removes A, and then `maybe_shrink` loads the
/// root and reads its header. If the remove ran in the old table before
/// the link and this load reads the 4-bucket root, nothing but this load
/// (an Acquire reading the swing, released by the fence before it) orders
/// the header's initialisation before the read. With one key left in four
/// buckets it starts a shrink back to two. Afterwards every resize
/// finishes, A is gone and D is there once.
#[test]
fn a_remove_that_looks_for_a_shrink_follows_a_resize_started_by_another_thread() {
    // 10,000 branches: the grow and the shrink after it outrun loom's default limit.
    model_with(None, 10_000, || {
        let map = Arc::new(tiny_map().check_shrink_on_every_remove());
        {
            let guard = map.guard();
            for k in [A, D] {
                map.insert(Key::new(k), payload(k), &guard);
            }
        }
        let m = map.clone();
        let resizer = thread::spawn(move || {
            let guard = m.guard();
            m.begin_resize(4, &guard);
            m.help_resize(&guard);
            m.help_resize(&guard);
        });
        {
            let guard = map.guard();
            assert_eq!(map.remove(&A, &guard).map(Payload::get), Some(A));
        }
        resizer.join().unwrap();
        let stats = settle(&map, 16);
        assert!(stats.migration.is_none(), "{stats:?}");
        let guard = map.guard();
        assert_eq!(value(&map, A, &guard), None);
        drop(guard);
        settle_and_check_each_key_once(&map, &[D]);
    });
}

/// Two threads start a resize at once (different sizes), racing on the CAS
/// of `next` in `link_next`: exactly one table is linked, the loser's is
/// freed, and both threads go on in the winner's. One thread then inserts C
/// (in the new table) while the other reads.
#[test]
fn racing_resizes_link_one_table() {
    model(|| {
        let map = filled_map(&[A, D]);
        let m = map.clone();
        let other = thread::spawn(move || {
            let guard = m.guard();
            m.begin_resize(4, &guard);
            assert!(m.insert(Key::new(C), payload(C), &guard).is_none());
        });
        {
            let guard = map.guard();
            map.begin_resize(8, &guard);
            let c = value(&map, C, &guard);
            assert!(c.is_none() || c == Some(C), "C read as {c:?}");
            assert_eq!(value(&map, A, &guard), Some(A));
            assert_eq!(value(&map, D, &guard), Some(D));
        }
        other.join().unwrap();
        let stats = map.stats();
        assert_eq!(stats.resizes_started, 1, "exactly one table is linked");
        let to = stats
            .migration
            .expect("one chunk of two migrated")
            .to_buckets;
        assert!(to == 4 || to == 8, "linked a table of {to} buckets");
        finish_resize(&map);
        let stats = map.stats();
        assert_eq!((stats.resizes_finished, stats.buckets), (1, to));
        let guard = map.guard();
        for k in [A, C, D] {
            assert_eq!(value(&map, k, &guard), Some(k));
        }
        drop(guard);
        assert_eq!(map.len(), 3);
        for k in [A, C, D] {
            assert_single(&map, k);
        }
    });
}

/// Completion does not wait for the thread that migrated the last chunk.
/// One thread helps the resize in flight (2 → 4 buckets, two chunks) while
/// the other asks for room the target cannot give (`reserve(30)`), so it
/// must see this resize finish before it starts its own. If the helper sets
/// the last chunk's done bit and stalls before counting it, the reserving
/// thread finds every bit set, swings the root itself and goes on; before
/// the fix it spun until the helper ran again, which loom reports as a
/// thread that never stops (found first by a heavier overflow model).
#[test]
fn completion_does_not_wait_for_a_stalled_last_chunk() {
    // One preemption is all the stall needs (the helper is stopped between its
    // bit and its count, the other thread runs on). Bound 1 until the two-pass
    // migration, when bound 2 explored 2.7 million executions in 7 minutes;
    // since then bound 2 explores 229,599 in 41 s, so it follows the suite's bound.
    model_with(None, 10_000, || {
        let map = resizing_map(&[A, D]);
        let m = map.clone();
        let helper = thread::spawn(move || {
            let guard = m.guard();
            m.reserve(0, &guard);
        });
        {
            let guard = map.guard();
            map.reserve(30, &guard);
            assert!(map.capacity() >= 32);
            assert_eq!(value(&map, A, &guard), Some(A));
            assert_eq!(value(&map, D, &guard), Some(D));
        }
        helper.join().unwrap();
        let stats = settle(&map, 16);
        assert!(
            stats.migration.is_none() && stats.resizes_finished == 2,
            "{stats:?}"
        );
        for k in [A, D] {
            assert_single(&map, k);
        }
    });
}

/// The race behind the overflow: a shrink sized from `len` while inserts are
/// landing in the old table. The root has four buckets and eight keys in
/// buckets 0–1; one thread inserts seven keys whose home is bucket 3 while
/// another starts a shrink to two buckets (14 slots: what eight entries need
/// under the 5/8 load limit). When the inserts land in the old table before the target is
/// linked, the target cannot take all fifteen entries: copying into it must
/// link a third table instead of spinning, and every key must end up present
/// exactly once. The migration itself runs after the join, so the model
/// explores the race that sizes the target, not the copying.
#[test]
fn a_shrink_sized_before_racing_inserts_overflows_into_a_third_table() {
    const LATE: [u64; 7] = [
        key(3, 9),
        key(3, 10),
        key(3, 11),
        key(3, 12),
        key(3, 13),
        key(3, 14),
        key(3, 15),
    ];
    // Reached: all fifteen entries were in the old table when the 2-bucket
    // target was linked, so that the copy had to overflow.
    model_reaching("put all inserts in the old table before the link", || {
        let early: Vec<u64> = (0..8).map(|i| key(i / 4, 1 + i)).collect();
        let map = four_bucket_map(&early);
        let m = map.clone();
        let inserter = thread::spawn(move || {
            let guard = m.guard();
            for k in LATE {
                assert!(m.insert(Key::new(k), payload(k), &guard).is_none());
            }
        });
        map.begin_resize(2, &map.guard());
        inserter.join().unwrap();
        let before = map.stats();
        let to = before.migration.map(|m| m.to_buckets);
        let overflowing = before.slots_used == 15 && to == Some(2);
        let all: Vec<u64> = early.iter().chain(&LATE).copied().collect();
        settle_and_check_each_key_once(&map, &all);
        overflowing
    });
}

/// Two copiers race through an overflowing target. The root has four buckets
/// and fifteen entries (four in each of buckets 0–2, three in bucket 3) when
/// a shrink to two buckets (14 slots) is linked; the main thread copies
/// buckets 0 and 1 (eight entries) before the race. Then both threads help
/// at once (`help_resize`: one chunk of one bucket per call, chunks handed
/// out by the cursor), copying the last seven entries into a target with six
/// free slots, so the target overflows while two copiers are in it: one of
/// them links a third table, the other must find it and follow. Checks: the
/// third table is linked by the time both have returned (so the overflow
/// happened inside the race, in every execution), both resizes finish, `len`
/// is 15, every key is present once with its value.
///
/// Bound 1: since the tag-word loads of `scan` and `resolve` are Relaxed
/// (ninth session), bound 2 explores 1,203,038 executions, about nine
/// minutes, more than the whole loom step may take; it passes there too
/// (docs/loom.md, "Measured times").
#[test]
fn two_copiers_race_through_an_overflowing_target() {
    model_with(Some(1), 10_000, || {
        let keys: Vec<u64> = (0..15).map(|i| key(i / 4, 1 + i)).collect();
        let map = four_bucket_map(&keys);
        {
            let guard = map.guard();
            map.begin_resize_exact(2, &guard);
            map.help_resize(&guard);
            map.help_resize(&guard);
        }
        let before = map.stats();
        assert_eq!(
            before.migration.map(|m| (m.to_buckets, m.chunks_done)),
            Some((2, 2)),
            "the shrink is half done before the race: {before:?}"
        );
        let m = map.clone();
        let helper = thread::spawn(move || {
            m.help_resize(&m.guard());
        });
        map.help_resize(&map.guard());
        helper.join().unwrap();
        let after = map.stats();
        assert_eq!(
            after.resizes_started, 3,
            "the target overflowed inside the race: {after:?}"
        );
        settle_and_check_each_key_once(&map, &keys);
    });
}

/// Model 9 with a second writer instead of a reader: the spawned thread
/// replaces D while the main thread links a 4-bucket table, inserts C and
/// replaces A (which migrates the last chunk and swings the root). The
/// spawned writer meets a `next`, or a root, that the main thread wrote
/// concurrently, so only the Acquire loads of the write path (`writable`'s
/// root load, `advance`'s `next` load) give it the new table's
/// initialisation. Checks: every key once with its latest value.
#[test]
fn a_writer_follows_a_resize_started_by_another_thread() {
    model(|| {
        let map = filled_map(&[A, D]);
        race_with_resizing_writer(&map, |m| {
            let guard = m.guard();
            let old = m
                .insert(Key::new(D), payload(NEW), &guard)
                .map(Payload::get);
            assert_eq!(old, Some(D), "D is present throughout");
        });
        let stats = settle(&map, 8);
        assert!(stats.migration.is_none(), "{stats:?}");
        assert_after_insert_c_replace_a(&map, NEW);
    });
}

/// The other copier of models 23 and 24, spawned before the resize is
/// linked so that its write may still land in the old table: `write` (in
/// the old table's bucket 0, if it has not seen the link yet), then two
/// helping calls. The first takes chunk 1 from the cursor; the second takes
/// chunk 0 again when the cursor wraps (the main thread holds it, not done),
/// and freezes the node `write` published.
fn write_then_help_twice(
    map: &Arc<Map>,
    write: impl FnOnce(&Map, &Guard) + Send + 'static,
) -> thread::JoinHandle<()> {
    let m = map.clone();
    thread::spawn(move || {
        let guard = m.guard();
        write(&m, &guard);
        m.help_resize(&guard);
        m.help_resize(&guard);
    })
}

/// The main thread of models 23 and 24: links a 4-bucket table and helps
/// once, migrating chunk 0 (bucket 0) unless the other copier took the
/// cursor first.
fn link_and_help_once(map: &Map) {
    let guard = map.guard();
    map.begin_resize(4, &guard);
    map.help_resize(&guard);
}

/// A freeze that fails on another copier's freeze copies the node that
/// copier froze, and reads its key. The map holds A. The main thread links a
/// resize and migrates bucket 0: its first pass loads A's node. Meanwhile
/// the other thread, which has not seen the link yet, replaces A in the old
/// table with a node whose key it wrote itself, then helps twice, freezing
/// that new node in bucket 0 (design.md, W10). The main thread's freeze CAS,
/// expecting the old node, fails on the new one frozen, and its `Frozen` arm
/// hashes the new node's key: only the freeze CAS's failure ordering
/// (Acquire, pairing with the other copier's freeze) orders that read after
/// the write of the key. Checks: the resize finishes, A holds the new value,
/// once.
#[test]
fn a_freeze_that_fails_on_another_copiers_freeze_reads_the_node_it_froze() {
    model(|| {
        let map = filled_map(&[A]);
        let writer = write_then_help_twice(&map, |m, guard| {
            let old = m.insert(Key::new(A), payload(NEW), guard).map(Payload::get);
            assert_eq!(old, Some(A), "A is present throughout");
        });
        link_and_help_once(&map);
        writer.join().unwrap();
        let stats = settle(&map, 8);
        assert!(stats.migration.is_none(), "{stats:?}");
        assert_eq!(map.len(), 1);
        assert_eq!(value(&map, A, &map.guard()), Some(NEW));
        assert_single(&map, A);
    });
}

/// Model 23 for the seal of a slot without an entry (design.md, W11): a
/// seal that fails on another copier's freeze copies the node that copier
/// froze. The map starts empty. The main thread links a resize and migrates
/// bucket 0, whose first pass finds every slot empty. Meanwhile the other
/// thread, which has not seen the link yet, inserts A into the old table's
/// bucket 0, then helps twice, freezing A's node. The main thread's seal CAS,
/// expecting an empty slot, fails on A's frozen node, and its `Frozen` arm
/// hashes A's key: only the seal CAS's failure ordering (Acquire, pairing
/// with the other copier's freeze) orders that read after the write of the
/// key. With the seal's success ordering Relaxed instead, the other
/// thread's insert may meet a slot the main thread sealed, read `next` as
/// null in `advance` and rescan until the link becomes visible, which loom
/// may put off forever: the model then exceeds loom's branch limit (the
/// progress argument of W11). Checks: the resize finishes, A is present
/// once with its value.
#[test]
fn a_seal_that_fails_on_another_copiers_freeze_reads_the_node_it_froze() {
    model(|| {
        let map = Arc::new(tiny_map());
        let writer = write_then_help_twice(&map, |m, guard| {
            assert!(m.insert(Key::new(A), payload(A), guard).is_none());
        });
        link_and_help_once(&map);
        writer.join().unwrap();
        settle_and_check_each_key_once(&map, &[A]);
    });
}

loom::thread_local! {
    /// Calls of `Touchy`'s `Eq` on this thread before one panics (0: never).
    static EQ_LEFT: std::cell::Cell<usize> = std::cell::Cell::new(0);
}

/// A model key whose `Eq` panics at the armed call of its thread.
struct Touchy(Key);

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        let left = EQ_LEFT.with(|l| l.get());
        if left == 1 {
            EQ_LEFT.with(|l| l.set(0));
            std::panic::panic_any(Injected);
        }
        EQ_LEFT.with(|l| l.set(left.saturating_sub(1)));
        self.0 == other.0
    }
}

impl Eq for Touchy {}

/// Model 25 (twenty-fifth session). Two keys share a home bucket and a tag
/// (so every scan and `resolve` of one compares it with the other), and a
/// rebuild to two buckets is in flight. A helper copies the bucket while its
/// `Eq` panics at call `n`, which for some `n` lands inside the `resolve` of
/// its COPY claim of K, between claim and commit; the main thread removes K
/// (sealing K's region, so it copies K too) and reads E. After the join no
/// claim may be left (`HashMap::audit`), E holds its value and K is gone.
/// Before the twenty-fourth session a copy had no unwind guard, and its
/// claim outlived the panic: if the other copier had committed K and the
/// remove retired K's node, the claim was the last pointer to freed memory.
fn a_copy_whose_eq_panics_leaves_no_claim(n: usize) {
    const E: u64 = key(0, 5);
    const K: u64 = key(1, 5);
    model_reaching("made the helper's Eq panic", move || {
        let map = Arc::new(tiny_map_of::<Touchy>());
        {
            let guard = map.guard();
            map.insert(Touchy(Key::new(E)), payload(E), &guard);
            map.insert(Touchy(Key::new(K)), payload(K), &guard);
            map.begin_resize_exact(2, &guard);
        }
        let m = map.clone();
        let helper = thread::spawn(move || {
            let guard = m.guard();
            EQ_LEFT.with(|l| l.set(n));
            let unwound =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.help_resize(&guard)))
                    .is_err();
            EQ_LEFT.with(|l| l.set(0));
            unwound
        });
        {
            let guard = map.guard();
            let removed = map.remove(&Touchy(Key::new(K)), &guard);
            assert_eq!(removed.map(Payload::get), Some(K));
            let e = map.get(&Touchy(Key::new(E)), &guard);
            assert_eq!(e.map(Payload::get), Some(E));
        }
        let unwound = helper.join().unwrap();
        let mut map = map;
        let map = Arc::get_mut(&mut map).expect("the helper was joined");
        let audit = map.audit();
        assert!(audit.is_sound(), "{audit:?}");
        assert_eq!(audit.entries, 1, "{audit:?}");
        assert_eq!(map.len(), 1);
        unwound
    });
}

/// Model 25, with the helper's `Eq` panicking at its second call (the
/// `resolve` of its COPY claim of K, in the interleavings where its scan
/// compared K with E first) and at its third. With the copy's unwind guard
/// taken out, both fail: `Audit { tables: 2, entries: 1, claims: 1, .. }`
/// (docs/loom.md). At the first call the panic comes from the scan, before
/// any claim, and the model passes with or without the guard, so it is not
/// run.
#[test]
fn a_copy_whose_eq_panics_in_its_resolve_leaves_no_claim() {
    for n in [2, 3] {
        a_copy_whose_eq_panics_leaves_no_claim(n);
    }
}

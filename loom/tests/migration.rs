//! Operations racing an incremental resize forced with `begin_resize`.
//!
//! The map starts with two buckets; `begin_resize(4)` links a four-bucket
//! table, and from then on every write migrates one bucket (one chunk) and
//! seals its own key's region before writing in the new table. Keys A, B, C
//! share home bucket 0 in both tables; D lives in bucket 1 of the old table
//! (bucket 2 of the new one).

mod common;

use common::*;
use loom::sync::Arc;
use loom::thread;

/// A map holding `keys` (payload = key) with a resize to 4 buckets started.
fn resizing_map(keys: &[u64]) -> Arc<Map> {
    let map = Arc::new(tiny_map());
    let guard = map.guard();
    for &k in keys {
        map.insert(k, payload(k), &guard);
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
            assert!(m.insert(C, payload(C), &guard).is_none());
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
            assert!(map.insert(C, payload(C), &guard).is_none());
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
            assert!(m.insert(D, payload(D), &guard).is_none());
        });
        {
            // C's write takes chunk 1 (bucket 1), then seals its own bucket 0.
            let guard = map.guard();
            assert!(map.insert(C, payload(C), &guard).is_none());
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
            assert!(m.insert(C, payload(C), &guard).is_none());
        });
        {
            let guard = map.guard();
            let mut seen: Vec<u64> = map
                .iter(&guard)
                .map(|(k, v)| {
                    assert_eq!(v.get(), *k);
                    *k
                })
                .collect();
            seen.sort_unstable();
            seen.retain(|&k| k != C);
            assert_eq!(seen, [A, D]);
        }
        writer.join().unwrap();
    });
}

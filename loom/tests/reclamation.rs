//! Reclamation: memory of a removed entry is freed only after every guard
//! that could have reached it is dropped.

mod common;

use common::*;
use loom::sync::Arc;
use loom::thread;

/// A reader holding a reference while another thread removes the entry and
/// advances the epoch as far as it can never touches freed memory (the
/// payload's destructor poisons it, and loom orders that write against the
/// reader's read).
#[test]
fn a_reader_outlives_the_removal_of_its_entry() {
    model(|| {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(7), &map.guard());
        let m = map.clone();
        let remover = thread::spawn(move || {
            {
                let guard = m.guard();
                assert_eq!(m.remove(&A, &guard).map(Payload::get), Some(7));
            }
            collect(&m);
        });
        {
            let guard = map.guard();
            if let Some(v) = map.get(&A, &guard) {
                // Loom may run the whole removal and collection right here.
                assert_eq!(v.get(), 7);
            }
        }
        remover.join().unwrap();
        collect(&map);
    });
}

/// The same with a replacing `update`: the replaced node is retired while a
/// reader may still hold it.
#[test]
fn a_reader_outlives_the_replacement_of_its_value() {
    model(|| {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(1), &map.guard());
        let m = map.clone();
        let writer = thread::spawn(move || {
            {
                let guard = m.guard();
                assert!(m.update(&A, |v| payload(v.get() + 1), &guard).is_some());
            }
            collect(&m);
        });
        {
            let guard = map.guard();
            let v = map.get(&A, &guard).expect("A is present throughout");
            let seen = v.get();
            assert!(seen == 1 || seen == 2, "{seen}");
        }
        writer.join().unwrap();
        collect(&map);
    });
}

/// A slot freed by `remove` in one thread is reused by another key in another
/// thread. A and B share home bucket 0; A is in slot 0. One thread removes A
/// (slot 0 becomes a tombstone, the first free slot of the region), advances
/// the epoch as far as it can (freeing A's node unless a guard holds it) and
/// reads B. The other holds a reference to A (if it finds it), inserts B (into
/// slot 0 when it sees the tombstone, then re-tagging it) and reads A and B.
/// No reader sees a key with the other key's value or a freed node, A never
/// comes back once gone, and afterwards A is absent, B present once, len 1.
///
/// Reached: B took A's old slot (in the other executions B went to a fresh
/// slot: the tombstone was not seen).
#[test]
fn a_reused_tombstone_mixes_no_entries() {
    model_reaching("reused A's slot for B", || {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(A), &map.guard());
        let m = map.clone();
        let remover = thread::spawn(move || {
            {
                let guard = m.guard();
                assert_eq!(m.remove(&A, &guard).map(Payload::get), Some(A));
            }
            collect(&m);
            let guard = m.guard();
            let b = entry(&m, B, &guard);
            assert!(b.is_none() || b == Some((B, B)), "B read as {b:?}");
        });
        {
            let guard = map.guard();
            let held = map.get(&A, &guard);
            if let Some(v) = held {
                assert_eq!(v.get(), A);
            }
            assert!(map.insert(Key::new(B), payload(B), &guard).is_none());
            assert_eq!(entry(&map, B, &guard), Some((B, B)));
            let a = entry(&map, A, &guard);
            assert!(
                a.is_none() || (held.is_some() && a == Some((A, A))),
                "A read as {a:?}; the first read found it: {}",
                held.is_some()
            );
            // Still pinned: the removed node is not freed under us.
            if let Some(v) = held {
                assert_eq!(v.get(), A);
            }
        }
        remover.join().unwrap();
        collect(&map);
        let guard = map.guard();
        assert_eq!(entry(&map, A, &guard), None);
        assert_eq!(entry(&map, B, &guard), Some((B, B)));
        drop(guard);
        assert_eq!(map.len(), 1);
        let used = map.stats().slots_used;
        assert!(used == 1 || used == 2, "{used} slots used");
        assert_single(&map, B);
        used == 1
    });
}

/// One tombstone reused twice, by keys with different tags. A is inserted
/// and removed, so slot 0 of bucket 0 is a tombstone that still carries A's
/// tag byte. A spawned thread inserts B, which takes that tombstone and
/// re-tags it with B's byte, and then removes B: slot 0 is a tombstone
/// again, with B's byte. The main thread inserts A meanwhile. Its scan may
/// read the old tag word and the old tombstone, and its claim CAS, which
/// compares against the one tombstone value every tombstone has, then takes
/// the tombstone B left. A's re-tag must now see B's byte and change it
/// back: it reads the tag word after the CAS to CLAIMING, and only that
/// CAS's Acquire, reading B's remove, which continues the release sequence
/// of B's CAS to PENDING, orders B's re-tag before the read. Weakened to
/// Relaxed, the re-tag may read the old word, find A's byte already there,
/// and leave B's byte on A's entry, where lookups of A never look.
/// Checks: B was inserted and removed, A was inserted once, is found with
/// its value, and is the only entry.
///
/// Reached: A took the tombstone B left (the other executions have A in
/// slot 0 before B, and B in slot 1, or A in slot 1 because it found B's
/// claim or entry in slot 0).
#[test]
fn a_tombstone_reused_twice_carries_the_last_tag() {
    model_reaching("reused the tombstone after B was removed from it", || {
        let map = Arc::new(tiny_map());
        {
            let guard = map.guard();
            map.insert(Key::new(A), payload(A), &guard);
            assert!(map.remove(&A, &guard).is_some());
        }
        let m = map.clone();
        let other = thread::spawn(move || {
            let guard = m.guard();
            assert!(m.insert(Key::new(B), payload(B), &guard).is_none());
            assert_eq!(m.remove(&B, &guard).map(Payload::get), Some(B));
        });
        {
            let guard = map.guard();
            assert!(map.insert(Key::new(A), payload(A), &guard).is_none());
        }
        other.join().unwrap();
        let guard = map.guard();
        assert_eq!(entry(&map, A, &guard), Some((A, A)), "A lost its tag");
        assert_eq!(entry(&map, B, &guard), None);
        drop(guard);
        assert_eq!(map.len(), 1);
        let one_slot = map.stats().slots_used == 1;
        assert_single(&map, A);
        one_slot
    });
}

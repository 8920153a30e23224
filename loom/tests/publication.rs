//! Publication and per-key linearizability without a resize: what one
//! writer's Release CAS hands to readers and to the other writers of a key.

mod common;

use common::*;
use loom::sync::Arc;
use loom::thread;

/// Everything a thread wrote before inserting a key is visible to a thread
/// whose `get` returns it (the Release commit pairs with the Acquire lookup).
#[test]
fn insert_publishes_the_payload_to_get() {
    model(|| {
        let map = Arc::new(tiny_map());
        let m = map.clone();
        let writer = thread::spawn(move || {
            let guard = m.guard();
            m.insert(Key::new(A), payload(42), &guard);
        });
        let guard = map.guard();
        if let Some(v) = value(&map, A, &guard) {
            assert_eq!(v, 42);
        }
        drop(guard);
        writer.join().unwrap();
    });
}

/// A replaced value is published the same way, though the slot's tag byte
/// is the one written by the first insert (so only the slot load orders it).
#[test]
fn replace_publishes_the_new_payload_to_get() {
    model(|| {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(1), &map.guard());
        let m = map.clone();
        let writer = thread::spawn(move || {
            let guard = m.guard();
            m.insert(Key::new(A), payload(2), &guard);
        });
        let guard = map.guard();
        let v = value(&map, A, &guard).expect("A is present throughout");
        assert!(v == 1 || v == 2, "{v}");
        drop(guard);
        writer.join().unwrap();
    });
}

/// Two `try_insert`s of one key into a region with a slot freed by a removal
/// (of `removed`): exactly one insert succeeds, and one entry remains.
fn two_try_inserts_of_a_after_removing(removed: u64) {
    model(move || {
        let map = Arc::new(tiny_map());
        {
            // A tombstone before the EMPTY slots of the region: the two inserts
            // can claim different slots, which the resolve step must settle.
            let guard = map.guard();
            map.insert(Key::new(removed), payload(0), &guard);
            assert!(map.remove(&removed, &guard).is_some());
        }
        let m = map.clone();
        let other = thread::spawn(move || {
            let guard = m.guard();
            m.try_insert(Key::new(A), payload(1), &guard).is_ok()
        });
        let mine = {
            let guard = map.guard();
            map.try_insert(Key::new(A), payload(2), &guard).is_ok()
        };
        let theirs = other.join().unwrap();
        assert!(
            mine ^ theirs,
            "exactly one try_insert wins: {mine} {theirs}"
        );
        let guard = map.guard();
        let v = value(&map, A, &guard).unwrap();
        assert_eq!(v, if mine { 2 } else { 1 });
        drop(guard);
        assert_single(&map, A);
    });
}

/// Model 2: the tombstone is B's, so a claim of A there re-tags the slot.
#[test]
fn try_insert_of_one_key_has_one_winner() {
    two_try_inserts_of_a_after_removing(B);
}

/// Model 2c: the tombstone is A's own. A claim there keeps the slot's tag byte
/// (no re-tag), so the tag word read by the other claimer's resolve is older
/// than the claim, and only resolve's Acquire load of the slot orders its read
/// of the claimed node's (tracked) key after the claimer wrote it.
#[test]
fn try_insert_of_one_key_into_its_own_tombstone_has_one_winner() {
    two_try_inserts_of_a_after_removing(A);
}

/// Model 2d: a `try_insert` of A races a writer that inserts A and then
/// replaces it. The `try_insert`'s scan can miss A (the writer's claim is
/// still pending), so it claims another slot, and its resolve can then meet
/// the *replacing* node. That node was published by the replace CAS alone:
/// no tag word or claim of the writer's orders its (tracked) key before the
/// resolve's comparison, only resolve's Acquire load of the slot does. The
/// writer's `SeqCst` fence, which loom treats as synchronising with every
/// later `SeqCst` fence (C++ does not), came before it wrote that key, so it
/// does not cover it either. Whoever wins, A ends with the writer's second
/// value and one entry.
#[test]
fn a_claim_that_meets_a_replaced_entry_of_its_key_gives_way() {
    model(|| {
        let map = Arc::new(tiny_map());
        let m = map.clone();
        let writer = thread::spawn(move || {
            let guard = m.guard();
            let first_new = m.insert(Key::new(A), payload(1), &guard).is_none();
            let second_replaced = m.insert(Key::new(A), payload(2), &guard).is_some();
            (first_new, second_replaced)
        });
        let mine = {
            let guard = map.guard();
            map.try_insert(Key::new(A), payload(3), &guard).is_ok()
        };
        let (first_new, second_replaced) = writer.join().unwrap();
        assert!(second_replaced, "the writer's second insert found A");
        assert_eq!(
            first_new, !mine,
            "exactly one of the first inserts created A: try_insert {mine}, insert {first_new}"
        );
        let guard = map.guard();
        assert_eq!(value(&map, A, &guard), Some(2));
        drop(guard);
        assert_single(&map, A);
    });
}

/// Two `get_or_insert_with` callers of one key return the same value.
#[test]
fn get_or_insert_with_callers_agree() {
    model(|| {
        let map = Arc::new(tiny_map());
        let m = map.clone();
        let other = thread::spawn(move || {
            let guard = m.guard();
            m.get_or_insert_with(Key::new(A), || payload(1), &guard)
                .get()
        });
        let mine = {
            let guard = map.guard();
            map.get_or_insert_with(Key::new(A), || payload(2), &guard)
                .get()
        };
        let theirs = other.join().unwrap();
        assert_eq!(mine, theirs);
        assert_single(&map, A);
    });
}

/// Two concurrent increments of one key give +2: no lost update.
#[test]
fn concurrent_updates_are_not_lost() {
    model(|| {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(0), &map.guard());
        let m = map.clone();
        let other = thread::spawn(move || {
            let guard = m.guard();
            m.update(&A, |v| payload(v.get() + 1), &guard).is_some()
        });
        let mine = {
            let guard = map.guard();
            map.update(&A, |v| payload(v.get() + 1), &guard).is_some()
        };
        assert!(mine && other.join().unwrap());
        let guard = map.guard();
        assert_eq!(value(&map, A, &guard), Some(2));
    });
}

/// `compare_exchange` against a concurrent `update`: the exchange succeeds
/// only on the value it expected, and neither write is lost.
#[test]
fn compare_exchange_and_update_linearize() {
    model(|| {
        let map = Arc::new(tiny_map());
        map.insert(Key::new(A), payload(0), &map.guard());
        let m = map.clone();
        let updater = thread::spawn(move || {
            let guard = m.guard();
            m.update(&A, |v| payload(v.get() + 1), &guard)
                .map(Payload::get)
        });
        let exchanged = {
            let guard = map.guard();
            match map.compare_exchange(&A, &payload(0), payload(10), &guard) {
                Ok(old) => Ok(old.get()),
                Err(e) => Err(e.current.map(Payload::get)),
            }
        };
        let updated = updater.join().unwrap();
        let guard = map.guard();
        let last = value(&map, A, &guard);
        match exchanged {
            // Exchange first (0 -> 10), then the update (10 -> 11).
            Ok(0) => {
                assert_eq!(updated, Some(11));
                assert_eq!(last, Some(11));
            }
            // Update first (0 -> 1): the exchange saw 1 and wrote nothing.
            Err(Some(1)) => {
                assert_eq!(updated, Some(1));
                assert_eq!(last, Some(1));
            }
            other => panic!("impossible outcome {other:?}"),
        }
    });
}

/// A [`Key`] whose comparisons stall the thread that armed [`STALL`]: its
/// first `Eq` call spins until the flag it holds is set by another thread.
/// That suspends an insert inside its resolve step, between its claim and its
/// commit (the only `Eq` calls of an insert into a map whose region holds no
/// other entry of the key's tag are those against other claims of the key).
#[derive(Debug)]
struct StallKey(Key);

/// Hashes as the key it wraps (only `Eq` stalls).
impl std::hash::Hash for StallKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

loom::thread_local! {
    /// The flag this thread waits for at its first comparison, and whether it
    /// found the flag still clear (a real stall).
    static STALL: std::cell::RefCell<(Option<Arc<loom::sync::atomic::AtomicBool>>, bool)> =
        std::cell::RefCell::new((None, false));
}

impl PartialEq for StallKey {
    fn eq(&self, other: &Self) -> bool {
        let flag = STALL.with(|s| s.borrow_mut().0.take());
        if let Some(flag) = flag {
            use loom::sync::atomic::Ordering::Acquire;
            // Acquire: pairs with the Release store after the other insert returned.
            let stalled = !flag.load(Acquire);
            STALL.with(|s| s.borrow_mut().1 = stalled);
            while !flag.load(Acquire) {
                thread::yield_now();
            }
        }
        self.0 == other.0
    }
}
impl Eq for StallKey {}

/// An insert suspended between its claim and its commit does not hold up
/// another insert of its key: the other insert kills the stalled claim when it
/// meets it pending a second time, and completes while the first insert is
/// still suspended (it only resumes once the other has returned). Afterwards
/// the key has one entry, holding the value of the insert that returned last.
/// With the earlier rule (always retract before an earlier claim) the other
/// insert retried forever and this model ran out of branches.
#[test]
fn an_insert_stalled_after_its_claim_blocks_no_other_insert_of_the_key() {
    model_reaching(
        "stalled an insert after its claim while the other insert ran",
        || {
            let map = Arc::new(tiny_map_of::<StallKey>());
            let done = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let (m, d) = (map.clone(), done.clone());
            let other = thread::spawn(move || {
                let guard = m.guard();
                let replaced = m
                    .insert(StallKey(Key::new(A)), payload(2), &guard)
                    .is_some();
                drop(guard);
                // Release: pairs with the stalled thread's Acquire loads.
                d.store(true, loom::sync::atomic::Ordering::Release);
                replaced
            });
            STALL.with(|s| *s.borrow_mut() = (Some(done), false));
            let guard = map.guard();
            let mine = map
                .insert(StallKey(Key::new(A)), payload(1), &guard)
                .is_some();
            drop(guard);
            let (_, stalled) = STALL.with(|s| s.replace((None, false)));
            let theirs = other.join().unwrap();
            assert!(
                mine ^ theirs,
                "exactly one of the two inserts replaced an entry: {mine} {theirs}"
            );
            let guard = map.guard();
            let v = map.get(&StallKey(Key::new(A)), &guard).map(Payload::get);
            // A stalled insert resumes only after the other returned, so it is the last.
            if stalled {
                assert_eq!(v, Some(1), "the stalled insert returned last");
            }
            assert!(map.remove(&StallKey(Key::new(A)), &guard).is_some());
            assert!(
                map.get(&StallKey(Key::new(A)), &guard).is_none(),
                "a second entry"
            );
            stalled
        },
    );
}

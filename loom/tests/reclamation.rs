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
        map.insert(A, payload(7), &map.guard());
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
        map.insert(A, payload(1), &map.guard());
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

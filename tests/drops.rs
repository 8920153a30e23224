//! Every value is dropped exactly once: counted with a `Drop` type after the
//! map is dropped and the epoch flushed. Kept alone in its test binary so that
//! no concurrently running test holds a guard (which would delay reclamation).

use epochmap::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

const THREADS: usize = 4;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static DROPS: AtomicUsize = AtomicUsize::new(0);

struct Counted(#[allow(dead_code)] u64);
impl Counted {
    fn new(v: u64) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Counted(v)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let created = AtomicUsize::new(0);
    {
        let map: HashMap<u64, Counted> = HashMap::with_tuning(2, 1, 1, ahash::RandomState::new());
        thread::scope(|s| {
            for t in 0..THREADS as u64 {
                let (map, created) = (&map, &created);
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let m = map.pin();
                        let k = (i * 31 + t) % 5_000;
                        match i % 4 {
                            0 | 1 => {
                                created.fetch_add(1, Ordering::SeqCst);
                                m.insert(k, Counted::new(i));
                            }
                            2 => {
                                let _ = m.remove(&k);
                            }
                            _ => {
                                created.fetch_add(1, Ordering::SeqCst);
                                let _ = m.try_insert(k, Counted::new(i));
                            }
                        }
                    }
                });
            }
        });
    }
    // Garbage retired to the global collector is freed as the epoch advances; each
    // flush collects a few bags. This file holds no other test, so no other guard in
    // the process can hold the epoch back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while LIVE.load(Ordering::SeqCst) != 0 && std::time::Instant::now() < deadline {
        crossbeam_epoch::pin().flush();
    }
    assert_eq!(
        LIVE.load(Ordering::SeqCst),
        0,
        "values still alive (leaked or not yet reclaimed)"
    );
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        created.load(Ordering::SeqCst),
        "each value dropped exactly once"
    );
}

//! A shared memoisation cache: many threads ask for the same expensive
//! results at once, and each result is computed exactly once.
//!
//! `get_or_insert_with` guarantees that one value wins per key, but racing
//! callers may each run their closure. To run the *computation* once, the map
//! stores a cheap `OnceLock` per key (the one that wins the insert race is the
//! one everyone gets), and the computation runs inside `OnceLock::get_or_init`,
//! which lets one caller compute and makes the others wait for its result.
//!
//! Run: `cargo run --release --example memo_cache`

use epochmap::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The expensive function being memoised: slow on purpose.
fn collatz_steps(mut n: u64, computations: &AtomicUsize) -> u32 {
    computations.fetch_add(1, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(2));
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn main() {
    const THREADS: usize = 8;
    const KEYS: u64 = 200;
    const LOOKUPS_PER_THREAD: u64 = 5_000;

    let cache: HashMap<u64, OnceLock<u32>> = HashMap::new();
    let computations = AtomicUsize::new(0);
    let start = Instant::now();

    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (cache, computations) = (&cache, &computations);
            s.spawn(move || {
                for i in 0..LOOKUPS_PER_THREAD {
                    // Every thread walks the same keys in a different order, so many
                    // threads ask for a key before anyone has finished computing it.
                    let key = 1 + (i * 7 + t * 13) % KEYS;
                    let guard = cache.guard();
                    let cell = cache.get_or_insert_with(key, OnceLock::new, &guard);
                    let steps = *cell.get_or_init(|| collatz_steps(key, computations));
                    assert!(steps < 1_000);
                }
            });
        }
    });

    let computed = computations.load(Ordering::Relaxed);
    println!(
        "{} lookups of {KEYS} keys from {THREADS} threads in {:?}",
        THREADS as u64 * LOOKUPS_PER_THREAD,
        start.elapsed()
    );
    println!(
        "computations: {computed} (one per key: {})",
        computed == KEYS as usize
    );
    assert_eq!(
        computed, KEYS as usize,
        "each key must be computed exactly once"
    );
    println!(
        "27 takes {} steps",
        cache.read(&27, |_, cell| *cell.get().unwrap()).unwrap()
    );
}

//! The main job: build a map of 1M entries, read it from every core, and
//! print the read throughput beside `RwLock<std::collections::HashMap>`.
//!
//! `cargo run --release --example hot_read [entries] [seconds]`

use std::collections::HashMap as StdMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

fn keys(n: usize) -> Vec<u64> {
    // A fixed pseudo-random permutation of distinct keys (splitmix64 of 0..n).
    (0..n as u64)
        .map(|i| {
            let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

/// Runs `read(thread, i)` on every core for `secs`; returns lookups per second.
fn measure(threads: usize, secs: f64, read: impl Fn(usize, usize) -> bool + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, read) = (&stop, &read);
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut i = t * 7919;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..1024 {
                            assert!(read(t, i), "a present key was not found");
                            i = i.wrapping_add(1);
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(1 << 20, |a| a.parse().expect("entries: a number"));
    let secs: f64 = args
        .next()
        .map_or(2.0, |a| a.parse().expect("seconds: a number"));
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let keys = keys(n);
    // Each thread walks the keys in a scattered order so every lookup misses the cache
    // the way a large routing table does.
    let order: Vec<u64> = (0..n).map(|i| keys[(i * 2_654_435_761) % n]).collect();

    let t = Instant::now();
    let map = epochmap::HashMap::new();
    {
        let m = map.pin();
        for &k in &keys {
            m.insert(k, k ^ 1);
        }
    }
    println!(
        "built epochmap::HashMap of {} entries in {:.0?}",
        map.len(),
        t.elapsed()
    );

    let ours = measure(threads, secs, |_, i| {
        let k = order[i % n];
        // Re-pin every call: what a request handler does.
        map.pin().get(&k) == Some(&(k ^ 1))
    });

    let locked: RwLock<StdMap<u64, u64>> = RwLock::new(keys.iter().map(|&k| (k, k ^ 1)).collect());
    let theirs = measure(threads, secs, |_, i| {
        let k = order[i % n];
        locked.read().unwrap().get(&k) == Some(&(k ^ 1))
    });

    println!("{threads} reader threads, {n} entries, {secs} s each:");
    println!(
        "  epochmap::HashMap          {:>8.1} M lookups/s",
        ours / 1e6
    );
    println!(
        "  RwLock<std HashMap>        {:>8.1} M lookups/s",
        theirs / 1e6
    );
    println!("  ratio                      {:>8.2}x", ours / theirs);
}

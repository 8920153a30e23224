//! Parallel word counting into one shared map, with rayon (feature `rayon`).
//!
//! The text is generated (a Zipf-like mix of words, so a few words are very
//! hot and many threads update the same counters at once). Counts go in with
//! `update_or_insert_with` (update if present, insert 1 otherwise, atomically)
//! from every rayon worker, and a second pass does the same with `compute`.
//! Every update publishes a new entry (key cloned, value swapped in), which
//! is the price of values that readers can hold by reference. For plain
//! counters a third pass shows the cheaper idiom: an `AtomicU64` per word,
//! inserted once with `get_or_insert_with` and bumped in place.
//! All results are checked against a single-threaded count.
//!
//! Run: `cargo run --release --features rayon --example word_count`

use epochmap::{HashMap, Operation};
use rayon::prelude::*;
use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const WORDS: [&str; 12] = [
    "the", "of", "and", "map", "epoch", "lock", "free", "hash", "guard", "bucket", "resize",
    "reader",
];

/// Line `i` of the generated text: 32 words, skewed towards the first ones.
fn line(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::new();
    for w in 0..32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // min of two draws: low indices are more likely
        let a = (x % WORDS.len() as u64) as usize;
        let b = ((x >> 20) % WORDS.len() as u64) as usize;
        out.push_str(WORDS[a.min(b)]);
        // a long tail of rare words as well
        if w == 0 {
            out.push_str(&format!(" rare{}", x % 50_000));
        }
        out.push(' ');
    }
    out
}

fn main() {
    let lines: Vec<String> = (0..100_000).map(line).collect();

    let start = Instant::now();
    let counts: HashMap<String, u64> = HashMap::new();
    lines.par_iter().for_each_init(
        || counts.guard(),
        |guard, text| {
            for word in text.split_whitespace() {
                // The key is only allocated when the word is new to this call.
                counts.update_or_insert_with(word.to_string(), |n| n + 1, || 1, guard);
            }
        },
    );
    let parallel = start.elapsed();

    // The same with `compute`, which can express more (here: count, and stop
    // counting at a cap, without a separate read).
    let capped: HashMap<String, u64> = HashMap::new();
    lines.par_iter().for_each(|text| {
        let m = capped.pin();
        for word in text.split_whitespace() {
            // `Aborted` only says the word reached the cap: nothing to do.
            let _ = m.compute(word.to_string(), |entry| match entry {
                None => Operation::Insert(1),
                Some((_, &n)) if n < 1_000_000 => Operation::Insert(n + 1),
                Some(_) => Operation::Abort(()),
            });
        }
    });

    let start = Instant::now();
    let atomic: HashMap<String, AtomicU64> = HashMap::new();
    lines.par_iter().for_each_init(
        || atomic.guard(),
        |guard, text| {
            for word in text.split_whitespace() {
                let counter = match atomic.get(word, guard) {
                    Some(c) => c,
                    None => atomic.get_or_insert_with(word.to_string(), AtomicU64::default, guard),
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        },
    );
    let atomic_time = start.elapsed();

    let start = Instant::now();
    let mut expected: StdHashMap<&str, u64> = StdHashMap::new();
    for text in &lines {
        for word in text.split_whitespace() {
            *expected.entry(word).or_default() += 1;
        }
    }
    let sequential = start.elapsed();

    let guard = counts.guard();
    assert_eq!(counts.len(), expected.len());
    for (word, n) in &expected {
        assert_eq!(counts.get(*word, &guard), Some(n), "count of {word}");
        assert_eq!(capped.get_cloned(*word), Some((*n).min(1_000_000)));
        assert_eq!(
            atomic.read(*word, |_, c| c.load(Ordering::Relaxed)),
            Some(*n)
        );
    }
    let mut top: Vec<(&String, &u64)> = counts.iter(&guard).collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!(
        "{} distinct words, {} threads: update_or_insert_with {:?}, AtomicU64 values {:?}, \
         sequential std::HashMap {:?}",
        counts.len(),
        rayon::current_num_threads(),
        parallel,
        atomic_time,
        sequential
    );
    for (word, n) in top.iter().take(5) {
        println!("{word:>8} {n}");
    }
    println!("all counts match the sequential count");
}

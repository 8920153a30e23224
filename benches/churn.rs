//! Steady-size churn: the table never needs to grow, so throughput and memory
//! must stay flat round after round.
//!
//! For every map: fill with [`LIVE`] keys, then run [`ROUNDS`] rounds; a round
//! inserts [`LIVE`] fresh keys and removes the [`LIVE`] oldest, one insert then
//! one remove, so the map holds [`LIVE`] or `LIVE + 1` entries throughout while
//! every key is replaced once per round. One thread, pinning per operation.
//! A map that leaves tombstones behind slows down round after round or grows
//! its table; one that rehashes at the same size shows slow batches.
//!
//! Per round it records the throughput, the worst time of a batch of
//! [`BATCH`] operations (a stall, such as a same-size rehash, shows there),
//! the bytes live in the allocator since the map was created (counted by a
//! global allocator, so deferred garbage counts too), the
//! resident set size and the table capacity where the map reports one.
//!
//! ```text
//! cargo bench --bench churn                   # prints a summary, writes JSON
//! ```

mod maps;
mod measure;

use maps::{each_map, key, Map, Ops, Visit};
use measure::Counting;
use serde_json::json;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live keys.
const LIVE: u64 = 1 << 17;
/// Rounds; each replaces every key once.
const ROUNDS: usize = 100;
/// Operations per timed batch, for the worst-batch figure.
const BATCH: u64 = 64;

struct Churn {
    live: u64,
    rounds: usize,
    results: Vec<serde_json::Value>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

impl Visit<u64> for Churn {
    fn visit<M: Map<u64>>(&mut self) {
        let base = Counting::live();
        let map = M::with_capacity(0);
        let ops = map.per_op();
        for i in 0..self.live {
            ops.insert(key(0, i), i);
        }
        let (mut lo, mut hi) = (0, self.live);
        let mut rounds = Vec::with_capacity(self.rounds);
        for _ in 0..self.rounds {
            let start = Instant::now();
            let mut worst = Duration::ZERO;
            for _ in 0..2 * self.live / BATCH {
                let batch = Instant::now();
                for _ in 0..BATCH / 2 {
                    ops.insert(key(0, hi), hi);
                    hi += 1;
                    assert!(
                        ops.remove(&key(0, lo)),
                        "{}: a present key was not removed",
                        M::NAME
                    );
                    lo += 1;
                }
                worst = worst.max(batch.elapsed());
            }
            let elapsed = start.elapsed();
            // A round is `live` inserts and `live` removes.
            rounds.push(json!({
                "mops": 2.0 * self.live as f64 / elapsed.as_secs_f64() / 1e6,
                "worst_batch_us": worst.as_secs_f64() * 1e6,
                "alloc_bytes": Counting::live().saturating_sub(base),
                "rss_bytes": measure::rss(),
                "len": map.len(),
                "capacity": map.capacity(),
            }));
        }
        assert_eq!(map.len() as u64, self.live, "{}: len drifted", M::NAME);
        let field = |r: &serde_json::Value, f: &str| r[f].as_f64().unwrap();
        let tenth = (self.rounds / 10).max(1);
        let first: Vec<f64> = rounds[..tenth].iter().map(|r| field(r, "mops")).collect();
        let last: Vec<f64> = rounds[self.rounds - tenth..]
            .iter()
            .map(|r| field(r, "mops"))
            .collect();
        let alloc: Vec<f64> = rounds.iter().map(|r| field(r, "alloc_bytes")).collect();
        let summary = json!({
            "mops_first_tenth": median(first.clone()),
            "mops_last_tenth": median(last.clone()),
            "mops_last_over_first": median(last) / median(first),
            "alloc_first_round": alloc[0],
            "alloc_last_round": alloc[alloc.len() - 1],
            "alloc_max_over_min": alloc.iter().copied().fold(0.0, f64::max) / alloc.iter().copied().fold(f64::INFINITY, f64::min),
            "worst_batch_us_max": rounds.iter().map(|r| field(r, "worst_batch_us")).fold(0.0, f64::max),
            "worst_batch_us_median": median(rounds.iter().map(|r| field(r, "worst_batch_us")).collect()),
        });
        self.results.push(json!({
            "map": M::NAME,
            "live": self.live,
            "summary": summary,
            "rounds": rounds,
        }));
    }
}

fn main() {
    let full = measure::full_run();
    let mut churn = Churn {
        live: if full { LIVE } else { 1 << 10 },
        rounds: if full { ROUNDS } else { 5 },
        results: Vec::new(),
    };
    each_map(&mut churn);
    println!(
        "\nchurn: {} live u64 keys, {} rounds, each replacing every key; one thread",
        churn.live, churn.rounds
    );
    println!("| map | Mops/s first 10% | Mops/s last 10% | last/first | alloc MB first | alloc MB last | alloc max/min | worst batch µs (median round) | worst batch µs (max) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &churn.results {
        let s = &r["summary"];
        let f = |k: &str| s[k].as_f64().unwrap();
        println!(
            "| {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} | {:.3} | {:.1} | {:.1} |",
            r["map"].as_str().unwrap(),
            f("mops_first_tenth"),
            f("mops_last_tenth"),
            f("mops_last_over_first"),
            f("alloc_first_round") / 1e6,
            f("alloc_last_round") / 1e6,
            f("alloc_max_over_min"),
            f("worst_batch_us_median"),
            f("worst_batch_us_max"),
        );
    }
    measure::save(
        "churn",
        &json!({ "bench": "churn", "results": churn.results }),
    );
}

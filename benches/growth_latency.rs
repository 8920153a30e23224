//! Latency while the table grows: what incremental resize buys.
//!
//! For every map, one writer thread inserts [`KEYS`] fresh `u64` keys into a
//! map that starts empty and is **not** presized, so it resizes all the way
//! up; meanwhile one reader thread looks up random keys the writer has
//! already inserted (every lookup must hit). Both pin per operation, and both
//! time every single operation with `Instant` (about 20–40 ns of the figure is
//! the clock itself, the same for every map) into an HDR histogram.
//!
//! A map that resizes all at once shows it as one insert that copies the whole
//! table, and, if readers wait for the copy, as a spike in get latency; an
//! incremental resize spreads the copy over many inserts.
//!
//! ```text
//! cargo bench --bench growth_latency          # prints a table, writes JSON
//! ```
//!
//! The JSON (see `measure::save`) holds the percentiles and a latency-by-
//! percentile curve per map for `examples/bench_report.rs`. With two cores
//! shared with other work, the top percentiles include preemption: compare
//! maps within one run and take medians across runs.

mod maps;
mod measure;

use hdrhistogram::Histogram;
use maps::{each_map, key, Map, Ops, Visit};
use serde_json::json;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
use std::thread;
use std::time::Instant;

/// Keys the writer inserts (the issue's 2 M).
const KEYS: u64 = 2_000_000;
/// Keys in a test run (`cargo test --benches`).
const TEST_KEYS: u64 = 20_000;

/// Percentiles in the table and the JSON summary.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
    ("p99.999", 0.99999),
];

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles, max and a curve of `(quantile, ns)` points spaced evenly in
/// "number of nines" (0.9, 0.99, … in ten steps each), for plotting.
fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let mut s = serde_json::Map::new();
    s.insert("count".into(), json!(h.len()));
    s.insert("mean_ns".into(), json!(h.mean()));
    for (name, q) in PERCENTILES {
        s.insert(format!("{name}_ns"), json!(h.value_at_quantile(q)));
    }
    s.insert("max_ns".into(), json!(h.max()));
    let curve: Vec<_> = (0..=60)
        .map(|step| {
            let q = 1.0 - 10f64.powf(-f64::from(step) / 10.0);
            json!([q, h.value_at_quantile(q)])
        })
        .collect();
    s.insert("curve".into(), json!(curve));
    s.into()
}

struct Growth {
    keys: u64,
    results: Vec<serde_json::Value>,
}

impl Visit<u64> for Growth {
    fn visit<M: Map<u64>>(&mut self) {
        let map = M::with_capacity(0);
        let keys = self.keys;
        let inserted = AtomicU64::new(0);
        let started = Instant::now();
        let (inserts, gets) = thread::scope(|s| {
            let writer = s.spawn(|| {
                let mut h = histogram();
                let ops = map.per_op();
                for i in 0..keys {
                    let k = key(0, i);
                    let t = Instant::now();
                    ops.insert(k, i);
                    h.saturating_record(t.elapsed().as_nanos() as u64);
                    inserted.store(i + 1, Release); // pairs with the reader's Acquire load
                }
                h
            });
            let reader = s.spawn(|| {
                let mut h = histogram();
                let ops = map.per_op();
                let mut rng = 0x9e37_79b9_7f4a_7c15u64;
                loop {
                    let n = inserted.load(Acquire);
                    if n == keys {
                        break;
                    }
                    if n == 0 {
                        std::hint::spin_loop();
                        continue;
                    }
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let i = ((u128::from(rng) * u128::from(n)) >> 64) as u64;
                    let k = key(0, i);
                    let t = Instant::now();
                    let found = black_box(ops.get(&k));
                    h.saturating_record(t.elapsed().as_nanos() as u64);
                    assert_eq!(
                        found,
                        Some(i),
                        "{}: a key present before the lookup was missed",
                        M::NAME
                    );
                }
                h
            });
            (writer.join().unwrap(), reader.join().unwrap())
        });
        let wall = started.elapsed();
        assert_eq!(map.len() as u64, keys, "{}: lost inserts", M::NAME);
        self.results.push(json!({
            "map": M::NAME,
            "keys": keys,
            "wall_s": wall.as_secs_f64(),
            "insert": summary(&inserts),
            "get": summary(&gets),
        }));
    }
}

fn print_table(results: &[serde_json::Value]) {
    for op in ["insert", "get"] {
        println!("\n{op} latency (ns), one writer growing an empty map while one reader gets:");
        print!("| map | count |");
        for (name, _) in PERCENTILES {
            print!(" {name} |");
        }
        println!(" max |");
        println!("|{}", "---|".repeat(PERCENTILES.len() + 3));
        for r in results {
            let s = &r[op];
            print!("| {} | {} |", r["map"].as_str().unwrap(), s["count"]);
            for (name, _) in PERCENTILES {
                print!(" {} |", s[format!("{name}_ns")]);
            }
            println!(" {} |", s["max_ns"]);
        }
    }
}

fn main() {
    let full = measure::full_run();
    let mut growth = Growth {
        keys: if full { KEYS } else { TEST_KEYS },
        results: Vec::new(),
    };
    each_map(&mut growth);
    print_table(&growth.results);
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']));
    measure::save(
        "growth_latency",
        &json!({
            "bench": "growth_latency",
            "cpu": model,
            "cores": thread::available_parallelism().map_or(1, |n| n.get()),
            "results": growth.results,
        }),
    );
}

//! Bytes per entry after [`ENTRIES`] inserts, for every map, of `(u64, u64)`
//! and of `(u64, [u8; 128])`.
//!
//! Each case runs in a fresh child process (this binary again, with
//! `MEMORY_CASE=map:value`), so no map inherits another's freed pages or
//! allocator state. The child warms up its thread-locals (epoch
//! registration) with a throwaway map, then builds a map that is **not**
//! presized with [`ENTRIES`] inserts from one thread, pins and unpins a few
//! thousand times so deferred frees (old tables, retired nodes) can run, and
//! reports three figures, each divided by the number of entries:
//!
//! - `alloc`: bytes requested from the allocator and still live, counted by a
//!   global allocator wrapping `System` (the issue's target metric);
//! - `peak`: the highest live count during the inserts (old and new table
//!   side by side during a resize);
//! - `rss`: growth of the resident set (`VmRSS`), which includes allocator
//!   overhead and rounding.
//!
//! The payload alone is 16 and 136 bytes per entry.
//!
//! ```text
//! cargo bench --bench memory                  # prints a table, writes JSON
//! ```

mod maps;
mod measure;

use maps::{each_map, key, Map, Ops, Value, Visit};
use measure::Counting;
use serde_json::json;
use std::hint::black_box;
use std::process::Command;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Entries per map (the issue's 1 M).
const ENTRIES: u64 = 1_000_000;
/// Entries in a test run (`cargo test --benches`).
const TEST_ENTRIES: u64 = 10_000;

/// Value types by the name the child is told, with their payload size.
const VALUES: [(&str, usize); 2] = [("u64", 16), ("u8x128", 136)];

/// Gives deferred reclamation of `map` (and crossbeam's global queue) its chances.
fn settle<V: Value, M: Map<V>>(map: &M) {
    for i in 0..10_000 {
        black_box(map.per_op().get(&key(0, i)));
    }
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
}

/// The child's work: measures one map with one value type.
struct Case {
    map: String,
    entries: u64,
    result: Option<serde_json::Value>,
}

impl<V: Value> Visit<V> for Case {
    fn visit<M: Map<V>>(&mut self) {
        if M::NAME != self.map {
            return;
        }
        {
            let warm = M::with_capacity(0);
            warm.per_op().insert(key(1, 0), V::of(0));
            settle(&warm);
        }
        settle(&M::with_capacity(0));
        let (live0, rss0) = (Counting::live(), measure::rss());
        Counting::reset_peak();

        let map = M::with_capacity(0);
        let ops = map.per_op();
        for i in 0..self.entries {
            ops.insert(key(0, i), V::of(i));
        }
        let peak = Counting::peak() - live0;
        settle(&map);
        assert_eq!(map.len() as u64, self.entries);
        let live = Counting::live().saturating_sub(live0);
        let rss = measure::rss().saturating_sub(rss0);
        let n = self.entries as f64;
        self.result = Some(json!({
            "map": M::NAME,
            "value": V::NAME,
            "entries": self.entries,
            "alloc_bytes_per_entry": live as f64 / n,
            "peak_bytes_per_entry": peak as f64 / n,
            "rss_bytes_per_entry": rss as f64 / n,
            "capacity": map.capacity(),
        }));
    }
}

fn child(spec: &str, entries: u64) {
    let (map, value) = spec.split_once(':').expect("MEMORY_CASE=map:value");
    let mut case = Case {
        map: map.to_string(),
        entries,
        result: None,
    };
    match value {
        "u64" => each_map::<u64>(&mut case),
        "u8x128" => each_map::<[u8; 128]>(&mut case),
        other => panic!("unknown value type {other}"),
    }
    println!("RESULT {}", case.result.expect("unknown map"));
}

fn main() {
    let entries = if measure::full_run() {
        ENTRIES
    } else {
        TEST_ENTRIES
    };
    if let Ok(spec) = std::env::var("MEMORY_CASE") {
        child(&spec, entries);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut results = Vec::new();
    for (value, payload) in VALUES {
        println!(
            "\nbytes per entry after {entries} inserts of (u64, {value}); payload {payload} B:"
        );
        println!("| map | alloc (live) | alloc (peak) | RSS |");
        println!("|---|---|---|---|");
        for map in maps::NAMES.into_iter().filter(|m| maps::selected(m)) {
            let out = Command::new(&exe)
                .args(std::env::args().skip(1))
                .env("MEMORY_CASE", format!("{map}:{value}"))
                .output()
                .expect("run the child");
            assert!(
                out.status.success(),
                "{map}:{value} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .expect("a RESULT line");
            let r: serde_json::Value = serde_json::from_str(line).expect("the child's JSON");
            println!(
                "| {map} | {:.1} | {:.1} | {:.1} |",
                r["alloc_bytes_per_entry"].as_f64().unwrap(),
                r["peak_bytes_per_entry"].as_f64().unwrap(),
                r["rss_bytes_per_entry"].as_f64().unwrap()
            );
            results.push(r);
        }
    }
    measure::save("memory", &json!({ "bench": "memory", "results": results }));
}

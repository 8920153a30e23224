//! Mixed workloads against the peers, in the style of conc-map-bench
//! (libcuckoo's universal benchmark): every thread runs a fixed, shuffled mix
//! of operations on `u64` keys, and the group reports total operations per
//! second.
//!
//! | workload    | get | insert | remove | update | start                         |
//! |-------------|-----|--------|--------|--------|-------------------------------|
//! | `ReadHeavy` | 98  | 1      | 1      | 0      | presized, 75% filled          |
//! | `Exchange`  | 10  | 40     | 40     | 10     | presized, 75% filled          |
//! | `RapidGrow` | 5   | 80     | 5      | 10     | empty, **not** presized       |
//!
//! Each thread owns a window of its own key stream: an insert adds the next
//! new key, a remove takes the oldest, and gets and updates pick a present key
//! uniformly, so every get hits and the live size of the steady workloads stays
//! at 75% while the keys keep moving (inserts of fresh keys, removals of old
//! ones). `RapidGrow` times, per iteration, a fresh map grown by
//! [`GROW_OPS`] operations from empty; building and dropping it is not timed.
//!
//! Threads run 1..=available cores, in two modes for the maps with guards:
//! `per-op` pins for every operation, `pinned` keeps one handle per thread and
//! re-pins it every [`maps::REPIN_EVERY`] operations so reclamation can go on.
//! dashmap, scc and `RwLock<hashbrown>` have no guards and run once.
//!
//! ```text
//! cargo bench --bench peers -- --save-baseline r1     # then r2, r3
//! cargo run --release --example bench_report          # medians → docs/
//! ```
//!
//! After the criterion run, prints a table of this run's medians with the
//! ratio of epochmap to the best peer in each mode.

mod maps;

use criterion::{black_box, BenchmarkId, Criterion, SamplingMode, Throughput};
use maps::{each_map, key, Map, Ops, Visit};
use rand::seq::SliceRandom;
use rand::{rngs::SmallRng, SeedableRng};
use std::path::PathBuf;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Key space of the steady workloads: maps are presized to it and filled to 75%.
const CAPACITY: u64 = 1 << 20;
/// Operations per criterion iteration of the steady workloads (all threads).
const OPS_PER_ITER: u64 = 1 << 12;
/// Operations per `RapidGrow` iteration (all threads): about 0.8 M inserts.
const GROW_OPS: u64 = 1 << 20;
/// Divides both sizes when the binary runs as a test (`cargo test --benches`).
const TEST_SHRINK: u64 = 1 << 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Insert,
    Remove,
    Update,
}

struct Workload {
    /// Criterion group, also the directory under `criterion/`.
    group: &'static str,
    /// Title in the printed table.
    title: &'static str,
    /// Percentages of get, insert, remove, update.
    mix: [u32; 4],
    /// Presized to [`CAPACITY`] and 75% filled, or empty and not presized.
    steady: bool,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        group: "peers-read-heavy",
        title: "ReadHeavy",
        mix: [98, 1, 1, 0],
        steady: true,
    },
    Workload {
        group: "peers-exchange",
        title: "Exchange",
        mix: [10, 40, 40, 10],
        steady: true,
    },
    Workload {
        group: "peers-rapid-grow",
        title: "RapidGrow",
        mix: [5, 80, 5, 10],
        steady: false,
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PerOp,
    Pinned,
}

/// One thread's part of the key space and its place in the operation mix.
struct Window {
    stream: u64,
    /// Keys `key(stream, lo..hi)` are present.
    lo: u64,
    hi: u64,
    rng: u64,
    mix: Vec<Op>,
    at: usize,
    /// Gets and updates that found no value although the key was present.
    misses: u64,
}

impl Window {
    fn new(thread: usize, workload: &Workload) -> Self {
        let mut mix = Vec::with_capacity(100);
        for (op, &pct) in [Op::Get, Op::Insert, Op::Remove, Op::Update]
            .iter()
            .zip(&workload.mix)
        {
            mix.extend(std::iter::repeat(*op).take(pct as usize));
        }
        mix.shuffle(&mut SmallRng::seed_from_u64(thread as u64));
        Window {
            stream: thread as u64,
            lo: 0,
            hi: 0,
            rng: 0x2545_f491_4f6c_dd1d ^ thread as u64,
            mix,
            at: 0,
            misses: 0,
        }
    }

    /// A present key's index, uniformly (xorshift64 and a multiply-shift range).
    #[inline]
    fn pick(&mut self) -> Option<u64> {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let len = self.hi - self.lo;
        (len > 0).then(|| self.lo + ((u128::from(self.rng) * u128::from(len)) >> 64) as u64)
    }

    fn run(&mut self, ops: &mut impl Ops<u64>, n: u64) {
        let mut since_pin = 0;
        for _ in 0..n {
            let op = self.mix[self.at];
            self.at = if self.at + 1 == self.mix.len() {
                0
            } else {
                self.at + 1
            };
            match op {
                Op::Get | Op::Update => {
                    if let Some(i) = self.pick() {
                        let k = key(self.stream, i);
                        let found = if op == Op::Get {
                            black_box(ops.get(&k)).is_some()
                        } else {
                            ops.update(&k)
                        };
                        self.misses += u64::from(!found);
                    }
                }
                Op::Insert => {
                    ops.insert(key(self.stream, self.hi), self.hi);
                    self.hi += 1;
                }
                Op::Remove => {
                    if self.lo < self.hi {
                        black_box(ops.remove(&key(self.stream, self.lo)));
                        self.lo += 1;
                    }
                }
            }
            since_pin += 1;
            if since_pin == maps::REPIN_EVERY {
                since_pin = 0;
                ops.repin();
            }
        }
    }
}

/// Runs `per_thread` operations on each window in its own thread; the time
/// from the first thread's start to the last one's end.
fn timed<M: Map<u64>>(map: &M, mode: Mode, windows: &mut [Window], per_thread: u64) -> Duration {
    let barrier = Barrier::new(windows.len());
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = windows
            .iter_mut()
            .map(|w| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    match mode {
                        Mode::PerOp => w.run(&mut map.per_op(), per_thread),
                        Mode::Pinned => w.run(&mut map.pinned(), per_thread),
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    end - start
}

/// Fills `map` to 75% of [`CAPACITY`], each thread its own window.
fn prefill<M: Map<u64>>(map: &M, windows: &mut [Window], capacity: u64) {
    let per_thread = capacity * 3 / 4 / windows.len() as u64;
    thread::scope(|s| {
        for w in windows.iter_mut() {
            s.spawn(move || {
                let ops = map.per_op();
                for i in 0..per_thread {
                    ops.insert(key(w.stream, i), i);
                }
                w.hi = per_thread;
            });
        }
    });
    assert_eq!(
        map.len() as u64,
        per_thread * windows.len() as u64,
        "{} lost keys in prefill",
        M::NAME
    );
}

/// A bench id that ran in this process, for the table.
struct Ran {
    group: &'static str,
    variant: String,
    threads: usize,
    elements: u64,
}

struct Peers<'c> {
    c: &'c mut Criterion,
    workload: &'static Workload,
    threads: Vec<usize>,
    /// [`CAPACITY`] and [`GROW_OPS`], or smaller in test mode.
    capacity: u64,
    grow_ops: u64,
    ran: &'c mut Vec<Ran>,
}

impl Visit<u64> for Peers<'_> {
    fn visit<M: Map<u64>>(&mut self) {
        let modes: &[Mode] = if M::PINS {
            &[Mode::Pinned, Mode::PerOp]
        } else {
            &[Mode::PerOp]
        };
        let w = self.workload;
        let (capacity, grow_ops) = (self.capacity, self.grow_ops);
        let elements = if w.steady { OPS_PER_ITER } else { grow_ops };
        let mut group = self.c.benchmark_group(w.group);
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(elements));
        for &mode in modes {
            let variant = match (M::PINS, mode) {
                (false, _) => M::NAME.to_string(),
                (true, Mode::Pinned) => format!("{}-pinned", M::NAME),
                (true, Mode::PerOp) => format!("{}-per-op", M::NAME),
            };
            for &threads in &self.threads {
                let id = BenchmarkId::new(&variant, threads);
                let mut ran = false;
                if w.steady {
                    // Built lazily so a filtered-out bench costs nothing.
                    let mut state: Option<(M, Vec<Window>)> = None;
                    group.bench_function(id, |b| {
                        ran = true;
                        let (map, windows) = state.get_or_insert_with(|| {
                            let map = M::with_capacity(capacity as usize);
                            let mut windows: Vec<_> =
                                (0..threads).map(|t| Window::new(t, w)).collect();
                            prefill(&map, &mut windows, capacity);
                            (map, windows)
                        });
                        b.iter_custom(|iters| {
                            timed(map, mode, windows, iters * OPS_PER_ITER / threads as u64)
                        });
                    });
                    if let Some((map, windows)) = state {
                        let misses: u64 = windows.iter().map(|w| w.misses).sum();
                        assert_eq!(misses, 0, "{variant}: present keys not found");
                        let live: u64 = windows.iter().map(|w| w.hi - w.lo).sum();
                        assert_eq!(
                            map.len() as u64,
                            live,
                            "{variant}: len differs from live keys"
                        );
                    }
                } else {
                    group.bench_function(id, |b| {
                        ran = true;
                        b.iter_custom(|iters| {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let map = M::with_capacity(0);
                                let mut windows: Vec<_> =
                                    (0..threads).map(|t| Window::new(t, w)).collect();
                                total += timed(&map, mode, &mut windows, grow_ops / threads as u64);
                                let misses: u64 = windows.iter().map(|w| w.misses).sum();
                                assert_eq!(misses, 0, "{variant}: present keys not found");
                            }
                            total
                        });
                    });
                }
                if ran {
                    self.ran.push(Ran {
                        group: w.group,
                        variant: variant.clone(),
                        threads,
                        elements,
                    });
                }
            }
        }
        group.finish();
    }
}

/// Where criterion writes: the same rule criterion itself follows.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from("target/criterion")
}

/// Millions of operations per second from this run's median, if criterion wrote it.
fn mops(r: &Ran) -> Option<f64> {
    let path = criterion_dir()
        .join(r.group)
        .join(&r.variant)
        .join(r.threads.to_string())
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let ns = json["median"]["point_estimate"].as_f64()?;
    Some(r.elements as f64 / ns * 1e3)
}

/// Prints, per workload and thread count, each variant's Mops/s and
/// epochmap's ratio to the best peer in each mode (lock-based peers count in both).
fn print_table(ran: &[Ran]) {
    for w in &WORKLOADS {
        let rows: Vec<&Ran> = ran.iter().filter(|r| r.group == w.group).collect();
        if rows.is_empty() {
            continue;
        }
        let mut variants: Vec<&str> = Vec::new();
        for r in &rows {
            if !variants.contains(&r.variant.as_str()) {
                variants.push(&r.variant);
            }
        }
        let mut threads: Vec<usize> = rows.iter().map(|r| r.threads).collect();
        threads.dedup();
        threads.sort_unstable();
        threads.dedup();
        println!("\n{} — Mops/s (criterion median, this run)", w.title);
        print!("| threads |");
        for v in &variants {
            print!(" {v} |");
        }
        println!(" epochmap-pinned / best peer | epochmap-per-op / best peer |");
        println!("|{}", "---|".repeat(variants.len() + 3));
        for &t in &threads {
            let value = |v: &str| {
                rows.iter()
                    .find(|r| r.variant == v && r.threads == t)
                    .and_then(|r| mops(r))
            };
            print!("| {t} |");
            for v in &variants {
                match value(v) {
                    Some(x) => print!(" {x:.2} |"),
                    None => print!(" – |"),
                }
            }
            for mode in ["pinned", "per-op"] {
                let own = value(&format!("epochmap-{mode}"));
                let best = variants
                    .iter()
                    .filter(|v| !v.starts_with("epochmap"))
                    .filter(|v| {
                        !(v.ends_with("-pinned") || v.ends_with("-per-op")) || v.ends_with(mode)
                    })
                    .filter_map(|v| value(v).map(|x| (x, *v)))
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match (own, best) {
                    (Some(own), Some((best, name))) => print!(" {:.2}× ({name}) |", own / best),
                    _ => print!(" – |"),
                }
            }
            println!();
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let shrink = if std::env::args().any(|a| a == "--bench") {
        1
    } else {
        TEST_SHRINK
    };
    let mut ran = Vec::new();
    for workload in &WORKLOADS {
        each_map(&mut Peers {
            c: &mut c,
            workload,
            threads: (1..=cores).collect(),
            capacity: CAPACITY / shrink,
            grow_ops: GROW_OPS / shrink,
            ran: &mut ran,
        });
    }
    c.final_summary();
    if shrink == 1 {
        print_table(&ran);
    }
}

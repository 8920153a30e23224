//! What the slow inserts of a growing map are made of.
//!
//! `benches/growth_latency.rs` reports the insert percentiles of a map that
//! grows from empty to 2M keys; this example takes the same single-writer
//! growth apart. Every insert is timed on its own and filed by what else it
//! did, read from `stats()` and the thread's page-fault count *outside* the
//! timed region:
//!
//! - `started`: it linked a new table (allocation of the target);
//! - `finished`: it swung the root and retired the old table;
//! - `helped`: it migrated buckets (the help budget, 2 buckets by default);
//! - `plain`: none of these.
//!
//! Each class is split again by whether the thread took a page fault during
//! the insert. The table says, per class, how many inserts there were, their
//! percentiles, and how many of the slowest 0.1 % of all inserts (the p99.9
//! tail) fell into it.
//!
//! ```text
//! cargo run --release --example growth_tail [-- KEYS] [--presized] [--reader] [--dense]
//! ```
//!
//! `--presized` builds the map with the final capacity (no resize: what is
//! left is allocation and faults); `--reader` adds the benchmark's reader
//! thread, which looks up keys already inserted. `--dense` skips the two
//! reads of `/proc` around each insert (about 10 µs of system time), so that
//! the inserts follow each other almost as closely as in the benchmark (the
//! loop still reads `stats()` after each one); no insert is then filed under
//! "fault", and only the loop's total of page faults is printed.
//!
//! `PREFAULT_MB=N` writes and frees an N MiB block before the map is made.
//! Run with `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_` above that
//! size, glibc carves the block from its heap and keeps the touched pages
//! after the free, so the nodes the inserts allocate come from pages that
//! are already mapped: it separates the cost of first touching the heap
//! from the map's own (docs/benchmarks.md, "What the slow inserts are").
//!
//! Linux only: the page faults come from `/proc/thread-self/stat`.

#[cfg(target_os = "linux")]
mod linux {
    use epochmap::HashMap;
    use hdrhistogram::Histogram;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;

    /// The calling thread's page faults so far, read from its
    /// `/proc/thread-self/stat` (kept open; procfs regenerates the text on every
    /// read at offset 0).
    struct Faults(File);

    impl Faults {
        fn open() -> Self {
            Faults(File::open("/proc/thread-self/stat").expect("this example needs Linux's /proc"))
        }

        /// Minor + major faults: fields 10 and 12 of `stat`, counted after the
        /// `(comm)` field, which may itself contain spaces.
        fn count(&self) -> u64 {
            let mut buf = [0u8; 1024];
            let n = self
                .0
                .read_at(&mut buf, 0)
                .expect("read /proc/thread-self/stat");
            let text = std::str::from_utf8(&buf[..n]).expect("stat is ASCII");
            let after_comm = &text[text.rfind(')').expect("stat has (comm)") + 2..];
            // `after_comm` starts at field 3 (state): minflt is field 10, majflt 12.
            // Walked without collecting: an allocation here would touch the heap's
            // next pages before the map's nodes do and take their faults outside the
            // timed insert (it did until the fifteenth session; docs/benchmarks.md).
            let mut fields = after_comm.split(' ');
            let mut field = |skip: usize| -> u64 {
                fields
                    .nth(skip)
                    .expect("stat has the field")
                    .parse()
                    .expect("numeric stat field")
            };
            let minflt = field(10 - 3);
            let majflt = field(1);
            minflt + majflt
        }
    }

    /// The key of insert number `i` (a bijection, so keys are distinct and spread).
    fn key(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    const CLASSES: [&str; 8] = [
        "plain",
        "plain + fault",
        "helped",
        "helped + fault",
        "started",
        "started + fault",
        "finished",
        "finished + fault",
    ];

    pub fn main() {
        let mut keys: u64 = 2_000_000;
        let (mut presized, mut reader, mut dense) = (false, false, false);
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--presized" => presized = true,
                "--reader" => reader = true,
                "--dense" => dense = true,
                n => {
                    keys = n
                        .parse()
                        .unwrap_or_else(|_| panic!("not a key count or flag: {n:?}"))
                }
            }
        }
        if let Some(mb) = std::env::var("PREFAULT_MB")
            .ok()
            .map(|v| v.parse::<usize>().expect("PREFAULT_MB is a number of MiB"))
        {
            // Every byte written (not `vec![0; n]`, which may come zeroed from
            // untouched pages), then freed back to the allocator.
            drop(std::hint::black_box(vec![1u8; mb << 20]));
        }
        let map: Arc<HashMap<u64, u64>> = Arc::new(if presized {
            HashMap::with_capacity(keys as usize)
        } else {
            HashMap::new()
        });

        let inserted = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let reader = reader.then(|| {
            let (map, inserted, done) = (map.clone(), inserted.clone(), done.clone());
            thread::spawn(move || {
                let mut x = 1u64;
                let mut hits = 0u64;
                // Acquire: pairs with the writer's Release store of `done`.
                while done.load(Ordering::Acquire) == 0 {
                    // Acquire: pairs with the writer's Release store of the count.
                    let n = inserted.load(Ordering::Acquire);
                    if n == 0 {
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    hits += map.pin().get(&key(x % n)).is_some() as u64;
                }
                hits
            })
        });

        let mut per_class: Vec<Histogram<u64>> = (0..CLASSES.len())
            .map(|_| Histogram::new(3).expect("histogram"))
            .collect();
        // Written up front, so that the pages of `samples` are not first touched
        // (and their faults counted) inside the loop.
        let mut samples: Vec<(u64, u8)> = vec![(u64::MAX, u8::MAX); keys as usize];
        let faults = Faults::open();
        // Only this thread writes, so the statistics after one insert are those
        // before the next.
        let mut before = map.stats();
        let loop_faults = faults.count();
        let t0 = Instant::now();
        for i in 0..keys {
            // Counted right around the insert, so that faults of the bookkeeping
            // (stats, histograms) are not filed under the insert.
            let faults_before = if dense { 0 } else { faults.count() };
            let start = Instant::now();
            let fresh = map.pin().insert(key(i), i).is_none();
            let ns = start.elapsed().as_nanos() as u64;
            let faults_after = if dense { 0 } else { faults.count() };
            assert!(fresh, "key {i} inserted twice");
            // Release: pairs with the reader's Acquire load of the count.
            inserted.store(i + 1, Ordering::Release);
            let after = map.stats();
            let class = if after.resizes_finished != before.resizes_finished {
                6
            } else if after.resizes_started != before.resizes_started {
                4
            } else if after.buckets_migrated != before.buckets_migrated {
                2
            } else {
                0
            } + (faults_after != faults_before) as u8;
            before = after;
            per_class[class as usize]
                .record(ns.max(1))
                .expect("in range");
            samples[i as usize] = (ns, class);
        }
        let elapsed = t0.elapsed();
        // The writer thread's faults over the whole loop, bookkeeping included
        // (with `--dense` the only fault count the example takes).
        let loop_faults = faults.count() - loop_faults;
        // Release: pairs with the reader's Acquire load.
        done.store(1, Ordering::Release);
        let hits = reader.map(|r| r.join().expect("reader panicked"));
        let mut all = Histogram::<u64>::new(3).expect("histogram");
        for h in &per_class {
            all.add(h).expect("same bounds");
        }

        let tail_from = all.value_at_quantile(0.999);
        let mut in_tail = vec![0u64; CLASSES.len()];
        for &(ns, class) in &samples {
            if ns >= tail_from {
                in_tail[class as usize] += 1;
            }
        }
        let tail_total: u64 = in_tail.iter().sum();
        let stats = map.stats();
        println!(
            "{keys} inserts, {} map{}, reader {}: {:.0} ms; {} resizes; {loop_faults} page faults in the loop; all inserts p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            if presized { "presized" } else { "growing" },
            if dense { " (dense: faults not filed per insert)" } else { "" },
            hits.map_or("off".to_string(), |h| format!("on ({h} hits)")),
            elapsed.as_secs_f64() * 1e3,
            stats.resizes_finished,
            all.value_at_quantile(0.5),
            all.value_at_quantile(0.99),
            tail_from,
            all.max(),
        );
        println!();
        println!("| class | inserts | share | p50 ns | p99 ns | p99.9 ns | max ns | in the p99.9 tail (≥ {tail_from} ns) |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (c, h) in per_class.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            println!(
                "| {} | {} | {:.2}% | {} | {} | {} | {} | {} ({:.0}%) |",
                CLASSES[c],
                h.len(),
                100.0 * h.len() as f64 / keys as f64,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                in_tail[c],
                100.0 * in_tail[c] as f64 / tail_total.max(1) as f64,
            );
        }
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("growth_tail reads page faults from /proc/thread-self/stat: Linux only");
    std::process::exit(2);
}

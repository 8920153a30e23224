//! What the non-criterion benches share: a counting global allocator, the
//! resident set size, the full/test switch and the result files the report
//! tool reads.
//!
//! Result files go to `$BENCH_RESULTS/<bench>/<run>.json` (default
//! `$CARGO_TARGET_DIR/bench-results`, else `target/bench-results`), one file
//! per run, named by `$BENCH_RUN` or else the start time, so repeated runs
//! sit side by side and `examples/bench_report.rs` takes their medians. A run
//! limited to some maps by `BENCH_MAPS` (see `maps::selected`) writes to
//! `<bench>/partial/<run>.json` instead, where the report does not look: its
//! tables compare every map within each run.

#![allow(dead_code)] // each bench uses its own part of this module

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system allocator, counting the bytes requested and not yet freed.
///
/// Install with `#[global_allocator] static A: Counting = Counting;`.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    /// Bytes requested and not yet freed, by every thread.
    pub fn live() -> usize {
        LIVE.load(Relaxed)
    }

    /// Highest [`Counting::live`] since the last [`Counting::reset_peak`].
    pub fn peak() -> usize {
        PEAK.load(Relaxed)
    }

    /// Starts a new peak from the current live bytes.
    pub fn reset_peak() {
        PEAK.store(LIVE.load(Relaxed), Relaxed);
    }

    #[inline]
    fn grow(n: usize) {
        let now = LIVE.fetch_add(n, Relaxed) + n;
        PEAK.fetch_max(now, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// bookkeeping only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            Self::grow(new_size);
        }
        p
    }
}

/// Resident set size of this process in bytes (`VmRSS` in `/proc/self/status`).
pub fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Whether the binary runs as a benchmark (`cargo bench` passes `--bench`);
/// otherwise it is a test run (`cargo test --benches`) and should be quick.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The file this run's results go to, for bench `bench`; creates the directory.
pub fn result_path(bench: &str) -> PathBuf {
    let root = std::env::var_os("BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("bench-results")
        });
    let mut dir = root.join(bench);
    if std::env::var_os("BENCH_MAPS").is_some() {
        dir.push("partial");
    }
    std::fs::create_dir_all(&dir).expect("create the results directory");
    let run = std::env::var("BENCH_RUN").unwrap_or_else(|_| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("run-{secs}")
    });
    dir.join(format!("{run}.json"))
}

/// Writes `json` to [`result_path`] when this is a full run, and says where.
pub fn save(bench: &str, json: &serde_json::Value) {
    if !full_run() {
        return;
    }
    let path = result_path(bench);
    std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).expect("write the results");
    println!("\nresults: {}", path.display());
}

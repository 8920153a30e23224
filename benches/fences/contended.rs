//! Two threads handing one cache line back and forth.
//!
//! The main thread publishes an odd number, the partner waits for it and
//! publishes the next even number, the main thread waits for that, and so
//! on. One round trip moves the line to the partner's core and back, so the
//! reported time (round trip / 2) is one handoff: the cost of the line
//! changing owner plus whatever the orderings add on top. The spin is a bare
//! load loop, without `spin_loop()` (whose `pause` would add its own
//! latency to every handoff).
//!
//! Needs two cores; on one, the group is skipped. On a loaded machine a
//! descheduled partner turns one handoff into a scheduler tick. Two guards
//! keep that from running away: a waiter that has spun [`SPINS_BEFORE_YIELD`]
//! times yields its core, and a sample that runs past [`SAMPLE_BUDGET`]
//! stops early and reports its mean handoff time for the rounds it did (so
//! criterion's iteration count, planned from a quiet warm-up, cannot turn a
//! sample into minutes). The reported figure is criterion's median.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, Ordering::*};
use std::thread;
use std::time::{Duration, Instant};

use criterion::Criterion;
use crossbeam_utils::CachePadded;

/// Failed polls before a waiter gives up its core for a moment.
const SPINS_BEFORE_YIELD: u32 = 1 << 14;

/// Wall-clock time after which a sample stops early.
const SAMPLE_BUDGET: Duration = Duration::from_millis(300);

/// Spins until `done` holds; yields now and then so a partner that shares
/// the core can run.
#[inline(always)]
fn spin_until(mut done: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins == SPINS_BEFORE_YIELD {
            spins = 0;
            thread::yield_now();
        }
    }
}

/// How one side hands the line over and waits for it back.
trait Handoff: Sync {
    /// Makes `value` visible to the other thread.
    fn publish(&self, line: &AtomicUsize, value: usize);
    /// Whether the line holds `value` yet (one poll).
    fn arrived(&self, line: &AtomicUsize, value: usize) -> bool;
}

/// A plain store to publish, a load to wait.
struct StoreLoad {
    store: Ordering,
    load: Ordering,
}

impl Handoff for StoreLoad {
    #[inline(always)]
    fn publish(&self, line: &AtomicUsize, value: usize) {
        line.store(value, self.store);
    }

    #[inline(always)]
    fn arrived(&self, line: &AtomicUsize, value: usize) -> bool {
        line.load(self.load) == value
    }
}

/// A CAS from the previous value to publish (it always succeeds: only the
/// thread whose turn it is writes), an acquire load to wait.
struct Cas {
    success: Ordering,
    failure: Ordering,
}

impl Handoff for Cas {
    #[inline(always)]
    fn publish(&self, line: &AtomicUsize, value: usize) {
        let _ = line.compare_exchange(value - 1, value, self.success, self.failure);
    }

    #[inline(always)]
    fn arrived(&self, line: &AtomicUsize, value: usize) -> bool {
        line.load(Acquire) == value
    }
}

/// `iters` round trips (fewer if the sample overruns [`SAMPLE_BUDGET`]);
/// returns the time of `iters` handoffs, i.e. half of `iters` round trips,
/// extrapolated from the rounds done if the sample stopped early.
fn ping_pong<H: Handoff>(handoff: &H, iters: u64) -> Duration {
    let line = CachePadded::new(AtomicUsize::new(0));
    // Set when the main thread stops early; the partner polls it only while
    // waiting, off the handoff path.
    let stop = CachePadded::new(AtomicBool::new(false));
    let ready = AtomicBool::new(false);
    let iters = iters as usize;
    thread::scope(|s| {
        s.spawn(|| {
            ready.store(true, Release);
            for i in 0..iters {
                spin_until(|| handoff.arrived(&line, 2 * i + 1) || stop.load(Relaxed));
                if stop.load(Relaxed) {
                    return;
                }
                handoff.publish(&line, 2 * i + 2);
            }
        });
        // Start the clock only once the partner is running, so thread start
        // is not timed.
        spin_until(|| ready.load(Acquire));
        let start = Instant::now();
        let mut done = 0;
        while done < iters {
            handoff.publish(&line, 2 * done + 1);
            spin_until(|| handoff.arrived(&line, 2 * done + 2));
            done += 1;
            if done % 1024 == 0 && start.elapsed() > SAMPLE_BUDGET {
                break;
            }
        }
        let elapsed = start.elapsed();
        stop.store(true, Relaxed);
        elapsed.mul_f64(iters as f64 / done as f64) / 2
    })
}

/// The `contended/` group.
pub fn bench(c: &mut Criterion) {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("contended/: skipped, {cores} core available");
        return;
    }
    let mut group = c.benchmark_group("contended");
    let store_load = [
        ("store_load_relaxed", Relaxed, Relaxed),
        ("store_release_load_acquire", Release, Acquire),
        ("store_load_seqcst", SeqCst, SeqCst),
    ];
    for (name, store, load) in store_load {
        let handoff = StoreLoad { store, load };
        group.bench_function(name, |b| b.iter_custom(|iters| ping_pong(&handoff, iters)));
    }
    let cas = [
        ("cas_relaxed", Relaxed, Relaxed),
        ("cas_acqrel", AcqRel, Acquire),
        ("cas_seqcst", SeqCst, SeqCst),
    ];
    for (name, success, failure) in cas {
        let handoff = Cas { success, failure };
        group.bench_function(name, |b| b.iter_custom(|iters| ping_pong(&handoff, iters)));
    }
    group.finish();
}

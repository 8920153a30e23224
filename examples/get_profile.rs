//! Instruction-count probe for the read path (run under callgrind):
//! `cargo build --release --example get_profile && valgrind --tool=callgrind target/release/examples/get_profile epochmap 1024`
//!
//! `get_profile ab 1024` times epochmap's and hashbrown's gets in alternation
//! in one process and prints the median ratio: on this noisy VM the steadiest
//! figure for the hot read path (docs/benchmarks.md).
//!
//! With `DENSE_NODES=1` every allocation of at most 16 bytes comes from a bump
//! arena, 16 bytes apart and never freed, instead of glibc's `malloc`, which
//! gives a 16-byte node a 32-byte chunk. It shows what a node slab would buy
//! the read path (docs/benchmarks.md, "Denser nodes"); the map is unchanged.
//! `DENSE_NODES=huge` does the same with the arena advised `MADV_HUGEPAGE`
//! first, to measure huge pages under the nodes alone (Linux only).
use std::hint::black_box;

#[global_allocator]
static ALLOC: dense::MaybeDense = dense::MaybeDense;

/// The allocator behind `DENSE_NODES=1`.
mod dense {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    const CAP: usize = 64 << 20;
    const GRAIN: usize = 16;

    #[repr(align(64))]
    struct Arena(UnsafeCell<[u8; CAP]>);
    // SAFETY: each GRAIN-byte block is handed out once (`NEXT` only grows), so no
    // two threads ever get the same bytes.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena(UnsafeCell::new([0; CAP]));
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    /// Set once at the start of `main` (an environment lookup allocates, so the
    /// allocator cannot read the variable itself). Blocks taken before that
    /// come from the system allocator, and `dealloc` tells the two kinds apart
    /// by address, so the flag's timing never matters for soundness.
    pub static ON: AtomicBool = AtomicBool::new(false);

    /// The system allocator, or the arena for small blocks once `ON` is set.
    pub struct MaybeDense;

    /// `DENSE_NODES=huge`: asks for transparent huge pages on the 2 MiB-aligned
    /// part of the arena before any node is written to it, so that the same
    /// dense layout can be measured on huge pages and on small ones.
    #[cfg(target_os = "linux")]
    pub fn advise_huge() {
        const HUGE: usize = 2 << 20;
        let base = ARENA.0.get() as usize;
        let start = base.next_multiple_of(HUGE);
        let len = (base + CAP - start) / HUGE * HUGE;
        // SAFETY: `[start, start + len)` lies inside the arena, a static that no
        // one has written yet (`ON` is still false), and `MADV_HUGEPAGE` only
        // changes how its pages are backed, never their contents.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        assert_eq!(rc, 0, "madvise(MADV_HUGEPAGE) on the arena failed");
    }

    /// Huge pages are a Linux feature; elsewhere `DENSE_NODES=huge` is refused.
    #[cfg(not(target_os = "linux"))]
    pub fn advise_huge() {
        panic!("DENSE_NODES=huge needs Linux's transparent huge pages");
    }

    fn in_arena(p: *mut u8) -> bool {
        let base = ARENA.0.get() as usize;
        (base..base + CAP).contains(&(p as usize))
    }

    // SAFETY: the arena serves only layouts of at most GRAIN bytes and GRAIN
    // alignment, with blocks that are GRAIN-aligned (the arena is 64-aligned and
    // offsets are multiples of GRAIN), GRAIN bytes long and never handed out twice;
    // everything else is the system allocator's, and `dealloc` and `realloc` tell
    // the two apart by address. Nothing here allocates or unwinds. When the 64 MiB
    // run out, small blocks quietly come from the system allocator again (not
    // reached at 1M keys: 16 MiB of nodes).
    unsafe impl GlobalAlloc for MaybeDense {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // Relaxed (pairs with nothing): soundness never depends on `ON` (see its
            // doc); `main` stores it before any timed allocation, and before other
            // threads start.
            if ON.load(Relaxed) && layout.size() <= GRAIN && layout.align() <= GRAIN {
                // Relaxed: only hands out disjoint offsets.
                let off = NEXT.fetch_add(GRAIN, Relaxed);
                if off + GRAIN <= CAP {
                    // SAFETY: `off + GRAIN <= CAP`, inside the arena.
                    return unsafe { (ARENA.0.get() as *mut u8).add(off) };
                }
            }
            // SAFETY: the caller's layout, passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            if !in_arena(p) {
                // SAFETY: `p` came from `System.alloc` with this layout.
                unsafe { System.dealloc(p, layout) }
            }
        }

        /// The system's own `realloc` for its blocks, so that a run without
        /// `DENSE_NODES` grows vectors as it would without this allocator.
        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if in_arena(p) {
                // SAFETY: the caller's contract for `realloc`, which the default
                // implementation (allocate, copy the smaller size, free) keeps; the
                // arena block is valid for `layout.size()` bytes.
                unsafe {
                    let new = Layout::from_size_align_unchecked(new_size, layout.align());
                    let q = self.alloc(new);
                    if !q.is_null() {
                        std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                    }
                    q
                }
            } else {
                // SAFETY: `p` came from `System` with `layout`; the caller's contract.
                unsafe { System.realloc(p, layout, new_size) }
            }
        }
    }
}

fn main() {
    let dense_mode = std::env::var_os("DENSE_NODES");
    if dense_mode.as_ref().is_some_and(|v| v == "huge") {
        dense::advise_huge();
    }
    if dense_mode.is_some_and(|v| v == "1" || v == "huge") {
        // Relaxed: see `dense::ON`; read by this thread's later allocations and by
        // threads spawned after it.
        dense::ON.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "epochmap".into());
    let n: usize = args
        .next()
        .map_or(1024, |s| s.parse().expect("number of keys"));
    let keys: Vec<u64> = (0..n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let rounds: usize = std::env::var("ROUNDS").map_or(200, |s| s.parse().expect("rounds"));
    let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mut sum = 0u64;
    match which.as_str() {
        "epochmap" => {
            let map = epochmap::HashMap::with_hasher(hasher);
            let m = map.pin();
            for &k in &keys {
                m.insert(k, k);
            }
            for _ in 0..rounds {
                for k in &keys {
                    sum = sum.wrapping_add(*m.get(black_box(k)).unwrap());
                }
            }
        }
        "epochmap-insert" => {
            // Growth from empty: inserts plus every incremental migration.
            let map = epochmap::HashMap::with_hasher(hasher);
            let m = map.pin();
            for &k in &keys {
                m.insert(k, k);
            }
            sum = map.len() as u64;
        }
        "epochmap-presized" => {
            let map = epochmap::HashMap::with_capacity_and_hasher(n, hasher);
            let m = map.pin();
            let t = std::time::Instant::now();
            for &k in &keys {
                m.insert(k, k);
            }
            eprintln!("insert phase {:?}", t.elapsed());
            sum = map.len() as u64;
            let t = std::time::Instant::now();
            drop(m);
            drop(map);
            eprintln!("drop phase {:?}", t.elapsed());
        }
        "epochmap-fill2" | "epochmap-fill1" => {
            let threads = if which == "epochmap-fill2" { 2 } else { 1 };
            let map = epochmap::HashMap::with_capacity_and_hasher(n, hasher);
            let t = std::time::Instant::now();
            std::thread::scope(|s| {
                for part in keys.chunks(n.div_ceil(threads)) {
                    let map = &map;
                    s.spawn(move || {
                        let m = map.pin();
                        for &k in part {
                            m.insert(k, k);
                        }
                    });
                }
            });
            eprintln!("{which}: fill {:?}", t.elapsed());
            sum = map.len() as u64;
        }
        "epochmap-get-time" | "hashbrown-get-time" => {
            // Random-order gets of present keys; prints ns per get (best of 5 passes).
            let order = shuffled(&keys);
            let mut best = f64::MAX;
            if which.starts_with("epochmap") {
                let map = epochmap::HashMap::with_hasher(hasher);
                let m = map.pin();
                for &k in &keys {
                    m.insert(k, k);
                }
                for _ in 0..5 {
                    best = best.min(time_gets(|k| *m.get(k).unwrap(), &order, 1, &mut sum));
                }
            } else {
                let mut map = hashbrown::HashMap::with_hasher(hasher);
                for &k in &keys {
                    map.insert(k, k);
                }
                for _ in 0..5 {
                    best = best.min(time_gets(|k| *map.get(k).unwrap(), &order, 1, &mut sum));
                }
            }
            eprintln!("{which} n={n}: {best:.2} ns/get");
        }
        "ab" => {
            // The two maps' gets timed in alternation in one process: 300 rounds,
            // each of max(200,000 / n, 1) passes over the n keys per map (200 passes
            // at 1,024 keys, one of 1,048,576 gets at 1M), the maps' order swapped
            // every round. The ratio of each round is taken while both run in the
            // same mood of this virtual machine, whose speed changes by up to 1.6x
            // from one process or minute to the next.
            let order = shuffled(&keys);
            let em = epochmap::HashMap::with_hasher(hasher.clone());
            let m = em.pin();
            let mut hb = hashbrown::HashMap::with_hasher(hasher);
            for &k in &keys {
                m.insert(k, k);
                hb.insert(k, k);
            }
            // Lookups in a map caught mid-resize would also visit the new table.
            while em.stats().migration.is_some() {
                m.reserve(0);
            }
            let passes = (200_000 / n).max(1);
            let (mut e, mut h, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..300 {
                let time_e = |sum: &mut u64| time_gets(|k| *m.get(k).unwrap(), &order, passes, sum);
                let time_h =
                    |sum: &mut u64| time_gets(|k| *hb.get(k).unwrap(), &order, passes, sum);
                let (te, th) = if round % 2 == 0 {
                    let te = time_e(&mut sum);
                    (te, time_h(&mut sum))
                } else {
                    let th = time_h(&mut sum);
                    (time_e(&mut sum), th)
                };
                e.push(te);
                h.push(th);
                r.push(te / th);
            }
            eprintln!(
                "n={n}: epochmap {:.2} ns/get, hashbrown {:.2} ns/get (medians of 300 rounds); \
                 epochmap / hashbrown: median of the rounds' ratios {:.3}",
                median(&mut e),
                median(&mut h),
                median(&mut r)
            );
        }
        "hashbrown-insert" => {
            let mut map = hashbrown::HashMap::with_hasher(hasher);
            let t = std::time::Instant::now();
            for &k in &keys {
                map.insert(k, k);
            }
            eprintln!("insert phase {:?}", t.elapsed());
            sum = map.len() as u64;
        }
        _ => {
            let mut map = hashbrown::HashMap::with_hasher(hasher);
            for &k in &keys {
                map.insert(k, k);
            }
            for _ in 0..rounds {
                for k in &keys {
                    sum = sum.wrapping_add(*map.get(black_box(k)).unwrap());
                }
            }
        }
    }
    println!("{sum}");
}

/// `keys` in a fixed pseudo-random order (xorshift Fisher-Yates).
fn shuffled(keys: &[u64]) -> Vec<u64> {
    let mut order = keys.to_vec();
    let mut x = 0x2545F4914F6CDD1Du64;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// ns per get of `passes` passes of `get` over `order`; adds the values to `sum`.
fn time_gets(get: impl Fn(&u64) -> u64, order: &[u64], passes: usize, sum: &mut u64) -> f64 {
    let t = std::time::Instant::now();
    for _ in 0..passes {
        for k in order {
            *sum = sum.wrapping_add(get(black_box(k)));
        }
    }
    t.elapsed().as_nanos() as f64 / (passes * order.len()) as f64
}

/// The upper median (the element at index `len / 2` once sorted).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

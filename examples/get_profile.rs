//! Instruction-count probe for the read path (run under callgrind):
//! `cargo build --release --example get_profile && valgrind --tool=callgrind target/release/examples/get_profile epochmap 1024`
//!
//! `get_profile ab 1024` times epochmap's and hashbrown's gets in alternation
//! in one process and prints the median ratio: on this noisy VM the steadiest
//! figure for the hot read path (docs/benchmarks.md).
use std::hint::black_box;

fn main() {
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

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
                    let t = std::time::Instant::now();
                    for k in &order {
                        sum = sum.wrapping_add(*m.get(black_box(k)).unwrap());
                    }
                    best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
                }
            } else {
                let mut map = hashbrown::HashMap::with_hasher(hasher);
                for &k in &keys {
                    map.insert(k, k);
                }
                for _ in 0..5 {
                    let t = std::time::Instant::now();
                    for k in &order {
                        sum = sum.wrapping_add(*map.get(black_box(k)).unwrap());
                    }
                    best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
                }
            }
            eprintln!("{which} n={n}: {best:.2} ns/get");
        }
        "ab" => {
            // The two maps' gets timed in alternation in one process, 300 rounds
            // of about 200,000 gets each: the ratio of each round is taken while
            // both run in the same mood of this virtual machine, whose speed
            // changes by up to 1.6x from one process or minute to the next.
            let order = shuffled(&keys);
            let em = epochmap::HashMap::with_hasher(hasher.clone());
            let m = em.pin();
            let mut hb = hashbrown::HashMap::with_hasher(hasher);
            for &k in &keys {
                m.insert(k, k);
                hb.insert(k, k);
            }
            let passes = (200_000 / n).max(1);
            let per_get =
                |t: std::time::Instant| t.elapsed().as_nanos() as f64 / (passes * n) as f64;
            let (mut e, mut h, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..300 {
                let t = std::time::Instant::now();
                for _ in 0..passes {
                    for k in &order {
                        sum = sum.wrapping_add(*m.get(black_box(k)).unwrap());
                    }
                }
                let te = per_get(t);
                let t = std::time::Instant::now();
                for _ in 0..passes {
                    for k in &order {
                        sum = sum.wrapping_add(*hb.get(black_box(k)).unwrap());
                    }
                }
                let th = per_get(t);
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

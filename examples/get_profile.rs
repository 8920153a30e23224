//! Instruction-count probe for the read path (run under callgrind):
//! `cargo build --release --example get_profile && valgrind --tool=callgrind target/release/examples/get_profile epochmap 1024`
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

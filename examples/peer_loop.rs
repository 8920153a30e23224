//! One workload's core loop on one map, single-threaded, for instruction
//! counts under callgrind (where the peers benches measure time).
//!
//! ```text
//! cargo build --profile bench --example peer_loop
//! valgrind --tool=callgrind --toggle-collect='*peer_loop::measured*' \
//!     target/release/examples/peer_loop epochmap read-heavy pinned 1000000
//! ```
//!
//! Arguments: a map name from `benches/maps/mod.rs` (`epochmap`, `papaya`,
//! `flurry`, `dashmap`, `scc`, `rwlock-hashbrown`), a workload (`read-heavy`,
//! `exchange`, `rapid-grow`), a mode (`pinned`, `per-op`) and a number of
//! operations. The setup (prefill to 75% of 2^20 keys for the steady
//! workloads) runs outside `measured`, so `--toggle-collect` counts only the
//! loop: the same operation mix and key stream as `benches/peers.rs` with
//! one thread.

#[path = "../benches/maps/mod.rs"]
mod maps;

use maps::{each_map, key, Map, Ops, Visit};
use std::hint::black_box;

const CAPACITY: u64 = 1 << 20;

struct Loop {
    map: String,
    mix: [u32; 4],
    steady: bool,
    pinned: bool,
    ops: u64,
    done: bool,
}

/// The operation mix, spread evenly over 100 slots (get, insert, remove, update).
fn schedule(mix: [u32; 4]) -> Vec<u8> {
    let mut slots: Vec<(u64, u8)> = Vec::new();
    for (op, &pct) in mix.iter().enumerate() {
        for i in 0..pct {
            // Interleave: slot position i * 100 / pct, ties broken by op.
            slots.push((u64::from(i) * 10_000 / u64::from(pct), op as u8));
        }
    }
    slots.sort_unstable();
    slots.into_iter().map(|s| s.1).collect()
}

/// The measured loop; `lo..hi` are the present keys of stream 0.
#[inline(never)]
fn measured(ops: &mut impl Ops<u64>, mix: &[u8], mut lo: u64, mut hi: u64, n: u64) -> u64 {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut sum = 0u64;
    let mut since_pin = 0;
    for i in 0..n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let present = lo + ((u128::from(rng) * u128::from((hi - lo).max(1))) >> 64) as u64;
        match mix[(i % mix.len() as u64) as usize] {
            0 => sum = sum.wrapping_add(ops.get(&key(0, present)).unwrap_or(0)),
            1 => {
                ops.insert(key(0, hi), hi);
                hi += 1;
            }
            2 => {
                if lo < hi {
                    sum += u64::from(ops.remove(&key(0, lo)));
                    lo += 1;
                }
            }
            _ => sum += u64::from(ops.update(&key(0, present))),
        }
        since_pin += 1;
        if since_pin == maps::REPIN_EVERY {
            since_pin = 0;
            ops.repin();
        }
    }
    sum
}

impl Visit<u64> for Loop {
    fn visit<M: Map<u64>>(&mut self) {
        if M::NAME != self.map {
            return;
        }
        self.done = true;
        let map = M::with_capacity(if self.steady { CAPACITY as usize } else { 0 });
        let filled = if self.steady { CAPACITY * 3 / 4 } else { 0 };
        for i in 0..filled {
            map.per_op().insert(key(0, i), i);
        }
        let mix = schedule(self.mix);
        let sum = if self.pinned {
            measured(&mut map.pinned(), &mix, 0, filled, self.ops)
        } else {
            measured(&mut map.per_op(), &mix, 0, filled, self.ops)
        };
        println!(
            "{} ops on {}: checksum {}",
            self.ops,
            M::NAME,
            black_box(sum)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [map, workload, mode, ops] = args.as_slice() else {
        eprintln!("usage: peer_loop MAP read-heavy|exchange|rapid-grow pinned|per-op OPS");
        std::process::exit(2);
    };
    let (mix, steady) = match workload.as_str() {
        "read-heavy" => ([98, 1, 1, 0], true),
        "exchange" => ([10, 40, 40, 10], true),
        "rapid-grow" => ([5, 80, 5, 10], false),
        other => panic!("unknown workload {other}"),
    };
    let mut l = Loop {
        map: map.clone(),
        mix,
        steady,
        pinned: mode == "pinned",
        ops: ops.parse().expect("a number of operations"),
        done: false,
    };
    each_map(&mut l);
    assert!(l.done, "unknown map {map}");
}

//! Random operation sequences against `std::collections::HashMap`, from the
//! smallest table, so that every run crosses many grows, shrinks and
//! same-size rebuilds, with good, degenerate and low-bit hashers.

use epochmap::HashMap;
use std::collections::HashMap as Model;
use std::hash::{BuildHasher, Hasher};

/// Sends every key to the same hash: one bucket region, maximal probing.
#[derive(Clone, Default)]
struct Constant;
struct ConstantHasher;
impl Hasher for ConstantHasher {
    fn finish(&self) -> u64 {
        0x1234_5678
    }
    fn write(&mut self, _: &[u8]) {}
}
impl BuildHasher for Constant {
    type Hasher = ConstantHasher;
    fn build_hasher(&self) -> ConstantHasher {
        ConstantHasher
    }
}

/// Keeps only the key's low bits: homes all collapse onto bucket 0.
#[derive(Clone, Default)]
struct LowBits;
struct LowBitsHasher(u64);
impl Hasher for LowBitsHasher {
    fn finish(&self) -> u64 {
        self.0 & 0xff
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
}
impl BuildHasher for LowBits {
    type Hasher = LowBitsHasher;
    fn build_hasher(&self) -> LowBitsHasher {
        LowBitsHasher(0)
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run<S: BuildHasher + Clone>(map: HashMap<u16, u32, S>, seed: u64, steps: u32, key_space: u64) {
    let mut model: Model<u16, u32> = Model::new();
    let mut rng = Rng(seed);
    for step in 0..steps {
        let x = rng.next();
        let k = (x % key_space) as u16;
        let m = map.pin();
        let what = (x >> 32) % 100;
        match what {
            0..=29 => assert_eq!(
                m.insert(k, step).copied(),
                model.insert(k, step),
                "insert {k} at {step}"
            ),
            30..=49 => assert_eq!(
                m.remove(&k).copied(),
                model.remove(&k),
                "remove {k} at {step}"
            ),
            50..=54 => {
                let got = m
                    .try_insert(k, step)
                    .copied()
                    .map_err(|e| (*e.current, e.not_inserted));
                let want = match model.get(&k) {
                    Some(v) => Err((*v, step)),
                    None => {
                        model.insert(k, step);
                        Ok(step)
                    }
                };
                assert_eq!(got, want, "try_insert {k} at {step}");
            }
            55..=59 => {
                let got = *m.get_or_insert_with(k, || step);
                assert_eq!(
                    got,
                    *model.entry(k).or_insert(step),
                    "get_or_insert_with {k}"
                );
            }
            60..=64 => {
                let got = m.update(&k, |v| v.wrapping_mul(3)).copied();
                let want = model.get_mut(&k).map(|v| {
                    *v = v.wrapping_mul(3);
                    *v
                });
                assert_eq!(got, want, "update {k} at {step}");
            }
            65..=69 => {
                let guess = if x & 1 == 0 {
                    model.get(&k).copied().unwrap_or(0)
                } else {
                    step
                };
                let got = m
                    .compare_exchange(&k, &guess, step)
                    .copied()
                    .map_err(|e| (e.current.copied(), e.new));
                let want = match model.get(&k).copied() {
                    Some(v) if v == guess => {
                        model.insert(k, step);
                        Ok(v)
                    }
                    other => Err((other, step)),
                };
                assert_eq!(got, want, "compare_exchange {k} at {step}");
            }
            70..=72 => {
                let got = m.remove_if(&k, |_, v| v % 2 == 0).map(|(k, v)| (*k, *v));
                let want = match model.get(&k).copied() {
                    Some(v) if v % 2 == 0 => model.remove(&k).map(|v| (k, v)),
                    _ => None,
                };
                assert_eq!(got, want, "remove_if {k} at {step}");
            }
            73 => {
                let bit = (x >> 8) & 3;
                m.retain(|k, _| (*k as u64) & 3 != bit);
                model.retain(|k, _| (*k as u64) & 3 != bit);
            }
            74 if x % 16 == 0 => {
                m.clear();
                model.clear();
            }
            75 => m.reserve((x % 500) as usize),
            76..=79 => assert_eq!(
                m.contains_key(&k),
                model.contains_key(&k),
                "contains_key {k}"
            ),
            _ => assert_eq!(
                m.get(&k).copied(),
                model.get(&k).copied(),
                "get {k} at {step}"
            ),
        }
        if step % 997 == 0 {
            assert_eq!(map.len(), model.len(), "len at {step}");
            let mut got: Vec<(u16, u32)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            got.sort_unstable();
            let mut want: Vec<(u16, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            want.sort_unstable();
            assert_eq!(got, want, "contents at {step}");
        }
    }
    assert_eq!(map.len(), model.len());
    let mut map = map;
    let audit = map.audit();
    assert!(audit.is_sound(), "{audit:?}");
    assert_eq!(audit.entries, model.len());
    let mut got: Vec<(u16, u32)> = map.pin().iter().map(|(k, v)| (*k, *v)).collect();
    got.sort_unstable();
    let mut want: Vec<(u16, u32)> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

fn fixed() -> ahash::RandomState {
    ahash::RandomState::with_seeds(7, 8, 9, 10)
}

#[test]
fn matches_std_with_ahash_default_tuning() {
    for seed in 1..=4 {
        run(HashMap::with_hasher(fixed()), seed, 60_000, 4_000);
    }
}

#[test]
fn matches_std_with_tiny_tables_and_one_bucket_chunks() {
    for seed in 1..=4 {
        run(
            HashMap::with_tuning(2, 1, 1, fixed()),
            seed * 31,
            60_000,
            3_000,
        );
    }
}

#[test]
fn matches_std_when_every_key_has_the_same_hash() {
    run(HashMap::with_tuning(2, 1, 1, Constant), 5, 20_000, 300);
    run(HashMap::with_hasher(Constant), 6, 20_000, 300);
}

#[test]
fn matches_std_with_a_hasher_that_keeps_only_low_bits() {
    run(HashMap::with_tuning(2, 1, 1, LowBits), 7, 30_000, 2_000);
    run(HashMap::with_hasher(LowBits), 8, 30_000, 2_000);
}

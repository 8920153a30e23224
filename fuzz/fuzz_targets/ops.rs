//! Differential fuzzing of `epochmap::HashMap` against `std::collections::HashMap`.
//!
//! One thread applies the input's operations to both maps and compares every
//! return value; after each `Iter` and at the end it also compares `len`, the
//! iterated entries (no key twice) and the keys and values iterators. Each
//! operation runs under a fresh pin, and `Reclaim` (and the end of the input)
//! drives the epoch forward so that wrongly retired nodes are freed while the
//! table can still reach them: AddressSanitizer turns that into a crash.
#![no_main]

use epochmap_fuzz::{fits, reclaim, sorted, Pred, Shape};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::collections::HashMap as Model;
use std::fmt;

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    ops: Vec<Op>,
}

/// Keys of single-key operations are `u8`, so that they repeat; ranges reach
/// beyond, up to 255 + 255.
#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u32),
    TryInsert(u8, u32),
    GetOrInsertWith(u8, u32),
    /// `update` with `v -> v * 31 + delta`.
    Update(u8, u8),
    CompareExchange(u8, Expect, u32),
    Remove(u8),
    RemoveIf(u8, Pred),
    Retain(Pred),
    Clear,
    /// `reserve(n % 1024)`.
    Reserve(u16),
    /// `try_reserve(n % 1024)`, must succeed.
    TryReserve(u16),
    /// `try_reserve(usize::MAX - n)`, must fail without allocating.
    TryReserveOverflow(u8),
    /// `begin_resize(1 << (log % 11))`: grows or shrinks now; skipped if
    /// the entries present would fill the table more than half.
    BeginResize(u8),
    Get(u8),
    GetKeyValue(u8),
    ContainsKey(u8),
    Len,
    Iter,
    /// `insert(k, value)` for `k` in `start..start + count`.
    InsertRange {
        start: u8,
        count: u8,
        value: u32,
    },
    /// `remove(k)` for `k` in `start..start + count`.
    RemoveRange {
        start: u8,
        count: u8,
    },
    /// `clone()`, then the clone must equal the map and the model.
    Clone,
    Reclaim,
}

/// The `current` argument of `compare_exchange`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Expect {
    /// The value the model holds (so the exchange succeeds if the key is present).
    Current,
    /// A given value.
    Value(u32),
}

fn updated(v: u32, delta: u8) -> u32 {
    v.wrapping_mul(31).wrapping_add(u32::from(delta))
}

fn range(start: u8, count: u8) -> impl Iterator<Item = u16> {
    let start = u16::from(start);
    start..start + u16::from(count)
}

/// Calls of `reserve(n)` after which the capacity must be `len + n`: one,
/// as documented. (While a resize was in flight `reserve` used to only help
/// it along; see `tests/fuzz_regressions.rs`. Raise this to check only that
/// repeated calls get there.)
const RESERVE_CALLS: usize = 1;

/// Where a check failed: the operation's index and the operation, formatted
/// only if the check fails.
struct At<'a>(usize, &'a Op);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} {:?}", self.0, self.1)
    }
}

type Map = epochmap::HashMap<u16, u32, epochmap_fuzz::FuzzState>;

fn check_contents(map: &Map, model: &Model<u16, u32>, at: &dyn fmt::Display) {
    let m = map.pin();
    let seen: Vec<(u16, u32)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    let seen = sorted(seen);
    let mut keys: Vec<u16> = seen.iter().map(|e| e.0).collect();
    keys.dedup();
    assert_eq!(
        keys.len(),
        seen.len(),
        "{at}: iter yielded a key twice: {seen:?}"
    );
    assert_eq!(
        seen,
        sorted(model.iter().map(|(k, v)| (*k, *v))),
        "{at}: iter"
    );
    let mut ks: Vec<u16> = m.keys().copied().collect();
    ks.sort_unstable();
    assert_eq!(ks, keys, "{at}: keys");
    let mut vs: Vec<u32> = m.values().copied().collect();
    vs.sort_unstable();
    let mut model_vs: Vec<u32> = model.values().copied().collect();
    model_vs.sort_unstable();
    assert_eq!(vs, model_vs, "{at}: values");
    assert_eq!(m.len(), model.len(), "{at}: len");
    assert_eq!(m.is_empty(), model.is_empty(), "{at}: is_empty");
}

fn run(input: Input) {
    let map: Map = input.shape.map();
    let mut model: Model<u16, u32> = Model::new();
    for (i, op) in input.ops.iter().enumerate() {
        let at = At(i, op);
        let m = map.pin();
        match *op {
            Op::Insert(k, v) => {
                let k = u16::from(k);
                assert_eq!(m.insert(k, v).copied(), model.insert(k, v), "{at}");
            }
            Op::TryInsert(k, v) => {
                let k = u16::from(k);
                match (m.try_insert(k, v), model.get(&k)) {
                    (Ok(now), None) => {
                        assert_eq!(*now, v, "{at}");
                        model.insert(k, v);
                    }
                    (Err(e), Some(old)) => {
                        assert_eq!((*e.current, e.not_inserted), (*old, v), "{at}")
                    }
                    (got, want) => panic!("{at}: got {got:?}, model holds {want:?}"),
                }
            }
            Op::GetOrInsertWith(k, v) => {
                let k = u16::from(k);
                let absent = !model.contains_key(&k);
                let made = Cell::new(false);
                let got = *m.get_or_insert_with(k, || {
                    made.set(true);
                    v
                });
                let want = *model.entry(k).or_insert(v);
                assert_eq!(got, want, "{at}");
                assert_eq!(made.get(), absent, "{at}: make ran {}", made.get());
            }
            Op::Update(k, delta) => {
                let k = u16::from(k);
                let calls = Cell::new(0u32);
                let got = m
                    .update(&k, |v| {
                        calls.set(calls.get() + 1);
                        updated(*v, delta)
                    })
                    .copied();
                let want = model.get_mut(&k).map(|v| {
                    *v = updated(*v, delta);
                    *v
                });
                assert_eq!(got, want, "{at}");
                assert_eq!(
                    calls.get() == 0,
                    want.is_none(),
                    "{at}: update ran f {} times",
                    calls.get()
                );
            }
            Op::CompareExchange(k, expect, new) => {
                let k = u16::from(k);
                let current = match expect {
                    Expect::Current => model.get(&k).copied().unwrap_or(0),
                    Expect::Value(v) => v,
                };
                let got = m
                    .compare_exchange(&k, &current, new)
                    .copied()
                    .map_err(|e| (e.current.copied(), e.new));
                let want = match model.get(&k).copied() {
                    Some(old) if old == current => {
                        model.insert(k, new);
                        Ok(old)
                    }
                    other => Err((other, new)),
                };
                assert_eq!(got, want, "{at}");
            }
            Op::Remove(k) => {
                let k = u16::from(k);
                assert_eq!(m.remove(&k).copied(), model.remove(&k), "{at}");
            }
            Op::RemoveIf(k, pred) => {
                let k = u16::from(k);
                let got = m
                    .remove_if(&k, |k, v| pred.holds(*k, *v))
                    .map(|(k, v)| (*k, *v));
                let want = match model.get(&k) {
                    Some(&v) if pred.holds(k, v) => model.remove_entry(&k),
                    _ => None,
                };
                assert_eq!(got, want, "{at}");
            }
            Op::Retain(pred) => {
                let mut judged = Vec::new();
                m.retain(|k, v| {
                    judged.push((*k, *v));
                    pred.holds(*k, *v)
                });
                // Sequentially every entry is present for the whole call, so
                // each must be judged exactly once, with its value.
                assert_eq!(
                    sorted(judged),
                    sorted(model.iter().map(|(k, v)| (*k, *v))),
                    "{at}: judged"
                );
                model.retain(|k, v| pred.holds(*k, *v));
            }
            Op::Clear => {
                m.clear();
                model.clear();
                assert_eq!(m.len(), 0, "{at}");
                assert_eq!(m.iter().count(), 0, "{at}");
            }
            Op::Reserve(n) => {
                let n = usize::from(n % 1024);
                let calls = (1..=RESERVE_CALLS).find(|_| {
                    m.reserve(n);
                    m.capacity() >= model.len() + n
                });
                assert!(
                    calls.is_some(),
                    "{at}: capacity {} after reserve",
                    m.capacity()
                );
            }
            Op::TryReserve(n) => {
                let n = usize::from(n % 1024);
                let calls = (1..=RESERVE_CALLS).find(|_| {
                    assert_eq!(m.try_reserve(n), Ok(()), "{at}");
                    m.capacity() >= model.len() + n
                });
                assert!(
                    calls.is_some(),
                    "{at}: capacity {} after try_reserve",
                    m.capacity()
                );
            }
            Op::TryReserveOverflow(n) => {
                let err = m.try_reserve(usize::MAX - usize::from(n));
                assert_eq!(
                    err,
                    Err(epochmap::TryReserveError::CapacityOverflow),
                    "{at}"
                );
            }
            Op::BeginResize(log) => {
                let buckets = 1usize << (log % 11);
                if fits(buckets, model.len()) {
                    map.begin_resize(buckets, m.guard());
                }
            }
            Op::Get(k) => {
                let k = u16::from(k);
                assert_eq!(m.get(&k), model.get(&k), "{at}");
            }
            Op::GetKeyValue(k) => {
                let k = u16::from(k);
                assert_eq!(m.get_key_value(&k), model.get_key_value(&k), "{at}");
            }
            Op::ContainsKey(k) => {
                let k = u16::from(k);
                assert_eq!(m.contains_key(&k), model.contains_key(&k), "{at}");
            }
            Op::Len => assert_eq!(m.len(), model.len(), "{at}"),
            Op::Iter => check_contents(&map, &model, &at),
            Op::InsertRange {
                start,
                count,
                value,
            } => {
                for k in range(start, count) {
                    assert_eq!(
                        m.insert(k, value).copied(),
                        model.insert(k, value),
                        "{at}: key {k}"
                    );
                }
            }
            Op::RemoveRange { start, count } => {
                for k in range(start, count) {
                    assert_eq!(m.remove(&k).copied(), model.remove(&k), "{at}: key {k}");
                }
            }
            Op::Clone => {
                let copy = map.clone();
                assert!(copy == map, "{at}: clone differs from the original");
                check_contents(&copy, &model, &at);
            }
            Op::Reclaim => {
                drop(m);
                reclaim();
            }
        }
    }
    check_contents(&map, &model, &"end");
    drop(map);
    reclaim();
}

fuzz_target!(|input: Input| run(input));

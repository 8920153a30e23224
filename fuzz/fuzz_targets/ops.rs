//! Differential fuzzing of `epochmap::HashMap` against `std::collections::HashMap`.
//!
//! One thread applies the input's operations to both maps and compares every
//! return value; after each `Iter` and at the end it also compares `len`, the
//! iterated entries (no key twice) and the keys and values iterators. Each
//! operation runs under a fresh pin, and `Reclaim` (and the end of the input)
//! drives the epoch forward so that wrongly retired nodes are freed while the
//! table can still reach them: AddressSanitizer turns that into a crash.
//! The exclusive operations (`get_mut`, `iter_mut`, `drain`, `shrink_to_fit`)
//! drop the pin first: they take `&mut map`.
#![no_main]

use epochmap::{Compute, Operation, Stats};
use epochmap_fuzz::{
    check_capacity, check_reserve, check_shrunk, check_stats, fits, reclaim, sorted, HasherChoice,
    Lookup, Pred, Shape,
};
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
    /// `compute(key, f)`; `f` returns `absent` if it is shown no entry and
    /// `present` otherwise, and must be shown the model's entry, once.
    Compute {
        key: u8,
        absent: Step,
        present: Step,
    },
    /// `update_or_insert_with(k, v -> v * 31 + delta, || value)`.
    UpdateOrInsertWith(u8, u8, u32),
    GetCloned(u8),
    /// `read(k, |k, v| (*k, *v))`.
    Read(u8),
    /// `get`, `get_key_value`, `contains_key`, `get_cloned` and `read` with
    /// an `Equivalent` query ([`Lookup`]); with `true`, one that hashes as
    /// the key but matches nothing.
    GetEquivalent(u8, bool),
    /// `remove` with an `Equivalent` query, as in `GetEquivalent`.
    RemoveEquivalent(u8, bool),
    /// `get_mut(k)`, then `v -> v * 31 + delta` through the reference.
    GetMut(u8, u8),
    /// `iter_mut()`, or `&mut map` as `IntoIterator` if `by_ref`: every entry
    /// once, with its value; where `pred` holds, `v -> v * 31 + delta`
    /// through the reference.
    IterMut {
        pred: Pred,
        delta: u8,
        by_ref: bool,
    },
    /// `drain()`, taking every entry or only the first `n` (the rest is
    /// dropped with the iterator); then the map is empty and its capacity
    /// unchanged.
    Drain(Option<u8>),
    /// `clone().into_iter()`, taking every entry or only the first `n`.
    IntoIter(Option<u8>),
    /// `shrink_to_fit()`: same entries, in the smallest table that holds
    /// them, with no resize in flight (`check_shrunk`).
    ShrinkToFit,
    /// `capacity()`, through the map and the pinned handle, checked by
    /// `check_capacity`.
    Capacity,
    /// `stats()`, checked by `check_stats` against the model's `len` and the
    /// snapshot of the previous `Stats` (counters never go down).
    Stats,
    /// `==` (both ways) with a map of the model's entries built with
    /// `hasher`, after `tweak` is applied to that map and to a copy of the
    /// model: equal exactly when the models are.
    Eq {
        hasher: HasherChoice,
        tweak: Tweak,
    },
}

/// What the `compute` closure returns.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Step {
    /// `Operation::Insert(value)`.
    Insert(u32),
    /// `Operation::Insert(v * 31 + delta)` of the value shown (of 0 if none).
    Bump(u8),
    /// `Operation::Remove`.
    Remove,
    /// `Operation::Abort(t)`.
    Abort(u8),
}

impl Step {
    /// The operation for an entry with value `shown`, or for no entry.
    fn operation(self, shown: Option<u32>) -> Operation<u32, u8> {
        match self {
            Step::Insert(v) => Operation::Insert(v),
            Step::Bump(delta) => Operation::Insert(updated(shown.unwrap_or(0), delta)),
            Step::Remove => Operation::Remove,
            Step::Abort(t) => Operation::Abort(t),
        }
    }
}

/// A change to the other side of an `Eq`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Tweak {
    None,
    Insert(u8, u32),
    Remove(u8),
}

/// A `Compute` result without its references, for comparing.
#[derive(Debug, PartialEq)]
enum Outcome {
    Inserted(u16, u32),
    Updated { old: (u16, u32), new: (u16, u32) },
    Removed(u16, u32),
    Absent,
    Aborted(u8),
}

impl From<Compute<'_, u16, u32, u8>> for Outcome {
    fn from(c: Compute<'_, u16, u32, u8>) -> Outcome {
        match c {
            Compute::Inserted(k, v) => Outcome::Inserted(*k, *v),
            Compute::Updated { old, new } => Outcome::Updated {
                old: (*old.0, *old.1),
                new: (*new.0, *new.1),
            },
            Compute::Removed(k, v) => Outcome::Removed(*k, *v),
            Compute::Absent => Outcome::Absent,
            Compute::Aborted(t) => Outcome::Aborted(t),
        }
    }
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

/// Where a check failed: the operation's index and the operation, formatted
/// only if the check fails.
struct At<'a>(usize, &'a Op);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} {:?}", self.0, self.1)
    }
}

type Map = epochmap::HashMap<u16, u32, epochmap_fuzz::FuzzState>;

/// Checks entries taken out of the map (by `drain` or `into_iter`, maybe
/// not all of them): no key twice, each with the model's value.
fn check_taken(taken: &[(u16, u32)], model: &Model<u16, u32>, at: &dyn fmt::Display) {
    let taken = sorted(taken.iter().copied());
    let mut keys: Vec<u16> = taken.iter().map(|e| e.0).collect();
    keys.dedup();
    assert_eq!(
        keys.len(),
        taken.len(),
        "{at}: a key taken twice: {taken:?}"
    );
    for &(k, v) in &taken {
        assert_eq!(model.get(&k), Some(&v), "{at}: took ({k}, {v})");
    }
}

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
    let mut map: Map = input.shape.map();
    let mut model: Model<u16, u32> = Model::new();
    // The last `stats()` taken, for `check_stats`.
    let mut last: Option<Stats> = None;
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
                check_reserve(&at, "reserve", model.len(), n, || {
                    m.reserve(n);
                    m.capacity()
                });
            }
            Op::TryReserve(n) => {
                let n = usize::from(n % 1024);
                check_reserve(&at, "try_reserve", model.len(), n, || {
                    assert_eq!(m.try_reserve(n), Ok(()), "{at}");
                    m.capacity()
                });
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
            Op::Compute {
                key,
                absent,
                present,
            } => {
                let k = u16::from(key);
                let old = model.get(&k).copied();
                let mut shown = Vec::new();
                let got = m.compute(k, |e| {
                    shown.push(e.map(|(k, v)| (*k, *v)));
                    match e {
                        None => absent.operation(None),
                        Some((_, v)) => present.operation(Some(*v)),
                    }
                });
                // No other writer: `f` runs once, on the entry the model holds.
                assert_eq!(shown, [old.map(|v| (k, v))], "{at}: f was shown");
                let step = if old.is_some() { present } else { absent };
                let want = match (step.operation(old), old) {
                    (Operation::Insert(n), None) => Outcome::Inserted(k, n),
                    (Operation::Insert(n), Some(o)) => Outcome::Updated {
                        old: (k, o),
                        new: (k, n),
                    },
                    (Operation::Remove, None) => Outcome::Absent,
                    (Operation::Remove, Some(o)) => Outcome::Removed(k, o),
                    (Operation::Abort(t), _) => Outcome::Aborted(t),
                };
                let (old_value, new_value) = match want {
                    Outcome::Inserted(_, n) => (None, Some(n)),
                    Outcome::Updated { old, new } => (Some(old.1), Some(new.1)),
                    Outcome::Removed(_, o) => (Some(o), None),
                    Outcome::Absent | Outcome::Aborted(_) => (None, None),
                };
                assert_eq!(
                    (got.old_value().copied(), got.new_value().copied()),
                    (old_value, new_value),
                    "{at}: old_value, new_value of {got:?}"
                );
                assert_eq!(Outcome::from(got), want, "{at}");
                match want {
                    Outcome::Inserted(_, n) | Outcome::Updated { new: (_, n), .. } => {
                        model.insert(k, n);
                    }
                    Outcome::Removed(..) => {
                        model.remove(&k);
                    }
                    Outcome::Absent | Outcome::Aborted(_) => {}
                }
                assert_eq!(m.get(&k), model.get(&k), "{at}: afterwards");
            }
            Op::UpdateOrInsertWith(k, delta, value) => {
                let k = u16::from(k);
                let (updates, inserts) = (Cell::new(0u32), Cell::new(0u32));
                let got = *m.update_or_insert_with(
                    k,
                    |v| {
                        updates.set(updates.get() + 1);
                        updated(*v, delta)
                    },
                    || {
                        inserts.set(inserts.get() + 1);
                        value
                    },
                );
                let (want, calls) = match model.get_mut(&k) {
                    Some(v) => {
                        *v = updated(*v, delta);
                        (*v, (1, 0))
                    }
                    None => {
                        model.insert(k, value);
                        (value, (0, 1))
                    }
                };
                assert_eq!(got, want, "{at}");
                assert_eq!(
                    (updates.get(), inserts.get()),
                    calls,
                    "{at}: update, insert ran"
                );
            }
            Op::GetCloned(k) => {
                let k = u16::from(k);
                assert_eq!(map.get_cloned(&k), model.get(&k).copied(), "{at}");
            }
            Op::Read(k) => {
                let k = u16::from(k);
                assert_eq!(
                    map.read(&k, |k, v| (*k, *v)),
                    model.get_key_value(&k).map(|(k, v)| (*k, *v)),
                    "{at}"
                );
            }
            Op::GetEquivalent(k, high) => {
                let q = Lookup::new(k, high);
                let want = q.key().and_then(|k| model.get_key_value(&k));
                assert_eq!(m.get(&q), want.map(|e| e.1), "{at}: get");
                assert_eq!(m.get_key_value(&q), want, "{at}: get_key_value");
                assert_eq!(m.contains_key(&q), want.is_some(), "{at}: contains_key");
                let want = want.map(|(k, v)| (*k, *v));
                assert_eq!(map.get_cloned(&q), want.map(|e| e.1), "{at}: get_cloned");
                assert_eq!(map.read(&q, |k, v| (*k, *v)), want, "{at}: read");
            }
            Op::RemoveEquivalent(k, high) => {
                let q = Lookup::new(k, high);
                let want = q.key().and_then(|k| model.remove(&k));
                assert_eq!(m.remove(&q).copied(), want, "{at}");
            }
            Op::GetMut(k, delta) => {
                drop(m);
                let k = u16::from(k);
                let got = map.get_mut(&k).map(|v| {
                    *v = updated(*v, delta);
                    *v
                });
                let want = model.get_mut(&k).map(|v| {
                    *v = updated(*v, delta);
                    *v
                });
                assert_eq!(got, want, "{at}");
                assert_eq!(map.pin().get(&k), model.get(&k), "{at}: afterwards");
            }
            Op::IterMut {
                pred,
                delta,
                by_ref,
            } => {
                drop(m);
                let it = if by_ref {
                    (&mut map).into_iter()
                } else {
                    map.iter_mut()
                };
                assert_eq!(it.len(), model.len(), "{at}: len of the iterator");
                let mut seen = Vec::new();
                for (k, v) in it {
                    seen.push((*k, *v));
                    if pred.holds(*k, *v) {
                        *v = updated(*v, delta);
                    }
                }
                let seen = sorted(seen);
                let mut keys: Vec<u16> = seen.iter().map(|e| e.0).collect();
                keys.dedup();
                assert_eq!(keys.len(), seen.len(), "{at}: a key twice: {seen:?}");
                assert_eq!(seen, sorted(model.iter().map(|(k, v)| (*k, *v))), "{at}");
                for (k, v) in model.iter_mut() {
                    if pred.holds(*k, *v) {
                        *v = updated(*v, delta);
                    }
                }
                check_contents(&map, &model, &at);
            }
            Op::Drain(n) => {
                drop(m);
                let capacity = map.capacity();
                let mut drain = map.drain();
                assert_eq!(drain.len(), model.len(), "{at}: len of the iterator");
                let taken: Vec<(u16, u32)> = drain
                    .by_ref()
                    .take(n.map_or(usize::MAX, usize::from))
                    .collect();
                assert_eq!(drain.len(), model.len() - taken.len(), "{at}: left");
                drop(drain);
                check_taken(&taken, &model, &at);
                if n.is_none() {
                    assert_eq!(taken.len(), model.len(), "{at}: drained");
                }
                model.clear();
                assert_eq!(map.capacity(), capacity, "{at}: capacity changed");
                check_contents(&map, &model, &at);
            }
            Op::IntoIter(n) => {
                let mut it = map.clone().into_iter();
                assert_eq!(it.len(), model.len(), "{at}: len of the iterator");
                let taken: Vec<(u16, u32)> = it
                    .by_ref()
                    .take(n.map_or(usize::MAX, usize::from))
                    .collect();
                assert_eq!(it.len(), model.len() - taken.len(), "{at}: left");
                drop(it);
                check_taken(&taken, &model, &at);
                if n.is_none() {
                    assert_eq!(taken.len(), model.len(), "{at}: into_iter");
                }
            }
            Op::ShrinkToFit => {
                drop(m);
                map.shrink_to_fit();
                let s = map.stats();
                check_stats(&s, model.len(), map.capacity(), last.as_ref(), &at);
                check_shrunk(&s, model.len(), input.shape.min_buckets(), &at);
                last = Some(s);
                check_contents(&map, &model, &at);
            }
            Op::Capacity => {
                let c = m.capacity();
                assert_eq!(c, map.capacity(), "{at}");
                check_capacity(c, model.len(), &at);
            }
            Op::Stats => {
                let s = map.stats();
                check_stats(&s, model.len(), m.capacity(), last.as_ref(), &at);
                last = Some(s);
            }
            Op::Eq { hasher, tweak } => {
                let other: Map = epochmap::HashMap::with_capacity_and_hasher(
                    0,
                    epochmap_fuzz::FuzzState(hasher),
                );
                let o = other.pin();
                for (k, v) in &model {
                    o.insert(*k, *v);
                }
                let mut other_model = model.clone();
                match tweak {
                    Tweak::None => {}
                    Tweak::Insert(k, v) => {
                        let k = u16::from(k);
                        assert_eq!(o.insert(k, v).copied(), other_model.insert(k, v), "{at}");
                    }
                    Tweak::Remove(k) => {
                        let k = u16::from(k);
                        assert_eq!(o.remove(&k).copied(), other_model.remove(&k), "{at}");
                    }
                }
                drop(o);
                let want = model == other_model;
                assert_eq!(map == other, want, "{at}: map == other");
                assert_eq!(other == map, want, "{at}: other == map");
            }
        }
    }
    check_contents(&map, &model, &"end");
    // No operation is in flight: no claim left, no node in two slots, no key
    // twice, no slot under a wrong tag (`HashMap::audit`).
    let audit = map.audit();
    assert!(audit.is_sound(), "end: {audit:?}");
    assert_eq!(audit.entries, model.len(), "end: entries in the audit");
    drop(map);
    reclaim();
}

fuzz_target!(|input: Input| run(input));

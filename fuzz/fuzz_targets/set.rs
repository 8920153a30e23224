//! Differential fuzzing of `epochmap::HashSet` against `std::collections::HashSet`.
//!
//! The same idea as `ops`: every return value is compared with the model,
//! and after each `Iter` and at the end, `len` and the iterated keys.
//! `HashSet` has no tuning constructor, so the input chooses the hasher and
//! the initial capacity; `Reserve` and the range operations make it grow and
//! shrink.
#![no_main]

use epochmap::Stats;
use epochmap_fuzz::{
    check_capacity, check_reserve, check_shrunk, check_stats, reclaim, FuzzState, HasherChoice,
    Lookup, Shape,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet as Model;
use std::fmt;

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8),
    Contains(u8),
    Get(u8),
    Remove(u8),
    /// `retain(|k| k % modulus != rest)`, with `modulus = 1 + m % 8`.
    Retain {
        modulus: u8,
        rest: u8,
    },
    Clear,
    /// `reserve(n % 1024)`.
    Reserve(u16),
    Len,
    Iter,
    /// Inserts `start..start + count`, with the guard-taking API.
    InsertRange {
        start: u8,
        count: u8,
    },
    /// Removes `start..start + count`, with the guard-taking API.
    RemoveRange {
        start: u8,
        count: u8,
    },
    /// `extend` with `start..start + count`.
    Extend {
        start: u8,
        count: u8,
    },
    /// `clone()`, then the clone must equal the set and the model.
    Clone,
    Reclaim,
    /// `contains` and `get`, pinned and with a guard, with an `Equivalent`
    /// query ([`Lookup`]); with `true`, one that hashes as the key but
    /// matches nothing.
    GetEquivalent(u8, bool),
    /// `remove` with an `Equivalent` query, as in `GetEquivalent`.
    RemoveEquivalent(u8, bool),
    /// `drain()`, taking every key or only the first `n` (the rest is
    /// dropped with the iterator); then the set is empty and its capacity
    /// unchanged.
    Drain(Option<u8>),
    /// `clone().into_iter()`, taking every key or only the first `n`.
    IntoIter(Option<u8>),
    /// `shrink_to_fit()`: same keys, in the smallest table that holds
    /// them, with no resize in flight (`check_shrunk`).
    ShrinkToFit,
    /// `capacity()`, checked by `check_capacity`.
    Capacity,
    /// `stats()`, checked by `check_stats` against the model's `len` and the
    /// snapshot of the previous `Stats` (counters never go down).
    Stats,
    /// `==` (both ways) with a set of the model's keys built with `hasher`,
    /// after `tweak` is applied to that set and to a copy of the model:
    /// equal exactly when the models are.
    Eq {
        hasher: HasherChoice,
        tweak: Tweak,
    },
    /// `try_reserve(n % 1024)` on the pinned handle, must succeed.
    TryReserve(u16),
    /// `try_reserve(usize::MAX - n)` with a guard, must fail without
    /// allocating.
    TryReserveOverflow(u8),
}

/// A change to the other side of an `Eq`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Tweak {
    None,
    Insert(u8),
    Remove(u8),
}

/// Where a check failed: the operation's index and the operation, formatted
/// only if the check fails.
struct At<'a>(usize, &'a Op);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} {:?}", self.0, self.1)
    }
}

type Set = epochmap::HashSet<u16, FuzzState>;

fn range(start: u8, count: u8) -> impl Iterator<Item = u16> {
    let start = u16::from(start);
    start..start + u16::from(count)
}

/// Checks keys taken out of the set (by `drain` or `into_iter`, maybe not
/// all of them): no key twice, each in the model.
fn check_taken(taken: &[u16], model: &Model<u16>, at: &dyn fmt::Display) {
    let mut keys = taken.to_vec();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        taken.len(),
        "{at}: a key taken twice: {taken:?}"
    );
    for k in &keys {
        assert!(model.contains(k), "{at}: took {k}");
    }
}

fn check_contents(set: &Set, model: &Model<u16>, at: &dyn fmt::Display) {
    let s = set.pin();
    let mut seen: Vec<u16> = s.iter().copied().collect();
    seen.sort_unstable();
    let n = seen.len();
    seen.dedup();
    assert_eq!(n, seen.len(), "{at}: iter yielded a key twice");
    let mut want: Vec<u16> = model.iter().copied().collect();
    want.sort_unstable();
    assert_eq!(seen, want, "{at}: iter");
    assert_eq!(s.len(), model.len(), "{at}: len");
    assert_eq!(set.is_empty(), model.is_empty(), "{at}: is_empty");
}

fn run(input: Input) {
    let mut set: Set =
        epochmap::HashSet::with_capacity_and_hasher(input.shape.capacity(), input.shape.state());
    let mut model: Model<u16> = Model::new();
    // The last `stats()` taken, for `check_stats`.
    let mut last: Option<Stats> = None;
    for (i, op) in input.ops.iter().enumerate() {
        let at = At(i, op);
        let s = set.pin();
        match *op {
            Op::Insert(k) => assert_eq!(s.insert(u16::from(k)), model.insert(u16::from(k)), "{at}"),
            Op::Contains(k) => assert_eq!(
                s.contains(&u16::from(k)),
                model.contains(&u16::from(k)),
                "{at}"
            ),
            Op::Get(k) => assert_eq!(s.get(&u16::from(k)), model.get(&u16::from(k)), "{at}"),
            Op::Remove(k) => {
                assert_eq!(s.remove(&u16::from(k)), model.remove(&u16::from(k)), "{at}")
            }
            Op::Retain { modulus, rest } => {
                let m = u16::from(1 + modulus % 8);
                let rest = u16::from(rest) % m;
                let mut judged = Vec::new();
                s.retain(|k| {
                    judged.push(*k);
                    k % m != rest
                });
                judged.sort_unstable();
                let mut want: Vec<u16> = model.iter().copied().collect();
                want.sort_unstable();
                assert_eq!(judged, want, "{at}: judged");
                model.retain(|k| k % m != rest);
            }
            Op::Clear => {
                s.clear();
                model.clear();
                assert!(s.is_empty(), "{at}");
            }
            Op::TryReserve(n) => {
                let n = usize::from(n % 1024);
                check_reserve(&at, "try_reserve", model.len(), n, || {
                    assert_eq!(s.try_reserve(n), Ok(()), "{at}");
                    s.capacity()
                });
            }
            Op::TryReserveOverflow(n) => {
                let err = set.try_reserve(usize::MAX - usize::from(n), &set.guard());
                assert_eq!(
                    err,
                    Err(epochmap::TryReserveError::CapacityOverflow),
                    "{at}"
                );
            }
            Op::Reserve(n) => {
                let n = usize::from(n % 1024);
                check_reserve(&at, "reserve", model.len(), n, || {
                    set.reserve(n, &set.guard());
                    set.capacity()
                });
            }
            Op::Len => assert_eq!(s.len(), model.len(), "{at}"),
            Op::Iter => {
                drop(s);
                check_contents(&set, &model, &at);
            }
            Op::InsertRange { start, count } => {
                let g = set.guard();
                for k in range(start, count) {
                    assert_eq!(set.insert(k, &g), model.insert(k), "{at}: key {k}");
                }
            }
            Op::RemoveRange { start, count } => {
                let g = set.guard();
                for k in range(start, count) {
                    assert_eq!(set.remove(&k, &g), model.remove(&k), "{at}: key {k}");
                }
            }
            Op::Extend { start, count } => {
                drop(s);
                set.extend(range(start, count));
                model.extend(range(start, count));
            }
            Op::Clone => {
                drop(s);
                let copy = set.clone();
                assert!(copy == set, "{at}: clone differs from the original");
                check_contents(&copy, &model, &at);
            }
            Op::Reclaim => {
                drop(s);
                reclaim();
            }
            Op::GetEquivalent(k, high) => {
                let q = Lookup::new(k, high);
                let want = q.key().and_then(|k| model.get(&k));
                assert_eq!(s.contains(&q), want.is_some(), "{at}: contains");
                assert_eq!(s.get(&q), want, "{at}: get");
                let g = set.guard();
                assert_eq!(set.contains(&q, &g), want.is_some(), "{at}: contains");
                assert_eq!(set.get(&q, &g), want, "{at}: get");
            }
            Op::RemoveEquivalent(k, high) => {
                let q = Lookup::new(k, high);
                let want = q.key().is_some_and(|k| model.remove(&k));
                assert_eq!(s.remove(&q), want, "{at}");
            }
            Op::Drain(n) => {
                drop(s);
                let capacity = set.capacity();
                let mut drain = set.drain();
                assert_eq!(drain.len(), model.len(), "{at}: len of the drain");
                let taken: Vec<u16> = drain
                    .by_ref()
                    .take(n.map_or(usize::MAX, usize::from))
                    .collect();
                assert_eq!(
                    drain.len(),
                    model.len() - taken.len(),
                    "{at}: len of the drain after {} keys",
                    taken.len()
                );
                drop(drain);
                check_taken(&taken, &model, &at);
                if n.is_none() {
                    assert_eq!(taken.len(), model.len(), "{at}: drained");
                }
                model.clear();
                assert_eq!(set.capacity(), capacity, "{at}: capacity changed");
                check_contents(&set, &model, &at);
            }
            Op::IntoIter(n) => {
                let mut it = set.clone().into_iter();
                assert_eq!(it.len(), model.len(), "{at}: len of the iterator");
                let taken: Vec<u16> = it
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
                drop(s);
                set.shrink_to_fit();
                let st = set.stats();
                check_stats(&st, model.len(), set.capacity(), last.as_ref(), &at);
                check_shrunk(&st, model.len(), 2, &at);
                last = Some(st);
                check_contents(&set, &model, &at);
            }
            Op::Capacity => check_capacity(set.capacity(), model.len(), &at),
            Op::Stats => {
                let st = set.stats();
                check_stats(&st, model.len(), set.capacity(), last.as_ref(), &at);
                last = Some(st);
            }
            Op::Eq { hasher, tweak } => {
                let other: Set = epochmap::HashSet::with_capacity_and_hasher(0, FuzzState(hasher));
                let o = other.pin();
                for k in &model {
                    o.insert(*k);
                }
                let mut other_model = model.clone();
                match tweak {
                    Tweak::None => {}
                    Tweak::Insert(k) => {
                        let k = u16::from(k);
                        assert_eq!(o.insert(k), other_model.insert(k), "{at}");
                    }
                    Tweak::Remove(k) => {
                        let k = u16::from(k);
                        assert_eq!(o.remove(&k), other_model.remove(&k), "{at}");
                    }
                }
                drop(o);
                let want = model == other_model;
                assert_eq!(set == other, want, "{at}: set == other");
                assert_eq!(other == set, want, "{at}: other == set");
            }
        }
    }
    check_contents(&set, &model, &"end");
    // No operation is in flight: no claim left, no node in two slots, no key
    // twice, no slot under a wrong tag (`HashMap::audit`).
    let audit = set.audit();
    assert!(audit.is_sound(), "end: {audit:?}");
    assert_eq!(audit.entries, model.len(), "end: entries in the audit");
    drop(set);
    reclaim();
}

fuzz_target!(|input: Input| run(input));

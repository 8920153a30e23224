//! Differential fuzzing of `epochmap::HashSet` against `std::collections::HashSet`.
//!
//! The same idea as `ops`: every return value is compared with the model,
//! and after each `Iter` and at the end, `len` and the iterated keys.
//! `HashSet` has no tuning constructor, so the input chooses the hasher and
//! the initial capacity; `Reserve` and the range operations make it grow and
//! shrink.
#![no_main]

use epochmap_fuzz::{reclaim, FuzzState, Shape};
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
            Op::Reserve(n) => {
                let n = usize::from(n % 1024);
                // One call should do; see `RESERVE_CALLS` in `ops.rs`.
                let calls = (1..=2048).find(|_| {
                    set.reserve(n, &set.guard());
                    set.capacity() >= model.len() + n
                });
                assert!(
                    calls.is_some(),
                    "{at}: capacity {} after reserve",
                    set.capacity()
                );
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
        }
    }
    check_contents(&set, &model, &"end");
    drop(set);
    reclaim();
}

fuzz_target!(|input: Input| run(input));

//! Deterministic concurrency fuzzing of `epochmap::HashMap`.
//!
//! The input holds two or three logical threads' operation lists and a
//! schedule: a list of steps, each a set of threads. Real threads run the
//! lists in lock step: every thread waits at a barrier before each step, and
//! the threads of the step's set then run their next operation at the same
//! time. A step with one thread is a deterministic hand-off; a step with
//! several is a real race, narrowed to one operation per thread, so a crash
//! found by the fuzzer usually replays from its input. After the schedule,
//! the remaining operations run two threads at a time.
//!
//! Keys are either `Disjoint` (thread `t` of `n` owns the keys `k * n + t`;
//! its `retain` and `clear` touch only its own keys), so each key's final
//! state must equal its owner's sequential model, or `Shared` (8 keys that
//! every thread uses, plus ranges beyond), where each key's history must be
//! explained by some sequential order of the operations (see
//! `epochmap_fuzz::history`). Reserve, resize and range operations run
//! between and against the others, so migrations are in flight while threads
//! race.
#![no_main]

use epochmap_fuzz::history::{check_key, updated, Effect, Event};
use epochmap_fuzz::{fits, reclaim, FuzzState, Pred, Shape};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Operations per thread, at most.
const MAX_OPS: usize = 48;
/// Key indices of single-key operations (and range starts) are taken mod 8.
const KEYS: u8 = 8;
/// A range covers `count % 48` key indices.
const MAX_RANGE: u8 = 48;

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    keys: KeyMode,
    three_threads: bool,
    threads: [Vec<Op>; 3],
    /// Each byte is a set of threads (bit `t`), mod `2^n - 1`, plus one.
    schedule: Vec<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMode {
    Disjoint,
    Shared,
}

/// Keys are indices (mod 8) mapped by [`KeyMode`]; values are below 256.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Insert(u8, u8),
    TryInsert(u8, u8),
    GetOrInsertWith(u8, u8),
    Update(u8, u8),
    CompareExchange(u8, u8, u8),
    Remove(u8),
    RemoveIf(u8, Pred),
    Get(u8),
    Retain(Pred),
    Clear,
    Iter,
    /// `reserve(n % 512)`.
    Reserve(u16),
    /// `begin_resize(1 << (log % 9))`, skipped if the entries present
    /// would fill the table more than half.
    BeginResize(u8),
    /// Inserts key indices `start..start + count % 48`.
    InsertRange {
        start: u8,
        count: u8,
        value: u8,
    },
    /// Removes key indices `start..start + count % 48`.
    RemoveRange {
        start: u8,
        count: u8,
    },
    Reclaim,
}

type Map = epochmap::HashMap<u16, u32, FuzzState>;

/// What one thread saw in one step.
enum Seen {
    /// Single-key and range operations: effect per key.
    Keys(Vec<(u16, Effect)>),
    /// `retain(pred)` (`clear` as [`Pred::Never`]) over the keys the thread owns.
    Retain(Pred),
    /// An iteration's entries, in order.
    Iter(Vec<(u16, u32)>),
}

#[derive(Clone, Copy)]
struct Keys {
    mode: KeyMode,
    n: u16,
    thread: u16,
}

impl Keys {
    fn key(self, index: u8) -> u16 {
        let i = u16::from(index);
        match self.mode {
            KeyMode::Shared => i,
            KeyMode::Disjoint => i * self.n + self.thread,
        }
    }

    fn single(self, index: u8) -> u16 {
        self.key(index % KEYS)
    }

    fn range(self, start: u8, count: u8) -> impl Iterator<Item = u16> {
        let start = start % KEYS;
        (start..start + count % MAX_RANGE).map(move |i| self.key(i))
    }

    /// Whether this thread's `retain` may remove `key`.
    fn owns(self, key: u16) -> bool {
        self.mode == KeyMode::Shared || key % self.n == self.thread
    }
}

/// A barrier on which the threads of the next step spin, so that they leave
/// it together (a futex-based barrier wakes them tens of microseconds apart,
/// far longer than an operation, which would serialise every race), while
/// the threads that sit the step out yield at once: on a machine with two
/// cores a third spinning thread would take the core that a racing one needs.
struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn wait(&self, racing: bool) {
        // Acquire: the generation this wait ends.
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: releases this thread's step to the last arriver, which
        // releases everyone's with the generation bump below.
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            // Release: pairs with the Acquire loads of the waiters.
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        // Acquire: pairs with the Release bump of the last arriver.
        while self.generation.load(Ordering::Acquire) == generation {
            if racing && spins < 256 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

fn run_op(map: &Map, keys: Keys, op: Op) -> Seen {
    let m = map.pin();
    let one = |k: u16, e: Effect| Seen::Keys(vec![(k, e)]);
    match op {
        Op::Insert(i, v) => {
            let (k, value) = (keys.single(i), u32::from(v));
            one(
                k,
                Effect::Insert {
                    value,
                    returned: m.insert(k, value).copied(),
                },
            )
        }
        Op::TryInsert(i, v) => {
            let (k, value) = (keys.single(i), u32::from(v));
            let returned = match m.try_insert(k, value) {
                Ok(now) => {
                    assert_eq!(
                        *now, value,
                        "try_insert returned another value than it inserted"
                    );
                    Ok(())
                }
                Err(e) => {
                    assert_eq!(
                        e.not_inserted, value,
                        "try_insert handed back another value"
                    );
                    Err(*e.current)
                }
            };
            one(k, Effect::TryInsert { value, returned })
        }
        Op::GetOrInsertWith(i, v) => {
            let (k, value) = (keys.single(i), u32::from(v));
            let returned = *m.get_or_insert_with(k, || value);
            one(k, Effect::GetOrInsert { value, returned })
        }
        Op::Update(i, delta) => {
            let k = keys.single(i);
            let returned = m.update(&k, |v| updated(*v, delta)).copied();
            one(k, Effect::Update { delta, returned })
        }
        Op::CompareExchange(i, current, new) => {
            let (k, current, new) = (keys.single(i), u32::from(current), u32::from(new));
            let returned = match m.compare_exchange(&k, &current, new) {
                Ok(prev) => Ok(*prev),
                Err(e) => {
                    assert_eq!(e.new, new, "compare_exchange handed back another value");
                    Err(e.current.copied())
                }
            };
            one(
                k,
                Effect::CompareExchange {
                    current,
                    new,
                    returned,
                },
            )
        }
        Op::Remove(i) => {
            let k = keys.single(i);
            one(
                k,
                Effect::Remove {
                    returned: m.remove(&k).copied(),
                },
            )
        }
        Op::RemoveIf(i, pred) => {
            let k = keys.single(i);
            let returned = m.remove_if(&k, |k, v| pred.holds(*k, *v));
            if let Some((rk, _)) = returned {
                assert_eq!(*rk, k, "remove_if returned another key");
            }
            one(
                k,
                Effect::RemoveIf {
                    pred,
                    returned: returned.map(|(_, v)| *v),
                },
            )
        }
        Op::Get(i) => {
            let k = keys.single(i);
            one(
                k,
                Effect::Get {
                    returned: m.get(&k).copied(),
                },
            )
        }
        Op::Retain(pred) => {
            m.retain(|k, v| !keys.owns(*k) || pred.holds(*k, *v));
            Seen::Retain(pred)
        }
        Op::Clear => {
            if keys.mode == KeyMode::Shared {
                m.clear();
            } else {
                m.retain(|k, _| !keys.owns(*k));
            }
            Seen::Retain(Pred::Never)
        }
        Op::Iter => Seen::Iter(m.iter().map(|(k, v)| (*k, *v)).collect()),
        Op::Reserve(n) => {
            m.reserve(usize::from(n % 512));
            Seen::Keys(vec![])
        }
        Op::BeginResize(log) => {
            let buckets = 1usize << (log % 9);
            if fits(buckets, m.len()) {
                map.begin_resize(buckets, m.guard());
            }
            Seen::Keys(vec![])
        }
        Op::InsertRange {
            start,
            count,
            value,
        } => {
            let value = u32::from(value);
            let seen = keys
                .range(start, count)
                .map(|k| {
                    (
                        k,
                        Effect::Insert {
                            value,
                            returned: m.insert(k, value).copied(),
                        },
                    )
                })
                .collect();
            Seen::Keys(seen)
        }
        Op::RemoveRange { start, count } => {
            let seen = keys
                .range(start, count)
                .map(|k| {
                    (
                        k,
                        Effect::Remove {
                            returned: m.remove(&k).copied(),
                        },
                    )
                })
                .collect();
            Seen::Keys(seen)
        }
        Op::Reclaim => {
            drop(m);
            reclaim();
            Seen::Keys(vec![])
        }
    }
}

/// The steps to run: the input's schedule (each byte a non-empty set of
/// threads), then pairs of threads in turn until every list is done, cut
/// after the last step that runs an operation.
fn schedule(bytes: &[u8], lists: &[&[Op]]) -> Vec<u8> {
    let n = lists.len();
    let all = (1u8 << n) - 1;
    let tail: &[u8] = if n == 2 {
        &[0b11]
    } else {
        &[0b011, 0b110, 0b101]
    };
    let mut left: Vec<usize> = lists.iter().map(|l| l.len()).collect();
    let mut steps = Vec::new();
    let mut last = 0;
    let masks = bytes
        .iter()
        .map(|b| b % all + 1)
        .chain(tail.iter().copied().cycle());
    for mask in masks {
        if left.iter().all(|&l| l == 0) {
            break;
        }
        for (t, l) in left.iter_mut().enumerate() {
            if mask & (1 << t) != 0 && *l > 0 {
                *l -= 1;
                last = steps.len() + 1;
            }
        }
        steps.push(mask);
    }
    steps.truncate(last);
    steps
}

fn run(input: Input) {
    let n: usize = if input.three_threads { 3 } else { 2 };
    let lists: Vec<&[Op]> = input.threads[..n]
        .iter()
        .map(|l| &l[..l.len().min(MAX_OPS)])
        .collect();
    let steps = schedule(&input.schedule, &lists);
    let mut map: Map = input.shape.map();
    let barrier = SpinBarrier {
        n,
        arrived: AtomicUsize::new(0),
        generation: AtomicUsize::new(0),
    };
    let seen: Vec<Vec<(usize, Seen)>> = std::thread::scope(|s| {
        let workers: Vec<_> = lists
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (map, barrier, steps) = (&map, &barrier, &steps);
                let keys = Keys {
                    mode: input.keys,
                    n: n as u16,
                    thread: t as u16,
                };
                s.spawn(move || {
                    let mut ops = ops.iter();
                    let mut seen = Vec::new();
                    for (step, mask) in steps.iter().enumerate() {
                        let mine = mask & (1 << t) != 0 && ops.len() > 0;
                        barrier.wait(mine);
                        if mine {
                            let op = *ops.next().unwrap();
                            seen.push((step, run_op(map, keys, op)));
                        }
                    }
                    seen
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    // Nothing is in flight now: the map must be exact.
    let g = map.guard();
    let last: BTreeMap<u16, u32> = map.iter(&g).map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        last.len(),
        map.iter(&g).count(),
        "final iteration yielded a key twice"
    );
    assert_eq!(map.len(), last.len(), "len after all threads joined");

    // Every key anyone touched, saw or left behind.
    let mut touched: BTreeSet<u16> = last.keys().copied().collect();
    for (_, s) in seen.iter().flatten() {
        match s {
            Seen::Keys(es) => touched.extend(es.iter().map(|(k, _)| *k)),
            Seen::Iter(es) => touched.extend(es.iter().map(|(k, _)| *k)),
            Seen::Retain(_) => {}
        }
    }
    let mut history: BTreeMap<u16, Vec<Event>> = touched.iter().map(|&k| (k, Vec::new())).collect();
    for (t, thread) in seen.iter().enumerate() {
        let keys = Keys {
            mode: input.keys,
            n: n as u16,
            thread: t as u16,
        };
        for (step, s) in thread {
            let event = |effect| Event {
                step: *step,
                thread: t,
                effect,
            };
            match s {
                Seen::Keys(es) => {
                    for (k, e) in es {
                        history.get_mut(k).unwrap().push(event(e.clone()));
                    }
                }
                Seen::Retain(pred) => {
                    for (_, h) in history.iter_mut().filter(|(k, _)| keys.owns(**k)) {
                        h.push(event(Effect::Retain { pred: *pred }));
                    }
                }
                Seen::Iter(es) => {
                    for (k, h) in history.iter_mut() {
                        let yielded = es.iter().filter(|e| e.0 == *k).map(|e| e.1).collect();
                        h.push(event(Effect::Iter { yielded }));
                    }
                }
            }
        }
    }
    for (k, events) in &history {
        let end = last.get(k).copied();
        match check_key(*k, events, end) {
            Ok(states) => {
                if input.keys == KeyMode::Disjoint {
                    assert_eq!(
                        states,
                        vec![end],
                        "key {k} has one writer, so one possible state"
                    );
                }
            }
            Err(v) => panic!("{v}"),
        }
    }
    drop(g);
    // No operation is in flight: no claim left, no node in two slots, no key
    // twice, no slot under a wrong tag (`HashMap::audit`).
    let audit = map.audit();
    assert!(audit.is_sound(), "after the join: {audit:?}");
    assert_eq!(audit.entries, last.len(), "entries in the audit");
    drop(map);
    reclaim();
}

fuzz_target!(|input: Input| run(input));

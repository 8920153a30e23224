//! Per-key linearizability check for the `concurrent` target.
//!
//! The target runs its threads in steps separated by a barrier, so an
//! operation of step `s` finished before any operation of step `s + 1`
//! started; operations of the same step overlap and may take effect in any
//! order. Operations on one key are linearizable on their own, so the check
//! runs key by key: it keeps the set of values (or absence) the key can hold
//! after each step, tries every order of that step's operations on the key
//! from every such state, and keeps the end states of the orders in which
//! each operation returns what the thread saw. An empty set means no
//! sequential order explains the run. At the end the key's real value must
//! be in the set.
//!
//! `retain`, `clear` and iteration are weakly consistent, so they count
//! per key: a `retain` removes the entry it judged only if the entry is still
//! current, and an iteration must yield a key exactly when it is present, but
//! both are held to that only when no other thread writes the key in the same
//! step. Otherwise a `retain` may or may not remove a failing entry, and the
//! iteration's view of that key is not checked.

use crate::Pred;
use std::fmt;

/// What one operation did to one key, with what it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `insert(k, value)` returned `returned`.
    Insert {
        /// Inserted value.
        value: u32,
        /// The replaced value.
        returned: Option<u32>,
    },
    /// `try_insert(k, value)`: `Ok` if it inserted, `Err(current)` otherwise.
    TryInsert {
        /// Offered value.
        value: u32,
        /// `Ok(())` or the value found.
        returned: Result<(), u32>,
    },
    /// `get_or_insert_with(k, || value)` returned `returned`.
    GetOrInsert {
        /// The value `make` returns.
        value: u32,
        /// The value returned.
        returned: u32,
    },
    /// `update(k, |v| updated(v, delta))` returned `returned`.
    Update {
        /// Argument of [`updated`].
        delta: u8,
        /// The new value, or `None` if the key was absent.
        returned: Option<u32>,
    },
    /// `compare_exchange(k, &current, new)`: `Ok(previous)` or `Err(found)`.
    CompareExchange {
        /// Expected value.
        current: u32,
        /// Replacement.
        new: u32,
        /// The replaced value, or what the map held instead.
        returned: Result<u32, Option<u32>>,
    },
    /// `remove(k)` returned `returned`.
    Remove {
        /// The removed value.
        returned: Option<u32>,
    },
    /// `remove_if(k, pred)` returned `returned`.
    RemoveIf {
        /// The predicate.
        pred: Pred,
        /// The removed value.
        returned: Option<u32>,
    },
    /// `get(k)` returned `returned`.
    Get {
        /// The value read.
        returned: Option<u32>,
    },
    /// A `retain(pred)` (or `clear`, with [`Pred::Never`]) that covers this key.
    Retain {
        /// Entries for which it is false are removed.
        pred: Pred,
    },
    /// An iteration yielded these values for this key (none: not yielded).
    Iter {
        /// Values yielded with the key.
        yielded: Vec<u32>,
    },
}

impl Effect {
    fn writes(&self) -> bool {
        !matches!(self, Effect::Get { .. } | Effect::Iter { .. })
    }
}

/// The function `update` applies in the `concurrent` target; values stay
/// below 256 so that `compare_exchange` guesses often match.
pub fn updated(v: u32, delta: u8) -> u32 {
    (v + u32::from(delta)) % 256
}

/// One operation's effect on a key, at a step, by a thread.
#[derive(Debug, Clone)]
pub struct Event {
    /// Barrier step in which the operation ran.
    pub step: usize,
    /// Logical thread that ran it.
    pub thread: usize,
    /// What it did and returned.
    pub effect: Effect,
}

/// Why a key's history has no sequential explanation.
#[derive(Debug)]
pub struct Violation {
    /// The key.
    pub key: u16,
    /// The step whose operations no order explains (`None`: the final value).
    pub step: Option<usize>,
    /// The states the key could be in before.
    pub before: Vec<Option<u32>>,
    /// The operations of that step on the key.
    pub events: Vec<Event>,
    /// The value found at the end.
    pub last: Option<u32>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(s) => write!(
                f,
                "key {}: no order of step {s} explains {:?} from states {:?}",
                self.key, self.events, self.before
            ),
            None => write!(
                f,
                "key {}: ends as {:?} but a sequential order ends in {:?}",
                self.key, self.last, self.before
            ),
        }
    }
}

/// The states after `effect` from `state`; empty if `effect`'s result is
/// impossible from `state`. `contested`: another thread wrote the key in the
/// same step.
fn apply(key: u16, state: Option<u32>, effect: &Effect, contested: bool) -> Vec<Option<u32>> {
    let ok = |cond: bool, next: Option<u32>| if cond { vec![next] } else { vec![] };
    match *effect {
        Effect::Insert { value, returned } => ok(returned == state, Some(value)),
        Effect::TryInsert { value, returned } => match state {
            None => ok(returned == Ok(()), Some(value)),
            Some(c) => ok(returned == Err(c), state),
        },
        Effect::GetOrInsert { value, returned } => match state {
            None => ok(returned == value, Some(value)),
            Some(c) => ok(returned == c, state),
        },
        Effect::Update { delta, returned } => {
            let next = state.map(|c| updated(c, delta));
            ok(returned == next, next)
        }
        Effect::CompareExchange {
            current,
            new,
            returned,
        } => match state {
            Some(c) if c == current => ok(returned == Ok(c), Some(new)),
            _ => ok(returned == Err(state), state),
        },
        Effect::Remove { returned } => ok(returned == state, None),
        Effect::RemoveIf { pred, returned } => match state {
            Some(c) if pred.holds(key, c) => ok(returned == state, None),
            _ => ok(returned.is_none(), state),
        },
        Effect::Get { returned } => ok(returned == state, state),
        Effect::Retain { pred } => match state {
            Some(c) if !pred.holds(key, c) => {
                if contested {
                    vec![None, state]
                } else {
                    vec![None]
                }
            }
            _ => vec![state],
        },
        Effect::Iter { ref yielded } => ok(contested || yielded[..] == state.as_slice()[..], state),
    }
}

/// Every ordering of `0..n`.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            all.push(o);
        }
    }
    all
}

/// Checks one key's history (`events` in any order) against its final value
/// `last`; returns the states a sequential order can end in.
pub fn check_key(
    key: u16,
    events: &[Event],
    last: Option<u32>,
) -> Result<Vec<Option<u32>>, Violation> {
    let mut events = events.to_vec();
    events.sort_by_key(|e| (e.step, e.thread));
    let mut states = vec![None];
    for group in events.chunk_by(|a, b| a.step == b.step) {
        let contested: Vec<bool> = group
            .iter()
            .map(|e| {
                group
                    .iter()
                    .any(|o| o.thread != e.thread && o.effect.writes())
            })
            .collect();
        let mut next = Vec::new();
        for order in orders(group.len()) {
            let mut now = states.clone();
            for &i in &order {
                now = now
                    .iter()
                    .flat_map(|&s| apply(key, s, &group[i].effect, contested[i]))
                    .collect();
                now.sort_unstable();
                now.dedup();
            }
            next.extend(now);
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return Err(Violation {
                key,
                step: Some(group[0].step),
                before: states,
                events: group.to_vec(),
                last,
            });
        }
        states = next;
    }
    if states.contains(&last) {
        Ok(states)
    } else {
        Err(Violation {
            key,
            step: None,
            before: states,
            events: Vec::new(),
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(step: usize, thread: usize, effect: Effect) -> Event {
        Event {
            step,
            thread,
            effect,
        }
    }

    #[test]
    fn racing_inserts_in_one_step_may_land_in_either_order() {
        let h = [
            ev(
                0,
                0,
                Effect::Insert {
                    value: 1,
                    returned: Some(2),
                },
            ),
            ev(
                0,
                1,
                Effect::Insert {
                    value: 2,
                    returned: None,
                },
            ),
        ];
        assert_eq!(check_key(0, &h, Some(1)).unwrap(), vec![Some(1)]);
        assert!(check_key(0, &h, Some(2)).is_err());
    }

    #[test]
    fn an_update_lost_to_a_racing_update_is_rejected() {
        let h = [
            ev(
                0,
                0,
                Effect::Insert {
                    value: 10,
                    returned: None,
                },
            ),
            ev(
                1,
                0,
                Effect::Update {
                    delta: 1,
                    returned: Some(11),
                },
            ),
            ev(
                1,
                1,
                Effect::Update {
                    delta: 1,
                    returned: Some(11),
                },
            ),
        ];
        assert!(check_key(0, &h, Some(11)).is_err());
        let good = [
            h[0].clone(),
            h[1].clone(),
            ev(
                1,
                1,
                Effect::Update {
                    delta: 1,
                    returned: Some(12),
                },
            ),
        ];
        assert!(check_key(0, &good, Some(12)).is_ok());
    }

    #[test]
    fn a_read_after_the_barrier_must_see_the_earlier_step() {
        let h = [
            ev(
                0,
                0,
                Effect::Insert {
                    value: 5,
                    returned: None,
                },
            ),
            ev(1, 1, Effect::Get { returned: None }),
        ];
        assert!(check_key(3, &h, Some(5)).is_err());
        let same_step = [h[0].clone(), ev(0, 1, Effect::Get { returned: None })];
        assert!(check_key(3, &same_step, Some(5)).is_ok());
    }

    #[test]
    fn retain_must_remove_a_failing_entry_nobody_else_writes() {
        let h = [
            ev(
                0,
                0,
                Effect::Insert {
                    value: 3,
                    returned: None,
                },
            ),
            ev(
                1,
                1,
                Effect::Retain {
                    pred: Pred::ValueEven,
                },
            ),
        ];
        assert!(check_key(0, &h, Some(3)).is_err());
        assert!(check_key(0, &h, None).is_ok());
        // Under a racing write the entry it judged may be gone already.
        let raced = [
            h[0].clone(),
            h[1].clone(),
            ev(
                1,
                0,
                Effect::Update {
                    delta: 0,
                    returned: Some(3),
                },
            ),
        ];
        assert!(check_key(0, &raced, Some(3)).is_ok());
    }

    #[test]
    fn an_uncontested_iteration_yields_a_present_key_exactly_once() {
        let put = ev(
            0,
            0,
            Effect::Insert {
                value: 7,
                returned: None,
            },
        );
        let once = [put.clone(), ev(1, 1, Effect::Iter { yielded: vec![7] })];
        let twice = [
            put.clone(),
            ev(
                1,
                1,
                Effect::Iter {
                    yielded: vec![7, 7],
                },
            ),
        ];
        let never = [put.clone(), ev(1, 1, Effect::Iter { yielded: vec![] })];
        assert!(check_key(0, &once, Some(7)).is_ok());
        assert!(check_key(0, &twice, Some(7)).is_err());
        assert!(check_key(0, &never, Some(7)).is_err());
    }

    #[test]
    fn compare_exchange_and_try_insert_results_are_checked() {
        let h = [
            ev(
                0,
                0,
                Effect::TryInsert {
                    value: 1,
                    returned: Ok(()),
                },
            ),
            ev(
                0,
                1,
                Effect::TryInsert {
                    value: 2,
                    returned: Ok(()),
                },
            ),
        ];
        assert!(check_key(0, &h, Some(1)).is_err());
        let cas = [
            ev(
                0,
                0,
                Effect::Insert {
                    value: 1,
                    returned: None,
                },
            ),
            ev(
                1,
                0,
                Effect::CompareExchange {
                    current: 1,
                    new: 4,
                    returned: Ok(1),
                },
            ),
            ev(
                1,
                1,
                Effect::CompareExchange {
                    current: 1,
                    new: 9,
                    returned: Ok(1),
                },
            ),
        ];
        assert!(check_key(0, &cas, Some(9)).is_err());
    }
}

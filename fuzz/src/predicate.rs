//! Predicates for `remove_if` and `retain`, chosen by the input.

use arbitrary::Arbitrary;

/// A predicate on `(key, value)`; the same enum drives the map and the model.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pred {
    /// Always true.
    Always,
    /// Always false.
    Never,
    /// `key < k`.
    KeyBelow(u16),
    /// `value` is even.
    ValueEven,
    /// `value < v`.
    ValueBelow(u32),
}

impl Pred {
    /// Evaluates the predicate.
    pub fn holds(self, key: u16, value: u32) -> bool {
        match self {
            Pred::Always => true,
            Pred::Never => false,
            Pred::KeyBelow(k) => key < k,
            Pred::ValueEven => value.is_multiple_of(2),
            Pred::ValueBelow(v) => value < v,
        }
    }
}

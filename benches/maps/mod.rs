//! The contenders behind one interface, so every bench runs the same loop on
//! every map.
//!
//! Each map is keyed by `u64`, hashed with `ahash::RandomState` built from
//! fixed seeds (the same for every map, so every map sees the same hash
//! values), and offers two ways to reach it:
//!
//! - **per operation** ([`Map::per_op`]): every call pins (epochmap, papaya,
//!   flurry) or locks (dashmap, scc, `RwLock<hashbrown>`) on its own, as
//!   `map.pin().get(&k)` does;
//! - **pinned handle** ([`Map::pinned`]): one handle per thread, reused. A
//!   handle pinned forever would block reclamation, so the loops call
//!   [`Ops::repin`] every [`REPIN_EVERY`] operations, which drops the guard and
//!   pins a new one. Maps without a guard (`PINS == false`) have one form only
//!   and `repin` does nothing.
//!
//! `RwLock` here is `std::sync::RwLock` (futex-based on Linux).

#![allow(dead_code)] // each bench uses its own part of this module

use std::sync::RwLock;

/// The hasher every map gets: ahash with fixed seeds.
pub type Hasher = ahash::RandomState;

/// A fresh hasher, identical for every map and every run.
pub fn hasher() -> Hasher {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

/// Operations between two re-pins of a pinned handle.
pub const REPIN_EVERY: u32 = 1024;

/// The `i`-th key of stream `stream`: distinct for distinct `(stream, i)`
/// (splitmix64's finaliser is a bijection), spread over all 64 bits.
#[inline]
pub fn key(stream: u64, i: u64) -> u64 {
    let mut z = (stream << 40 | i).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A value type the benches store.
pub trait Value: Clone + Send + Sync + 'static {
    /// A short name for tables: `u64`, `[u8;128]`.
    const NAME: &'static str;
    /// The value stored under key number `i`.
    fn of(i: u64) -> Self;
    /// Reads the value (one word of it), so a lookup cannot be optimised away.
    fn read(&self) -> u64;
    /// The value an update writes.
    fn bumped(&self) -> Self;
}

impl Value for u64 {
    const NAME: &'static str = "u64";
    #[inline]
    fn of(i: u64) -> Self {
        i
    }
    #[inline]
    fn read(&self) -> u64 {
        *self
    }
    #[inline]
    fn bumped(&self) -> Self {
        self.wrapping_add(1)
    }
}

impl Value for [u8; 128] {
    const NAME: &'static str = "[u8;128]";
    #[inline]
    fn of(i: u64) -> Self {
        let mut v = [0u8; 128];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v
    }
    #[inline]
    fn read(&self) -> u64 {
        u64::from(self[0])
    }
    #[inline]
    fn bumped(&self) -> Self {
        let mut v = *self;
        v[0] = v[0].wrapping_add(1);
        v
    }
}

/// What a benchmark thread calls in its loop.
pub trait Ops<V> {
    /// The value of `k`, read through [`Value::read`].
    fn get(&self, k: &u64) -> Option<u64>;
    /// Inserts or replaces.
    fn insert(&self, k: u64, v: V);
    /// Whether `k` was present and is now removed.
    fn remove(&self, k: &u64) -> bool;
    /// Replaces the value of `k` by [`Value::bumped`]; whether `k` was present.
    fn update(&self, k: &u64) -> bool;
    /// Drops the handle's guard and pins a new one (pinned handles only).
    #[inline]
    fn repin(&mut self) {}
}

/// A concurrent map under test.
pub trait Map<V: Value>: Send + Sync + Sized + 'static {
    /// Name in tables and bench ids.
    const NAME: &'static str;
    /// Whether the map has guards, hence a pinned form distinct from per-op.
    const PINS: bool;
    /// Handle that pins (or locks) for each operation.
    type PerOp<'a>: Ops<V>
    where
        Self: 'a;
    /// Handle holding a guard across operations.
    type Pinned<'a>: Ops<V>
    where
        Self: 'a;
    /// An empty map; `capacity == 0` means not presized.
    fn with_capacity(capacity: usize) -> Self;
    /// See [`Map::PerOp`].
    fn per_op(&self) -> Self::PerOp<'_>;
    /// See [`Map::Pinned`].
    fn pinned(&self) -> Self::Pinned<'_>;
    /// Number of entries.
    fn len(&self) -> usize;
    /// Slots in the table, where the map tells.
    fn capacity(&self) -> Option<usize>;
}

/// Something run once for each map type, generically.
pub trait Visit<V: Value> {
    /// Called with each map type in turn.
    fn visit<M: Map<V>>(&mut self);
}

/// Calls `v.visit::<M>()` for every contender, epochmap first.
pub fn each_map<V: Value>(v: &mut impl Visit<V>) {
    visit_selected::<V, EpochMap<V>>(v);
    visit_selected::<V, Papaya<V>>(v);
    visit_selected::<V, Flurry<V>>(v);
    visit_selected::<V, DashMap<V>>(v);
    visit_selected::<V, Scc<V>>(v);
    visit_selected::<V, RwLockMap<V>>(v);
}

fn visit_selected<V: Value, M: Map<V>>(v: &mut impl Visit<V>) {
    if selected(M::NAME) {
        v.visit::<M>();
    }
}

/// Whether the map named `name` is measured: every map, unless the
/// environment variable `BENCH_MAPS` lists some (comma-separated names from
/// [`NAMES`], e.g. `BENCH_MAPS=epochmap,dashmap`). A name that is not in
/// [`NAMES`], or a list naming none, panics, so that a typo does not quietly
/// measure nothing.
pub fn selected(name: &str) -> bool {
    let list = match std::env::var("BENCH_MAPS") {
        Err(std::env::VarError::NotPresent) => return true,
        Err(std::env::VarError::NotUnicode(_)) => panic!("BENCH_MAPS is not UTF-8"),
        Ok(list) => list,
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(bad) = names.iter().find(|n| !NAMES.contains(n)) {
        panic!("BENCH_MAPS names `{bad}`, which is not one of {NAMES:?}");
    }
    assert!(
        !names.is_empty(),
        "BENCH_MAPS is set but names no map; the maps are {NAMES:?}"
    );
    names.contains(&name)
}

/// Names of every contender, in [`each_map`] order.
pub const NAMES: [&str; 6] = [
    "epochmap",
    "papaya",
    "flurry",
    "dashmap",
    "scc",
    "rwlock-hashbrown",
];

// ---------------------------------------------------------------- epochmap

pub type EpochMap<V> = epochmap::HashMap<u64, V, Hasher>;

impl<V: Value> Ops<V> for &EpochMap<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.pin().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.pin().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.pin().update(k, V::bumped).is_some()
    }
}

/// A reused [`epochmap::HashMapRef`]; `None` only inside `repin`.
pub struct EpochPinned<'a, V> {
    map: &'a EpochMap<V>,
    handle: Option<epochmap::HashMapRef<'a, u64, V, Hasher>>,
}

impl<V: Value> Ops<V> for EpochPinned<'_, V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.handle.as_ref().unwrap().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.handle.as_ref().unwrap().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.handle.as_ref().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.handle.as_ref().unwrap().update(k, V::bumped).is_some()
    }
    #[inline]
    fn repin(&mut self) {
        // Drop first: a pin taken while the old guard lives keeps the old epoch.
        self.handle = None;
        self.handle = Some(self.map.pin());
    }
}

impl<V: Value> Map<V> for EpochMap<V> {
    const NAME: &'static str = "epochmap";
    const PINS: bool = true;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = EpochPinned<'a, V>;
    fn with_capacity(capacity: usize) -> Self {
        if capacity == 0 {
            Self::with_hasher(hasher())
        } else {
            Self::with_capacity_and_hasher(capacity, hasher())
        }
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> EpochPinned<'_, V> {
        EpochPinned {
            map: self,
            handle: Some(self.pin()),
        }
    }
    fn len(&self) -> usize {
        epochmap::HashMap::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        Some(epochmap::HashMap::capacity(self))
    }
}

// ---------------------------------------------------------------- papaya

pub type Papaya<V> = papaya::HashMap<u64, V, Hasher>;

impl<V: Value> Ops<V> for &Papaya<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.pin().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.pin().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.pin().update(*k, V::bumped).is_some()
    }
}

/// A reused [`papaya::HashMapRef`]; `None` only inside `repin`.
pub struct PapayaPinned<'a, V> {
    map: &'a Papaya<V>,
    handle: Option<papaya::HashMapRef<'a, u64, V, Hasher, papaya::LocalGuard<'a>>>,
}

impl<V: Value> Ops<V> for PapayaPinned<'_, V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.handle.as_ref().unwrap().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.handle.as_ref().unwrap().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.handle.as_ref().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.handle
            .as_ref()
            .unwrap()
            .update(*k, V::bumped)
            .is_some()
    }
    #[inline]
    fn repin(&mut self) {
        self.handle = None;
        self.handle = Some(self.map.pin());
    }
}

impl<V: Value> Map<V> for Papaya<V> {
    const NAME: &'static str = "papaya";
    const PINS: bool = true;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = PapayaPinned<'a, V>;
    fn with_capacity(capacity: usize) -> Self {
        if capacity == 0 {
            Self::with_hasher(hasher())
        } else {
            Self::with_capacity_and_hasher(capacity, hasher())
        }
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> PapayaPinned<'_, V> {
        PapayaPinned {
            map: self,
            handle: Some(self.pin()),
        }
    }
    fn len(&self) -> usize {
        papaya::HashMap::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        None
    }
}

// ---------------------------------------------------------------- flurry

pub type Flurry<V> = flurry::HashMap<u64, V, Hasher>;

impl<V: Value> Ops<V> for &Flurry<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.pin().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.pin().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.pin()
            .compute_if_present(k, |_, v| Some(v.bumped()))
            .is_some()
    }
}

/// A reused [`flurry::HashMapRef`]; `None` only inside `repin`.
pub struct FlurryPinned<'a, V> {
    map: &'a Flurry<V>,
    handle: Option<flurry::HashMapRef<'a, u64, V, Hasher>>,
}

impl<V: Value> Ops<V> for FlurryPinned<'_, V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.handle.as_ref().unwrap().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.handle.as_ref().unwrap().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.handle.as_ref().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        let handle = self.handle.as_ref().unwrap();
        handle
            .compute_if_present(k, |_, v| Some(v.bumped()))
            .is_some()
    }
    #[inline]
    fn repin(&mut self) {
        self.handle = None;
        self.handle = Some(self.map.pin());
    }
}

impl<V: Value> Map<V> for Flurry<V> {
    const NAME: &'static str = "flurry";
    const PINS: bool = true;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = FlurryPinned<'a, V>;
    fn with_capacity(capacity: usize) -> Self {
        if capacity == 0 {
            Self::with_hasher(hasher())
        } else {
            Self::with_capacity_and_hasher(capacity, hasher())
        }
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> FlurryPinned<'_, V> {
        FlurryPinned {
            map: self,
            handle: Some(self.pin()),
        }
    }
    fn len(&self) -> usize {
        flurry::HashMap::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        None
    }
}

// ---------------------------------------------------------------- dashmap

pub type DashMap<V> = dashmap::DashMap<u64, V, Hasher>;

impl<V: Value> Ops<V> for &DashMap<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        dashmap::DashMap::get(self, k).map(|r| r.read())
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        dashmap::DashMap::insert(self, k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        dashmap::DashMap::remove(self, k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.get_mut(k).map(|mut r| *r = r.bumped()).is_some()
    }
}

impl<V: Value> Map<V> for DashMap<V> {
    const NAME: &'static str = "dashmap";
    const PINS: bool = false;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = &'a Self;
    fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, hasher())
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        dashmap::DashMap::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        Some(dashmap::DashMap::capacity(self))
    }
}

// ---------------------------------------------------------------- scc

pub type Scc<V> = scc::HashMap<u64, V, Hasher>;

impl<V: Value> Ops<V> for &Scc<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.read(k, |_, v| v.read())
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.upsert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        scc::HashMap::remove(self, k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        scc::HashMap::update(self, k, |_, v| *v = v.bumped()).is_some()
    }
}

impl<V: Value> Map<V> for Scc<V> {
    const NAME: &'static str = "scc";
    const PINS: bool = false;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = &'a Self;
    fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, hasher())
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        scc::HashMap::len(self)
    }
    fn capacity(&self) -> Option<usize> {
        Some(scc::HashMap::capacity(self))
    }
}

// ---------------------------------------------------------------- RwLock<hashbrown>

/// `std::sync::RwLock<hashbrown::HashMap>`: the map a team already has.
pub struct RwLockMap<V>(RwLock<hashbrown::HashMap<u64, V, Hasher>>);

impl<V: Value> Ops<V> for &RwLockMap<V> {
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        self.0.read().unwrap().get(k).map(V::read)
    }
    #[inline]
    fn insert(&self, k: u64, v: V) {
        self.0.write().unwrap().insert(k, v);
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        self.0.write().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        self.0
            .write()
            .unwrap()
            .get_mut(k)
            .map(|v| *v = v.bumped())
            .is_some()
    }
}

impl<V: Value> Map<V> for RwLockMap<V> {
    const NAME: &'static str = "rwlock-hashbrown";
    const PINS: bool = false;
    type PerOp<'a> = &'a Self;
    type Pinned<'a> = &'a Self;
    fn with_capacity(capacity: usize) -> Self {
        RwLockMap(RwLock::new(hashbrown::HashMap::with_capacity_and_hasher(
            capacity,
            hasher(),
        )))
    }
    fn per_op(&self) -> &Self {
        self
    }
    fn pinned(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        self.0.read().unwrap().len()
    }
    fn capacity(&self) -> Option<usize> {
        Some(self.0.read().unwrap().capacity())
    }
}

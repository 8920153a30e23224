//! Every public method of `HashMap`, `HashMapRef`, `HashSet` and `HashSetRef`,
//! the traits, and the behaviour on bad input.

use epochmap::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn constructors_and_sizes() {
    let m: HashMap<u32, u32> = HashMap::new();
    assert!(m.is_empty());
    assert_eq!(m.len(), 0);
    let m: HashMap<u32, u32> = HashMap::with_capacity(1_000);
    assert!(m.capacity() >= 1_000);
    let m: HashMap<u32, u32, std::collections::hash_map::RandomState> =
        HashMap::with_hasher(Default::default());
    assert!(m.pin().insert(1, 1).is_none());
    let m: HashMap<u32, u32> = HashMap::with_capacity_and_hasher(10, ahash::RandomState::new());
    assert!(m.capacity() >= 10);
    let _: &ahash::RandomState = m.hasher();
    let d: HashMap<u8, u8> = HashMap::default();
    assert!(d.is_empty());
}

#[test]
fn guard_taking_and_pinned_forms_agree() {
    let map = HashMap::new();
    let g = map.guard();
    assert_eq!(map.insert("a".to_string(), 1, &g), None);
    assert_eq!(map.insert("a".to_string(), 2, &g), Some(&1));
    assert_eq!(map.get("a", &g), Some(&2));
    assert_eq!(map.get_key_value("a", &g), Some((&"a".to_string(), &2)));
    assert!(map.contains_key("a", &g));
    let m = map.pin();
    assert_eq!(m.get("a"), Some(&2));
    assert_eq!(
        m.get_key_value("a").map(|(k, v)| (k.as_str(), *v)),
        Some(("a", 2))
    );
    assert!(m.contains_key("a") && !m.contains_key("b"));
    assert_eq!(m.len(), 1);
    assert!(!m.is_empty());
    assert!(m.capacity() >= 1);
    assert!(std::ptr::eq(m.map(), &map));
    let _ = m.guard();
}

#[test]
fn try_insert_and_get_or_insert_with() {
    let map = HashMap::new();
    let m = map.pin();
    assert_eq!(m.try_insert(1, 'a').unwrap(), &'a');
    let e = m.try_insert(1, 'b').unwrap_err();
    assert_eq!((e.current, e.not_inserted), (&'a', 'b'));
    assert!(e.to_string().contains("already present"));
    let mut calls = 0;
    assert_eq!(
        m.get_or_insert_with(2, || {
            calls += 1;
            'c'
        }),
        &'c'
    );
    assert_eq!(m.get_or_insert_with(2, || unreachable!("present")), &'c');
    assert_eq!(calls, 1);
}

#[test]
fn update_compare_exchange_remove() {
    let map = HashMap::new();
    let m = map.pin();
    m.insert("k".to_string(), 1);
    assert_eq!(m.update("k", |v| v + 10), Some(&11));
    assert_eq!(m.update("absent", |v| v + 10), None);
    assert_eq!(m.compare_exchange("k", &11, 12), Ok(&11));
    let e = m.compare_exchange("k", &11, 13).unwrap_err();
    assert_eq!((e.current, e.new), (Some(&12), 13));
    let e = m.compare_exchange("absent", &0, 1).unwrap_err();
    assert_eq!((e.current, e.new), (None, 1));
    assert!(e.to_string().contains("absent"));
    assert_eq!(m.remove_if("k", |_, v| *v == 0), None);
    assert_eq!(
        m.remove_if("k", |k, v| k == "k" && *v == 12)
            .map(|(_, v)| *v),
        Some(12)
    );
    m.insert("k".to_string(), 5);
    assert_eq!(m.remove("k"), Some(&5));
    assert_eq!(m.remove("k"), None);
}

#[test]
fn retain_clear_reserve_iterators() {
    let map: HashMap<u32, u32> = (0..100).map(|i| (i, i * 2)).collect();
    let m = map.pin();
    m.retain(|k, _| k % 2 == 0);
    assert_eq!(m.len(), 50);
    let mut keys: Vec<u32> = m.keys().copied().collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..100).step_by(2).collect::<Vec<_>>());
    assert_eq!(
        m.values().map(|v| *v as u64).sum::<u64>(),
        (0..100u64).step_by(2).map(|i| i * 2).sum()
    );
    assert_eq!((&m).into_iter().count(), 50);
    m.reserve(10_000);
    assert!(m.capacity() >= 10_050);
    assert!(m.try_reserve(10).is_ok());
    m.clear();
    assert!(m.is_empty());
    let g = map.guard();
    map.insert(1, 1, &g);
    map.retain(|_, _| true, &g);
    // More than the capacity already there, so that the check can fail.
    let additional = map.capacity() + 5;
    map.reserve(additional, &g);
    assert!(map.capacity() >= map.len() + additional);
    assert_eq!(map.iter(&g).count(), 1);
    assert_eq!(map.keys(&g).count(), 1);
    assert_eq!(map.values(&g).count(), 1);
    map.insert(2, 2, &g);
    assert!(map.remove_if(&1, |_, _| true, &g).is_some());
    map.clear(&g);
    assert!(map.is_empty());
    assert_eq!(map.get(&2, &g), None);
}

#[test]
fn traits_debug_clone_eq_extend() {
    let mut a: HashMap<u8, u8> = [(1, 2)].into_iter().collect();
    assert_eq!(format!("{a:?}"), "{1: 2}");
    assert_eq!(format!("{:?}", a.pin()), "{1: 2}");
    let b = a.clone();
    assert_eq!(a, b);
    a.extend([(3, 4)]);
    assert_ne!(a, b);
    (&b).extend([(3, 4)]);
    assert_eq!(a, b);
    fn send_sync<T: Send + Sync>() {}
    send_sync::<HashMap<String, Vec<u8>>>();
    send_sync::<HashSet<String>>();
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn with_capacity_usize_max_panics_with_a_clear_message() {
    let err = catch_unwind(|| HashMap::<u64, u64>::with_capacity(usize::MAX)).unwrap_err();
    let msg = message(&*err);
    assert!(msg.contains("capacity overflow"), "{msg}");
}

#[test]
fn reserve_beyond_memory_errors_or_panics_clearly() {
    let map = HashMap::<u64, u64>::new();
    let g = map.guard();
    assert_eq!(
        map.try_reserve(usize::MAX, &g),
        Err(epochmap::TryReserveError::CapacityOverflow)
    );
    let err = catch_unwind(AssertUnwindSafe(|| map.reserve(usize::MAX / 2, &g))).unwrap_err();
    let msg = message(&*err);
    assert!(msg.contains("reserve") && msg.contains("failed"), "{msg}");
    // The map is untouched and usable.
    map.insert(1, 1, &g);
    assert_eq!(map.get(&1, &g), Some(&1));
}

#[test]
fn the_unprotected_guard_is_rejected() {
    let map = HashMap::<u64, u64>::new();
    // SAFETY: (test) the guard is only handed to the map, which must refuse it.
    let g = unsafe { crossbeam_epoch::unprotected() };
    let err = catch_unwind(AssertUnwindSafe(|| map.get(&1, g))).unwrap_err();
    let msg = message(&*err);
    assert!(msg.contains("default collector"), "{msg}");
}

/// A key whose `Hash` or `Eq` panics on demand.
#[derive(Clone)]
struct Touchy {
    id: u64,
    poison: bool,
}
impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if self.poison || other.poison {
            panic!("Eq panics");
        }
        self.id == other.id
    }
}
impl Eq for Touchy {}
impl Hash for Touchy {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.id.hash(h)
    }
}

#[test]
fn a_panicking_eq_or_closure_leaves_the_map_consistent() {
    // Constant hash: every key compares against every other one.
    #[derive(Clone, Default)]
    struct Same;
    impl BuildHasher for Same {
        type Hasher = std::collections::hash_map::DefaultHasher;
        fn build_hasher(&self) -> Self::Hasher {
            Default::default()
        }
        fn hash_one<T: Hash>(&self, _: T) -> u64 {
            42
        }
    }
    let map: HashMap<Touchy, u64, Same> = HashMap::with_tuning(2, 1, 1, Same);
    let m = map.pin();
    for id in 0..20 {
        m.insert(Touchy { id, poison: false }, id);
    }
    let bad = Touchy {
        id: 99,
        poison: true,
    };
    assert!(catch_unwind(AssertUnwindSafe(|| m.insert(bad.clone(), 0))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| m.get(&bad))).is_err());
    let k3 = Touchy {
        id: 3,
        poison: false,
    };
    assert!(catch_unwind(AssertUnwindSafe(
        || m.update(&k3, |_| panic!("closure panics"))
    ))
    .is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| m.get_or_insert_with(
        Touchy {
            id: 50,
            poison: false
        },
        || panic!("make panics")
    )))
    .is_err());
    assert_eq!(m.len(), 20);
    for id in 0..20 {
        assert_eq!(m.get(&Touchy { id, poison: false }), Some(&id));
    }
    assert_eq!(m.update(&k3, |v| v + 100), Some(&103));
    assert!(m
        .insert(
            Touchy {
                id: 99,
                poison: false
            },
            9
        )
        .is_none());
    assert_eq!(m.len(), 21);
    assert_eq!(m.iter().count(), 21);
}

#[test]
fn a_constant_hasher_still_gives_exact_results() {
    #[derive(Clone, Default)]
    struct Zero;
    impl BuildHasher for Zero {
        type Hasher = std::collections::hash_map::DefaultHasher;
        fn build_hasher(&self) -> Self::Hasher {
            Default::default()
        }
        fn hash_one<T: Hash>(&self, _: T) -> u64 {
            0
        }
    }
    let map: HashMap<u32, u32, Zero> = HashMap::with_hasher(Zero);
    let m = map.pin();
    for i in 0..3_000 {
        assert!(m.insert(i, i).is_none());
    }
    for i in (0..3_000).step_by(2) {
        assert_eq!(m.remove(&i), Some(&i));
    }
    for i in 0..3_000 {
        assert_eq!(m.get(&i).copied(), (i % 2 == 1).then_some(i));
    }
    assert_eq!(m.len(), 1_500);
    assert_eq!(m.iter().count(), 1_500);
}

#[test]
fn set_methods() {
    let set: HashSet<String> = HashSet::new();
    let s = set.pin();
    assert!(s.insert("a".into()));
    assert!(!s.insert("a".into()));
    assert!(s.contains("a"));
    assert_eq!(s.get("a").map(String::as_str), Some("a"));
    assert_eq!(s.len(), 1);
    assert!(!s.is_empty());
    assert!(s.remove("a") && !s.remove("a"));
    for i in 0..10 {
        s.insert(i.to_string());
    }
    s.retain(|k| k.parse::<u32>().unwrap() < 5);
    assert_eq!(s.iter().count(), 5);
    s.clear();
    assert!(s.is_empty());
    drop(s);
    let g = set.guard();
    assert!(set.insert("x".into(), &g));
    assert!(set.contains("x", &g));
    assert_eq!(set.get("x", &g).map(String::as_str), Some("x"));
    let additional = set.capacity() + 100;
    set.reserve(additional, &g);
    assert!(set.capacity() >= set.len() + additional);
    set.retain(|_| true, &g);
    assert_eq!(set.iter(&g).count(), 1);
    assert!(set.insert("y".into(), &g));
    assert!(set.remove("x", &g));
    set.clear(&g);
    assert!(set.is_empty());
    assert!(!set.contains("y", &g));
    assert_eq!(set.len(), 0);
    let mut a: HashSet<u8> = (0..5).collect();
    let b = a.clone();
    assert_eq!(a, b);
    a.extend([9]);
    assert_ne!(a, b);
    assert_eq!(format!("{:?}", HashSet::<u8>::from_iter([1])), "{1}");
    assert!(HashSet::<u8>::with_capacity(50).capacity() >= 50);
    let h: HashSet<u8> = HashSet::with_hasher(ahash::RandomState::new());
    assert!(h.is_empty());
    let h: HashSet<u8> = HashSet::with_capacity_and_hasher(7, ahash::RandomState::new());
    assert!(h.capacity() >= 7);
    assert!(HashSet::<u8>::default().is_empty());
}

#[test]
fn set_handle_mirrors_the_map_handle() {
    let set: HashSet<u64> = HashSet::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
    let s = set.pin();
    assert!(std::ptr::eq(s.set(), &set));
    assert!(set.insert(1, s.guard()));
    assert!(s.contains(&1));
    let before = s.capacity();
    s.reserve(before + 1_000);
    assert!(s.capacity() >= before + 1_000);
    assert!(s.try_reserve(10).is_ok());
    let reserved = s.capacity();
    assert!(s.try_reserve(usize::MAX).is_err());
    assert!(set.try_reserve(usize::MAX, s.guard()).is_err());
    // The failed reservations changed nothing.
    assert_eq!(s.len(), 1);
    assert_eq!(s.capacity(), reserved);
    assert_eq!(set.capacity(), reserved);
    assert_eq!(format!("{s:?}"), "{1}");
    let mut seen: Vec<u64> = (&s).into_iter().copied().collect();
    s.insert(2);
    seen.extend(&s);
    seen.sort_unstable();
    assert_eq!(seen, [1, 1, 2]);
    let h = set.hasher();
    assert_eq!(
        std::hash::BuildHasher::hash_one(h, 7u64),
        std::hash::BuildHasher::hash_one(&ahash::RandomState::with_seeds(1, 2, 3, 4), 7u64)
    );
}

//! `serde` support (feature `serde`): a [`HashMap`] serializes as a map and a
//! [`HashSet`] as a sequence, like the standard collections.
//!
//! Serializing takes a weakly consistent snapshot (see [`HashMap::iter`]):
//! the entries are gathered first, under one guard, so that formats which
//! write the length before the entries (bincode, postcard) get the exact
//! count even while other threads write. Deserializing inserts each entry;
//! a key that appears twice keeps its last value, as with `std`.

use crate::{HashMap, HashSet};
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Caps a size hint from untrusted input: a hostile length must not make us
/// allocate a huge table before any entry arrived.
fn cautious(hint: Option<usize>) -> usize {
    hint.unwrap_or(0).min(4096)
}

impl<K, V, S> Serialize for HashMap<K, V, S>
where
    K: Serialize + Hash + Eq + Send + 'static,
    V: Serialize + Send + 'static,
    S: BuildHasher,
{
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        let guard = self.guard();
        let entries: Vec<(&K, &V)> = self.iter(&guard).collect();
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for HashMap<K, V, S>
where
    K: Deserialize<'de> + Hash + Eq + Send + 'static,
    V: Deserialize<'de> + Send + 'static,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        type Makes<K, V, S> = fn() -> HashMap<K, V, S>;
        struct MapVisitor<K, V, S>(PhantomData<Makes<K, V, S>>);

        impl<'de, K, V, S> Visitor<'de> for MapVisitor<K, V, S>
        where
            K: Deserialize<'de> + Hash + Eq + Send + 'static,
            V: Deserialize<'de> + Send + 'static,
            S: BuildHasher + Default,
        {
            type Value = HashMap<K, V, S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let map = HashMap::presized(cautious(access.size_hint()), S::default());
                {
                    let guard = map.guard();
                    while let Some((k, v)) = access.next_entry()? {
                        map.insert(k, v, &guard);
                    }
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<K, S> Serialize for HashSet<K, S>
where
    K: Serialize + Hash + Eq + Send + 'static,
    S: BuildHasher,
{
    fn serialize<Se: Serializer>(&self, serializer: Se) -> Result<Se::Ok, Se::Error> {
        let guard = self.guard();
        let keys: Vec<&K> = self.iter(&guard).collect();
        let mut seq = serializer.serialize_seq(Some(keys.len()))?;
        for k in keys {
            seq.serialize_element(k)?;
        }
        seq.end()
    }
}

impl<'de, K, S> Deserialize<'de> for HashSet<K, S>
where
    K: Deserialize<'de> + Hash + Eq + Send + 'static,
    S: BuildHasher + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SetVisitor<K, S>(PhantomData<fn() -> HashSet<K, S>>);

        impl<'de, K, S> Visitor<'de> for SetVisitor<K, S>
        where
            K: Deserialize<'de> + Hash + Eq + Send + 'static,
            S: BuildHasher + Default,
        {
            type Value = HashSet<K, S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let set = HashSet::presized(cautious(access.size_hint()), S::default());
                {
                    let guard = set.guard();
                    while let Some(k) = access.next_element()? {
                        set.insert(k, &guard);
                    }
                }
                Ok(set)
            }
        }

        deserializer.deserialize_seq(SetVisitor(PhantomData))
    }
}

//! [`Stats`]: a cheap observability snapshot of a map.

/// Sizes and resize activity of a map, from [`HashMap::stats`](crate::HashMap::stats).
///
/// Taking a snapshot reads a few counters and table headers (no lock, no
/// write, no walk over the entries), so a metrics endpoint can call it on
/// every scrape. During concurrent writes the fields are read one after the
/// other and may describe slightly different instants.
///
/// ```
/// let map: epochmap::HashMap<u32, u32> = (0..1000).map(|i| (i, i)).collect();
/// let s = map.stats();
/// assert_eq!(s.len, 1000);
/// assert!(s.capacity >= 1000);
/// assert!(s.load_factor > 0.0 && s.load_factor <= 1.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Entries in the map (see [`HashMap::len`](crate::HashMap::len)).
    pub len: usize,
    /// The map's [`capacity`](crate::HashMap::capacity): entries its table
    /// (the resize target, while a resize is in flight) has room for under the
    /// load limit. Not the exact point of the next resize; see there.
    pub capacity: usize,
    /// Buckets of the current table (7 slots each).
    pub buckets: usize,
    /// Slots of the current table that are no longer empty: entries, tombstones
    /// of removed entries and inserts in flight (an estimate). A resize starts
    /// when an insert that lands outside its key's home bucket finds this past
    /// 5/8 of the slots.
    pub slots_used: usize,
    /// `len` divided by the slots of the current table.
    pub load_factor: f64,
    /// Resizes (grow, shrink or rebuild) started since the map was created.
    pub resizes_started: usize,
    /// Resizes completed since the map was created.
    pub resizes_finished: usize,
    /// Buckets moved by all resizes since the map was created (counted per
    /// completed migration chunk, 2 buckets by default).
    pub buckets_migrated: usize,
    /// The resize in flight, if any.
    pub migration: Option<MigrationProgress>,
}

/// Progress of the resize in flight; see [`Stats::migration`].
///
/// ```
/// let map = epochmap::HashMap::new();
/// let m = map.pin();
/// // Writers move a few buckets per insert, so a map growing from empty has
/// // a resize in flight for most of its inserts.
/// let progress = (0..10_000u32)
///     .find_map(|i| {
///         m.insert(i, i);
///         map.stats().migration
///     })
///     .expect("a growing map resizes incrementally");
/// assert!(progress.to_buckets > progress.from_buckets);
/// assert!(progress.buckets_migrated <= progress.from_buckets);
/// assert!(progress.chunks_done <= progress.chunks_total);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationProgress {
    /// Buckets of the table being moved out of.
    pub from_buckets: usize,
    /// Buckets of the table being moved into.
    pub to_buckets: usize,
    /// Buckets of the old table already moved (counted a chunk at a time).
    pub buckets_migrated: usize,
    /// Migration chunks finished.
    pub chunks_done: usize,
    /// Migration chunks in all.
    pub chunks_total: usize,
}

impl Stats {
    pub(crate) fn from_snapshot(s: crate::raw::snapshot::Snapshot) -> Stats {
        let slots = s.root_buckets * crate::raw::bucket::SLOTS;
        Stats {
            len: s.len,
            capacity: s.capacity,
            buckets: s.root_buckets,
            slots_used: s.root_slots_used,
            load_factor: s.len as f64 / slots as f64,
            resizes_started: s.resizes_started,
            resizes_finished: s.resizes_finished,
            buckets_migrated: s.buckets_migrated,
            migration: s
                .migration
                .map(|(to, done, total, chunk)| MigrationProgress {
                    from_buckets: s.root_buckets,
                    to_buckets: to,
                    buckets_migrated: (done * chunk).min(s.root_buckets),
                    chunks_done: done,
                    chunks_total: total,
                }),
        }
    }
}

/// What [`HashMap::audit`](crate::HashMap::audit) found in the table chain.
/// For tests of the map itself: not stable API.
#[doc(hidden)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Audit {
    /// Tables in the chain (more than one while a resize is unfinished).
    pub tables: usize,
    /// Entries: readable nodes, each counted once (a node frozen in an old
    /// table and live in a newer one is one entry).
    pub entries: usize,
    /// Slots still claimed (PENDING, COPY or CLAIMING) with no operation in
    /// flight: a claim some operation left behind. Must be 0.
    pub claims: usize,
    /// A node readable in two slots of one table (freed twice when the map
    /// drops). Must be 0.
    pub shared_nodes: usize,
    /// Two distinct nodes with equal keys, in one table or in two. Must be 0
    /// for keys whose `Hash` and `Eq` keep their contracts.
    pub keys_twice: usize,
    /// Readable slots whose tag byte is not their key's (hidden from
    /// lookups). Must be 0 for keys whose hash does not change.
    pub wrong_tags: usize,
}

impl Audit {
    /// Whether every "must be 0" count is 0.
    pub fn is_sound(&self) -> bool {
        self.claims == 0 && self.shared_nodes == 0 && self.keys_twice == 0 && self.wrong_tags == 0
    }
}

//! A lock-free concurrent hash map with epoch-based memory reclamation,
//! built for hot read paths: caches, routing tables, symbol tables, session maps.
//!
//! ```
//! use epochmap::HashMap;
//! use std::thread;
//!
//! let routes: HashMap<String, u16> = HashMap::new();
//! routes.pin().insert("/api".to_string(), 8080);
//! thread::scope(|s| {
//!     // A reader sees the value before or after the update, never anything else.
//!     s.spawn(|| assert!(matches!(routes.pin().get("/api"), Some(&(8080 | 8081)))));
//!     s.spawn(|| {
//!         let _ = routes.pin().update("/api", |port| port + 1);
//!     });
//! });
//! assert_eq!(routes.get_cloned("/api"), Some(8081));
//! ```
//!
//! # When to choose it
//!
//! - **Over `RwLock<HashMap>`**: readers never take a lock, never write shared
//!   memory and never wait for a writer, so read throughput scales with cores
//!   and a slow writer cannot stall them.
//! - **Over dashmap**: no shard locks: a reader is never blocked by a writer
//!   of its shard, and a write never blocks anyone. That is a latency
//!   guarantee, not a throughput one: on the 2-core machine of
//!   `docs/benchmarks.md`, dashmap ran between 0.9× and 1.5× epochmap's
//!   operations per second on a 98 %-read mix at two threads (the medians
//!   of two idle sessions of three runs each); its lookups cost one cache miss to
//!   epochmap's two.
//! - **Over papaya and flurry**: the same lock-free model with a cheaper read:
//!   one 64-byte bucket holds seven tags and seven pointers, so a lookup of a
//!   present key touches one cache line of the table and the node.
//! - **Not** when the map is single-threaded (use `hashbrown`), or when keys
//!   and values are tiny and the map fits in cache behind one lock that is
//!   rarely contended: an inline table behind a lock pays one memory access
//!   where a table of pointers pays two.
//! - **Not** for write-dominated bulk work (filling a map once, or scanning it
//!   whole): every entry is a separate allocation reached through a pointer,
//!   so a parallel fill of 1M pairs and a parallel scan each ran 4–7× slower
//!   than dashmap's on the machine in `docs/benchmarks.md`.
//!
//! # Guards
//!
//! Memory of removed entries is reclaimed with [crossbeam-epoch]: a
//! reference returned by the map stays valid while the [`Guard`] it was
//! borrowed from is alive. [`HashMap::pin`] returns a [`HashMapRef`] that
//! holds a guard; [`HashMap::guard`] returns one for the guard-taking methods.
//! A live guard delays the freeing of memory retired by any crossbeam-epoch
//! structure, so pin for a unit of work and drop the guard afterwards; never
//! hold one across `.await` or a blocking call. Guards must come from
//! crossbeam-epoch's default collector; `unprotected()` is rejected with a panic.
//!
//! ## Guards and `async`
//!
//! A guard belongs to the thread that pinned it (it is neither `Send` nor
//! `Sync`), so a future that holds one across `.await` is not `Send` and
//! cannot run on a work-stealing executor. Worse, a task parked at an `.await`
//! while pinned keeps the epoch from advancing: no memory retired by *any*
//! crossbeam-epoch structure in the process is freed until it resumes. In
//! async code, use the methods that pin and unpin inside the call and return
//! owned data: [`HashMap::get_cloned`] and [`HashMap::read`] for reads, and
//! scope a [`HashMap::pin`] handle to a block with no `.await` in it for writes.
//!
//! ```
//! use epochmap::HashMap;
//! use std::sync::Arc;
//!
//! async fn handler(sessions: Arc<HashMap<u64, String>>, id: u64) -> Option<String> {
//!     let user = sessions.get_cloned(&id)?; // pinned and unpinned here
//!     some_io().await;                       // no guard held across this
//!     Some(user)
//! }
//! # async fn some_io() {}
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(handler(Arc::new(HashMap::new()), 1));
//! ```
//!
//! # The API at a glance
//!
//! | need | method |
//! |---|---|
//! | read | [`get`](HashMapRef::get), [`get_key_value`](HashMapRef::get_key_value), [`contains_key`](HashMapRef::contains_key) |
//! | read without holding a guard | [`get_cloned`](HashMap::get_cloned), [`read`](HashMap::read) |
//! | write | [`insert`](HashMapRef::insert), [`try_insert`](HashMapRef::try_insert), [`remove`](HashMapRef::remove), [`remove_if`](HashMapRef::remove_if) |
//! | read-modify-write | [`update`](HashMapRef::update), [`compare_exchange`](HashMapRef::compare_exchange), [`get_or_insert_with`](HashMapRef::get_or_insert_with), [`update_or_insert_with`](HashMapRef::update_or_insert_with), [`compute`](HashMapRef::compute) |
//! | whole map | [`iter`](HashMapRef::iter), [`retain`](HashMapRef::retain), [`clear`](HashMapRef::clear), [`reserve`](HashMapRef::reserve) |
//! | exclusive (`&mut`, no atomic read-modify-write) | [`get_mut`](HashMap::get_mut), [`iter_mut`](HashMap::iter_mut), [`drain`](HashMap::drain), `into_iter`; [`shrink_to_fit`](HashMap::shrink_to_fit) (two counter additions, no CAS) |
//! | observability | [`len`](HashMap::len), [`capacity`](HashMap::capacity), [`stats`](HashMap::stats) |
//!
//! Every keyed lookup takes any `Q: Hash + Equivalent<K>` (as in hashbrown
//! and indexmap), so a `HashMap<String, _>` is queried with a `&str`.
//!
//! # Cargo features
//!
//! None is on by default.
//!
//! - `serde`: `Serialize` and `Deserialize` for [`HashMap`] (as a map) and
//!   [`HashSet`] (as a sequence).
//! - `rayon`: `par_iter`, `ParallelExtend` (also through `&HashMap`, to fill
//!   a shared map from a parallel iterator) and `FromParallelIterator`.
//!
//! # Guarantees
//!
//! - Every operation on a key is linearizable: `get`, `insert`, `try_insert`,
//!   `get_or_insert_with`, `update`, `update_or_insert_with`, `compute`,
//!   `compare_exchange`, `remove`, `remove_if`.
//! - Whatever a thread wrote before inserting or updating a value is visible
//!   to every thread whose `get` returns that value, with no delay.
//! - `update`, `compute` and `compare_exchange` never lose an update under
//!   contention. The closures of `update` and `compute`, the predicate of
//!   `remove_if` and the `update` closure of `update_or_insert_with` may run
//!   more than once (again on a newer entry when a race is lost), so they
//!   must not have side effects that cannot repeat.
//! - Closures and `Hash`/`Eq` may call back into the map, for any key, with
//!   no memory unsafety. But a closure of `update`, `compute`, `remove_if` or
//!   `update_or_insert_with` that writes the key it is judging replaces the
//!   entry it was shown, so the outer call loses its race and runs the
//!   closure again: one more run per such write, and a closure that writes
//!   its own key on every run never returns (while its garbage is held by
//!   the caller's guard).
//! - Iteration is weakly consistent: every entry present for the whole
//!   iteration is yielded exactly once, even while the table resizes.
//! - `len` is exact when no write is in flight, approximate during writes.
//! - Reads are wait-free in the absence of resizes and never wait for another
//!   thread. No write waits for another thread either: a thread suspended in
//!   the middle of any operation holds up nobody. Writes are lock-free, except
//!   that racing first inserts of one absent key are only obstruction-free
//!   (two of them can, in theory, undo each other's claims forever; see
//!   `docs/design.md`, "Progress"). Resizes are incremental: each writer
//!   moves a bounded number of buckets (its helping budget and its own key's
//!   region), readers follow forwarding marks. Two calls do more: `reserve`
//!   finishes a resize in flight that is too small for it, and an insert into
//!   a resize target already near its own load limit (a shrink that inserts
//!   overtook) helps that resize to its end first.
//!
//! Keys and values must be `Send + 'static`: removed entries are dropped by
//! the global epoch collector, possibly on another thread and after the map.
//!
//! # Panics
//!
//! Two causes are common to many methods, so they are listed here once
//! rather than under each:
//!
//! - A guard that is not from crossbeam-epoch's default collector (such as
//!   `crossbeam_epoch::unprotected()`, or a guard of a local `Collector`)
//!   passed to a guard-taking method panics, before anything is read.
//! - A table that cannot be allocated panics with a message naming the
//!   failed allocation. Besides [`HashMap::with_capacity`] and
//!   [`HashMap::reserve`], which say so, this can happen in any operation
//!   that may start a resize or build a new table: `insert`, `try_insert`,
//!   `get_or_insert_with`, `update_or_insert_with`, `compute`, `Extend`,
//!   `FromIterator`, `Clone`, `drain`, `shrink_to_fit` and `into_iter`; and,
//!   while a resize is in flight, in every write that helps it (`remove`,
//!   `update`, `compare_exchange` and the others), since a copy that finds
//!   its target full starts the target's own resize. The map keeps every
//!   entry it had. The panic comes before the operation's write, with one
//!   exception: an insert that placed its entry outside the key's home
//!   bucket checks the load afterwards, so it may panic with its entry in
//!   the map. [`HashMap::try_reserve`] makes room ahead of time and returns
//!   an error instead when its own table cannot be allocated (a resize in
//!   flight that it helps first can still panic, as in any write that helps).
//!
//! A panic in a caller's `Hash`, `Eq` or closure unwinds through the call and
//! leaves the map consistent: nothing lost, leaked or dropped twice
//! (`docs/reliability.md`).
//!
//! A key whose `Hash` or `Eq` breaks its contract (an `Eq` that is not
//! reflexive, say) is a logic error: the map may not find it, or keep two
//! entries that compare equal, but other keys are unaffected and nothing is
//! freed twice. One case is known to fall short of that: a key whose hash
//! changes while it is in the map, during a resize, can be copied twice by
//! racing migrators (`docs/design.md`, section 4).
//!
//! On Linux a table of 4 MiB or more (65,536 buckets and up, which a map
//! grows into past about 143,000 entries) is advised `MADV_HUGEPAGE` before
//! it is zeroed, so that the kernel can back it with transparent huge pages:
//! large maps' lookups then take fewer TLB misses, and the insert that
//! allocates such a table may wait for the kernel to compact memory. A
//! program that wants neither turns THP off for its process
//! (`prctl(PR_SET_THP_DISABLE)`) or system.
//!
//! The design, with the happens-before argument for every atomic operation,
//! is in `docs/design.md` in the repository.
//!
//! [crossbeam-epoch]: https://docs.rs/crossbeam-epoch
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

mod compute;
mod counter;
mod error;
mod map;
mod raw;
#[cfg(feature = "rayon")]
mod rayon;
#[cfg(feature = "serde")]
mod serde;
mod set;
mod stats;
mod sync;

#[cfg(feature = "rayon")]
pub use self::rayon::{ParIter, ParKeys};
pub use compute::{Compute, Operation};
pub use crossbeam_epoch::Guard;
pub use equivalent::Equivalent;
pub use error::{CompareExchangeError, OccupiedError, TryReserveError};
pub use map::{
    DefaultHashBuilder, Drain, HashMap, HashMapRef, IntoIter, Iter, IterMut, Keys, Values,
};
pub use set::{HashSet, HashSetRef, IntoIter as SetIntoIter};
pub use stats::{Audit, MigrationProgress, Stats};

/// Bytes of freed node memory that the calling thread keeps for its next
/// inserts (at most 16 KiB per node layout and 64 KiB per thread, returned to
/// the allocator when the thread exits; docs/design.md, section 6). Tests
/// that check that memory returns to a byte baseline subtract it. Not stable
/// API.
#[doc(hidden)]
pub fn thread_node_cache_bytes() -> usize {
    raw::thread_node_cache_bytes()
}

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
//!     s.spawn(|| assert_eq!(routes.pin().get("/api"), Some(&8080)));
//!     s.spawn(|| {
//!         let _ = routes.pin().update("/api", |port| port + 1);
//!     });
//! });
//! ```
//!
//! # When to choose it
//!
//! - **Over `RwLock<HashMap>`**: readers never take a lock, never write shared
//!   memory and never wait for a writer, so read throughput scales with cores
//!   and a slow writer cannot stall them.
//! - **Over dashmap**: no shard locks: a reader is never blocked by a writer
//!   of its shard, and a write never blocks anyone.
//! - **Over papaya and flurry**: the same lock-free model with a cheaper read:
//!   one 64-byte bucket holds seven tags and seven pointers, so a lookup of a
//!   present key touches one cache line of the table and the node.
//! - **Not** when the map is single-threaded (use `hashbrown`), or when keys
//!   and values are tiny and the map fits in cache behind one lock that is
//!   rarely contended: an inline table behind a lock pays one memory access
//!   where a table of pointers pays two.
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
//! # Guarantees
//!
//! - Every operation on a key is linearizable: `get`, `insert`, `try_insert`,
//!   `get_or_insert_with`, `update`, `compare_exchange`, `remove`.
//! - Whatever a thread wrote before inserting or updating a value is visible
//!   to every thread whose `get` returns that value, with no delay.
//! - `update` and `compare_exchange` never lose an update under contention.
//! - Iteration is weakly consistent: every entry present for the whole
//!   iteration is yielded exactly once, even while the table resizes.
//! - `len` is exact when no write is in flight, approximate during writes.
//! - Reads are wait-free in the absence of resizes and never wait for another
//!   thread; writes are lock-free. Resizes are incremental: writers move a
//!   bounded number of buckets each, readers follow forwarding marks.
//!
//! Keys and values must be `Send + 'static`: removed entries are dropped by
//! the global epoch collector, possibly on another thread and after the map.
//!
//! The design, with the happens-before argument for every atomic operation,
//! is in `docs/design.md` in the repository.
//!
//! [crossbeam-epoch]: https://docs.rs/crossbeam-epoch
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

mod counter;
mod error;
mod map;
mod raw;
mod set;
mod sync;

pub use crossbeam_epoch::Guard;
pub use equivalent::Equivalent;
pub use error::{CompareExchangeError, OccupiedError, TryReserveError};
pub use map::{DefaultHashBuilder, HashMap, HashMapRef, Iter, Keys, Values};
pub use set::{HashSet, HashSetRef};

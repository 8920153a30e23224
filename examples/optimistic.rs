//! Optimistic concurrency: threads move money between accounts with
//! `compare_exchange` retry loops, and the total is conserved.
//!
//! Each transfer debits one account and credits another. A debit reads the
//! balance, computes the new one and installs it only if the balance is still
//! what it read; if another thread got there first, it retries with the
//! balance that thread left (handed back in the error, with our new value, so
//! nothing is cloned). A debit that would overdraw is refused.
//!
//! Run: `cargo run --release --example optimistic`

use epochmap::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

const ACCOUNTS: u64 = 16;
const THREADS: u64 = 4;
const TRANSFERS: u64 = 50_000;
const OPENING: i64 = 1_000;

/// Adds `delta` to the balance of `account` if the result is not negative.
/// Returns false (and changes nothing) if it would be; counts CAS retries.
fn apply(map: &HashMap<u64, i64>, account: u64, delta: i64, retries: &AtomicU64) -> bool {
    let guard = map.guard();
    let mut seen = *map
        .get(&account, &guard)
        .expect("accounts are never removed");
    loop {
        let next = seen + delta;
        if next < 0 {
            return false;
        }
        match map.compare_exchange(&account, &seen, next, &guard) {
            Ok(_) => return true,
            Err(e) => {
                retries.fetch_add(1, Ordering::Relaxed);
                seen = *e.current.expect("accounts are never removed");
            }
        }
    }
}

fn main() {
    let balances: HashMap<u64, i64> = (0..ACCOUNTS).map(|a| (a, OPENING)).collect();
    let retries = AtomicU64::new(0);
    let refused = AtomicU64::new(0);

    thread::scope(|s| {
        for t in 0..THREADS {
            let (balances, retries, refused) = (&balances, &retries, &refused);
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                for _ in 0..TRANSFERS {
                    // xorshift: a cheap, deterministic stream of transfers
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let from = x % ACCOUNTS;
                    let to = (x >> 16) % ACCOUNTS;
                    let amount = ((x >> 32) % 200) as i64;
                    if apply(balances, from, -amount, retries) {
                        assert!(
                            apply(balances, to, amount, retries),
                            "a credit cannot overdraw"
                        );
                    } else {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });

    let guard = balances.guard();
    let total: i64 = balances.values(&guard).sum();
    println!(
        "{} transfers, {} refused for lack of funds, {} compare_exchange retries",
        THREADS * TRANSFERS,
        refused.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed)
    );
    println!(
        "total after: {total} (opening total {}): conserved = {}",
        ACCOUNTS as i64 * OPENING,
        total == ACCOUNTS as i64 * OPENING
    );
    assert_eq!(total, ACCOUNTS as i64 * OPENING);
    assert!(
        balances.values(&guard).all(|b| *b >= 0),
        "no account overdrawn"
    );
}

#!/usr/bin/env bash
# The bounded reliability suite on its own: the same tests that .ci/run runs
# inside `cargo test --release` and its Miri step (docs/reliability.md has each
# test's figures and the long forms). Target time: under 8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/reliability}

cargo test --release \
    --test linearizability --test nothing_lost --test drops_and_leaks \
    --test panic_safety --test progress --test adversarial_hashing
# Timing-sensitive: alone, one test at a time.
cargo test --release --test bounded_garbage -- --test-threads 1

scripts/sanitize.sh miri

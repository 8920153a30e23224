#!/usr/bin/env bash
# Smoke run of every fuzz target: builds them, fuzzes each for SMOKE_SECONDS
# (60 by default) from the committed seed corpus, and fails on the first
# crash, timeout or out-of-memory. New corpus entries go to a scratch
# directory under fuzz/target, so the checkout stays clean.
#
#   bash fuzz/smoke.sh              # every target
#   bash fuzz/smoke.sh ops set      # some targets
#
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz if it is
# missing.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${SMOKE_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ops concurrent set)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The shared code of the targets has unit tests of its own: the history
# checker must reject histories no sequential order explains.
cargo +nightly test --lib

cargo +nightly fuzz build
for t in "${targets[@]}"; do
    work="target/smoke-corpus/$t"
    rm -rf "$work"
    mkdir -p "$work"
    echo "=== fuzz/$t for ${seconds}s"
    # -timeout: an input running 10 s is a hang (the slowest seen is far below 1 s).
    cargo +nightly fuzz run "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1
done
echo "=== fuzz smoke: ${#targets[@]} targets, no crash"

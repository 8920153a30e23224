#!/usr/bin/env bash
# Smoke run of every fuzz target: builds them, fuzzes each for SMOKE_SECONDS
# (60 by default) from the committed seed corpus, SMOKE_JOBS targets at a time
# (2 by default: a libFuzzer process keeps about one core busy), and fails if any
# target crashes, times out or runs out of memory. New corpus entries go to a
# scratch directory under fuzz/target, so the checkout stays clean.
#
#   bash fuzz/smoke.sh              # every target
#   bash fuzz/smoke.sh ops set      # some targets
#
# Needs a nightly toolchain (`cargo +nightly`), which it installs with rustup
# if it is missing, as scripts/sanitize.sh does; installs cargo-fuzz if it is
# missing.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${SMOKE_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ops concurrent set)
fi

jobs="${SMOKE_JOBS:-2}"
if ! [[ $jobs =~ ^[1-9][0-9]*$ ]]; then
    echo "SMOKE_JOBS must be a positive number of targets at a time, not '$jobs'" >&2
    exit 2
fi
# `wait -n -p` (finish_one) came with bash 5.1.
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    echo "fuzz/smoke.sh needs bash 5.1 or later (this is $BASH_VERSION)" >&2
    exit 2
fi
cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# The shared code of the targets has unit tests of its own: the history
# checker must reject histories no sequential order explains.
cargo +nightly test --lib

cargo +nightly fuzz build

# smoke TARGET: fuzzes one target into its log; the exit status is libFuzzer's.
smoke() {
    local t=$1 work="target/smoke-corpus/$1"
    rm -rf "$work"
    mkdir -p "$work"
    # -timeout: an input running 10 s is a hang (the slowest seen is far below 1 s).
    cargo +nightly fuzz run "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"target/smoke-$t.log" 2>&1
}
# report TARGET STATUS: the whole log of a failed target, the final stats of a passed one.
report() {
    local t=$1 status=$2
    if [ "$status" -eq 0 ]; then
        echo "=== fuzz/$t for ${seconds}s: no crash"
        grep -E '^(stat::|Done |#[0-9]+.*DONE)' "target/smoke-$t.log" || true
    else
        echo "=== fuzz/$t for ${seconds}s: FAILED (exit $status)"
        cat "target/smoke-$t.log"
    fi
}
declare -A running=()
failed=()
# Each target runs in a process group of its own (job control, below): if
# this script stops early, the trap stops every fuzzer still running.
stop_running() {
    local pid
    for pid in "${!running[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
trap stop_running EXIT
trap 'exit 130' INT TERM
# finish_one: waits for one running target, reports it, and forgets it.
finish_one() {
    local pid t status=0
    wait -n -p pid "${!running[@]}" || status=$?
    t=${running[$pid]}
    unset "running[$pid]"
    report "$t" "$status"
    [ "$status" -eq 0 ] || failed+=("$t")
}
for t in "${targets[@]}"; do
    while ((${#running[@]} >= jobs)); do finish_one; done
    echo "=== fuzz/$t: started (${seconds}s)"
    set -m
    smoke "$t" &
    running[$!]=$t
    set +m
done
while ((${#running[@]})); do finish_one; done
if ((${#failed[@]})); then
    echo "=== fuzz smoke: ${failed[*]} failed" >&2
    exit 1
fi
echo "=== fuzz smoke: ${#targets[@]} targets, no crash"

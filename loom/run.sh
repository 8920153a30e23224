#!/usr/bin/env bash
# Runs every loom model of epochmap (loom/tests/*.rs) in release mode.
#
#   loom/run.sh                      # preemption bound 2 (CI)
#   LOOM_MAX_PREEMPTIONS=3 loom/run.sh --exact <model>   # deeper, one model at a time
#
# Extra arguments go to the test harness (`--skip NAME`, `--exact NAME`, ...).
# The models build in loom/target, away from the root crate's normal builds,
# because the loom cfgs change every crate of the graph.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg loom --cfg crossbeam_loom --cfg crossbeam_sanitize"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-$PWD/target}"
# Two models at a time: the machine has two cores.
exec cargo test --release -- --test-threads "${LOOM_TEST_THREADS:-2}" --nocapture "$@"

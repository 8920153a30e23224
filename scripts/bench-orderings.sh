#!/usr/bin/env bash
# What the map's own orderings buy over making every atomic SeqCst.
#
# Runs the `map/` group of the fences bench twice:
#   1. the normal build, saved as criterion baseline `acqrel`;
#   2. a build with RUSTFLAGS="--cfg epochmap_seqcst" (src/sync.rs then maps
#      every ordering the map uses to SeqCst), in its own target dir so the
#      two builds do not invalidate each other, saved as baseline `seqcst`;
# and prints the two side by side (examples/compare_baselines.rs).
#
# Both baselines go into one criterion tree ($CRITERION_HOME, default
# <target>/criterion) so the comparison can read them together.
#
# With ROUNDS=N (N > 1) the two bench binaries are built first and then run
# alternately N times (ABAB..., the order swapped every other round), saved as
# baselines acqrel-1 seqcst-1 ... acqrel-N seqcst-N, and the comparison is
# paired: the median of the N per-round ratios. On a machine whose timings
# drift or flip between modes (this 2-vCPU VM), a pair run seconds apart is
# far more comparable than two separate runs.
#
# Environment: CARGO_TARGET_DIR (default target) for the normal build;
# SEQCST_TARGET_DIR (default $CARGO_TARGET_DIR-seqcst, or target/seqcst)
# for the SeqCst build. Extra arguments are passed to criterion, e.g.
#   bash scripts/bench-orderings.sh --measurement-time 3
set -euo pipefail
cd "$(dirname "$0")/.."

acqrel_dir="${CARGO_TARGET_DIR:-target}"
if [[ -n ${SEQCST_TARGET_DIR:-} ]]; then
    seqcst_dir=$SEQCST_TARGET_DIR
elif [[ -n ${CARGO_TARGET_DIR:-} ]]; then
    seqcst_dir="$CARGO_TARGET_DIR-seqcst"
else
    seqcst_dir=target/seqcst
fi
mkdir -p "$acqrel_dir"
export CRITERION_HOME="${CRITERION_HOME:-$(cd "$acqrel_dir" && pwd)/criterion}"

rounds="${ROUNDS:-1}"
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')"

# The path of the fences bench executable of one build.
bench_bin() {
    cargo bench --bench fences --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
echo "== building map/ with the map's orderings (target $acqrel_dir) and all SeqCst (target $seqcst_dir)"
acqrel_bin=$(CARGO_TARGET_DIR="$acqrel_dir" bench_bin)
seqcst_bin=$(CARGO_TARGET_DIR="$seqcst_dir" RUSTFLAGS="${RUSTFLAGS:-} --cfg epochmap_seqcst" bench_bin)
[[ -x $acqrel_bin && -x $seqcst_bin ]] || { echo "bench-orderings: build failed" >&2; exit 1; }

# One round: baselines `acqrel` and `seqcst`; N rounds: `acqrel-1 seqcst-1 ...`.
names=()
for ((r = 1; r <= rounds; r++)); do
    suffix=""
    ((rounds > 1)) && suffix="-$r"
    order=(acqrel seqcst)
    ((r % 2 == 0)) && order=(seqcst acqrel)
    for build in "${order[@]}"; do
        bin=$acqrel_bin
        [[ $build == seqcst ]] && bin=$seqcst_bin
        echo "== round $r/$rounds: $build (baseline $build$suffix)"
        "$bin" --bench map/ --noplot --save-baseline "$build$suffix" "$@"
    done
    names+=("acqrel$suffix" "seqcst$suffix")
done

echo "== per-operation medians, $rounds round(s), $cpu"
paired=()
((rounds > 1)) && paired=(--paired)
CARGO_TARGET_DIR="$acqrel_dir" \
    cargo run --quiet --profile bench --example compare_baselines -- \
    --dir "$CRITERION_HOME" --filter map/ "${paired[@]}" "${names[@]}"

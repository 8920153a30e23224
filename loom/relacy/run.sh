#!/usr/bin/env bash
# Runs the Relacy model of a chunk counted on another copier's MOVED
# (moved_count.cpp, which says why this edge needs Relacy rather than loom).
#
#   loom/relacy/run.sh             # preemption bound 5 (CI)
#   RELACY_BOUND=8 loom/relacy/run.sh
#
# Checks first that Relacy's fences follow the C++ rule the model relies on
# (fence_rule.cpp). Builds the model once with the orderings of src/raw (it must pass), then
# once per access with that one ordering weakened, and prints which weakened
# builds fail. It fails itself if the unweakened model fails, or if the
# model passes with the MOVED CAS's failure ordering Relaxed (weaken site 18,
# the ordering no loom model can catch). Installs g++ and Debian's
# relacy-dev (headers only) if they are missing; run as root on Debian.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bound=${RELACY_BOUND:-5}

missing=()
command -v g++ >/dev/null || missing+=(g++)
[ -f /usr/include/relacy/relacy.hpp ] || missing+=(relacy-dev)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/epochmap-relacy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NAME FLAGS...: builds and runs one variant of MODEL (default
# moved_count.cpp); prints its verdict.
run() {
    local name=$1
    shift
    g++ -std=c++11 -O2 -w -DBOUND="$bound" "$@" "$here/${MODEL:-moved_count.cpp}" -o "$work/$name"
    if "$work/$name" >"$work/$name.out" 2>&1; then
        echo "passes ($(grep -m1 -o 'iterations: [0-9]*' "$work/$name.out"))"
    else
        # Relacy prints the test name, then what failed, then the iteration.
        echo "FAILS: $(sed -n 2p "$work/$name.out") ($(grep -m1 -o 'iteration: [0-9]*' "$work/$name.out"))"
    fi
}

echo "Relacy $(dpkg-query -W -f='${Version}' relacy-dev 2>/dev/null || echo '(version unknown)'), context bound $bound"

# The checker first: its fences must follow the C++ rule the model needs.
relaxed=$(MODEL=fence_rule.cpp run fence_relaxed)
acquire=$(MODEL=fence_rule.cpp run fence_acquire -DT1_LOAD=rl::mo_acquire)
echo "fence_rule.cpp, T1's load Relaxed: $relaxed"
echo "fence_rule.cpp, T1's load Acquire: $acquire"
if [[ $relaxed != FAILS*"DATA RACE"* || $acquire != passes* ]]; then
    echo "Relacy's fences do not follow the C++ rule moved_count.cpp relies on" >&2
    exit 1
fi
base=$(run base)
echo "orderings of src/raw: $base"
if [[ $base != passes* ]]; then
    sed -n '1,80p' "$work/base.out"
    exit 1
fi

# name | flags | what is weakened. A CAS whose failure ordering is Acquire
# keeps it when its success loses the Release: Relacy, like C++11, rejects a
# failure ordering stronger than the success's, so "success Relaxed" is
# modelled as Acquire there (the Release is what such a weakening removes).
variants=(
    "12|-DMIGRATE_LOAD=rl::mo_relaxed|migrate_bucket's slot load Relaxed"
    "15|-DFREEZE_OK=rl::mo_acquire|the freeze's success without its Release"
    "16|-DFREEZE_FAIL=rl::mo_relaxed|the freeze's failure Relaxed"
    "22|-DSCAN_LOAD=rl::mo_relaxed|scan's slot load Relaxed"
    "1|-DCLAIM_OK=rl::mo_relaxed|the COPY claim's success Relaxed"
    "17|-DSEAL_OK=rl::mo_acquire|the MOVED CAS's success without its Release"
    "18|-DSEAL_FAIL=rl::mo_relaxed|the MOVED CAS's failure Relaxed"
    "9|-DDONE_OR=rl::mo_relaxed|done_bits.fetch_or Relaxed"
    "10|-DCOUNT_ADD=rl::mo_relaxed|chunks_done.fetch_add Relaxed"
    "24|-DROOT_LOAD=rl::mo_relaxed|Root::acquire Relaxed"
    "21|-DLOOKUP_LOAD=rl::mo_relaxed|lookup_in's slot load Relaxed"
    "4|-DF1=0|resolve's fence F1 removed"
    "11|-DF2=0|finish's fence F2 removed"
)
echo
echo "| weaken site | weakened | result |"
echo "|---|---|---|"
site18=""
for v in "${variants[@]}"; do
    IFS='|' read -r site flag what <<<"$v"
    verdict=$(run "site$site" "$flag")
    echo "| $site | $what | $verdict |"
    [[ $site == 18 ]] && site18=$verdict
done
if [[ $site18 != FAILS* ]]; then
    echo "the model passes with the MOVED CAS's failure ordering Relaxed: it has lost its teeth" >&2
    exit 1
fi

#!/usr/bin/env bash
# Runs the Relacy model of a chunk counted on another copier's MOVED
# (moved_count.cpp, which says why this edge needs Relacy rather than loom).
#
#   loom/relacy/run.sh             # preemption bounds 5 and 3 (CI)
#   loom/relacy/run.sh --install   # only install what it needs, then exit
#   RELACY_BOUND=8 RELACY_SCAN_BOUND=5 RELACY_RANDOM=10000000 loom/relacy/run.sh
#
# RELACY_BOUND and RELACY_SCAN_BOUND are the context bounds of the two
# configurations' systematic runs (moved_count.cpp without and with SCAN),
# RELACY_RANDOM the number of random schedules of the unweakened model.
#
# Checks first that the weaken site numbers it uses still name the accesses
# the model transcribes (in `WEAKEN_LIST=1 loom/weaken.sh`'s list), then that
# Relacy's acquire fence takes in only what its own thread read
# (fence_rule.cpp). Then, in each of the model's two configurations
# (without and with SCAN), builds the model with the orderings of src/raw,
# its fences AcqRel (moved_count.cpp, FENCE_ORDER), and runs it under the
# context-bound scheduler and under random schedules: both must pass. Then
# builds it once per weakened access and prints the verdicts; it fails if
# any differs from the one listed below. The one that matters is that the
# model fails with the MOVED CAS's failure ordering Relaxed (weaken site 18,
# the ordering no loom model can catch), also with the fences SeqCst as in
# the source (Relacy's SeqCst fences are stronger than C++'s, so a failure
# there is one of the source). Installs g++, Debian's relacy-dev (headers
# only) and python3 (which runs loom/weaken.sh's site list) if they are
# missing; run as root on Debian.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bound=${RELACY_BOUND:-5}
scan_bound=${RELACY_SCAN_BOUND:-3}
random_iterations=${RELACY_RANDOM:-1000000}

missing=()
command -v g++ >/dev/null || missing+=(g++)
[ -f /usr/include/relacy/relacy.hpp ] || missing+=(relacy-dev)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = --install ]; then
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/epochmap-relacy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NAME FLAGS...: builds and runs one variant of MODEL (default
# moved_count.cpp); prints its verdict.
run() {
    local name=$1
    shift
    # `set -e` does not reach into `$(run ...)`: a failed build must say so.
    if ! g++ -std=c++11 -O2 -w "$@" "$here/${MODEL:-moved_count.cpp}" -o "$work/$name"; then
        echo "BUILD FAILED"
        return
    fi
    if "$work/$name" >"$work/$name.out" 2>&1; then
        echo "passes ($(grep -m1 -o 'iterations: [0-9]*' "$work/$name.out"))"
    else
        # What failed is Relacy's first line in capitals ("USER ASSERT FAILED
        # (...)", "DATA RACE (...)", ...); progress lines ("N% (i/n)") may
        # come before it.
        echo "FAILS: $(grep -m1 -E '^[A-Z][A-Z ]+ \(' "$work/$name.out") ($(grep -m1 -o 'iteration: [0-9]*' "$work/$name.out"))"
    fi
}

echo "Relacy $(dpkg-query -W -f='${Version}' relacy-dev 2>/dev/null || echo '(version unknown)'), context bounds $bound (counted) and $scan_bound (scanned)"

# must_pass WHAT VERDICT OUTPUT: prints the verdict, and stops the run
# (showing Relacy's output) unless it is "passes ...".
must_pass() {
    local what=$1 verdict=$2 out=$3
    echo "$what: $verdict"
    if [[ $verdict != passes* ]]; then
        [[ $verdict == "BUILD FAILED" ]] || sed -n '1,80p' "$out"
        exit 1
    fi
}

# The variants below name weaken sites by loom/weaken.sh's numbers, which
# follow the order of the ordering arguments in src/raw. Each number must
# still name the access this model transcribes: its file, function, place
# among that function's sites, kind and ordering. A site added or removed
# in src/raw, or weakened to Relaxed, renumbers the others; one whose
# ordering changes between listed kinds keeps its number and differs in the
# ordering named here. Either way the model and this table need a look
# before their verdicts mean anything.
declare -A site_is=(
    [1]="src/raw/claim.rs claim#1 CAS success AcqRel"
    [4]="src/raw/claim.rs resolve#1 fence SeqCst"
    [9]="src/raw/migration.rs migrate_chunk#1 fetch_or AcqRel"
    [10]="src/raw/migration.rs migrate_chunk#2 fetch_add AcqRel"
    [11]="src/raw/migration.rs finish#1 fence SeqCst"
    [12]="src/raw/migration.rs migrate_bucket#1 load Acquire"
    [15]="src/raw/migration.rs migrate_slot#3 CAS success AcqRel"
    [16]="src/raw/migration.rs migrate_slot#4 CAS failure Acquire"
    [17]="src/raw/migration.rs migrate_slot#5 CAS success AcqRel"
    [18]="src/raw/migration.rs migrate_slot#6 CAS failure Acquire"
    [21]="src/raw/probe.rs lookup_in#1 load Acquire"
    [22]="src/raw/probe.rs scan_region#1 load Acquire"
    [24]="src/raw/table.rs acquire#1 load Acquire"
)
# weaken.sh's list: site, file:line, function, kind, ordering (tab-separated).
sites=$(WEAKEN_LIST=1 bash "$here/../weaken.sh" |
    awk -F'\t' '{ split($2, f, ":"); k = f[1] " " $3; n[k]++; print $1 "\t" k "#" n[k] " " $4 " " $5 }')
renumbered=()
for site in "${!site_is[@]}"; do
    found=$(awk -F'\t' -v s="$site" '$1 == s { print $2 }' <<<"$sites")
    if [[ $found != "${site_is[$site]}" ]]; then
        renumbered+=("$site is now '${found:-nothing}', the model expects '${site_is[$site]}'")
    fi
done
if ((${#renumbered[@]})); then
    printf 'weaken site %s\n' "${renumbered[@]}" >&2
    echo "the ordering sites of src/raw have changed: check moved_count.cpp and this script's site numbers" >&2
    exit 1
fi
echo "site numbers: the ${#site_is[@]} sites named below are those of loom/weaken.sh's list"
# The checker first: its acquire fence must take in only what its own
# thread read (fence_rule.cpp).
relaxed=$(MODEL=fence_rule.cpp run fence_relaxed)
acquire=$(MODEL=fence_rule.cpp run fence_acquire -DT1_LOAD=rl::mo_acquire)
echo "fence_rule.cpp, T1's load Relaxed: $relaxed"
echo "fence_rule.cpp, T1's load Acquire: $acquire"
if [[ $relaxed == "BUILD FAILED" || $acquire == "BUILD FAILED" ]]; then
    echo "fence_rule.cpp did not build" >&2
    exit 1
fi
if [[ $relaxed != FAILS*"DATA RACE"* || $acquire != passes* ]]; then
    echo "Relacy's acquire fence takes in more than its own thread read, or the litmus test broke" >&2
    exit 1
fi
# Two configurations: the finish by the last counter (bound $bound), and the
# same with every thread ending as help_migrate does (-DSCAN=1: a finish on
# Relaxed loads of the counter and the done bits), whose schedules grow
# faster (bound $scan_bound).
configs=("counted|-DBOUND=$bound" "scanned|-DSCAN=1 -DBOUND=$scan_bound")
for c in "${configs[@]}"; do
    IFS='|' read -r cname cflags <<<"$c"
    # shellcheck disable=SC2086 # several -D flags
    must_pass "$cname, orderings of src/raw" "$(run "base_$cname" $cflags)" "$work/base_$cname.out"
    # Random schedules, whose loads may read two stores back (the systematic
    # scheduler: one).
    # shellcheck disable=SC2086
    must_pass "$cname, $random_iterations random schedules" \
        "$(run "random_$cname" $cflags -DRANDOM_ITERATIONS="$random_iterations")" "$work/random_$cname.out"
done
# site | flags | what is weakened | the verdict it must give, counted:scanned
# ("fails" means the lookup misses A: the assertion `v == COPIED`). A CAS
# whose failure ordering is Acquire keeps it when its success loses the
# Release: Relacy, like C++11, rejects a failure ordering stronger than the
# success's, so "success Relaxed" is modelled as Acquire there (the Release
# is what such a weakening removes).
variants=(
    "12|-DMIGRATE_LOAD=rl::mo_relaxed|migrate_bucket's slot load Relaxed|fails:fails"
    "15|-DFREEZE_OK=rl::mo_acquire|the freeze's success without its Release|passes:passes"
    "16|-DFREEZE_FAIL=rl::mo_relaxed|the freeze's failure Relaxed|fails:fails"
    "22|-DSCAN_LOAD=rl::mo_relaxed|scan's slot load Relaxed|passes:passes"
    "1|-DCLAIM_OK=rl::mo_relaxed|the COPY claim's success Relaxed|passes:passes"
    "17|-DSEAL_OK=rl::mo_acquire|the MOVED CAS's success without its Release|fails:fails"
    "18|-DSEAL_FAIL=rl::mo_relaxed|the MOVED CAS's failure Relaxed|fails:fails"
    "9|-DDONE_OR=rl::mo_relaxed|done_bits.fetch_or Relaxed|passes:fails"
    "10|-DCOUNT_ADD=rl::mo_relaxed|chunks_done.fetch_add Relaxed|fails:fails"
    "24|-DROOT_LOAD=rl::mo_relaxed|Root::acquire Relaxed|passes:passes"
    "21|-DLOOKUP_LOAD=rl::mo_relaxed|lookup_in's slot load Relaxed|passes:passes"
    "4|-DF1=0|resolve's fence F1 removed|passes:passes"
    "11|-DF2=0|finish's fence F2 removed|passes:fails"
    "18sc|-DSEAL_FAIL=rl::mo_relaxed -DFENCE_ORDER=rl::mo_seq_cst|site 18, with the fences SeqCst as in the source|fails:fails"
    "9sc|-DDONE_OR=rl::mo_relaxed -DFENCE_ORDER=rl::mo_seq_cst|site 9, with the fences SeqCst as in the source|passes:fails"
)
echo
echo "| weaken site | weakened | counted (bound $bound) | scanned (bound $scan_bound) |"
echo "|---|---|---|---|"
wrong=()
for v in "${variants[@]}"; do
    IFS='|' read -r site flags what expect <<<"$v"
    row="| $site | $what |"
    for c in "${configs[@]}"; do
        IFS='|' read -r cname cflags <<<"$c"
        if [[ $cname == counted ]]; then want=${expect%%:*}; else want=${expect##*:}; fi
        # shellcheck disable=SC2086 # several -D flags
        verdict=$(run "site${site}_$cname" $flags $cflags)
        row="$row $verdict |"
        case $want in
            fails) [[ $verdict == FAILS*"assertion: v == COPIED"* ]] || wrong+=("$site ($cname)") ;;
            passes) [[ $verdict == passes* ]] || wrong+=("$site ($cname)") ;;
            *) wrong+=("$site (bad expectation '$want')") ;;
        esac
    done
    echo "$row"
done
if ((${#wrong[@]})); then
    echo "verdicts other than expected for site(s) ${wrong[*]}: the model or the source has changed" >&2
    exit 1
fi

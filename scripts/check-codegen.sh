#!/usr/bin/env bash
# Verifies what each memory ordering compiles to, on x86_64 and aarch64.
#
# Builds examples/fence_probe.rs (which compiles the bench kernels of
# benches/fences/) with this rustc at -C opt-level=3 for:
#   x86_64 (host), aarch64, aarch64 +rcpc, aarch64 +lse,
# disassembles the #[no_mangle] kernels with objdump, and asserts the
# instruction each ordering became (and that no stronger one crept in).
# Then it runs the x86_64 probe natively and each aarch64 probe under
# qemu-aarch64, which executes every asm sequence once. qemu-user 7.2 can
# hang; a run that times out is reported and does not fail the check (the
# disassembly is then the evidence). Any other failure exits non-zero.
#
# Installs what it needs (rustup target, cross gcc/binutils, qemu-user)
# when missing; run as root on Debian/Ubuntu. Usage: bash scripts/check-codegen.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out="${CARGO_TARGET_DIR:-target}/check-codegen"
mkdir -p "$out"
qemu_timeout="${QEMU_TIMEOUT:-60}"

# --- tools -----------------------------------------------------------------
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi
missing=()
command -v objdump >/dev/null || missing+=(binutils)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
command -v aarch64-linux-gnu-objdump >/dev/null || missing+=(binutils-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "rustc: $(rustc -V) ($(rustc -vV | grep LLVM))"

# --- build -------------------------------------------------------------------
build() { # name target extra-rustc-flags...
    local name=$1 target=$2
    shift 2
    local link=()
    [[ $target == aarch64-unknown-linux-gnu ]] && link=(-C linker=aarch64-linux-gnu-gcc)
    rustc --edition 2021 -C opt-level=3 --target "$target" "${link[@]}" "$@" \
        -o "$out/probe-$name" examples/fence_probe.rs
}
build x86_64 x86_64-unknown-linux-gnu
build aarch64 aarch64-unknown-linux-gnu
build aarch64+rcpc aarch64-unknown-linux-gnu -C target-feature=+rcpc
build aarch64+lse aarch64-unknown-linux-gnu -C target-feature=+lse

# --- disassembly checks ------------------------------------------------------
failures=0

# The instructions of one function, one per line, tabs turned to spaces.
body() { # binary symbol
    local dump=objdump flags=(-M intel)
    [[ $1 == *aarch64* ]] && dump=aarch64-linux-gnu-objdump && flags=()
    "$dump" -d --no-show-raw-insn "${flags[@]}" --disassemble="$2" "$1" |
        awk -v head="<$2>:" '$0 ~ head"$" {on=1; next} on && /^$/ {exit} on' |
        sed -E 's/^ *[0-9a-f]+:\t//; s/\t/ /g; s/ +/ /g; s/ *\/\/.*$//'
}

# expect BUILD SYMBOL MUST-MATCH [MUST-NOT-MATCH]: the function must contain
# an instruction matching the first ERE and none matching the second.
expect() {
    local build=$1 sym=$2 must=$3 mustnot=${4:-} insns hit
    insns=$(body "$out/probe-$build" "$sym")
    if [[ -z $insns ]]; then
        printf 'FAIL %-13s %-34s symbol not found\n' "$build" "$sym"
        failures=$((failures + 1))
        return
    fi
    hit=$(grep -Em1 -- "$must" <<<"$insns" || true)
    if [[ -z $hit ]]; then
        printf 'FAIL %-13s %-34s no instruction matching /%s/\n' "$build" "$sym" "$must"
        failures=$((failures + 1))
        return
    fi
    if [[ -n $mustnot ]] && grep -Eq -- "$mustnot" <<<"$insns"; then
        printf 'FAIL %-13s %-34s has /%s/: %s\n' "$build" "$sym" "$mustnot" \
            "$(grep -Em1 -- "$mustnot" <<<"$insns")"
        failures=$((failures + 1))
        return
    fi
    printf 'ok   %-13s %-34s %s\n' "$build" "$sym" "$hit"
}

# expect_count BUILD SYMBOL ERE N: exactly N instructions match.
expect_count() {
    local build=$1 sym=$2 re=$3 want=$4 got
    got=$(body "$out/probe-$build" "$sym" | grep -Ec -- "$re" || true)
    if [[ $got != "$want" ]]; then
        printf 'FAIL %-13s %-34s %s instructions matching /%s/, expected %s\n' \
            "$build" "$sym" "$got" "$re" "$want"
        failures=$((failures + 1))
        return
    fi
    printf 'ok   %-13s %-34s %s x /%s/\n' "$build" "$sym" "$got" "$re"
}

x86_barrier='lock|xchg|mfence|lfence|sfence'
x86_lockor='^lock or DWORD PTR \[rsp-0x40\],0x0$'

echo "== x86_64: portable orderings"
for shape in chain indep; do
    for ord in relaxed acquire seqcst; do
        expect x86_64 "fences_load_${ord}_$shape" '^mov r[a-z0-9]+,QWORD PTR \[rdi' "$x86_barrier"
    done
    for ord in relaxed release; do
        # (the chain's load-add-store may fuse into a non-atomic `inc [rdi]`)
        expect x86_64 "fences_store_${ord}_$shape" '^(mov|inc) QWORD PTR \[rdi\]' "$x86_barrier"
    done
    expect x86_64 "fences_store_seqcst_$shape" '^xchg QWORD PTR \[rdi\],' 'mfence'
    for ord in acquire release acqrel; do
        expect x86_64 "fences_fence_${ord}_$shape" 'ret' "$x86_barrier"
    done
    expect x86_64 "fences_fence_seqcst_$shape" "$x86_lockor" 'mfence'
    for ord in relaxed acqrel seqcst; do
        expect x86_64 "fences_cas_${ord}_$shape" '^lock cmpxchg QWORD PTR \[rdi\],' 'mfence'
        expect x86_64 "fences_fetch_add_${ord}_$shape" '^lock xadd QWORD PTR \[rdi\],' 'mfence'
    done
done
for ord in acquire release acqrel; do
    expect x86_64 "fences_fence_${ord}_alone" 'ret' "$x86_barrier"
done
expect x86_64 fences_fence_seqcst_alone "$x86_lockor" 'mfence'
# black_box spills its argument: a store to the stack before the fence.
expect x86_64 fences_fence_seqcst_black_box '^mov QWORD PTR \[rsp-' 'mfence'
# fetch_add(0) is rewritten into a fenced plain load, even at Relaxed.
expect x86_64 fences_fetch_add_zero_relaxed "$x86_lockor" 'xadd'
expect x86_64 fences_fetch_add_zero_seqcst "$x86_lockor" 'xadd'

# Two adjacent SeqCst fences are folded into one.
expect_count x86_64 fences_pitfall_fence_twice '^lock or ' 1
# A plain load loop is not a loop any more: one load, multiplied by n.
expect x86_64 fences_pitfall_plain_load '^imul r[a-z0-9]+,QWORD PTR \[rdi\]'

echo "== x86_64: asm kernels"
expect x86_64 fences_x86_mfence_alone '^mfence$'
expect x86_64 fences_x86_lfence_alone '^lfence$'
expect x86_64 fences_x86_sfence_alone '^sfence$'
expect x86_64 fences_x86_lock_add_rsp_alone '^lock add QWORD PTR \[rsp\],0x0$'
expect x86_64 fences_x86_lock_or_rsp64_alone "$x86_lockor"
expect x86_64 fences_x86_xchg_store '^xchg QWORD PTR'
expect x86_64 fences_x86_mov_mfence_store '^mfence$'
expect x86_64 fences_x86_lock_cmpxchg '^lock cmpxchg'
expect x86_64 fences_x86_lock_xadd '^lock xadd'
expect x86_64 fences_x86_store_load '^mov r[a-z0-9]+,QWORD PTR' "$x86_barrier"
expect x86_64 fences_x86_store_mfence_load '^mfence$'
expect x86_64 fences_x86_store_lock_add_rsp_load '^lock add QWORD PTR \[rsp\],0x0$'
expect x86_64 fences_x86_store_lock_or_rsp64_load "$x86_lockor"

a64_barrier='dmb|ldar|ldapr|stlr|cas|ldadd|bl '
for build in aarch64 aarch64+rcpc aarch64+lse; do
    echo "== $build: portable orderings"
    acquire_load='^ldar x'
    [[ $build == aarch64+rcpc ]] && acquire_load='^ldapr x'
    for shape in chain indep; do
        expect "$build" "fences_load_relaxed_$shape" '^ldr x' "$a64_barrier"
        expect "$build" "fences_load_acquire_$shape" "$acquire_load" 'dmb'
        expect "$build" "fences_load_seqcst_$shape" '^ldar x' 'dmb|ldapr'
        expect "$build" "fences_store_relaxed_$shape" '^str x' "$a64_barrier"
        expect "$build" "fences_store_release_$shape" '^stlr x' 'dmb'
        expect "$build" "fences_store_seqcst_$shape" '^stlr x' 'dmb'
        expect "$build" "fences_fence_acquire_$shape" '^dmb ishld$'
        for ord in release acqrel seqcst; do
            expect "$build" "fences_fence_${ord}_$shape" '^dmb ish$'
        done
        if [[ $build == aarch64+lse ]]; then
            expect "$build" "fences_cas_relaxed_$shape" '^cas x' 'bl '
            expect "$build" "fences_cas_acqrel_$shape" '^casal x' 'bl '
            expect "$build" "fences_cas_seqcst_$shape" '^casal x' 'bl '
            expect "$build" "fences_fetch_add_relaxed_$shape" '^ldadd x' 'bl '
            expect "$build" "fences_fetch_add_seqcst_$shape" '^ldaddal x' 'bl '
        else
            # Without +lse, rustc's default outline atomics: a call to a
            # libgcc-style helper that picks LSE or LL/SC at run time.
            expect "$build" "fences_cas_relaxed_$shape" '^bl .*<__aarch64_cas8_relax>'
            expect "$build" "fences_cas_acqrel_$shape" '^bl .*<__aarch64_cas8_acq_rel>'
            expect "$build" "fences_cas_seqcst_$shape" '^bl .*<__aarch64_cas8_acq_rel>'
            expect "$build" "fences_fetch_add_relaxed_$shape" '^bl .*<__aarch64_ldadd8_relax>'
            expect "$build" "fences_fetch_add_seqcst_$shape" '^bl .*<__aarch64_ldadd8_acq_rel>'
        fi
    done
    expect "$build" fences_fence_acquire_alone '^dmb ishld$'
    expect "$build" fences_fence_seqcst_alone '^dmb ish$'
done
[[ -n $(body "$out/probe-aarch64+lse" fences_fetch_add_zero_seqcst) ]] &&
    expect aarch64+lse fences_fetch_add_zero_seqcst '^ldsetal xzr' 'ldadd'

echo "== aarch64: asm kernels"
expect aarch64 fences_a64_ldar_load_chain '^ldar x'
expect aarch64 fences_a64_ldapr_load_chain_rcpc '^ldapr x'
expect aarch64 fences_a64_ldr_dmb_ishld_chain '^dmb ishld$'
expect aarch64 fences_a64_stlr_store '^stlr x'
expect aarch64 fences_a64_dmb_ish_str_store '^dmb ish$'
expect aarch64 fences_a64_dmb_ish_alone '^dmb ish$'
expect aarch64 fences_a64_dmb_ishld_alone '^dmb ishld$'
expect aarch64 fences_a64_str_dmb_ish_ldr '^dmb ish$'
expect aarch64 fences_a64_stlr_ldar '^ldar x'
expect aarch64 fences_a64_stlr_ldapr_rcpc '^ldapr x'
expect aarch64 fences_a64_ldaxr_stlxr_cas '^stlxr w'
expect aarch64 fences_a64_cas_lse '^cas x'
expect aarch64 fences_a64_casal_lse '^casal x'
expect aarch64 fences_a64_ldaddal_lse '^ldaddal x'

# --- execution ---------------------------------------------------------------
echo "== running the probes"
run_failures=0
"$out/probe-x86_64" >"$out/run-x86_64.txt" && tail -n1 "$out/run-x86_64.txt" ||
    { echo "FAIL x86_64 probe"; run_failures=$((run_failures + 1)); }
for build in aarch64 aarch64+rcpc aarch64+lse; do
    status=0
    timeout "$qemu_timeout" qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/probe-$build" \
        >"$out/run-$build.txt" 2>&1 || status=$?
    if ((status == 0)) && grep -q '^probe:' "$out/run-$build.txt"; then
        echo "qemu $build: $(grep -c '^OK' "$out/run-$build.txt") OK lines," \
            "$(grep -c '^SKIP' "$out/run-$build.txt" || true) skipped; $(tail -n1 "$out/run-$build.txt")"
    elif ((status == 124)); then
        echo "NOTE qemu $build: timed out after ${qemu_timeout}s (known qemu-user 7.2 hang);"
        echo "     not a failure: the disassembly checks above are the evidence for $build."
    else
        echo "FAIL qemu $build: exit $status"
        cat "$out/run-$build.txt"
        run_failures=$((run_failures + 1))
    fi
done

if ((failures + run_failures)); then
    echo "check-codegen: $failures disassembly failures, $run_failures run failures"
    exit 1
fi
echo "check-codegen: all instruction checks passed"

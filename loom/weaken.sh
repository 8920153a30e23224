#!/usr/bin/env bash
# Proof that the loom models have teeth: for every ordering site of the raw
# table (each `ord::ACQUIRE` / `ord::ACQ_REL` argument and each SeqCst fence
# in src/raw), weaken that one site to Relaxed (a fence: remove it) and show
# that at least one model fails.
#
# The real src/ is never touched. The crate is copied to a temp dir, where
# every site is rewritten to `crate::sync::weaken::ord(N, ord::X)` (or
# `weaken::fence(N, ..)`): site N is Relaxed when EPOCHMAP_WEAKEN=N, so one
# build serves every site. Models that fail, or run out of time, on the
# unweakened copy are reported and left out of the attribution.
#
# usage: loom/weaken.sh [SITE...]      (default: every site; a SITE may be a set
#                                      such as 1+3, weakened together, to test
#                                      whether two orderings cover for each other)
#        WEAKEN_LIST=1 loom/weaken.sh   (number the sites of the current source, build nothing)
# env:   LOOM_MAX_PREEMPTIONS (default 2), WEAKEN_TIMEOUT per model run (s, default 420,
#        above the slowest model's ~210-310 s on this 2-core machine; a model out of time counts as not failing,
#        and one out of time unweakened is left out, with a note), WEAKEN_SKIP (regex of models to leave out),
#        WEAKEN_ONLY (regex of the models to keep; both filter before the baseline runs)
#        WEAKEN_OUT (default target/loom-weaken.md): the result table
#        WEAKEN_JOBS (default 1): sites tried at once (each runs one model at a time)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2}
timeout_s=${WEAKEN_TIMEOUT:-420}
work=$(mktemp -d "${TMPDIR:-/tmp}/epochmap-weaken.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=${WEAKEN_OUT:-$root/target/loom-weaken.md}
mkdir -p "$(dirname "$out")"

# A copy of the library and the models, without benches/dev-dependencies.
mkdir -p "$work/crate/loom"
cp -r "$root/src" "$root/Cargo.toml" "$root/Cargo.lock" "$work/crate/"
cp -r "$here/Cargo.toml" "$here/Cargo.lock" "$here/src" "$here/tests" "$work/crate/loom/"
python3 - "$work/crate" > "$work/sites.tsv" <<'PY'
import re, sys, pathlib
root = pathlib.Path(sys.argv[1])
# Benches, examples and dev-dependencies are not needed to build the models.
cargo = (root / "Cargo.toml").read_text()
cargo = re.sub(r"\[\[(?:bench|example|test)\]\]\n(?:[^\[\n][^\n]*\n|\n)*", "", cargo)
cargo = re.sub(r"\[dev-dependencies\]\n(?:[^\[\n][^\n]*\n)*", "", cargo)
(root / "Cargo.toml").write_text(cargo)
site = 0
for path in sorted((root / "src" / "raw").glob("*.rs")):
    text = path.read_text()
    # Comments are blanked in a shadow copy so that orderings named in prose
    # are neither rewritten nor mistaken for arguments.
    shadow = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)
    out, last = [], 0
    for m in re.finditer(r"fence\(ord::SEQ_CST\)|ord::(ACQUIRE|ACQ_REL)\b", shadow):
        site += 1
        i = m.start()
        line = text.count("\n", 0, i) + 1
        fns = re.findall(r"\bfn\s+(\w+)", shadow[:i])
        fn = fns[-1] if fns else "?"
        stmt = shadow[max(shadow.rfind(";", 0, i), shadow.rfind("{", 0, i), shadow.rfind("}", 0, i)) + 1:i]
        if m.group(0).startswith("fence("):
            op, kind = "fence", "SeqCst"
            rep = f"crate::sync::weaken::fence({site}, ord::SEQ_CST)"
        else:
            kind = {"ACQUIRE": "Acquire", "ACQ_REL": "AcqRel"}[m.group(1)]
            rep = f"crate::sync::weaken::ord({site}, ord::{m.group(1)})"
            calls = re.findall(r"\.(\w+)\(", stmt)
            op = calls[-1] if calls else "?"
            if "compare_exchange" in stmt:
                tail = stmt[stmt.rfind("compare_exchange"):]
                op = "CAS failure" if "ord::" in tail else "CAS success"
        print(f"{site}\tsrc/raw/{path.name}:{line}\t{fn}\t{op}\t{kind}")
        out.append(text[last:i])
        out.append(rep)
        last = m.end()
    out.append(text[last:])
    path.write_text("".join(out))
sync = root / "src" / "sync.rs"
sync.write_text(sync.read_text() + '''
/// Inserted by loom/weaken.sh: site `EPOCHMAP_WEAKEN` is weakened to Relaxed.
pub(crate) mod weaken {
    use core::sync::atomic::Ordering;
    /// The sites named by `EPOCHMAP_WEAKEN`: one number, or several joined by `+`.
    fn chosen(site: usize) -> bool {
        static SITES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
        SITES
            .get_or_init(|| {
                std::env::var("EPOCHMAP_WEAKEN")
                    .unwrap_or_default()
                    .split('+')
                    .filter_map(|v| v.trim().parse().ok())
                    .collect()
            })
            .contains(&site)
    }
    #[inline]
    pub(crate) fn ord(site: usize, o: Ordering) -> Ordering {
        if chosen(site) { Ordering::Relaxed } else { o }
    }
    #[inline]
    pub(crate) fn fence(site: usize, o: Ordering) {
        if !chosen(site) { super::fence(o) }
    }
}
''')
PY
nsites=$(wc -l < "$work/sites.tsv")
if [ -n "${WEAKEN_LIST:-}" ]; then cat "$work/sites.tsv"; exit 0; fi
echo "weaken: $nsites ordering sites in src/raw" >&2

export CARGO_TARGET_DIR=${WEAKEN_TARGET_DIR:-$root/target/loom-weaken}
export RUSTFLAGS="--cfg loom --cfg crossbeam_loom --cfg crossbeam_sanitize"
(cd "$work/crate/loom" && cargo build --release --tests --quiet)
# Every (binary, model) pair, cheapest models first.
bins=$(cd "$work/crate/loom" && cargo test --release --tests --no-run --message-format=json 2>/dev/null |
    python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["test"]: print(m["executable"])')
: > "$work/models.tsv"
for b in $bins; do
    for t in $("$b" --list 2>/dev/null | sed -n 's/: test$//p'); do
        if [ -n "${WEAKEN_SKIP:-}" ] && echo "$t" | grep -Eq "$WEAKEN_SKIP"; then continue; fi
        if [ -n "${WEAKEN_ONLY:-}" ] && ! echo "$t" | grep -Eq "$WEAKEN_ONLY"; then continue; fi
        start=$(date +%s.%N)
        rc=0
        EPOCHMAP_WEAKEN=0 timeout "$timeout_s" "$b" --exact "$t" --test-threads 1 >/dev/null 2>&1 || rc=$?
        if [ "$rc" = 0 ]; then
            secs=$(echo "$(date +%s.%N) - $start" | bc)
            printf '%s\t%s\t%s\n' "$secs" "$b" "$t" >> "$work/models.tsv"
        elif [ "$rc" = 124 ]; then
            # Not a failure, but the model could not catch anything in that time either.
            echo "weaken: model $t needs more than WEAKEN_TIMEOUT=${timeout_s} s WITHOUT weakening:" \
                "left out of the attribution (raise WEAKEN_TIMEOUT to include it)" >&2
            echo "$t (out of time)" >> "$work/baseline-failures"
        else
            echo "weaken: model $t fails WITHOUT weakening: left out of the attribution" >&2
            echo "$t" >> "$work/baseline-failures"
        fi
    done
done
sort -n -o "$work/models.tsv" "$work/models.tsv"

{
    echo "| site | file:line | function | operation | ordering | first model that fails with it Relaxed | how it fails |"
    echo "|---|---|---|---|---|---|---|"
} > "$out"
sites=("$@")
[ ${#sites[@]} -eq 0 ] && sites=($(cut -f1 "$work/sites.tsv"))
# One site: run the models cheapest first until one fails; the row goes to
# $work/row.<site>, so that sites can run in parallel and still be reported
# in order.
run_site() {
    local s=$1 loc fn op kind caught="**none**" how="" rc log b t
    # A set (1+3) is reported with its members' columns joined by " + ".
    IFS=$'\t' read -r loc fn op kind < <(awk -F'\t' -v s="$s" '
        BEGIN { n = split(s, want, "+"); for (i = 1; i <= n; i++) pos[want[i]] = i }
        ($1 in pos) { for (c = 2; c <= 5; c++) col[pos[$1], c] = $c }
        END { for (c = 2; c <= 5; c++) { line = col[1, c]
                  for (i = 2; i <= n; i++) line = line " + " col[i, c]
                  printf "%s%s", line, (c < 5 ? "\t" : "\n") } }' "$work/sites.tsv")
    while IFS=$'\t' read -r _ b t; do
        rc=0
        log=$(EPOCHMAP_WEAKEN=$s timeout "$timeout_s" "$b" --exact "$t" --test-threads 1 2>&1) || rc=$?
        if [ "$rc" = 124 ]; then
            # Out of time is not a failure: more weak-memory outcomes to explore.
            how="${how}$t timed out (${timeout_s} s); "
        elif [ "$rc" != 0 ]; then
            caught="$t"
            how=$(printf '%s\n' "$log" | grep -A1 "failed: panicked at" | tail -1 | cut -c1-90 | tr '|' '/')
            [ -z "$how" ] && how="exit $rc"
            break
        fi
    done < "$work/models.tsv"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$loc" "$fn" "$op" "$kind" "$caught" "$how" |
        tee "$work/row.$s" >&2
}
export -f run_site
export work timeout_s
printf '%s\n' "${sites[@]}" | xargs -P "${WEAKEN_JOBS:-1}" -I{} bash -c 'run_site "$1"' _ {}
uncaught=0
for s in "${sites[@]}"; do
    cat "$work/row.$s" >> "$out"
    grep -q '\*\*none\*\*' "$work/row.$s" && uncaught=$((uncaught + 1))
done
if [ -f "$work/baseline-failures" ]; then
    echo "" >> "$out"
    echo "Models left out (failing, or out of time, without any weakening): $(paste -sd ';' "$work/baseline-failures")" >> "$out"
fi
left_out=""
if [ -f "$work/baseline-failures" ]; then
    left_out=", $(wc -l < "$work/baseline-failures") model(s) left out (see the table's last line)"
fi
echo "weaken: ${#sites[@]} sites, $uncaught caught by no model${left_out}; table in $out" >&2

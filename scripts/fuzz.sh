#!/usr/bin/env bash
# Builds every fuzz target of fuzz/ (the [[bin]] entries of fuzz/Cargo.toml, as
# `cargo fuzz list` reads them) and runs each for SECONDS (default 30) from its seed
# corpus in fuzz/corpus/<target>/; any crash, panic, failed assertion, timeout (10 s for
# one input) or out-of-memory fails the run and leaves the input in
# fuzz/artifacts/<target>/. scripts/test.sh runs it; `scripts/fuzz.sh 600` fuzzes longer.
#
# Stable Rust: `--sanitizer none` (AddressSanitizer needs nightly; safe Rust gains little
# from it). The targets are built with optimisations, debug assertions and overflow checks.
# New inputs found go to a temporary directory, never into the committed seeds; to grow a
# seed corpus, fuzz into it and minimise it (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-30}"
# A seed corpus with more content than this (KiB) is not minimised: see fuzz/README.md.
CORPUS_LIMIT_KIB=1024

mapfile -t targets < <(cargo fuzz list)
if [ "${#targets[@]}" = 0 ]; then
    echo "scripts/fuzz.sh: cargo fuzz list found no fuzz target in fuzz/Cargo.toml" >&2
    exit 1
fi

failed=()
for t in "${targets[@]}"; do
    seeds="fuzz/corpus/$t"
    if [ -d "$seeds" ]; then
        kib="$(find "$seeds" -type f -printf '%s\n' | awk '{ n += $1 } END { printf "%d", n / 1024 }')"
        if [ "$kib" -gt "$CORPUS_LIMIT_KIB" ]; then
            echo "scripts/fuzz.sh: $seeds is $kib KiB (limit $CORPUS_LIMIT_KIB): minimise it (fuzz/README.md)" >&2
            failed+=("$t (corpus size)")
        fi
    else
        echo "scripts/fuzz.sh: note: $t has no seed corpus in $seeds (it starts from nothing)"
    fi
done

cargo fuzz build --sanitizer none
if [ "$SECONDS_EACH" = 0 ]; then
    echo "fuzz: ${#targets[@]} targets built, not run (0 s each)"
    [ "${#failed[@]}" = 0 ] || { echo "scripts/fuzz.sh: failed: ${failed[*]}" >&2; exit 1; }
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    corpora=("$work/$t")
    [ -d "fuzz/corpus/$t" ] && corpora+=("fuzz/corpus/$t")
    seeds_n=0
    [ -d "fuzz/corpus/$t" ] && seeds_n="$(find "fuzz/corpus/$t" -type f | wc -l)"
    echo "==> fuzzing $t for $SECONDS_EACH s from $seeds_n seed inputs"
    status=0
    # The first corpus directory receives new inputs; the seeds are only read.
    cargo fuzz run --sanitizer none "$t" "${corpora[@]}" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 >"$work/$t.log" 2>&1 || status=$?
    runs="$(grep -oE '^Done [0-9]+ runs' "$work/$t.log" | grep -oE '[0-9]+' || echo '?')"
    found="$(find "$work/$t" -type f | wc -l)"
    if [ "$status" != 0 ]; then
        tail -n 40 "$work/$t.log"
        echo "--- $t: what failed, and the input:"
        grep -E "panicked at|^==[0-9]+== ERROR|ERROR: libFuzzer|SUMMARY|Test unit written|^Base64" "$work/$t.log" | head -n 20 || true
        echo "scripts/fuzz.sh: $t FAILED (exit $status) after ${runs} runs; the input is in fuzz/artifacts/$t/" >&2
        failed+=("$t")
        summary+=("$t: FAILED")
    else
        grep -E '^(stat::|Done )' "$work/$t.log" || true
        summary+=("$t: $runs runs in $SECONDS_EACH s, no crash ($seeds_n seeds, $found new inputs)")
    fi
done

echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" != 0 ]; then
    echo "scripts/fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi

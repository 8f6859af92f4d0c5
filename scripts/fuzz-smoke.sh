#!/usr/bin/env bash
# Build and run every cargo-fuzz target in fuzz/fuzz_targets for N seconds
# each (default 20). Exits non-zero if a target fails to build or finds a crash.
#
#   scripts/fuzz-smoke.sh [SECONDS]
set -euo pipefail

secs="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

# cargo-fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP lets stable accept them.
export RUSTC_BOOTSTRAP=1

targets=()
for f in fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
done
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no targets in fuzz/fuzz_targets" >&2
    exit 1
fi

cargo fuzz build

failed=()
for t in "${targets[@]}"; do
    echo "fuzz-smoke: $t for ${secs}s" >&2
    mkdir -p "corpus/$t"
    if ! cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets ran clean for ${secs}s each" >&2

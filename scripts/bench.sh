#!/usr/bin/env bash
# Benchmarks: the criterion component benches (benches/), then the
# `xfgate bench` scenarios (strategies side by side; JSON + SVG plots).
#
#   scripts/bench.sh                    everything, full xfgate bench run (~10 min)
#   QUICK=1 scripts/bench.sh            short criterion runs, xfgate bench --quick
#   scripts/bench.sh flood churn --reps 5   extra arguments go to xfgate bench
#   OUT=dir scripts/bench.sh            results directory (default target/bench)
#   SKIP_CRITERION=1 / SKIP_SCENARIOS=1 run only one half
#
# Criterion uses short measurement times (these are shared machines); the
# numbers of record come from a longer, single run, see docs/PERFORMANCE.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never
out="${OUT:-target/bench}"
mkdir -p "$out"

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

if [ -z "${SKIP_CRITERION:-}" ]; then
    if [ -n "${QUICK:-}" ]; then
        crit=(--warm-up-time 0.5 --measurement-time 1)
    else
        crit=(--warm-up-time 1 --measurement-time 2)
    fi
    for b in flow esp wire spd ports; do
        step "cargo bench --bench $b"
        cargo bench --bench "$b" -- "${crit[@]}"
    done
fi

if [ -z "${SKIP_SCENARIOS:-}" ]; then
    args=("$@")
    if [ -n "${QUICK:-}" ]; then
        args=(--quick "${args[@]}")
    fi
    step "xfgate bench ${args[*]} --out $out/xfgate-bench.json"
    cargo build --release --bins --examples
    # `xfgate bench` once the subcommand is wired into the binary; the
    # example runs the same library entry point.
    if target/release/xfgate bench --help 2>/dev/null | grep -q "usage: xfgate bench"; then
        target/release/xfgate bench "${args[@]}" --out "$out/xfgate-bench.json"
    else
        target/release/examples/bench "${args[@]}" --out "$out/xfgate-bench.json"
    fi
    echo "plots: $(ls "$out"/xfgate-bench-*.svg | tr '\n' ' ')"
fi

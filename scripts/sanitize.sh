#!/usr/bin/env bash
# Run tests under AddressSanitizer and/or ThreadSanitizer on the stable
# toolchain (RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer; std itself stays
# uninstrumented).
#
# usage: scripts/sanitize.sh [address|thread|all] [-- CARGO_TEST_ARGS...]
#
#   scripts/sanitize.sh                      both sanitizers over every entry of RUNS
#   scripts/sanitize.sh thread               ThreadSanitizer only
#   scripts/sanitize.sh all -- -p xfgate --test coherence --test kill_once
#                                            both sanitizers over these args instead
#
# CARGO_TEST_ARGS are passed to `cargo test` as they are (a further `--`
# passes arguments to the test binaries). Exits non-zero if any run fails or
# any sanitizer report appears in its output.
#
# Each sanitizer builds into its own target dir (target/sanitize-<name>), and
# RUSTFLAGS apply only to the --target build, so build scripts and proc macros
# are not instrumented.
set -uo pipefail

# Default runs: one `cargo test` invocation per entry, for each sanitizer.
# Add suites here (one string of cargo test arguments per entry).
RUNS=(
    "-p lcore"
)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 2

which=${1:-all}
[[ $# -gt 0 ]] && shift
if [[ ${1:-} == "--" ]]; then
    shift
    if [[ $# -gt 0 ]]; then
        RUNS=("$*")
    fi
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [address|thread|all] [-- CARGO_TEST_ARGS...]" >&2
    exit 2
fi

case $which in
address) sanitizers=(address) ;;
thread) sanitizers=(thread) ;;
all) sanitizers=(address thread) ;;
*)
    echo "usage: $0 [address|thread|all] [-- CARGO_TEST_ARGS...]" >&2
    exit 2
    ;;
esac

target=$(rustc -vV | sed -n 's/^host: //p')
logdir="$root/target/sanitize-logs"
mkdir -p "$logdir"
status=0

for san in "${sanitizers[@]}"; do
    flags="-Zsanitizer=$san -Cdebuginfo=1"
    case $san in
    address)
        # detect_leaks: LeakSanitizer too; abort on the first report.
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
        ;;
    thread)
        # std is not instrumented; the ABI-mismatch flag lets us link it anyway.
        flags="$flags -Cunsafe-allow-abi-mismatch=sanitizer --cfg lcore_tsan"
        export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tsan.supp"
        ;;
    esac
    for args in "${RUNS[@]}"; do
        log="$logdir/$san-$(echo "$args" | tr -c 'A-Za-z0-9_-' '_').log"
        echo "== $san: cargo test $args  (log: ${log#"$root"/})"
        start=$(date +%s)
        # shellcheck disable=SC2086 # $args is a list of cargo arguments
        RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" RUSTDOCFLAGS="$flags" \
            CARGO_TARGET_DIR="$root/target/sanitize-$san" \
            cargo test --target "$target" $args 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        end=$(date +%s)
        if grep -qE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (Address|Leak)Sanitizer|SUMMARY: (Address|Thread|Leak)Sanitizer)' "$log"; then
            echo "!! $san: sanitizer report in ${log#"$root"/}" >&2
            [[ $rc -eq 0 ]] && rc=1
        fi
        if [[ $rc -ne 0 ]]; then
            echo "!! $san: cargo test $args FAILED (exit $rc) after $((end - start))s" >&2
            status=1
        else
            echo "== $san: cargo test $args clean in $((end - start))s"
        fi
    done
done
exit $status

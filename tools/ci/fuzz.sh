#!/usr/bin/env bash
# Coverage-guided fuzzing of the record decoder and the ring buffer's reader
# (tools/fuzz/), each for a bounded time: FUZZ_SECONDS (default 90) apiece. A crash,
# a sanitizer trap or an unexpected exception fails the stage; the input that caused
# it is left under build/fuzz/ and its tail of the log is printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
}
mkdir -p build/fuzz
for target in decoder ring; do
    echo "--- fuzz $target"
    log=build/fuzz/$target.log
    status=0
    tools/fuzz/run.sh "$target" -max_total_time="${FUZZ_SECONDS:-90}" -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -v '^INFO: Instrumenting' "$log" | grep -Ev '^(#|"|MS:|Base64)' | tail -n 15
    [ "$status" -eq 0 ] || { echo "fuzz $target failed (exit $status)"; exit 1; }
done

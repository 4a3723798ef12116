#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: seeds its corpus from the
# repository's scripts (the corpus itself is never committed), then runs
# libFuzzer with one worker, the language's dictionary, and bounds on
# time, memory and each input.
#
#   fuzz/run.sh TARGET [SECONDS]     TARGET is parse, pipeline or verify
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh parse|pipeline|verify [SECONDS]}
seconds=${2:-600}

corpus=fuzz/corpus/$target
mkdir -p "$corpus"
for dir in derivations tests/cells tests/maps tests/rejected tests/hostile tests/fuzz_regressions; do
    [ -d "$dir" ] && cp -n "$dir"/* "$corpus"/ 2>/dev/null || true
done

# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP lets the stable
# compiler accept them. No sanitizer: the crate has no unsafe code, and
# the fuzzing build keeps overflow checks and debug assertions on.
# With -jobs, libFuzzer writes its log to fuzz-0.log in the working
# directory; it is kept under fuzz/logs afterwards.
mkdir -p fuzz/logs
log=fuzz/logs/$target-$(date +%Y%m%d-%H%M%S).log
status=0
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -dict=fuzz/deriv.dict -jobs=1 -workers=1 \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
    -print_final_stats=1 || status=$?
[ -f fuzz-0.log ] && mv fuzz-0.log "$log" && echo "log: $log"
exit $status

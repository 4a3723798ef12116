#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: seeds its corpus from the
# repository's scripts (the corpus itself is never committed), then runs
# libFuzzer with one worker, the language's dictionary, and bounds on
# time, memory and each input.
#
#   fuzz/run.sh TARGET [SECONDS]     TARGET is parse, pipeline or verify
#   FUZZ_TIMEOUT=S fuzz/run.sh ...   seconds one input may take (10); raise
#                                    it when fuzzers share a loaded machine
#
# Each run writes its own log, so two targets can run at once.
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
# libFuzzer's output goes to a log of its own under fuzz/logs.
mkdir -p fuzz/logs
log=fuzz/logs/$target-$(date +%Y%m%d-%H%M%S).log
echo "log: $log"
status=0
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -dict=fuzz/deriv.dict \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-10}" \
    -max_len=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
tail -n 12 "$log"
exit $status

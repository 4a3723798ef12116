#!/usr/bin/env bash
# Whole-process benchmarks of the release binary, as a user runs it: the
# median wall time of each example's answer key in every format, the
# scaling scripts (a chain of N feed-forward layers, a stack of L LSTM
# layers over time), and the peak memory of each. Needs hyperfine and GNU
# time (Debian packages `hyperfine` and `time`).
#
#   benches/process.sh          # everything
#   benches/process.sh examples # the examples only
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
cargo build --release --quiet --example gen
bin=target/release/deriv
gen=target/release/examples/gen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median_ms() { # command... ; prints the median wall time in ms
  hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/h.json" "$*" >/dev/null 2>&1
  python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['results'][0]['median']*1000))" "$work/h.json"
}

peak_mb() { # command... ; prints the peak resident memory in MB
  /usr/bin/time -f '%M' -o "$work/t" "$@" >/dev/null 2>&1 || true
  python3 -c "import sys; print('%.1f' % (int(open(sys.argv[1]).read().split()[-1])/1024))" "$work/t"
}

# The answer key goes to standard output (hyperfine discards it), as with
# the README's `deriv run derivations/lstm.deriv`; the last line writes it
# with `--output` instead, which replaces the file atomically and waits for
# the disk (fsync), so it also measures the disk.
echo "script                      format     median ms   peak MB"
WARMUP=10 RUNS=200
for ex in lstm momentum grid_rnn; do
  for fmt in text latex json; do
    cmd=("$bin" run "derivations/$ex.deriv" --format "$fmt")
    printf '%-27s %-10s %9s %9s\n' "$ex" "$fmt" "$(median_ms "${cmd[@]}")" "$(peak_mb "${cmd[@]}")"
  done
done
# Every example with the steps of every request (`--steps`).
for f in derivations/*.deriv; do
  cmd=("$bin" run "$f" --steps)
  printf '%-27s %-10s %9s %9s\n' "$(basename "$f" .deriv), --steps" text "$(median_ms "${cmd[@]}")" "$(peak_mb "${cmd[@]}")"
done
cmd=("$bin" run derivations/lstm.deriv --format latex --output "$work/out.tex")
printf '%-27s %-10s %9s %9s\n' "lstm, --output" latex "$(median_ms "${cmd[@]}")" "$(peak_mb "${cmd[@]}")"
[ "${1:-}" = examples ] && exit 0

WARMUP=1 RUNS=5
for n in 125 250 500 1000 2000; do
  "$gen" chain "$n" >"$work/chain$n.deriv"
  cmd=("$bin" run "$work/chain$n.deriv")
  printf '%-27s %-10s %9s %9s\n' "chain of $n layers" text "$(median_ms "${cmd[@]}")" "$(peak_mb "${cmd[@]}")"
done
for l in 1 2 4 8 16 32 64; do
  "$gen" stacked "$l" >"$work/stacked$l.deriv"
  cmd=("$bin" run "$work/stacked$l.deriv")
  printf '%-27s %-10s %9s %9s\n' "$l stacked LSTM layers" text "$(median_ms "${cmd[@]}")" "$(peak_mb "${cmd[@]}")"
done

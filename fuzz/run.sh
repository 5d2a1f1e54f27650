#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 60) with cargo-fuzz on the
# nightly toolchain, one after the other, starting from the seed corpora.
# Any crash, panic, leak or timeout fails the script (libFuzzer exits
# non-zero and leaves the input in fuzz/artifacts/<target>/).
#
#   bash fuzz/run.sh 60            # every target, 60 s each
#   bash fuzz/run.sh 300 round_trip
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(open_value open_value_with_header decode_cookie_header round_trip key_ring_config chunked_decode dbsc_endpoints)
fi

bash seed.sh
cargo +nightly fuzz build
status=0
for t in "${targets[@]}"; do
  log="artifacts/$t.log"
  mkdir -p artifacts
  echo "==> fuzz $t for ${seconds}s"
  # -timeout: one input taking over 10 s is a bug (all work is bounded).
  # -rss_limit_mb: every input is small; 2 GB of memory is a bug too.
  set +e
  cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|SUMMARY|panicked' "$log" || true
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz target $t FAILED (exit $rc): see fuzz/$log and fuzz/artifacts/$t/" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
done
exit $status

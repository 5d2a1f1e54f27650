#!/usr/bin/env bash
# Instructions per request of the benchmark server with each variant,
# counted by callgrind, and the codec's instructions in the same process
# and in the micro-benchmark: figures that stay the same whatever else the
# machine runs, unlike the CPU time that run.sh measures.
#
#   benches/http/callgrind.sh [--seconds S] [--variants "none codec sealed"]
#
# For each variant: starts the server under `valgrind --tool=callgrind`,
# warms it with wrk (64 connections, cookies.lua, 5 s), zeroes the
# counters, loads it for S seconds (default 20; under valgrind the server
# answers a few hundred requests per second), dumps the counters and stops
# it. The requests are the calls to `http_bench::request_served` in the
# dump (every handler calls it once). Then counts `http-bench --micro
# --only sealed` the same way: instructions per `Codec::decode` and per
# `Codec::encode`. Prints, per variant, the instructions per request, the
# part inside the codec (`Codec::decode_fields`, `Codec::encode`, and for
# the layer `Codec::encode_with` with the serialization it does before,
# inclusive), and the CPU target counted in
# instructions: (variant - no session) / (decode + encode / 4).
#
# Instructions are not time: the same instructions take longer in a server
# (caches and branch predictors shared with the kernel and the HTTP stack)
# than in the micro-benchmark's loop. run.sh measures the time.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

seconds=20
variants="none codec sealed actix-none actix-codec actix-sealed"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

for tool in valgrind callgrind_control callgrind_annotate wrk; do
  if ! command -v "$tool" >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends valgrind wrk
    break
  fi
done

cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$here/target}/release/http-bench"
test -x "$bin"

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "# $(valgrind --version), wrk $(wrk --version 2>&1 | head -1 | cut -d' ' -f2);" \
  "5 s warm-up, ${seconds} s counted, 64 connections"

for variant in $variants; do
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$work/$variant.%p" \
    "$bin" --variant "$variant" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  url=""
  for _ in $(seq 600); do
    url=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$work/server.out")
    [ -n "$url" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$work/server.err" >&2
      echo "callgrind.sh: $variant did not start" >&2
      exit 1
    fi
    sleep 0.2
  done
  [ -n "$url" ] || { echo "callgrind.sh: $variant did not start" >&2; exit 1; }
  wrk -t 64 -c 64 -d 5s --timeout 10s -s cookies.lua "$url/cart" >/dev/null
  callgrind_control -z "$server_pid" >/dev/null 2>&1
  wrk -t 64 -c 64 -d "${seconds}s" --timeout 10s -s cookies.lua "$url/cart" >/dev/null
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  dump=$(ls "$work/$variant".*.1)
  callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$dump" \
    >"$work/$variant.annotated" 2>/dev/null
done

valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$work/micro" \
  "$bin" --micro --seconds 1 --only sealed >/dev/null 2>&1
callgrind_annotate --tree=caller --inclusive=yes --threshold=100 "$work/micro" \
  >"$work/micro.annotated" 2>/dev/null

python3 - "$work" $variants <<'EOF'
import re, sys

work, variants = sys.argv[1], sys.argv[2:]
LINE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+([<*>])\s+(.*)$")
CODEC = "<impl sealed_session::codec::Codec>::"
NAMES = {
    "served": "http_bench::request_served",
    "decode_fields": "sealed_session::http::request::" + CODEC + "decode_fields",
    "decode": "sealed_session::http::request::" + CODEC + "decode",
    "encode": "sealed_session::http::set_cookie::" + CODEC + "encode",
    "encode_with": "sealed_session::http::set_cookie::" + CODEC + "encode_with",
    # The codec variants call the codec through these (never inlined).
    "decode_session": "http_bench::decode_session",
    "encode_session": "http_bench::encode_session",
    # The layer serializes the session itself (to compare it with the JSON
    # before the change) and hands the JSON to encode_with.
    "to_raw_value": "serde_json::raw::to_raw_value",
}


def functions(path):
    """{function: (inclusive instructions, calls)} for the functions named
    in NAMES, from callgrind_annotate's caller tree (each block: its callers
    with their call counts, then the function itself)."""
    found = {}
    callers = 0
    for line in open(path):
        m = LINE.match(line)
        if not m:
            callers = 0
            continue
        cost, kind, rest = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
        calls = re.search(r" \(([\d,]+)x\)", rest)
        if kind == "<":
            callers += int(calls.group(1).replace(",", "")) if calls else 0
            continue
        if kind == "*":
            # "file:function [object]": the object marks the function's own
            # entry (lines without it are code inlined from that file).
            if rest.endswith("]"):
                name = rest.rsplit(" [", 1)[0].split(":", 1)[-1]
                for key, full in NAMES.items():
                    if name == full:
                        found[key] = (cost, callers)
            callers = 0
    return found


def total(path):
    for line in open(path):
        if "PROGRAM TOTALS" in line:
            return int(line.split()[0].replace(",", ""))
    raise SystemExit(f"no totals in {path}")


micro = functions(f"{work}/micro.annotated")
decode = micro["decode"][0] / micro["decode"][1]
encode = micro["encode"][0] / micro["encode"][1]
codec = decode + encode / 4
print(f"\nmicro (sealed): Codec::decode {decode:,.0f} instructions, Codec::encode {encode:,.0f}; "
      f"decode + encode / 4 = {codec:,.0f}\n")

print("| variant | requests counted | instructions per request | in the codec | other |")
print("|---|---:|---:|---:|---:|")
rows = {}
for variant in variants:
    path = f"{work}/{variant}.annotated"
    found = functions(path)
    requests = found.get("served", (0, 0))[1]
    if requests == 0:
        raise SystemExit(f"{variant}: no request counted")
    per_request = total(path) / requests
    # The codec's entry points, where the compiler kept them as functions:
    # the codec variants' wrappers, or the layer's calls.
    if "codec" in variant:
        parts = ("decode_session", "encode_session")
    else:
        parts = ("decode_fields", "encode_with", "to_raw_value")
    rows[variant] = per_request
    if variant in ("none", "actix-none"):
        in_codec = 0.0
    elif all(k in found for k in parts[:2]):
        in_codec = sum(found.get(k, (0, 0))[0] for k in parts) / requests
    else:
        print(f"| {variant} | {requests:,} | {per_request:,.0f} | (inlined) | |")
        continue
    print(f"| {variant} | {requests:,} | {per_request:,.0f} | {in_codec:,.0f} | "
          f"{per_request - in_codec:,.0f} |")

print()
for variant, per_request in rows.items():
    base = rows.get("actix-none" if variant.startswith("actix-") else "none")
    if base is None or variant in ("none", "actix-none"):
        continue
    extra = per_request - base
    line = (f"- {variant}: {extra:+,.0f} instructions per request over no session "
            f"= {extra / codec:.2f} x the codec alone")
    by_hand = rows.get("actix-codec" if variant.startswith("actix-") else "codec")
    if variant.endswith("sealed") and by_hand is not None:
        line += f"; {per_request - by_hand:+,.0f} over calling the codec by hand"
    print(line)
EOF

#!/usr/bin/env bash
# Requests per second, latency and server CPU time per request of one real
# HTTP server with each session store, in one run.
#
#   benches/http/run.sh [--duration S] [--warmup S] [--connections "1 64"]
#                       [--variants "none sealed ..."] [--micro-seconds S]
#
# Builds benches/http (its own workspace) in release mode, starts Debian's
# redis-server on 127.0.0.1 at a free port (installed with apt-get if
# missing, as wrk is), measures the codec alone (`http-bench --micro`), then
# for each variant: starts the server pinned to one core, checks its answers
# (check.py: the session round-trips, the cart grows), and drives it with wrk
# pinned to the other core (cookies.lua: one thread per connection, each
# keeping its own cookies; every fourth request adds to the cart) for a
# warm-up and then the measured run, at each connection count. The server's
# CPU time comes from /proc/<pid>/stat (utime + stime) read just before and
# after the measured run. Redis shares the load generator's core (in
# production it is on another machine), and its CPU time per request is
# reported separately. Everything it starts is stopped by PID.
#
# Besides the table it prints, for the variants that do the codec's work:
# the extra CPU time over no session against `--micro` (the codec alone on
# the server's core with the other core idle), against `--micro` while the
# load generator's core runs wrk against a no-session server (`micro-busy`),
# and the lowest one-second window of each run (sampled from the server's
# stats port) against the best one-second `--micro`: the host runs this
# machine's vCPUs at speeds that change within seconds (BENCHMARKS.md,
# "How much of the server's CPU time this machine can settle").
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

duration=10
warmup=3
connections="1 64"
variants="none none-cookie codec sealed sealed-revocations tower-memory tower-redis private-cookie actix-none actix-codec actix-sealed actix-cookie actix-redis"
micro_seconds=4
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --micro-seconds) micro_seconds=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$(nproc)" -lt 2 ]; then
  echo "run.sh: needs 2 cores (server and load generator on separate ones)" >&2
  exit 1
fi
server_core=1
load_core=0
# Ahead of other processes on a shared machine (root only; otherwise as is).
prio=()
[ "$(id -u)" = 0 ] && prio=(nice -n -19)

if ! command -v wrk >/dev/null || ! command -v redis-server >/dev/null \
  || ! command -v redis-cli >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends wrk redis-server redis-tools
fi

cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$here/target}/release/http-bench"
test -x "$bin"

work=$(mktemp -d)
redis_pid=""
server_pid=""
busy_pids=""
sampler_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for pid in $busy_pids; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# utime + stime of a process, in clock ticks.
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# stime alone: the kernel's share (the socket reads and writes, the wake-ups
# of the load generator's threads).
sys_ticks() {
  awk '{ print $15 }' "/proc/$1/stat"
}
ticks_per_second=$(getconf CLK_TCK)

# The codec variants time their own codec calls (GET /codec-time: medians
# since the previous ask); others answer nothing here.
codec_clock() {
  case "$1" in
    codec | actix-codec)
      python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' "$2/codec-time" ;;
  esac
}

# Starts one variant pinned to a core; sets server_pid and url.
start_server() {
  local variant=$1 core=$2 out=$3
  "${prio[@]}" taskset -c "$core" "$bin" --variant "$variant" --redis "$redis_url" \
    >"$out" 2>"$out.err" &
  server_pid=$!
  url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$out")
    stats=$(sed -n 's/.* stats \([0-9.:]*\)$/\1/p' "$out")
    [ -n "$url" ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$out.err" >&2
      echo "run.sh: $variant did not start" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "run.sh: $variant did not start" >&2
  exit 1
}

# Samples the server's stats port (requests served, CPU ticks) about every
# second for $2 seconds, one line per sample, into $3.
sample_stats() {
  local host=${1%:*} port=${1##*:} line
  for _ in $(seq 0 "$2"); do
    if exec 3<>"/dev/tcp/$host/$port"; then
      read -r line <&3 || true
      exec 3<&-
      echo "$line" >>"$3"
    fi
    sleep 1
  done
}

# The codec alone, best of several one-second runs: the lowest is the one
# the host's noise disturbed least (see "The host's two speeds" in
# BENCHMARKS.md); prefixed micro-1s.
micro_best() {
  for _ in $(seq 6); do
    "${prio[@]}" taskset -c "$server_core" "$bin" --micro --seconds 1 --only sealed \
      | sed 's/^micro /micro-1s /'
  done | tee -a "$work/micro"
}

# The codec alone on the server's core while the load generator's core does
# what it does during a measured run: wrk, at the highest connection count,
# driving a no-session server pinned to that same core. The target's ratio
# uses `--micro` on an idle sibling; this one shows how much of the server's
# extra CPU time is the two vCPUs sharing hardware (information only).
micro_busy() {
  local c pid
  c=$(printf '%s\n' $connections | sort -n | tail -1)
  start_server none "$load_core" "$work/busy.out"
  busy_pids="$server_pid"
  server_pid=""
  "${prio[@]}" taskset -c "$load_core" wrk -t "$c" -c "$c" -d "$((micro_seconds * 4 + 10))s" \
    -s cookies.lua "$url/cart" >/dev/null &
  busy_pids="$busy_pids $!"
  sleep 2
  "${prio[@]}" taskset -c "$server_core" "$bin" --micro --seconds "$micro_seconds" \
    | sed 's/^micro /micro-busy /' | tee -a "$work/micro"
  for pid in $busy_pids; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
  busy_pids=""
}

redis_port=$(free_port)
"${prio[@]}" taskset -c "$load_core" redis-server --bind 127.0.0.1 --port "$redis_port" \
  --save '' --appendonly no --protected-mode yes >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null
redis_url="redis://127.0.0.1:$redis_port"

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(uname -sr)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# server on core $server_core, wrk (and redis-server) on core $load_core;" \
  "${warmup}s warm-up, ${duration}s measured, connections: $connections"
echo "# wrk $(wrk --version 2>&1 | head -1 | cut -d' ' -f2), $(redis-server --version | cut -d' ' -f3)"

echo
echo "## codec alone (http-bench --micro, core $server_core)"
"${prio[@]}" taskset -c "$server_core" "$bin" --micro --seconds "$micro_seconds" | tee "$work/micro"
echo
echo "## codec alone with core $load_core busy (wrk driving a no-session server there)"
micro_busy
echo
echo "## codec alone, one-second runs"
micro_best

results="$work/results"
: >"$results"
for variant in $variants; do
  start_server "$variant" "$server_core" "$work/server.out"
  python3 check.py "$url" "$variant"
  for c in $connections; do
    "${prio[@]}" taskset -c "$load_core" wrk -t "$c" -c "$c" -d "${warmup}s" -s cookies.lua "$url/cart" >/dev/null
    redis_before=$(cpu_ticks "$redis_pid")
    # Starts the codec variants' clock for the measured run.
    codec_clock "$variant" "$url" >/dev/null
    before=$(cpu_ticks "$server_pid")
    sys_before=$(sys_ticks "$server_pid")
    : >"$work/samples"
    "${prio[@]}" taskset -c "$load_core" bash -c "$(declare -f sample_stats); sample_stats $stats $duration $work/samples" &
    sampler_pid=$!
    out=$("${prio[@]}" taskset -c "$load_core" wrk -t "$c" -c "$c" -d "${duration}s" --timeout 5s \
      -s cookies.lua "$url/cart")
    after=$(cpu_ticks "$server_pid")
    sys_after=$(sys_ticks "$server_pid")
    wait "$sampler_pid" 2>/dev/null || true
    echo "$variant $c $(tr '\n' ' ' <"$work/samples")" >>"$work/windows"
    clock_after=$(codec_clock "$variant" "$url")
    redis_after=$(cpu_ticks "$redis_pid")
    line=$(printf '%s\n' "$out" | grep '^RESULT ')
    echo "$variant $c $((after - before)) $((redis_after - redis_before))" \
      "$((sys_after - sys_before)) $line $clock_after" >>"$results"
  done
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  redis-cli -p "$redis_port" flushall >/dev/null
done

echo
echo "## codec alone again, after the variants (the table uses the lower of the two)"
"${prio[@]}" taskset -c "$server_core" "$bin" --micro --seconds "$micro_seconds" | tee -a "$work/micro"
echo
echo "## codec alone with core $load_core busy, again"
micro_busy
echo
echo "## codec alone, one-second runs, again"
micro_best

echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$results" "$work/micro" "$ticks_per_second" "$work/windows" <<'EOF'
import re, sys

rows = []
for line in open(sys.argv[1]):
    variant, conns, ticks, redis_ticks, sys_ticks, rest = line.split(" ", 5)
    fields = dict(kv.split("=") for kv in rest.split()[1:])
    fields["sys_ticks"] = float(sys_ticks)
    rows.append((variant, int(conns), int(ticks), int(redis_ticks),
                 {k: float(v) for k, v in fields.items()}))
micro = {}
micro_calls = {}
micro_busy = {}
micro_best = {}
for line in open(sys.argv[2]):
    m = re.match(r"(micro|micro-busy|micro-1s) (\S+) decode_ns=(\d+) encode_ns=(\d+) per_request_ns=(\d+)", line)
    if m and m.group(1) == "micro-1s":
        name, per_request = m.group(2), float(m.group(5))
        micro_best[name] = min(per_request, micro_best.get(name, float("inf")))
    elif m and m.group(1) == "micro-busy":
        name, per_request = m.group(2), float(m.group(5))
        micro_busy.setdefault(name, []).append(per_request)
    elif m:
        # The lower of the two measurements: the conservative denominator.
        name, per_request = m.group(2), float(m.group(5))
        if per_request < micro.get(name, float("inf")):
            micro[name] = per_request
            micro_calls[name] = (float(m.group(3)) / 1000, float(m.group(4)) / 1000)
# With the sibling busy: the mean of the two passes (information only).
micro_busy = {k: sum(v) / len(v) for k, v in micro_busy.items()}
tick_us = 1e6 / float(sys.argv[3])

# One-second windows of each measured run: CPU µs per request in each.
windows = {}
for line in open(sys.argv[4]):
    parts = line.split()
    samples = [(int(a), int(b)) for a, b in zip(parts[2::2], parts[3::2])]
    per_window = []
    for (s0, t0), (s1, t1) in zip(samples, samples[1:]):
        if s1 - s0 >= 1000:  # the run's own windows, not its edges
            per_window.append((t1 - t0) * tick_us / (s1 - s0))
    # Rounds of the same variant pool their windows.
    key = (parts[0], int(parts[1]))
    windows[key] = sorted(windows.get(key, []) + per_window)

def cpu_us(row):
    return row[2] * tick_us / row[4]["requests"]

print("| variant | conns | req/s | p50 | p99 | server CPU µs/req | of which kernel | server core busy | redis CPU µs/req | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
table = {}
rounds = {}
for row in rows:
    variant, conns, ticks, redis_ticks, f = row
    rps = f["requests"] / (f["duration_us"] / 1e6)
    errors = sum(v for k, v in f.items() if k.startswith("errors_"))
    kernel = f["sys_ticks"] * tick_us / f["requests"]
    redis = f"{redis_ticks * tick_us / f['requests']:.1f}" if "redis" in variant else ""
    rounds.setdefault((variant, conns), []).append(
        (rps, f["p50_us"], f["p99_us"], cpu_us(row), kernel))
    print(f"| {variant} | {conns} | {rps:,.0f} | {f['p50_us'] / 1000:.2f} ms | "
          f"{f['p99_us'] / 1000:.2f} ms | {cpu_us(row):.1f} | {kernel:.1f} | "
          f"{ticks * tick_us / f['duration_us']:.0%} | {redis} | {int(errors)} |")

# A variant run in several rounds: the median of each figure.
for key, measured in rounds.items():
    table[key] = tuple(sorted(m[i] for m in measured)[len(measured) // 2] for i in range(5))
conns = max(c for _, c in table)
several = max(len(m) for m in rounds.values()) > 1
print(f"\n## at {conns} connections" + (" (medians of the rounds)" if several else ""))
print("share: of the no-session req/s of the same framework (measured; capped by the load")
print("generator when the no-session server is not busy), and by CPU time (the no-session")
print("server's CPU time per request / this one's: the share a server-bound run would keep)")
for variant, c in table:
    if c != conns:
        continue
    base_name = "actix-none" if variant.startswith("actix-") else "none"
    base = table.get((base_name, conns))
    if not base or variant == base_name:
        continue
    rps, p50, p99, cpu, kernel = table[(variant, c)]
    extra = cpu - base[3]
    extra_kernel = kernel - base[4]
    line = (f"- {variant}: share {rps / base[0]:.1%} measured, {base[3] / cpu:.1%} by CPU; "
            f"{extra:+.1f} µs server CPU per request over no session "
            f"({extra - extra_kernel:+.1f} user, {extra_kernel:+.1f} kernel)")
    codec_name = {"sealed": "sealed", "actix-sealed": "sealed", "codec": "sealed",
                  "actix-codec": "sealed",
                  "sealed-revocations": "sealed-revocations"}.get(variant)
    if codec_name in micro:
        codec_us = micro[codec_name] / 1000
        line += f" = {extra / codec_us:.2f} x the codec alone ({codec_us:.1f} µs)"
        if codec_name in micro_busy:
            busy_us = micro_busy[codec_name] / 1000
            line += (f" [{extra / busy_us:.2f} x the codec alone with the load core busy"
                     f" ({busy_us:.1f} µs)]")
    # The layer's own cost: over the variant that calls the codec by hand
    # in the same framework (same decode and encode, same Set-Cookie).
    by_hand = table.get(("actix-codec" if variant.startswith("actix-") else "codec", conns))
    if variant in ("sealed", "actix-sealed") and by_hand:
        line += f"; {cpu - by_hand[3]:+.1f} µs over calling the codec by hand"
    print(line)
for variant, conns_, ticks, redis_ticks, f in rows:
    # The codec variants' own timing of their codec calls in the measured
    # run (medians: a call interrupted by the scheduler is timed with it).
    if conns_ != conns or not f.get("codec_decodes") or "sealed" not in micro:
        continue
    decode = f["codec_decode_median_ns"] / 1000
    encode = f["codec_encode_median_ns"] / 1000
    inside = decode + encode * f["codec_encodes"] / f["codec_decodes"]
    codec_us = micro["sealed"] / 1000
    micro_decode, micro_encode = micro_calls["sealed"]
    print(f"- {variant}, the codec timed inside the server (medians): decode {decode:.1f} µs "
          f"(--micro {micro_decode:.1f}), encode {encode:.1f} µs (--micro {micro_encode:.1f}); "
          f"{inside:.1f} µs per request = {inside / codec_us:.2f} x --micro's {codec_us:.1f} µs")
if "sealed" in micro_best:
    best = micro_best["sealed"] / 1000
    print(f"\n## at {conns} connections, best one-second windows")
    print(f"the host runs this vCPU at two speeds (BENCHMARKS.md); the lowest window of each run")
    print(f"against the best one-second --micro ({best:.1f} µs):")
    for (variant, c), w in windows.items():
        base_name = "actix-none" if variant.startswith("actix-") else "none"
        base = windows.get((base_name, c))
        if c != conns or not w or not base \
                or variant not in ("codec", "sealed", "actix-codec", "actix-sealed"):
            continue
        median = w[len(w) // 2]
        extra = w[0] - base[0]
        line = (f"- {variant}: lowest window {w[0]:.1f} µs (median {median:.1f}, {len(w)} windows), "
                f"{base_name} {base[0]:.1f}: {extra:+.1f} µs = {extra / best:.2f} x the codec alone")
        carried = windows.get(("none-cookie", c))
        if carried and not variant.startswith("actix-"):
            line += (f"; over none-cookie ({carried[0]:.1f}): {w[0] - carried[0]:+.1f} µs"
                     f" = {(w[0] - carried[0]) / best:.2f} x")
        print(line)
    carried, base = windows.get(("none-cookie", conns)), windows.get(("none", conns))
    if carried and base:
        print(f"- none-cookie (no session, the cookie's bytes carried): lowest window "
              f"{carried[0]:.1f} µs, {carried[0] - base[0]:+.1f} µs over none"
              f" = {(carried[0] - base[0]) / best:.2f} x the codec alone")
redis = table.get(("tower-redis", conns))
sealed = table.get(("sealed", conns))
if redis and sealed:
    print(f"- sealed / tower-redis: {sealed[0] / redis[0]:.2f} x the req/s; "
          f"p99 {sealed[2] / 1000:.2f} ms against {redis[2] / 1000:.2f} ms")
EOF

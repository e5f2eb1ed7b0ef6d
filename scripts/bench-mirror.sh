#!/usr/bin/env bash
# Builds ferry-broker, ferry-mirror and ferry-bench (Release), starts two throwaway brokers
# (regions east and west) on free loopback ports, and runs ferry-bench's mirror mode: produce-
# and consume-only on east, then ferry-mirror (started by the bench) copying the same records
# to west, then replication latency at a fixed rate. Prints the JSON and saves it to
# <build>/bench-mirror.json. Extra arguments go to ferry-bench (e.g. --records 50000);
# bench/mirror-mode.md explains every number.
#
# Environment overrides, for running against binaries built elsewhere:
#   FERRY_BUILD_DIR   build directory (default: build-release, kept apart from the tests' build/)
#   FERRY_SKIP_BUILD  set to 1 to skip cmake/ninja
#   FERRY_BROKER_BIN  broker binary (default: $FERRY_BUILD_DIR/broker/ferry-broker)
#   FERRY_MIRROR_BIN  mirror binary (default: $FERRY_BUILD_DIR/mirror/ferry-mirror)
#   FERRY_BENCH_BIN   bench binary  (default: $FERRY_BUILD_DIR/bench/ferry-bench)
#   FERRY_KEEP_TMP    set to 1 to keep the temp dir (broker and mirror logs, configs) for a look
#   FERRY_MIRROR_PROCESSES  ferry-mirror processes running the flow (default 1); the others share
#                     its partitions through the flow's consumer group (each has its own source
#                     connection, so its own Fetch in flight: docs/mirror.md, "Across a WAN")
#   FERRY_MIRROR_TASKS  the flow's tasks.max (default 1): data paths in each ferry-mirror process,
#                     each a member of the flow's consumer group with its own source connection
#   FERRY_MIRROR_SOURCE_CLIENT  librdkafka properties for the mirror's clients of east, as
#                     "key=value,key=value" (its [clusters.east.client] table), for tuning runs
#
# A simulated WAN between the mirror and its source (scripts/bench-wan.sh sets these): with
# FERRY_WAN_DELAY_MS set, east gets a second listener advertised as a ferry-wan-proxy in front
# of it, and the mirror's east bootstrap is the proxy, so every mirror request to east crosses
# the link; the bench's own produce- and consume-only phases use east's local listener.
#   FERRY_WAN_DELAY_MS      one-way delay in each direction (round trip = 2x)
#   FERRY_WAN_RATE_MBIT     bandwidth cap of each direction, megabits/s (default 0 = none)
#   FERRY_WAN_WINDOW_BYTES  the proxy's per-connection window (default: the proxy's, 6 MiB)
#   FERRY_WAN_PROXY_BIN     proxy binary (default: $FERRY_BUILD_DIR/wan-proxy/ferry-wan-proxy)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${FERRY_BUILD_DIR:-build-release}"
broker_bin="${FERRY_BROKER_BIN:-$build/broker/ferry-broker}"
mirror_bin="${FERRY_MIRROR_BIN:-$build/mirror/ferry-mirror}"
bench_bin="${FERRY_BENCH_BIN:-$build/bench/ferry-bench}"
proxy_bin="${FERRY_WAN_PROXY_BIN:-$build/wan-proxy/ferry-wan-proxy}"
wan="${FERRY_WAN_DELAY_MS:+1}"

if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-broker ferry-mirror ferry-bench ${wan:+ferry-wan-proxy} >&2
fi
for bin in "$broker_bin" "$mirror_bin" "$bench_bin" ${wan:+"$proxy_bin"}; do
  [[ -x "$bin" ]] || { echo "bench-mirror.sh: $bin is missing or not executable" >&2; exit 1; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-mirror.XXXXXX")"
declare -A broker_pids=()
bench_pid=""
proxy_pid=""

# stop_pid PID WHAT GRACE: SIGTERM, then SIGKILL after GRACE seconds.
source "$repo/scripts/stop_pid.sh"

cleanup() {
  local status=$?
  # A TERM or INT to this script alone (timeout(1), a CI runner) must end the bench too; its
  # mirror then gets SIGTERM from the kernel when the bench dies.
  if [[ -n "$bench_pid" ]]; then
    stop_pid "$bench_pid" "ferry-bench" 10
    wait "$bench_pid" 2>/dev/null || true
  fi
  # The bench stops its mirror itself and the kernel sends it SIGTERM if the bench dies
  # (PR_SET_PDEATHSIG); this covers a mirror still shutting down. The pid is only trusted
  # while it still runs our config, so a recycled pid is never signalled.
  if [[ -s "$tmp/mirror.pid" ]]; then
    local mpid
    mpid="$(cat "$tmp/mirror.pid")"
    if [[ -r "/proc/$mpid/cmdline" ]] && tr '\0' ' ' <"/proc/$mpid/cmdline" | grep -qF "$tmp/mirror.toml"; then
      stop_pid "$mpid" "ferry-mirror" 45
    fi
  fi
  if [[ -n "$proxy_pid" ]]; then
    stop_pid "$proxy_pid" "ferry-wan-proxy" 10
    wait "$proxy_pid" 2>/dev/null || true
  fi
  # The mirror must be gone before the brokers, or its shutdown waits on a vanished target.
  for name in "${!broker_pids[@]}"; do
    stop_pid "${broker_pids[$name]}" "broker $name" 10
    wait "${broker_pids[$name]}" 2>/dev/null || true
  done
  if [[ "${FERRY_KEEP_TMP:-0}" == 1 ]]; then
    echo "bench-mirror.sh: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Distinct free ports (east, west, the mirror's status, east's WAN listener, the proxy, the
# proxy's control, east's and west's metrics), outside the ephemeral range and reserved
# machine-wide (tests/integration/ports.py).
read -r east_port west_port status_port east_wan_port proxy_port proxy_control_port east_metrics_port west_metrics_port \
  < <(/usr/bin/python3 tests/integration/ports.py 8)
declare -A metrics_ports=([east]="$east_metrics_port" [west]="$west_metrics_port")

start_broker() {
  local name="$1" port="$2"
  mkdir -p "$tmp/$name/logs"
  # The source (east) also listens for the WAN proxy and advertises it there, so every client
  # on the WAN listener (the mirror) goes through the proxy.
  local listeners="listeners = \"PLAINTEXT://127.0.0.1:$port\""
  if [[ -n "$wan" && "$name" == east ]]; then
    listeners="listeners = [\"LOCAL://127.0.0.1:$port\", \"WAN://127.0.0.1:$east_wan_port\"]
advertised.listeners = [\"LOCAL://127.0.0.1:$port\", \"WAN://127.0.0.1:$proxy_port\"]
listener.security.protocol.map = [\"LOCAL:PLAINTEXT\", \"WAN:PLAINTEXT\"]"
  fi
  cat >"$tmp/$name/broker.toml" <<TOML
node.id = 0
$listeners
log.dirs = "$tmp/$name/logs"
num.partitions = 1
metrics.listener = "127.0.0.1:${metrics_ports[$name]}"
TOML
  echo "bench-mirror.sh: $name's Prometheus metrics: http://127.0.0.1:${metrics_ports[$name]}/metrics" >&2
  "$broker_bin" --config "$tmp/$name/broker.toml" >"$tmp/$name/broker.log" 2>&1 &
  broker_pids[$name]=$!
}

wait_listening() {
  local name="$1" port="$2" pid="${broker_pids[$1]}"
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench-mirror.sh: broker $name exited before listening; its log:" >&2
      cat "$tmp/$name/broker.log" >&2
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench-mirror.sh: broker $name not listening on 127.0.0.1:$port after 30 s; its log:" >&2
  tail -n 50 "$tmp/$name/broker.log" >&2
  exit 1
}

start_broker east "$east_port"
start_broker west "$west_port"
wait_listening east "$east_port"
wait_listening west "$west_port"
mirror_east="127.0.0.1:$east_port"
if [[ -n "$wan" ]]; then
  proxy_args=(--route "127.0.0.1:$proxy_port=127.0.0.1:$east_wan_port" --delay-ms "$FERRY_WAN_DELAY_MS"
              --rate-mbit "${FERRY_WAN_RATE_MBIT:-0}" --control "127.0.0.1:$proxy_control_port")
  [[ -n "${FERRY_WAN_WINDOW_BYTES:-}" ]] && proxy_args+=(--window-bytes "$FERRY_WAN_WINDOW_BYTES")
  "$proxy_bin" "${proxy_args[@]}" >"$tmp/proxy.out" 2>"$tmp/proxy.log" &
  proxy_pid=$!
  for _ in $(seq 100); do
    [[ -s "$tmp/proxy.out" ]] && break
    kill -0 "$proxy_pid" 2>/dev/null || { echo "bench-mirror.sh: ferry-wan-proxy exited:" >&2; cat "$tmp/proxy.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -s "$tmp/proxy.out" ]] || { echo "bench-mirror.sh: ferry-wan-proxy not ready after 10 s" >&2; exit 1; }
  mirror_east="127.0.0.1:$proxy_port"
  echo "bench-mirror.sh: the mirror reaches east through $(cat "$tmp/proxy.out")" >&2
fi

tasks="${FERRY_MIRROR_TASKS:-1}"
[[ "$tasks" =~ ^[1-9][0-9]*$ && "$tasks" -le 64 ]] || {
  echo "bench-mirror.sh: FERRY_MIRROR_TASKS \"$tasks\": expected a whole number in [1, 64] (tasks.max)" >&2
  exit 2
}
# One flow east -> west with the default policy (remote topics east.<topic>), everything else
# at ferry-mirror's defaults except tasks.max (FERRY_MIRROR_TASKS) and a 1 s topic refresh, so a
# topic created while it runs is picked up promptly (docs/mirror-config.md).
cat >"$tmp/mirror.toml" <<TOML
[mirror]
"status.listener" = "127.0.0.1:$status_port"
"log.level" = "info"

[clusters.east]
"bootstrap.servers" = "$mirror_east"

$(if [[ -n "${FERRY_MIRROR_SOURCE_CLIENT:-}" ]]; then
  echo "[clusters.east.client]"
  IFS=, read -ra kvs <<<"$FERRY_MIRROR_SOURCE_CLIENT"
  for kv in "${kvs[@]}"; do echo "\"${kv%%=*}\" = \"${kv#*=}\""; done
fi)

[clusters.west]
"bootstrap.servers" = "127.0.0.1:$west_port"

[[flows]]
source = "east"
target = "west"
"replication.policy" = "default"
"refresh.topics.interval.seconds" = 1
"tasks.max" = $tasks
TOML
mkdir -p "$tmp/scratch"
# More processes of the same flow: the same file without the status listener (the bench reads
# progress from the target and status from the first process only).
processes="${FERRY_MIRROR_PROCESSES:-1}"
[[ "$processes" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench-mirror.sh: FERRY_MIRROR_PROCESSES \"$processes\": expected a whole number >= 1" >&2
  exit 2
}
extra_args=()
extra_configs=""
for ((k = 2; k <= processes; k++)); do
  grep -v '^"status.listener"' "$tmp/mirror.toml" >"$tmp/mirror-$k.toml"
  extra_configs+="${extra_configs:+,}$tmp/mirror-$k.toml"
done
[[ -n "$extra_configs" ]] && extra_args=(--mirror-extra-configs "$extra_configs")

out="$build/bench-mirror.json"
status=0
# In the background so that a signal to this script is handled at once (bash runs traps only
# between commands, and `wait` is interruptible where a foreground command is not).
"$bench_bin" --bootstrap "127.0.0.1:$east_port" --mirror-target "127.0.0.1:$west_port" \
  --mirror-status "http://127.0.0.1:$status_port" --mirror-bin "$mirror_bin" \
  --mirror-config "$tmp/mirror.toml" --mirror-log "$tmp/mirror.log" \
  --mirror-pid-file "$tmp/mirror.pid" --data-dir "$tmp/scratch" "${extra_args[@]}" "$@" >"$tmp/bench.json" &
bench_pid=$!
wait "$bench_pid" || status=$?
bench_pid=""
if [[ "$status" != 0 ]]; then
  echo "bench-mirror.sh: ferry-bench failed (exit $status)" >&2
  for log in "$tmp/mirror.log" "$tmp/east/broker.log" "$tmp/west/broker.log"; do
    [[ -s "$log" ]] || continue
    echo "--- last lines of ${log#"$tmp"/}:" >&2
    tail -n 30 "$log" >&2
  done
  exit "$status"
fi
if [[ -n "$wan" ]]; then
  # The link the mirror crossed, as the proxy reports it (settings and bytes moved), under "wan".
  /usr/bin/python3 - "$tmp/bench.json" "$proxy_control_port" <<'PY'
import json, sys, urllib.request
path, port = sys.argv[1], sys.argv[2]
report = json.load(open(path))
report["wan"] = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5))
report["wan"]["round_trip_ms"] = report["wan"]["link"]["delay_up_ms"] + report["wan"]["link"]["delay_down_ms"]
json.dump(report, open(path, "w"), indent=2)
PY
fi
# The flow's tasks.max, next to mirror_processes.
/usr/bin/python3 - "$tmp/bench.json" "$tasks" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
report["mirror_tasks"] = int(sys.argv[2])
json.dump(report, open(sys.argv[1], "w"), indent=2)
PY
cp "$tmp/bench.json" "$out"
cat "$out"
echo "bench-mirror.sh: saved $out" >&2

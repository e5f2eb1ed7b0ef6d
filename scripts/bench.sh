#!/usr/bin/env bash
# Builds ferry-broker and ferry-bench (Release), runs the benchmark against a fresh broker
# on a free loopback port with a throwaway data dir, prints the JSON and saves it to
# <build>/bench-broker.json. Extra arguments go to ferry-bench (e.g. --records 50000).
#
# Environment overrides, for running against binaries built elsewhere:
#   FERRY_BUILD_DIR   build directory (default: build-release, kept apart from the tests' build/)
#   FERRY_SKIP_BUILD  set to 1 to skip cmake/ninja
#   FERRY_BROKER_BIN  broker binary (default: $FERRY_BUILD_DIR/broker/ferry-broker)
#   FERRY_BENCH_BIN   bench binary  (default: $FERRY_BUILD_DIR/bench/ferry-bench)
#   FERRY_BROKER_CONFIG  extra lines for the broker's TOML config, e.g. "num.io.threads = 0" to
#                     compare with appends on the network thread
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${FERRY_BUILD_DIR:-build-release}"
broker_bin="${FERRY_BROKER_BIN:-$build/broker/ferry-broker}"
bench_bin="${FERRY_BENCH_BIN:-$build/bench/ferry-bench}"

if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-broker ferry-bench >&2
fi
for bin in "$broker_bin" "$bench_bin"; do
  [[ -x "$bin" ]] || { echo "bench.sh: $bin is missing or not executable" >&2; exit 1; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")"
broker_pid=""
cleanup() {
  if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$broker_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$broker_pid" 2>/dev/null; then
      echo "bench.sh: broker ignored SIGTERM for 10 s; sending SIGKILL" >&2
      kill -KILL "$broker_pid" 2>/dev/null || true
    fi
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Outside the ephemeral range and reserved machine-wide (tests/integration/ports.py).
port="$(/usr/bin/python3 tests/integration/ports.py 1)"
mkdir -p "$tmp/logs" "$tmp/scratch"
cat >"$tmp/broker.toml" <<TOML
node.id = 0
listeners = "PLAINTEXT://127.0.0.1:$port"
log.dirs = "$tmp/logs"
num.partitions = 1
${FERRY_BROKER_CONFIG:-}
TOML

"$broker_bin" --config "$tmp/broker.toml" >"$tmp/broker.log" 2>&1 &
broker_pid=$!

ready=0
for _ in $(seq 300); do
  if ! kill -0 "$broker_pid" 2>/dev/null; then
    echo "bench.sh: broker exited before listening; its log:" >&2
    cat "$tmp/broker.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ "$ready" != 1 ]]; then
  echo "bench.sh: broker not listening on 127.0.0.1:$port after 30 s; its log:" >&2
  tail -n 50 "$tmp/broker.log" >&2
  exit 1
fi

out="$build/bench-broker.json"
# --data-dir shares the broker's filesystem so the machine limit measures the same disk.
status=0
"$bench_bin" --bootstrap "127.0.0.1:$port" --broker-pid "$broker_pid" --data-dir "$tmp/scratch" "$@" \
  >"$tmp/bench.json" || status=$?
if [[ "$status" != 0 ]]; then
  echo "bench.sh: ferry-bench failed (exit $status); last broker log lines:" >&2
  tail -n 50 "$tmp/broker.log" >&2
  exit "$status"
fi
cp "$tmp/bench.json" "$out"
cat "$out"
echo "bench.sh: saved $out" >&2

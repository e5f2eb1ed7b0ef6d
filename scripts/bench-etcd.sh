#!/usr/bin/env bash
# Builds ferry-etcd-bench (Release), starts a throwaway single-member etcd with
# `--metrics extensive` on free loopback ports (its data dir in a temp dir under $TMPDIR, /tmp by
# default, so on that disk) and runs the bench against it: the per-call cost of Ferry's etcd
# client (etcd's JSON gateway) next to etcd's own handling time of the same calls. Prints the
# JSON and saves it to <build>/bench-etcd.json. Extra arguments go to ferry-etcd-bench
# (e.g. --calls 20000 --value-bytes 1024); bench/README.md ("ferry-etcd-bench") explains it.
# Safe to re-run: every run gets a fresh etcd, ports and temp dir.
#
# Environment overrides:
#   FERRY_BUILD_DIR       build directory (default: build-release, kept apart from the tests' build/)
#   FERRY_SKIP_BUILD      set to 1 to skip cmake/ninja
#   FERRY_ETCD_BENCH_BIN  bench binary (default: $FERRY_BUILD_DIR/bench/ferry-etcd-bench)
#   FERRY_ETCD_BIN        etcd server (default: etcd on PATH, else /usr/bin/etcd; Debian etcd-server)
#   FERRY_KEEP_TMP        set to 1 to keep the temp dir (etcd's data dir and log) for a look
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${FERRY_BUILD_DIR:-build-release}"
bench_bin="${FERRY_ETCD_BENCH_BIN:-$build/bench/ferry-etcd-bench}"
etcd_bin="${FERRY_ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}"

if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-etcd-bench >&2
fi
[[ -x "$bench_bin" ]] || { echo "bench-etcd.sh: $bench_bin is missing or not executable" >&2; exit 1; }
[[ -x "$etcd_bin" ]] || {
  echo "bench-etcd.sh: no etcd server at $etcd_bin (Debian: apt-get install etcd-server; or set FERRY_ETCD_BIN)" >&2
  exit 1
}
command -v curl >/dev/null || { echo "bench-etcd.sh: the curl CLI is missing (used to wait for etcd's /health)" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-etcd.XXXXXX")"
etcd_pid=""
bench_pid=""

# stop_pid PID WHAT GRACE: SIGTERM, then SIGKILL after GRACE seconds.
source "$repo/scripts/stop_pid.sh"

cleanup() {
  local status=$?
  if [[ -n "$bench_pid" ]]; then
    stop_pid "$bench_pid" "ferry-etcd-bench" 10
    wait "$bench_pid" 2>/dev/null || true
  fi
  if [[ -n "$etcd_pid" ]]; then
    stop_pid "$etcd_pid" "etcd" 10
    wait "$etcd_pid" 2>/dev/null || true
  fi
  if [[ "${FERRY_KEEP_TMP:-0}" == 1 ]]; then
    echo "bench-etcd.sh: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Client and peer ports, outside the ephemeral range and reserved machine-wide
# (tests/integration/ports.py), as for the other bench scripts.
read -r client_port peer_port < <(/usr/bin/python3 tests/integration/ports.py 2)
client_url="http://127.0.0.1:$client_port"
peer_url="http://127.0.0.1:$peer_port"

# A fresh single-member cluster. ETCD_* variables of the caller's environment are dropped: etcd
# reads them as flags.
unset_etcd_env=()
while IFS= read -r name; do unset_etcd_env+=(-u "$name"); done < <(compgen -e | grep '^ETCD_' || true)
env "${unset_etcd_env[@]}" "$etcd_bin" \
  --name bench \
  --data-dir "$tmp/etcd-data" \
  --listen-client-urls "$client_url" --advertise-client-urls "$client_url" \
  --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
  --initial-cluster "bench=$peer_url" --initial-cluster-state new \
  --metrics extensive \
  >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!

# Ready once it has a leader: /health answers {"health":"true"}.
ready=""
for _ in $(seq 300); do
  if ! kill -0 "$etcd_pid" 2>/dev/null; then
    echo "bench-etcd.sh: etcd exited before it was ready; its log:" >&2
    tail -n 50 "$tmp/etcd.log" >&2
    exit 1
  fi
  if curl -sf --max-time 1 "$client_url/health" 2>/dev/null | grep -q '"health":"true"'; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ -n "$ready" ]] || {
  echo "bench-etcd.sh: etcd not healthy at $client_url after 30 s; its log:" >&2
  tail -n 50 "$tmp/etcd.log" >&2
  exit 1
}
echo "bench-etcd.sh: etcd $("$etcd_bin" --version | head -n 1 | awk '{print $3}') at $client_url, data in $tmp/etcd-data" >&2

out="$build/bench-etcd.json"
status=0
# In the background so that a signal to this script is handled at once (bash runs traps only
# between commands, and `wait` is interruptible where a foreground command is not).
"$bench_bin" --endpoint "127.0.0.1:$client_port" "$@" >"$tmp/bench.json" &
bench_pid=$!
wait "$bench_pid" || status=$?
bench_pid=""
if [[ "$status" != 0 ]]; then
  echo "bench-etcd.sh: ferry-etcd-bench failed (exit $status); last lines of etcd's log:" >&2
  tail -n 30 "$tmp/etcd.log" >&2
  exit "$status"
fi
mkdir -p "$build"
cp "$tmp/bench.json" "$out"
cat "$out"
echo "bench-etcd.sh: saved $out" >&2

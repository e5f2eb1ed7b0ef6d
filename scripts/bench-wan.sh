#!/usr/bin/env bash
# Mirror throughput across a simulated WAN (issue 16, item 2): runs scripts/bench-mirror.sh once
# per round trip, with ferry-wan-proxy between the mirror and its source, and prints one JSON
# report: per round trip the mirror's MB/s (and the produce- and consume-only MB/s of that
# case), and each case's ratio to the 0 ms case of the same run. Goals: >= 0.8 at 50 ms,
# >= 0.6 at 150 ms. Saved to <build>/bench-wan.json; bench/mirror-mode.md explains it.
#
# Usage: scripts/bench-wan.sh [ferry-bench flags, e.g. --records 1000000]
# Environment:
#   FERRY_WAN_RTTS_MS       round trips to measure, space-separated (default "0 50 150"); the
#                           first is the reference the others are compared with
#   FERRY_WAN_RATE_MBIT     bandwidth cap of the link (default 0 = none)
#   FERRY_WAN_WINDOW_BYTES  the proxy's per-connection window (default: the proxy's, 6 MiB)
#   FERRY_MIRROR_PROCESSES  ferry-mirror processes sharing the flow (bench-mirror.sh; default 1)
#   FERRY_MIRROR_TASKS      the flow's tasks.max in each process (bench-mirror.sh; default 1)
#   FERRY_BUILD_DIR, FERRY_SKIP_BUILD, FERRY_KEEP_TMP: as for bench-mirror.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${FERRY_BUILD_DIR:-build-release}"
rtts="${FERRY_WAN_RTTS_MS:-0 50 150}"
for rtt in $rtts; do
  [[ "$rtt" =~ ^[0-9]+$ && $((rtt % 2)) == 0 ]] || {
    echo "bench-wan.sh: FERRY_WAN_RTTS_MS entry \"$rtt\": expected an even number of milliseconds" >&2
    exit 2
  }
done

if [[ "${FERRY_SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build" ferry-broker ferry-mirror ferry-bench ferry-wan-proxy >&2
fi

results="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-wan.XXXXXX")"
trap 'rm -rf "$results"' EXIT
for rtt in $rtts; do
  echo "bench-wan.sh: round trip $rtt ms" >&2
  FERRY_SKIP_BUILD=1 FERRY_BUILD_DIR="$build" FERRY_WAN_DELAY_MS=$((rtt / 2)) \
    scripts/bench-mirror.sh "$@" >"$results/$rtt.json"
done

/usr/bin/python3 - "$results" "$build/bench-wan.json" $rtts <<'PY'
import json, os, sys
results, out, rtts = sys.argv[1], sys.argv[2], sys.argv[3:]
cases = []
for rtt in rtts:
    r = json.load(open(os.path.join(results, f"{rtt}.json")))
    cases.append({
        "round_trip_ms": int(rtt),
        "mirror_mb_per_s": r["mirror"]["mb_per_s"],
        "mirror_seconds": r["mirror"]["seconds"],
        "produce_only_mb_per_s": r["produce"]["mb_per_s"],
        "consume_only_mb_per_s": r["consume"]["mb_per_s"],
        "mirror_records": r["mirror"]["records"],
        "mirror_capped": r["mirror"]["capped"],
        "mirror_processes": r.get("mirror_processes", 1),
        "mirror_tasks": r.get("mirror_tasks", 1),
        "busy_cores_before_run": r.get("machine", {}).get("busy_cores_before_run"),
        "link": r["wan"]["link"],
        "window_bytes": r["wan"]["window_bytes"],
        "bytes_down": r["wan"]["bytes_down"],
        "report": r,
    })
ref = cases[0]["mirror_mb_per_s"]
goals = {50: 0.8, 150: 0.6}
for c in cases:
    c["ratio_to_first"] = round(c["mirror_mb_per_s"] / ref, 3) if ref else None
    if c["round_trip_ms"] in goals:
        c["goal"] = {"ratio_min": goals[c["round_trip_ms"]], "met": c["ratio_to_first"] is not None
                     and c["ratio_to_first"] >= goals[c["round_trip_ms"]]}
summary = {"mode": "wan", "reference_round_trip_ms": cases[0]["round_trip_ms"],
           "cases": [{k: v for k, v in c.items() if k != "report"} for c in cases],
           "reports": {str(c["round_trip_ms"]): c["report"] for c in cases}}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps({k: v for k, v in summary.items() if k != "reports"}, indent=2))
print(f"bench-wan.sh: saved {out} (full per-case reports under \"reports\")", file=sys.stderr)
PY

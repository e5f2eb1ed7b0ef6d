#!/usr/bin/env bash
# The longer run of ferry-dr's unplanned-failover property test (tests/integration/test_dr_property.py):
# N random seeds (default 20), each: two regions, a mirror, a full-speed idempotent producer, east
# SIGKILLed at a random instant, ferry-dr killed at a random step and resumed, east restarted and a
# failback. Prints each seed's numbers, the failing seeds (replay one with FERRY_PROPERTY_SEED=S)
# and the totals; exits 1 if any seed failed.
# Usage: scripts/dr-property.sh [N]     (FERRY_PROPERTY_BASE=S starts the seeds at S instead of a random base)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"
case "$N" in ''|*[!0-9]*) echo "usage: scripts/dr-property.sh [N]  (N = number of seeds, a positive integer)" >&2; exit 2;; esac
scripts/setup-deps.sh >/dev/null
scripts/build.sh ferry-broker ferry-mirror ferry-dr >/dev/null
BASE="${FERRY_PROPERTY_BASE:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}"
SEEDS=$(seq -s, "$BASE" $((BASE + N - 1)))
echo "== ferry-dr unplanned-failover property: $N seed(s) from $BASE"
cd tests/integration
FERRY_PROPERTY_SEEDS="$SEEDS" FERRY_BROKER="$PWD/../../build/broker/ferry-broker" \
  FERRY_MIRROR="$PWD/../../build/mirror/ferry-mirror" FERRY_DR="$PWD/../../build/dr-orchestrator/ferry-dr" \
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
  /usr/bin/python3 -m unittest -v test_dr_property 2>&1 | grep -E "^seed |^seeds run|FAILED seed|^(OK|FAILED)|^Ran "
exit "${PIPESTATUS[0]}"

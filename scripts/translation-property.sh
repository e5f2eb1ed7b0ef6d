#!/usr/bin/env bash
# The long run of ferry-mirror's translation property test (tests/integration/
# test_mirror_translation_property.py): N random seeds (default 20), each a random workload, random
# SIGKILLs of the mirror and random commit points, checked for 0 re-delivered, 0 skipped and exact
# checkpoints. Prints one line per seed and the totals; exit 1 when a seed failed (its replay
# command is printed). CI runs only the module's fixed seeds.
# Usage: scripts/translation-property.sh [N]     (about 25 s per seed on 2 busy cores)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [number of seeds >= 1]" >&2; exit 2; }
scripts/build.sh ferry-broker ferry-mirror >/dev/null
seeds="$(/usr/bin/python3 -c "import random,sys; r=random.SystemRandom(); print(','.join(str(r.randrange(1, 1 << 31)) for _ in range(int(sys.argv[1]))))" "$n")"
echo "seeds: $seeds"
cd tests/integration
log="$(mktemp /tmp/translation-property.XXXXXX.log)"
echo "full log: $log"
# One line per seed as it finishes (and a failed seed's details), then the totals.
set +o pipefail
FERRY_PROPERTY_SEEDS="$seeds" FERRY_BROKER="$PWD/../../build/broker/ferry-broker" \
  FERRY_MIRROR="$PWD/../../build/mirror/ferry-mirror" PYTHONUNBUFFERED=1 \
  /usr/bin/python3 -m unittest -v test_mirror_translation_property 2>&1 | tee "$log" |
  grep --line-buffered -aE "^seed [0-9]+|^  |^property totals"
status="${PIPESTATUS[0]}"
exit "$status"

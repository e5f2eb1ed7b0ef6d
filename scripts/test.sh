#!/usr/bin/env bash
# The test command: installs dependencies, builds everything, runs every test (unit tests and
# integration tests against real processes and real Kafka clients) through CTest.
# Usage: scripts/test.sh [extra ctest arguments, e.g. -R storage]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "${FERRY_TEST_JOBS:-2}" "$@"

#!/usr/bin/env bash
# Configures and builds Ferry into ./build (Release with debug info, warnings as errors).
# Usage: scripts/build.sh [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${FERRY_JOBS:-$(nproc)}"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON
fi
ninja -C build -j "$JOBS" "$@"

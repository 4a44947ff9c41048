#!/usr/bin/env bash
# The peer comparison in one command: builds mixccl (scripts/build.sh) when build/ lacks it, then runs
# bench/compare/run.py with Debian's Python (which has torch for Gloo and matplotlib for the plot).
# Arguments go to run.py (--ranks 2,4 --maxbytes 64M --repeat 2 --no-gloo --no-sweep ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x build/bin/mixccl-perf ] || [ ! -x build/bin/mixccl-topo ]; then
  scripts/build.sh
fi
exec /usr/bin/python3 bench/compare/run.py "$@"

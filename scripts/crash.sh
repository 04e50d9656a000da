#!/usr/bin/env bash
# Issue 3, full size: kill -9 at random instants during claim, heartbeat, done, fail and
# reclaim, 400 rounds by default (about 200 of them kill a run mid-way); after every kill each task is in exactly one folder and
# parses, and what is left is only what `brain doctor --fix` repairs. Prints what was killed
# and what was repaired. Usage: scripts/crash.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
BRAIN_CRASH_KILLS=${1:-400} BRAIN_CRASH_SEED=${2:-2654435769} cargo test --release --locked -p brain --test cli \
  races::kill_9_at_random_instants_loses_nothing -- --exact --nocapture 2>&1 |
  grep -E '^crash:|test result|panicked|round'

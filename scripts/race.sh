#!/usr/bin/env bash
# Issue 3, full size: 16 claimer processes (the real `brain` binary, one process per claim and
# per done) drain 2,000 tasks; every task must be claimed exactly once and end in completed/.
# Prints the counts and the claims per second. Usage: scripts/race.sh [TASKS]
set -euo pipefail
cd "$(dirname "$0")/.."
BRAIN_RACE_TASKS=${1:-2000} cargo test --release --locked -p brain --test cli \
  races::sixteen_claimers_take_every_task_exactly_once -- --exact --nocapture 2>&1 |
  grep -E '^race:|test result|panicked|assert'

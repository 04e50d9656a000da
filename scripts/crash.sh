#!/usr/bin/env bash
# Issue 3, full size: kill -9 at random instants during claim, heartbeat, done, fail and
# reclaim, 400 rounds by default (about 200 of them kill a run mid-way); after every kill each task is in exactly one folder and
# parses, and what is left is only what `brain doctor --fix` repairs. Then issue 4's: kill -9
# of brain and its git commands (the whole process group) during claims and dones that commit,
# half as many rounds; after `brain doctor --fix` everything is committed and `git fsck` is
# content. Prints what was killed and what was repaired. Usage: scripts/crash.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
for test in races::kill_9_at_random_instants_loses_nothing races::kill_9_during_commits_leaves_a_sound_repository; do
  BRAIN_CRASH_KILLS=${1:-400} BRAIN_CRASH_SEED=${2:-2654435769} cargo test --release --locked -p brain --test cli \
    "$test" -- --exact --nocapture 2>&1 |
    grep -E '^(commit )?crash:|test result|panicked|round'
done

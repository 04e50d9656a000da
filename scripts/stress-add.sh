#!/usr/bin/env bash
# Issue 2, full size: 8 processes add 200 tasks each at the same time into one repo; every id
# must be distinct and every task must be a file. Usage: scripts/stress-add.sh [PROCS] [EACH]
set -euo pipefail
procs=${1:-8}
each=${2:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --locked -p brain --manifest-path "$root/Cargo.toml" 2>/dev/null
brain="$root/target/release/brain"
repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
"$brain" init "$repo" 2>/dev/null
for p in $(seq "$procs"); do
  ( for i in $(seq "$each"); do "$brain" --repo "$repo" add "p$p task $i"; done ) > "$repo/.brain/ids.$p" &
done
wait
total=$(cat "$repo"/.brain/ids.* | wc -l)
distinct=$(cat "$repo"/.brain/ids.* | sort -u | wc -l)
files=$(find "$repo/tasks/pending" -name '*.md' | wc -l)
echo "processes: $procs x $each adds; ids printed: $total; distinct: $distinct; files: $files"
[ "$total" -eq $((procs * each)) ] && [ "$distinct" -eq "$total" ] && [ "$files" -eq "$total" ]

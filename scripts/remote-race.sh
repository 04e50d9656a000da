#!/usr/bin/env bash
# Several machines, one queue: a bare repository and CLONES clones of it, CLAIMERS claimers in
# each (real `brain` processes), TASKS tasks. Each claimer claims and finishes until nothing is
# left. Then checks, on the remote: every task completed, each claimed exactly once, and one
# commit per transition. Prints the counts and the time taken.
#
#   scripts/remote-race.sh [TASKS] [CLONES] [CLAIMERS]      (defaults: 200 4 2)
set -euo pipefail
TASKS=${1:-200}
CLONES=${2:-4}
CLAIMERS=${3:-2}
BRAIN=${BRAIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/brain}
[ -x "$BRAIN" ] || { echo "build first: cargo build --release (or set BRAIN=path)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=race GIT_AUTHOR_EMAIL=race@example.invalid
export GIT_COMMITTER_NAME=race GIT_COMMITTER_EMAIL=race@example.invalid
git init -q --bare -b main "$work/remote.git"
git clone -q "$work/remote.git" "$work/seed" 2>/dev/null
cd "$work/seed"
git checkout -q -b main 2>/dev/null || true
"$BRAIN" init . >/dev/null 2>&1
sed -i.bak 's/^# remote = "origin"/remote = "origin"/; s/^# ad_hoc_agents = false/ad_hoc_agents = true/' brain.toml && rm -f brain.toml.bak
for i in $(seq 1 "$TASKS"); do
  id=$(printf 'task-2026-01-01-%03d' "$i")
  printf -- '---\nid: %s\nstatus: pending\ncreated: 2026-01-01T00:00:00Z\n---\n# Task %s\n' "$id" "$i" \
    > "tasks/pending/$id.md"
done
git add -A && git commit -qm "the tasks" && git push -q origin main
start_commits=$(git -C "$work/remote.git" rev-list --count main)
for c in $(seq 1 "$CLONES"); do git clone -q "$work/remote.git" "$work/clone$c"; done
claimer() { # clone, agent
  cd "$work/clone$1"
  while true; do
    set +e
    out=$("$BRAIN" claim --agent "$2" 2>>"$work/$2.err")
    rc=$?
    set -e
    [ $rc -eq 3 ] && break
    [ $rc -ne 0 ] && { echo "claim by $2 failed ($rc)" >&2; cat "$work/$2.err" >&2; exit 1; }
    read -r id token _ <<<"$out"
    echo "$id" >> "$work/$2.claimed"
    "$BRAIN" done "$id" --token "$token" --agent "$2" --result ok >/dev/null 2>>"$work/$2.err" \
      || { echo "done by $2 failed" >&2; cat "$work/$2.err" >&2; exit 1; }
  done
}
t0=$(date +%s.%N)
pids=()
for c in $(seq 1 "$CLONES"); do
  for k in $(seq 1 "$CLAIMERS"); do claimer "$c" "m$c-a$k" & pids+=($!); done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
t1=$(date +%s.%N)
[ $fail -eq 0 ] || { echo "a claimer failed" >&2; exit 1; }
cat "$work"/*.claimed > "$work/all"
claimed=$(wc -l < "$work/all")
distinct=$(sort -u "$work/all" | wc -l)
git clone -q "$work/remote.git" "$work/check"
completed=$(ls "$work/check/tasks/completed" | grep -c '\.md$' || true)
left=$(( $(ls "$work/check/tasks/pending" "$work/check/tasks/active" | grep -c '\.md$' || true) ))
commits=$(( $(git -C "$work/remote.git" rev-list --count main) - start_commits ))
# Every clone catches up to the same state, with nothing left over in its working tree.
dirty=0
for c in $(seq 1 "$CLONES"); do
  (cd "$work/clone$c" && "$BRAIN" sync >/dev/null 2>>"$work/sync.err") || { echo "sync of clone$c failed" >&2; cat "$work/sync.err" >&2; dirty=1; }
  st=$(git -C "$work/clone$c" status --porcelain --untracked-files=all)
  [ -z "$st" ] || { echo "clone$c is not clean after sync:" >&2; echo "$st" >&2; dirty=1; }
done
echo "tasks $TASKS, clones $CLONES x $CLAIMERS claimers: claimed $claimed ($distinct distinct), completed on the remote $completed, left elsewhere $left, commits $commits (expected $((2 * TASKS)))"
python3 -c "print(f'drained in {$t1 - $t0:.1f} s')"
[ "$claimed" -eq "$TASKS" ] && [ "$distinct" -eq "$TASKS" ] && [ "$completed" -eq "$TASKS" ] \
    && [ "$left" -eq 0 ] && [ "$commits" -eq $((2 * TASKS)) ] && [ "$dirty" -eq 0 ] || { echo FAILED; exit 1; }
echo OK

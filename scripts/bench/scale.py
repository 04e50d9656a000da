#!/usr/bin/env python3
"""How brain's costs grow with the queue, and how commits keep up with many agents (issue 18).

For 1,000, 10,000 and 100,000 pending tasks it measures add, claim, heartbeat, show, done and
list --json, without git, both back to back and after a 3 s idle pause (as a person at a prompt,
a hook or a scheduled run meets brain), and add, claim and done with their commit; and a claim
12 s after anything listed the queue, which stats every pending file again (TRUST_SECS). Then 16
`brain claim` processes with git (claims/s and commits made) and `brain run` of 200 trivial
tasks with git (tasks/s and commits made). Prints medians over the runs; run it several times
on a noisy disk and report ranges.

usage: scale.py [--quick]   (--quick: 1,000 and 10,000 only, fewer runs)
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BRAIN, ROOT, build, sh  # noqa: E402

GEN = os.path.join(ROOT, "scripts", "bench", "gen_tasks.py")


def timed(args):
    t = time.perf_counter()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return (time.perf_counter() - t) * 1000, out


def make_repo(base, n, commits):
    repo = os.path.join(base, f"q-{n}-{'git' if commits else 'plain'}")
    sh(BRAIN, "init", repo)
    sh(sys.executable, GEN, repo, str(n))
    if commits:
        sh("git", "-C", repo, "add", "-A")
        sh("git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0", "commit", "-qm", "tasks")
        sh("git", "-C", repo, "gc", "-q")
    else:
        path = os.path.join(repo, "brain.toml")
        text = open(path).read().replace("commit = true", "commit = false")
        open(path, "w").write(text)
    sh(BRAIN, "--repo", repo, "list")  # the listing cache, as a queue in use has it
    # A queue in use was not written a moment ago: let the kernel write the new files out
    # first, or their writeback (100,000 files at the largest size) slows what is measured.
    os.sync()
    time.sleep(5)
    return repo


def cycle(repo, pause):
    """One add, claim, heartbeat, show, done and list --json, each after `pause` seconds."""
    b = [BRAIN, "--repo", repo]
    row = {}

    def op(name, args):
        if pause:
            time.sleep(pause)
        ms, out = timed(b + args)
        row[name] = ms
        return out

    op("add", ["add", "bench", "--priority", "low"])
    out = op("claim", ["claim", "--agent", "claude-code"]).split()
    tid, tok = out[0], out[1]
    op("heartbeat", ["heartbeat", tid, "--token", tok])
    op("show", ["show", tid])
    op("done", ["done", tid, "--token", tok, "--result", "ok"])
    op("list --json", ["list", "--json"])
    return row


def claim_after(repo, pause, runs):
    """A claim `pause` seconds after anything listed pending/: past TRUST_SECS (10 s), the
    claim stats every pending file again before it trusts its caches (median of `runs`)."""
    xs = []
    for _ in range(runs):
        time.sleep(pause)
        ms, _ = timed([BRAIN, "--repo", repo, "claim", "--agent", "claude-code"])
        xs.append(ms)
    return statistics.median(xs)


def medians(rows):
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def claimers_with_git(base, tasks=300, procs=16):
    repo = make_repo(base, tasks, commits=True)
    before = int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout)
    loop = f'while "{BRAIN}" --repo "{repo}" claim --agent claude-code >/dev/null 2>&1; do :; done'
    t = time.perf_counter()
    children = [subprocess.Popen(["sh", "-c", loop]) for _ in range(procs)]
    for c in children:
        c.wait()
    secs = time.perf_counter() - t
    claimed = len(os.listdir(os.path.join(repo, "tasks", "active"))) - 1  # .gitkeep
    after = int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout)
    return claimed / secs, after - before, claimed


def run_with_git(base, tasks=200):
    repo = make_repo(base, tasks, commits=False)
    path = os.path.join(repo, "brain.toml")
    text = open(path).read().replace("commit = false", "commit = true")
    text += '\n[agents.bench]\ncommand = ["true"]\ncapabilities = ["code_execution", "file_access"]\n'
    open(path, "w").write(text)
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0", "commit", "-qm", "tasks")
    before = int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout)
    t = time.perf_counter()
    sh(BRAIN, "--repo", repo, "run", "--agent", "bench")
    secs = time.perf_counter() - t
    after = int(subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout)
    return tasks / secs, after - before


def main():
    quick = "--quick" in sys.argv
    build()
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    warm_runs, idle_runs = (5, 2) if quick else (9, 3)
    base = tempfile.mkdtemp(prefix="brain-scale-")
    table = {}
    try:
        for n in sizes:
            repo = make_repo(base, n, commits=False)
            cycle(repo, 0)  # untimed: the first claim after the cache was written
            table[(n, "warm")] = medians([cycle(repo, 0) for _ in range(warm_runs)])
            table[(n, "idle")] = medians([cycle(repo, 3) for _ in range(idle_runs)])
            table[(n, "stale")] = claim_after(repo, 12, idle_runs)
            shutil.rmtree(repo, ignore_errors=True)
            repo = make_repo(base, n, commits=True)
            cycle(repo, 0)
            table[(n, "git")] = medians([cycle(repo, 0) for _ in range(warm_runs)])
            shutil.rmtree(repo, ignore_errors=True)
        rate, commits, claimed = claimers_with_git(base)
        run_rate, run_commits = run_with_git(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    ops = ["add", "claim", "heartbeat", "show", "done", "list --json"]
    head = "".join(f"{n:>10,} {'':>8}" for n in sizes)
    print(f"{'ms (median)':<34}{head}")
    for mode, label in [("warm", "back to back"), ("idle", "after 3 s idle"), ("git", "with its commit")]:
        for o in ops:
            if mode == "git" and o in ("show", "list --json"):
                continue
            cells = "".join(f"{table[(n, mode)][o]:>10.1f} {'':>8}" for n in sizes)
            print(f"{o + ', ' + label:<34}{cells}")
    cells = "".join(f"{table[(n, 'stale')]:>10.1f} {'':>8}" for n in sizes)
    print(f"{'claim, 12 s after any listing':<34}{cells}")
    print(f"16 `brain claim` processes with git: {rate:.0f} claims/s, {commits} commits for {claimed} claims")
    print(f"brain run with git, 200 trivial tasks: {run_rate:.0f} tasks/s, {run_commits} commits")
    print("(wall time per process, measured from Python: includes ~1 ms of process start-up)")


if __name__ == "__main__":
    main()

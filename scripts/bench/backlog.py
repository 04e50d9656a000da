#!/usr/bin/env python3
"""brain side by side with Backlog.md (tasks as Markdown files, from npm) at 1,000 and 10,000
tasks, interleaved: each round runs brain's command, then Backlog.md's, on queues of the same
size, so a busy disk slows both alike (issue 18, point 4).

The pairs: `brain add` / `backlog task create`; `brain claim` / `backlog task edit N -s "In
Progress" -a @bench`; `brain done` / `backlog task edit N -s Done`; `brain list --json` /
`backlog task list --plain`. Neither commits (brain with `[git] commit = false`, Backlog.md
with its default `auto_commit: false`). Prints a Markdown table of medians and ratios.

usage: backlog.py [ROUNDS]   (default 3; Backlog.md takes seconds per command at 10,000)
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

BACKLOG_VERSION = "1.52.0"


def install_backlog(base):
    prefix = os.path.join(base, "npm")
    sh("npm", "install", "--no-audit", "--no-fund", "--prefix", prefix, f"backlog.md@{BACKLOG_VERSION}")
    return os.path.join(prefix, "node_modules", ".bin", "backlog")


def timed(args, cwd=None):
    t = time.perf_counter()
    out = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout
    return (time.perf_counter() - t) * 1000, out


def brain_repo(base, n):
    repo = os.path.join(base, f"brain-{n}")
    sh(BRAIN, "init", repo)
    sh(sys.executable, os.path.join(ROOT, "scripts", "bench", "gen_tasks.py"), repo, str(n))
    path = os.path.join(repo, "brain.toml")
    open(path, "w").write(open(path).read().replace("commit = true", "commit = false"))
    sh(BRAIN, "--repo", repo, "list")
    return repo


def backlog_repo(base, n, backlog):
    repo = os.path.join(base, f"backlog-{n}")
    os.makedirs(repo)
    sh("git", "init", "-q", repo)
    sh("git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "--allow-empty", "-m", "init")
    sh(backlog, "init", "bench", "--defaults", cwd=repo)
    sh(backlog, "config", "set", "remoteOperations", "false", cwd=repo)
    tasks = os.path.join(repo, "backlog", "tasks")
    for i in range(1, n + 1):
        with open(os.path.join(tasks, f"task-{i} - Benchmark task {i}.md"), "w") as f:
            f.write(
                f"---\nid: TASK-{i}\ntitle: Benchmark task {i}\nstatus: To Do\nassignee: []\n"
                f"created_date: '2025-01-01 02:30'\nlabels: []\ndependencies: []\npriority: medium\n"
                f"ordinal: {i * 1000}\n---\n\n## Description\n\nSomething to read.\n"
            )
    return repo


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    build()
    base = tempfile.mkdtemp(prefix="brain-vs-backlog-")
    rows = []
    try:
        backlog = install_backlog(base)
        for n in [1_000, 10_000]:
            b, k = brain_repo(base, n), backlog_repo(base, n, backlog)
            times = {op: ([], []) for op in ["add", "claim", "done", "list"]}
            for r in range(rounds):
                ms, _ = timed([BRAIN, "--repo", b, "add", "bench"])
                times["add"][0].append(ms)
                ms, _ = timed([backlog, "task", "create", "bench", "--plain"], cwd=k)
                times["add"][1].append(ms)
                ms, out = timed([BRAIN, "--repo", b, "claim", "--agent", "claude-code"])
                tid, tok = out.split()[:2]
                times["claim"][0].append(ms)
                num = str(r + 1)
                ms, _ = timed([backlog, "task", "edit", num, "-s", "In Progress", "-a", "@bench", "--plain"], cwd=k)
                times["claim"][1].append(ms)
                ms, _ = timed([BRAIN, "--repo", b, "done", tid, "--token", tok, "--result", "ok"])
                times["done"][0].append(ms)
                ms, _ = timed([backlog, "task", "edit", num, "-s", "Done", "--plain"], cwd=k)
                times["done"][1].append(ms)
                ms, _ = timed([BRAIN, "--repo", b, "list", "--json"])
                times["list"][0].append(ms)
                ms, _ = timed([backlog, "task", "list", "--plain"], cwd=k)
                times["list"][1].append(ms)
            for op, (ours, theirs) in times.items():
                rows.append((op, n, statistics.median(ours), statistics.median(theirs)))
            shutil.rmtree(b, ignore_errors=True)
            shutil.rmtree(k, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    names = {"add": "`add`", "claim": "`claim`", "done": "`done`", "list": "`list --json` / `task list --plain`"}
    print(f"| operation, no commits ({rounds} interleaved rounds, medians) | tasks | brain | Backlog.md {BACKLOG_VERSION} | Backlog.md / brain |")
    print("|---|---|---|---|---|")
    for op, n, ours, theirs in rows:
        print(f"| {names[op]} | {n:,} | {ours:.1f} ms | {theirs:,.0f} ms | {theirs / ours:,.0f}× |")


if __name__ == "__main__":
    main()

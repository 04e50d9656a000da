#!/usr/bin/env python3
"""`brain usage import` against `ccusage daily --json` on the same Claude Code transcripts.

Generates about 1 GB of transcripts (scripts/bench/gen_transcripts.py), then times, several
times each: ccusage 18.0.10 (tests/tools, pinned; `--offline` so that no price list is
fetched), brain's first import (no cache), and brain's re-import of the unchanged files (the
incremental case). Checks that both give the same daily totals, and prints the ranges.
Targets: the first import at least 5x faster than ccusage; a re-import under 100 ms.

Run: python3 scripts/bench/usage.py [--gb 1.0] [--runs 3]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRAIN = os.path.join(ROOT, "target", "release", "brain")
CCUSAGE = os.path.join(ROOT, "tests", "tools", "node_modules", ".bin", "ccusage")


def timed(args, env=None, cwd=None):
    t = time.perf_counter()
    out = subprocess.run(args, check=True, stdout=subprocess.PIPE, env=env, cwd=cwd).stdout
    return time.perf_counter() - t, out


def days(doc, key):
    return {d["date"]: (d["inputTokens"], d["outputTokens"], d["cacheCreationTokens"], d["cacheReadTokens"]) for d in doc[key]}


def span(xs, unit, scale=1.0):
    lo, hi = min(xs) * scale, max(xs) * scale
    return f"{lo:.2f}-{hi:.2f} {unit}" if unit == "s" else f"{lo:.0f}-{hi:.0f} {unit}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "brain"], check=True, cwd=ROOT)
    if not os.path.exists(CCUSAGE):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], check=True, cwd=os.path.join(ROOT, "tests", "tools"))
    base = tempfile.mkdtemp(prefix="brain-usage-bench-")
    try:
        corpus = os.path.join(base, "claude")
        size = int(a.gb * 1e9)
        print(f"generating {a.gb} GB of transcripts ...", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench", "gen_transcripts.py"), corpus, "--bytes", str(size)], check=True, stdout=subprocess.DEVNULL)
        files = sum(len(f) for _, _, f in os.walk(corpus))
        repo = os.path.join(base, "repo")
        subprocess.run([BRAIN, "init", repo], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, CLAUDE_CONFIG_DIR=corpus, TZ="UTC")
        cc, cold, warm = [], [], []
        for _ in range(a.runs):
            t, out = timed([CCUSAGE, "daily", "--json", "--offline"], env=env)
            cc.append(t)
            theirs = days(json.loads(out), "daily")
        for _ in range(a.runs):
            shutil.rmtree(os.path.join(repo, ".brain", "usage"), ignore_errors=True)
            t, out = timed([BRAIN, "usage", "import", "--json"], env=env, cwd=repo)
            cold.append(t)
            ours = days(json.loads(out), "days")
        # Files modified in the last moments are checked again (racy stamps); wait that out.
        time.sleep(0.2)
        timed([BRAIN, "usage", "import", "--json"], env=env, cwd=repo)
        for _ in range(max(a.runs, 5)):
            t, _ = timed([BRAIN, "usage", "import", "--json"], env=env, cwd=repo)
            warm.append(t)
        if ours != theirs:
            print("MISMATCH between brain and ccusage daily totals", file=sys.stderr)
            print(ours, theirs, file=sys.stderr)
            sys.exit(1)
        print(f"corpus: {size / 1e9:.2f} GB in {files} files, {len(ours)} days; daily totals equal ccusage's")
        print(f"ccusage 18.0.10 daily --json --offline   {span(cc, 's')}")
        print(f"brain usage import (first, no cache)     {span(cold, 's')}   {min(cc) / max(cold):.0f}-{max(cc) / min(cold):.0f}x faster   target: >= 5x")
        print(f"brain usage import (unchanged files)     {span(warm, 'ms', 1000)}   target: < 100 ms")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

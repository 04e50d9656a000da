#!/usr/bin/env python3
"""`brain mcp` measured through the real client (the official MCP Python SDK of tests/tools/.venv):
a `list_tasks` call on 10,000 tasks (target 10 ms) and an `add_task` with its commit (target
20 ms), each the median of 30 calls on one open session, back to back and after a 3 s idle
pause; ROUNDS rounds, printed as ranges.

Usage: tests/tools/.venv/bin/python scripts/bench/mcp_server.py [--rounds N]
"""

import asyncio
import os
import statistics
import sys
import time

from common import BRAIN, build, committed_repo

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TASKS = 10_000



async def timed(call, n, pause=0.0):
    times = []
    for _ in range(n):
        if pause:
            await asyncio.sleep(pause)
        t = time.perf_counter()
        r = await call()
        times.append((time.perf_counter() - t) * 1000)
        assert not r.is_error, r
    return statistics.median(times)


async def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    build()
    repo = committed_repo("brain-bench-mcp-", TASKS)
    time.sleep(2.1)
    params = StdioServerParameters(command=BRAIN, args=["mcp"], env={"BRAIN_REPO": repo, "PATH": os.environ["PATH"]}, cwd="/")
    rows = {"list_tasks": ([], []), "add_task": ([], [])}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            calls = {
                "list_tasks": lambda: s.call_tool("list_tasks", {"state": ["pending"], "limit": 20}),
                "add_task": lambda: s.call_tool("add_task", {"title": "benchmark task"}),
            }
            await calls["list_tasks"]()
            for _ in range(rounds):
                for name, call in calls.items():
                    rows[name][0].append(await timed(call, 30))
                    rows[name][1].append(await timed(call, 5, pause=3.0))
    targets = {"list_tasks": 10, "add_task": 20}
    print(f"brain mcp through the MCP Python SDK, {TASKS:,} tasks:")
    for name, (warm, idle) in rows.items():
        print(f"  {name:10} back to back {min(warm):.1f}-{max(warm):.1f} ms, after 3 s idle "
              f"{min(idle):.1f}-{max(idle):.1f} ms (target {targets[name]} ms)")


asyncio.run(main())

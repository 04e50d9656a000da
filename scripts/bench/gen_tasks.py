#!/usr/bin/env python3
"""Fill a brain repo's tasks/pending with N task files in the seed's shape (for benchmarks)."""
import os
import sys

root, n = sys.argv[1], int(sys.argv[2])
pending = os.path.join(root, "tasks", "pending")
os.makedirs(pending, exist_ok=True)
prios = ["critical", "high", "medium", "low"]
for i in range(n):
    day = 1 + i // 100000
    tid = f"task-2025-01-{day:02d}-{i % 100000 + 1:05d}"
    with open(os.path.join(pending, tid + ".md"), "w") as f:
        f.write(
            f"---\nid: {tid}\ncreated: 2025-01-{day:02d}T02:30:00Z\npriority: {prios[i % 4]}\n"
            "requires:\n  - code_execution\n  - file_access\npreferred_interface: claude-code\n"
            "timeout: 60m\nstatus: pending\n---\n\n"
            f"# Task: Benchmark task number {i}\n\n## Input\nSomething to read.\n\n"
            "## Expected Output\n- A file somewhere\n"
        )

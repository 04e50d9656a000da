"""What the benchmarks share: the release binary, and a brain repo of N generated tasks."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRAIN = os.path.join(ROOT, "target", "release", "brain")


def sh(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def build():
    sh("cargo", "build", "--release", "--locked", "-p", "brain", cwd=ROOT)


def committed_repo(prefix, tasks):
    """A new brain repo (in a temporary folder named after `prefix`) with `tasks` pending
    tasks from gen_tasks.py, committed."""
    repo = os.path.join(tempfile.mkdtemp(prefix=prefix), "brain")
    sh(BRAIN, "init", repo)
    sh(sys.executable, os.path.join(ROOT, "scripts", "bench", "gen_tasks.py"), repo, str(tasks))
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "tasks")
    return repo

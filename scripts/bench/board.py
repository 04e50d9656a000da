#!/usr/bin/env python3
"""Issue 17's figure: the first paint of `brain board` with 10,000 tasks, in headless Chromium.

Two queues of 10,000 tasks: all pending (gen_tasks.py), and a lived-in one (1,000 pending,
8,500 completed, 500 failed). For each: the page opened the moment `brain board` starts (on a
repo brain never listed, then on a later start), ROUNDS page loads right after one another and
ROUNDS after a 3 s pause (as a person meets it): the time from the start of the navigation to the
first frame with the queue on it (the page's `board-painted` mark), and what `/api/board` alone
takes. Figures are min–max over the rounds. Usage: scripts/bench/board.py [ROUNDS]
"""

import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BRAIN, ROOT, build, committed_repo, sh  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "tools", ".venv", "lib"))
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def lived_in(repo):
    """Moves generated tasks into completed/ and failed/ as brain would have left them."""
    pending = os.path.join(repo, "tasks", "pending")
    names = sorted(os.listdir(pending))
    for i, name in enumerate(names[1000:]):
        state = "failed" if i < 500 else "completed"
        path = os.path.join(pending, name)
        text = open(path).read().replace("status: pending", f"status: {state}")
        stamp = "failed_at" if state == "failed" else "completed_at"
        text = text.replace("---\n\n", f"attempt: 1\nclaimed_by: claude-code\n{stamp}: 2025-01-02T03:00:00Z\n---\n\n", 1)
        if state == "failed":
            text += "\n## Failure\n\n- agent: claude-code\n\nthe tests did not pass\n"
        else:
            text += "\n## Result\n\nDone.\n"
        with open(os.path.join(repo, "tasks", state, name), "w") as f:
            f.write(text)
        os.remove(path)
    sh("git", "-C", repo, "add", "-A")
    sh("git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "lived in")


def start(repo):
    p = subprocess.Popen([BRAIN, "--repo", repo, "board", "--port", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    return p, re.search(r"http://\S+", p.stdout.readline()).group(0)


def paint(driver, url):
    """Milliseconds from the navigation's start to the first frame with the queue on it."""
    driver.get("about:blank")
    driver.get(url)
    for _ in range(1000):
        ms = driver.execute_script(
            "const m = performance.getEntriesByName('board-painted'); return m.length ? m[0].startTime : null")
        if ms is not None:
            return ms
        time.sleep(0.01)
    raise SystemExit("the board never painted")


def measure(repo, driver):
    out = {}
    # The page opened the moment the board starts: once on a repo brain never listed (no
    # listing cache in .brain/), then as every later start meets it.
    for label in ("server just started, first ever", "server just started"):
        p, url = start(repo)
        try:
            out[label] = ([paint(driver, url)], None)
        finally:
            p.terminate()
            p.wait()
    p, url = start(repo)
    try:
        paint(driver, url)
        for label, pause in (("back to back", 0), ("after 3 s idle", 3)):
            paints, apis = [], []
            for _ in range(ROUNDS):
                time.sleep(pause)
                t = time.perf_counter()
                urllib.request.urlopen(url + "api/board").read()
                apis.append((time.perf_counter() - t) * 1000)
                time.sleep(pause)
                paints.append(paint(driver, url))
            out[label] = (paints, apis)
        return out
    finally:
        p.terminate()
        p.wait()


def rng(v):
    if not v:
        return "–"
    return f"{min(v):.0f}–{max(v):.0f} ms"


def main():
    build()
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
    try:
        all_pending = committed_repo("bench-board-", 10000)
        mixed = committed_repo("bench-board-mixed-", 10000)
        lived_in(mixed)
        print(f"brain board, first paint in headless Chromium, {ROUNDS} rounds (target: 500 ms)")
        print(f"{'queue':<44} {'when':<32} {'first paint':>14} {'/api/board':>14}")
        for name, repo in (("10,000 pending", all_pending),
                           ("10,000: 1,000 pending, 8,500 done, 500 failed", mixed)):
            for label, (paints, apis) in measure(repo, driver).items():
                print(f"{name:<44} {label:<32} {rng(paints):>14} {rng(apis or []):>14}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

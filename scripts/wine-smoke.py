#!/usr/bin/env python3
"""The Windows smoke test (issue 16): the Windows build of brain runs the core scenario under wine.

It cross-builds brain.exe for x86_64-pc-windows-gnu, builds with mingw a stand-in for
bcryptprimitives.dll (wine 8 lacks the ProcessPrng that Rust's standard library calls; real
Windows has it) and a Windows test agent (tests/wine/agent.c), and runs under wine, in a wine
prefix of its own, everything below. Any check that does not hold fails the run (exit 1) with the
command, its output and what was expected.

  - init (JSON and text), add with every flag, show/list/status JSON;
  - ids that differ only in case are one id (a file `Mixed-Case.md` found as `mixed-case`);
  - four parallel adders get distinct ids, four parallel claimers never claim one task twice;
  - heartbeat, done, fail --retry, release, reclaim after the lease (with BRAIN_NOW), ask,
    answer, approve, deny, handoff;
  - brain run with a Windows .exe agent and a .cmd agent, a timeout that stops the agent and the
    child it started (the job object), and a brain run killed while its agent works: the agent's
    tree dies with it, doctor then says what --fix repairs, and nothing is lost;
  - claims and dones killed at random instants, then doctor --fix, then every task in exactly one
    folder and doctor clean;
  - schedule install --windows --print, with plain drive paths;
  - brain board: it serves, refuses another Host, and shows a change made with brain.exe;
  - in every output and every JSON string: no path that mixes `/` and `\\`, no `\\\\?\\` prefix.

There is no git for Windows under wine, so these repos have no commits (brain says so and goes
on); the commits are covered by the Linux suite and by the windows-latest job of
.github/workflows/ci.yml.

Usage: scripts/wine-smoke.py [--exe PATH]   (without --exe it builds target/.../release/brain.exe)
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "wine-smoke"
START = time.monotonic()


def die(msg, proc=None):
    print(f"\nwine smoke test FAILED: {msg}", file=sys.stderr)
    if proc is not None:
        print(f"  command: {' '.join(map(str, proc.args[1:]))}", file=sys.stderr)
        print(f"  exit code: {proc.returncode}", file=sys.stderr)
        print(f"  stdout: {proc.stdout[-3000:]}", file=sys.stderr)
        print(f"  stderr: {proc.stderr[-3000:]}", file=sys.stderr)
    sys.exit(1)


def ok(what):
    print(f"ok   {time.monotonic() - START:6.1f} s  {what}", flush=True)


def find_wine():
    for cand in (shutil.which("wine64"), "/usr/lib/wine/wine64", shutil.which("wine")):
        if cand and os.access(cand, os.X_OK):
            return cand
    die("wine is not installed (Debian: apt-get install wine64); .ci/run installs it")


def build(exe_arg):
    OUT.mkdir(parents=True, exist_ok=True)
    if exe_arg:
        exe = Path(exe_arg).resolve()
    else:
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "-q", "-p", "brain",
             "--target", "x86_64-pc-windows-gnu"],
            cwd=ROOT, check=True)
        exe = ROOT / "target" / "x86_64-pc-windows-gnu" / "release" / "brain.exe"
    bindir = OUT / "bin"
    bindir.mkdir(exist_ok=True)
    shutil.copy2(exe, bindir / "brain.exe")
    gcc = shutil.which("x86_64-w64-mingw32-gcc") or die(
        "mingw is not installed (Debian: apt-get install gcc-mingw-w64-x86-64)")
    subprocess.run([gcc, "-shared", "-O2", "-o", bindir / "bcryptprimitives.dll",
                    ROOT / "tests" / "wine" / "prng.c", "-ladvapi32"], check=True)
    subprocess.run([gcc, "-O2", "-o", OUT / "agent.exe", ROOT / "tests" / "wine" / "agent.c"],
                   check=True)
    ok(f"built brain.exe ({(bindir / 'brain.exe').stat().st_size // 1024} KiB), the stand-in DLL and the test agent")
    return bindir / "brain.exe"


# Paths in an output: a token with both separators is a path printed half in each form.
TOKEN = re.compile(r"[^\s\"'`()<>,;]+")


def mixed_paths(text):
    bad = []
    for tok in TOKEN.findall(text):
        if "\\\\?\\" in tok or tok.startswith("\\\\?\\"):
            bad.append(tok)
        elif "/" in tok and "\\" in tok and not tok.startswith(("http://", "https://")):
            bad.append(tok)
    return bad


def strings_of(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from strings_of(k)
            yield from strings_of(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings_of(x)


class Wine:
    def __init__(self, exe):
        self.wine = find_wine()
        self.exe = exe
        prefix = OUT / "prefix"
        self.env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all",
                        WINEDLLOVERRIDES="mscoree,mshtml=")
        for k in ("BRAIN_REPO", "BRAIN_AGENT", "BRAIN_TASK", "BRAIN_TOKEN", "BRAIN_NOW"):
            self.env.pop(k, None)
        self.drive_c = prefix / "drive_c"
        server = Path(self.wine).with_name("wineserver")
        self.server = str(server) if server.exists() else shutil.which("wineserver")
        t = time.monotonic()
        subprocess.run([self.wine, "wineboot", "-i"], env=self.env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if self.server:
            # One server for the whole test: each brain.exe then starts in a fraction of a second.
            subprocess.Popen([self.server, "-p"], env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok(f"wine prefix ready ({time.monotonic() - t:.1f} s)")

    def unix(self, win_path):
        assert win_path[:3].upper() == "C:\\", win_path
        return self.drive_c.joinpath(*win_path[3:].split("\\"))

    def start(self, *args, env=None, stdin=None):
        """brain.exe started, its output going to files: a pipe would stay open as long as any
        wine helper process (services.exe, winedevice.exe) that inherited it lives."""
        out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        p = subprocess.Popen([self.wine, str(self.exe), *map(str, args)],
                             env=dict(self.env, **(env or {})), stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, text=True)
        p.files = (out, err)
        return p

    @staticmethod
    def finish(p, timeout=120):
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out, err = p.files
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        out.close()
        err.close()
        return proc

    def brain(self, *args, code=0, env=None, is_json=False):
        proc = self.finish(self.start(*args, env=env))
        if code is not None and proc.returncode != code:
            die(f"expected exit code {code}", proc)
        # JSON is checked string by string, once parsed (its escapes are not separators).
        self.check_paths(proc, stdout=not is_json)
        return proc

    def json(self, *args, code=0, env=None):
        proc = self.brain(*args, "--json", code=code, env=env, is_json=True)
        try:
            v = json.loads(proc.stdout)
        except ValueError:
            die("the output is not JSON", proc)
        self.check_paths(proc, list(strings_of(v)), stdout=False)
        return v

    @staticmethod
    def check_paths(proc, strings=(), stdout=True):
        bad = (mixed_paths(proc.stdout) if stdout else []) + mixed_paths(proc.stderr)
        for s in strings:
            bad += mixed_paths(s)
        if bad:
            die(f"a path printed in two forms (or with \\\\?\\): {bad[:5]}", proc)

    def stop(self):
        if self.server:
            subprocess.run([self.server, "-k"], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def expect(cond, msg, proc=None):
    if not cond:
        die(msg, proc)


def set_config(w, repo, edit):
    path = w.unix(repo) / "brain.toml"
    path.write_text(edit(path.read_text()))


def ids_in(w, repo, state):
    d = w.unix(repo) / "tasks" / state
    return sorted(p.name.split(".")[0] for p in d.glob("*.md"))


def all_ids(w, repo):
    return {s: ids_in(w, repo, s) for s in ("pending", "active", "completed", "failed")}


def ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


AGENTS = r'''
[agents.tester]
capabilities = ["file_access", "writing"]
command = ["agents/agent.exe", "ok", "{prompt_file}"]

[agents.failer]
capabilities = ["file_access", "writing", "failing"]
command = ["agents\\agent.exe", "fail"]

[agents.hanger]
capabilities = ["file_access", "writing", "hanging"]
command = ["agents/agent.exe", "hang", "{repo}\\marker.txt"]

[agents.cmdagent]
capabilities = ["file_access", "writing"]
command = ["agents/ok.cmd", "{task_id}"]
'''


def configure(w, repo):
    def edit(text):
        text = text.replace("# ad_hoc_agents = false", "ad_hoc_agents = true")
        text = text.replace('# kill_grace = "10s"', 'kill_grace = "1s"')
        return text.replace("\n[git]", AGENTS + "\n[git]", 1)
    set_config(w, repo, edit)
    agents = w.unix(repo) / "agents"
    shutil.copy2(OUT / "agent.exe", agents / "agent.exe")
    (agents / "ok.cmd").write_text(
        "@echo off\r\necho cmd agent ran %1 in %CD%\r\nexit /b 0\r\n")


def scenario_core(w):
    repo = r"C:\brain"
    shutil.rmtree(w.unix(repo), ignore_errors=True)
    j = w.json("init", repo, "--example")
    expect(j["root"] == repo, f"init's root is {j['root']!r}, not {repo!r}")
    expect("tasks/pending/.gitkeep" in j["created"] and all("\\" not in p for p in j["created"]),
           f"init's created files are not written with /: {j['created']}")
    expect(j["git_missing"] is True, "init did not say that git is missing")
    shutil.rmtree(w.unix(r"C:\second"), ignore_errors=True)
    text = w.brain("init", r"C:\second")
    expect("Created in C:\\second:" in text.stderr and "  tasks/pending/.gitkeep" in text.stderr,
           "init's text output does not list the files with /", text)
    ok("init: a plain C:\\ root, the files it created with /, git missing said")
    configure(w, repo)

    example = ids_in(w, repo, "pending")
    expect(len(example) == 2, f"the example tasks: {example}")
    body_file = w.unix(repo) / "body.txt"
    body_file.write_text("from a file\nsecond line\n")
    dep = w.json("--repo", repo, "add", "Dependency")["id"]
    full = w.json("--repo", repo, "add", "Every flag", "-p", "high", "--requires",
                  "file_access,writing", "--prefer", "tester", "--timeout", "1h30m",
                  "--depends-on", dep.upper(), "--approval", "--no-unattended", "--not-before",
                  "2030-01-01T00:00:00Z", "--max-turns", "7", "--max-budget-usd", "1.5",
                  "--body-file", repo + r"\body.txt")
    expect(full["path"] == repo + "\\tasks\\pending\\" + full["id"] + ".md",
           f"add --json path {full['path']!r}")
    s = w.json("--repo", repo, "show", full["id"])
    m = s["meta"]
    want = {"priority": "high", "requires": ["file_access", "writing"],
            "preferred_interface": "tester", "timeout": 5400, "depends_on": [dep],
            "approval": "required", "unattended": False, "not_before": "2030-01-01T00:00:00Z",
            "max_turns": 7, "max_budget_usd": "1.5"}
    for k, v in want.items():
        expect(m.get(k) == v, f"show --json: {k} is {m.get(k)!r}, not {v!r}")
    expect("from a file\nsecond line" in s["body"], f"the body from --body-file: {s['body']!r}")
    expect(s["ready"] is False and {r["reason"] for r in s["why"]} >= {"approval", "not_before"},
           f"show --json: why it waits: {s['why']}")
    w.json("--repo", repo, "add", "Body inline", "--body", "inline body")
    ok("add with every flag (a dependency typed in upper case is stored as its file spells it); show --json")

    listed = w.json("--repo", repo, "list")
    by_id = {t["id"]: t for t in listed}
    expect(full["id"] in by_id and dep in by_id, "list --json lacks the new tasks")
    expect(all(t["path"].startswith(repo + "\\tasks\\") for t in listed),
           f"list --json paths: {[t['path'] for t in listed][:3]}")
    st = w.json("--repo", repo, "status")
    expect(st["counts"]["pending"] == len(listed), f"status counts {st['counts']} vs list")
    ok(f"list --json ({len(listed)} tasks) and status --json agree")

    # Ids that differ only in case are one id.
    up = dep.upper()
    expect(w.json("--repo", repo, "show", up)["id"] == dep, "show of an upper-case id")
    (w.unix(repo) / "tasks" / "pending" / "Mixed-Case.md").write_text(
        "---\npriority: low\n---\n\n# Task: written by hand with capitals\n")
    expect(w.json("--repo", repo, "show", "mixed-case")["id"] == "Mixed-Case",
           "show mixed-case did not find Mixed-Case.md by its own spelling")
    c = w.json("--repo", repo, "claim", "--agent", "tester", "MIXED-CASE")
    expect(c["id"] == "Mixed-Case" and c["path"].endswith("\\tasks\\active\\Mixed-Case.tester.md"),
           f"claim of MIXED-CASE: {c}")
    w.json("--repo", repo, "heartbeat", "mixed-case", "--agent", "tester")
    d = w.json("--repo", repo, "done", "MIXED-case", "--agent", "tester", "--result", "done")
    expect(ids_in(w, repo, "completed") == ["Mixed-Case"],
           f"completed/ holds {ids_in(w, repo, 'completed')}, not Mixed-Case.md ({d})")
    q = w.brain("--repo", repo, "add", "Duplicate dep", "--depends-on", "mixed-CASE")
    ok("ids differing only in case are one id: show, claim, heartbeat, done, --depends-on")

    # heartbeat, done, fail --retry, release, reclaim after the lease.
    c = w.json("--repo", repo, "claim", "--agent", "tester", dep)
    expect(c["token"] == f"{dep}@1", f"claim token {c['token']}")
    hb = w.json("--repo", repo, "heartbeat", "--token", c["token"])
    w.json("--repo", repo, "done", dep, "--token", c["token"], "--result", "it is done")
    expect(dep in ids_in(w, repo, "completed"), "done did not move the task to completed/")
    inline = [t["id"] for t in listed if t["title"] == "Body inline"][0]
    c = w.json("--repo", repo, "claim", "--agent", "tester", inline)
    w.json("--repo", repo, "fail", inline, "--agent", "tester", "--error", "try again", "--retry")
    s = w.json("--repo", repo, "show", inline)
    expect(s["state"] == "pending" and s["attempt"] == 1 and s["attempts_left"] == 2,
           f"fail --retry: {s['state']}, attempt {s['attempt']}, {s['attempts_left']} left")
    c = w.json("--repo", repo, "claim", "--agent", "tester", inline)
    w.json("--repo", repo, "release", inline, "--token", c["token"])
    s = w.json("--repo", repo, "show", inline)
    expect(s["state"] == "pending" and s["attempts_left"] == 2,
           f"release: {s['state']}, {s['attempts_left']} attempts left")
    c = w.json("--repo", repo, "claim", "--agent", "tester", inline)
    later = ts(datetime.now(timezone.utc) + timedelta(hours=3))
    r = w.json("--repo", repo, "reclaim", env={"BRAIN_NOW": later})
    expect([x.get("id") for x in r] == [inline], f"reclaim after the lease: {r}")
    expect(inline in ids_in(w, repo, "pending"), "the reclaimed task is not in pending/")
    lost = w.brain("--repo", repo, "done", inline, "--token", c["token"], "--result", "late",
                   code=None)
    expect(lost.returncode != 0 and "no longer current" in lost.stderr,
           "a done with the reclaimed token was not refused as lost", lost)
    expect(list((w.unix(repo) / "tasks" / "late").glob(f"{inline}@*")),
           "the late result was not kept in tasks/late/")
    ok("heartbeat, done, fail --retry, release, reclaim after the lease, a late done kept")

    # ask / answer / approve / deny / handoff.
    asked = w.brain("--repo", repo, "ask", "Which database?", "--task", inline.upper(),
                    "--agent", "tester")
    qid = re.search(r"q-\d{4}-\d{2}-\d{2}-\d{3}", asked.stdout + asked.stderr)
    expect(qid, "ask printed no question id", asked)
    pending_md = (w.unix(repo) / "prompts" / "pending.md").read_text()
    expect(f"{inline}:" in pending_md or f"task: {inline}" in pending_md or inline in pending_md,
           "the question does not name the task as its file spells it")
    w.brain("--repo", repo, "answer", qid.group(0), "Postgres")
    expect("Postgres" in (w.unix(repo) / "prompts" / "answered.md").read_text(),
           "the answer is not in prompts/answered.md")
    a = w.brain("--repo", repo, "approve", full["id"].upper())
    expect(f"Approved {full['id']}." in a.stderr, "approve did not name the task", a)
    expect(w.json("--repo", repo, "show", full["id"])["approval"] == "approved", "not approved")
    gated = w.json("--repo", repo, "add", "To be denied", "--approval")["id"]
    w.brain("--repo", repo, "deny", gated, "--reason", "not now")
    expect(gated in ids_in(w, repo, "failed"), "deny did not move the task to failed/")
    w.brain("--repo", repo, "handoff", "--agent", "tester", "--to", "claude-code", "--task",
            inline, "--note", "the schema is in db\\schema.sql")
    handoff = (w.unix(repo) / "context" / "handoff.md").read_text()
    expect("the schema is in db\\schema.sql" in handoff and "from tester" in handoff,
           "the handoff note is not in context/handoff.md")
    ok("ask (task named in upper case), answer, approve, deny, handoff")

    doc = w.brain("--repo", repo, "doctor", code=None)
    expect(doc.returncode == 0, "doctor is not content with the repo", doc)
    sched = w.brain("--repo", repo, "schedule", "install", "--windows", "--print")
    out = sched.stdout
    expect("\\\\?\\" not in out and "C:\\brain" in out and "WorkingDirectory" in out,
           "schedule install --windows --print", sched)
    expect(re.search(r"<WorkingDirectory>C:\\brain</WorkingDirectory>", out),
           "the Task Scheduler XML's WorkingDirectory is not the plain C:\\brain", sched)
    ok("doctor content; schedule install --windows --print with plain drive paths")


def wait_for(cond, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    die(f"timed out waiting for {what}")


def marker_stopped(path):
    """Whether the child that rewrites `path` every 100 ms is gone (the counter holds still)."""
    first = path.read_text() if path.exists() else ""
    time.sleep(1.5)
    return (path.read_text() if path.exists() else "") == first


def scenario_run(w):
    repo = r"C:\runs"
    shutil.rmtree(w.unix(repo), ignore_errors=True)
    w.json("init", repo)
    configure(w, repo)
    t1 = w.json("--repo", repo, "add", "For the exe agent")["id"]
    r = w.brain("--repo", repo, "run", "--agent", "tester", "--max-tasks", "1")
    s = w.json("--repo", repo, "show", t1)
    expect(s["state"] == "completed", f"brain run with the .exe agent left {t1} in {s['state']}", r)
    out = w.unix(repo) / "logs" / "runs" / f"{t1}@1.log"
    expect("test agent: did task " + t1 in out.read_text(), "the agent's output is not in its log")
    task_text = (w.unix(repo) / "tasks" / "completed" / f"{t1}.md").read_text()
    expect(f"output: logs/runs/{t1}@1.log" in task_text,
           "the task's result does not name its log as logs/runs/…@1.log")
    expect(s["outputs"] == [repo + f"\\logs\\runs\\{t1}@1.log"], f"show's outputs: {s['outputs']}")
    ok("brain run with a Windows .exe agent (a relative program path in command)")

    t2 = w.json("--repo", repo, "add", "For the cmd agent")["id"]
    r = w.brain("--repo", repo, "run", "--agent", "cmdagent", "--max-tasks", "1")
    expect(w.json("--repo", repo, "show", t2)["state"] == "completed", "the .cmd agent", r)
    log = (w.unix(repo) / "logs" / "runs" / f"{t2}@1.log").read_text()
    expect(f"cmd agent ran {t2} in C:\\runs" in log, f"the .cmd agent's output: {log!r}")
    ok("brain run with a .cmd agent, run in the repo")

    t3 = w.json("--repo", repo, "add", "For the failing agent", "--requires", "failing")["id"]
    w.brain("--repo", repo, "run", "--agent", "failer", "--max-tasks", "1", code=None)
    s = w.json("--repo", repo, "show", t3)
    expect(s["attempt"] == 1 and s["state"] in ("pending", "failed"), f"a failing agent: {s['state']}")
    ok(f"brain run with an agent that exits 3: attempt counted, task {s['state']}")

    marker = w.unix(repo) / "marker.txt"
    t4 = w.json("--repo", repo, "add", "For the hanging agent", "--timeout", "4s",
                "--requires", "hanging")["id"]
    t = time.monotonic()
    r = w.brain("--repo", repo, "run", "--agent", "hanger", "--max-tasks", "1", code=None)
    took = time.monotonic() - t
    expect(marker.exists(), "the hanging agent's child never ran", r)
    expect(marker_stopped(marker), "the agent's child still runs after the timeout", r)
    s = w.json("--repo", repo, "show", t4)
    expect(s["state"] != "active" and re.search(r"\b1 timed out", r.stdout + r.stderr),
           f"the timed-out task is {s['state']}", r)
    expect(took < 30, f"the run with a 4 s timeout took {took:.0f} s")
    ok(f"a 4 s timeout stopped the agent and its child ({took:.1f} s for the whole run)")
    if s["state"] == "pending":
        # Out of the way of the next run: failed for good.
        w.json("--repo", repo, "claim", "--agent", "tester", "--capabilities", "hanging", t4)
        w.json("--repo", repo, "fail", t4, "--agent", "tester", "--error", "hung")

    # A brain run killed while its agent works: the job object takes the agent's tree with it.
    marker.unlink()
    t5 = w.json("--repo", repo, "add", "Killed mid-run", "--timeout", "10m",
                "--requires", "hanging")["id"]
    p = w.start("--repo", repo, "run", "--agent", "hanger", "--max-tasks", "1")
    wait_for(lambda: marker.exists() and marker.read_text().strip() not in ("", "0"), 60,
             "the agent to start under brain run")
    p.send_signal(signal.SIGKILL)
    w.finish(p)
    expect(marker_stopped(marker), "the agent's child outlived the killed brain run")
    expect(ids_in(w, repo, "active") == [t5], f"after the kill, active/ holds {ids_in(w, repo, 'active')}")
    later = ts(datetime.now(timezone.utc) + timedelta(hours=3))
    doc = w.json("--repo", repo, "doctor", "--fix", code=None, env={"BRAIN_NOW": later})
    r = w.json("--repo", repo, "reclaim", env={"BRAIN_NOW": later})
    expect(t5 in ids_in(w, repo, "pending") or t5 in ids_in(w, repo, "failed"),
           f"the killed run's task did not come back: {all_ids(w, repo)} ({r}, {doc})")
    expect(w.brain("--repo", repo, "doctor", code=None).returncode == 0, "doctor after the kill")
    ok("a brain run killed mid-task: its agent tree died with it; the claim came back; doctor content")


def scenario_race(w, seed):
    repo = r"C:\race"
    shutil.rmtree(w.unix(repo), ignore_errors=True)
    w.json("init", repo)
    configure(w, repo)
    per, adders = 8, 4
    added, errors = [], []

    def add(n):
        for i in range(per):
            p = w.brain("--repo", repo, "add", f"race {n}-{i}", "--json", code=None)
            (added.append(json.loads(p.stdout)["id"]) if p.returncode == 0 else errors.append(p))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(adders)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    expect(not errors, f"a parallel add failed: {errors[:1] and errors[0].stderr}")
    expect(len(set(added)) == per * adders, f"parallel adds: {len(set(added))} distinct ids of {len(added)}")
    ok(f"{adders} parallel adders: {len(added)} tasks, all ids distinct")

    claimed, bad = {}, []

    def claimer(agent):
        while True:
            p = w.brain("--repo", repo, "claim", "--agent", agent, "--json", code=None)
            if p.returncode == 3:
                return
            if p.returncode != 0:
                bad.append(p)
                return
            tid = json.loads(p.stdout)["id"]
            claimed.setdefault(tid, []).append(agent)

    threads = [threading.Thread(target=claimer, args=(f"c{n}",)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    expect(not bad, f"a parallel claim failed: {bad[:1] and bad[0].stderr}")
    twice = {k: v for k, v in claimed.items() if len(v) > 1}
    expect(not twice, f"claimed twice: {twice}")
    expect(sorted(claimed) == sorted(added), f"claimed {len(claimed)} of {len(added)}")
    expect(ids_in(w, repo, "pending") == [], "tasks left in pending/")
    ok(f"4 parallel claimers: {len(claimed)} claims, none twice, none missed")

    # Kill claims and dones at random instants, then let doctor --fix repair what is left.
    rng = random.Random(seed)
    for tid, agents in claimed.items():
        w.brain("--repo", repo, "release", tid, "--agent", agents[0])
    kills = 0
    for rnd in range(16):
        agent = f"k{rnd}"
        p = w.start("--repo", repo, "claim", "--agent", agent)
        time.sleep(rng.uniform(0.005, 0.1))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        w.finish(p)
        p = w.brain("--repo", repo, "claim", "--agent", agent, "--json", code=None)
        if p.returncode == 0:
            tid = json.loads(p.stdout)["id"]
            d = w.start("--repo", repo, "done", tid, "--agent", agent, "--result", "ok")
            time.sleep(rng.uniform(0.005, 0.1))
            if d.poll() is None:
                d.send_signal(signal.SIGKILL)
                kills += 1
            w.finish(d)
    fixed = w.json("--repo", repo, "doctor", "--fix", code=None)["findings"]
    doc = w.brain("--repo", repo, "doctor", code=None)
    expect(doc.returncode == 0, "doctor is not content after doctor --fix", doc)
    ids = all_ids(w, repo)
    every = [i for v in ids.values() for i in v]
    expect(sorted(every) == sorted(added),
           f"after the kills, tasks lost or doubled: {len(every)} files for {len(added)} tasks")
    leftovers = [p.name for p in w.unix(repo).rglob("*") if ".brain-tmp." in p.name]
    expect(not leftovers, f"temporary files left after doctor --fix: {leftovers}")
    repaired = sorted({f["check"] for f in fixed if f.get("fixed")})
    ok(f"{kills} brain processes killed at random instants (seed {seed}); doctor --fix repaired "
       f"{len([f for f in fixed if f.get('fixed')])} ({', '.join(repaired) or 'nothing'}); then "
       f"each of the {len(added)} tasks in exactly one folder and doctor is content "
       f"({', '.join(f'{len(v)} {k}' for k, v in ids.items())})")


def scenario_board(w):
    """brain board under wine: it serves the page and the board, refuses another Host, and a
    change made with brain.exe shows as a new version (file events or the rescan)."""
    import urllib.error
    import urllib.request
    repo = r"C:\brain"
    p = w.start("--repo", repo, "board", "--port", "0")
    try:
        url = None
        for _ in range(300):
            p.files[0].seek(0)
            m = re.search(r"http://127\.0\.0\.1:\d+/", p.files[0].read())
            if m:
                url = m.group(0)
                break
            time.sleep(0.05)
        expect(url, "brain board printed no address under wine")

        def board():
            with urllib.request.urlopen(url + "api/board", timeout=10) as r:
                return json.load(r)

        b = board()
        expect(b["repo"] == repo, f"the board's repo is {b['repo']!r}")
        bad = mixed_paths(" ".join(strings_of(b)))
        expect(not bad, f"the board prints paths in two forms: {bad[:3]}")
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        expect('name="brain-session"' in page, "the page has no session token")
        req = urllib.request.Request(url + "api/board", headers={"Host": "evil.example"})
        try:
            urllib.request.urlopen(req, timeout=10)
            die("the board answered a request for another Host")
        except urllib.error.HTTPError as e:
            expect(e.code == 403, f"another Host got {e.code}")
        before = b["version"]
        added = w.json("--repo", repo, "add", "Seen by the board")["id"]
        t = time.monotonic()
        while time.monotonic() - t < 10:
            b = board()
            if b["version"] != before and any(x["id"] == added for x in b["pending"]["items"]):
                break
            time.sleep(0.1)
        else:
            die("a task added with brain.exe never showed on the board under wine")
        ok(f"brain board under wine: serves, refuses another Host, shows a change in {time.monotonic() - t:.1f} s")
    finally:
        p.kill()
        w.finish(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exe", help="a brain.exe to test instead of building one")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("BRAIN_WINE_SEED", "16")))
    args = ap.parse_args()
    w = Wine(build(args.exe))
    try:
        scenario_core(w)
        scenario_run(w)
        scenario_board(w)
        scenario_race(w, args.seed)
    finally:
        w.stop()
    print(f"wine smoke test passed in {time.monotonic() - START:.0f} s")


if __name__ == "__main__":
    main()

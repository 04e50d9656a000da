#!/usr/bin/env python3
"""Runs the README's shell commands as a new user would, so the README cannot drift from the code.

Every ```sh block of README.md is run, in order, by one POSIX shell (`sh -e`), in a scratch home:
an empty HOME with no git identity, a cargo install root of its own (the build reuses this
checkout's target/ folder), stand-ins for `systemctl` and `crontab` that record what they were
asked, and no `claude` on PATH. `git clone` of the project's URL clones this checkout as it is
(uncommitted edits included). The test-suite block is not run again here: the check is that it
is exactly the command `.ci/run` runs. Then it checks what a user would look at: the example
tasks, the scheduled timer, the completion script, the manual pages.

The ```powershell blocks cannot run here (the quickstart's run on a real Windows in the
windows-quickstart job of .github/workflows/ci.yml): each of their commands must be the counterpart of a shell command (same program, same subcommand and flags, `C:\\brain` for
`~/brain`), and every shell command must have one, but for the few listed in UNIX_ONLY (and
the PowerShell-only steps of taking the Windows release binary, WINDOWS_ONLY).

Usage: python3 scripts/readme-check.py [--keep]   (--keep leaves the scratch folder)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URL = "https://github.com/brain-queue/brain"
TEST_COMMAND = "cargo test --workspace --locked"
# Shell commands with no PowerShell counterpart in the README, and why.
UNIX_ONLY = {
    # Where bash completions and manual pages live; PowerShell loads its completions in $PROFILE.
    "mkdir -p ~/.local/share/bash-completion/completions ~/.local/share/man/man1",
    "brain man --dir ~/.local/share/man/man1",
    # The Claude Code paragraph is written once, for both.
    "brain --repo REPO run --dry-run --agent claude-code",
    TEST_COMMAND,
}
# PowerShell commands with no shell counterpart: taking the Windows release binary.
WINDOWS_ONLY = {
    "Invoke-WebRequest https://github.com/brain-queue/brain/releases/latest/download/brain-x86_64-pc-windows-msvc.zip -OutFile brain.zip",
    "Expand-Archive brain.zip $HOME\\bin",
    '$env:PATH = "$HOME\\bin;$env:PATH"',
}


def blocks(text, lang):
    return [m.group(1) for m in re.finditer(r"^```" + lang + r"\n(.*?)^```\n", text, re.S | re.M)]


def commands(block):
    """The commands of a block: split at `&&`, `;` and pipes, comments and redirections dropped."""
    out = []
    for line in block.splitlines():
        line = re.sub(r"\s#.*$", "", line).strip()
        # Split at `&&`, `;` and `|` outside double quotes.
        for part in re.split(r'\s*(?:&&|;|\|)\s*(?=(?:[^"]*"[^"]*")*[^"]*$)', line):
            part = re.sub(r"\s*>\s*\S+$", "", part).strip()
            if part and part not in ("Out-String", "Invoke-Expression"):
                out.append(part)
    return out


def normalize(cmd):
    cmd = cmd.replace("C:\\brain", "REPO").replace("~/brain", "REPO")
    cmd = re.sub(r"schedule install --(systemd|windows)", "schedule install --PLATFORM", cmd)
    cmd = re.sub(r"completions (bash|powershell)", "completions SHELL", cmd)
    return cmd


def standin(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def fail(message):
    print(f"readme-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    sh_blocks = blocks(readme, "sh")
    ps_blocks = blocks(readme, "powershell")
    if not sh_blocks or not ps_blocks:
        fail("README.md has no ```sh or no ```powershell blocks")

    # The PowerShell commands mirror the shell ones.
    sh = [normalize(c) for b in sh_blocks for c in commands(b)]
    ps = [normalize(c) for b in ps_blocks for c in commands(b)]
    for c in ps:
        if c not in sh and c not in WINDOWS_ONLY:
            fail(f"the PowerShell command `{c}` has no counterpart among the shell commands")
    for c in sh:
        if c not in ps and c not in {normalize(u) for u in UNIX_ONLY}:
            fail(f"the shell command `{c}` has no PowerShell counterpart (or add it to UNIX_ONLY)")

    # The test command is the one .ci/run runs.
    ci = open(os.path.join(ROOT, ".ci", "run")).read().splitlines()
    if TEST_COMMAND not in ci:
        fail(f".ci/run does not run `{TEST_COMMAND}`, the README's test command")
    if not any(TEST_COMMAND in b for b in sh_blocks):
        fail(f"the README does not give `{TEST_COMMAND}` as the test command")

    scratch = tempfile.mkdtemp(prefix="readme-check-")
    try:
        run(sh_blocks, scratch)
    finally:
        if "--keep" in sys.argv:
            print(f"readme-check: scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"readme-check: ok ({len(sh)} shell commands run, {len(ps)} PowerShell commands matched)")


def run(sh_blocks, scratch):
    home = os.path.join(scratch, "home")
    work = os.path.join(scratch, "work")
    bin_dir = os.path.join(scratch, "cargo", "bin")
    fake = os.path.join(scratch, "standins")
    calls = os.path.join(scratch, "calls")
    for d in (home, work, fake):
        os.makedirs(d)

    # This checkout as it is, as a repository `git clone` can take.
    source = os.path.join(scratch, "origin", "brain")  # cloned as `brain`, as the URL would be
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):
            continue  # deleted in the work tree
        dst = os.path.join(source, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
    git = ["git", "-c", "user.name=readme-check", "-c", "user.email=readme-check@example.invalid"]
    subprocess.run(git + ["init", "-q", "-b", "main"], cwd=source, check=True)
    subprocess.run(git + ["add", "-A"], cwd=source, check=True)
    subprocess.run(git + ["commit", "-qm", "this checkout"], cwd=source, check=True)

    standin(os.path.join(fake, "systemctl"), f'echo "systemctl $*" >> "{calls}"')
    tab = os.path.join(scratch, "crontab.txt")
    standin(
        os.path.join(fake, "crontab"),
        f'echo "crontab $*" >> "{calls}"\n'
        f'case "$1" in -l) [ -f "{tab}" ] || exit 1; cat "{tab}" ;; -) cat > "{tab}" ;; esac',
    )

    # The user's PATH, less any folder with a brain or a claude in it: the README installs one
    # and must work without the other.
    def keep(d):
        return not any(os.path.exists(os.path.join(d, p)) for p in ("brain", "claude"))

    path = [bin_dir, fake] + [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and keep(d)]
    cargo = shutil.which("cargo", path=os.pathsep.join(path))
    if cargo is None:
        # rustup's cargo lives beside an installed brain: keep that folder, after ours.
        cargo_home_bin = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "bin")
        path.append(cargo_home_bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAIN_", "GIT_", "CLAUDE_"))}
    env.update(
        HOME=home,
        PATH=os.pathsep.join(path),
        CARGO_INSTALL_ROOT=os.path.join(scratch, "cargo"),
        CARGO_TARGET_DIR=os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
        CARGO_HOME=os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")),
        RUSTUP_HOME=os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
        GIT_CONFIG_GLOBAL=os.path.join(home, ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
    )
    open(env["GIT_CONFIG_GLOBAL"], "w").close()

    script = ["set -e"]
    for i, b in enumerate(sh_blocks, 1):
        if TEST_COMMAND in b:
            continue
        script.append(f"echo '--- README block {i}' >&2")
        script.append(b.replace(URL, source))
    out = subprocess.run(["sh", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True)
    sys.stderr.write(out.stderr[-4000:])
    if out.returncode != 0:
        fail(f"a README command failed (exit {out.returncode}); its output is above")

    # What the user looks at afterwards.
    repo = os.path.join(home, "brain")
    tasks = {s: sorted(f for f in os.listdir(os.path.join(repo, "tasks", s)) if f.endswith(".md"))
             for s in ("pending", "completed")}
    if len(tasks["completed"]) != 1 or len(tasks["pending"]) != 1:
        fail(f"after the quickstart: {tasks}, expected one task completed and one pending")
    if "Example agent: received task" not in open(os.path.join(repo, "tasks", "completed", tasks["completed"][0])).read():
        fail("the completed example task has no result from the example agent")
    if "Plan the first real tasks" not in out.stdout:
        fail("`brain run --dry-run --agent claude-code` does not show the second example task")
    if "Finished" not in out.stdout or "Describe this brain repo" not in out.stdout:
        fail("`brain review` did not say what finished")
    made = open(calls).read() if os.path.exists(calls) else ""
    if "systemctl --user enable" not in made:
        fail(f"`schedule install --systemd` did not enable a timer: {made!r}")
    units = os.path.join(home, ".config", "systemd", "user")
    if not any(f.endswith(".timer") for f in os.listdir(units)):
        fail(f"no timer unit in {units}")
    completion = os.path.join(home, ".local", "share", "bash-completion", "completions", "brain")
    if "complete" not in open(completion).read():
        fail("the bash completion script is empty")
    if not os.path.exists(os.path.join(home, ".local", "share", "man", "man1", "brain-claim.1")):
        fail("`brain man --dir` wrote no page for `brain claim`")
    settings = os.path.join(home, ".claude", "settings.json")
    if '"session-start"' not in (open(settings).read() if os.path.exists(settings) else ""):
        fail("`brain setup claude` did not put brain's hooks in ~/.claude/settings.json")
    desktop = os.path.join(home, ".config", "Claude", "claude_desktop_config.json")
    if '"brain"' not in (open(desktop).read() if os.path.exists(desktop) else ""):
        fail("`brain setup desktop` did not add brain to Claude Desktop's configuration")
    clean = subprocess.run(["git", "status", "--porcelain"], cwd=repo, env=env, capture_output=True, text=True)
    if clean.stdout.strip():
        fail(f"the brain repo has uncommitted changes after the quickstart:\n{clean.stdout}")


if __name__ == "__main__":
    main()

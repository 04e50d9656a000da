#!/usr/bin/env python3
"""Writes a corpus of Claude Code transcripts (`<root>/projects/<project>/<session>.jsonl`) in the
shape Claude Code 2.1 writes them, for `brain usage import` to count and ccusage to check it.

Usage: gen_transcripts.py ROOT [--bytes N] [--seed S] [--start 2026-11-25T00:00:00Z]

What it holds, as real transcripts do:
- user lines (prompts, large tool results) and assistant lines with `message.usage`;
- one assistant message written as several lines (one per content block) with the same
  `message.id` and `requestId` and the same usage: counted once;
- resumed sessions: a new file that starts with a copy of an earlier session's lines;
- subagents (`<session>/subagents/agent-*.jsonl`, `isSidechain: true`) with their own
  messages, and the parent's `progress` lines carrying copies of them;
- Claude Code's own API errors (`model: "<synthetic>"`, zero usage, `isApiErrorMessage`);
- entries of an old version without ids; and lines that are not valid entries (cut short, not
  JSON, usage without `output_tokens`, an empty `requestId`): skipped.
Both rule sets of ccusage (18.x keeps the first copy of a message, 20.x the larger) give the
same totals on it, so ccusage 18.0.10 from npm checks brain's counts.
"""
import argparse
import datetime as dt
import json
import os
import random
import uuid

MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Gen:
    def __init__(self, rnd, root):
        self.rnd = rnd
        self.root = root
        self.written = 0
        self.msg = 0

    def uid(self):
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def usage(self):
        r = self.rnd
        cw = r.choice([0, 0, r.randint(100, 40_000)])
        return {
            "input_tokens": r.randint(1, 60),
            "cache_creation_input_tokens": cw,
            "cache_read_input_tokens": r.randint(0, 150_000),
            "cache_creation": {"ephemeral_5m_input_tokens": cw, "ephemeral_1h_input_tokens": 0},
            "output_tokens": r.randint(1, 4_000),
            "service_tier": "standard",
        }

    def base(self, session, t, cwd, sidechain=False):
        return {
            "parentUuid": self.uid(),
            "isSidechain": sidechain,
            "userType": "external",
            "cwd": cwd,
            "sessionId": session,
            "version": "2.1.332",
            "gitBranch": "main",
        }

    def user(self, session, t, cwd, size):
        line = self.base(session, t, cwd)
        text = "".join(self.rnd.choice("abcdefghij klmnop\n") for _ in range(min(size, 2000)))
        text = (text * (size // max(len(text), 1) + 1))[:size]
        line.update({
            "type": "user",
            "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_" + self.uid()[:20], "content": text}]},
            "uuid": self.uid(),
            "timestamp": ts(t),
        })
        return line

    def assistant(self, session, t, cwd, sidechain=False, model=None):
        """The lines of one assistant message: one per content block, same ids and usage."""
        self.msg += 1
        tag = self.uid().replace("-", "")[:16]
        mid = f"msg_01{tag}{self.msg:08d}"
        rid = f"req_011{tag}{self.msg:08d}"
        usage = self.usage()
        model = model or self.rnd.choice(MODELS)
        blocks = [{"type": "text", "text": "Working on it. " * self.rnd.randint(1, 40)}]
        if self.rnd.random() < 0.6:
            blocks.append({"type": "tool_use", "id": "toolu_" + self.uid()[:20], "name": "Read", "input": {"file_path": cwd + "/notes.md"}})
        lines = []
        for b in blocks:
            line = self.base(session, t, cwd, sidechain)
            line.update({
                "message": {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [b], "stop_reason": None, "stop_sequence": None, "usage": usage},
                "requestId": rid,
                "type": "assistant",
                "uuid": self.uid(),
                "timestamp": ts(t),
            })
            lines.append(line)
        return lines

    def synthetic(self, session, t, cwd):
        line = self.base(session, t, cwd)
        reset = int((t + dt.timedelta(hours=2)).timestamp())
        line.update({
            "message": {"id": self.uid(), "type": "message", "role": "assistant", "model": "<synthetic>", "content": [{"type": "text", "text": f"Claude AI usage limit reached|{reset}"}], "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
            "type": "assistant",
            "uuid": self.uid(),
            "timestamp": ts(t),
            "isApiErrorMessage": True,
        })
        return line

    def write(self, path, lines, extra=b""):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines).encode() + extra
        with open(path, "ab") as f:
            f.write(data)
        self.written += len(data)

    def session(self, t, project, copy_of=None):
        """One session file (and maybe its subagents); returns its lines and its end time."""
        r = self.rnd
        sid = self.uid()
        cwd = "/home/user/" + project
        pdir = os.path.join(self.root, "projects", "-home-user-" + project)
        lines = list(copy_of or [])
        for _ in range(r.randint(5, 60)):
            t += dt.timedelta(seconds=r.randint(5, 900))
            lines.append(self.user(sid, t, cwd, r.choice([80, 400, 3000, 20_000])))
            lines.extend(self.assistant(sid, t + dt.timedelta(seconds=3), cwd))
            if r.random() < 0.05:
                # A subagent: its own file, and progress lines in the parent with copies.
                agent_lines = []
                for _ in range(r.randint(1, 6)):
                    t += dt.timedelta(seconds=r.randint(2, 60))
                    agent_lines.extend(self.assistant(sid, t, cwd, sidechain=True))
                self.write(os.path.join(pdir, sid, "subagents", f"agent-{self.uid()[:8]}.jsonl"), agent_lines)
                for a in agent_lines[:2]:
                    lines.append({"type": "progress", "data": {"message": a}, "sessionId": sid, "uuid": self.uid(), "timestamp": a["timestamp"]})
            if r.random() < 0.01:
                lines.append(self.synthetic(sid, t, cwd))
            if r.random() < 0.01:
                # An old version's entry, without ids: counted each time.
                old = self.assistant(sid, t, cwd)[0]
                del old["message"]["id"], old["requestId"]
                old["version"] = "1.0.30"
                lines.append(old)
        path = os.path.join(pdir, sid + ".jsonl")
        bad = b""
        if r.random() < 0.2:
            broken = self.assistant(sid, t, cwd)[0]
            del broken["message"]["usage"]["output_tokens"]
            empty_req = self.assistant(sid, t, cwd)[0]
            empty_req["requestId"] = ""
            bad = (b"not json at all\n" + json.dumps(broken).encode() + b"\n"
                   + json.dumps(empty_req).encode() + b"\n"
                   + json.dumps(self.assistant(sid, t, cwd)[0]).encode()[:120] + b"\n")
        self.write(path, lines, bad)
        return lines, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--bytes", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2026-11-25T00:00:00Z")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    g = Gen(rnd, a.root)
    t = dt.datetime.fromisoformat(a.start.replace("Z", "+00:00"))
    previous = None
    while g.written < a.bytes:
        project = rnd.choice(["vault", "brain", "site", "notes"])
        # A third of the sessions resume an earlier one: their file starts with its lines.
        copy = previous if previous and rnd.random() < 0.3 else None
        lines, end = g.session(t, project, copy)
        previous = lines[:200]
        t = end + dt.timedelta(minutes=rnd.randint(1, 600))
    print(g.written)


if __name__ == "__main__":
    main()

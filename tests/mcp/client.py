#!/usr/bin/env python3
"""A real MCP client (the official Python SDK, `mcp` on PyPI, pinned in tests/tools/requirements.txt)
driving `brain mcp` as Claude Desktop would: a child process started in `/`, the repo in BRAIN_REPO.

Usage: client.py BRAIN REPO SCENARIO [ARGS...]; prints one JSON object with what it saw, for the
Rust test (crates/brain/tests/cli/mcp.rs) to check against the files and the git log.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def content(result):
    """A tool result: its structured content, or its text, and whether it is an error."""
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    data = result.structured_content if result.structured_content is not None else text
    return {"error": bool(result.is_error), "data": data, "text": text}


async def main():
    brain, repo, scenario, *rest = sys.argv[1:]
    params = StdioServerParameters(command=brain, args=["mcp", *(["--tools", "agent"] if scenario == "agent" else [])],
                                   env={"BRAIN_REPO": repo, "PATH": "/usr/bin:/bin", "HOME": rest[0] if rest else "/tmp"},
                                   cwd="/")
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            out["instructions"] = init.instructions
            out["server"] = init.server_info.name
            tools = await s.list_tools()
            out["tools"] = [t.name for t in tools.tools]
            out["tools_json"] = json.dumps([t.model_dump(exclude_none=True, by_alias=True) for t in tools.tools])
            out["read_only"] = [t.name for t in tools.tools if t.annotations and t.annotations.read_only_hint]
            call = lambda name, args: s.call_tool(name, args)
            if scenario == "person":
                question = rest[1]
                out["add"] = content(await call("add_task", {"title": "From Desktop", "priority": "high",
                                                             "requires": ["file_access"], "body": "Write the summary.",
                                                             "timeout": "30m"}))
                out["add_gated"] = content(await call("add_task", {"title": "Gated from Desktop", "approval": True}))
                out["bad_add"] = content(await call("add_task", {"title": ""}))
                out["bad_priority"] = content(await call("add_task", {"title": "x", "priority": "urgent"}))
                out["list"] = content(await call("list_tasks", {}))
                out["list_limited"] = content(await call("list_tasks", {"limit": 1}))
                out["get"] = content(await call("get_task", {"id": out["add"]["data"]["id"]}))
                out["get_missing"] = content(await call("get_task", {"id": "task-1999-01-01-001"}))
                out["answer"] = content(await call("answer", {"id": question, "answer": "the notes folder"}))
                out["approve"] = content(await call("answer", {"id": out["add_gated"]["data"]["id"], "approve": True}))
                out["update"] = content(await call("update_task", {"id": out["add"]["data"]["id"], "priority": "low",
                                                                   "note": "Use the March files."}))
                out["cancel_wrong"] = content(await call("update_task", {"id": out["add"]["data"]["id"], "requeue": True}))
                out["status"] = content(await call("status", {}))
                res = await s.list_resources()
                out["resources"] = [str(r.uri) for r in res.resources]
                handoff = await s.read_resource("brain://context/handoff.md")
                out["handoff"] = handoff.contents[0].text
                prompts = await s.list_prompts()
                out["prompts"] = [p.name for p in prompts.prompts]
                p = await s.get_prompt("plan_tasks", {"plan": "Tidy the notes, then write a summary."})
                out["prompt"] = p.messages[0].content.text
            elif scenario == "agent":
                out["claim"] = content(await call("claim", {"agent": "desktop-agent", "capabilities": ["file_access"]}))
                token = out["claim"]["data"]["claimed"]["token"]
                out["heartbeat"] = content(await call("heartbeat", {"token": token}))
                out["handoff"] = content(await call("handoff", {"to": "claude-code", "from": "desktop-agent",
                                                                "notes": ["the summary is half done"]}))
                out["finish"] = content(await call("finish", {"token": token, "outcome": "done", "text": "Summarized."}))
                out["finish_again_wrong"] = content(await call("finish", {"token": token.split("@")[0] + "@9",
                                                                          "outcome": "done", "text": "again"}))
            elif scenario == "many":
                n = int(rest[1])
                ids = []
                for i in range(n):
                    r = content(await call("add_task", {"title": f"mcp task {i}"}))
                    assert not r["error"], r
                    ids.append(r["data"]["id"])
                    if i < len(rest) - 2:
                        a = content(await call("answer", {"id": rest[2 + i], "answer": f"answer {i}"}))
                        assert not a["error"], a
                out["ids"] = ids
    print(json.dumps(out))


asyncio.run(main())

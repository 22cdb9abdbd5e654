"""MCP over HTTP with API keys, through the MCP SDK's streamable HTTP client against a real server process: a read
key connects and uses the read tools, a write tool answers a tool error naming the scope it needs, a write key
may call it; writes made over MCP are audited with the key's name as the actor, and stdio writes as 'local'."""

from __future__ import annotations

import json
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from prompt_alchemy.mcp.tools import TOOL_SCOPES, TOOLS

pytestmark = pytest.mark.e2e

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"

WRITES = [
    ("update_prompt", {"id": "scope-0001", "tags": ["edited"]}),
    ("rate_prompt", {"id": "scope-0001", "score": 5}),
    ("delete_prompt", {"id": "scope-0001"}),
    ("generate_prompts", {"idea": "a read key tries to generate", "count": 1, "save": False}),
    ("batch_generate", {"items": [{"idea": "a"}], "save": False}),
    ("optimize_prompt", {"task": "explain", "prompt": "Explain it."}),
    ("train_model", {"dry_run": True}),
    ("submit_batch", {"items": [{"idea": "a"}], "save": False}),
    ("cancel_job", {"job": 1}),
    ("retry_job", {"job": 1}),
]
READS = [
    ("get_prompt", {"id": "scope-0001"}),
    ("render_prompt", {"id": "scope-0001", "raw": True}),
    ("list_labels", {}),
    ("get_metrics", {}),
    ("learning_status", {}),
    ("learning_patterns", {}),
    ("get_providers", {}),
    ("validate_config", {}),
    ("list_jobs", {}),
]


@asynccontextmanager
async def mcp_client(server, key: str):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        yield client


def seed(server, admin: str, *ids: str) -> None:
    lines = "\n".join(
        json.dumps({"id": pid, "content": f"Explain photosynthesis to a child, version {pid}"}) for pid in ids
    )
    with server.client(admin) as c:
        assert c.post("/api/v1/import", json={"format": "jsonl", "content": lines}).json()["imported"] == len(ids)


def audit(server, admin: str, **params: str) -> list[dict]:
    with server.client(admin) as c:
        return c.get("/api/v1/audit", params={"limit": 100, **params}).json()["rows"]


def test_every_tool_has_one_scope_and_only_the_read_only_tools_are_read():
    assert len(TOOL_SCOPES) == len(TOOLS)
    for spec in TOOLS:
        assert TOOL_SCOPES[spec.fn.__name__] == ("read" if spec.read_only else "write"), spec.fn.__name__
    called = {"search_prompts", "job_status"}  # called below, and in tests/jobs/test_jobs_mcp.py
    assert {name for name, _ in WRITES} | called | {name for name, _ in READS} == set(TOOL_SCOPES)


async def test_a_read_key_calls_the_read_tools_and_is_refused_the_write_tools(auth_server):
    s = auth_server
    admin = s.create_key("scopes-admin", "admin")
    seed(s, admin, "scope-0001")
    reader = s.create_key("scopes-reader", "read")
    async with mcp_client(s, reader) as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert set(TOOL_SCOPES) <= listed
        found = await client.call_tool("search_prompts", {"query": "photosynthesis", "mode": "text"})
        assert not found.is_error and found.structured_content["results"][0]["id"] == "scope-0001"
        for name, args in READS:
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, result.content)
        for name, args in WRITES:
            result = await client.call_tool(name, args)
            assert result.is_error, name
            assert result.content[0].text == (
                f"the key 'scopes-reader' has scope 'read'; the tool {name} needs "
                f"scope 'write' (use a key created with --scope write)"
            )
    assert audit(s, admin, actor="scopes-reader") == []  # nothing was written
    with s.client(admin) as c:
        kept = c.get("/api/v1/prompts/scope-0001").json()
        assert kept["prompt"]["tags"] == [] and kept["lineage"]["descendants"] == []
        assert c.get("/api/v1/feedback", params={"prompt_id": "scope-0001"}).json()["count"] == 0
    async with mcp_client(s, admin) as client:  # admin includes write
        assert not (await client.call_tool("rate_prompt", {"id": "scope-0001", "score": 3})).is_error


async def test_mcp_writes_are_audited_as_the_key_and_stdio_writes_as_local(auth_server):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    s = auth_server
    admin = s.create_key("audit-admin", "admin")
    seed(s, admin, "bot-0001")
    writer = s.create_key("mcp-bot", "write")
    progress: list[float] = []

    async def on_progress(done, total, message):
        progress.append(done)

    async with mcp_client(s, writer) as client:
        rated = await client.call_tool("rate_prompt", {"id": "bot-0001", "score": 4})
        assert not rated.is_error, rated.content
        updated = await client.call_tool("update_prompt", {"id": "bot-0001", "tags": ["bot"]})
        assert not updated.is_error, updated.content
        # with a progress token the reply is an SSE stream: the actor goes along there too
        generated = await client.call_tool(
            "generate_prompts", {"idea": "a bot's idea", "count": 1}, progress_callback=on_progress
        )
        assert not generated.is_error and progress and progress[-1] == 3  # notifications came: SSE
    new_id = updated.structured_content["prompt"]["id"]
    rows = audit(s, admin, actor="mcp-bot")
    assert sorted(r["action"] for r in rows) == ["generate", "rate", "update"]
    assert all(r["outcome"] == "ok" for r in rows)
    by_action = {r["action"]: r for r in rows}
    assert "bot-0001" in by_action["rate"]["targets"] and new_id in by_action["update"]["targets"]
    with s.client(admin) as c:
        assert c.get("/api/v1/feedback", params={"prompt_id": "bot-0001"}).json()["feedback"][0]["actor"] == "mcp-bot"
        assert c.get(f"/api/v1/prompts/{new_id}").json()["prompt"]["created_by"] == "mcp-bot"
    cli = s.cli("audit", "list", "--actor", "mcp-bot", "--output", "json")
    assert cli.returncode == 0, cli.stderr
    listed = json.loads(cli.stdout)
    assert sorted(r["action"] for r in listed) == ["generate", "rate", "update"]
    assert {r["actor"] for r in listed} == {"mcp-bot"}

    stdio = StdioServerParameters(command=str(SCRIPT), args=["serve"], env=s.env)
    async with Client(stdio) as client:  # the local user: every tool, no key
        assert not (await client.call_tool("rate_prompt", {"id": "bot-0001", "score": 2})).is_error
        assert not (await client.call_tool("update_prompt", {"id": new_id, "notes": "from stdio"})).is_error
    local = [r for r in audit(s, admin, target="bot-0001") if r["actor"] == "local"]
    assert [r["action"] for r in local] == ["rate"]
    assert any(r["action"] == "update" and r["actor"] == "local" for r in audit(s, admin, target=new_id))
    cli = s.cli("audit", "list", "--actor", "local", "--action", "rate", "--output", "json")
    assert cli.returncode == 0 and "bot-0001" in json.loads(cli.stdout)[0]["targets"]

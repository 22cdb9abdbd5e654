"""`usage_count` counts uses: each `prompt-alchemy use` (a real CLI process) and each MCP `prompts/get` (a real MCP
client) adds exactly one, and sets `last_used_at`; a use that fails (a missing variable) counts nothing; reading a
prompt is not a use. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from prompt_alchemy.mcp.server import build_server

pytestmark = pytest.mark.usefixtures("backend")

ID = "abcd1111-aaaa"
ROWS = [{"id": ID, "title": "Summary", "content": "Write a {tone} summary of {topic}.", "score": 0.8}]


@pytest.fixture
async def library(service, tmp_path):
    path = tmp_path / "seed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert (await service.import_prompts(path)).imported == 1
    await service.set_label(ID, "summarizer")
    return service


async def uses(service) -> tuple[int, object]:
    prompt = await service.get_prompt(ID)
    return prompt.usage_count, prompt.last_used_at


async def test_each_use_on_the_command_line_counts_once(library, cli):
    assert await uses(library) == (0, None)
    ok = cli("use", "summary@summarizer", "-p", "tone", "short", "-p", "topic", "tides")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "Write a short summary of tides.\n"
    count, first = await uses(library)
    assert count == 1 and first is not None
    assert cli("use", "abcd1111", "-p", "tone", "long", "-p", "topic", "x", "-o", "json").returncode == 0
    assert cli("use", "abcd1111", "--raw").returncode == 0  # the template itself, taken to fill by hand
    count, last = await uses(library)
    assert count == 3 and last >= first

    failed = cli("use", "abcd1111", "-p", "tone", "short")  # topic missing: bad input, nothing changed
    assert failed.returncode == 2 and "topic" in failed.stderr
    assert cli("show", "abcd1111").returncode == 0  # reading is not using
    assert (await uses(library))[0] == 3


async def test_each_mcp_prompts_get_counts_once(library):
    async with Client(build_server(library)) as client:
        listed = [p.name for p in (await client.list_prompts()).prompts]
        assert "summary@summarizer" in listed
        assert (await uses(library))[0] == 0  # listing is not using
        got = await client.get_prompt("summary@summarizer", {"tone": "dry", "topic": "rain"})
        assert got.messages[0].content.text == "Write a dry summary of rain."
        assert (await uses(library))[0] == 1
        top = next(name for name in listed if name.endswith("-abcd1111"))
        await client.get_prompt(top, {"tone": "a", "topic": "b"})
        assert (await uses(library))[0] == 2
        with pytest.raises(MCPError, match="missing value for topic"):
            await client.get_prompt("summary@summarizer", {"tone": "dry"})
        assert (await client.call_tool("get_prompt", {"id": ID, "include_lineage": False})).structured_content
    count, last = await uses(library)
    assert count == 2 and last is not None

"""Ratings given through the MCP server carry the source `mcp`; bad ones are tool errors that change nothing."""

from __future__ import annotations

import asyncio

import pytest
from learning_testkit import make_service, sim_prompts, store_prompts
from mcp import Client

from prompt_alchemy.mcp.server import build_server

pytestmark = pytest.mark.usefixtures("backend")


async def test_rate_prompt_tool(home):
    train, _ = sim_prompts()
    service = make_service()
    store_prompts(service, train[:2])
    try:
        async with Client(build_server(service)) as client:
            result = await client.call_tool("rate_prompt", {"id": train[0].id, "score": 5, "comment": "great"})
            assert not result.is_error
            assert result.structured_content["source"] == "mcp" and result.structured_content["rating"] == 5
            bad = await client.call_tool("rate_prompt", {"id": train[1].id, "score": 9})
            assert bad.is_error
            unknown = await client.call_tool("rate_prompt", {"id": "nope-nope", "score": 3})
            assert unknown.is_error and "no prompt with id 'nope-nope'" in unknown.content[0].text
        rows = await service.list_feedback()
        assert [(r.prompt_id, r.rating, r.source, r.comment) for r in rows] == [(train[0].id, 5, "mcp", "great")]
    finally:
        await service.aclose()


@pytest.mark.sqlite_only("no library: the tool's schema only")
def test_the_tool_is_listed():
    service = make_service()

    async def names():
        async with Client(build_server(service)) as client:
            return {t.name: t for t in (await client.list_tools()).tools}

    tools = asyncio.run(names())
    asyncio.run(service.aclose())
    schema = tools["rate_prompt"].input_schema
    assert schema["required"] == ["id", "score"]
    assert (schema["properties"]["score"]["minimum"], schema["properties"]["score"]["maximum"]) == (1, 5)

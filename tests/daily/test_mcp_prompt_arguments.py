"""Stored prompts as MCP prompts with arguments, through the SDK client: labelled and best prompts are listed with
their variables as arguments, `prompts/get` fills them (every missing one named), and the render_prompt tool does
the same for agents that only call tools."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from prompt_alchemy.mcp.server import build_server

TEMPLATE = 'You are a {role}. Summarize {{ document }} in {count} bullet points. Answer as {"bullets": []}.'


@pytest.fixture
async def library(service, tmp_path):
    rows = [
        {"id": "abcd1111-aaaa", "title": "Bullet summary", "content": TEMPLATE, "score": 0.9},
        {"id": "abcd2222-bbbb", "title": "Fixed", "content": "Explain recursion with one example.", "score": 0.5},
    ]
    path = tmp_path / "seed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert (await service.import_prompts(path)).imported == 2
    await service.set_label("abcd1111-aaaa", "summarizer")
    return service


async def test_prompts_list_and_get_with_arguments(library):
    async with Client(build_server(library)) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert "bullet-summary@summarizer" in listed  # a label is published under its prompt name
        labelled = listed["bullet-summary@summarizer"]
        assert [(a.name, a.required) for a in labelled.arguments] == [
            ("role", True),
            ("document", True),
            ("count", True),
        ]
        top = [p for p in listed.values() if p.name.endswith("-abcd2222")]
        assert len(top) == 1 and top[0].arguments == []
        assert any(p.name.endswith("-abcd1111") and len(p.arguments) == 3 for p in listed.values())

        got = await client.get_prompt("summarizer", {"role": "editor", "document": "the memo", "count": "3"})
        assert got.messages[0].role == "user"
        assert got.messages[0].content.text == (
            "You are a editor. Summarize the memo in 3 bullet points. " 'Answer as {"bullets": []}.'
        )
        by_id = next(p.name for p in listed.values() if p.name.endswith("-abcd1111"))
        again = await client.get_prompt(by_id, {"role": "r", "document": "d", "count": "1"})
        assert again.messages[0].content.text.startswith("You are a r. Summarize d in 1")
        with pytest.raises(MCPError, match="missing values for document, count"):
            await client.get_prompt("summarizer", {"role": "editor"})
        with pytest.raises(MCPError, match="no variable colour"):
            await client.get_prompt("summarizer", {"role": "a", "document": "b", "count": "c", "colour": "d"})
        with pytest.raises(MCPError, match="Unknown prompt"):
            await client.get_prompt("no-such-prompt", {})


async def test_render_prompt_tool_and_labels(library):
    async with Client(build_server(library)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"render_prompt", "list_labels"} <= tools
        result = await client.call_tool(
            "render_prompt", {"id": "summarizer", "variables": {"role": "analyst", "document": "Q3", "count": "5"}}
        )
        assert not result.is_error
        data = result.structured_content
        assert data["id"] == "abcd1111-aaaa" and data["labels"] == ["summarizer"]
        assert data["text"].startswith("You are a analyst. Summarize Q3 in 5 bullet points.")
        raw = (await client.call_tool("render_prompt", {"id": "abcd1", "raw": True})).structured_content
        assert raw["text"] == TEMPLATE and raw["variables"] == ["role", "document", "count"]
        missing = await client.call_tool("render_prompt", {"id": "summarizer", "variables": {"role": "x"}})
        assert missing.is_error and "missing values for document, count" in missing.content[0].text
        # a label is accepted wherever a tool takes an id
        fetched = await client.call_tool("get_prompt", {"id": "summarizer", "include_lineage": False})
        assert fetched.structured_content["prompt"]["id"] == "abcd1111-aaaa"
        labels = (await client.call_tool("list_labels", {})).structured_content["labels"]
        assert [(lb["name"], lb["prompt_id"]) for lb in labels] == [("summarizer", "abcd1111-aaaa")]

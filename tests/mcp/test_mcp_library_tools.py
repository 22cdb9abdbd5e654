"""In-process MCP client tests for the library tools: search_prompts, get_prompt (with lineage), update_prompt,
delete_prompt and get_metrics, with their error paths. Real SQLite, scripted provider."""

from __future__ import annotations

import pytest
from mcp import Client

from prompt_alchemy.mcp.server import build_server

pytestmark = pytest.mark.usefixtures("backend")


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def generate(client, idea: str, **extra) -> dict:
    result = await client.call_tool("generate_prompts", {"idea": idea, "count": 1, **extra})
    assert not result.is_error, text_of(result)
    return result.structured_content


async def test_search_finds_generated_prompts_with_filters(service):
    async with Client(build_server(service)) as client:
        rust = await generate(client, "a newsletter about the Rust programming language", tags=["rust"])
        await generate(client, "a recipe recommender for leftover vegetables", tags=["food"])
        result = await client.call_tool("search_prompts", {"query": "Rust newsletter", "mode": "text"})
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["count"] >= 1
        found = {r["id"] for r in data["results"]}
        assert found <= {p["id"] for p in rust["prompts"]}
        assert data["results"][0]["id"] in text_of(result)

        filtered = await client.call_tool(
            "search_prompts",
            {
                "query": "expert assistant",
                "mode": "text",
                "limit": 50,
                "filters": {"tags": ["food"], "phase": ["coagulatio"]},
            },
        )
        assert not filtered.is_error, text_of(filtered)
        hits = filtered.structured_content["results"]
        assert hits and all(h["phase"] == "coagulatio" and "food" in h["tags"] for h in hits)

        hybrid = await client.call_tool("search_prompts", {"query": "vegetables leftovers", "limit": 3})
        assert not hybrid.is_error and hybrid.structured_content["mode"] == "hybrid"
        assert len(hybrid.structured_content["results"]) <= 3


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"query": ""}, "query"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 101}, "limit"),
        ({"query": "x", "filters": {"colour": "blue"}}, "colour"),
        ({"query": "x", "filters": {"since": "last tuesday"}}, "since"),
        ({"query": "   "}, "the search query is empty"),
    ],
)
async def test_search_errors(service, arguments, expected):
    async with Client(build_server(service)) as client:
        result = await client.call_tool("search_prompts", arguments)
        assert result.is_error
        assert expected in text_of(result)


async def test_get_prompt_with_lineage_and_prefix(service):
    async with Client(build_server(service)) as client:
        gen = await generate(client, "a lineage test")
        by_phase = {p["phase"]: p for p in gen["prompts"]}
        middle = by_phase["solutio"]
        result = await client.call_tool("get_prompt", {"id": middle["id"][:8]})
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["prompt"]["id"] == middle["id"] and data["prompt"]["content"] == middle["content"]
        assert "embedding" not in data["prompt"]
        assert [a["id"] for a in data["lineage"]["ancestors"]] == [by_phase["prima-materia"]["id"]]
        assert [d["id"] for d in data["lineage"]["descendants"]] == [by_phase["coagulatio"]["id"]]
        assert middle["content"] in text_of(result)
        plain = await client.call_tool("get_prompt", {"id": middle["id"], "include_lineage": False})
        assert "lineage" not in plain.structured_content


async def test_get_prompt_errors(service):
    async with Client(build_server(service)) as client:
        missing = await client.call_tool("get_prompt", {"id": "00000000-dead-beef-0000-000000000000"})
        assert missing.is_error and "no prompt with id" in text_of(missing)
        short = await client.call_tool("get_prompt", {"id": "ab"})
        assert short.is_error and "too short" in text_of(short)
        assert (await client.call_tool("get_prompt", {})).is_error


async def test_update_prompt_makes_a_new_version(service):
    async with Client(build_server(service)) as client:
        gen = await generate(client, "an update test")
        best = gen["best"]
        result = await client.call_tool(
            "update_prompt",
            {"id": best["id"], "content": "Edited prompt text.", "tags": ["edited"], "notes": "tightened"},
        )
        assert not result.is_error, text_of(result)
        new = result.structured_content["prompt"]
        assert new["id"] != best["id"] and new["parent_id"] == best["id"]
        assert (new["content"], new["tags"], new["notes"]) == ("Edited prompt text.", ["edited"], "tightened")
        assert (await service.get_prompt(best["id"])).content == best["content"]  # the old version is kept
        assert (await service.get_prompt(new["id"])).content == "Edited prompt text."
        nothing = await client.call_tool("update_prompt", {"id": best["id"]})
        assert nothing.is_error and "nothing to update" in text_of(nothing)
        empty = await client.call_tool("update_prompt", {"id": best["id"], "content": ""})
        assert empty.is_error
        missing = await client.call_tool("update_prompt", {"id": "ffffffff", "content": "x"})
        assert missing.is_error and "no prompt" in text_of(missing)


async def test_delete_prompt(service):
    async with Client(build_server(service)) as client:
        gen = await generate(client, "a delete test")
        best = gen["best"]
        result = await client.call_tool("delete_prompt", {"id": best["id"][:10]})
        assert not result.is_error, text_of(result)
        assert result.structured_content == {"deleted": best["id"]}
        assert service.store.get_prompt(best["id"]) is None
        again = await client.call_tool("delete_prompt", {"id": best["id"]})
        assert again.is_error and "no prompt" in text_of(again)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["delete_prompt"].annotations.destructive_hint is True


async def test_get_metrics(service):
    async with Client(build_server(service)) as client:
        await generate(client, "a metrics test")
        result = await client.call_tool("get_metrics", {})
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["prompts"]["total"] == 3
        assert data["prompts"]["by_provider"] == {"scripted": 3}
        assert "scripted" in data["providers"]
        assert "3 prompt(s)" in text_of(result)
        phase = await client.call_tool("get_metrics", {"phase": "idea", "since": "1d"})
        assert phase.structured_content["prompts"]["total"] == 1
        bad = await client.call_tool("get_metrics", {"since": "yesterday-ish"})
        assert bad.is_error and "not a date" in text_of(bad)
        bad = await client.call_tool("get_metrics", {"provider": "acme"})
        assert bad.is_error


async def test_get_providers_lists_the_local_provider_without_secrets(make_service):
    svc = make_service(**{"providers.openai.api_key": "sk-test-secret-value-1234567890"})
    async with Client(build_server(svc)) as client:
        result = await client.call_tool("get_providers", {})
        assert not result.is_error, text_of(result)
        rows = {r["name"]: r for r in result.structured_content["providers"]}
        assert rows["local"]["available"] is True and rows["local"]["embeddings"] is True
        assert rows["openai"]["configured"] is True
        assert rows["anthropic"]["configured"] is False and rows["anthropic"]["reason"]
        assert "- local: available" in text_of(result)
        assert "sk-test-secret" not in text_of(result) and "sk-test-secret" not in str(result.structured_content)
        assert (await client.call_tool("get_providers", {"check": "maybe"})).is_error


async def test_generate_refuses_a_run_over_max_cost(make_service):
    svc = make_service(
        **{
            "providers.openai.api_key": "sk-test-secret-value-1234567890",
            **{f"phases.{p}.provider": "openai" for p in ("prima-materia", "solutio", "coagulatio")},
        }
    )
    async with Client(build_server(svc)) as client:
        result = await client.call_tool("generate_prompts", {"idea": "expensive", "max_cost": 0.000001})
        assert result.is_error and "max-cost" in text_of(result)
        assert svc.store.count_prompts() == 0
        assert (await client.call_tool("generate_prompts", {"idea": "x", "max_cost": 0})).is_error


async def test_concurrent_searches_run_at_most_one_per_core_and_all_answer(service):
    import asyncio

    from prompt_alchemy.mcp.server import SEARCH_SLOTS
    from prompt_alchemy.models import Prompt

    service.store.save_prompts(
        [Prompt(content=f"Explain topic {i} with an example.", title=f"topic {i}") for i in range(12)]
    )
    search, running, most = service.search, 0, 0

    async def counted(*args, **kwargs):  # the service's own search, counting how many run at once
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.01)
            return await search(*args, **kwargs)
        finally:
            running -= 1

    service.search = counted
    async with Client(build_server(service)) as client:
        results = await asyncio.gather(
            *(client.call_tool("search_prompts", {"query": f"topic {i}", "mode": "text"}) for i in range(12))
        )
    assert most == SEARCH_SLOTS
    for i, result in enumerate(results):
        assert not result.is_error, text_of(result)
        assert f"topic {i}" in [r["title"] for r in result.structured_content["results"]]

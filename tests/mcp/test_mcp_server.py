"""In-process MCP client tests: every tool's happy path and error paths, progress, resources, prompts,
concurrency and cancellation. The server runs over a real service (real SQLite) with the scripted provider."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from prompt_alchemy.mcp.server import build_server


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def test_tools_are_listed_with_descriptions_bounds_and_enums(service):
    async with Client(build_server(service)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"generate_prompts", "batch_generate", "validate_config"} <= set(tools)
        for tool in tools.values():
            assert tool.description and "\n" not in tool.description
            assert tool.input_schema["type"] == "object"
        gen = tools["generate_prompts"].input_schema
        assert gen["required"] == ["idea"]
        count = next(s for s in gen["properties"]["count"]["anyOf"] if s.get("type") == "integer")
        assert (count["minimum"], count["maximum"]) == (1, 10)
        persona = next(s for s in gen["properties"]["persona"]["anyOf"] if "enum" in s)
        assert {"code", "writing", "analysis", "generic"} <= set(persona["enum"])
        phases = next(s for s in gen["properties"]["phases"]["anyOf"] if s.get("type") == "array")
        assert "prima-materia" in phases["items"]["enum"]
        assert gen["properties"]["save"]["default"] is True
        batch = tools["batch_generate"]
        assert batch.input_schema["properties"]["items"]["maxItems"] == 100
        assert batch.output_schema is not None and "items" in batch.output_schema["properties"]
        assert tools["validate_config"].annotations.read_only_hint is True


async def test_generate_saves_by_default_and_returns_structured_and_text(service):
    async with Client(build_server(service)) as client:
        result = await client.call_tool(
            "generate_prompts", {"idea": "a CLI that summarizes git logs", "count": 2, "tags": ["cli", "git"]}
        )
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["saved"] is True and len(data["prompts"]) == 6
        best = data["best"]
        assert best["phase"] == "coagulatio" and best["id"] in text_of(result)
        assert best["content"] in text_of(result)
        stored = service.store.list_prompts(session_id=data["session_id"], limit=100)
        assert {p.id for p in stored} == {p["id"] for p in data["prompts"]}
        assert all(p.tags == ["cli", "git"] for p in stored)
        finals = [p for p in data["prompts"] if p["phase"] == "coagulatio"]
        parents = {p["id"]: p["parent_id"] for p in data["prompts"]}
        assert all(parents[parents[f["id"]]] is not None for f in finals)  # coagulatio <- solutio <- prima-materia


async def test_generate_with_save_false_stores_nothing(service):
    async with Client(build_server(service)) as client:
        result = await client.call_tool("generate_prompts", {"idea": "an idea", "count": 1, "save": False})
        assert not result.is_error
        assert result.structured_content["saved"] is False
        assert service.store.count_prompts() == 0


async def test_generate_options_reach_the_engine(service):
    async with Client(build_server(service)) as client:
        result = await client.call_tool(
            "generate_prompts",
            {
                "idea": "a newsletter about Rust",
                "phases": ["idea", "precision"],
                "count": 1,
                "persona": "writing",
                "target_model": "claude-sonnet-4",
                "provider": "scripted",
                "temperature": 0.3,
            },
        )
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["phases"] == ["prima-materia", "coagulatio"]
        assert data["persona"] == "writing" and data["target_model"] == "claude-sonnet-4"
        assert {p["temperature"] for p in data["prompts"]} == {0.3}


async def test_generate_reports_progress_per_phase(service):
    async with Client(build_server(service)) as client:
        events = []

        async def on_progress(progress, total, message):
            events.append((progress, total, message))

        result = await client.call_tool(
            "generate_prompts", {"idea": "progress please", "count": 2}, progress_callback=on_progress
        )
        assert not result.is_error
        phases = [e for e in events if float(e[0]).is_integer()]  # one per finished phase call
        assert [e[0] for e in phases] == [1, 2, 3, 4, 5, 6]
        assert {e[1] for e in events} == {6}
        assert {m.split(" ")[0] for _, _, m in phases} == {"prima-materia", "solutio", "coagulatio"}
        # between them, the final phase's text so far; progress rises with every notification
        partial = [m for p, _, m in events if not float(p).is_integer()]
        assert partial and all(m.startswith("coagulatio · variant ") for m in partial)
        assert [e[0] for e in events] == sorted(e[0] for e in events)
        finals = {p.id: p.content for p in (await service.list_prompts(limit=10)) if p.phase.value == "coagulatio"}
        done = [m for _, _, m in phases if m.startswith("coagulatio")]
        assert all(": " in m for m in done) and len(finals) == 2


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"idea": "x", "count": 20}, "less than or equal to 10"),
        ({"idea": "x", "count": 0}, "greater than or equal to 1"),
        ({"idea": "x", "persona": "pirate"}, "persona"),
        ({"idea": "x", "phases": ["alembic"]}, "phases"),
        ({"idea": "x", "temperature": 3}, "temperature"),
        ({"idea": "x", "provider": "nonesuch"}, "provider"),
        ({"count": 1}, "idea"),
        ({"idea": ""}, "idea"),
    ],
)
async def test_schema_invalid_arguments_are_tool_errors_and_the_server_keeps_running(service, arguments, expected):
    async with Client(build_server(service)) as client:
        result = await client.call_tool("generate_prompts", arguments)
        assert result.is_error
        assert expected in text_of(result)
        assert service.store.count_prompts() == 0
        ok = await client.call_tool("generate_prompts", {"idea": "still alive", "count": 1})
        assert not ok.is_error


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({"idea": "   "}, "the idea is empty"),
        ({"idea": "x", "phases": ["coagulatio", "solutio"]}, "phases must be in order"),
        ({"idea": "x", "phases": ["solutio", "solutio"]}, "listed twice"),
    ],
)
async def test_service_validation_errors_are_actionable(service, arguments, expected):
    async with Client(build_server(service)) as client:
        result = await client.call_tool("generate_prompts", arguments)
        assert result.is_error
        assert expected in text_of(result)
        assert service.store.count_prompts() == 0


async def test_provider_failure_is_a_tool_error_naming_the_phase_and_nothing_is_saved(make_service):
    svc = make_service(**{"providers.scripted.fail_phases": ["solutio"]})
    async with Client(build_server(svc)) as c:
        result = await c.call_tool("generate_prompts", {"idea": "will fail", "count": 1})
    assert result.is_error
    message = text_of(result)
    assert "solutio" in message and "scripted" in message and "nothing was saved" in message
    assert svc.store.count_prompts() == 0


async def test_an_idea_over_the_length_limit_is_rejected(make_service):
    svc = make_service(**{"generation.max_idea_length": 50})
    async with Client(build_server(svc)) as c:
        result = await c.call_tool("generate_prompts", {"idea": "x" * 51})
    assert result.is_error and "50" in text_of(result)


async def test_unknown_tool_is_invalid_params(service):
    """An unknown tool is a protocol error (-32602), as the spec says, not a tool result."""
    from mcp.shared.exceptions import MCPError

    async with Client(build_server(service)) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("transmute_lead", {})
        assert caught.value.error.code == -32602 and "transmute_lead" in caught.value.error.message

    # ------------------------------------------------------------------------------------------------- batch


async def test_batch_generate_runs_items_with_their_options_and_reports_progress(service):
    async with Client(build_server(service)) as client:
        events = []

        async def on_progress(progress, total, message):
            events.append((progress, total))

        items = [
            {"idea": "first idea"},
            {"idea": "second idea", "count": 2, "tags": ["two"]},
            {"idea": "third idea", "phases": ["prima-materia"]},
        ]
        result = await client.call_tool("batch_generate", {"items": items, "workers": 2}, progress_callback=on_progress)
        assert not result.is_error, text_of(result)
        report = result.structured_content
        assert (report["total"], report["generated"], report["failed"]) == (3, 3, 0)
        assert [i["index"] for i in report["items"]] == [1, 2, 3]
        assert [len(i["prompt_ids"]) for i in report["items"]] == [9, 6, 3]  # default count is 3
        assert sorted(e[0] for e in events) == [1, 2, 3] and {e[1] for e in events} == {3}
        assert service.store.count_prompts() == 18
        second = service.store.get_prompt(report["items"][1]["best_id"])
        assert second.tags == ["two"]


async def test_batch_validates_every_item_before_generating_anything(service):
    async with Client(build_server(service)) as client:
        items = [{"idea": "fine"}, {"idea": "bad persona", "persona": "pirate"}]
        result = await client.call_tool("batch_generate", {"items": items})
        assert result.is_error
        assert "batch item 2" in text_of(result) and "pirate" in text_of(result)
        assert service.store.count_prompts() == 0


async def test_batch_schema_errors(service):
    async with Client(build_server(service)) as client:
        assert (await client.call_tool("batch_generate", {"items": []})).is_error
        result = await client.call_tool("batch_generate", {"items": [{"idea": "x", "count": 11}]})
        assert result.is_error and "count" in text_of(result)
        result = await client.call_tool("batch_generate", {"items": [{"idea": "x"}], "workers": 9})
        assert result.is_error and "workers" in text_of(result)


async def test_batch_item_failure_is_reported_and_the_rest_go_on(make_service):
    svc = make_service(**{"providers.scripted.fail_phases": ["solutio"]})
    items = [
        {"idea": "only the first phase", "phases": ["prima-materia"], "count": 1},
        {"idea": "needs solutio", "count": 1},
    ]
    async with Client(build_server(svc)) as c:
        result = await c.call_tool("batch_generate", {"items": items})
    assert not result.is_error
    report = result.structured_content
    assert (report["generated"], report["failed"]) == (1, 1)
    failed = report["items"][1]
    assert failed["status"] == "error" and "solutio" in failed["error"]
    assert "error" in text_of(result)
    assert svc.store.count_prompts() == 1


# ------------------------------------------------------------------------------------------------- config


async def test_validate_config_rereads_the_file(service, write_config):
    async with Client(build_server(service)) as client:
        result = await client.call_tool("validate_config", {})
        assert not result.is_error
        assert result.structured_content["valid"] is True and result.structured_content["problems"] == []
        write_config("generation:\n  default_count: 99\n  colour: blue\n")
        result = await client.call_tool("validate_config", {})
        assert not result.is_error
        data = result.structured_content
        assert data["valid"] is False
        assert any("default_count" in p for p in data["problems"])
        assert any("colour" in p for p in data["problems"])
        assert "problem" in text_of(result)

    # --------------------------------------------------------------------------------------------- resources, prompts


async def test_stored_prompts_are_resources(service):
    async with Client(build_server(service)) as client:
        gen = (await client.call_tool("generate_prompts", {"idea": "a resource test", "count": 1})).structured_content
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {f"prompt://{p['id']}" for p in gen["prompts"]} <= listed
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["prompt://{prompt_id}"]
        best = gen["best"]
        read = await client.read_resource(f"prompt://{best['id']}")
        data = json.loads(read.contents[0].text)
        assert data["id"] == best["id"] and data["content"] == best["content"] and "embedding" not in data
        with pytest.raises(MCPError, match="no prompt"):
            await client.read_resource("prompt://00000000-0000-0000-0000-000000000000")


async def test_best_scored_prompts_are_mcp_prompts(service):
    async with Client(build_server(service)) as client:
        assert (await client.list_prompts()).prompts == []
        gen = (
            await client.call_tool("generate_prompts", {"idea": "an mcp prompt test", "count": 2})
        ).structured_content
        prompts = (await client.list_prompts()).prompts
        finals = {p["id"]: p for p in gen["prompts"] if p["phase"] == "coagulatio"}
        assert len(prompts) == 2
        assert all(p.description.split(" ")[2] in finals for p in prompts)
        got = await client.get_prompt(prompts[0].name)
        prompt_id = prompts[0].description.split(" ")[2]
        assert got.messages[0].role == "user"
        assert got.messages[0].content.text == finals[prompt_id]["content"]
        with pytest.raises(MCPError):
            await client.get_prompt("no-such-prompt-0badc0de")

    # ------------------------------------------------------------------------------------------------- concurrency


async def test_a_long_generate_does_not_block_other_calls(make_service):
    svc = make_service(**{"providers.scripted.latency": 0.4})
    finished: list[str] = []
    async with Client(build_server(svc)) as c:

        async def slow():
            await c.call_tool("generate_prompts", {"idea": "slow", "count": 1})
            finished.append("generate")

        async def quick():
            await asyncio.sleep(0.1)
            result = await c.call_tool("validate_config", {})
            assert not result.is_error
            finished.append("validate")

        await asyncio.gather(slow(), quick())
    assert finished == ["validate", "generate"]


async def test_cancelling_a_call_stops_its_provider_work(make_service):
    svc = make_service(**{"providers.scripted.latency": 0.5})
    provider = svc.registry.get("scripted")
    async with Client(build_server(svc)) as c:
        call = asyncio.create_task(c.call_tool("generate_prompts", {"idea": "cancel me", "count": 1}))
        while not provider.calls:
            await asyncio.sleep(0.02)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(1.5)  # the two later phases would have run by now
        assert len(provider.calls) == 1
        assert svc.store.count_prompts() == 0
        ok = await c.call_tool("validate_config", {})
        assert not ok.is_error

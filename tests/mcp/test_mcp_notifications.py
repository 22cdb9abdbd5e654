"""Logging, subscriptions, list_changed and completions, through the SDK's client in the handshake (2025) protocol
that today's clients and the conformance suite speak."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import warnings
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.mcp.server import build_server

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|removed) as of 2026-07-28")


class Inbox:
    def __init__(self) -> None:
        self.items: list = []

    async def __call__(self, message) -> None:
        self.items.append(message)

    def of(self, kind) -> list:
        return [m for m in self.items if isinstance(m, kind)]

    async def wait_for(self, kind, count: int = 1, timeout: float = 10.0) -> list:
        for _ in range(int(timeout / 0.05)):
            if len(self.of(kind)) >= count:
                return self.of(kind)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind.__name__} in {self.items}")


async def generated(client: Client, idea: str) -> dict:
    result = await client.call_tool("generate_prompts", {"idea": idea, "count": 1})
    assert not result.is_error
    return result.structured_content


def fast(server):
    server.hub.poll_seconds = 0.05
    return server


async def test_capabilities_announce_logging_completions_subscriptions_and_list_changes(service):
    async with Client(build_server(service), mode="legacy") as client:
        caps = client.server_capabilities
        assert caps.logging is not None and caps.completions is not None
        assert caps.resources.subscribe is True and caps.resources.list_changed is True
        assert caps.prompts.list_changed is True


async def test_log_records_reach_a_client_at_or_above_its_level_redacted(make_service):
    svc = make_service(**{"providers.openai.api_key": "sk-test-secret-value-1234567890"})
    inbox, quiet = Inbox(), Inbox()
    server = build_server(svc)
    async with (
        Client(server, mode="legacy", message_handler=inbox) as client,
        Client(server, mode="legacy", message_handler=quiet) as other,
    ):
        assert (await client.set_logging_level("info")).model_dump(exclude_none=True, by_alias=True) in (
            {},
            {"result_type": "complete"},
            {"resultType": "complete"},
        )
        await other.set_logging_level("error")
        log = get_logger("providers.registry")
        log.warning("failover in solutio: openai -> local (key sk-test-secret-value-1234567890 refused)")
        log.debug("too detailed for anyone")
        messages = await inbox.wait_for(types.LoggingMessageNotification)
        await asyncio.sleep(0.2)
    params = [m.params for m in inbox.of(types.LoggingMessageNotification)]
    assert [(p.level, p.logger) for p in params] == [("warning", "providers.registry")]
    assert "failover in solutio" in params[0].data and "sk-test-secret" not in params[0].data
    assert messages and not quiet.of(types.LoggingMessageNotification)  # its level is error


async def test_a_log_record_of_a_request_goes_to_the_client_that_made_it(service):
    a, b = Inbox(), Inbox()
    server = build_server(service)

    async def noisy() -> str:
        get_logger("providers.registry").info("retrying scripted in 0.10s (attempt 2 of 3)")
        return "done"

    server.add_tool(noisy, name="noisy_for_test")
    async with (
        Client(server, mode="legacy", message_handler=a) as first,
        Client(server, mode="legacy", message_handler=b) as second,
    ):
        await first.set_logging_level("debug")
        await second.set_logging_level("debug")
        await first.call_tool("noisy_for_test", {})
        await a.wait_for(types.LoggingMessageNotification)
        await asyncio.sleep(0.2)
    assert not b.of(types.LoggingMessageNotification)


async def test_no_log_notifications_before_a_client_sets_a_level(service):
    inbox = Inbox()
    async with Client(build_server(service), mode="legacy", message_handler=inbox):
        get_logger("providers.registry").warning("failover in solutio: openai -> local")
        await asyncio.sleep(0.2)
    assert not inbox.of(types.LoggingMessageNotification)


async def test_an_invalid_level_is_invalid_params(service):
    async with Client(build_server(service), mode="legacy") as client:
        with pytest.raises(MCPError) as caught:
            await client.session.send_request(
                types.SetLevelRequest(params=types.SetLevelRequestParams.model_construct(level="loud")),
                types.EmptyResult,
            )
        assert caught.value.error.code == -32602


async def test_a_subscribed_prompt_is_updated_on_a_new_version_and_on_deletion(service):
    inbox = Inbox()
    async with Client(fast(build_server(service)), mode="legacy", message_handler=inbox) as client:
        best = (await generated(client, "summarize git logs"))["best"]["id"]
        other = (await generated(client, "plan a trip"))["best"]["id"]
        uri = f"prompt://{best[:8]}"  # a unique prefix, as resources/read accepts
        await client.subscribe_resource(uri)
        await client.call_tool("update_prompt", {"id": other, "content": "Role: another prompt."})
        await asyncio.sleep(0.3)
        assert not inbox.of(types.ResourceUpdatedNotification)  # not the subscribed one
        await client.call_tool("update_prompt", {"id": best, "content": "Role: a better version. Task: {x}"})
        updates = await inbox.wait_for(types.ResourceUpdatedNotification)
        assert [u.params.uri for u in updates] == [uri]
        assert inbox.of(types.ResourceListChangedNotification)
        await client.call_tool("delete_prompt", {"id": best})
        await inbox.wait_for(types.ResourceUpdatedNotification, 2)
        await client.unsubscribe_resource(uri)
        await client.unsubscribe_resource(uri)  # twice is fine
        await client.call_tool("update_prompt", {"id": other, "content": "Role: a third prompt."})
        await asyncio.sleep(0.3)
        assert len(inbox.of(types.ResourceUpdatedNotification)) == 2


async def test_subscribing_to_an_unknown_resource_is_invalid_params(service):
    async with Client(build_server(service), mode="legacy") as client:
        for uri in ("test://watched-resource", "prompt://0000ffff-no-such-prompt"):
            with pytest.raises(MCPError) as caught:
                await client.subscribe_resource(uri)
            assert caught.value.error.code == -32602 and uri in caught.value.error.message


async def test_another_process_changing_the_library_is_announced(service, home):
    inbox = Inbox()
    async with Client(fast(build_server(service)), mode="legacy", message_handler=inbox) as client:
        await generated(client, "summarize git logs")
        await asyncio.sleep(0.2)
        before = len(inbox.of(types.PromptListChangedNotification))
        env = dict(
            os.environ,
            **{f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")},
        )
        listed = await client.list_resources()
        await asyncio.to_thread(
            subprocess.run,
            [str(SCRIPT), "generate", "write a haiku about {topic}", "--count", "1"],
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        await inbox.wait_for(types.ResourceListChangedNotification, 2)
        await inbox.wait_for(types.PromptListChangedNotification, before + 1)
        assert len((await client.list_resources()).resources) > len(listed.resources)


# ------------------------------------------------------------------------------------------------- completions


def ref_tool(name: str):
    return {"type": "ref/tool", "name": name}


async def complete(client: Client, ref, name: str, value: str) -> types.Completion:
    ref_value = ref if not isinstance(ref, dict) else types.PromptReference.model_construct(**ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (await client.complete(ref_value, {"name": name, "value": value})).completion


async def test_completion_of_prompt_ids_labels_personas_phases_providers_and_tags(service):
    async with Client(build_server(service), mode="legacy") as client:
        result = await client.call_tool(
            "generate_prompts", {"idea": "summarize git logs", "count": 1, "tags": ["release", "git"]}
        )
        best = result.structured_content["best"]["id"]
        await service.set_label(best, "release-notes")
        template = types.ResourceTemplateReference(type="ref/resource", uri="prompt://{prompt_id}")
        by_id = await complete(client, template, "prompt_id", best[:4])
        assert best in by_id.values and all(v.startswith(best[:4]) for v in by_id.values)
        assert (await complete(client, template, "prompt_id", "rel")).values == ["release-notes"]
        assert best in (await complete(client, ref_tool("get_prompt"), "id", best[:6])).values
        assert (await complete(client, ref_tool("generate_prompts"), "persona", "co")).values == ["code"]
        assert (await complete(client, ref_tool("generate_prompts"), "phases", "so")).values == ["solutio"]
        assert "local" in (await complete(client, ref_tool("generate_prompts"), "provider", "lo")).values
        assert (await complete(client, ref_tool("search_prompts"), "mode", "")).values == ["hybrid", "semantic", "text"]
        assert (await complete(client, ref_tool("generate_prompts"), "tags", "re")).values == ["release"]
        assert (await complete(client, ref_tool("generate_prompts"), "target_model", "scr")).values == ["scripted-v1"]


async def test_completion_of_a_published_prompt_argument_and_unknown_names(service):
    async with Client(build_server(service), mode="legacy") as client:
        result = await client.call_tool("generate_prompts", {"idea": "summarize git logs", "count": 1})
        best = result.structured_content["best"]["id"]
        named = await service.set_label(best, "release-notes")
        published = f"{named['prompt_name']}@release-notes"  # a label is published under its prompt name
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert published in prompts
        argument_names = [a.name for a in prompts[published].arguments or ()]
        for name in argument_names[:1]:
            assert (await complete(client, {"type": "ref/prompt", "name": published}, name, "")).values == []
        bad = [
            ({"type": "ref/prompt", "name": "test_prompt_with_arguments"}, "arg1"),
            ({"type": "ref/prompt", "name": published}, "no_such_argument"),
            (types.ResourceTemplateReference(type="ref/resource", uri="test://template/{id}"), "id"),
            (ref_tool("transmute_lead"), "id"),
            (ref_tool("generate_prompts"), "no_such_argument"),
        ]
        for ref, argument in bad:
            with pytest.raises(MCPError) as caught:
                await complete(client, ref, argument, "x")
            assert caught.value.error.code == -32602, (ref, argument)

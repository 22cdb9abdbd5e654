"""One request model: PromptRequest's fields, with the same descriptions and limits, on every interface (the REST
OpenAPI schema, the MCP tool's input schema, the CLI's options), and a REST generate that uses judge, cache and
context against a real server."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from mcp import Client
from testkit import Server

from prompt_alchemy.api.openapi import build_openapi
from prompt_alchemy.cli import app as cli_app
from prompt_alchemy.mcp.server import build_server
from prompt_alchemy.models import PromptRequest
from prompt_alchemy.request_fields import REQUEST_FIELDS

#: Fields an interface leaves out, and why. Anything else missing from an interface fails the tests below.
SERVER_PATHS = "paths on the machine that runs the request: over HTTP that is the server, so only local callers"
REST_EXCLUDED = {"context_files": SERVER_PATHS}
MCP_EXCLUDED = {"context_files": SERVER_PATHS}
CLI_EXCLUDED = {"context": "the CLI gives files (--context FILE), read into context items"}
#: Options that are about the interface, not the request.
REST_ONLY = {"stream"}
CLI_ONLY = {
    "output",
    "interactive",
    "stream",
    "run_async",
    "show_all",
    "quiet",
}  # how the CLI prints or runs, not what it asks

_LIMIT_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")


def limits(prop: dict[str, Any]) -> dict[str, Any]:
    """The JSON-schema limits of a property, looking inside `anyOf` (an optional field is `X | null`)."""
    found = {k: prop[k] for k in _LIMIT_KEYS if k in prop}
    for branch in prop.get("anyOf", []):
        found |= {k: branch[k] for k in _LIMIT_KEYS if k in branch}
    return found


MODEL_PROPS = PromptRequest.model_json_schema()["properties"]


def check_props(props: dict[str, Any], excluded: dict[str, str], interface_only: set[str]) -> None:
    expected = set(PromptRequest.model_fields) - set(excluded)
    assert set(props) - interface_only == expected, "fields missing from, or only in, the interface"
    for name in expected:
        assert props[name].get("description") == REQUEST_FIELDS[name].description, name
        assert limits(props[name]) == limits(MODEL_PROPS[name]), name


def test_the_model_takes_every_description_and_limit_from_the_one_table():
    assert set(REQUEST_FIELDS) == set(PromptRequest.model_fields)
    for name, spec in REQUEST_FIELDS.items():
        prop = MODEL_PROPS[name]
        assert prop["description"] == spec.description
        expected = {
            "ge": "minimum",
            "le": "maximum",
            "gt": "exclusiveMinimum",
            "min_length": "minLength",
            "max_length": "maxLength",
        }
        assert limits(prop) == {expected[k]: v for k, v in spec.limits().items()}, name
    assert limits(MODEL_PROPS["count"]) == {"minimum": 1, "maximum": 10}  # the table is not empty of limits


def test_rest_openapi_body_has_every_field_with_the_same_limits():
    doc = build_openapi("test")
    body = doc["paths"]["/api/v1/generate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    check_props(body["properties"], REST_EXCLUDED, REST_ONLY)
    assert body["required"] == ["idea"]
    assert body.get("additionalProperties") is False


async def test_mcp_tool_input_schema_has_every_field_with_the_same_limits(service):
    async with Client(build_server(service)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["generate_prompts"].input_schema
    check_props(schema["properties"], MCP_EXCLUDED, set())
    assert schema["required"] == ["idea"]


def test_cli_options_cover_every_field_with_help_from_the_model():
    command = typer.main.get_command(cli_app).commands["generate"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    expected = set(PromptRequest.model_fields) - set(CLI_EXCLUDED)
    assert set(params) - CLI_ONLY == expected, "fields missing from, or only in, the CLI"
    for name in expected:
        spec = REQUEST_FIELDS[name]
        text = getattr(params[name], "help", None) or ""
        assert text.startswith(spec.description), name
        assert spec.limits_text() in text, name
    assert "1 to 10" in params["count"].help


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--count", "11"], "invalid count: Input should be less than or equal to 10"),
        (["--temperature", "2.5"], "invalid temperature: Input should be less than or equal to 2"),
        (["--max-cost", "0"], "invalid max_cost: Input should be greater than 0"),
        (["--persona", "p" * 101], "invalid persona: String should have at most 100 characters"),
    ],
)
def test_cli_limits_are_the_models_and_errors_are_one_line_exit_2(cli, home, args, expected):
    proc = cli("generate", "--provider", "scripted", *args, "an idea")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {expected}" and proc.stdout == ""
    assert not list(home.rglob("*.db")), "bad input wrote to disk"


# ---------------------------------------------------------------- REST generate with judge, cache and context


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    server = Server(
        tmp_path_factory.mktemp("request"),
        {"PROMPT_ALCHEMY_RANKING__JUDGE_PROVIDER": "scripted", "PROMPT_ALCHEMY_GATEWAY__CACHE_SKIP_PROVIDERS": "[]"},
    )
    yield server
    server.stop()


def _judged(gen: dict[str, Any]) -> bool:
    finals = [p["id"] for p in gen["prompts"] if p["phase"] == gen["phases"][-1]]
    return all(
        any(c["name"] == "judge" for c in gen["scores"][pid]["components"])
        or any("judge" in n for n in gen["scores"][pid]["notes"])
        for pid in finals
    )


@pytest.mark.e2e
def test_rest_generate_takes_judge_cache_and_context(judge_server):
    c = judge_server.client()
    idea = {"idea": "a checklist for reviewing database migrations", "count": 1, "phases": ["idea"]}

    plain = c.post("/api/v1/generate", json={**idea, "use_cache": False})
    assert plain.status_code == 200, plain.text
    plain_gen = plain.json()
    assert not _judged(plain_gen)

    note = "Our team uses PostgreSQL 16 and every migration must be reversible. " * 40
    with_context = c.post(
        "/api/v1/generate",
        json={
            **idea,
            "use_cache": False,
            "judge": True,
            "context": [{"source": "team-notes.md", "content": note, "context_type": "text"}],
        },
    )
    assert with_context.status_code == 200, with_context.text
    gen = with_context.json()
    assert _judged(gen)
    # The scripted provider counts a call's input as its characters / 4: the context reached the phase.
    grown = gen["prompts"][0]["input_tokens"] - plain_gen["prompts"][0]["input_tokens"]
    assert grown >= len(note) // 4 - 10

    again = c.post("/api/v1/generate", json=idea).json()  # the same calls as the first run: answered from cache
    assert any("response cache" in e for e in again["events"]), again["events"]
    uncached = c.post("/api/v1/generate", json={**idea, "use_cache": False}).json()
    assert not any("response cache" in e for e in uncached["events"])

    refused = c.post("/api/v1/generate", json={**idea, "context_files": ["/etc/passwd"]})
    assert refused.status_code == 400 and "context_files" in refused.text
    too_many = c.post("/api/v1/generate", json={**idea, "count": 11})
    assert too_many.status_code == 400 and "count" in too_many.text

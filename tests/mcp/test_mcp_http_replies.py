"""The HTTP app answers a request without a progress token with one plain JSON body and a request with one with
an SSE stream carrying its progress notifications; both in one session, at the same time. The server is the real
app under uvicorn on a real socket on 127.0.0.1, driven over the wire (httpx) and by the SDK's HTTP client."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from mcp import Client

from prompt_alchemy.mcp.http import MAX_PEEK_BYTES, build_http_app, wants_plain_reply
from prompt_alchemy.mcp.server import build_server

PROTOCOL = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


@pytest.fixture
async def url(service):
    import uvicorn

    service.store.save_prompts(_prompts())
    app = build_http_app(build_server(service), host="127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    server.should_exit = True
    await task


def _prompts():
    from prompt_alchemy.models import Phase, Prompt

    return [
        Prompt(
            content=f"Explain {topic} to a new colleague with three examples.",
            phase=Phase.COAGULATIO,
            title=topic,
            provider="scripted",
        )
        for topic in ("git rebase", "unit tests", "tea ceremonies")
    ]


class Wire:
    """One MCP session spoken directly: initialize, notifications/initialized, then requests with its session id."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url, self.session, self.next_id = http, url, None, 0
        self.types: list[str] = []  # the content type of every reply

    def headers(self) -> dict[str, str]:
        headers = {"accept": ACCEPT, "content-type": "application/json"}
        if self.session:
            headers |= {"mcp-session-id": self.session, "mcp-protocol-version": PROTOCOL}
        return headers

    async def open(self) -> Wire:
        reply, _ = await self.request(
            "initialize",
            {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "wire-test", "version": "1"}},
        )
        assert reply["result"]["serverInfo"]["name"] == "prompt-alchemy"
        done = await self.http.post(
            self.url,
            headers=self.headers(),
            content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        assert done.status_code == 202
        return self

    async def request(self, method: str, params: dict, body: bytes | None = None) -> tuple[dict, list[dict]]:
        """The reply to one request, and the messages that came before it (SSE only); checks the content type."""
        self.next_id += 1
        request_id = self.next_id
        body = body or json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
        response = await self.http.post(self.url, headers=self.headers(), content=body)
        assert response.status_code == 200, response.text
        self.session = self.session or response.headers["mcp-session-id"]
        kind = response.headers["content-type"].split(";")[0]
        self.types.append(kind)
        if kind == "application/json":
            return response.json(), []
        assert kind == "text/event-stream"
        messages = [
            json.loads(line[len("data: ") :])
            for line in response.text.splitlines()
            if line.startswith("data: ") and line.strip() != "data:"
        ]
        assert messages and messages[-1]["id"] == request_id, response.text
        return messages[-1], messages[:-1]


def plain(reply_and_before: tuple[dict, list[dict]]) -> dict:
    reply, before = reply_and_before
    assert before == []
    return reply


async def test_calls_without_a_progress_token_get_plain_json(url):
    async with httpx.AsyncClient(timeout=60) as http:
        wire = await Wire(http, url).open()
        assert wire.types == ["text/event-stream"]  # initialize: the SDK's default
        tools = plain(await wire.request("tools/list", {}))
        assert "search_prompts" in {t["name"] for t in tools["result"]["tools"]}
        found = plain(
            await wire.request(
                "tools/call", {"name": "search_prompts", "arguments": {"query": "git rebase", "mode": "text"}}
            )
        )
        data = found["result"]["structuredContent"]
        assert data["count"] >= 1 and data["results"][0]["title"] == "git rebase"
        assert "git rebase" in found["result"]["content"][0]["text"]
        bad = plain(await wire.request("tools/call", {"name": "get_prompt", "arguments": {"id": "ffff0000"}}))
        assert bad["result"]["isError"] is True and "no prompt" in bad["result"]["content"][0]["text"]
        listed = plain(await wire.request("resources/list", {}))
        assert len([r for r in listed["result"]["resources"] if r["uri"].startswith("prompt://")]) == 3
        assert wire.types[1:] == ["application/json"] * 4


async def test_a_call_with_a_progress_token_streams_its_progress_then_the_result(url):
    async with httpx.AsyncClient(timeout=60) as http:
        wire = await Wire(http, url).open()
        reply, before = await wire.request(
            "tools/call",
            {
                "name": "generate_prompts",
                "_meta": {"progressToken": "gen-1"},
                "arguments": {"idea": "a CLI that summarizes git logs", "count": 2, "save": False},
            },
        )
        assert reply["result"].get("isError") is not True, reply
        assert len(reply["result"]["structuredContent"]["prompts"]) == 6
        assert {m["method"] for m in before} == {"notifications/progress"}
        phases = [m for m in before if float(m["params"]["progress"]).is_integer()]  # partial text in between
        assert [m["params"]["progress"] for m in phases] == [1, 2, 3, 4, 5, 6]
        assert {m["params"]["progressToken"] for m in before} == {"gen-1"}
        # a progress token of 0 is a token too
        reply, before = await wire.request(
            "tools/call",
            {
                "name": "generate_prompts",
                "_meta": {"progressToken": 0},
                "arguments": {"idea": "a haiku about rivers", "count": 1, "save": False},
            },
        )
        assert len([m for m in before if float(m["params"]["progress"]).is_integer()]) == 3
        assert reply["result"].get("isError") is not True


async def test_plain_and_streamed_calls_at_once_in_one_session(url):
    async with httpx.AsyncClient(timeout=60) as http:
        wire = await Wire(http, url).open()
        streamed = wire.request(
            "tools/call",
            {
                "name": "generate_prompts",
                "_meta": {"progressToken": "p"},
                "arguments": {"idea": "a CLI that summarizes git logs", "count": 3, "save": False},
            },
        )
        searches = [
            wire.request("tools/call", {"name": "search_prompts", "arguments": {"query": topic, "mode": "text"}})
            for topic in ("unit tests", "tea ceremonies", "git rebase") * 3
        ]
        (gen, progress), *found = await asyncio.gather(streamed, *searches)
    assert len([m for m in progress if float(m["params"]["progress"]).is_integer()]) == 9
    assert len(gen["result"]["structuredContent"]["prompts"]) == 9
    for (reply, before), topic in zip(found, ("unit tests", "tea ceremonies", "git rebase") * 3):
        assert before == [] and reply["result"]["structuredContent"]["results"][0]["title"] == topic


async def test_the_sdk_client_gets_results_and_progress(url):
    events = []

    async def on_progress(progress, total, message):
        events.append(progress)

    async with Client(url, mode="legacy") as client:
        found = await client.call_tool("search_prompts", {"query": "tea ceremonies", "mode": "text"})
        assert not found.is_error and found.structured_content["results"][0]["title"] == "tea ceremonies"
        generated = await client.call_tool(
            "generate_prompts", {"idea": "an HTTP idea", "count": 1, "save": False}, progress_callback=on_progress
        )
        assert not generated.is_error and [e for e in events if float(e).is_integer()] == [1, 2, 3]
        events.clear()
        batch = await client.call_tool(
            "batch_generate", {"items": [{"idea": "a"}, {"idea": "b"}], "save": False}, progress_callback=on_progress
        )
        assert not batch.is_error and batch.structured_content["generated"] == 2 and sorted(events) == [1, 2]
        bad = await client.call_tool("generate_prompts", {"idea": "x", "phases": ["alembic"]})
        assert bad.is_error


async def test_a_body_too_large_to_inspect_is_passed_on_whole(url):
    async with httpx.AsyncClient(timeout=60) as http:
        wire = await Wire(http, url).open()
        query = "tea " * (MAX_PEEK_BYTES // 4 + 1000)
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {"name": "search_prompts", "arguments": {"query": query}},
            }
        ).encode()
        assert len(body) > MAX_PEEK_BYTES
        wire.next_id = 98
        reply, _ = await wire.request("tools/call", {}, body=body)
        assert wire.types[-1] == "text/event-stream"  # not inspected: the SDK's default
        assert reply["result"]["isError"] is True
        assert f"{len(query.strip()):,} characters" in reply["result"]["content"][0]["text"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_prompts"}}', True),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', True),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": {"progressToken": "t"}}}', False),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": {"progressToken": 0}}}', False),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": {"progressToken": null}}}', True),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}', False),
        (b'{"jsonrpc": "2.0", "method": "notifications/initialized"}', False),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', False),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": []}', True),
        (b"not json", False),
    ],
)
def test_which_requests_get_a_plain_reply(body, expected):
    assert wants_plain_reply(body) is expected

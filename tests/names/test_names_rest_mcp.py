"""Named prompts over a real team server on both backends: REST versions, labels (a protected one needs an admin
key) and reads by NAME, NAME@LABEL and NAME@VERSION; MCP prompts/get and the prompt://NAME@LABEL resource."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from testkit import Server

TEXT = "You are a film critic. Review {movie} in {words} words."


@pytest.fixture
def server(backend, tmp_path):
    env = {"PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true"}
    if os.environ.get("PROMPT_ALCHEMY_DATABASE_URL"):
        env["PROMPT_ALCHEMY_DATABASE_URL"] = os.environ["PROMPT_ALCHEMY_DATABASE_URL"]
    home = tmp_path / "srv"
    home.mkdir()
    srv = Server(home, env)
    yield srv
    srv.stop()


async def test_rest_and_mcp_by_name_and_label(server):
    writer = server.client(server.create_key("writer", "write"))
    boss = server.client(server.create_key("boss", "admin"))
    v1 = writer.post("/api/v1/names/movie-critic/versions", json={"content": "Review {movie}."})
    assert v1.status_code == 201 and v1.json()["version"] == 1
    v2 = writer.post("/api/v1/names/movie-critic/versions", json={"content": TEXT, "label": "staging"}).json()
    assert v2["version"] == 2 and v2["label"]["version"] == 2
    other = writer.post("/api/v1/names/linux-terminal/versions", json={"content": "Act as a Linux terminal."})
    assert writer.put("/api/v1/names/movie-critic/labels/production", json={"version": 1}).status_code == 200
    assert writer.put("/api/v1/names/linux-terminal/labels/production", json={}).json()["previous_id"] is None

    got = writer.get("/api/v1/prompts/movie-critic@production").json()["prompt"]
    assert (got["id"], got["name"], got["version"], got["labels"]) == (
        v1.json()["prompt_id"],
        "movie-critic",
        1,
        ["production"],
    )
    assert writer.get("/api/v1/prompts/movie-critic").json()["prompt"]["id"] == v2["prompt_id"]
    assert writer.get("/api/v1/prompts/movie-critic@2").json()["prompt"]["version"] == 2
    assert writer.get("/api/v1/prompts/linux-terminal@production").json()["prompt"]["id"] == other.json()["prompt_id"]
    missing = writer.get("/api/v1/prompts/movie-critic@9")
    assert missing.status_code == 404 and "has no version 9" in missing.json()["error"]["message"]
    versions = writer.get("/api/v1/names/movie-critic").json()
    assert [(v["version"], v["labels"]) for v in versions["versions"]] == [(1, ["production"]), (2, ["staging"])]
    assert {n["name"] for n in writer.get("/api/v1/names").json()["names"]} == {"movie-critic", "linux-terminal"}

    assert writer.put("/api/v1/labels/production/protection", json={"protected": True}).status_code == 403
    assert boss.put("/api/v1/labels/production/protection", json={"protected": True}).status_code == 200
    refused = writer.put("/api/v1/names/movie-critic/labels/production", json={"version": 2})
    assert refused.status_code == 403 and "protected" in refused.json()["error"]["message"]
    assert writer.get("/api/v1/prompts/movie-critic@production").json()["prompt"]["version"] == 1
    moved = boss.put("/api/v1/names/movie-critic/labels/production", json={"version": 2}).json()
    assert (moved["previous_version"], moved["version"]) == (1, 2)
    audit = boss.get("/api/v1/audit", params={"action": "label.set"}).json()["rows"]
    assert [r["actor"] for r in audit][:1] == ["boss"] and audit[0]["targets"] == [
        v2["prompt_id"],
        v1.json()["prompt_id"],
    ]

    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx.AsyncClient(headers={"Authorization": writer.headers["Authorization"]}, timeout=60)
    async with Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
        listed = {p.name for p in (await client.list_prompts()).prompts}
        assert {
            "movie-critic",
            "movie-critic@production",
            "movie-critic@staging",
            "linux-terminal@production",
        } <= listed
        filled = await client.get_prompt("movie-critic@production", {"movie": "Alien", "words": "50"})
        assert filled.messages[0].content.text == "You are a film critic. Review Alien in 50 words."
        resource = await client.read_resource("prompt://movie-critic@production")
        assert json.loads(resource.contents[0].text)["id"] == v2["prompt_id"]
        old = await client.read_resource("prompt://movie-critic@1")
        assert json.loads(old.contents[0].text)["content"] == "Review {movie}."
        shown = json.loads(resource.contents[0].text)
        assert (shown["name"], shown["version"], shown["labels"]) == ("movie-critic", 2, ["production", "staging"])
        assert (json.loads(old.contents[0].text)["name"], json.loads(old.contents[0].text)["version"]) == (
            "movie-critic",
            1,
        )
    await http.aclose()

"""Each role's allowed and refused actions, and two projects that cannot see or change each other's prompts, over
REST, MCP and the team server's viewer, with people signed in through the real `oidc-provider`.

team-a (people signed in by the browser): ana owner, mo member. team-b (service clients over REST and MCP): olga
owner, bob member, vera viewer; val (browser) viewer. alice is a member of the default project. Each project has
its named prompt with `production` (protected) and `staging` at v1. The tests move labels, so each test puts what
it moved back."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
import pytest
from oidc_kit import browser_or_skip, local_only, oidc_env, seed_projects, sign_in, viewer_writes
from testkit import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def team(provider, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("roles"), oidc_env(provider))
    try:
        yield server, seed_projects(server)
    finally:
        server.stop()


def _label_version(client: httpx.Client, name: str, label: str) -> int:
    r = client.get(f"/api/v1/names/{name}")
    assert r.status_code == 200, r.text
    return next(lb["version"] for lb in r.json()["labels"] if lb["name"] == label)


def _move(client: httpx.Client, name: str, label: str, version: int) -> httpx.Response:
    return client.put(f"/api/v1/names/{name}/labels/{label}", json={"version": version})


def test_rest_each_role_in_its_project(team, provider):
    server, seeded = team
    name = seeded["team-b"]["name"]
    vera, bob, olga = (server.client(provider.token(c)) for c in ("svc-vera", "svc-bob", "svc-olga"))
    # viewer: reads, never writes
    assert vera.get(f"/api/v1/names/{name}").status_code == 200
    assert _move(vera, name, "staging", 2).status_code == 403
    assert vera.post(f"/api/v1/names/{name}/versions", json={"content": "A viewer's text."}).status_code == 403
    # member: moves staging, not the protected production
    assert _move(bob, name, "staging", 2).status_code == 200
    refused = _move(bob, name, "production", 2)
    assert refused.status_code == 403 and "protected" in refused.json()["error"]["message"]
    assert _label_version(bob, name, "production") == 1
    # owner: moves production
    assert _move(olga, name, "production", 2).status_code == 200
    assert _label_version(bob, name, "production") == 2
    assert _move(olga, name, "production", 1).status_code == 200
    assert _move(bob, name, "staging", 1).status_code == 200


def test_rest_another_projects_prompts_do_not_exist(team, provider):
    server, seeded = team
    alice = server.client(provider.token("svc-alice"))  # a member of the default project
    b = seeded["team-b"]
    assert alice.get(f"/api/v1/prompts/{b['v1']}").status_code == 404
    assert alice.get(f"/api/v1/names/{b['name']}").status_code == 404
    assert _move(alice, b["name"], "staging", 2).status_code == 404
    assert alice.delete(f"/api/v1/prompts/{b['v1']}").status_code == 404
    names = alice.get("/api/v1/names").json()["names"]
    assert b["name"] not in json.dumps(names)
    bob = server.client(provider.token("svc-bob"))
    assert _label_version(bob, b["name"], "staging") == 1
    # asking for a project one has no role in is refused, not answered from another project
    other = httpx.get(
        f"{server.url}/api/v1/prompts",
        headers={"Authorization": f"Bearer {provider.token('svc-bob')}", "X-Project": "team-a"},
    )
    assert other.status_code == 403


@asynccontextmanager
async def mcp_client(server: Server, token: str):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        yield client


def test_mcp_each_role_and_project(team, provider):
    server, seeded = team
    a, b = seeded["team-a"], seeded["team-b"]

    async def run() -> None:
        async with mcp_client(server, provider.token("svc-vera")) as vera:
            assert not (await vera.call_tool("get_prompt", {"id": b["v1"]})).is_error
            denied = await vera.call_tool("update_prompt", {"id": b["v2"], "tags": ["x"]})
            assert denied.is_error and "scope" in denied.content[0].text
        async with mcp_client(server, provider.token("svc-bob")) as bob:
            assert (await bob.call_tool("get_prompt", {"id": a["v1"]})).is_error
            assert (await bob.call_tool("update_prompt", {"id": a["v1"], "tags": ["x"]})).is_error
            labels = await bob.call_tool("list_labels", {})
            assert not labels.is_error, labels.content
            assert {lb["prompt_name"] for lb in labels.structured_content["labels"]} == {b["name"]}
            found = await bob.call_tool("search_prompts", {"query": "release notes", "mode": "text"})
            assert a["v1"] not in json.dumps(found.structured_content)
            edited = await bob.call_tool("update_prompt", {"id": b["v1"], "tags": ["weekly"]})
            assert not edited.is_error, edited.content

    asyncio.run(run())


@pytest.fixture(scope="module")
def browser():
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def _person(browser, server: Server, login: str):
    context = browser.new_context()
    local_only(context)
    page = context.new_page()
    sign_in(page, server.url, login)
    return context, page


def test_viewer_each_role_and_project(team, browser):
    server, seeded = team
    a, b = seeded["team-a"], seeded["team-b"]
    origin = server.url
    put = {"headers": viewer_writes(origin), "data": json.dumps({"version": 2})}
    back = {"headers": viewer_writes(origin), "data": json.dumps({"version": 1})}
    base = f"{server.url}/viewer/api"

    # val, a viewer of team-b: reads its prompts, changes nothing
    context, page = _person(browser, server, "val")
    try:
        assert page.locator("#who").get_attribute("data-role") == "viewer"
        assert context.request.get(f"{base}/prompts/{b['v1']}").status == 200
        rate = context.request.post(
            f"{base}/prompts/{b['v1']}/rate", headers=viewer_writes(origin), data=json.dumps({"rating": 5})
        )
        assert rate.status == 403 and "read only" in rate.json()["error"]["message"]
        assert context.request.put(f"{base}/names/{b['name']}/labels/staging", **put).status == 403
    finally:
        context.close()

    # mo, a member of team-a: moves staging from the page, not production; team-b does not exist for him
    context, page = _person(browser, server, "mo")
    try:
        page.goto(f"{server.url}/viewer/#/prompt/{a['v2']}")
        page.click("button.move-label[data-label=staging]")
        page.wait_for_selector("li[data-label=staging][data-version='2']")
        assert page.locator("button.move-label[data-label=production]").count() == 0  # protected: not offered
        production = context.request.put(f"{base}/names/{a['name']}/labels/production", **put)
        assert production.status == 403 and "protected" in production.json()["error"]["message"]
        assert context.request.get(f"{base}/prompts/{b['v1']}").status == 404
        assert context.request.put(f"{base}/names/{b['name']}/labels/staging", **put).status == 404
        search = context.request.get(f"{base}/search?q=meal&mode=text").json()
        assert search["results"] == []
        # a change without the page's CSRF header, or from another site, is refused
        bare = context.request.put(
            f"{base}/names/{a['name']}/labels/staging",
            headers={"Origin": origin, "Content-Type": "application/json"},
            data=json.dumps({"version": 1}),
        )
        assert bare.status == 403
        cross = context.request.put(
            f"{base}/names/{a['name']}/labels/staging",
            headers={**viewer_writes("http://evil.example"), "Origin": "http://evil.example"},
            data=json.dumps({"version": 1}),
        )
        assert cross.status == 403
        assert context.request.put(f"{base}/names/{a['name']}/labels/staging", **back).status == 200
    finally:
        context.close()

    # ana, the owner of team-a: moves production, from the page too
    context, page = _person(browser, server, "ana")
    try:
        page.goto(f"{server.url}/viewer/#/prompt/{a['v2']}")
        page.click("button.move-label[data-label=production]")
        page.wait_for_selector("li[data-label=production][data-version='2']")
        assert context.request.put(f"{base}/names/{a['name']}/labels/production", **back).status == 200
    finally:
        context.close()

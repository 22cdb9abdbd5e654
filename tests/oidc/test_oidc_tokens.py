"""OIDC access tokens on REST and MCP over HTTP, against a REAL provider: the npm package `oidc-provider` run by Node
(tests/oidc/provider.mjs) issuing JWT access tokens through its token endpoint. Users are created on first sign-in
with roles from the `pa_roles` claim; two users in two projects cannot see or change each other's prompts; a viewer
cannot write; a wrong audience, an expired token, a forged signature and a disabled user are refused."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from oidc_kit import oidc_env
from testkit import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(provider, tmp_path_factory):
    server = Server(
        tmp_path_factory.mktemp("oidc"),
        oidc_env(provider),
    )
    yield server
    server.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _import(client: httpx.Client, *contents: str) -> httpx.Response:
    body = "\n".join(json.dumps({"content": c}) for c in contents)
    return client.post("/api/v1/import", json={"format": "jsonl", "content": body})


@asynccontextmanager
async def mcp_client(server: Server, token: str):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        yield client


def test_signed_in_users_of_two_projects_are_isolated_over_rest_and_mcp(provider, server):
    alice = server.client(provider.token("svc-alice"))
    bob = server.client(provider.token("svc-bob"))
    vera = server.client(provider.token("svc-vera"))
    assert _import(alice, "Summarise the quarterly sales memo for the board.").status_code == 200
    assert _import(bob, "Draft a polite reminder about the unpaid sales invoice.").status_code == 200
    a_prompts = alice.get("/api/v1/prompts").json()["prompts"]
    b_prompts = bob.get("/api/v1/prompts").json()["prompts"]
    assert len(a_prompts) == 1 and len(b_prompts) == 1
    a_id, b_id = a_prompts[0]["id"], b_prompts[0]["id"]
    assert (a_prompts[0]["project_id"], a_prompts[0]["created_by"]) == ("default", "svc-alice")
    assert (b_prompts[0]["project_id"], b_prompts[0]["created_by"]) == ("team-b", "svc-bob")
    assert bob.get(f"/api/v1/prompts/{a_id}").status_code == 404
    assert bob.delete(f"/api/v1/prompts/{a_id}").status_code == 404
    assert alice.patch(f"/api/v1/prompts/{b_id}", json={"tags": ["x"]}).status_code == 404
    # a viewer of team-b reads its prompts and cannot write
    assert vera.get(f"/api/v1/prompts/{b_id}").status_code == 200
    refused = _import(vera, "A viewer tries to write.")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert vera.delete(f"/api/v1/prompts/{b_id}").status_code == 403

    # users were created on first sign-in, with the roles of the claim; the audit names them
    users = {u["handle"]: u for u in json.loads(server.cli("users", "list", "--output", "json").stdout)}
    assert users["svc-alice"]["roles"] == {"default": "member"}
    assert users["svc-bob"]["roles"] == {"team-b": "member"}
    assert users["svc-vera"]["roles"] == {"team-b": "viewer"}
    audit = json.loads(server.cli("audit", "list", "--output", "json", "--limit", "100").stdout)
    rows = audit["rows"] if isinstance(audit, dict) else audit
    assert {"svc-alice", "svc-bob"} <= {r["actor"] for r in rows if r["action"] == "import"}

    async def over_mcp() -> None:
        async with mcp_client(server, provider.token("svc-bob")) as client:
            found = await client.call_tool("search_prompts", {"query": "sales", "mode": "text"})
            assert not found.is_error, found.content
            assert [r["id"] for r in found.structured_content["results"]] == [b_id]
            other = await client.call_tool("get_prompt", {"id": a_id})
            assert other.is_error
            mine = await client.call_tool("get_prompt", {"id": b_id})
            assert not mine.is_error, mine.content
        async with mcp_client(server, provider.token("svc-vera")) as client:
            denied = await client.call_tool("delete_prompt", {"id": b_id})
            assert denied.is_error and "scope" in denied.content[0].text

    asyncio.run(over_mcp())
    assert bob.get(f"/api/v1/prompts/{b_id}").status_code == 200


def test_bad_tokens_are_refused(provider, server):
    def refused(token: str) -> str:
        r = server.client(token).get("/api/v1/prompts")
        assert r.status_code == 401, r.text
        return str(r.json()["error"]["message"])

    assert "audience" in refused(provider.token("svc-alice", resource="https://other.example"))
    short = provider.token("svc-short")
    assert server.client(short).get("/api/v1/prompts").status_code == 200
    deadline = time.time() + 10
    while time.time() <= _claims(short)["exp"] and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.1)  # past exp by more than a second: the server allows no leeway here
    assert "expired" in refused(short)

    good = provider.token("svc-alice")
    header, payload, signature = good.split(".")
    tampered = _claims(good) | {"pa_roles": ["default:owner"], "sub": "svc-bob"}
    assert "signature" in refused(".".join([header, _b64(json.dumps(tampered).encode()), signature]))

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(good), forger, algorithm="RS256", headers={"kid": "test-key-1", "typ": "at+jwt"})
    assert "signature" in refused(forged)
    unsigned = ".".join([_b64(json.dumps({"alg": "none", "kid": "test-key-1"}).encode()), payload, ""])
    assert server.client(unsigned).get("/api/v1/prompts").status_code == 401


def test_a_disabled_user_is_refused_until_enabled(provider, server):
    token = provider.token("svc-alice")
    assert server.client(token).get("/api/v1/prompts").status_code == 200
    assert server.cli("users", "disable", "svc-alice").returncode == 0
    r = server.client(token).get("/api/v1/prompts")
    assert r.status_code == 403 and "disabled" in r.json()["error"]["message"]
    assert server.client(provider.token("svc-alice")).get("/api/v1/prompts").status_code == 403
    assert server.cli("users", "enable", "svc-alice").returncode == 0
    assert server.client(token).get("/api/v1/prompts").status_code == 200

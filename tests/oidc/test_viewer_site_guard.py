"""The team server viewer's cookie and write checks, in process: the session cookie is HttpOnly, SameSite=Lax and
scoped to /viewer, and Secure (under the `__Secure-` name) only when the request came over https; a write must
carry the page's CSRF header and an Origin naming the host it was sent to, behind a TLS proxy too."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from prompt_alchemy.viewer.guard import ViewerGuard
from prompt_alchemy.viewer.signin import SessionCookies


async def _remember(request: Request) -> JSONResponse:
    request.session["seen"] = True
    return JSONResponse({"ok": True})


def _site() -> SessionCookies:
    inner = Starlette(routes=[Route("/viewer/x", _remember, methods=["GET", "POST"])])
    return SessionCookies(ViewerGuard(inner, site=True), secret="test-secret", max_age=60)


def test_the_session_cookie_is_secure_only_over_https():
    for base, name, secure in (
        ("http://127.0.0.1:8080", "pa_viewer", False),
        ("https://prompts.example.com", "__Secure-pa_viewer", True),
    ):
        cookie = TestClient(_site(), base_url=base).get("/viewer/x").headers["set-cookie"]
        parts = [p.strip().lower() for p in cookie.split(";")]
        assert cookie.startswith(name + "="), cookie
        assert {"httponly", "samesite=lax", "path=/viewer"} <= set(parts), cookie
        assert ("secure" in parts) == secure, cookie


def test_a_write_needs_the_csrf_header_and_a_same_origin():
    client = TestClient(_site(), base_url="https://prompts.example.com")
    good = {"Origin": "https://prompts.example.com", "X-Prompt-Alchemy": "1", "Content-Type": "application/json"}
    assert client.post("/viewer/x", headers=good, content=b"{}").status_code == 200
    for changed in (
        {"X-Prompt-Alchemy": ""},  # no CSRF header
        {"Origin": "https://evil.example"},  # another site
        {"Origin": "https://prompts.example.com:8443"},  # another port of the same host
        {"Origin": "null"},
    ):
        answer = client.post("/viewer/x", headers={**good, **changed}, content=b"{}")
        assert answer.status_code == 403, (changed, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    form = client.post("/viewer/x", headers={**good, "Content-Type": "text/plain"}, content=b"{}")
    assert form.status_code == 415

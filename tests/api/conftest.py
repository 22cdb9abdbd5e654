"""A real `prompt-alchemy serve --transport http` process on 127.0.0.1 (scripted providers), shared by a module,
with keys created through the real CLI against the same library."""

from __future__ import annotations

import pytest
from testkit import Server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """Loopback without require_auth: keys optional (but checked when sent)."""
    server = Server(tmp_path_factory.mktemp("open"), {"PROMPT_ALCHEMY_LOGGING__FORMAT": "json"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """Loopback with server.require_auth: every /api/v1 and /mcp request needs a key."""
    server = Server(tmp_path_factory.mktemp("auth"), {"PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true"})
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path):
    """Servers of the test's own, stopped after it: `make_server(name, extra_env)` starts one in tmp_path/name."""
    started: list[Server] = []

    def make(name: str, extra_env: dict[str, str] | None = None) -> Server:
        home = tmp_path / name
        home.mkdir(parents=True, exist_ok=True)
        started.append(Server(home, extra_env))
        return started[-1]

    yield make
    for server in started:
        server.stop()

"""A real `prompt-alchemy serve --transport http` process on 127.0.0.1 (scripted providers), shared by a module,
with keys created through the real CLI against the same library."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}


class Server:
    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
        self.env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home), **(extra_env or {}))
        self.log = home / "server.log"
        self.proc = subprocess.Popen([str(SCRIPT), "serve", "--transport", "http", "--host", "127.0.0.1",
                                      "--port", "0", "--log-file", str(self.log)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = self._wait()

    def _wait(self) -> str:
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited: " + self.proc.stderr.read())
            text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)/mcp", text)
            if match:
                return match.group(1)
            time.sleep(0.1)
        raise AssertionError("server did not start")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=60)

    def create_key(self, name: str, scope: str, *extra: str) -> str:
        proc = self.cli("keys", "create", "--name", name, "--scope", scope, *extra, "--output", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["key"]

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""


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

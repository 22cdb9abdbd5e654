"""Shared test helpers (a uniquely named module: `from testkit import ...` is ambiguous across test dirs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = ROOT / "src" / "prompt_alchemy" / "data"
AWESOME_CSV = PACKAGE_DATA / "awesome-chatgpt-prompts.csv"
CLI = [sys.executable, "-m", "prompt_alchemy"]


def run_cli(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the real CLI as a subprocess with the current (test) environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        CLI + list(args), input=input, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


def parse_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
SCRIPTED = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}


class Server:
    """A real `prompt-alchemy serve --transport http` process on 127.0.0.1 with scripted providers, in its own
    home; `extra_env` adds settings (a PostgreSQL URL, require_auth, ...)."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_")}
        self.env.update(SCRIPTED, PROMPT_ALCHEMY_HOME=str(home), **(extra_env or {}))
        self.log = home / "server.log"
        self.proc = subprocess.Popen(
            [
                str(SCRIPT),
                "serve",
                "--transport",
                "http",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--log-file",
                str(self.log),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = self._wait()

    def _wait(self) -> str:
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
        proc = self.cli("api-keys", "create", "--name", name, "--scope", scope, *extra, "--output", "json")
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

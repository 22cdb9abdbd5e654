"""Shared fixtures. Every test gets a fresh PROMPT_ALCHEMY_HOME; no test touches the user's real config or data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
AWESOME_CSV = SHARED_DATA / "awesome-chatgpt-prompts.csv"
CLI = [sys.executable, "-m", "prompt_alchemy"]
_KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
             "OLLAMA_HOST")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A fresh PROMPT_ALCHEMY_HOME, and no provider keys or PROMPT_ALCHEMY_* settings from the outer env."""
    for var in list(os.environ):
        if var.startswith("PROMPT_ALCHEMY_") or var in _KEY_VARS:
            monkeypatch.delenv(var, raising=False)
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PROMPT_ALCHEMY_HOME", str(path))
    return path


@pytest.fixture
def write_config(home):
    """Write config.yaml in the test home from a YAML string."""
    def _write(text: str) -> Path:
        path = home / "config.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return _write


@pytest.fixture
def service(home):
    """A service whose phases all use the scripted provider (instant, deterministic)."""
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(overrides={
        f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")})
    yield svc
    import asyncio

    asyncio.run(svc.aclose())


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI as a subprocess with the current (test) environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(CLI + list(args), input=input, capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


def parse_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)

"""Shared fixtures. Every test gets a fresh PROMPT_ALCHEMY_HOME; no test touches the user's real config or data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pg_testkit import backend, pg_server, postgres_url  # noqa: F401 (fixtures)
from testkit import run_cli

from prompt_alchemy.config import HOST_ENV_VARS, KEY_ENV_VARS

#: Every provider's standard key and host variables, from the provider descriptions.
_KEY_VARS = tuple(var for table in (KEY_ENV_VARS, HOST_ENV_VARS) for names in table.values() for var in names)


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

    svc = AlchemyService.from_environment(
        overrides={f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    )
    yield svc
    import asyncio

    asyncio.run(svc.aclose())


@pytest.fixture
def cli():
    return run_cli

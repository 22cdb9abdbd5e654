"""Fixtures for the MCP server tests: an in-process server over the scripted-provider service, and a client."""

from __future__ import annotations

import pytest


@pytest.fixture
def make_service(home):
    """Build scripted-provider services with extra dotted overrides; all are closed at the end."""
    from prompt_alchemy.services import AlchemyService

    made = []

    def _make(**overrides):
        base = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
        svc = AlchemyService.from_environment(overrides={**base, **overrides})
        made.append(svc)
        return svc

    yield _make
    import asyncio

    for svc in made:
        asyncio.run(svc.aclose())

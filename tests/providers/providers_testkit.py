"""Test helpers for provider tests: sentinel keys, wire formats, and configs pointing providers at fake servers.
(A uniquely named module instead of a conftest.py: `import conftest` would be ambiguous across test directories.)
Test modules import the fixtures they use from here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_llm_servers import FakeLLMServer  # noqa: E402

#: Sentinel keys: distinctive, so any leak is found by a plain substring search.
SENTINELS = {
    "openai": "sk-SENTINEL-openai-0123456789abcdef",
    "anthropic": "sk-ant-SENTINEL-anthropic-0123456789",
    "google": "AIzaSENTINEL-google-0123456789abcdefghijklmn",
    "openrouter": "sk-or-SENTINEL-openrouter-0123456789",
}
KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GOOGLE_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}
#: The wire format each provider speaks.
WIRE = {"openai": "openai", "openrouter": "openai", "anthropic": "anthropic", "google": "google", "ollama": "ollama"}


def provider_block(
    name: str, server: FakeLLMServer, *, timeout: float = 2.0, max_retries: int = 2, extra: str = ""
) -> str:
    """The YAML for one provider pointed at a fake server (keys come from the environment)."""
    where = f"host: {server.url}" if name == "ollama" else f"base_url: {server.base_url}"
    lines = [f"  {name}:", f"    {where}", f"    timeout: {timeout}", f"    max_retries: {max_retries}"]
    lines += [f"    {line}" for line in extra.splitlines() if line.strip()]
    return "\n".join(lines)


def gateway_yaml(
    servers: dict[str, FakeLLMServer],
    *,
    phases: dict[str, tuple[str, list[str]]] | None = None,
    timeout: float = 2.0,
    max_retries: int = 2,
    backoff: float = 0.01,
    backoff_max: float = 1.0,
    extra_providers: dict[str, str] | None = None,
    cache: bool = True,
    skip_cache: str = "[scripted]",
    timeouts: dict[str, float] | None = None,
) -> str:
    """A config with every given provider at its fake server, tiny backoff, and per-phase provider/fallbacks."""
    extra_providers = extra_providers or {}
    timeouts = timeouts or {}
    blocks = [
        provider_block(
            n, s, timeout=timeouts.get(n, timeout), max_retries=max_retries, extra=extra_providers.get(n, "")
        )
        for n, s in servers.items()
    ]
    phase_lines = []
    for phase, (primary, fallbacks) in (phases or {}).items():
        phase_lines += [f"  {phase}:", f"    provider: {primary}", f"    fallbacks: [{', '.join(fallbacks)}]"]
    return "\n".join(
        [
            "providers:",
            *blocks,
            "phases:" if phase_lines else "",
            *phase_lines,
            "gateway:",
            f"  cache: {'true' if cache else 'false'}",
            f"  backoff_base_seconds: {backoff}",
            f"  backoff_max_seconds: {backoff_max}",
            f"  cache_skip_providers: {skip_cache}",
            "generation:",
            "  embedding_provider: local",
            "",
        ]
    )


@pytest.fixture
def fake_servers():
    """Start fake servers by provider name: `servers = fake_servers("openai", "anthropic")` -> dict name -> server."""
    started: list[FakeLLMServer] = []

    def _start(*names: str, **options) -> dict[str, FakeLLMServer]:
        out = {}
        for name in names:
            server = FakeLLMServer(WIRE[name], **options).start()
            started.append(server)
            out[name] = server
        return out

    yield _start
    for server in started:
        server.stop()


@pytest.fixture
def sentinel_env(monkeypatch):
    """Every cloud key set to its sentinel value in the environment."""
    for name, var in KEY_ENV.items():
        monkeypatch.setenv(var, SENTINELS[name])
    return SENTINELS

"""A remote provider's outage falls back to the embedded local model (the real one), unless the phase's fallbacks
are set: the cloud provider is a real SDK talking to a fake server on 127.0.0.1 that fails every call."""

from __future__ import annotations

import json

import pytest
from fake_llm_servers import Fault
from providers_testkit import fake_servers, provider_block, sentinel_env  # noqa: F401  (fixtures)
from testkit import run_cli

from prompt_alchemy.config import load_settings
from prompt_alchemy.models import Phase
from prompt_alchemy.providers.registry import ProviderRegistry

pytestmark = pytest.mark.e2e


def config(server, fallbacks: str | None = None) -> str:
    phase = "  prima-materia:\n    provider: openai\n    max_tokens: 24\n"
    if fallbacks is not None:
        phase += f"    fallbacks: {fallbacks}\n"
    return (
        "providers:\n" + provider_block("openai", server, timeout=2.0, max_retries=0) + "\n"
        "phases:\n" + phase + "gateway:\n  cache: false\n"
    )


def test_the_chain_ends_with_local_unless_fallbacks_are_set(fake_servers, write_config, sentinel_env, home):
    server = fake_servers("openai")["openai"]
    write_config(config(server))
    registry = ProviderRegistry(load_settings().settings)
    assert registry.chain(Phase.PRIMA_MATERIA) == ["openai", "local"]
    assert registry.chain(Phase.SOLUTIO) == ["anthropic", "local"]  # preferred provider, chosen automatically
    assert registry.chain(Phase.PRIMA_MATERIA, override="openai") == ["openai"]
    write_config(config(server, "[]"))
    assert ProviderRegistry(load_settings().settings).chain(Phase.PRIMA_MATERIA) == ["openai"]
    write_config(config(server, "[google]"))
    assert ProviderRegistry(load_settings().settings).chain(Phase.PRIMA_MATERIA) == ["openai", "google"]


def test_a_cloud_outage_is_answered_by_the_local_model_and_said_so(fake_servers, write_config, sentinel_env):
    server = fake_servers("openai")["openai"]
    server.always = Fault.error(503)
    write_config(config(server))
    proc = run_cli("generate", "--phases", "idea", "-n", "1", "--output", "json", "a tool that renames photos")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [p["provider"] for p in data["prompts"]] == ["local"]
    assert data["prompts"][0]["content"].strip()
    assert len(server.generation_requests()) == 1
    event, remade = data["events"]
    assert event.startswith("prima-materia: openai failed") and "HTTP 503" in event
    # the bundled model cannot follow the phase templates: the variant is made on the small-model path
    assert "made on the small-model path" in remade
    assert "failed over to local (the embedded model" in event and "phases.prima-materia.fallbacks" in event
    text = run_cli("generate", "--phases", "idea", "-n", "1", "--no-save", "a tool that renames photos")
    assert text.returncode == 0 and "failed over to local" in text.stdout + text.stderr


def test_explicit_empty_fallbacks_keep_the_outage_an_error(fake_servers, write_config, sentinel_env):
    server = fake_servers("openai")["openai"]
    server.always = Fault.error(503)
    write_config(config(server, "[]"))
    proc = run_cli("generate", "--phases", "idea", "-n", "1", "a tool that renames photos")
    assert proc.returncode == 1
    assert "openai" in proc.stderr and "nothing was saved" in proc.stderr
    assert len(server.generation_requests()) == 1

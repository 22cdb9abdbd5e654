"""The response cache and the embedding cache: hits, --no-cache, TTL, and what is (not) stored."""

from __future__ import annotations

import sqlite3

import pytest
from providers_testkit import fake_servers, gateway_yaml, sentinel_env  # noqa: F401  (fixtures)

from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message
from prompt_alchemy.providers.cache import ResponseCache, response_key
from prompt_alchemy.security import register_secret
from prompt_alchemy.services import AlchemyService
from prompt_alchemy.storage.sqlite import SQLiteStore

ALL = ("prima-materia", "solutio", "coagulatio")


async def generate(idea: str = "a newsletter about Rust", **options):
    service = AlchemyService.from_environment()
    try:
        return await service.generate(service.build_request(idea, **{"count": 2, **options}))
    finally:
        await service.aclose()


async def test_a_repeated_run_is_answered_from_the_cache(fake_servers, write_config, sentinel_env):
    servers = fake_servers("anthropic")
    write_config(gateway_yaml(servers, phases={p: ("anthropic", []) for p in ALL}))
    first = await generate()
    assert len(servers["anthropic"].generation_requests()) == 6
    second = await generate()
    assert len(servers["anthropic"].generation_requests()) == 6  # no new provider call
    assert [p.content for p in second.prompts] == [p.content for p in first.prompts]
    assert all(p.provider == "anthropic" and p.model == "claude-haiku-4-5" for p in second.prompts)
    assert all(p.cost_usd == 0.0 for p in second.prompts) and first.total_cost > 0
    assert any("6 of 6 calls answered from the response cache" in e for e in second.events)
    assert {p.id for p in second.prompts}.isdisjoint({p.id for p in first.prompts})  # a new session, new rows


async def test_db_stats_shows_the_cache_and_clear_cache_empties_it(fake_servers, write_config, sentinel_env, cli):
    import json

    servers = fake_servers("anthropic")
    write_config(gateway_yaml(servers, phases={p: ("anthropic", []) for p in ALL}))
    await generate(count=1)
    stats = json.loads(cli("db", "stats", "-o", "json").stdout)["cache"]
    assert stats["responses"] == 3 and stats["embeddings"] == 0
    proc = cli("db", "clear-cache")
    assert proc.returncode == 0, proc.stderr
    assert "3 responses" in proc.stdout
    assert json.loads(cli("db", "stats", "-o", "json").stdout)["cache"]["responses"] == 0
    await generate(count=1)
    assert len(servers["anthropic"].generation_requests()) == 6  # asked again after the clear


async def test_no_cache_calls_the_provider_and_refreshes_the_entry(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}))
    first = await generate(count=1)
    fresh = await generate(count=1, use_cache=False)
    assert len(servers["openai"].generation_requests()) == 6
    assert fresh.prompts[0].content != first.prompts[0].content  # the fake numbers its answers
    third = await generate(count=1)
    assert len(servers["openai"].generation_requests()) == 6
    assert [p.content for p in third.prompts] == [p.content for p in fresh.prompts]


async def test_no_save_runs_write_nothing_to_the_cache(fake_servers, write_config, sentinel_env, home):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}))
    await generate(count=1, save=False)
    assert not (home / "prompts.db").exists()
    await generate(count=1)
    assert len(servers["openai"].generation_requests()) == 6


async def test_a_different_model_or_temperature_is_a_different_entry(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}))
    await generate(count=1, phases="prima-materia")
    await generate(count=1, phases="prima-materia", temperature=0.1)
    await generate(count=1, phases="prima-materia", max_tokens=77)
    assert len(servers["openai"].generation_requests()) == 3


def _request() -> GenerationRequest:
    return GenerationRequest(messages=[Message("user", "hello")], model="m", temperature=0.5, max_tokens=10)


def test_entries_expire_after_the_ttl(tmp_path):
    now = [1000.0]
    store = SQLiteStore(tmp_path / "c.db")
    cache = ResponseCache(store, ttl_seconds=60, clock=lambda: now[0])
    key = response_key("openai", None, "m", _request())
    cache.put(key, GenerationResponse(text="answer", provider="openai", model="m", input_tokens=3, output_tokens=1))
    now[0] += 59
    hit = cache.get(key)
    assert hit is not None and hit.text == "answer" and hit.cached and hit.input_tokens == 3
    now[0] += 2
    assert cache.get(key) is None
    assert cache.stats()["responses"] == 0
    store.close()


def test_the_cache_stores_hashes_and_answers_never_requests_or_secrets(tmp_path):
    secret = "sk-SENTINEL-cache-0123456789abcdef"
    register_secret(secret)
    store = SQLiteStore(tmp_path / "c.db")
    cache = ResponseCache(store, ttl_seconds=60)
    request = GenerationRequest(messages=[Message("user", "PRIVATE-IDEA-TEXT")], model="m")
    assert cache.put(
        response_key("openai", None, "m", request), GenerationResponse(text="fine answer", provider="openai", model="m")
    )
    assert not cache.put(
        response_key("openai", None, "m", _request()),
        GenerationResponse(text=f"echo {secret}", provider="openai", model="m"),
    )
    store.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "c.db").iterdump())
    assert "fine answer" in dump
    assert "PRIVATE-IDEA-TEXT" not in dump and secret not in dump


async def test_provider_embeddings_are_cached_by_model_dimensions_and_text(fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers).replace("  embedding_provider: local", "  embedding_provider: openai"))
    service = AlchemyService.from_environment()
    try:
        embedder = service.embedder
        assert (embedder.provider, embedder.model, embedder.dimensions) == ("openai", "text-embedding-3-small", 1536)
        first = await embedder.embed(["alpha", "beta"])
        second = await embedder.embed(["beta", "alpha", "gamma"])
    finally:
        await service.aclose()
    embed_calls = [r for r in servers["openai"].requests if r.path.endswith("/embeddings")]
    assert [c.body["input"] for c in embed_calls] == [["alpha", "beta"], ["gamma"]]
    assert embed_calls[0].body["dimensions"] == 1536
    assert first.shape == (2, 1536) and second.shape == (3, 1536)
    assert (second[0] == first[1]).all() and (second[1] == first[0]).all()


@pytest.mark.parametrize("skip", ["[openai]", "[scripted]"])
async def test_cache_skip_providers(skip, fake_servers, write_config, sentinel_env):
    servers = fake_servers("openai")
    write_config(gateway_yaml(servers, phases={p: ("openai", []) for p in ALL}, skip_cache=skip))
    await generate(count=1, phases="prima-materia")
    await generate(count=1, phases="prima-materia")
    assert len(servers["openai"].generation_requests()) == (2 if skip == "[openai]" else 1)

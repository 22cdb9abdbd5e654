"""The response cache and the per-key rate windows in Redis (`cache.url`), against a real redis-server that the
test starts: the same interface as the store's, expiry set by Redis, and one key's limit shared by two servers
that share nothing else but the library file and Redis."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from testkit import Server

from prompt_alchemy.providers.base import GenerationResponse
from prompt_alchemy.providers.cache import ResponseCache
from prompt_alchemy.services.app import App
from prompt_alchemy.storage.redis_cache import PREFIX, RedisCache


def test_answers_and_vectors_round_trip_with_hits_stats_and_clear(redis_server):
    cache = ResponseCache(RedisCache(redis_server.url), ttl_seconds=600)
    answer = GenerationResponse(
        text="a refined prompt", provider="openai", model="gpt-x", input_tokens=7, output_tokens=3, finish_reason="stop"
    )
    assert cache.get("k1") is None
    assert cache.put("k1", answer)
    got = cache.get("k1")
    assert got is not None and got.cached
    assert (got.text, got.model, got.output_tokens) == ("a refined prompt", "gpt-x", 3)
    cache.get("k1")
    cache.put_embeddings("local", "minilm", 3, ["one", "two"], [[0.5, 1.0, 2.0], [1.0, 0.0, -1.0]])
    assert cache.get_embeddings("local", "minilm", 3, ["two", "three", "one"]) == [
        [1.0, 0.0, -1.0],
        None,
        [0.5, 1.0, 2.0],
    ]
    assert cache.stats() == {"responses": 1, "response_hits": 2, "embeddings": 2}
    assert cache.clear() == 3
    assert cache.stats() == {"responses": 0, "response_hits": 0, "embeddings": 0}
    assert cache.get("k1") is None


def test_redis_sets_the_expiry_and_drops_the_entry(redis_server):
    backing = RedisCache(redis_server.url)
    cache = ResponseCache(backing, ttl_seconds=0.4)
    cache.put("short", GenerationResponse(text="soon gone", provider="openai", model="m"))
    ttl_ms = backing.client.pttl(f"{PREFIX}resp:short")
    assert 0 < ttl_ms <= 400  # the expiry is Redis's own, not a column compared by the client
    cache.put_embeddings("local", "minilm", 1, ["x"], [[1.0]])
    assert all(0 < backing.client.pttl(k) <= 400 for k in backing.client.keys(f"{PREFIX}vec:*"))
    time.sleep(0.6)
    assert backing.client.exists(f"{PREFIX}resp:short") == 0
    assert cache.get("short") is None and cache.stats()["embeddings"] == 0


def test_rate_window_counts_to_the_limit_and_redis_closes_it(redis_server):
    windows = RedisCache(redis_server.url)
    assert [windows.count_request("key-a", 3, window=0.5) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = windows.count_request("key-a", 3, window=0.5)
    assert 0 < wait <= 0.5  # the Retry-After: what Redis says is left of the window
    assert windows.count_request("key-b", 3, window=0.5) == 0.0  # each key has its own window
    assert 0 < windows.client.pttl(f"{PREFIX}rate:key-a") <= 500
    time.sleep(0.6)
    assert windows.client.exists(f"{PREFIX}rate:key-a") == 0
    assert windows.count_request("key-a", 3, window=0.5) == 0.0  # a new window


def test_app_picks_redis_with_cache_url_and_the_store_without(home, redis_server):
    with_redis = App.from_environment(overrides={"cache.url": redis_server.url})
    without = App.from_environment()
    try:
        assert isinstance(with_redis.rate_windows, RedisCache)
        assert isinstance(with_redis.response_cache.store, RedisCache)
        assert without.redis is None
        assert without.rate_windows is without.store and without.response_cache.store is without.store
    finally:
        asyncio.run(with_redis.aclose())
        asyncio.run(without.aclose())


def test_bad_cache_url_is_one_clear_error(cli):
    proc = cli("config", "show", env={"PROMPT_ALCHEMY_CACHE__URL": "http://example.invalid:6379"})
    assert proc.returncode != 0
    assert "cache.url must be a Redis URL" in proc.stderr


def test_generate_answers_from_redis_and_not_the_library(redis_server, home):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={
            **{f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")},
            "cache.url": redis_server.url,
            "gateway.cache_skip_providers": [],
        }
    )
    try:
        from prompt_alchemy.models import PromptRequest

        request = PromptRequest(idea="a checklist for code review", count=1)
        asyncio.run(svc.generate(request))
        redis_keys = svc.app.redis.client.keys(f"{PREFIX}resp:*")
        assert len(redis_keys) == 3  # one answer per phase
        assert svc.app.store.cache_stats(time.time())["responses"] == 0  # nothing in the library's table
        asyncio.run(svc.generate(request))
        assert svc.app.redis.cache_stats(0)["response_hits"] == 3  # the second run was answered from Redis
    finally:
        asyncio.run(svc.aclose())


def test_two_servers_share_one_keys_limit_through_redis(tmp_path, redis_server):
    """Two servers on one SQLite library count in their own memory without Redis (each would let the key send
    its whole limit); with cache.url they count in Redis, so the limit holds across both."""
    shared = {
        "PROMPT_ALCHEMY_STORAGE__DATABASE_PATH": str(tmp_path / "library.db"),
        "PROMPT_ALCHEMY_CACHE__URL": redis_server.url,
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Server(tmp_path / "a", shared)
    b = Server(tmp_path / "b", shared)
    try:
        key = a.create_key("shared", "read", "--rate-limit", "4")
        codes = []
        with a.client(key) as ca, b.client(key) as cb:
            for i in range(8):
                codes.append((ca if i % 2 == 0 else cb).get("/api/v1/prompts", params={"limit": 1}).status_code)
            refused = cb.get("/api/v1/prompts", params={"limit": 1})
        assert codes == [200, 200, 200, 200, 429, 429, 429, 429]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    finally:
        a.stop()
        b.stop()


def test_rate_check_fails_closed_when_redis_is_gone(tmp_path, redis_server):
    (tmp_path / "s").mkdir()
    server = Server(tmp_path / "s", {"PROMPT_ALCHEMY_CACHE__URL": redis_server.url})
    try:
        key = server.create_key("k", "read")
        with server.client(key) as client:
            assert client.get("/api/v1/prompts").status_code == 200
            redis_server.stop()
            answer = client.get("/api/v1/prompts")
        assert answer.status_code >= 500
        assert "Redis cache at redis://127.0.0.1" in answer.json()["error"]["message"]
    except httpx.HTTPError as exc:  # pragma: no cover - the server must answer, not drop the connection
        pytest.fail(f"no answer: {exc}")
    finally:
        log = server.stop()
    assert "Traceback" not in log or "RedisError" not in log

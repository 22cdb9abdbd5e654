"""Per-key rate limits: a fixed window of a minute per key, counted by the store. On PostgreSQL the count is one
UPSERT on a shared table, so several servers on one database hold a key to its limit together; SQLite counts in
the serving process. The store tests use an injected clock (no sleeping, no timing)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

MCP_PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from prompt_alchemy.storage.sqlite import SQLiteStore

        opened = SQLiteStore(tmp_path / "library.db")
    else:
        from prompt_alchemy.storage.postgres import PostgresStore

        opened = PostgresStore(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def test_a_window_admits_the_limit_then_says_when_it_closes(store):
    t = 1_000_000.0
    assert [store.count_request("k1", 3, now=t + i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert store.count_request("k1", 3, now=t + 10) == pytest.approx(50.0)
    assert store.count_request("k1", 3, now=t + 59.5) == pytest.approx(0.5)  # refusals do not extend the window
    assert store.count_request("k2", 3, now=t + 10) == 0.0  # every key has its own window
    assert store.count_request("k1", 3, now=t + 60) == 0.0  # the next window opens with the next request
    assert [store.count_request("k1", 3, now=t + 61 + i) for i in range(2)] == [0.0, 0.0]
    assert store.count_request("k1", 3, now=t + 70) == pytest.approx(50.0)
    assert store.count_request("k1", 1, now=t + 200, window=10) == 0.0  # the window length is the caller's
    assert store.count_request("k1", 1, now=t + 205, window=10) == pytest.approx(5.0)


def test_concurrent_requests_are_counted_exactly(store, request):
    """Many threads, and on PostgreSQL two stores (two connection pools, as two replicas have), take a limit of
    50 together: exactly 50 requests are admitted."""
    stores = [store]
    if "postgres" in request.node.callspec.id:
        from prompt_alchemy.storage.postgres import PostgresStore

        stores.append(PostgresStore(store.url))
    try:
        t = 2_000_000.0
        with ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(lambda i: stores[i % len(stores)].count_request("busy", 50, now=t), range(120)))
        assert sum(1 for w in waits if w == 0.0) == 50
        assert all(w == pytest.approx(60.0) for w in waits if w)
    finally:
        for extra in stores[1:]:
            extra.close()


def test_closed_windows_are_pruned(store):
    t = 3_000_000.0
    for i in range(20):
        store.count_request(f"idle-{i}", 5, now=t)
    store.count_request("active", 5, now=t + 100)  # a window later: the idle keys' windows have closed

    if hasattr(store, "url"):
        keys = [r[0] for r in store.query("SELECT key_id FROM rate_windows")]
    else:  # SQLite counts in the process (storage/access.py)
        keys = list(store._rate_windows["keys"])
    assert keys == ["active"]


def test_postgres_keeps_the_windows_in_an_unlogged_table_and_sqlite_in_memory(postgres_url, tmp_path):
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.sqlite import SQLiteStore
    from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS

    assert "m008_rate_windows" in [m.__name__ for m in MIGRATIONS]
    pg = PostgresStore(postgres_url)
    try:
        assert pg.query("SELECT relpersistence FROM pg_class WHERE relname = 'rate_windows'")[0][0] == "u"
        assert "m008_rate_windows" in pg.stats()["migrations"]
    finally:
        pg.close()
    lite = SQLiteStore(tmp_path / "library.db")
    try:
        assert "m008_rate_windows" in lite.applied_migrations
        assert not lite.query("SELECT name FROM sqlite_master WHERE name = 'rate_windows'")
        before = lite.generation()
        lite.count_request("k", 5)
        assert lite.generation() == before  # counting does not change the library's version
    finally:
        lite.close()


@pytest.mark.e2e
def test_two_servers_on_one_postgres_hold_a_key_to_its_limit_together(make_server, postgres_url):
    from prompt_alchemy.storage.postgres import PostgresStore

    env = {"PROMPT_ALCHEMY_DATABASE_URL": postgres_url, "PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true"}
    a, b = make_server("a", env), make_server("b", env)
    limit = 7
    key = a.create_key("shared-limit", "read", "--rate-limit", str(limit))
    other = b.create_key("other", "read", "--rate-limit", str(limit))
    with a.client(key) as ca, b.client(key) as cb:
        codes = [(ca if i % 2 else cb).get("/api/v1/prompts").status_code for i in range(limit - 1)]
        codes.append(cb.post("/mcp", json=MCP_PING, headers=MCP_HEADERS).status_code)  # MCP counts too
        assert 429 not in codes and 401 not in codes and 403 not in codes
        for client in (ca, cb):
            refused = client.get("/api/v1/prompts")
            assert refused.status_code == 429, refused.text
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            error = refused.json()["error"]
            assert error["code"] == "rate_limited" and f"{limit} requests per minute" in error["message"]
        assert ca.post("/mcp", json=MCP_PING, headers=MCP_HEADERS).status_code == 429
    with a.client(other) as c:
        assert c.get("/api/v1/prompts").status_code == 200  # another key, its own window
    store = PostgresStore(postgres_url)
    try:
        rows = {
            r[0]: r[1]
            for r in store.query("SELECT k.name, w.hits FROM rate_windows w " "JOIN api_keys k ON k.id = w.key_id")
        }
    finally:
        store.close()
    assert rows["shared-limit"] == limit + 1 and rows["other"] == 1  # one count for both servers


@pytest.mark.e2e
def test_one_server_on_sqlite_holds_a_key_to_its_limit(make_server):
    server = make_server("lite", {"PROMPT_ALCHEMY_SERVER__REQUIRE_AUTH": "true"})
    key = server.create_key("lite", "read", "--rate-limit", "5")
    with server.client(key) as c:
        assert [c.get("/api/v1/prompts").status_code for _ in range(5)] == [200] * 5
        refused = c.get("/api/v1/prompts")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert json.loads(refused.text)["error"]["code"] == "rate_limited"

"""Several servers, one database: two real `serve --transport http` processes on one PostgreSQL. A prompt saved
through one is found through the other within a second, concurrent ratings through both lose nothing, and a server
that loses the database answers /health with 503 and recovers by itself when the database is back."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from testkit import Server


class _Server(Server):
    """A server on the shared library, with an HTTP client of its own."""

    def __init__(self, home: Path, url: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(home, {"PROMPT_ALCHEMY_DATABASE_URL": url})
        self.client = httpx.Client(base_url=self.url, timeout=30)  # type: ignore[method-assign]

    def stop(self) -> str:
        self.client.close()
        return super().stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own (it is stopped and started again): (start, stop, url)."""
    pgserver = pytest.importorskip("pgserver")
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="pa-pg2-"))
    state = {"server": pgserver.get_server(root / "data", cleanup_mode="stop")}
    with psycopg.connect(state["server"].get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE shared")
    url = state["server"].get_uri("shared")

    def stop():
        state["server"].cleanup()

    def start():
        state["server"] = pgserver.get_server(root / "data", cleanup_mode="stop")
        assert state["server"].get_uri("shared") == url

    yield start, stop, url
    try:
        state["server"].cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_two_servers_share_one_library_and_survive_a_database_restart(own_postgres, tmp_path):
    start, stop, url = own_postgres
    a = _Server(tmp_path / "a", url)
    b = _Server(tmp_path / "b", url)
    try:
        line = json.dumps({"id": "shared-0001", "content": "Explain the water cycle with a diagram for pupils"})
        assert a.client.post("/api/v1/import", json={"format": "jsonl", "content": line}).status_code == 200
        seen_at = None
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            hits = b.client.get("/api/v1/search", params={"q": "water cycle diagram", "mode": "text"}).json()
            if any(h["id"] == "shared-0001" for h in hits["results"]):
                seen_at = time.monotonic() - started
                break
            time.sleep(0.05)
        assert seen_at is not None, "a prompt saved through one server was not found through the other in 1 s"

        def rate(args):
            server, i = args
            r = server.client.post("/api/v1/prompts/shared-0001/ratings", json={"score": 1 + i % 5})
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(rate, [(a if i % 2 else b, i) for i in range(40)]))
        assert codes == [201] * 40
        listed = a.client.get("/api/v1/prompts/shared-0001").json()
        assert listed
        from prompt_alchemy.storage.postgres import PostgresStore

        store = PostgresStore(url)
        try:
            assert len(store.list_feedback(prompt_id="shared-0001", limit=100)) == 40  # nothing lost
        finally:
            store.close()

        assert b.client.get("/health").status_code == 200
        stop()
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status = b.client.get("/health").status_code
            if status == 503:
                break
            time.sleep(0.2)
        assert status == 503
        outage = time.monotonic()
        start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = b.client.get("/health").status_code
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, "the server did not recover when the database came back"
        print(
            f"seen through the other server after {seen_at * 1000:.0f} ms; recovered "
            f"{time.monotonic() - outage:.1f} s after the database restart began"
        )
        assert b.client.get("/health").json()["prompts"] == 1
    finally:
        a.stop()
        b.stop()

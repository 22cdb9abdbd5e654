"""Two replicas, one PostgreSQL: two real `serve --transport http` processes on one database, hit at once.

- Concurrent DELETEs of one prompt through both servers: exactly one 200 with exactly one `delete` audit row, the
  rest 404.
- A parent and its child deleted at once (through different servers, both orders): never a 500; both are gone and
  the grandchild is relinked to the surviving ancestor.
- 30 concurrent label moves (REST imports carrying `"labels": ["production"]`, through both servers): the history
  is one chain (each row's previous prompt is the prompt the row before moved to), the label ends where the last
  row says, and every move is audited as a label move with the key that made it.
- A REST import's audit rows name the ids it wrote and the labels it moved.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from testkit import Server


@pytest.fixture(scope="module")
def shared_url(pg_server):
    """A fresh, migrated database for this module's two servers."""
    import psycopg

    name = f"t{os.getpid()}_concurrent"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE alchemy_template")
    yield pg_server.get_uri(name)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def servers(shared_url, tmp_path_factory):
    """Two servers on the shared database, and a write key (created through the real CLI) both accept."""
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            home: Path = tmp_path_factory.mktemp(f"replica-{name}")
            started.append(Server(home, {"PROMPT_ALCHEMY_DATABASE_URL": shared_url}))
        key = started[0].create_key("deployer", "write")
        yield started[0], started[1], key
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def store(shared_url):
    from prompt_alchemy.storage.postgres import PostgresStore

    pg = PostgresStore(shared_url)
    yield pg
    pg.close()


def _import(server: Server, key: str, rows: list[dict]) -> httpx.Response:
    body = {"format": "jsonl", "content": "".join(json.dumps(r) + "\n" for r in rows)}
    with server.client(key) as client:
        return client.post("/api/v1/import", json=body)


def _at_once(calls: list) -> list:
    """Run every call on its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _delete(server: Server, key: str, pid: str):
    def call() -> int:
        with server.client(key) as client:
            return client.delete(f"/api/v1/prompts/{pid}").status_code

    return call


def test_concurrent_deletes_of_one_prompt_give_one_200_and_one_audit_row(servers, store):
    a, b, key = servers
    ids = [f"del-{trial:02d}" for trial in range(6)]
    assert _import(
        a,
        key,
        [
            {"id": pid, "content": f"Delete race {pid}: summarise the report in three lines.", "embedding": None}
            for pid in ids
        ],
    ).json()["imported"] == len(ids)
    for pid in ids:
        codes = _at_once([_delete(a if i % 2 else b, key, pid) for i in range(6)])
        assert sorted(codes) == [200] + [404] * 5, (pid, codes)
        assert store.get_prompt(pid) is None
        rows = store.list_audit(action="delete", target=pid, limit=50)
        ok = [r for r in rows if r["outcome"] == "ok"]
        assert len(ok) == 1 and ok[0]["targets"] == [pid] and ok[0]["actor"] == "deployer", rows
        assert all(r["outcome"] == "error:NotFoundError" for r in rows if r not in ok), rows


def test_deleting_a_parent_and_its_child_at_once_never_fails_and_keeps_lineage(servers, store):
    a, b, key = servers
    trials = 15
    rows = []
    for t in range(trials):
        chain = [f"lin-{t:02d}-{g}" for g in ("root", "parent", "child", "grandchild")]
        for i, pid in enumerate(chain):
            rows.append(
                {
                    "id": pid,
                    "content": f"Lineage trial {t}, generation {i}: rewrite the note for clarity.",
                    "parent_id": chain[i - 1] if i else None,
                    "embedding": None,
                }
            )
    assert _import(a, key, rows).json()["imported"] == len(rows)
    for t in range(trials):
        root, parent, child, grandchild = (f"lin-{t:02d}-{g}" for g in ("root", "parent", "child", "grandchild"))
        first, second = (a, b) if t % 2 else (b, a)
        order = [(first, parent), (second, child)] if t % 4 < 2 else [(first, child), (second, parent)]
        codes = _at_once([_delete(server, key, pid) for server, pid in order])
        assert codes == [200, 200], (t, codes)
        assert store.get_prompt(parent) is None and store.get_prompt(child) is None
        survivor = store.get_prompt(grandchild)
        assert survivor is not None and survivor.parent_id == root, (t, survivor and survivor.parent_id)
        assert [p.id for p in store.ancestors(grandchild)] == [root]
    for server in (a, b):
        assert "ForeignKeyViolation" not in server.log.read_text(encoding="utf-8")


def test_thirty_concurrent_label_moves_leave_one_history_chain(servers, store):
    """Labels belong to a name: 30 versions of one name, and its `production` label moved to each of them at once
    through two servers. Every history row names the version the label really left."""
    a, b, key = servers
    versions: dict[int, str] = {}
    with a.client(key) as client:
        for i in range(30):
            reply = client.post(
                "/api/v1/names/support-reply/versions",
                json={"content": f"Version {i}: answer the customer politely and briefly."},
            )
            assert reply.status_code == 201, reply.text
            versions[reply.json()["version"]] = reply.json()["prompt_id"]
    assert sorted(versions) == list(range(1, 31))

    def move(server: Server, version: int):
        def call() -> int:
            with server.client(key) as client:
                return client.put(
                    "/api/v1/names/support-reply/labels/production", json={"version": version}
                ).status_code

        return call

    codes = _at_once([move(a if v % 2 else b, v) for v in versions])
    assert codes == [200] * 30
    history = list(reversed(store.label_history("production", limit=100, prompt_name="support-reply")))
    assert len(history) == 30
    assert history[0]["action"] == "set" and history[0]["previous_id"] is None
    wrong = [
        (prev["prompt_id"], row["previous_id"])
        for prev, row in zip(history, history[1:])
        if row["previous_id"] != prev["prompt_id"]
    ]
    assert not wrong, f"{len(wrong)} of 29 history rows name the wrong previous prompt: {wrong[:3]}"
    assert sorted(row["prompt_id"] for row in history) == sorted(versions.values())
    assert store.get_label("production", "support-reply") == history[-1]["prompt_id"]
    assert all(row["actor"] == "deployer" for row in history)
    ids = set(versions.values())
    audited = [r for r in store.list_audit(action="label.set", limit=1000) if r["targets"] and r["targets"][0] in ids]
    assert len(audited) == 30
    assert all(r["actor"] == "deployer" and r["outcome"] == "ok" for r in audited), audited[:2]
    by_target = {r["targets"][0]: r["targets"][1:] for r in audited}
    assert by_target == {row["prompt_id"]: ([row["previous_id"]] if row["previous_id"] else []) for row in history}


def test_a_rest_import_audits_the_ids_it_wrote_and_the_labels_it_moved(servers, store):
    a, b, key = servers
    rows = [
        {
            "id": f"aud-{i}",
            "content": f"Audited import {i}: draft a short release note.",
            "embedding": None,
            **({"labels": ["staging"]} if i == 2 else {}),
        }
        for i in range(3)
    ]
    report = _import(b, key, rows).json()
    assert report["imported"] == 3 and report["labels"] == 1
    imports = [
        r
        for r in store.list_audit(action="import", actor="deployer", limit=1000)
        if any(t.startswith("aud-") for t in r["targets"])
    ]
    assert len(imports) == 1 and sorted(imports[0]["targets"]) == ["aud-0", "aud-1", "aud-2"], imports
    summary = next(
        r
        for r in store.list_audit(action="import", actor="deployer", limit=10)
        if (r["detail"] or "").startswith("done")
    )
    assert "imported=3" in summary["detail"] and "labels=staging" in summary["detail"], summary
    moves = store.list_audit(action="label.set", target="aud-2", limit=10)
    assert len(moves) == 1 and moves[0]["actor"] == "deployer" and "label=staging" in moves[0]["detail"]
    assert store.creators(["aud-0", "aud-1", "aud-2"]) == {f"aud-{i}": "deployer" for i in range(3)}

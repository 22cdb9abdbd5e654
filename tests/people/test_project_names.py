"""Names and labels per project, on SQLite and PostgreSQL: a name is unique within its project (two projects each
have their own `movie-critic` with its own versions and labels), a label is protected per project, and migration
m011 gives an existing library's labels, label history and protections the project of their prompt."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import contextmanager

import pytest

from prompt_alchemy.errors import ForbiddenError, NotFoundError
from prompt_alchemy.tenancy import Principal, principal


@contextmanager
def acting(project: str | None, role: str = "owner", handle: str = "someone"):
    """Run as a caller of `project` (None: the local user)."""
    token = principal.set(Principal(project, role, handle) if project else None)
    try:
        yield
    finally:
        principal.reset(token)


def _run(coro):
    return asyncio.run(coro)


def test_a_name_and_its_labels_belong_to_a_project(backend, service):
    with acting("team-a"):
        a1 = _run(service.save_version("movie-critic", "Review {movie} in one paragraph."))
        a2 = _run(service.save_version("movie-critic", "Review {movie} in {words} words."))
        _run(service.set_label("movie-critic", "production", version=1, source="api"))
        _run(service.protect_label("production"))
    with acting("team-b"):
        b1 = _run(service.save_version("movie-critic", "Critique {movie} like a newspaper."))
        assert b1["version"] == 1 and b1["previous_id"] is None  # not version 3 of team-a's name
        _run(service.set_label("movie-critic", "production", source="api"))
        assert _run(service.resolve_id("movie-critic@production")) == b1["prompt_id"]
        assert _run(service.resolve_id("movie-critic")) == b1["prompt_id"]
        assert [v["prompt_id"] for v in _run(service.name_versions("movie-critic"))["versions"]] == [b1["prompt_id"]]
        assert {(lb["prompt_name"], lb["prompt_id"]) for lb in _run(service.list_labels())} == {
            ("movie-critic", b1["prompt_id"])
        }
        assert _run(service.protected_labels()) == []  # team-a's protection is team-a's
        assert [h["prompt_id"] for h in _run(service.label_history(None, 10))] == [b1["prompt_id"]]
    with acting("team-b", role="member"):  # production is not protected in team-b: a member moves it
        _run(service.set_label("movie-critic", "production", version=1, source="api"))
    with acting("team-a", role="member"):  # ... and is in team-a
        with pytest.raises(ForbiddenError, match="protected"):
            _run(service.set_label("movie-critic", "production", version=2, source="api"))
    with acting("team-a"):
        assert _run(service.resolve_id("movie-critic@production")) == a1["prompt_id"]
        assert _run(service.resolve_id("movie-critic")) == a2["prompt_id"]
        assert [n["name"] for n in _run(service.list_names())] == ["movie-critic"]
        assert _run(service.protected_labels()) == ["production"]
    with acting(None):  # the local user's names are the default project's
        with pytest.raises(NotFoundError):
            _run(service.resolve_id("movie-critic"))


# ---------------------------------------------------------------------------------------------------- m011

NOW = "2026-01-02T03:04:05+00:00"


def _seed(execute) -> None:
    execute("INSERT INTO projects (id, created_at) VALUES (?, ?)", ("team-x", NOW))
    for pid, project, name in (("p-def", "default", "summarizer"), ("p-x", "team-x", "translator")):
        execute(
            "INSERT INTO prompts (id, content, content_hash, created_at, updated_at, project_id, name, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (pid, f"A {name} prompt.", pid, NOW, NOW, project, name),
        )
        execute(
            "INSERT INTO labels (prompt_name, name, prompt_id, updated_at) VALUES (?, 'production', ?, ?)",
            (name, pid, NOW),
        )
        execute(
            "INSERT INTO label_history (prompt_name, name, prompt_id, action, created_at) "
            "VALUES (?, 'production', ?, 'set', ?)",
            (name, pid, NOW),
        )
    execute("INSERT INTO protected_labels (name, created_at) VALUES ('production', ?)", (NOW,))


def _m010_sqlite(path) -> None:
    from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS:
        if migration.__name__[:4] <= "m010":
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (migration.__name__, NOW))
    _seed(db.execute)
    db.execute("COMMIT")
    db.close()


def _m010_postgres(pg_server) -> str:
    import psycopg

    from prompt_alchemy.storage.postgres.migrations import POSTGRES_DATA_STEPS, POSTGRES_DIALECT

    name = f"m010_{os.getpid()}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.get_uri(name)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for migration, script in POSTGRES_DIALECT.items():
            if migration[:4] <= "m010":
                if script.strip():
                    conn.execute(script)
                if migration in POSTGRES_DATA_STEPS:
                    POSTGRES_DATA_STEPS[migration](conn)
                conn.execute("INSERT INTO _migrations VALUES (%s, %s)", (migration, NOW))
        _seed(lambda sql, params: conn.execute(sql.replace("?", "%s"), params))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def m010_store(request, tmp_path):
    if request.param == "sqlite":
        from prompt_alchemy.storage.sqlite import SQLiteStore

        path = tmp_path / "m010.db"
        _m010_sqlite(path)
        return lambda: SQLiteStore(path)
    from prompt_alchemy.storage.postgres import PostgresStore

    url = _m010_postgres(request.getfixturevalue("pg_server"))
    return lambda: PostgresStore(url)


def test_m011_gives_labels_history_and_protections_their_project(m010_store):
    from prompt_alchemy.models import Prompt, content_hash, utcnow

    store = m010_store()
    try:
        assert "m011_project_names" in store.applied_migrations
        for project, name, pid in (("default", "summarizer", "p-def"), ("team-x", "translator", "p-x")):
            with acting(None if project == "default" else project):
                assert [(lb["prompt_name"], lb["prompt_id"]) for lb in store.list_labels()] == [(name, pid)]
                assert [h["prompt_id"] for h in store.label_history(limit=10)] == [pid]
                assert store.protected_labels() == ["production"]  # a library-wide protection holds in each
                assert store.resolve_name(name) == pid
        # team-x may now have a `summarizer` of its own: version 1, beside the default project's
        with acting("team-x"):
            mine = Prompt(content="Summarise for team x.", content_hash=content_hash("Summarise for team x."))
            assert store.save_version(mine, "summarizer") == 1
            store.set_label("production", mine.id, utcnow())
            assert store.get_label("production", "summarizer") == mine.id
        assert store.get_label("production", "summarizer") == "p-def"
        # deleting a labelled prompt records the label's project in the history
        with acting("team-x"):
            store.delete_prompts(["p-x"])
            assert store.label_history("production", limit=1)[0]["action"] == "deleted"
    finally:
        store.close()

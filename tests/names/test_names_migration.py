"""Migration m009 on both backends: a library with global labels (the schema up to m008) opens with each label moved
to a name derived from the prompt it pointed at; every move is in the label history, the audit log and the log."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

OLD = [f"m00{i}" for i in range(1, 9)]  # the migrations before named prompts
NOW = "2026-01-02T03:04:05+00:00"
PROMPTS = [
    ("p-term", "Act as a Linux terminal. Reply only with the output.", "Linux Terminal", None),
    ("p-letter", "Write a cover letter for the job below.", None, "cover letter for a nurse"),
    ("p-plain", "Plain prompt without labels.", None, None),
]
LABELS = [("production", "p-term"), ("staging", "p-term"), ("beta", "p-letter")]


def _seed(execute) -> None:
    for pid, content, title, idea in PROMPTS:
        execute(
            "INSERT INTO prompts (id, content, content_hash, title, original_input, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pid, content, pid, title, idea, NOW, NOW),
        )
    for name, pid in LABELS:
        execute("INSERT INTO labels (name, prompt_id, updated_at) VALUES (?, ?, ?)", (name, pid, NOW))
        execute(
            "INSERT INTO label_history (name, prompt_id, action, created_at) VALUES (?, ?, 'set', ?)", (name, pid, NOW)
        )


def _old_sqlite_library(path) -> None:
    from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS:
        if migration.__name__[:4] in OLD:
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (migration.__name__, NOW))
    _seed(db.execute)
    db.execute("COMMIT")
    db.close()


def _old_postgres_library(pg_server) -> str:
    import psycopg

    from prompt_alchemy.storage.postgres.migrations import POSTGRES_DIALECT

    name = f"old_{os.getpid()}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.get_uri(name)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for migration, script in POSTGRES_DIALECT.items():
            if migration[:4] in OLD:
                if script.strip():
                    conn.execute(script)
                conn.execute("INSERT INTO _migrations VALUES (%s, %s)", (migration, NOW))
        _seed(lambda sql, params: conn.execute(sql.replace("?", "%s"), params))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def old_store(request, tmp_path):
    if request.param == "sqlite":
        from prompt_alchemy.storage.sqlite import SQLiteStore

        path = tmp_path / "old.db"
        _old_sqlite_library(path)
        return lambda: SQLiteStore(path)
    from prompt_alchemy.storage.postgres import PostgresStore

    url = _old_postgres_library(request.getfixturevalue("pg_server"))
    return lambda: PostgresStore(url)


def test_global_labels_move_to_derived_names(old_store, caplog):
    with caplog.at_level(logging.WARNING, logger="prompt_alchemy.storage.migrations"):
        store = old_store()
    try:
        assert "m009_named_prompts" in store.applied_migrations
        labels = {(r["prompt_name"], r["name"]): (r["prompt_id"], r["version"]) for r in store.list_labels()}
        assert labels == {
            ("linux-terminal", "production"): ("p-term", 1),
            ("linux-terminal", "staging"): ("p-term", 1),
            ("cover-letter-for-a-nurse", "beta"): ("p-letter", 1),
        }
        assert store.names_for(["p-term", "p-letter", "p-plain"]) == {
            "p-term": ("linux-terminal", 1),
            "p-letter": ("cover-letter-for-a-nurse", 1),
        }
        moved = [h for h in store.label_history(limit=10) if h["actor"] == "migration"]
        assert sorted((h["prompt_name"], h["name"], h["prompt_id"]) for h in moved) == sorted(
            [
                ("linux-terminal", "production", "p-term"),
                ("linux-terminal", "staging", "p-term"),
                ("cover-letter-for-a-nurse", "beta", "p-letter"),
            ]
        )
        old_rows = [h for h in store.label_history(limit=10) if h["actor"] == "local"]
        assert len(old_rows) == 3 and all(h["prompt_name"] is None for h in old_rows)  # the old history is kept
        audited = store.list_audit(action="label.migrate")
        assert len(audited) == 3 and all(r["actor"] == "migration" for r in audited)
        assert any("'production'" in r["detail"] and "'linux-terminal@production'" in r["detail"] for r in audited)
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "labels are now per prompt name" in logged and "'linux-terminal@production'" in logged
        # after the migration a label belongs to its name: production on another name moves nothing
        from prompt_alchemy.models import utcnow

        assert store.set_label("production", "p-plain", utcnow()) is None
        assert store.get_label("production", "linux-terminal") == "p-term"
        # deleting a labelled version records which name's label went
        store.delete_prompts(["p-letter"])
        assert store.label_history("beta", limit=1)[0]["prompt_name"] == "cover-letter-for-a-nurse"
    finally:
        store.close()

"""PostgreSQL for the tests: one server per test session from the `pgserver` package (PostgreSQL 16 + pgvector,
its own binaries, a unix socket in a temporary folder; as root it runs the server as its own system user), a
migrated template database, and a fresh database per test cloned from it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import pytest

_TEMPLATE = "alchemy_template"
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    pgserver = pytest.importorskip("pgserver")
    psycopg = pytest.importorskip("psycopg")
    pytest.importorskip("psycopg_pool")
    root = tempfile.mkdtemp(prefix="pa-pg-")  # short: unix socket paths are limited to ~100 characters
    server = pgserver.get_server(root, cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {_TEMPLATE}")
            conn.execute(f"CREATE DATABASE {_TEMPLATE}")
        from prompt_alchemy.storage.postgres import PostgresStore

        PostgresStore(server.get_uri(_TEMPLATE)).close()  # the schema once; every test's database copies it
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(pg_server):
    """The URL of a fresh, migrated, empty database (dropped after the test)."""
    import psycopg

    name = f"t{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    yield pg_server.get_uri(name)
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, home, monkeypatch) -> str:
    """Run the test on each library backend: SQLite in the test home, or a fresh PostgreSQL database (through
    PROMPT_ALCHEMY_DATABASE_URL, as a user would select it)."""
    if request.param == "postgres":
        marker = request.node.get_closest_marker("sqlite_only")
        if marker is not None:
            pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'reads the SQLite file itself'}")
        monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return request.param


class RestartablePostgres:
    """A PostgreSQL server of one test's own, which the test may stop and start again (the session's shared server
    must keep running for every other test). `url` names its database `library`; the URL survives a restart."""

    def __init__(self, root) -> None:
        import pgserver
        import psycopg

        self._pgserver, self.root = pgserver, root
        self.server = pgserver.get_server(root / "data", cleanup_mode="stop")
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE library")
        self.url = self.server.get_uri("library")

    def stop(self) -> None:
        """A fast shutdown (pg_ctl stop): every session is ended and its open transaction rolled back."""
        self.server.cleanup()

    def start(self) -> None:
        self.server = self._pgserver.get_server(self.root / "data", cleanup_mode="stop")
        assert self.server.get_uri("library") == self.url

"""Whether a library exists is asked of the store (or, before one is open, of the location), never of a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prompt_alchemy.storage.sqlite import SQLiteStore
from prompt_alchemy.storage.url import library_exists


@dataclass
class _Location:
    database_path: Path
    database_url: str | None = None


def test_a_sqlite_library_exists_once_its_file_does(tmp_path):
    where = _Location(tmp_path / "lib" / "prompts.db")
    assert library_exists(where) is False
    assert not where.database_path.parent.exists()  # asking created nothing
    store = SQLiteStore(where.database_path)
    try:
        assert store.library_exists() is True
        assert library_exists(where) is True
    finally:
        store.close()


def test_a_postgresql_library_exists_whatever_the_local_path(tmp_path, postgres_url):
    from prompt_alchemy.storage.postgres import PostgresStore

    assert library_exists(_Location(tmp_path / "postgresql", postgres_url)) is True
    store = PostgresStore(postgres_url)
    try:
        assert store.library_exists() is True
    finally:
        store.close()

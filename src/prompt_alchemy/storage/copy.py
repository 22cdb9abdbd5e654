"""Copy a whole library from one store to another (SQLite to PostgreSQL, back, or between two of either), row for
row: prompts with every field (lineage and embeddings included), context, metrics, feedback, learned models, labels
and their history, API keys (hashes only) and the audit log, maintenance records and the response cache. The target
must be empty; everything is written in one transaction, so a failed copy leaves it empty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Tables in dependency order, each with the key its rows are paged by (None: read at once).
TABLES: list[tuple[str, str | None]] = [
    ("prompts", "id"),
    ("prompt_context", "id"),
    ("metrics", "id"),
    ("feedback", "id"),
    ("models", "id"),
    ("labels", "name"),
    ("label_history", "id"),
    ("api_keys", "id"),
    ("audit_log", "id"),
    ("audit_targets", None),
    ("maintenance", "task"),
    ("response_cache", "key"),
    ("embedding_cache", "key"),
]
#: Columns one dialect adds for its own indexes (the generated tsvector, an insertion counter).
_DERIVED = {"search", "seq"}
_PAGE = 2000


def _columns(store: Any, table: str) -> list[str]:
    rows = store.query(f"SELECT * FROM {table} LIMIT 1")
    if rows:
        return [c for c in rows[0].keys() if c not in _DERIVED]
    return []


def _pages(store: Any, table: str, key: str | None, columns: list[str]):
    cols = ", ".join(columns)
    if key is None:
        yield store.query(f"SELECT {cols} FROM {table}")
        return
    last = None
    while True:
        where, params = ("", []) if last is None else (f"WHERE {key} > ?", [last])
        rows = store.query(f"SELECT {cols} FROM {table} {where} ORDER BY {key} LIMIT ?", [*params, _PAGE])
        if not rows:
            return
        yield rows
        last = rows[-1][key]


def table_counts(store: Any) -> dict[str, int]:
    return {table: int(store.query(f"SELECT COUNT(*) FROM {table}")[0][0]) for table, _ in TABLES}


def copy_library(source: Any, target: Any, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of `source` into the empty `target` in one transaction; rows copied per table."""
    from prompt_alchemy.errors import InputError

    held = target.count_prompts()
    if held:
        raise InputError(f"the target library {target.path} already holds {held} prompts; copy into an empty library")
    copied: dict[str, int] = {}
    parents: list[tuple[str, str]] = []
    before = getattr(target, "_before_copy", None)
    if before is not None:
        before(source)
    with target.transaction() as db:
        for table, key in TABLES:
            columns = _columns(source, table)
            copied[table] = 0
            if not columns:
                continue
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for rows in _pages(source, table, key, columns):
                values = []
                for row in rows:
                    value = [row[c] for c in columns]
                    if table == "prompts" and row["parent_id"] is not None:  # parents may come later: linked below
                        parents.append((row["parent_id"], row["id"]))
                        value[columns.index("parent_id")] = None
                    if table == "prompts" and row["embedding"] is not None:
                        value[columns.index("embedding")] = bytes(row["embedding"])
                    if table == "embedding_cache":
                        value[columns.index("vector")] = bytes(row["vector"])
                    values.append(value)
                db.executemany(sql, values)
                copied[table] += len(values)
                if progress:
                    progress(table, copied[table])
            if table == "prompts" and parents:
                db.executemany("UPDATE prompts SET parent_id = ? WHERE id = ?", parents)
        after = getattr(target, "_after_copy", None)
        if after is not None:
            after(db)
    return copied


def open_library(location: str) -> Any:
    """The store at `location`: a postgresql:// URL, or a SQLite file path (created when missing)."""
    from pathlib import Path

    from prompt_alchemy.storage.url import check_database_url, is_postgres_url

    if is_postgres_url(location) or "://" in location:
        from prompt_alchemy.errors import InputError
        from prompt_alchemy.storage.postgres import PostgresStore

        try:
            url = check_database_url(location)
        except ValueError as exc:
            raise InputError(f"'{_shown(location)}' is not a library location: {exc}") from None
        return PostgresStore(url)
    from prompt_alchemy.storage.sqlite import SQLiteStore

    return SQLiteStore(Path(location).expanduser())


def _shown(location: str) -> str:
    from prompt_alchemy.storage.url import mask_url

    return mask_url(location)

"""A read-only health check of a SQLite library: it opens, its integrity check passes, its migrations match this
code. Nothing is written (no migration is applied, no file is created), so `doctor` can look at a database that the
store itself would refuse or change."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS


@dataclass
class DatabaseHealth:
    path: Path
    exists: bool
    opened: bool = False
    error: str | None = None
    integrity: list[str] = field(default_factory=list)  # the integrity check's findings; ["ok"] when sound
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # known to this code, not yet applied
    unknown: list[str] = field(default_factory=list)  # applied by a newer version of the code
    prompts: int | None = None
    fix: str | None = None  # what to do about `error` when the database itself is not the problem

    @property
    def sound(self) -> bool:
        return self.opened and self.integrity == ["ok"]


def _first(db: Any, sql: str) -> Any:
    """The first column of the one row `sql` returns."""
    row = db.execute(sql).fetchone()
    assert row is not None  # a SELECT without FROM, or an aggregate: always one row
    return row[0]


def check_sqlite(path: str | Path, *, max_findings: int = 20) -> DatabaseHealth:
    """Open `path` read-only and run `PRAGMA integrity_check`; compare its applied migrations with this code's."""
    path = Path(path)
    health = DatabaseHealth(path=path, exists=path.is_file())
    if not health.exists:
        return health
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        health.error = str(exc)
        return health
    try:
        health.integrity = [str(r[0]) for r in db.execute(f"PRAGMA integrity_check({int(max_findings)})")]
        health.opened = True
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_migrations" in tables:
            health.applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY applied_at, name")]
        known = [m.__name__ for m in MIGRATIONS]
        health.pending = [name for name in known if name not in health.applied]
        health.unknown = [name for name in health.applied if name not in known]
        if "prompts" in tables:
            health.prompts = int(db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0])
    except sqlite3.Error as exc:
        health.error = str(exc)
    finally:
        db.close()
    return health


def check_postgres(url: str) -> DatabaseHealth:
    """Connect to the PostgreSQL library at `url` (nothing is created or migrated): it answers, pgvector is there,
    its applied migrations match this code's, and how many prompts it holds. The password never appears."""
    from prompt_alchemy.storage.url import mask_url

    health = DatabaseHealth(path=Path(mask_url(url)), exists=True)
    try:
        import psycopg
    except ImportError as exc:
        from prompt_alchemy.localstack import extra_command

        health.error = f"the postgres extra is not installed ({exc.name or exc})"
        health.fix = f"run '{extra_command('postgres')}'"
        return health
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as db:
            health.opened = True
            health.integrity = ["ok"]  # PostgreSQL checks its own pages; what can be wrong here is the schema
            vector = db.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
            if vector is None:
                health.error = "the server has no pgvector extension"
                return health
            if _first(db, "SELECT to_regclass('_migrations')") is not None:
                health.applied = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY applied_at, name")]
            known = [m.__name__ for m in MIGRATIONS]
            health.pending = [name for name in known if name not in health.applied]
            health.unknown = [name for name in health.applied if name not in known]
            if _first(db, "SELECT to_regclass('prompts')") is not None:
                health.prompts = int(_first(db, "SELECT COUNT(*) FROM prompts"))
    except psycopg.Error as exc:
        from prompt_alchemy.storage.postgres.store import connection_problem

        health.error = connection_problem(url, exc)
    return health

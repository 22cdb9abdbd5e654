"""Job records: what a job is (kind, parameters), its items (one per batch idea; one for any other job) with each
item's status and result, and whether it was cancelled. The queue itself is procrastinate's (PostgreSQL) or the
in-process runner's (SQLite); these tables are what `jobs list/show` read on either.

Statements are written once with `?` placeholders (see storage/dialect.py). On PostgreSQL the tables live beside
procrastinate's, created with its schema under one advisory lock; on SQLite in a file of their own next to the
library (`prompts.jobs.db`), so the library's migrations are untouched.

Exactly once: an item is run under `item_lock` (a PostgreSQL session advisory lock on the item's key, released
by the server when the holder's connection dies), and the runner checks inside it whether the item's prompts are
stored already before generating. Two workers can therefore never both store one item.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from prompt_alchemy.errors import StorageError
from prompt_alchemy.storage.dialect import POSTGRES, SQLITE, Dialect

#: the procrastinate queue the items go on (jobs/queue.py)
QUEUE_NAME = "alchemy"
#: the advisory-lock key that serializes creating the queue's schema across processes
_SCHEMA_LOCK = 0x6A6F6273  # "jobs"

_TABLES = (
    """CREATE TABLE IF NOT EXISTS alchemy_jobs (
         id {serial} PRIMARY KEY,
         kind TEXT NOT NULL,
         params TEXT NOT NULL,
         cancelled INTEGER NOT NULL DEFAULT 0,
         created_at TEXT NOT NULL,
         updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS alchemy_job_items (
         job_id BIGINT NOT NULL REFERENCES alchemy_jobs(id) ON DELETE CASCADE,
         key TEXT NOT NULL,
         idx INTEGER NOT NULL,
         payload TEXT NOT NULL,
         status TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         result TEXT,
         error TEXT,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (job_id, key))""",
    "CREATE INDEX IF NOT EXISTS alchemy_job_items_status ON alchemy_job_items (status)",
)

ITEM_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ItemRow:
    job_id: int
    key: str
    index: int
    payload: dict[str, Any]
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    params: dict[str, Any]
    cancelled: bool
    created_at: str
    updated_at: str
    counts: dict[str, int]


class JobRecords(Protocol):
    dialect: Dialect

    def create(self, kind: str, params: dict[str, Any], items: Sequence[tuple[str, int, dict[str, Any]]]) -> int: ...
    def get(self, job_id: int) -> JobRow | None: ...
    def list_jobs(self, *, status: str | None = None, limit: int = 50) -> list[JobRow]: ...
    def items(self, job_id: int, *, status: str | None = None) -> list[ItemRow]: ...
    def item(self, job_id: int, key: str) -> ItemRow | None: ...
    def start_item(self, job_id: int, key: str) -> ItemRow | None: ...
    def finish_item(
        self, job_id: int, key: str, status: str, result: dict[str, Any] | None, error: str | None
    ) -> None: ...
    def cancel(self, job_id: int) -> list[str]: ...
    def requeue(self, job_id: int) -> list[str]: ...
    def queue_depth(self) -> int: ...
    def item_lock(self, job_id: int, key: str) -> AbstractAsyncContextManager[None]: ...
    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Records(ABC):
    """The statements, shared by both databases; a subclass supplies `_conn()` (a transaction) and the dialect."""

    dialect: Dialect

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """One transaction on a connection of this database."""

    def _run(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return db.execute(self.dialect.statement(sql), tuple(params))

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._tx() as db:
            return list(self._run(db, sql, params).fetchall())

    def create(self, kind: str, params: dict[str, Any], items: Sequence[tuple[str, int, dict[str, Any]]]) -> int:
        now = _now()
        with self._tx() as db:
            job_id = int(
                self._run(
                    db,
                    "INSERT INTO alchemy_jobs (kind, params, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?) RETURNING id",
                    (kind, json.dumps(params), now, now),
                ).fetchone()[0]
            )
            self._insert_items(
                db, [(job_id, key, index, json.dumps(payload), "queued", now) for key, index, payload in items]
            )
        return job_id

    def _insert_items(self, db: Any, rows: list[tuple[Any, ...]]) -> None:
        sql = self.dialect.statement(
            "INSERT INTO alchemy_job_items (job_id, key, idx, payload, status, updated_at) " "VALUES (?, ?, ?, ?, ?, ?)"
        )
        db.cursor().executemany(sql, rows)

    def get(self, job_id: int) -> JobRow | None:
        rows = self._jobs("WHERE j.id = ?", (job_id,), 1)
        return rows[0] if rows else None

    def list_jobs(self, *, status: str | None = None, limit: int = 50) -> list[JobRow]:
        jobs = self._jobs("", (), 100_000 if status else limit)
        if status:
            from prompt_alchemy.jobs.models import job_status

            jobs = [j for j in jobs if job_status(j.cancelled, j.counts) == status][:limit]
        return jobs

    def _jobs(self, where: str, params: Sequence[Any], limit: int) -> list[JobRow]:
        rows = self._rows(
            f"SELECT j.id, j.kind, j.params, j.cancelled, j.created_at, j.updated_at, i.status, "
            f"COUNT(i.key) FROM alchemy_jobs j LEFT JOIN alchemy_job_items i ON i.job_id = j.id "
            f"{where} GROUP BY j.id, j.kind, j.params, j.cancelled, j.created_at, j.updated_at, "
            f"i.status ORDER BY j.id DESC",
            params,
        )
        jobs: dict[int, JobRow] = {}
        for job_id, kind, params_json, cancelled, created, updated, status, count in rows:
            job = jobs.get(job_id)
            if job is None:
                if len(jobs) >= limit:
                    break
                job = jobs[job_id] = JobRow(
                    int(job_id), kind, json.loads(params_json), bool(cancelled), str(created), str(updated), {}
                )
            if status is not None:
                job.counts[status] = int(count)
        return list(jobs.values())

    def items(self, job_id: int, *, status: str | None = None) -> list[ItemRow]:
        where, params = ("AND status = ?", (job_id, status)) if status else ("", (job_id,))
        return [
            self._item(r)
            for r in self._rows(
                f"SELECT job_id, key, idx, payload, status, attempts, result, error FROM alchemy_job_items "
                f"WHERE job_id = ? {where} ORDER BY idx",
                params,
            )
        ]

    def item(self, job_id: int, key: str) -> ItemRow | None:
        rows = self._rows(
            "SELECT job_id, key, idx, payload, status, attempts, result, error FROM alchemy_job_items "
            "WHERE job_id = ? AND key = ?",
            (job_id, key),
        )
        return self._item(rows[0]) if rows else None

    @staticmethod
    def _item(r: Sequence[Any]) -> ItemRow:
        return ItemRow(
            int(r[0]), r[1], int(r[2]), json.loads(r[3]), r[4], int(r[5]), json.loads(r[6]) if r[6] else None, r[7]
        )

    def start_item(self, job_id: int, key: str) -> ItemRow | None:
        """Mark a queued (or interrupted) item running and return it; None when it is finished or cancelled."""
        with self._tx() as db:
            rows = self._run(
                db,
                "UPDATE alchemy_job_items SET status = 'running', attempts = attempts + 1, "
                "updated_at = ? WHERE job_id = ? AND key = ? AND status IN ('queued', 'running') "
                "RETURNING job_id, key, idx, payload, status, attempts, result, error",
                (_now(), job_id, key),
            ).fetchall()
        return self._item(rows[0]) if rows else None

    def finish_item(self, job_id: int, key: str, status: str, result: dict[str, Any] | None, error: str | None) -> None:
        now = _now()
        with self._tx() as db:
            self._run(
                db,
                "UPDATE alchemy_job_items SET status = ?, result = ?, error = ?, updated_at = ? "
                "WHERE job_id = ? AND key = ?",
                (status, json.dumps(result) if result is not None else None, error, now, job_id, key),
            )
            self._run(db, "UPDATE alchemy_jobs SET updated_at = ? WHERE id = ?", (now, job_id))

    def cancel(self, job_id: int) -> list[str]:
        """Mark the job cancelled and its queued items cancelled (running items finish); returns those items'
        keys. On the queue their waiting queue jobs go too, in the same transaction."""
        now = _now()
        with self._tx() as db:
            self._run(db, "UPDATE alchemy_jobs SET cancelled = 1, updated_at = ? WHERE id = ?", (now, job_id))
            rows = self._run(
                db,
                "UPDATE alchemy_job_items SET status = 'cancelled', updated_at = ? "
                "WHERE job_id = ? AND status = 'queued' RETURNING key",
                (now, job_id),
            ).fetchall()
            keys = [r[0] for r in rows]
            self._drop_queued(db, job_id, keys)
        return keys

    def _drop_queued(self, db: Any, job_id: int, keys: list[str]) -> None:
        """Remove the waiting queue jobs of these items (the in-process runner has none)."""
        return None

    def requeue(self, job_id: int) -> list[str]:
        """Queue the failed and cancelled items again (the job is no longer cancelled); returns their keys."""
        now = _now()
        with self._tx() as db:
            self._run(db, "UPDATE alchemy_jobs SET cancelled = 0, updated_at = ? WHERE id = ?", (now, job_id))
            rows = self._run(
                db,
                "UPDATE alchemy_job_items SET status = 'queued', error = NULL, updated_at = ? "
                "WHERE job_id = ? AND status IN ('failed', 'cancelled') RETURNING key",
                (now, job_id),
            ).fetchall()
        return [r[0] for r in rows]

    def queue_depth(self) -> int:
        """Items waiting or running, over every job: what the worker autoscaler follows."""
        rows = self._rows("SELECT COUNT(*) FROM alchemy_job_items WHERE status IN ('queued', 'running')")
        return int(rows[0][0])


class SqliteJobRecords(_Records):
    """The records of the in-process runner, in a SQLite file of their own."""

    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._item_locks: dict[tuple[int, str], Any] = {}
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._tx() as db:
            for sql in _TABLES:
                db.execute(sql.format(serial="INTEGER"))

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @asynccontextmanager
    async def item_lock(self, job_id: int, key: str) -> AsyncIterator[None]:
        """One process runs the items: an asyncio lock per item is enough."""
        import asyncio

        entry = self._item_locks.setdefault((job_id, key), [asyncio.Lock(), 0])
        entry[1] += 1  # holders and waiters: the lock is dropped when the last of them leaves
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._item_locks[(job_id, key)]

    def close(self) -> None:
        self._db.close()


class PostgresJobRecords(_Records):
    """The records beside procrastinate's tables, through a small connection pool."""

    dialect = POSTGRES

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self._pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False)
        try:
            self._pool.open(wait=True, timeout=15)
        except Exception as exc:
            self._pool.close()
            raise StorageError(f"cannot open the job queue's database: {type(exc).__name__}") from None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def ensure_schema(self, procrastinate_schema: str) -> None:
        """Create procrastinate's schema (when absent) and these tables, once across processes."""
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if db.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
                db.execute(procrastinate_schema)
            for sql in _TABLES:
                db.execute(sql.format(serial="BIGSERIAL"))

    @asynccontextmanager
    async def item_lock(self, job_id: int, key: str) -> AsyncIterator[None]:
        """Hold the item's advisory lock for the block, on a connection of its own: a second runner of the same
        item waits here; a holder that dies releases it with its connection."""
        import psycopg

        lock = zlib.crc32(f"{job_id}:{key}".encode()) | ((int(job_id) & 0x7FFFFFFF) << 32)
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))

    def _drop_queued(self, db: Any, job_id: int, keys: list[str]) -> None:
        """Delete the procrastinate jobs of cancelled items that no worker has taken (as procrastinate's own
        cancel with delete_job does): a worker then never fetches them, and a retry queues each item once."""
        if keys:
            self._run(
                db,
                "DELETE FROM procrastinate_jobs WHERE status = 'todo' AND queue_name = ? "
                "AND (args->>'job_id')::bigint = ? AND args->>'key' = ANY(?)",
                (QUEUE_NAME, job_id, keys),
            )

    def queued_jobs(self, job_id: int) -> int:
        """Queue jobs of this job's items that wait for a worker."""
        rows = self._rows(
            "SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'todo' AND queue_name = ? "
            "AND (args->>'job_id')::bigint = ?",
            (QUEUE_NAME, job_id),
        )
        return int(rows[0][0])

    def close(self) -> None:
        self._pool.close()


def open_records(database_url: str | None, database_path: Path) -> JobRecords:
    """The job records for a library: beside it in PostgreSQL, or in `<library>.jobs.db` for SQLite."""
    if database_url:
        return PostgresJobRecords(database_url)
    return SqliteJobRecords(database_path.with_suffix(".jobs.db"))


__all__ = [
    "ITEM_STATUSES",
    "ItemRow",
    "JobRecords",
    "JobRow",
    "PostgresJobRecords",
    "QUEUE_NAME",
    "SqliteJobRecords",
    "StorageError",
    "open_records",
]

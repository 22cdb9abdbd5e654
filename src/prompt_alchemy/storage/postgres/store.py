"""The PostgreSQL store: the whole Store protocol on PostgreSQL + pgvector, through psycopg 3 and a connection pool.

- Same tables and values as the SQLite store (times as ISO 8601 text in UTC, JSON as text), created by the PostgreSQL
  dialect of the same ordered migrations (schema.py), all of them in one transaction under an advisory lock.
- Text search: a generated, weighted `tsvector` (title A, content and tags B) with a GIN index, queried with
  `websearch_to_tsquery` (the words OR-ed, quoted phrases kept) and ranked by `ts_rank` with title weighing twice
  the body, like the SQLite store's bm25(1, 2, 1).
- Vectors: one pgvector table per (model, dimensions) with an HNSW index (cosine distance); a small table, or a
  filtered search the index cannot fill, is searched exactly. The float32 BLOB stays on the prompt row too (exports
  and copies read it), like the SQLite store's.
- The portable reads and writes are the shared repositories' (storage/prompts.py, feedback.py, cache.py, access.py,
  labels.py), written once with `?` placeholders; the connection adapter below gives psycopg its `%s` placeholders
  (storage/dialect.py) and nothing else. What PostgreSQL does its own way is here.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import StorageError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import ContextItem, Prompt, SearchFilters, utcnow
from prompt_alchemy.storage.access import AccessRepository, write_note
from prompt_alchemy.storage.base import AuditNote
from prompt_alchemy.storage.cache import CacheRepository
from prompt_alchemy.storage.dialect import POSTGRES
from prompt_alchemy.storage.feedback import FeedbackRepository
from prompt_alchemy.storage.labels import LabelRepository
from prompt_alchemy.storage.people import PeopleRepository
from prompt_alchemy.storage.postgres.migrations import POSTGRES_DATA_STEPS, POSTGRES_DIALECT, TEXT_CONFIG
from prompt_alchemy.storage.prompts import (
    PROMPT_COLUMNS,
    PromptRecords,
    delete_relinking,
    filter_sql,
    fts_terms,
    prompt_to_row,
    scoped,
    unfiltered,
)
from prompt_alchemy.storage.timefmt import to_iso as _to_iso
from prompt_alchemy.storage.url import mask_url

#: Below this many vectors a space is searched exactly (a sequential scan is fast and exact there).
EXACT_LIMIT = 20_000
#: HNSW candidates per search (pgvector's hnsw.ef_search, which also caps the results of one index scan). Measured
#: with benchmarks/bench_postgres.py (384-d, m 16, ef_construction 64): recall@10 is 0.973 at 100k vectors and 0.942
#: at a million with 100; 0.985 and 0.963 with 200, for a p50 of 5.4 and 7.0 ms (2.8 and 4.2 ms with 100).
EF_SEARCH = 200
#: The HNSW graph (pgvector's defaults, stated so that the index does not change with the pgvector version): 16
#: links per node (32 on the bottom layer), 64 candidates while inserting.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
#: Memory for one index build (maintenance_work_mem), MB: sized to hold the whole graph (see build_memory).
_BUILD_MEMORY_MIN_MB, _BUILD_MEMORY_MAX_MB = 64, 8192
#: pgvector indexes vectors of at most this many dimensions; larger ones are searched exactly.
_HNSW_MAX_DIMS = 2000
#: The advisory lock keys: migrations, vector space creation and indexing, and lineage (content-deduplicating
#: inserts, which check that a parent exists, and deletes, which relink children: one at a time across replicas).
LOCK_MIGRATE, LOCK_SPACE, LOCK_INSERT = 0x5041_0001, 0x5041_0002, 0x5041_0003
#: The class of the per-label advisory locks (two-key form: this class and the hash of the label's name).
LOCK_LABEL_CLASS = 0x5041_0004
#: SQLSTATEs after which a delete is tried again: a foreign key, a serialization failure, a deadlock.
_RETRY_STATES = frozenset({"23503", "40001", "40P01"})
#: How many times a delete is tried before its error goes up.
DELETE_ATTEMPTS = 5
#: Matching documents ts_rank may score for one text query: past it, the most frequent terms are left out.
_TEXT_BUDGET = 4000
#: ts_rank weights {D, C, B, A}: title (A) weighs twice content and tags (B).
_RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"

_log = get_logger("storage.postgres")
#: How long an import batch waits for the database to come back (a restart, a failover) before the import fails.
RECONNECT_WAIT = 30.0


class _PoolLogHandler(logging.Handler):
    """psycopg_pool's own log lines (a discarded connection, a failed reconnection) as this package's INFO lines:
    without a handler of their own Python would print them raw on stderr, beside the command's one error line."""

    def emit(self, record: logging.LogRecord) -> None:
        _log.info("connection pool: %s", record.getMessage())


def _route_pool_log() -> None:
    pool_log = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, _PoolLogHandler) for h in pool_log.handlers):
        pool_log.addHandler(_PoolLogHandler())


def _connection_lost(exc: BaseException) -> bool:
    """True when `exc` (a StorageError from _connection) means the connection went away (the server restarted,
    the network dropped, no connection could be had) rather than that a statement failed."""
    import psycopg
    from psycopg_pool import PoolTimeout

    cause = exc.__cause__
    if isinstance(cause, PoolTimeout):
        return True
    if not isinstance(cause, psycopg.OperationalError):
        return False
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _retryable(exc: BaseException) -> bool:
    """True when `exc` (raw or wrapped in a StorageError) is a conflict with a concurrent writer that a fresh
    transaction resolves: a foreign key that another transaction's delete broke, a serialization failure, a
    deadlock."""
    return any(getattr(e, "sqlstate", None) in _RETRY_STATES for e in (exc, exc.__cause__))


# ------------------------------------------------------------------------------------------------ the adapter


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type:
    index = {name: i for i, name in enumerate(names)}

    class Row(tuple):
        """A result row read like sqlite3.Row: by position, by column name, and as a mapping (dict(row))."""

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, str):
                return tuple.__getitem__(self, index[key])
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _rows(cursor: Any) -> Any:
    """psycopg row factory: sqlite3.Row-like rows."""
    names = tuple(c.name for c in cursor.description or ())
    cls = _row_class(names)
    return lambda values: cls(values)


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cur = cursor
        self.rowcount = cursor.rowcount
        self.lastrowid = None

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def fetchmany(self, size: int) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class Connection:
    """A psycopg connection that takes the shared repositories' statements (`?` placeholders, see Dialect)."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        cur = self.raw.cursor(row_factory=_rows)
        cur.execute(POSTGRES.statement(sql), params if isinstance(params, dict) else tuple(params))
        return _Cursor(cur)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> _Cursor:
        cur = self.raw.cursor(row_factory=_rows)
        cur.executemany(POSTGRES.statement(sql), [tuple(r) for r in rows])
        return _Cursor(cur)


# ------------------------------------------------------------------------------------------------ helpers


def vector_literal(vector: Any) -> str:
    """A pgvector text literal ('[0.1,0.2,...]') of a float32 vector or BLOB."""
    import numpy as np

    if isinstance(vector, (bytes, bytearray, memoryview)):
        vector = np.frombuffer(vector, dtype=np.float32)
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    return "[" + ",".join(map(repr, arr.tolist())) + "]"


def _table_name(model: str, dimensions: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:24] or "model"
    digest = hashlib.sha1(f"{model}\0{dimensions}".encode()).hexdigest()[:8]
    return f"vectors_{slug}_{dimensions}_{digest}"


def build_memory(rows: int, dimensions: int, m: int = HNSW_M) -> str:
    """maintenance_work_mem for building the HNSW index of `rows` vectors: the whole graph, so that the build stays
    in memory. pgvector's in-memory graph takes about 4 bytes per dimension and 48 per link slot (measured: 2,253
    bytes a node at 384 dimensions, m 16); past maintenance_work_mem it finishes on disk, many times slower (a
    million 384-d vectors need 2.2 GB, twice the 1 GB this store used to ask for). A parallel build takes this much
    shared memory at once, so it is sized to the table rather than set high once (see _ensure_index for servers
    with little shared memory)."""
    need = rows * (4 * dimensions + 48 * m) * 1.25 / 1048576 + 32
    return f"{int(min(_BUILD_MEMORY_MAX_MB, max(_BUILD_MEMORY_MIN_MB, need)))}MB"


def connection_problem(url: str, exc: BaseException) -> str:
    """One line about a failed connection: where (password masked) and PostgreSQL's first line of reason."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"^connection failed:\s*", "", reason)
    return mask_url(f"cannot connect to the PostgreSQL library {url}: {reason}")


class PgVectorSpace:
    """The vectors of one (model, dimensions) in PostgreSQL, read like the in-memory index: len, membership, search."""

    def __init__(self, store: PostgresStore, model: str, dimensions: int) -> None:
        self.store, self.model, self.dimensions = store, model, dimensions

    def __len__(self) -> int:
        table = self.store._space(self.model, self.dimensions, create=False)
        return int(self.store.query(f"SELECT COUNT(*) FROM {table}")[0][0]) if table else 0

    def __contains__(self, prompt_id: object) -> bool:
        table = self.store._space(self.model, self.dimensions, create=False)
        return bool(table) and bool(self.store.query(f"SELECT 1 FROM {table} WHERE id = ?", (prompt_id,)))

    @property
    def nbytes(self) -> int:
        table = self.store._space(self.model, self.dimensions, create=False)
        return int(self.store.query(f"SELECT pg_total_relation_size('{table}')")[0][0]) if table else 0

    def search(self, query: Any, k: int = 10, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        return self.store._nearest(query, self.model, self.dimensions, k, allowed_ids=allowed)


# ------------------------------------------------------------------------------------------------ the store


class PostgresStore(
    PromptRecords, FeedbackRepository, CacheRepository, AccessRepository, LabelRepository, PeopleRepository
):
    """The library in PostgreSQL. Thread-safe: every call borrows a pooled connection."""

    dialect = POSTGRES

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, connect_timeout: float = 10) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            from prompt_alchemy.localstack import missing_extra

            raise StorageError(f"storage.url is a PostgreSQL database, but {missing_extra('postgres', exc)}") from None

        self.url = url
        self.shown_url = mask_url(url)
        #: Where the library is, for reports (the password masked).
        self.path = Path(self.shown_url)
        self.write_refusal: str | None = None
        self._spaces: dict[tuple[str, int], str] = {}
        self._spaces_lock = threading.Lock()
        self._indexed: set[str] = set()
        self._lexeme_stats: tuple[float, int, dict[str, float]] = (-1e9, 0, {})
        try:  # one direct connection first: its error says what is wrong (the pool's would only time out)
            with psycopg.connect(url, connect_timeout=int(connect_timeout), autocommit=True) as probe:
                self._check_pgvector(probe)
        except psycopg.Error as exc:
            raise StorageError(connection_problem(url, exc)) from None

        def configure(conn: Any) -> None:
            conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")

        # check: every borrowed connection is tested first, so after the server restarts (or the network comes back)
        # the pool replaces dead connections by itself and the store recovers without a restart of this process.
        _route_pool_log()
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=configure,
            check=ConnectionPool.check_connection,
            reconnect_timeout=24 * 3600,
            kwargs={"autocommit": True, "connect_timeout": int(connect_timeout)},
            timeout=5.0,
            name="prompt-alchemy",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout + 5)
            self.applied_migrations: list[str] = self.migrate()
        except psycopg.Error as exc:  # e.g. no right to create tables or the vector extension: nothing was written
            self._pool.close()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = (
                " (run CREATE EXTENSION vector as a superuser once, or grant this role the right to)"
                if "extension" in first.lower()
                else ""
            )
            raise StorageError(
                mask_url(
                    f"cannot prepare the PostgreSQL library {self.shown_url}: {first}{hint}; " f"nothing was written"
                )
            ) from None
        except BaseException:
            self._pool.close()
            raise

    def _check_pgvector(self, conn: Any) -> None:
        """StorageError (before anything is written) when the server has no pgvector."""
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        available = installed or conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        if not available:
            raise StorageError(
                f"the PostgreSQL server of {self.shown_url} has no pgvector extension; install "
                f"pgvector (https://github.com/pgvector/pgvector) on it; nothing was written"
            )

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StorageError(mask_url(f"lost the PostgreSQL library {self.shown_url}: {reason}")) from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: all of it commits, or (on any error) none of it."""
        if self.write_refusal:
            raise StorageError(self.write_refusal)
        with self._connection() as conn, conn.transaction():
            yield Connection(conn)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._connection() as conn:
            return Connection(conn).execute(sql, tuple(params)).fetchall()

    read = query

    def generation(self) -> int:
        """A number that changes whenever the library changes (any process)."""
        return self.data_version()

    def data_version(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT last_value FROM library_changes").fetchone()[0])

    def migrate(self) -> list[str]:
        """Apply pending migrations in order, all in one transaction under an advisory lock (several servers may
        start at once)."""
        applied: list[str] = []
        with self.transaction() as db:
            db.execute(f"SELECT pg_advisory_xact_lock({LOCK_MIGRATE})")
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in db.execute("SELECT name FROM _migrations").fetchall()}
            unknown = sorted(done - set(POSTGRES_DIALECT))
            if unknown:
                self.write_refusal = (
                    f"the PostgreSQL library {self.shown_url} was written by a newer version of "
                    f"prompt-alchemy (schema migrations unknown here: {', '.join(unknown)}); "
                    f"upgrade prompt-alchemy to write to it"
                )
                return []
            for name, script in POSTGRES_DIALECT.items():
                if name in done:
                    continue
                if script.strip():
                    db.raw.execute(script)
                if name in POSTGRES_DATA_STEPS:
                    POSTGRES_DATA_STEPS[name](db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _to_iso(utcnow())))
                applied.append(name)
        return applied

    def library_exists(self) -> bool:
        return True  # connected and migrated in __init__

    def close(self) -> None:
        self._pool.close()

    # ------------------------------------------------------------------ vector spaces

    def _space(self, model: str, dimensions: int, *, create: bool) -> str | None:
        """The table of (model, dimensions), created on first write. Its HNSW index is built once the table
        outgrows exact search (see _ensure_index): until then inserts do not pay for maintaining a graph."""
        key = (model, dimensions)
        table = self._spaces.get(key)
        if table is not None:
            return table
        rows = self.query("SELECT table_name FROM vector_spaces WHERE model = ? AND dimensions = ?", key)
        if rows:
            table = rows[0][0]
        elif not create:
            return None
        else:
            table = _table_name(model, dimensions)
            with self.transaction() as db:
                db.execute(f"SELECT pg_advisory_xact_lock({LOCK_SPACE})")
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY REFERENCES prompts(id) "
                    f"ON DELETE CASCADE, embedding vector({int(dimensions)}) NOT NULL)"
                )
                db.execute(
                    "INSERT INTO vector_spaces (model, dimensions, table_name) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (model, dimensions, table),
                )
        with self._spaces_lock:
            self._spaces[key] = table
        return table

    def _write_vectors(self, db: Connection, prompts: Iterable[Prompt]) -> None:
        by_space: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for p in prompts:
            if p.embedding is not None and p.embedding_model:
                dims = p.embedding_dim or len(p.embedding)
                by_space.setdefault((p.embedding_model, dims), []).append((p.id, vector_literal(p.embedding)))
        for (model, dims), rows in by_space.items():
            table = self._spaces.get((model, dims))
            assert table is not None  # created by _prepare_spaces before the transaction
            db.executemany(
                f"INSERT INTO {table} (id, embedding) VALUES (?, ?::vector) "
                f"ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding",
                rows,
            )

    def _before_write(self, prompts: Iterable[Prompt]) -> None:
        """Create the vector spaces `prompts` write to (each in a transaction of its own) before their insert."""
        for p in prompts:
            if p.embedding is not None and p.embedding_model:
                self._space(p.embedding_model, p.embedding_dim or len(p.embedding), create=True)

    def vector_index(self, model: str, dimensions: int) -> PgVectorSpace:
        return PgVectorSpace(self, model, dimensions)

    def search_vectors(
        self, vector: Any, model: str, dimensions: int, limit: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the nearest vectors: HNSW on a large space, exact on a small one; with
        filters, HNSW filtered afterwards, and exact when that leaves fewer than `limit` hits."""
        return self._nearest(vector, model, dimensions, limit, filters=filters)

    def _nearest(
        self,
        vector: Any,
        model: str,
        dimensions: int,
        limit: int,
        *,
        filters: SearchFilters | None = None,
        allowed_ids: set[str] | None = None,
        exact: bool | None = None,
    ) -> list[tuple[str, float]]:
        import numpy as np

        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape[0] != dimensions:
            raise ValueError(f"query has {q.shape[0]} dimensions, index {model} has {dimensions}")
        table = self._space(model, dimensions, create=False)
        if table is None or limit <= 0:
            return []
        literal = vector_literal(q)
        where, params = ("TRUE", []) if unfiltered(filters) else filter_sql(filters, POSTGRES)
        if allowed_ids is not None:
            where, params = f"({where}) AND v.id = ANY(?)", params + [list(allowed_ids)]
        join = "" if where == "TRUE" else "JOIN prompts p ON p.id = v.id "
        sql = (
            f"SELECT v.id, 1 - (v.embedding <=> ?::vector) AS similarity FROM {table} v {join}WHERE {where} "
            f"ORDER BY v.embedding <=> ?::vector LIMIT ?"
        )
        args = [literal, *params, literal, limit]
        if exact is None:
            exact = dimensions > _HNSW_MAX_DIMS or self._estimated_rows(table) < EXACT_LIMIT
            if not exact:
                self._ensure_index(table)
        with self.transaction() as db:
            if exact:
                db.execute("SET LOCAL enable_indexscan = off")
            rows = db.execute(sql, args).fetchall()
            if not exact and len(rows) < limit and where != "TRUE":  # the index's candidates were filtered away
                db.execute("SET LOCAL enable_indexscan = off")
                rows = db.execute(sql, args).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def _ensure_index(self, table: str) -> None:
        """Build the HNSW index (cosine) of a vector table that has none yet: once, by whichever process first
        searches the table after it outgrew exact search (or by vacuum); later inserts keep it current.

        The build gets the memory its graph needs (build_memory) and as many parallel workers as the server allows
        (max_parallel_maintenance_workers). A parallel build holds the graph in shared memory; a server with little
        of it (a container's 64 MB /dev/shm) refuses, and the build is then made again by one process in private
        memory, and finally with the server's own maintenance_work_mem."""
        import psycopg

        if table in self._indexed:
            return
        if not self.query("SELECT 1 FROM pg_indexes WHERE tablename = ? AND indexname = ?", (table, f"{table}_hnsw")):
            dims = next((d for (_, d), t in self._all_spaces().items() if t == table), 0)
            rows = int(self.query(f"SELECT COUNT(*) FROM {table}")[0][0])  # exact: statistics may be stale
            memory = build_memory(rows, dims or _HNSW_MAX_DIMS)
            attempts = [(memory, None), (memory, 0), (None, 0)]  # (maintenance_work_mem, parallel workers)
            for i, (mem, workers) in enumerate(attempts):
                with self._connection() as conn:
                    conn.add_notice_handler(self._build_notice)
                    try:
                        with conn.transaction():
                            conn.execute(f"SELECT pg_advisory_xact_lock({LOCK_SPACE})")
                            if mem:
                                conn.execute(f"SET LOCAL maintenance_work_mem = '{mem}'")
                            if workers is not None:
                                conn.execute(f"SET LOCAL max_parallel_maintenance_workers = {int(workers)}")
                            conn.execute(
                                f"CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw "
                                f"(embedding vector_cosine_ops) WITH (m = {HNSW_M}, "
                                f"ef_construction = {HNSW_EF_CONSTRUCTION})"
                            )
                        break
                    except psycopg.errors.InsufficientResources as exc:  # shared memory, memory or disk (53xxx)
                        reason = str(exc).strip().splitlines()[0]
                        if i == len(attempts) - 1:
                            raise StorageError(
                                mask_url(f"cannot build the vector index of {self.shown_url}: " f"{reason}")
                            ) from None
                        _log.warning(
                            "building the vector index %s failed (%s); trying again %s",
                            table,
                            reason,
                            "in one process" if i == 0 else "with the server's maintenance_work_mem",
                        )
                    finally:
                        conn.remove_notice_handler(self._build_notice)
        self._indexed.add(table)

    @staticmethod
    def _build_notice(diag: Any) -> None:
        """pgvector's notices during an index build (e.g. that the graph outgrew maintenance_work_mem) are logged."""
        _log.warning(
            "building a vector index: %s%s",
            diag.message_primary,
            f" ({diag.message_detail})" if diag.message_detail else "",
        )

    def _estimated_rows(self, table: str) -> int:
        rows = self.query("SELECT reltuples::bigint FROM pg_class WHERE oid = ?::regclass", (table,))
        estimate = int(rows[0][0]) if rows else 0
        if estimate < 0:  # never analyzed: count (a small table, or a fresh one)
            estimate = int(self.query(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT {EXACT_LIMIT}) s")[0][0])
        return estimate

    def load_embeddings(self, model: str, dimensions: int) -> tuple[list[str], Any]:
        import numpy as np

        rows = self.query(
            "SELECT id, embedding FROM prompts WHERE embedding IS NOT NULL AND embedding_model = ? "
            "AND embedding_dim = ?",
            (model, dimensions),
        )
        rows = [r for r in rows if len(r[1]) == dimensions * 4]
        matrix = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype=np.float32).reshape(len(rows), dimensions)
        return [r[0] for r in rows], matrix.copy()

    def set_embeddings(self, rows: list[tuple[str, bytes]], model: str, provider: str, dimensions: int) -> None:
        table = self._space(model, dimensions, create=True)
        others = [t for (m, d), t in self._all_spaces().items() if (m, d) != (model, dimensions)]
        with self.transaction() as db:
            db.executemany(
                "UPDATE prompts SET embedding = ?, embedding_model = ?, embedding_provider = ?, "
                "embedding_dim = ? WHERE id = ?",
                [(blob, model, provider, dimensions, pid) for pid, blob in rows],
            )
            ids = [pid for pid, _ in rows]
            for other in others:
                db.execute(f"DELETE FROM {other} WHERE id = ANY(?)", (ids,))
            db.executemany(
                f"INSERT INTO {table} (id, embedding) SELECT ?, ?::vector WHERE EXISTS "
                f"(SELECT 1 FROM prompts WHERE id = ?) ON CONFLICT (id) DO UPDATE SET "
                f"embedding = excluded.embedding",
                [(pid, vector_literal(blob), pid) for pid, blob in rows],
            )

    def _all_spaces(self) -> dict[tuple[str, int], str]:
        return {(r[0], int(r[1])): r[2] for r in self.query("SELECT model, dimensions, table_name FROM vector_spaces")}

    # ------------------------------------------------------------------ writes

    _INSERT = f"INSERT INTO prompts ({', '.join(PROMPT_COLUMNS)}) " f"VALUES ({', '.join('?' for _ in PROMPT_COLUMNS)})"

    def _insert_prompts(self, db: Connection, prompts: list[Prompt]) -> None:
        if prompts:
            db.executemany(self._INSERT, [tuple(prompt_to_row(p).values()) for p in prompts])
            self._write_vectors(db, prompts)

    def insert_new_prompts(
        self,
        prompts: list[Prompt],
        contexts: dict[str, list[ContextItem]] | None = None,
        remap: dict[str, str] | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> tuple[list[Prompt], dict[str, str], set[str]]:
        """Like the SQLite store's: inserts the prompts whose content is not stored yet, in one transaction that
        holds an advisory lock, so that concurrent imports (from any process) store each content once. The `audit`
        row, naming the ids inserted, commits in the same transaction.

        The batch is all or nothing. When the connection is lost (the server restarts, fails over, the network
        drops) the transaction is rolled back by the server and the batch is written again once the database is
        back, for up to RECONNECT_WAIT seconds; after that the StorageError goes up and the batches written before
        stay, whole. Writing again is safe because the batch only adds content not yet stored: rows of a commit
        whose acknowledgement was lost are found stored under their own ids and reported as inserted."""
        contexts = contexts or {}
        remap = {} if remap is None else remap
        parents = [p.parent_id for p in prompts]
        known = dict(remap)
        deadline = None
        attempt = 0
        while True:
            try:
                self._before_write(prompts)
                return self._insert_new(prompts, contexts, remap, again=attempt > 0, audit=audit)
            except StorageError as exc:
                if not _connection_lost(exc):
                    raise
                deadline = deadline or time.monotonic() + RECONNECT_WAIT
                if time.monotonic() >= deadline:
                    reason = str(exc).split(": ", 1)[-1] if str(exc).startswith("lost the") else str(exc)
                    raise StorageError(
                        f"lost the PostgreSQL library {self.shown_url} during an import and it was "
                        f"not back within {RECONNECT_WAIT:g} s ({reason}); the batches written "
                        f"before are kept whole, and importing the file again adds the rest"
                    ) from exc
                _log.info("the PostgreSQL library went away during an import batch (%s); writing it again", exc)
                for prompt, parent in zip(prompts, parents):  # undo what the lost attempt changed
                    prompt.parent_id = parent
                remap.clear()
                remap.update(known)
                attempt += 1
                time.sleep(min(2.0, 0.25 * attempt))

    def _insert_new(
        self,
        prompts: list[Prompt],
        contexts: dict[str, list[ContextItem]],
        remap: dict[str, str],
        *,
        again: bool,
        audit: AuditNote | None,
    ) -> tuple[list[Prompt], dict[str, str], set[str]]:
        inserted: list[Prompt] = []
        duplicates: dict[str, str] = {}
        taken: set[str] = set()
        with self.transaction() as db:
            db.execute(f"SELECT pg_advisory_xact_lock({LOCK_INSERT})")
            hashes = list({p.content_hash for p in prompts})
            stored = {
                r[0]: r[1]
                for r in db.execute(
                    "SELECT DISTINCT ON (content_hash) content_hash, id FROM prompts WHERE content_hash = ANY(?) "
                    "ORDER BY content_hash, created_at, id",
                    (hashes,),
                ).fetchall()
            }
            ids = list({p.id for p in prompts} | {p.parent_id for p in prompts if p.parent_id})
            existing = {r[0] for r in db.execute("SELECT id FROM prompts WHERE id = ANY(?)", (ids,)).fetchall()}
            committed: list[Prompt] = []  # written by a lost attempt whose commit went through after all
            for prompt in prompts:
                if prompt.parent_id in remap:
                    prompt.parent_id = remap[prompt.parent_id]
                if prompt.parent_id in taken:
                    prompt.parent_id = None
                if again and stored.get(prompt.content_hash) == prompt.id:
                    committed.append(prompt)
                    continue
                if prompt.content_hash in stored:
                    remap[prompt.id] = duplicates[prompt.id] = stored[prompt.content_hash]
                    continue
                if prompt.id in existing:
                    taken.add(prompt.id)
                    continue
                if prompt.parent_id is not None and prompt.parent_id not in existing:
                    prompt.parent_id = None
                inserted.append(prompt)
                stored[prompt.content_hash] = prompt.id
                existing.add(prompt.id)
            self._insert_prompts(db, inserted)
            for prompt in inserted:
                for item in contexts.get(prompt.id, []):
                    self._insert_context(db, prompt, item)
            if inserted:  # rows of a lost attempt that committed after all came with their own audit row
                write_note(db, audit, [p.id for p in inserted], utcnow())
        return committed + inserted, duplicates, taken

    def delete_prompts(self, ids: list[str], *, audit: AuditNote | None = None) -> int:
        """Delete prompts with their context, metrics, feedback and vectors (by cascade); children are relinked to
        the deleted prompt's parent. One transaction, with the `audit` row naming the ids deleted.

        Safe across replicas: the transaction takes the lineage lock (so deletes, and imports that check parents,
        go one at a time), then each row FOR UPDATE, reading its parent as last committed. Of concurrent deletes of
        one prompt exactly one deletes it (the others count 0 and write no audit row), and deleting a parent and
        its child at once relinks the grandchildren to the surviving ancestor in either order. A conflict with
        another kind of writer (a foreign key, a deadlock) is tried again, up to DELETE_ATTEMPTS times."""
        import psycopg

        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                with self.transaction() as db:
                    db.execute(f"SELECT pg_advisory_xact_lock({LOCK_INSERT})")
                    deleted = delete_relinking(db, sorted(set(ids)), lock=" FOR UPDATE")
                    if deleted:
                        write_note(db, audit, deleted, utcnow())
                return len(deleted)
            except (psycopg.Error, StorageError) as exc:
                if attempt == DELETE_ATTEMPTS or not _retryable(exc):
                    raise
                _log.info(
                    "a delete met a concurrent write (%s); trying again", getattr(exc.__cause__ or exc, "sqlstate", "")
                )
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ reads

    def resolve_prefix(self, prefix: str, limit: int = 10) -> list[Any]:
        where, params = scoped("p.id = ?", [prefix])
        exact = self.query(f"SELECT p.id, p.phase, p.title, p.created_at FROM prompts p WHERE {where}", params)
        if exact:
            return exact
        where, params = scoped("starts_with(p.id, ?)", [prefix])
        return self.query(
            f"SELECT p.id, p.phase, p.title, p.created_at FROM prompts p WHERE {where} " "ORDER BY p.id LIMIT ?",
            params + [limit],
        )

    def filter_ids(self, filters: SearchFilters | None) -> frozenset[str]:
        where, params = filter_sql(filters, POSTGRES)
        return frozenset(r[0] for r in self.query(f"SELECT p.id FROM prompts p WHERE {where}", params))

    # ------------------------------------------------------------------ text search

    def search_text(self, query: str, filters: SearchFilters | None = None, limit: int = 10) -> list[tuple[str, float]]:
        """(id, score) by `ts_rank` over the weighted tsvector (title twice the body), best first. The words are
        OR-ed (quoted phrases stay phrases) like the SQLite store's FTS5 query; `websearch_to_tsquery` applies
        English stemming and stop words and never fails on odd syntax."""
        terms = fts_terms(query)
        if not terms:
            return []
        text = " or ".join(self._selective_terms(terms))
        where, params = ("TRUE", []) if unfiltered(filters) else filter_sql(filters, POSTGRES)
        sql = (
            f"SELECT p.id, ts_rank('{_RANK_WEIGHTS}', p.search, q, 1) AS rank "
            f"FROM prompts p, websearch_to_tsquery('{TEXT_CONFIG}', ?) AS q "
            f"WHERE p.search @@ q AND {where} ORDER BY rank DESC, p.id LIMIT ?"
        )
        return [(r[0], float(r[1])) for r in self.query(sql, [text, *params, limit])]

    def _selective_terms(self, terms: list[str]) -> list[str]:
        """The terms to rank by. ts_rank scores every document that matches any term, so in a large library the
        most frequent terms (which also weigh least) are left out until the estimated number of matching documents
        fits _TEXT_BUDGET; the rarest term always stays. Frequencies come from PostgreSQL's own statistics of the
        tsvector column (its most common lexemes, kept by ANALYZE and autovacuum), read at most once a minute."""
        if len(terms) == 1:
            return terms
        stamp, rows, freqs = self._lexeme_stats
        if time.monotonic() - stamp > 60:
            stats = self.query(
                "SELECT c.reltuples::bigint, s.most_common_elems::text, s.most_common_elem_freqs "
                "FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = 'prompts' AND "
                "s.attname = 'search' AND s.schemaname = current_schema() "
                "WHERE c.oid = 'prompts'::regclass"
            )
            rows, freqs = 0, {}
            if stats:
                rows = max(0, int(stats[0][0] or 0))
                elems = (stats[0][1] or "{}").strip("{}")
                lexemes = [e.strip('"') for e in elems.split(",")] if elems else []
                freqs = dict(zip(lexemes, [float(f) for f in (stats[0][2] or [])]))
            self._lexeme_stats = (time.monotonic(), rows, freqs)
        if rows <= _TEXT_BUDGET or not freqs:
            return terms
        lexed = self.query(
            f"SELECT t, ARRAY(SELECT lexeme FROM unnest(to_tsvector('{TEXT_CONFIG}', t))) "
            f"FROM unnest(?::text[]) AS t",
            ([t.strip('"') for t in terms],),
        )
        estimated = []
        for i, (term, (_, lexemes)) in enumerate(zip(terms, lexed)):
            df = min((freqs.get(lx, 0.0) for lx in lexemes), default=0.0) * rows if lexemes else 0.0
            estimated.append((df, i, term))
        chosen: list[tuple[int, str]] = []
        total = 0.0
        for df, i, term in sorted(estimated):
            if chosen and total + df > _TEXT_BUDGET:
                break
            chosen.append((i, term))
            total += df
        return [term for _, term in sorted(chosen)]

    def fts_check(self) -> None:
        """Raise StorageError when a stored tsvector disagrees with its row (it is generated, so it never should)."""
        bad = self.query(
            f"SELECT COUNT(*) FROM prompts WHERE search IS DISTINCT FROM ("
            f"setweight(to_tsvector('{TEXT_CONFIG}', coalesce(title, '')), 'A') || "
            f"setweight(to_tsvector('{TEXT_CONFIG}', content), 'B') || "
            f"setweight(to_tsvector('{TEXT_CONFIG}', coalesce(tags, '')), 'B'))"
        )[0][0]
        if bad:
            raise StorageError(f"{bad} prompts have a stale text index")

    # ------------------------------------------------------------------ the response cache

    def cached_response(self, key: str, now: float) -> str | None:
        rows = self.query(
            "UPDATE response_cache SET hits = hits + 1 WHERE key = ? AND expires_at > ? " "RETURNING response",
            (key, now),
        )
        return rows[0][0] if rows else None

    def cached_vectors(self, keys: Sequence[str], now: float) -> dict[str, bytes]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        return {
            r[0]: bytes(r[1])
            for r in self.query(
                "SELECT key, vector FROM embedding_cache WHERE expires_at > ? AND key = ANY(?)", (now, unique)
            )
        }

    # ------------------------------------------------------------------ access (what differs from SQLite)

    def insert_api_key(
        self,
        *,
        key_id: str,
        name: str,
        scope: str,
        salt: str,
        secret_hash: str,
        rate_limit: int | None,
        created_at: datetime,
    ) -> None:
        """Store a new key; an active key of the same name is a conflict (sqlite3.IntegrityError, as the SQLite
        store raises: the service's contract)."""
        import sqlite3

        import psycopg

        try:
            super().insert_api_key(
                key_id=key_id,
                name=name,
                scope=scope,
                salt=salt,
                secret_hash=secret_hash,
                rate_limit=rate_limit,
                created_at=created_at,
            )
        except psycopg.errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(str(exc)) from None

    # ------------------------------------------------------------------ labels (what differs from SQLite)

    def _lock_label(self, db: Connection, name: str) -> None:
        """A transaction lock of the label's own (an advisory lock on its name's hash, which also covers a label
        not created yet): concurrent moves of one label, from any replica, read its previous prompt one after the
        other, each after the last one committed."""
        db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (LOCK_LABEL_CLASS, name))

    # ------------------------------------------------------------------ maintenance

    def check_integrity(self, *, quick: bool = True, max_findings: int = 10) -> list[str]:
        """PostgreSQL keeps its own pages consistent; here: the library answers and its migrations are known."""
        try:
            self.query("SELECT COUNT(*) FROM _migrations")
        except StorageError as exc:
            return [str(exc)]
        return [self.write_refusal] if self.write_refusal else []

    def file_sizes(self) -> dict[str, int]:
        size = int(self.query("SELECT pg_database_size(current_database())")[0][0])
        return {"database": size, "database_wal": 0, "database_shm": 0}

    def stats(self) -> dict[str, Any]:
        one = lambda sql: self.query(sql)[0][0]  # noqa: E731
        size = self.file_sizes()
        return {
            "path": self.shown_url,
            "backend": "postgresql",
            **self.library_counts(),
            "fts_documents": one("SELECT COUNT(*) FROM prompts WHERE search <> ''::tsvector"),
            "vector_spaces": [
                dict(r)
                for r in self.query(
                    "SELECT model, dimensions, table_name FROM vector_spaces ORDER BY model, dimensions"
                )
            ],
            "page_size": 8192,
            "page_count": size["database"] // 8192,
            "freelist_pages": 0,
            "files": size,
        }

    def vacuum(self) -> None:
        """VACUUM ANALYZE (outside a transaction, as PostgreSQL requires)."""
        if self.write_refusal:
            raise StorageError(self.write_refusal)
        with self._connection() as conn:
            conn.execute("VACUUM ANALYZE")
        for (_, dims), table in self._all_spaces().items():  # a space that outgrew exact search gets its index
            if dims <= _HNSW_MAX_DIMS and self._estimated_rows(table) >= EXACT_LIMIT:
                self._ensure_index(table)

    def backup_to(self, target: Path, partial: Path | None = None) -> int:
        """A logical dump as a SQLite library file (every row, vectors included), which `db copy` restores into
        any library, PostgreSQL or SQLite: written to `partial`, checked, then renamed into place."""
        import os

        from prompt_alchemy.storage.copy import copy_library
        from prompt_alchemy.storage.sqlite import SQLiteStore, integrity_check

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial or target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            dump = SQLiteStore(partial)
            try:
                copy_library(self, dump)
            finally:
                dump.close()
            problems = integrity_check(partial)
            if problems:
                raise StorageError(f"the backup copy of {self.shown_url} fails its integrity check ({problems[0]})")
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target.stat().st_size

    # ------------------------------------------------------------------ copying a library in (storage/copy.py)

    def _before_copy(self, source: Any) -> None:
        for row in source.embedding_counts():
            if row["model"] and row["dimensions"]:
                self._space(row["model"], int(row["dimensions"]), create=True)

    def _after_copy(self, db: Connection) -> None:
        """Inside the copy's transaction: the vector tables filled from the copied rows, identities moved on."""
        spaces = {
            (r[0], int(r[1])): r[2]
            for r in db.execute("SELECT model, dimensions, table_name FROM vector_spaces").fetchall()
        }
        last = ""
        while True:
            rows = db.execute(
                "SELECT id, embedding, embedding_model, embedding_dim FROM prompts WHERE id > ? AND "
                "embedding IS NOT NULL ORDER BY id LIMIT 2000",
                (last,),
            ).fetchall()
            if not rows:
                break
            by_table: dict[str, list[tuple[str, str]]] = {}
            for r in rows:
                table = spaces.get((r[2], int(r[3] or 0)))
                if table and len(r[1]) == int(r[3]) * 4:
                    by_table.setdefault(table, []).append((r[0], vector_literal(bytes(r[1]))))
            for table, values in by_table.items():
                db.executemany(f"INSERT INTO {table} (id, embedding) VALUES (?, ?::vector)", values)
            last = rows[-1][0]
        for table in ("audit_log", "label_history"):
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )

    # ------------------------------------------------------------------ several servers

    @contextmanager
    def exclusive(self, task: str) -> Iterator[bool]:
        """Try a session advisory lock named by `task`: yields True when this process holds it (released
        afterwards), False when another process (another replica) does. For work that must run once across replicas,
        such as nightly training."""
        key = int.from_bytes(hashlib.sha1(f"prompt-alchemy:{task}".encode()).digest()[:8], "big", signed=True)
        with self._connection() as conn:
            got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # ------------------------------------------------------------------ rate limits

    def count_request(self, key_id: str, limit: int, *, window: float = 60.0, now: float | None = None) -> float:
        """Count one request of `key_id` in its window, shared by every process on this database: one UPSERT on
        `rate_windows` (a row per key, on the database's clock), atomic under concurrent requests from any
        replica. 0.0 when the request is within `limit`, else the seconds until the window closes. Each process
        deletes the rows of closed windows once a window (a closed window and no row count the same)."""
        params = {"key": key_id, "limit": int(limit), "window": float(window), "now": now}
        clock = "COALESCE(%(now)s::float8, EXTRACT(EPOCH FROM statement_timestamp())::float8)"
        with self._connection() as conn:
            hits, start, at = conn.execute(
                f"INSERT INTO rate_windows AS w (key_id, window_start, hits) VALUES (%(key)s, {clock}, 1) "
                f"ON CONFLICT (key_id) DO UPDATE SET "
                f"window_start = CASE WHEN w.window_start > EXCLUDED.window_start - %(window)s "
                f"THEN w.window_start ELSE EXCLUDED.window_start END, "
                f"hits = CASE WHEN w.window_start > EXCLUDED.window_start - %(window)s "
                f"THEN LEAST(w.hits, %(limit)s) + 1 ELSE 1 END "
                f"RETURNING hits, window_start, {clock}",
                params,
            ).fetchone()
            swept = getattr(self, "_rate_swept", None)
            if swept is None or at - swept >= window:
                self._rate_swept = at
                conn.execute("DELETE FROM rate_windows WHERE window_start <= %s", (at - window,))
        return 0.0 if hits <= limit else max(0.0, start + window - at)

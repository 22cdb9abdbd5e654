"""The SQLite store: WAL mode, ordered migrations, parameterized statements, one transaction per session."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.models import ContextItem, MetricRecord, Phase, Prompt, SearchFilters, new_id, utcnow
from prompt_alchemy.storage.access import AccessRepository, write_note
from prompt_alchemy.storage.cache import CacheRepository
from prompt_alchemy.storage.feedback import FeedbackRepository
from prompt_alchemy.storage.labels import LabelRepository
from prompt_alchemy.storage.migrations import MIGRATIONS
from prompt_alchemy.storage.timefmt import to_iso as _to_iso

if TYPE_CHECKING:
    from prompt_alchemy.storage.base import AuditNote

PROMPT_COLUMNS: tuple[str, ...] = tuple(Prompt.model_fields)
_JSON_COLUMNS = {"tags", "generation_request", "generation_context"}
_TIME_COLUMNS = {"created_at", "updated_at", "last_used_at"}


def vector_to_blob(vector: Any) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def blob_to_vector(blob: bytes) -> list[float]:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32).tolist()


def prompt_to_row(prompt: Prompt) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in PROMPT_COLUMNS:
        value = getattr(prompt, name)
        if name == "embedding":
            value = vector_to_blob(value) if value is not None else None
        elif name == "phase":
            value = value.value if value is not None else None
        elif name in _JSON_COLUMNS:
            value = json.dumps(value) if value is not None else None
        elif name in _TIME_COLUMNS:
            value = _to_iso(value)
        row[name] = value
    if row["embedding"] is not None and prompt.embedding_dim is None:
        row["embedding_dim"] = len(prompt.embedding or [])
    return row


def row_to_prompt(row: sqlite3.Row) -> Prompt:
    data = dict(row)
    for name in _JSON_COLUMNS:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
    if data.get("tags") is None:
        data["tags"] = []
    if data.get("embedding") is not None:
        data["embedding"] = blob_to_vector(data["embedding"])
    if data.get("phase"):
        data["phase"] = Phase(data["phase"])
    return Prompt(**data)


# ------------------------------------------------------------------ library queries

#: Every prompt column but the embedding BLOB: what lists and search results read.
_LIGHT = ", ".join(f"p.{c}" for c in PROMPT_COLUMNS if c != "embedding")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers him his how
i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours out
over own please same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours
""".split())
_MAX_TERMS = 32
#: Matching documents bm25 may score for one text query: past it, the most frequent terms are left out.
_TEXT_BUDGET = 4000
#: Most recent rows sampled to estimate how many documents a term matches.
_DF_SAMPLE = 4000
_LOAD_MMAP = 1 << 30


def fts_terms(text: str) -> list[str]:
    """Quoted FTS5 terms for free text: "quoted phrases" stay phrases, other words become terms (stop words
    dropped unless nothing else is left). Every term is quoted, so FTS5 syntax in the input is never interpreted."""
    phrases = [" ".join(_TOKEN.findall(p)) for p in re.findall(r'"([^"]*)"', text)]
    words = [w.lower() for w in _TOKEN.findall(re.sub(r'"[^"]*"', " ", text))]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return ([f'"{p}"' for p in phrases if p] + [f'"{w}"' for w in dict.fromkeys(kept)])[:_MAX_TERMS]


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the terms of `text`, so that bm25 ranks documents by how well they match."""
    terms = fts_terms(text)
    return " OR ".join(terms) if terms else None


_SQLITE_TAG = "EXISTS (SELECT 1 FROM json_each({a}.tags) AS t WHERE lower(t.value) = lower(?))"


def filter_sql(filters: SearchFilters | None, alias: str = "p", *, true: str = "1",
               tag_clause: str = _SQLITE_TAG) -> tuple[str, list[Any]]:
    """A WHERE clause (with `?` parameters) for `filters` over the prompts table aliased `alias`. Another dialect
    gives its literal for true and its clause matching one tag of the JSON `tags` column ({a} is the alias)."""
    if filters is None:
        return true, []
    a = alias
    clauses: list[str] = []
    params: list[Any] = []
    if filters.phase:
        clauses.append(f"{a}.phase IN ({', '.join('?' for _ in filters.phase)})")
        params += [ph.value for ph in filters.phase]
    for column, value in (("provider", filters.provider), ("model", filters.model),
                          ("persona_used", filters.persona), ("session_id", filters.session_id),
                          ("source_type", filters.source_type)):
        if value:
            clauses.append(f"{a}.{column} = ?")
            params.append(value)
    for tag in filters.tags:
        clauses.append(tag_clause.format(a=a))
        params.append(tag)
    if filters.since is not None:
        clauses.append(f"{a}.created_at >= ?")
        params.append(_to_iso(filters.since))
    if filters.until is not None:
        clauses.append(f"{a}.created_at < ?")
        params.append(_to_iso(filters.until))
    if filters.min_rating is not None:
        clauses.append(f"(SELECT AVG(f.rating) FROM feedback AS f WHERE f.prompt_id = {a}.id) >= ?")
        params.append(filters.min_rating)
    return (" AND ".join(clauses) or true), params


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class StorageError(AlchemyError):
    """The library database cannot be used as asked (damaged, read-only, written by a newer version): exit 1."""


#: Words in SQLite's messages for a damaged file (not for a busy or missing one).
_DAMAGE = ("malformed", "not a database", "file is encrypted", "database corrupt", "disk image")


def is_damage(exc: BaseException) -> bool:
    """Whether a sqlite3 error says that the database file itself is damaged."""
    return isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc).lower() for w in _DAMAGE)


def damaged_message(path: Path, detail: str) -> str:
    """One line for a damaged library: the path, what SQLite said, and how to restore from backups/."""
    return (f"the library database {path} is damaged ({detail}); restore the newest sound backup with "
            f"'prompt-alchemy db restore' (backups are kept in {path.parent / 'backups'}), or move the file away "
            f"to start an empty library")


def integrity_check(path: str | Path, *, quick: bool = False, max_findings: int = 10) -> list[str]:
    """`PRAGMA integrity_check` (or the faster `quick_check`) of the SQLite file at `path`, opened read-only:
    [] when it is sound, else its findings (or the error that stopped the check). Writes nothing."""
    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist"]
    pragma = "quick_check" if quick else "integrity_check"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = [str(r[0]) for r in db.execute(f"PRAGMA {pragma}({int(max_findings)})")]
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        db.close()
    return [] if rows == ["ok"] else rows


def sidecar_files(path: Path) -> list[Path]:
    """The database file's companions that belong to it: -wal, -shm and -journal."""
    return [Path(str(path) + suffix) for suffix in ("-wal", "-shm", "-journal")]


def restore_database(path: Path, backup: Path, *, stamp: str) -> Path | None:
    """Replace the database at `path` with a copy of `backup` (checked first). The current file and its -wal/-shm
    are moved aside as `<name>.replaced-<stamp>` (never deleted); returns where the old file went, if any."""
    import shutil

    problems = integrity_check(backup)
    if problems:
        raise StorageError(f"backup {backup} fails its integrity check ({problems[0]}); choose another backup")
    partial = path.with_name(f".{path.name}.restore-{stamp}.partial")
    shutil.copyfile(backup, partial)
    moved = None
    if path.exists():
        moved = path.with_name(f"{path.name}.replaced-{stamp}")
        os.replace(path, moved)
    for side in sidecar_files(path):
        if side.exists():
            os.replace(side, Path(str(moved or path) + side.name[len(path.name):]))
    os.replace(partial, path)
    return moved


def delete_relinking(db: Any, ids: list[str], *, lock: str = "") -> list[str]:
    """Delete prompts with their context, metrics and feedback rows in the open transaction `db`; each one's
    children are relinked to its parent, so lineage skips the gap. Returns the ids deleted here (a prompt already
    gone is left out). `lock` ends the statement that reads a prompt's parent (PostgreSQL: ` FOR UPDATE`, so that
    the parent read is the latest committed one and the row is held until the transaction ends). Portable SQL:
    both stores use it."""
    deleted: list[str] = []
    for pid in dict.fromkeys(ids):
        row = db.execute(f"SELECT parent_id FROM prompts WHERE id = ?{lock}", (pid,)).fetchone()
        if row is None:
            continue
        db.execute("UPDATE prompts SET parent_id = ? WHERE parent_id = ?", (row[0], pid))
        db.execute("DELETE FROM prompt_context WHERE prompt_id = ?", (pid,))
        db.execute("DELETE FROM metrics WHERE prompt_id = ?", (pid,))
        db.execute("DELETE FROM feedback WHERE prompt_id = ?", (pid,))
        if db.execute("DELETE FROM prompts WHERE id = ?", (pid,)).rowcount:
            deleted.append(pid)
    return deleted


class SQLiteStore(FeedbackRepository, CacheRepository, AccessRepository, LabelRepository):
    """One connection per store, shared across threads behind a lock (SQLite serializes writers anyway)."""

    #: The WHERE clause of SearchFilters in this dialect (the PostgreSQL store has its own).
    _filter_sql = staticmethod(filter_sql)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: Why this process must not write (a read-only library, a newer schema), or None.
        self.write_refusal: str | None = None
        self._target, self._uri = str(path), False
        self._lock = threading.RLock()
        if str(path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the library folder {self.path.parent}: {exc.strerror}") from None
        try:
            with self._guard():
                self._db = self._open()
                applied = self._applied_names()
            unknown = [name for name in applied if name not in {m.__name__ for m in MIGRATIONS}]
            if unknown:
                self.write_refusal = (
                    f"the library database {self.path} was written by a newer version of prompt-alchemy (schema "
                    f"migrations unknown here: {', '.join(unknown)}); upgrade prompt-alchemy to write to it")
            self.applied_migrations: list[str] = [] if self.write_refusal else self.migrate()
        except StorageError:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            raise
        self._init_read_side()  # search performance: read-only connections and read caches (below)

    def _open(self) -> sqlite3.Connection:
        """The writing connection; on a library the user may not write to, a read-only one (and write_refusal)."""
        try:
            db = self._connect(self._target, uri=False)
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            reason = self._read_only_reason()
            if reason is None or not self.path.is_file():
                if reason is not None:
                    raise StorageError(f"cannot create the library database {self.path}: {reason}") from None
                raise
            self.write_refusal = (f"the library {self.path} is read-only ({reason}); commands that only read it "
                                  f"work, this one needs to write")
            self._uri = True
            # mode=ro needs the -shm file (or a writable folder to create it); immutable reads the file as it is
            shm = Path(str(self.path) + "-shm").exists()
            self._target = f"{self.path.resolve().as_uri()}?{'mode=ro' if shm else 'immutable=1'}"
            db = self._connect(self._target, uri=True)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @staticmethod
    def _connect(target: str, *, uri: bool) -> sqlite3.Connection:
        db = sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _read_only_reason(self) -> str | None:
        """Why the library cannot be written here, if that is the case: the file or its folder is read-only."""
        folder = self.path.parent
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return f"no write permission on {self.path}"
        if not os.access(folder, os.W_OK):
            return f"no write permission on the folder {folder}"
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return f"{folder} is on a read-only file system"
        except (OSError, AttributeError):
            pass
        return None

    def _applied_names(self) -> list[str]:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_migrations" not in tables:
            return []
        return [r[0] for r in self._db.execute("SELECT name FROM _migrations")]

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's errors about the file itself into one line that names the library and what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StorageError(damaged_message(self.path, str(exc))) from exc
            text = str(exc).lower()
            if "readonly" in text or "read-only" in text or "unable to open" in text:
                reason = self._read_only_reason() or str(exc)
                raise StorageError(f"cannot use the library {self.path}: {reason}") from exc
            raise

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: writes are all-or-nothing."""
        if self.write_refusal:
            raise StorageError(self.write_refusal)
        with self._lock, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._guard():
            return self._db.execute(sql, tuple(params)).fetchall()

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        applied: list[str] = []
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
            for migration in MIGRATIONS:
                if migration.__name__ not in done:
                    migration(db)
                    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                               (migration.__name__, _to_iso(utcnow())))
                    applied.append(migration.__name__)
        return applied

    def check_integrity(self, *, quick: bool = True, max_findings: int = 10) -> list[str]:
        """The open library's `quick_check` (or `integrity_check`): [] when sound, else the findings."""
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = [str(r[0]) for r in self.query(f"PRAGMA {pragma}({int(max_findings)})")]
        except StorageError as exc:
            return [str(exc.__cause__ or exc)]
        return [] if rows == ["ok"] else rows

    def data_version(self) -> int:
        """`PRAGMA data_version` of the writing connection: it changes when any other connection (another
        process's, say) commits, and not for this store's own writes."""
        if self._memory:
            return 0
        with self._lock, self._guard():
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def schema_version(self) -> int:
        return len(self.query("SELECT name FROM _migrations"))

    def library_exists(self) -> bool:
        return str(self.path) == ":memory:" or self.path.exists()

    def close(self) -> None:
        self._close_read_side()
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ read side (search performance)
    # Searches read through a small pool of read-only connections: under WAL each reads a committed snapshot, so
    # concurrent searches run side by side (sqlite3 releases the GIL while a statement runs) and never queue behind
    # the write lock. Read caches are keyed by generation(), which changes whenever any connection commits.

    def _init_read_side(self) -> None:
        self._memory = str(self.path) == ":memory:"  # one connection only: reads share it under the lock
        self._readers: list[sqlite3.Connection] = []
        self._opened: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._watch = None if self._memory else self._connect_reader()
        self._watch_lock = threading.Lock()
        self._term_counts: tuple[tuple[int, int], dict[str, int]] = ((-1, -1), {})
        self._allowed_ids: dict[tuple[str, int], frozenset[str]] = {}
        self._vector_indexes: dict[tuple[str, int], Any] = {}
        self._vector_versions: dict[tuple[str, int], int] = {}
        self._vector_lock = threading.Lock()

    # ------------------------------------------------------------------ vector search (the in-memory index)
    # One exact numpy index per (model, dimensions), loaded on first use. Another process's commit changes
    # data_version and the index is reloaded; this store's own writes do not change it, and they update the loaded
    # indexes directly (see _index_written and _unindex).

    def vector_index(self, model: str, dimensions: int) -> Any:
        """The in-memory VectorIndex of (model, dimensions), loaded (or reloaded after another process's commit)."""
        from prompt_alchemy.storage.vectors import VectorIndex

        key = (model, dimensions)
        with self._vector_lock:
            version = self.data_version()
            index = self._vector_indexes.get(key)
            if index is None or self._vector_versions.get(key) != version:
                index = VectorIndex(model, dimensions)
                ids, matrix = self.load_embeddings(model, dimensions)
                index.load_matrix(ids, matrix)
                self._vector_indexes[key] = index
                self._vector_versions[key] = version
            return index

    def search_vectors(self, vector: Any, model: str, dimensions: int, limit: int,
                       filters: SearchFilters | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the `limit` nearest stored vectors of this model and dimension, best first,
        among the prompts matching `filters`: exact, over the in-memory index."""
        allowed = None if filters is None or filters.is_empty() else self.filter_ids(filters)
        return self.vector_index(model, dimensions).search(vector, limit, allowed)

    def _index_written(self, prompts: Iterable[Prompt]) -> None:
        """Put vectors just committed by this store into the loaded indexes (unloaded ones read them on load)."""
        if not self._vector_indexes:
            return
        for p in prompts:
            if p.embedding is not None and p.embedding_model:
                index = self._vector_indexes.get((p.embedding_model, p.embedding_dim or len(p.embedding)))
                if index is not None:
                    index.add([p.id], [p.embedding])

    def _unindex(self, ids: list[str]) -> None:
        for index in list(self._vector_indexes.values()):
            index.remove(ids)

    def _connect_reader(self) -> sqlite3.Connection:
        db = self._connect(self._target, uri=self._uri)
        db.execute("PRAGMA query_only=ON")
        db.execute(f"PRAGMA mmap_size={_LOAD_MMAP}")
        with self._readers_lock:
            self._opened.append(db)
        return db

    def _close_read_side(self) -> None:
        with self._readers_lock:
            opened, self._opened, self._readers = self._opened, [], []
        for db in opened:
            db.close()

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Like query(), through a read-only connection: sees every committed write, not an open transaction."""
        if self._memory:
            return self.query(sql, params)
        with self._readers_lock:
            db = self._readers.pop() if self._readers else None
        try:
            with self._guard():
                if db is None:
                    db = self._connect_reader()
                return db.execute(sql, tuple(params)).fetchall()
        finally:
            with self._readers_lock:
                if db in self._opened:
                    self._readers.append(db)

    def generation(self) -> int:
        """A number that changes whenever any connection, in this process or another, commits a write."""
        if self._memory:
            with self._lock:
                return self._db.total_changes
        with self._watch_lock, self._guard():
            return int(self._watch.execute("PRAGMA data_version").fetchone()[0])

    # ------------------------------------------------------------------ writes

    def _insert_prompt(self, db: sqlite3.Connection, prompt: Prompt) -> None:
        row = prompt_to_row(prompt)
        cols = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        db.execute(f"INSERT INTO prompts ({cols}) VALUES ({marks})", row)

    def _insert_context(self, db: sqlite3.Connection, prompt: Prompt, item: ContextItem) -> None:
        db.execute(
            "INSERT INTO prompt_context (id, prompt_id, session_id, context_type, source, content, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id(), prompt.id, prompt.session_id, item.context_type, item.source, item.content,
             _to_iso(utcnow())))

    def _insert_metric(self, db: sqlite3.Connection, m: MetricRecord) -> None:
        db.execute(
            "INSERT INTO metrics (id, kind, prompt_id, session_id, phase, provider, model, input_tokens, "
            "output_tokens, latency_ms, cost_usd, success, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (m.id, m.kind, m.prompt_id, m.session_id, m.phase, m.provider, m.model, m.input_tokens,
             m.output_tokens, m.latency_ms, m.cost_usd, int(m.success), m.detail, _to_iso(m.created_at)))

    def save_session(self, prompts: list[Prompt], contexts: dict[str, list[ContextItem]] | None = None,
                     metrics: list[MetricRecord] | None = None) -> None:
        contexts = contexts or {}
        with self.transaction() as db:
            for prompt in prompts:
                self._insert_prompt(db, prompt)
                for item in contexts.get(prompt.id, []):
                    self._insert_context(db, prompt, item)
            for metric in metrics or []:
                self._insert_metric(db, metric)
        self._index_written(prompts)

    def save_prompts(self, prompts: list[Prompt]) -> None:
        self.save_session(prompts)

    def insert_new_prompts(self, prompts: list[Prompt], contexts: dict[str, list[ContextItem]] | None = None,
                           remap: dict[str, str] | None = None, *, audit: AuditNote | None = None
                           ) -> tuple[list[Prompt], dict[str, str], set[str]]:
        """Insert the prompts whose content is not stored yet, in one transaction. BEGIN IMMEDIATE takes the write
        lock before anything is read, so the checks see every commit of every other process: concurrent imports
        of the same rows store each content once. A parent link to a skipped row follows `remap` (updated here)
        to the stored copy. The `audit` row, naming every id inserted, commits with the batch (when it inserted
        any). Returns (inserted, {id: stored id} for content already stored, ids already taken by other
        content)."""
        contexts = contexts or {}
        remap = {} if remap is None else remap
        inserted: list[Prompt] = []
        duplicates: dict[str, str] = {}
        taken: set[str] = set()
        with self.transaction() as db:
            for prompt in prompts:
                if prompt.parent_id in remap:
                    prompt.parent_id = remap[prompt.parent_id]
                if prompt.parent_id in taken:
                    prompt.parent_id = None
                row = db.execute("SELECT id FROM prompts WHERE content_hash = ? ORDER BY created_at, id LIMIT 1",
                                 (prompt.content_hash,)).fetchone()
                if row is not None:
                    remap[prompt.id] = duplicates[prompt.id] = row[0]
                    continue
                if db.execute("SELECT 1 FROM prompts WHERE id = ?", (prompt.id,)).fetchone() is not None:
                    taken.add(prompt.id)
                    continue
                if prompt.parent_id is not None and db.execute(
                        "SELECT 1 FROM prompts WHERE id = ?", (prompt.parent_id,)).fetchone() is None:
                    prompt.parent_id = None
                self._insert_prompt(db, prompt)
                for item in contexts.get(prompt.id, []):
                    self._insert_context(db, prompt, item)
                inserted.append(prompt)
            if inserted:
                write_note(db, audit, [p.id for p in inserted], utcnow())
        self._index_written(inserted)
        return inserted, duplicates, taken

    def record_metrics(self, metrics: Iterable[MetricRecord]) -> None:
        with self.transaction() as db:
            for metric in metrics:
                self._insert_metric(db, metric)

    # ------------------------------------------------------------------ reads

    def get_prompt(self, prompt_id: str) -> Prompt | None:
        rows = self.query("SELECT * FROM prompts WHERE id = ?", (prompt_id,))
        return row_to_prompt(rows[0]) if rows else None

    def list_prompts(self, *, session_id: str | None = None, filters: SearchFilters | None = None,
                     limit: int = 50, offset: int = 0) -> list[Prompt]:
        """A session's prompts in generation order, or the library (matching `filters`) most recent first."""
        if session_id:
            rows = self.query("SELECT * FROM prompts WHERE session_id = ? ORDER BY created_at, phase, variant "
                              "LIMIT ? OFFSET ?", (session_id, limit, offset))
        else:
            where, params = self._filter_sql(filters)
            rows = self.query(f"SELECT {_LIGHT} FROM prompts p WHERE {where} "
                              "ORDER BY p.created_at DESC, p.id LIMIT ? OFFSET ?", params + [limit, offset])
        return [row_to_prompt(r) for r in rows]

    def top_prompts(self, limit: int = 20) -> list[Prompt]:
        """The best prompts first (MCP prompts): by average feedback rating where rated, then by the
        stored ranking score; prompts with neither are left out."""
        rating = "(SELECT AVG(f.rating) FROM feedback AS f WHERE f.prompt_id = p.id)"
        rows = self.query(f"SELECT {_LIGHT} FROM prompts p WHERE p.score IS NOT NULL OR {rating} IS NOT NULL "
                          f"ORDER BY {rating} IS NULL, {rating} DESC, p.score DESC, p.created_at DESC LIMIT ?",
                          (limit,))
        return [row_to_prompt(r) for r in rows]

    def get_context(self, prompt_id: str) -> list[ContextItem]:
        rows = self.query("SELECT context_type, source, content FROM prompt_context WHERE prompt_id = ? "
                          "ORDER BY created_at", (prompt_id,))
        return [ContextItem(context_type=r["context_type"], source=r["source"] or "", content=r["content"])
                for r in rows]

    def list_metrics(self, *, session_id: str | None = None, kind: str | None = None) -> list[MetricRecord]:
        sql, params = "SELECT * FROM metrics WHERE 1=1", []
        if session_id:
            sql, params = sql + " AND session_id = ?", params + [session_id]
        if kind:
            sql, params = sql + " AND kind = ?", params + [kind]
        rows = self.query(sql + " ORDER BY created_at", params)
        return [MetricRecord(**{**dict(r), "success": bool(r["success"])}) for r in rows]

    def count_prompts(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM prompts")[0][0])


    # ------------------------------------------------------------------ library

    def resolve_prefix(self, prefix: str, limit: int = 10) -> list[sqlite3.Row]:
        """Prompts whose id is `prefix` or starts with it (at most `limit`; the exact id alone if it exists)."""
        exact = self.query("SELECT id, phase, title, created_at FROM prompts WHERE id = ?", (prefix,))
        if exact:
            return exact
        return self.query("SELECT id, phase, title, created_at FROM prompts WHERE id >= ? AND id < ? "
                          "ORDER BY id LIMIT ?", (prefix, prefix + "\U0010ffff", limit))

    def search_text(self, query: str, filters: SearchFilters | None = None,
                    limit: int = 10) -> list[tuple[str, float]]:
        """(id, score) by FTS5 bm25 over content, title and tags, best first; higher score is better."""
        terms = fts_terms(query)
        if not terms:
            return []
        match = " OR ".join(self._selective_terms(terms))
        if filters is None or filters.is_empty():
            sql = ("SELECT p.id, f.rank FROM (SELECT rowid, rank FROM prompts_fts WHERE prompts_fts MATCH ? "
                   "ORDER BY rank LIMIT ?) AS f JOIN prompts p ON p.rowid = f.rowid ORDER BY f.rank")
            params: list[Any] = [match, limit]
        else:
            where, fparams = self._filter_sql(filters)
            sql = (f"SELECT p.id, prompts_fts.rank FROM prompts_fts JOIN prompts p ON p.rowid = prompts_fts.rowid "
                   f"WHERE prompts_fts MATCH ? AND {where} ORDER BY prompts_fts.rank LIMIT ?")
            params = [match] + fparams + [limit]
        return [(r[0], -float(r[1])) for r in self.read(sql, params)]

    def _selective_terms(self, terms: list[str]) -> list[str]:
        """The terms to rank by. bm25 scores every document that matches any term, so in a large library the
        most frequent terms (which also weigh least in bm25) are left out until the estimated number of matching
        documents fits _TEXT_BUDGET; the rarest term always stays. Frequencies are estimated on the most recent
        _DF_SAMPLE rows. The counts are cached until the next write (they cost one statement per term)."""
        if len(terms) == 1:
            return terms
        generation = self.generation()
        key, counts = self._term_counts
        if key[0] != generation:
            top = self.read("SELECT MAX(rowid) FROM prompts")[0][0] or 0
            key, counts = (generation, top), {}
            self._term_counts = (key, counts)
        top = key[1]
        if top <= _TEXT_BUDGET:
            return terms
        floor = max(0, top - _DF_SAMPLE)
        scale = top / min(_DF_SAMPLE, top)
        for term in terms:
            if term not in counts:
                counts[term] = self.read("SELECT COUNT(*) FROM prompts_fts WHERE prompts_fts MATCH ? AND rowid > ?",
                                         (term, floor))[0][0]
        estimated = sorted((counts[term] * scale, i, term) for i, term in enumerate(terms))
        chosen, total = [], 0.0
        for df, i, term in estimated:
            if chosen and total + df > _TEXT_BUDGET:
                break
            chosen.append((i, term))
            total += df
        return [term for _, term in sorted(chosen)]

    def filter_ids(self, filters: SearchFilters | None) -> frozenset[str]:
        """The ids of the prompts matching `filters`, cached per filter until the next write."""
        key = ("" if filters is None else filters.model_dump_json(), self.generation())
        ids = self._allowed_ids.get(key)
        if ids is None:
            where, params = self._filter_sql(filters)
            ids = frozenset(r[0] for r in self.read(f"SELECT p.id FROM prompts p WHERE {where}", params))
            if len(self._allowed_ids) >= 16:
                self._allowed_ids.clear()
            self._allowed_ids[key] = ids
        return ids

    def get_prompts(self, ids: list[str], *, with_embedding: bool = False) -> dict[str, Prompt]:
        """The prompts with these ids that exist, by id."""
        cols = "*" if with_embedding else _LIGHT
        out: dict[str, Prompt] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.read(f"SELECT {cols} FROM prompts p WHERE p.id IN ({marks})", chunk):
                out[row["id"]] = row_to_prompt(row)
        return out

    def count_matching(self, filters: SearchFilters | None = None) -> int:
        where, params = self._filter_sql(filters)
        return int(self.query(f"SELECT COUNT(*) FROM prompts p WHERE {where}", params)[0][0])

    def ancestors(self, prompt_id: str, max_depth: int = 1000) -> list[Prompt]:
        """The chain of parents, root first."""
        rows = self.query(f"""
            WITH RECURSIVE anc(id, depth) AS (
                SELECT parent_id, 1 FROM prompts WHERE id = ? AND parent_id IS NOT NULL
                UNION ALL
                SELECT p.parent_id, anc.depth + 1 FROM prompts p JOIN anc ON p.id = anc.id
                WHERE p.parent_id IS NOT NULL AND anc.depth < ?)
            SELECT {_LIGHT} FROM anc JOIN prompts p ON p.id = anc.id ORDER BY anc.depth DESC""",
                          (prompt_id, max_depth))
        return [row_to_prompt(r) for r in rows]

    def descendants(self, prompt_id: str, *, edits_only: bool = False, max_depth: int = 1000) -> list[Prompt]:
        """Children, grandchildren ... breadth first, oldest first within a level. With `edits_only`, only the
        links made by editing (new versions)."""
        edit = " AND p.enhancement_method = 'edit'" if edits_only else ""
        rows = self.query(f"""
            WITH RECURSIVE des(id, depth) AS (
                SELECT p.id, 1 FROM prompts p WHERE p.parent_id = ?{edit}
                UNION ALL
                SELECT p.id, des.depth + 1 FROM prompts p JOIN des ON p.parent_id = des.id
                WHERE des.depth < ?{edit})
            SELECT {_LIGHT} FROM des JOIN prompts p ON p.id = des.id ORDER BY des.depth, p.created_at, p.id""",
                          (prompt_id, max_depth))
        return [row_to_prompt(r) for r in rows]

    def delete_prompts(self, ids: list[str], *, audit: AuditNote | None = None) -> int:
        """Delete prompts with their context, metrics and feedback rows (the FTS index follows by trigger).
        Children are relinked to the deleted prompt's parent, so lineage skips the gap. One transaction (BEGIN
        IMMEDIATE: no other writer in between), with the `audit` row naming the ids deleted when there are any.
        Returns how many were deleted."""
        with self.transaction() as db:
            deleted = delete_relinking(db, ids)
            if deleted:
                write_note(db, audit, deleted, utcnow())
        self._unindex(ids)
        return len(deleted)

    def ids_by_hash(self) -> dict[str, str]:
        """content_hash -> the oldest prompt id with that content."""
        return {r[0]: r[1] for r in self.query(
            "SELECT content_hash, id FROM prompts ORDER BY created_at DESC, id DESC")}

    def contexts_for(self, ids: list[str]) -> dict[str, list[ContextItem]]:
        out: dict[str, list[ContextItem]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for r in self.query(f"SELECT prompt_id, context_type, source, content FROM prompt_context "
                                f"WHERE prompt_id IN ({marks}) ORDER BY created_at, rowid", chunk):
                out.setdefault(r["prompt_id"], []).append(
                    ContextItem(context_type=r["context_type"], source=r["source"] or "", content=r["content"]))
        return out

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            found |= {r[0] for r in self.query(f"SELECT id FROM prompts WHERE id IN ({marks})", chunk)}
        return found

    def iter_prompts(self, filters: SearchFilters | None = None, *, page: int = 500) -> Iterator[Prompt]:
        """Every matching prompt with its embedding, oldest first, read page by page."""
        where, params = self._filter_sql(filters)
        last: tuple[str, str] = ("", "")
        while True:
            rows = self.query(f"SELECT * FROM prompts p WHERE {where} AND (p.created_at, p.id) > (?, ?) "
                              "ORDER BY p.created_at, p.id LIMIT ?", params + [last[0], last[1], page])
            for row in rows:
                yield row_to_prompt(row)
            if len(rows) < page:
                return
            last = (rows[-1]["created_at"], rows[-1]["id"])

    def load_embeddings(self, model: str, dimensions: int) -> tuple[list[str], Any]:
        """(ids, float32 matrix) of every stored vector of this model and dimension, read in chunks straight into
        one preallocated array (through a temporary memory map of the database file)."""
        import numpy as np

        params = (model, dimensions)
        with self._lock, self._guard():
            # counted from the (embedding_model, embedding_dim) index alone; rows without a vector are skipped below
            count = self._db.execute("SELECT COUNT(*) FROM prompts WHERE embedding_model = ? AND embedding_dim = ?",
                                     params).fetchone()[0]
            matrix = np.empty((count, dimensions), dtype=np.float32)
            ids: list[str] = []
            width = dimensions * 4
            self._db.execute(f"PRAGMA mmap_size={_LOAD_MMAP}")
            try:
                cursor = self._db.execute("SELECT id, embedding FROM prompts WHERE embedding IS NOT NULL AND "
                                          "embedding_model = ? AND embedding_dim = ?", params)
                while True:
                    chunk = cursor.fetchmany(4096)
                    if not chunk:
                        break
                    rows = [r for r in chunk if len(r[1]) == width][:count - len(ids)]
                    if rows:
                        matrix[len(ids):len(ids) + len(rows)] = np.frombuffer(
                            b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimensions)
                        ids.extend(r[0] for r in rows)
            finally:
                self._db.execute("PRAGMA mmap_size=0")
        return ids, matrix[:len(ids)]

    def embedding_targets(self, model: str, dimensions: int, *, include_all: bool = False) -> list[tuple[str, str]]:
        """(id, content) of prompts whose stored vector is of another model or dimension; with `include_all`,
        of every prompt."""
        if include_all:
            return [(r[0], r[1]) for r in self.query("SELECT id, content FROM prompts ORDER BY created_at")]
        return [(r[0], r[1]) for r in self.query(
            "SELECT id, content FROM prompts WHERE embedding IS NOT NULL AND "
            "(embedding_model IS NOT ? OR embedding_dim IS NOT ?) ORDER BY created_at", (model, dimensions))]

    def set_embeddings(self, rows: list[tuple[str, bytes]], model: str, provider: str, dimensions: int) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE prompts SET embedding = ?, embedding_model = ?, embedding_provider = ?, "
                           "embedding_dim = ? WHERE id = ?",
                           [(blob, model, provider, dimensions, pid) for pid, blob in rows])
        if self._vector_indexes:
            import numpy as np

            ids = [pid for pid, _ in rows]
            for key, index in list(self._vector_indexes.items()):
                if key == (model, dimensions):
                    index.add(ids, np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32))
                else:
                    index.remove(ids)

    def embedding_counts(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query(
            "SELECT embedding_model AS model, embedding_provider AS provider, embedding_dim AS dimensions, "
            "COUNT(*) AS prompts FROM prompts WHERE embedding IS NOT NULL "
            "GROUP BY embedding_model, embedding_provider, embedding_dim ORDER BY prompts DESC")]

    # ------------------------------------------------------------------ maintenance

    def file_sizes(self) -> dict[str, int]:
        sizes = {}
        for suffix in ("", "-wal", "-shm"):
            f = Path(str(self.path) + suffix)
            sizes["database" + suffix.replace("-", "_")] = f.stat().st_size if f.exists() else 0
        return sizes

    def stats(self) -> dict[str, Any]:
        one = lambda sql: self.query(sql)[0][0]  # noqa: E731
        return {
            "path": str(self.path), **self.library_counts(),
            "fts_documents": one("SELECT COUNT(*) FROM prompts_fts_docsize"),
            "page_size": one("PRAGMA page_size"),
            "page_count": one("PRAGMA page_count"),
            "freelist_pages": one("PRAGMA freelist_count"),
            "files": self.file_sizes(),
        }

    def library_counts(self) -> dict[str, Any]:
        """What `stats` reports in portable SQL (both stores): prompts, sessions, rows per table, embeddings,
        migrations and last maintenance."""
        one = lambda sql: self.query(sql)[0][0]  # noqa: E731
        return {
            "prompts": self.count_prompts(),
            "sessions": one("SELECT COUNT(DISTINCT session_id) FROM prompts WHERE session_id IS NOT NULL"),
            "by_phase": {(r[0] or "none"): r[1] for r in self.query(
                "SELECT phase, COUNT(*) FROM prompts GROUP BY phase ORDER BY 2 DESC")},
            "by_source": {r[0]: r[1] for r in self.query(
                "SELECT source_type, COUNT(*) FROM prompts GROUP BY source_type ORDER BY 2 DESC")},
            "embeddings": self.embedding_counts(),
            "without_embedding": one("SELECT COUNT(*) FROM prompts WHERE embedding IS NULL"),
            "context_rows": one("SELECT COUNT(*) FROM prompt_context"),
            "metric_rows": one("SELECT COUNT(*) FROM metrics"),
            "feedback_rows": one("SELECT COUNT(*) FROM feedback"),
            "migrations": [r[0] for r in self.query("SELECT name FROM _migrations ORDER BY applied_at, name")],
            "maintenance": {r[0]: r[1] for r in self.query("SELECT task, last_run_at FROM maintenance")},
        }

    def fts_check(self) -> None:
        """Raise sqlite3.DatabaseError when the FTS index disagrees with the prompts table."""
        with self._lock:
            self._db.execute("INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)")

    def backup_to(self, target: Path, partial: Path | None = None) -> int:
        """An online backup (SQLite's backup API) to `target`: written to `partial` (default `target.partial`),
        checked with `PRAGMA integrity_check`, and only then renamed into place. A copy that fails the check is
        removed and StorageError raised: a bad copy never takes a good one's place."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = partial or target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                with self._lock, self._guard():
                    self._db.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
            problems = integrity_check(partial)
            if problems:
                raise StorageError(f"the backup copy of {self.path} fails its integrity check ({problems[0]}); "
                                   f"no backup was written and no old backup was removed")
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target.stat().st_size

    def vacuum(self) -> None:
        """VACUUM, then rebuild the FTS index (VACUUM may renumber the rowids it is keyed by) and truncate the WAL."""
        if self.write_refusal:
            raise StorageError(self.write_refusal)
        with self._lock, self._guard():
            self._db.execute("VACUUM")
            with self.transaction() as db:
                db.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def exclusive(self, task: str) -> Iterator[bool]:
        """Whether this process may run `task` alone (one that must run once across processes, like nightly
        training): an exclusive, non-blocking lock on a `<database>.<task>.lock` file beside the library."""
        import fcntl

        if self._memory:
            yield True
            return
        lock = Path(f"{self.path}.{re.sub(r'[^A-Za-z0-9_-]', '_', task)}.lock")
        try:
            fh = open(lock, "a+")  # noqa: SIM115 - held for the with-block
        except OSError:
            yield True  # a read-only folder: nothing else can be writing either
            return
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()

    def last_maintenance(self, task: str) -> datetime | None:
        rows = self.query("SELECT last_run_at FROM maintenance WHERE task = ?", (task,))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    def record_maintenance(self, task: str, when: datetime, detail: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO maintenance (task, last_run_at, detail) VALUES (?, ?, ?) "
                       "ON CONFLICT(task) DO UPDATE SET last_run_at = excluded.last_run_at, detail = excluded.detail",
                       (task, _to_iso(when), detail))

    # ------------------------------------------------------------------ metrics report

    def metrics_summary(self, *, since: datetime | None = None, phase: str | None = None,
                        provider: str | None = None) -> dict[str, Any]:
        """Counts of prompts by phase, provider, model and persona and per day; tokens and cost; per-phase
        generation latency p50/p95; per-provider call latency and error rate."""
        where, params = self._filter_sql(SearchFilters(since=since, phase=phase or [], provider=provider))

        def group(column: str) -> dict[str, int]:
            return {(r[0] if r[0] not in (None, "") else "none"): r[1] for r in self.query(
                f"SELECT p.{column}, COUNT(*) FROM prompts p WHERE {where} GROUP BY p.{column} ORDER BY 2 DESC",
                params)}

        prompts = {
            "total": int(self.query(f"SELECT COUNT(*) FROM prompts p WHERE {where}", params)[0][0]),
            "by_phase": group("phase"), "by_provider": group("provider"), "by_model": group("model"),
            "by_persona": group("persona_used"), "by_source": group("source_type"),
            "per_day": {r[0]: r[1] for r in self.query(
                f"SELECT substr(p.created_at, 1, 10), COUNT(*) FROM prompts p WHERE {where} GROUP BY 1 ORDER BY 1",
                params)},
        }
        mclauses, mparams = ["1"], []
        if since is not None:
            mclauses.append("m.created_at >= ?")
            mparams.append(_to_iso(since))
        if phase:
            mclauses.append("m.phase = ?")
            mparams.append(phase)
        if provider:
            mclauses.append("m.provider = ?")
            mparams.append(provider)
        mwhere = " AND ".join(mclauses)
        rows = self.query(f"SELECT m.kind, m.phase, m.provider, m.model, m.input_tokens, m.output_tokens, "
                          f"m.cost_usd, m.latency_ms, m.success FROM metrics m WHERE {mwhere}", mparams)
        totals = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "calls": 0, "failovers": 0}
        phase_latency: dict[str, list[float]] = {}
        providers: dict[str, dict[str, Any]] = {}
        for r in rows:
            totals["input_tokens"] += r["input_tokens"] or 0
            totals["output_tokens"] += r["output_tokens"] or 0
            totals["cost_usd"] += r["cost_usd"] or 0.0
            if r["kind"] == "failover":
                totals["failovers"] += 1
                continue
            if r["kind"] == "generation" and r["success"] and r["phase"]:
                phase_latency.setdefault(r["phase"], []).append(r["latency_ms"] or 0.0)
            if r["provider"]:
                totals["calls"] += 1
                entry = providers.setdefault(r["provider"], {"calls": 0, "errors": 0, "latencies": [],
                                                             "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
                entry["calls"] += 1
                entry["input_tokens"] += r["input_tokens"] or 0
                entry["output_tokens"] += r["output_tokens"] or 0
                entry["cost_usd"] += r["cost_usd"] or 0.0
                if r["success"]:
                    entry["latencies"].append(r["latency_ms"] or 0.0)
                else:
                    entry["errors"] += 1
        totals["cost_usd"] = round(totals["cost_usd"], 6)
        return {
            "prompts": prompts,
            "totals": totals,
            "phase_latency_ms": {ph: {"count": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)}
                                 for ph, v in sorted(phase_latency.items())},
            "providers": {name: {"calls": e["calls"], "errors": e["errors"],
                                 "error_rate": round(e["errors"] / e["calls"], 4) if e["calls"] else 0.0,
                                 "p50_ms": percentile(e["latencies"], 50), "p95_ms": percentile(e["latencies"], 95),
                                 "input_tokens": e["input_tokens"], "output_tokens": e["output_tokens"],
                                 "cost_usd": round(e["cost_usd"], 6)}
                          for name, e in sorted(providers.items())},
        }

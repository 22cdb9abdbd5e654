"""The SQLite store: WAL mode, ordered migrations, parameterized statements, one transaction per session."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import StorageError
from prompt_alchemy.models import ContextItem, Prompt, SearchFilters, utcnow
from prompt_alchemy.storage.access import AccessRepository, write_note
from prompt_alchemy.storage.cache import CacheRepository
from prompt_alchemy.storage.dialect import SQLITE
from prompt_alchemy.storage.feedback import FeedbackRepository
from prompt_alchemy.storage.labels import LabelRepository
from prompt_alchemy.storage.people import PeopleRepository
from prompt_alchemy.storage.prompts import (
    PromptRecords,
    delete_relinking,
    filter_sql,
    fts_terms,
    prompt_to_row,
    scoped,
    unfiltered,
)
from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS
from prompt_alchemy.storage.timefmt import to_iso as _to_iso
from prompt_alchemy.tenancy import project_scope

if TYPE_CHECKING:
    from prompt_alchemy.storage.base import AuditNote

#: Matching documents bm25 may score for one text query: past it, the most frequent terms are left out.
_TEXT_BUDGET = 4000
#: Most recent rows sampled to estimate how many documents a term matches.
_DF_SAMPLE = 4000
_LOAD_MMAP = 1 << 30


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression OR-ing the terms of `text`, so that bm25 ranks documents by how well they match."""
    terms = fts_terms(text)
    return " OR ".join(terms) if terms else None


#: Words in SQLite's messages for a damaged file (not for a busy or missing one).
_DAMAGE = ("malformed", "not a database", "file is encrypted", "database corrupt", "disk image")


def is_damage(exc: BaseException) -> bool:
    """Whether a sqlite3 error says that the database file itself is damaged."""
    return isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc).lower() for w in _DAMAGE)


def damaged_message(path: Path, detail: str) -> str:
    """One line for a damaged library: the path, what SQLite said, and how to restore from backups/."""
    return (
        f"the library database {path} is damaged ({detail}); restore the newest sound backup with "
        f"'prompt-alchemy db restore' (backups are kept in {path.parent / 'backups'}), or move the file away "
        f"to start an empty library"
    )


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
            os.replace(side, Path(str(moved or path) + side.name[len(path.name) :]))
    os.replace(partial, path)
    return moved


class SQLiteStore(
    PromptRecords, FeedbackRepository, CacheRepository, AccessRepository, LabelRepository, PeopleRepository
):
    """One connection per store, shared across threads behind a lock (SQLite serializes writers anyway)."""

    dialect = SQLITE

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
                    f"migrations unknown here: {', '.join(unknown)}); upgrade prompt-alchemy to write to it"
                )
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
            self.write_refusal = (
                f"the library {self.path} is read-only ({reason}); commands that only read it "
                f"work, this one needs to write"
            )
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
                    db.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                        (migration.__name__, _to_iso(utcnow())),
                    )
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
        self._allowed_ids: dict[tuple[str, str, int], frozenset[str]] = {}
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

    def search_vectors(
        self, vector: Any, model: str, dimensions: int, limit: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the `limit` nearest stored vectors of this model and dimension, best first,
        among the prompts matching `filters`: exact, over the in-memory index."""
        allowed = None if unfiltered(filters) else self.filter_ids(filters)
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
            assert self._watch is not None  # opened in _init_read_side for a file
            return int(self._watch.execute("PRAGMA data_version").fetchone()[0])

    # ------------------------------------------------------------------ writes

    def _insert_prompts(self, db: sqlite3.Connection, prompts: list[Prompt]) -> None:
        for prompt in prompts:
            row = prompt_to_row(prompt)
            cols = ", ".join(row)
            marks = ", ".join(f":{c}" for c in row)
            db.execute(f"INSERT INTO prompts ({cols}) VALUES ({marks})", row)

    def _after_write(self, prompts: list[Prompt]) -> None:
        self._index_written(prompts)

    def insert_new_prompts(
        self,
        prompts: list[Prompt],
        contexts: dict[str, list[ContextItem]] | None = None,
        remap: dict[str, str] | None = None,
        *,
        audit: AuditNote | None = None,
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
                row = db.execute(
                    "SELECT id FROM prompts WHERE content_hash = ? ORDER BY created_at, id LIMIT 1",
                    (prompt.content_hash,),
                ).fetchone()
                if row is not None:
                    remap[prompt.id] = duplicates[prompt.id] = row[0]
                    continue
                if db.execute("SELECT 1 FROM prompts WHERE id = ?", (prompt.id,)).fetchone() is not None:
                    taken.add(prompt.id)
                    continue
                if (
                    prompt.parent_id is not None
                    and db.execute("SELECT 1 FROM prompts WHERE id = ?", (prompt.parent_id,)).fetchone() is None
                ):
                    prompt.parent_id = None
                self._insert_prompts(db, [prompt])
                for item in contexts.get(prompt.id, []):
                    self._insert_context(db, prompt, item)
                inserted.append(prompt)
            if inserted:
                write_note(db, audit, [p.id for p in inserted], utcnow())
        self._index_written(inserted)
        return inserted, duplicates, taken

    # ------------------------------------------------------------------ reads

    # ------------------------------------------------------------------ library

    def resolve_prefix(self, prefix: str, limit: int = 10) -> list[sqlite3.Row]:
        """Prompts whose id is `prefix` or starts with it (at most `limit`; the exact id alone if it exists)."""
        where, params = scoped("p.id = ?", [prefix])
        exact = self.query(f"SELECT p.id, p.phase, p.title, p.created_at FROM prompts p WHERE {where}", params)
        if exact:
            return exact
        where, params = scoped("p.id >= ? AND p.id < ?", [prefix, prefix + "\U0010ffff"])
        return self.query(
            f"SELECT p.id, p.phase, p.title, p.created_at FROM prompts p WHERE {where} " "ORDER BY p.id LIMIT ?",
            params + [limit],
        )

    def search_text(self, query: str, filters: SearchFilters | None = None, limit: int = 10) -> list[tuple[str, float]]:
        """(id, score) by FTS5 bm25 over content, title and tags, best first; higher score is better."""
        terms = fts_terms(query)
        if not terms:
            return []
        match = " OR ".join(self._selective_terms(terms))
        if unfiltered(filters):
            sql = (
                "SELECT p.id, f.rank FROM (SELECT rowid, rank FROM prompts_fts WHERE prompts_fts MATCH ? "
                "ORDER BY rank LIMIT ?) AS f JOIN prompts p ON p.rowid = f.rowid ORDER BY f.rank"
            )
            params: list[Any] = [match, limit]
        else:
            where, fparams = filter_sql(filters, self.dialect)
            sql = (
                f"SELECT p.id, prompts_fts.rank FROM prompts_fts JOIN prompts p ON p.rowid = prompts_fts.rowid "
                f"WHERE prompts_fts MATCH ? AND {where} ORDER BY prompts_fts.rank LIMIT ?"
            )
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
                counts[term] = self.read(
                    "SELECT COUNT(*) FROM prompts_fts WHERE prompts_fts MATCH ? AND rowid > ?", (term, floor)
                )[0][0]
        estimated = sorted((counts[term] * scale, i, term) for i, term in enumerate(terms))
        chosen: list[tuple[int, str]] = []
        total = 0.0
        for df, i, term in estimated:
            if chosen and total + df > _TEXT_BUDGET:
                break
            chosen.append((i, term))
            total += df
        return [term for _, term in sorted(chosen)]

    def filter_ids(self, filters: SearchFilters | None) -> frozenset[str]:
        """The ids of the prompts matching `filters`, cached per filter until the next write."""
        key = ("" if filters is None else filters.model_dump_json(), project_scope() or "", self.generation())
        ids = self._allowed_ids.get(key)
        if ids is None:
            where, params = filter_sql(filters, self.dialect)
            ids = frozenset(r[0] for r in self.read(f"SELECT p.id FROM prompts p WHERE {where}", params))
            if len(self._allowed_ids) >= 16:
                self._allowed_ids.clear()
            self._allowed_ids[key] = ids
        return ids

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

    def load_embeddings(self, model: str, dimensions: int) -> tuple[list[str], Any]:
        """(ids, float32 matrix) of every stored vector of this model and dimension, read in chunks straight into
        one preallocated array (through a temporary memory map of the database file)."""
        import numpy as np

        params = (model, dimensions)
        with self._lock, self._guard():
            # counted from the (embedding_model, embedding_dim) index alone; rows without a vector are skipped below
            count = self._db.execute(
                "SELECT COUNT(*) FROM prompts WHERE embedding_model = ? AND embedding_dim = ?", params
            ).fetchone()[0]
            matrix = np.empty((count, dimensions), dtype=np.float32)
            ids: list[str] = []
            width = dimensions * 4
            self._db.execute(f"PRAGMA mmap_size={_LOAD_MMAP}")
            try:
                cursor = self._db.execute(
                    "SELECT id, embedding FROM prompts WHERE embedding IS NOT NULL AND "
                    "embedding_model = ? AND embedding_dim = ?",
                    params,
                )
                while True:
                    chunk = cursor.fetchmany(4096)
                    if not chunk:
                        break
                    rows = [r for r in chunk if len(r[1]) == width][: count - len(ids)]
                    if rows:
                        matrix[len(ids) : len(ids) + len(rows)] = np.frombuffer(
                            b"".join(r[1] for r in rows), dtype=np.float32
                        ).reshape(len(rows), dimensions)
                        ids.extend(r[0] for r in rows)
            finally:
                self._db.execute("PRAGMA mmap_size=0")
        return ids, matrix[: len(ids)]

    def set_embeddings(self, rows: list[tuple[str, bytes]], model: str, provider: str, dimensions: int) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE prompts SET embedding = ?, embedding_model = ?, embedding_provider = ?, "
                "embedding_dim = ? WHERE id = ?",
                [(blob, model, provider, dimensions, pid) for pid, blob in rows],
            )
        if self._vector_indexes:
            import numpy as np

            ids = [pid for pid, _ in rows]
            for key, index in list(self._vector_indexes.items()):
                if key == (model, dimensions):
                    index.add(ids, np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32))
                else:
                    index.remove(ids)

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
            "path": str(self.path),
            **self.library_counts(),
            "fts_documents": one("SELECT COUNT(*) FROM prompts_fts_docsize"),
            "page_size": one("PRAGMA page_size"),
            "page_count": one("PRAGMA page_count"),
            "freelist_pages": one("PRAGMA freelist_count"),
            "files": self.file_sizes(),
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
                raise StorageError(
                    f"the backup copy of {self.path} fails its integrity check ({problems[0]}); "
                    f"no backup was written and no old backup was removed"
                )
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
        training): an exclusive, non-blocking lock on a `<database>.<task>.lock` file beside the library, which the
        operating system drops if this process dies."""
        from prompt_alchemy.filelocks import try_lock

        if self._memory:
            yield True
            return
        try:
            lock = try_lock(Path(f"{self.path}.{re.sub(r'[^A-Za-z0-9_-]', '_', task)}.lock"))
        except OSError:
            yield True  # a read-only folder: nothing else can be writing either
            return
        if lock is None:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    # ------------------------------------------------------------------ metrics report

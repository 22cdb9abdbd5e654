"""The SQLite store: WAL mode, ordered migrations, parameterized statements, one transaction per session."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.models import ContextItem, MetricRecord, Phase, Prompt, new_id, utcnow
from prompt_alchemy.storage.migrations import MIGRATIONS

PROMPT_COLUMNS: tuple[str, ...] = tuple(Prompt.model_fields)
_JSON_COLUMNS = {"tags", "generation_request", "generation_context"}
_TIME_COLUMNS = {"created_at", "updated_at", "last_used_at"}


def vector_to_blob(vector: Any) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def blob_to_vector(blob: bytes) -> list[float]:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32).tolist()


def _to_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


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


class SQLiteStore:
    """One connection per store, shared across threads behind a lock (SQLite serializes writers anyway)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise AlchemyError(f"cannot open database {path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: writes are all-or-nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
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

    def schema_version(self) -> int:
        return len(self.query("SELECT name FROM _migrations"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

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

    def save_prompts(self, prompts: list[Prompt]) -> None:
        self.save_session(prompts)

    def record_metrics(self, metrics: Iterable[MetricRecord]) -> None:
        with self.transaction() as db:
            for metric in metrics:
                self._insert_metric(db, metric)

    # ------------------------------------------------------------------ reads

    def get_prompt(self, prompt_id: str) -> Prompt | None:
        rows = self.query("SELECT * FROM prompts WHERE id = ?", (prompt_id,))
        return row_to_prompt(rows[0]) if rows else None

    def list_prompts(self, *, session_id: str | None = None, limit: int = 50, offset: int = 0) -> list[Prompt]:
        if session_id:
            rows = self.query("SELECT * FROM prompts WHERE session_id = ? ORDER BY created_at, phase, variant "
                              "LIMIT ? OFFSET ?", (session_id, limit, offset))
        else:
            rows = self.query("SELECT * FROM prompts ORDER BY created_at DESC LIMIT ? OFFSET ?", (limit, offset))
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

    def iter_embeddings(self, model: str, dimensions: int) -> Iterable[tuple[str, bytes]]:
        return [(r[0], r[1]) for r in self.query(
            "SELECT id, embedding FROM prompts WHERE embedding IS NOT NULL AND embedding_model = ? "
            "AND embedding_dim = ?", (model, dimensions))]

    def count_prompts(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM prompts")[0][0])

"""The labels part of the SQLite store (and, through its `?` adapter, of the PostgreSQL store): `labels` (a name
pointing at exactly one prompt version) and `label_history` (every set, move and removal, append-only). Every
write is one transaction, under the label's lock."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from prompt_alchemy.storage.access import write_note
from prompt_alchemy.storage.timefmt import to_iso

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from prompt_alchemy.storage.base import AuditNote


class LabelRepository:
    """Labels and their history: a part of each store, whose `transaction()` and `query()` it uses."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]

    def _lock_label(self, db: Any, name: str) -> None:
        """Hold the label `name` until the open transaction ends. SQLite's BEGIN IMMEDIATE already serializes every
        writer; the PostgreSQL store takes a lock of the name's own (which covers a label not created yet)."""

    def set_label(self, name: str, prompt_id: str, when: datetime, *, actor: str = "local",
                  source: str = "cli", audit: AuditNote | None = None) -> str | None:
        """Point `name` at `prompt_id` (creating or moving it) and record the change; returns the id it pointed
        at before (None for a new label). Setting a label to where it already points records nothing. The previous
        id is read under the label's lock, in the transaction that moves it and writes its history (and `audit`)
        row, so the history names the true previous prompt however many processes move the label at once."""
        with self.transaction() as db:
            self._lock_label(db, name)
            row = db.execute("SELECT prompt_id FROM labels WHERE name = ?", (name,)).fetchone()
            previous = row[0] if row else None
            if previous == prompt_id:
                return previous
            db.execute("INSERT INTO labels (name, prompt_id, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET prompt_id = excluded.prompt_id, "
                       "updated_at = excluded.updated_at", (name, prompt_id, to_iso(when)))
            db.execute("INSERT INTO label_history (name, prompt_id, previous_id, action, actor, source, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (name, prompt_id, previous, "move" if previous else "set", actor, source, to_iso(when)))
            write_note(db, audit, [prompt_id, *([previous] if previous else [])], when)
        return previous

    def remove_label(self, name: str, when: datetime, *, actor: str = "local", source: str = "cli",
                     audit: AuditNote | None = None) -> str | None:
        """Remove `name` and record it (and `audit`), under the label's lock; returns the id it pointed at, or None
        when there was no such label."""
        with self.transaction() as db:
            self._lock_label(db, name)
            row = db.execute("SELECT prompt_id FROM labels WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM labels WHERE name = ?", (name,))
            db.execute("INSERT INTO label_history (name, prompt_id, previous_id, action, actor, source, created_at) "
                       "VALUES (?, NULL, ?, 'remove', ?, ?, ?)", (name, row[0], actor, source, to_iso(when)))
            write_note(db, audit, [row[0]], when)
        return row[0]

    def get_label(self, name: str) -> str | None:
        """The prompt id `name` points at, or None."""
        rows = self.query("SELECT prompt_id FROM labels WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def list_labels(self) -> list[dict[str, Any]]:
        """Every label (name, prompt_id, updated_at), by name."""
        return [dict(r) for r in self.query("SELECT name, prompt_id, updated_at FROM labels ORDER BY name")]

    def labels_for(self, ids: list[str]) -> dict[str, list[str]]:
        """The label names of each of `ids` that has any, sorted."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.query(f"SELECT name, prompt_id FROM labels WHERE prompt_id IN ({marks}) ORDER BY name",
                                  chunk):
                out.setdefault(row["prompt_id"], []).append(row["name"])
        return out

    def label_history(self, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Label changes (name, action, prompt_id, previous_id, actor, source, created_at), newest first."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        return [dict(r) for r in self.query(
            f"SELECT name, action, prompt_id, previous_id, actor, source, created_at FROM label_history {where} "
            f"ORDER BY id DESC LIMIT ?", [*params, limit])]

"""The access part of the SQLite store: API keys (`api_keys`: a name, a scope and a salted SHA-256 of the secret,
never the secret), the append-only audit log (`audit_log`, with `audit_targets` indexing the ids each row names)
and the per-key request counts of the rate limit. Every write is one transaction.

The request counts of a SQLite library live in the serving process's memory, not in the file: one server process
serves a SQLite library, and a commit per request would change the library's data_version, which the read caches
(search filters, term statistics) and MCP's change notifications follow. The PostgreSQL store, shared by replicas,
keeps them in a table (see its `count_request`)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prompt_alchemy.storage.timefmt import to_iso

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from prompt_alchemy.storage.base import AuditNote

#: Audit actions that create something: the actor of such a row is the creator of its targets.
CREATING_ACTIONS = ("generate", "update", "rate", "choose", "import", "optimize")

_RATE_LOCK = threading.Lock()


def _key_row(row: Any) -> dict[str, Any]:
    data = dict(row)
    data.pop("salt", None)
    data.pop("secret_hash", None)
    return data


def _audit_row(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["targets"] = json.loads(data["targets"] or "[]")
    return data


def write_audit(
    db: Any,
    *,
    actor: str,
    action: str,
    targets: list[str],
    outcome: str = "ok",
    detail: str | None = None,
    when: datetime,
) -> int:
    """Append one audit row and its target index in the open transaction `db` (either store's); returns its id.
    Portable SQL: both stores use it, for rows of their own and for rows committed with the write they describe."""
    audit_id = int(
        db.execute(
            "INSERT INTO audit_log (created_at, actor, action, targets, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (to_iso(when), actor, action, json.dumps(targets), outcome, detail),
        ).fetchall()[0][0]
    )
    db.executemany(
        "INSERT INTO audit_targets (audit_id, target_id) VALUES (?, ?)", [(audit_id, t) for t in dict.fromkeys(targets)]
    )
    return audit_id


def write_note(db: Any, note: AuditNote | None, targets: list[str], when: datetime) -> None:
    """The row of `note` (when given) for a write that touched `targets`, in that write's transaction `db`."""
    if note is not None:
        write_audit(db, actor=note.actor, action=note.action, targets=targets, detail=note.detail, when=when)


class AccessRepository:
    """API keys and the audit log: a part of each store, whose `transaction()`, `query()` and `read()` it
    uses."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]

    # ------------------------------------------------------------------ keys

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
        """Store a new key; an active key of the same name is a conflict (sqlite3.IntegrityError)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO api_keys (id, name, scope, salt, secret_hash, rate_limit, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, scope, salt, secret_hash, rate_limit, to_iso(created_at)),
            )

    def api_key_secret(self, key_id: str) -> dict[str, Any] | None:
        """The row of one key with its salt and hash (for verification only), or None."""
        rows = self.query("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        return dict(rows[0]) if rows else None

    def list_api_keys(self, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        """Keys without their salt or hash, oldest first."""
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return [_key_row(r) for r in self.query(f"SELECT * FROM api_keys {where} ORDER BY created_at, id")]

    def revoke_api_key(self, name_or_id: str, when: datetime) -> dict[str, Any] | None:
        """Revoke the active key with this name or id; the revoked row, or None when there is no such key."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT * FROM api_keys WHERE revoked_at IS NULL AND (id = ? OR name = ?) "
                "ORDER BY created_at LIMIT 1",
                (name_or_id, name_or_id),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (to_iso(when), row["id"]))
            data = _key_row(row)
            data["revoked_at"] = to_iso(when)
            return data

    # ------------------------------------------------------------------ audit

    def append_audit(
        self, *, actor: str, action: str, targets: list[str], outcome: str, detail: str | None = None, when: datetime
    ) -> int:
        """Append one audit row (and its target index) in a transaction of its own; returns its id."""
        with self.transaction() as db:
            return write_audit(
                db, actor=actor, action=action, targets=targets, outcome=outcome, detail=detail, when=when
            )

    def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit rows, newest first."""
        clauses: list[str] = ["1 = 1"]  # true in both dialects
        params: list[Any] = []
        for column, value in (("actor", actor), ("action", action)):
            if value is not None:
                clauses.append(f"a.{column} = ?")
                params.append(value)
        if target is not None:
            clauses.append("a.id IN (SELECT audit_id FROM audit_targets WHERE target_id = ?)")
            params.append(target)
        if since is not None:
            clauses.append("a.created_at >= ?")
            params.append(to_iso(since))
        rows = self.query(
            f"SELECT a.* FROM audit_log a WHERE {' AND '.join(clauses)} " f"ORDER BY a.id DESC LIMIT ? OFFSET ?",
            params + [limit, offset],
        )
        return [_audit_row(r) for r in rows]

    def creators(self, ids: list[str]) -> dict[str, str]:
        """The actor who created each of `ids` (the first successful creating audit row naming it)."""
        out: dict[str, str] = {}
        actions = ", ".join("?" for _ in CREATING_ACTIONS)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.query(
                f"SELECT t.target_id, a.actor FROM audit_targets t JOIN audit_log a ON a.id = t.audit_id "
                f"WHERE t.target_id IN ({marks}) AND a.outcome = 'ok' AND a.action IN ({actions}) "
                f"ORDER BY a.id DESC",
                [*chunk, *CREATING_ACTIONS],
            ):
                out[row["target_id"]] = row["actor"]  # ascending by overwrite: the earliest row wins
        return out

    # ------------------------------------------------------------------ rate limits

    def count_request(self, key_id: str, limit: int, *, window: float = 60.0, now: float | None = None) -> float:
        """Count one request of `key_id` in its window: 0.0 when it is within `limit`, else the seconds until the
        window closes. In this process's memory (see the module docstring); closed windows are dropped once a
        window."""
        now = time.monotonic() if now is None else now
        with _RATE_LOCK:
            state = self.__dict__.setdefault("_rate_windows", {"swept": now, "keys": {}})
            windows: dict[str, list[float]] = state["keys"]
            if now - state["swept"] >= window:
                for stale in [k for k, (start, _) in windows.items() if start <= now - window]:
                    del windows[stale]
                state["swept"] = now
            entry = windows.get(key_id)
            if entry is None or entry[0] <= now - window:
                entry = windows[key_id] = [now, 0]
            entry[1] = min(entry[1], limit) + 1
            return 0.0 if entry[1] <= limit else max(0.0, entry[0] + window - now)

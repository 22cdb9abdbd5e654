"""The people part of both stores: projects, users, their roles in projects (memberships), the project and user
of each API key, and what a data-rights request reads or removes (a person's export and erase, the retention
purge). Portable SQL (`?` placeholders), each write one transaction.

A user is known by the issuer and subject of their sign-in (`users.issuer`, `users.subject`) and by a `handle`
(their e-mail, or the subject): the name their prompts record as creator (`prompts.created_by`) and the audit log's
actor for what they do. An API key that belongs to a user acts as that user; one without a user acts under its own
name. What is "theirs" is therefore what names the user's handle or one of their keys' names.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prompt_alchemy.storage.access import write_note
from prompt_alchemy.storage.prompts import delete_relinking
from prompt_alchemy.storage.timefmt import to_iso

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from prompt_alchemy.storage.base import AuditNote

#: What an erased person's rows are re-attributed to, where a row is kept (an audit row, a kept prompt).
ERASED = "erased-user"
#: The audit actions whose targets are feedback rows (ratings and choices) their actor wrote.
FEEDBACK_ACTIONS = ("rate", "choose")


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


def _user_row(row: Any) -> dict[str, Any]:
    return dict(row)


class PeopleRepository:
    """Projects, users, memberships and key bindings: a part of each store, whose `transaction()` and `query()` it
    uses."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]

    # ------------------------------------------------------------------ projects

    def create_project(self, project_id: str, when: datetime, *, audit: AuditNote | None = None) -> bool:
        """Create a project; False when it exists already."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone():
                return False
            db.execute("INSERT INTO projects (id, created_at) VALUES (?, ?)", (project_id, to_iso(when)))
            write_note(db, audit, [project_id], when)
            return True

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project with its number of prompts and members, oldest first."""
        rows = self.query(
            "SELECT pr.id, pr.created_at, "
            "(SELECT COUNT(*) FROM prompts p WHERE p.project_id = pr.id) AS prompts, "
            "(SELECT COUNT(*) FROM memberships m WHERE m.project_id = pr.id) AS members "
            "FROM projects pr ORDER BY pr.created_at, pr.id"
        )
        return [dict(r) for r in rows]

    def project_exists(self, project_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM projects WHERE id = ?", (project_id,)))

    # ------------------------------------------------------------------ users

    def upsert_user(
        self,
        *,
        user_id: str,
        issuer: str,
        subject: str,
        handle: str,
        email: str | None,
        display_name: str | None,
        when: datetime,
        audit: AuditNote | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The user of (issuer, subject), created on first sign-in (with the `audit` row); (row, created). A known
        user's e-mail and name follow the sign-in, and `last_seen_at` is set."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM users WHERE issuer = ? AND subject = ?", (issuer, subject)).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE users SET email = ?, display_name = ?, last_seen_at = ? WHERE id = ?",
                    (email, display_name, to_iso(when), row["id"]),
                )
                found = dict(row)
                found.update(email=email, display_name=display_name, last_seen_at=to_iso(when))
                return found, False
            db.execute(
                "INSERT INTO users (id, issuer, subject, handle, email, display_name, created_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, issuer, subject, handle, email, display_name, to_iso(when), to_iso(when)),
            )
            write_note(db, audit, [user_id], when)
            created = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            return dict(created), True

    def handle_taken(self, handle: str) -> bool:
        return bool(self.query("SELECT 1 FROM users WHERE handle = ?", (handle,)))

    def find_user(self, ref: str) -> dict[str, Any] | None:
        """The user whose id, handle or e-mail is `ref`, or None."""
        rows = self.query(
            "SELECT * FROM users WHERE id = ? OR handle = ? OR email = ? ORDER BY created_at LIMIT 1", (ref, ref, ref)
        )
        return dict(rows[0]) if rows else None

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with their memberships (`roles`: project -> role), oldest first."""
        users = [dict(r) for r in self.query("SELECT * FROM users ORDER BY created_at, id")]
        roles: dict[str, dict[str, str]] = {}
        for m in self.query("SELECT user_id, project_id, role FROM memberships ORDER BY project_id"):
            roles.setdefault(m["user_id"], {})[m["project_id"]] = m["role"]
        for user in users:
            user["roles"] = roles.get(user["id"], {})
        return users

    def set_user_disabled(
        self, user_id: str, disabled: bool, when: datetime, *, audit: AuditNote | None = None
    ) -> None:
        """Disable the user (their tokens and keys are refused from now on), or enable them again."""
        with self.transaction() as db:
            db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (to_iso(when) if disabled else None, user_id))
            write_note(db, audit, [user_id], when)

    # ------------------------------------------------------------------ memberships

    def set_membership(
        self, user_id: str, project_id: str, role: str, source: str, when: datetime, *, audit: AuditNote | None = None
    ) -> None:
        """Give the user `role` in the project (replacing the role they had)."""
        with self.transaction() as db:
            db.execute("DELETE FROM memberships WHERE user_id = ? AND project_id = ?", (user_id, project_id))
            db.execute(
                "INSERT INTO memberships (user_id, project_id, role, source, created_at) " "VALUES (?, ?, ?, ?, ?)",
                (user_id, project_id, role, source, to_iso(when)),
            )
            write_note(db, audit, [user_id, project_id], when)

    def remove_membership(
        self, user_id: str, project_id: str, when: datetime, *, audit: AuditNote | None = None
    ) -> bool:
        with self.transaction() as db:
            gone = db.execute(
                "DELETE FROM memberships WHERE user_id = ? AND project_id = ?", (user_id, project_id)
            ).rowcount
            if gone:
                write_note(db, audit, [user_id, project_id], when)
            return bool(gone)

    def memberships(self, user_id: str) -> dict[str, dict[str, str]]:
        """project -> {"role", "source"} of the user."""
        return {
            r["project_id"]: {"role": r["role"], "source": r["source"]}
            for r in self.query(
                "SELECT project_id, role, source FROM memberships WHERE user_id = ? ORDER BY project_id", (user_id,)
            )
        }

    def project_owners(self, project_id: str) -> list[str]:
        return [
            r[0]
            for r in self.query(
                "SELECT user_id FROM memberships WHERE project_id = ? AND role = 'owner'", (project_id,)
            )
        ]

    # ------------------------------------------------------------------ keys

    def insert_project_key(
        self,
        *,
        key_id: str,
        name: str,
        scope: str,
        salt: str,
        secret_hash: str,
        rate_limit: int | None,
        created_at: datetime,
        project_id: str,
        user_id: str | None,
        audit: AuditNote | None = None,
    ) -> None:
        """Store a new key of a project (and of a user); an active key of the same name is a conflict (the
        database's integrity error)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO api_keys (id, name, scope, salt, secret_hash, rate_limit, created_at, "
                "project_id, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, scope, salt, secret_hash, rate_limit, to_iso(created_at), project_id, user_id),
            )
            write_note(db, audit, [key_id], created_at)

    def key_binding(self, key_id: str) -> dict[str, Any] | None:
        """The project and user of a key, with the user's handle, whether they are disabled and their role in the
        key's project (None for a key without a user)."""
        rows = self.query(
            "SELECT k.project_id, k.user_id, u.handle, u.disabled_at, m.role FROM api_keys k "
            "LEFT JOIN users u ON u.id = k.user_id "
            "LEFT JOIN memberships m ON m.user_id = k.user_id AND m.project_id = k.project_id "
            "WHERE k.id = ?",
            (key_id,),
        )
        return dict(rows[0]) if rows else None

    # ------------------------------------------------------------------ data rights

    def _actors(self, user: dict[str, Any]) -> list[str]:
        """The names the user acts under: their handle and the names of their keys."""
        names = [user["handle"]] + [
            r[0] for r in self.query("SELECT name FROM api_keys WHERE user_id = ?", (user["id"],))
        ]
        return list(dict.fromkeys(names))

    def _feedback_ids(self, actors: list[str]) -> list[str]:
        actions = _marks(list(FEEDBACK_ACTIONS))
        rows = self.query(
            f"SELECT DISTINCT t.target_id FROM audit_targets t JOIN audit_log a ON a.id = t.audit_id "
            f"WHERE a.actor IN ({_marks(actors)}) AND a.outcome = 'ok' AND a.action IN ({actions})",
            [*actors, *FEEDBACK_ACTIONS],
        )
        ids = [r[0] for r in rows]
        if not ids:
            return []
        return [r[0] for r in self.query(f"SELECT id FROM feedback WHERE id IN ({_marks(ids)})", ids)]

    def person_data(self, user: dict[str, Any]) -> dict[str, Any]:
        """Everything stored about `user`: the user row, memberships, their prompts (with context), ratings,
        keys (without salt or hash) and the audit rows they are the actor of."""
        actors = self._actors(user)
        marks = _marks(actors)
        prompts = [
            dict(r)
            for r in self.query(f"SELECT * FROM prompts WHERE created_by IN ({marks}) ORDER BY created_at, id", actors)
        ]
        for p in prompts:
            p.pop("embedding", None)
            p.pop("search", None)
        feedback_ids = self._feedback_ids(actors)
        ratings = (
            [
                dict(r)
                for r in self.query(
                    f"SELECT * FROM feedback WHERE id IN ({_marks(feedback_ids)}) ORDER BY created_at, id", feedback_ids
                )
            ]
            if feedback_ids
            else []
        )
        keys = [
            {k: v for k, v in dict(r).items() if k not in ("salt", "secret_hash")}
            for r in self.query("SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id", (user["id"],))
        ]
        audit = []
        for r in self.query(f"SELECT * FROM audit_log WHERE actor IN ({marks}) ORDER BY id", actors):
            row = dict(r)
            row["targets"] = json.loads(row["targets"] or "[]")
            audit.append(row)
        return {
            "user": dict(user),
            "memberships": self.memberships(user["id"]),
            "prompts": prompts,
            "ratings": ratings,
            "keys": keys,
            "audit": audit,
        }

    def erase_person(
        self, user: dict[str, Any], when: datetime, *, keep_prompts: bool, audit: AuditNote | None = None
    ) -> dict[str, int]:
        """Remove `user` in one transaction: their ratings, their keys, their memberships and user row; their
        prompts are deleted (lineage relinked), or kept anonymised (`created_by` = ERASED) with `keep_prompts`;
        the audit rows they acted in are kept, anonymised. The `audit` row of the erase names only the user id.
        Returns how many rows of each kind went."""
        actors = self._actors(user)
        marks = _marks(actors)
        counts: dict[str, int] = {}
        with self.transaction() as db:
            feedback_ids = [
                r[0]
                for r in db.execute(
                    f"SELECT DISTINCT t.target_id FROM audit_targets t JOIN audit_log a ON a.id = t.audit_id "
                    f"WHERE a.actor IN ({marks}) AND a.action IN ({_marks(list(FEEDBACK_ACTIONS))})",
                    [*actors, *FEEDBACK_ACTIONS],
                ).fetchall()
            ]
            counts["ratings"] = sum(
                db.execute("DELETE FROM feedback WHERE id = ?", (fid,)).rowcount for fid in feedback_ids
            )
            prompt_ids = [
                r[0] for r in db.execute(f"SELECT id FROM prompts WHERE created_by IN ({marks})", actors).fetchall()
            ]
            if keep_prompts:
                counts["prompts_anonymised"] = db.execute(
                    f"UPDATE prompts SET created_by = ? WHERE created_by IN ({marks})", [ERASED, *actors]
                ).rowcount
            else:
                counts["prompts"] = len(delete_relinking(db, prompt_ids))
            counts["audit_rows_anonymised"] = db.execute(
                f"UPDATE audit_log SET actor = ? WHERE actor IN ({marks})", [ERASED, *actors]
            ).rowcount
            counts["keys"] = db.execute("DELETE FROM api_keys WHERE user_id = ?", (user["id"],)).rowcount
            counts["memberships"] = db.execute("DELETE FROM memberships WHERE user_id = ?", (user["id"],)).rowcount
            counts["users"] = db.execute("DELETE FROM users WHERE id = ?", (user["id"],)).rowcount
            write_note(db, audit, [user["id"]], when)
        return counts

    def purge_before(
        self,
        *,
        sessions_before: datetime | None,
        audit_before: datetime | None,
        when: datetime,
        audit: AuditNote | None = None,
    ) -> dict[str, int]:
        """The retention purge, one transaction: generation sessions older than `sessions_before` (their prompts
        and metrics; a prompt with a name, a label or a rating is kept, and so is its session's lineage above it)
        and audit rows older than `audit_before`."""
        counts = {"prompts": 0, "metrics": 0, "audit_rows": 0}
        with self.transaction() as db:
            if sessions_before is not None:
                cutoff = to_iso(sessions_before)
                ids = [
                    r[0]
                    for r in db.execute(
                        "SELECT p.id FROM prompts p WHERE p.session_id IS NOT NULL AND p.created_at < ? "
                        "AND p.name IS NULL "
                        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.prompt_id = p.id) "
                        "AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.prompt_id = p.id) "
                        "AND NOT EXISTS (SELECT 1 FROM prompts c WHERE c.parent_id = p.id AND "
                        "(c.session_id IS NULL OR c.created_at >= ? OR c.name IS NOT NULL)) "
                        "ORDER BY p.created_at DESC",
                        (cutoff, cutoff),
                    ).fetchall()
                ]
                counts["prompts"] = len(delete_relinking(db, ids))
                counts["metrics"] = db.execute(
                    "DELETE FROM metrics WHERE created_at < ? AND prompt_id IS NULL", (cutoff,)
                ).rowcount
            if audit_before is not None:
                counts["audit_rows"] = db.execute(
                    "DELETE FROM audit_log WHERE created_at < ?", (to_iso(audit_before),)
                ).rowcount
            write_note(db, audit, [], when)
        return counts

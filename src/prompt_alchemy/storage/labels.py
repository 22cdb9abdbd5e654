"""Named prompts and their labels, shared by both stores (statements written once with `?` placeholders).

Names and labels belong to a project: a name is unique within its project (two projects may each have their own
`movie-critic`), and every statement here reads and writes the current caller's project only
(`prompt_alchemy.tenancy.current_project`: the caller's project, or `default` for the local user).

A prompt may have a name (`movie-critic`): the prompts of one name are its versions 1..n (`prompts.project_id`,
`prompts.name`, `prompts.version`, unique together). A label (`production`) points at exactly one version of one
name (`labels`: project_id, prompt_name, name, prompt_id); `latest` is implicit (the highest version) and is never
stored. Every set, move and removal is appended to `label_history`. A protected label (`protected_labels`, one row
per project and label name) may be moved only by someone allowed to (the service decides who). Versions and label
moves of one name are serialized under the name's lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock on
the project and name), so versions never collide and the label history names the true previous version.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prompt_alchemy.storage.access import write_note
from prompt_alchemy.storage.timefmt import to_iso
from prompt_alchemy.tenancy import current_project

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from prompt_alchemy.models import ContextItem, Prompt
    from prompt_alchemy.storage.base import AuditNote

#: A prompt name or a label: a letter, then letters, digits, '.', '_' or '-' (at most 64 in all).
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
#: Words that could be read as an id prefix (ids are hex UUIDs) are neither names nor labels.
ID_LIKE = re.compile(r"^[0-9a-fA-F-]+$")
#: The implicit label of the highest version of a name.
LATEST = "latest"
_WORD = re.compile(r"[a-z0-9]+")


def derive_name(prompt: Any, taken: set[str]) -> str:
    """A name for an unnamed prompt (a row or a Prompt with title, original_input and content): a slug of the first
    words of its title, else of its idea, else of its text; never id-like; `-2`, `-3` ... when `taken` holds it."""

    def get(key: str) -> Any:
        return prompt[key] if isinstance(prompt, dict) or hasattr(prompt, "keys") else getattr(prompt, key)

    source = get("title") or get("original_input") or get("content") or ""
    words = _WORD.findall(str(source).lower())[:5]
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > 48:
            break
        slug = f"{slug}-{word}" if slug else word
    slug = slug or "prompt"
    if not slug[0].isalpha():
        slug = f"prompt-{slug}"
    if ID_LIKE.match(slug) or slug == LATEST:
        slug = f"{slug}-prompt"
    name, n = slug, 1
    while name in taken:
        n += 1
        name = f"{slug}-{n}"
    return name


def migrate_global_labels(db: Any, when: datetime) -> list[str]:
    """Migration m009's data step, in the migration's transaction `db`: every label of the old global table
    (`labels_m008`) becomes a label of the name of the prompt it pointed at. A labelled prompt without a name gets
    one derived from it (see `derive_name`) as version 1. Each move is recorded in `label_history` (actor
    'migration', source 'migration') and the audit log (action 'label.migrate'). Returns one line per label, saying
    how it moved."""
    rows = db.execute(
        "SELECT l.name AS label, l.prompt_id, l.updated_at, p.title, p.original_input, p.content, "
        "p.name, p.version FROM labels_m008 l JOIN prompts p ON p.id = l.prompt_id "
        "ORDER BY l.name"
    ).fetchall()
    taken = {r[0] for r in db.execute("SELECT DISTINCT name FROM prompts WHERE name IS NOT NULL").fetchall()}
    named: dict[str, tuple[str, int]] = {}
    lines: list[str] = []
    from prompt_alchemy.storage.base import AuditNote

    for row in rows:
        label, prompt_id = row[0], row[1]
        if prompt_id not in named:
            if row[6] is not None:
                named[prompt_id] = (row[6], int(row[7]))
            else:
                name = derive_name({"title": row[3], "original_input": row[4], "content": row[5]}, taken)
                taken.add(name)
                db.execute("UPDATE prompts SET name = ?, version = 1 WHERE id = ?", (name, prompt_id))
                named[prompt_id] = (name, 1)
        name, version = named[prompt_id]
        db.execute(
            "INSERT INTO labels (prompt_name, name, prompt_id, updated_at) VALUES (?, ?, ?, ?)",
            (name, label, prompt_id, row[2]),
        )
        db.execute(
            "INSERT INTO label_history (prompt_name, name, prompt_id, previous_id, action, actor, source, "
            "created_at) VALUES (?, ?, ?, NULL, 'set', 'migration', 'migration', ?)",
            (name, label, prompt_id, to_iso(when)),
        )
        line = (
            f"label '{label}' (global, on prompt {prompt_id}) is now '{name}@{label}': version {version} of "
            f"the name '{name}'"
        )
        write_note(db, AuditNote(actor="migration", action="label.migrate", detail=line[:500]), [prompt_id], when)
        lines.append(line)
    return lines


class LabelRepository:
    """Names, versions and labels: a part of each store, whose `transaction()` and `query()` it uses. A store
    supplies `_insert_prompts` (and `_after_write`) through PromptRecords."""

    transaction: Callable[[], AbstractContextManager[Any]]
    query: Callable[..., list[Any]]
    _insert_prompts: Callable[[Any, list[Prompt]], None]
    _insert_context: Callable[..., None]
    _before_write: Callable[[list[Prompt]], None]
    _after_write: Callable[[list[Prompt]], None]

    def _lock_label(self, db: Any, name: str) -> None:
        """Hold the prompt name `name` (its versions and labels) until the open transaction ends. SQLite's BEGIN
        IMMEDIATE already serializes every writer; the PostgreSQL store takes a lock of the name's own (which
        covers a name not created yet). `name` is `project/name` (see `_lock_name`)."""

    def _lock_name(self, db: Any, project: str, name: str) -> None:
        self._lock_label(db, f"{project}/{name}")

    # ------------------------------------------------------------------ names and versions

    def _next_version(self, db: Any, project: str, name: str) -> int:
        row = db.execute(
            "SELECT MAX(version) FROM prompts WHERE project_id = ? AND name = ?", (project, name)
        ).fetchone()
        return int(row[0] or 0) + 1

    def _taken_names(self, db: Any, project: str) -> set[str]:
        rows = db.execute(
            "SELECT DISTINCT name FROM prompts WHERE project_id = ? AND name IS NOT NULL", (project,)
        ).fetchall()
        return {r[0] for r in rows}

    def save_version(
        self, prompt: Prompt, name: str, *, contexts: list[ContextItem] | None = None, audit: AuditNote | None = None
    ) -> int:
        """Insert `prompt` as the next version of `name` (version 1 for a new name), with its `audit` row, in one
        transaction under the name's lock; returns the version."""
        self._before_write([prompt])
        with self.transaction() as db:
            self._lock_name(db, prompt.project_id, name)
            version = self._next_version(db, prompt.project_id, name)
            self._insert_prompts(db, [prompt])
            db.execute("UPDATE prompts SET name = ?, version = ? WHERE id = ?", (name, version, prompt.id))
            for item in contexts or []:
                self._insert_context(db, prompt, item)
            write_note(db, audit, [prompt.id], prompt.created_at)
        self._after_write([prompt])
        return version

    def _name_prompt(
        self, db: Any, prompt_id: str, name: str | None, version: int | None = None
    ) -> tuple[str, int] | None:
        """The (name, version) of `prompt_id`, naming it first when it has none: `name` (as `version` when that is
        free, else as its next version), or a name derived from the prompt. None when there is no such prompt.
        Inside the caller's transaction."""
        row = db.execute(
            "SELECT name, version, title, original_input, content, project_id FROM prompts WHERE id = ?",
            (prompt_id,),
        ).fetchone()
        if row is None:
            return None
        if row[0] is not None:
            return row[0], int(row[1])
        project = row[5]
        if name is None:
            name = derive_name(
                {"title": row[2], "original_input": row[3], "content": row[4]}, self._taken_names(db, project)
            )
        self._lock_name(db, project, name)
        if (
            version is None
            or db.execute(
                "SELECT 1 FROM prompts WHERE project_id = ? AND name = ? AND version = ?", (project, name, version)
            ).fetchone()
            is not None
        ):
            version = self._next_version(db, project, name)
        db.execute("UPDATE prompts SET name = ?, version = ? WHERE id = ? AND name IS NULL", (name, version, prompt_id))
        return name, version

    def assign_name(
        self, prompt_id: str, name: str | None = None, *, version: int | None = None
    ) -> tuple[str, int] | None:
        """Name an unnamed prompt (`name` as `version` when that is free, else as its next version; or a derived
        name); a named one keeps its name. Returns (name, version), or None when there is no such prompt."""
        with self.transaction() as db:
            return self._name_prompt(db, prompt_id, name, version)

    def resolve_name(self, name: str, version: int | None = None) -> str | None:
        """The id of version `version` of `name` (the latest when None) in the current project, or None."""
        project = current_project()
        if version is None:
            rows = self.query(
                "SELECT id FROM prompts WHERE project_id = ? AND name = ? ORDER BY version DESC LIMIT 1",
                (project, name),
            )
        else:
            rows = self.query(
                "SELECT id FROM prompts WHERE project_id = ? AND name = ? AND version = ?", (project, name, version)
            )
        return rows[0][0] if rows else None

    def name_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of `name` in the current project (version, prompt_id, created_at, title), oldest first."""
        return [
            dict(r)
            for r in self.query(
                "SELECT version, id AS prompt_id, created_at, title FROM prompts WHERE project_id = ? AND name = ? "
                "ORDER BY version",
                (current_project(), name),
            )
        ]

    def names_for(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """The (name, version) of each of `ids` that has a name."""
        out: dict[str, tuple[str, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.query(
                f"SELECT id, name, version FROM prompts WHERE name IS NOT NULL AND id IN ({marks})", chunk
            ):
                out[row[0]] = (row[1], int(row[2]))
        return out

    def list_names(self) -> list[dict[str, Any]]:
        """Every name of the current project (name, versions, latest_version, updated_at), by name."""
        return [
            dict(r)
            for r in self.query(
                "SELECT name, COUNT(*) AS versions, MAX(version) AS latest_version, MAX(created_at) AS updated_at "
                "FROM prompts WHERE project_id = ? AND name IS NOT NULL GROUP BY name ORDER BY name",
                (current_project(),),
            )
        ]

    # ------------------------------------------------------------------ labels

    def set_label(
        self,
        name: str,
        prompt_id: str,
        when: datetime,
        *,
        actor: str = "local",
        source: str = "cli",
        audit: AuditNote | None = None,
        prompt_name: str | None = None,
    ) -> str | None:
        """Point the label `name` of the prompt's name at `prompt_id` (creating or moving it) and record the change;
        returns the id it pointed at before (None for a new label). A prompt without a name is named first
        (`prompt_name`, else a derived name). Setting a label to where it already points records nothing. The
        previous id is read under the name's lock, in the transaction that moves the label and writes its history
        (and `audit`) row. Labels of other names are never touched."""
        with self.transaction() as db:
            named = self._name_prompt(db, prompt_id, prompt_name)
            if named is None:
                raise LookupError(f"no prompt with id '{prompt_id}'")
            owner = named[0]
            project = db.execute("SELECT project_id FROM prompts WHERE id = ?", (prompt_id,)).fetchone()[0]
            self._lock_name(db, project, owner)
            row = db.execute(
                "SELECT prompt_id FROM labels WHERE project_id = ? AND prompt_name = ? AND name = ?",
                (project, owner, name),
            ).fetchone()
            previous = row[0] if row else None
            if previous == prompt_id:
                return previous
            db.execute(
                "INSERT INTO labels (project_id, prompt_name, name, prompt_id, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(project_id, prompt_name, name) DO UPDATE SET prompt_id = excluded.prompt_id, "
                "updated_at = excluded.updated_at",
                (project, owner, name, prompt_id, to_iso(when)),
            )
            db.execute(
                "INSERT INTO label_history (project_id, prompt_name, name, prompt_id, previous_id, action, actor, "
                "source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project,
                    owner,
                    name,
                    prompt_id,
                    previous,
                    "move" if previous else "set",
                    actor,
                    source,
                    to_iso(when),
                ),
            )
            write_note(db, audit, [prompt_id, *([previous] if previous else [])], when)
        return previous

    def remove_label(
        self,
        name: str,
        when: datetime,
        *,
        actor: str = "local",
        source: str = "cli",
        audit: AuditNote | None = None,
        prompt_name: str | None = None,
    ) -> str | None:
        """Remove the label `name` of `prompt_name` (None: of the only name that has it) and record it (and
        `audit`), under the name's lock; returns the id it pointed at, or None when there was no such label."""
        owner = prompt_name or self._only_owner(name)
        if owner is None:
            return None
        project = current_project()
        with self.transaction() as db:
            self._lock_name(db, project, owner)
            row = db.execute(
                "SELECT prompt_id FROM labels WHERE project_id = ? AND prompt_name = ? AND name = ?",
                (project, owner, name),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "DELETE FROM labels WHERE project_id = ? AND prompt_name = ? AND name = ?", (project, owner, name)
            )
            db.execute(
                "INSERT INTO label_history (project_id, prompt_name, name, prompt_id, previous_id, action, actor, "
                "source, created_at) VALUES (?, ?, ?, NULL, ?, 'remove', ?, ?, ?)",
                (project, owner, name, row[0], actor, source, to_iso(when)),
            )
            write_note(db, audit, [row[0]], when)
        return row[0]

    def _only_owner(self, label: str) -> str | None:
        rows = self.query(
            "SELECT prompt_name FROM labels WHERE project_id = ? AND name = ?", (current_project(), label)
        )
        return rows[0][0] if len(rows) == 1 else None

    def get_label(self, name: str, prompt_name: str | None = None) -> str | None:
        """The prompt id the label `name` of `prompt_name` points at (None: of the only name that has such a
        label), or None."""
        owner = prompt_name or self._only_owner(name)
        if owner is None:
            return None
        rows = self.query(
            "SELECT prompt_id FROM labels WHERE project_id = ? AND prompt_name = ? AND name = ?",
            (current_project(), owner, name),
        )
        return rows[0][0] if rows else None

    def list_labels(self, prompt_name: str | None = None) -> list[dict[str, Any]]:
        """Every label (prompt_name, name, prompt_id, version, protected, updated_at), by name and label; of one
        name with `prompt_name`."""
        where, params = ("AND l.prompt_name = ?", [prompt_name]) if prompt_name else ("", [])
        rows = self.query(
            "SELECT l.prompt_name, l.name, l.prompt_id, p.version, l.updated_at, "
            "(SELECT COUNT(*) FROM protected_labels AS x WHERE x.project_id = l.project_id AND x.name = l.name) "
            "AS protected "
            f"FROM labels l JOIN prompts p ON p.id = l.prompt_id WHERE l.project_id = ? {where} "
            "ORDER BY l.prompt_name, l.name",
            [current_project(), *params],
        )
        return [{**dict(r), "protected": bool(r["protected"])} for r in rows]

    def labels_for(self, ids: list[str]) -> dict[str, list[str]]:
        """The label names of each of `ids` that has any, sorted."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.query(
                f"SELECT name, prompt_id FROM labels WHERE prompt_id IN ({marks}) ORDER BY name", chunk
            ):
                out.setdefault(row["prompt_id"], []).append(row["name"])
        return out

    def label_owners(self, name: str) -> list[str]:
        """The prompt names that have a label `name`, sorted."""
        return [
            r[0]
            for r in self.query(
                "SELECT prompt_name FROM labels WHERE project_id = ? AND name = ? ORDER BY prompt_name",
                (current_project(), name),
            )
        ]

    def label_history(
        self, name: str | None = None, limit: int = 100, *, prompt_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Label changes (prompt_name, name, action, prompt_id, previous_id, actor, source, created_at), newest
        first; of one label `name` and/or of one `prompt_name`."""
        clauses, params = ["project_id = ?"], [current_project()]
        if name:
            clauses, params = clauses + ["name = ?"], params + [name]
        if prompt_name:
            clauses, params = clauses + ["prompt_name = ?"], params + [prompt_name]
        where = f"WHERE {' AND '.join(clauses)}"
        return [
            dict(r)
            for r in self.query(
                "SELECT prompt_name, name, action, prompt_id, previous_id, actor, source, created_at "
                f"FROM label_history {where} ORDER BY id DESC LIMIT ?",
                [*params, limit],
            )
        ]

    # ------------------------------------------------------------------ protected labels

    def protect_label(self, name: str, protected: bool, when: datetime, *, audit: AuditNote | None = None) -> bool:
        """Protect (or unprotect) the label `name` for every prompt name of the current project; whether anything
        changed."""
        project = current_project()
        with self.transaction() as db:
            held = (
                db.execute(
                    "SELECT 1 FROM protected_labels WHERE project_id = ? AND name = ?", (project, name)
                ).fetchone()
                is not None
            )
            if held == protected:
                return False
            if protected:
                db.execute(
                    "INSERT INTO protected_labels (project_id, name, created_at) VALUES (?, ?, ?)",
                    (project, name, to_iso(when)),
                )
            else:
                db.execute("DELETE FROM protected_labels WHERE project_id = ? AND name = ?", (project, name))
            write_note(db, audit, [], when)
        return True

    def protected_labels(self, project: str | None = None) -> list[str]:
        """The protected label names of `project` (None: the current project)."""
        return [
            r[0]
            for r in self.query(
                "SELECT name FROM protected_labels WHERE project_id = ? ORDER BY name", (project or current_project(),)
            )
        ]

"""Copy a whole library from one store to another (SQLite to PostgreSQL, back, or between two of either), row for
row: projects, users and their roles, prompts with every field (lineage and embeddings included, and the project
and creator of each), context, metrics, feedback, learned models, labels and their history, API keys (hashes only)
and the audit log, maintenance records and the response cache. The target must hold no prompts; everything is
written in one transaction, so a failed copy leaves it as it was.

A new library already has the `default` project, and people may have signed in to it before the copy: projects,
users and roles join what the target holds (:class:`PeopleMerge`). A project is the same project when its name is,
a user the same person when their issuer and subject are; the target's row is kept, and the copied rows that name
the source's user (roles, keys, prompts' creator, audit actors) name the target's instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Tables in dependency order, each with the key its rows are paged by (None: read at once).
TABLES: list[tuple[str, str | None]] = [
    ("projects", None),  # keyed by the project's name: few rows, read at once
    ("users", "id"),
    ("memberships", None),  # keyed by (user_id, project_id)
    ("prompts", "id"),
    ("prompt_context", "id"),
    ("metrics", "id"),
    ("feedback", "id"),
    ("models", "id"),
    ("labels", None),  # keyed by (project_id, prompt_name, name): few rows, read at once
    ("protected_labels", None),  # keyed by (project_id, name): read at once
    ("label_history", "id"),
    ("api_keys", "id"),
    ("audit_log", "id"),
    ("audit_targets", None),
    ("maintenance", "task"),
    ("response_cache", "key"),
    ("embedding_cache", "key"),
]
#: Columns one dialect adds for its own indexes (the generated tsvector, an insertion counter).
_DERIVED = {"search", "seq"}
_PAGE = 2000


def _columns(store: Any, table: str) -> list[str]:
    rows = store.query(f"SELECT * FROM {table} LIMIT 1")
    if rows:
        return [c for c in rows[0].keys() if c not in _DERIVED]
    return []


def _pages(store: Any, table: str, key: str | None, columns: list[str]):
    cols = ", ".join(columns)
    if key is None:
        yield store.query(f"SELECT {cols} FROM {table}")
        return
    last = None
    while True:
        where, params = ("", list[Any]()) if last is None else (f"WHERE {key} > ?", [last])
        rows = store.query(f"SELECT {cols} FROM {table} {where} ORDER BY {key} LIMIT ?", [*params, _PAGE])
        if not rows:
            return
        yield rows
        last = rows[-1][key]


#: The columns that name a user, by table: by their id ("id") or by their handle ("handle").
_USER_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "memberships": (("user_id", "id"),),
    "api_keys": (("user_id", "id"),),
    "prompts": (("created_by", "handle"),),
    "label_history": (("actor", "handle"),),
    "audit_log": (("actor", "handle"),),
}


@dataclass
class PeopleMerge:
    """How the source's projects, users and roles join those the target holds already (in the copy's
    transaction): a project the target has (by name) is kept, a user it has (by issuer and subject) is kept and the
    source's rows that name them are rewritten to the target's id and handle, and a role the target gives that user
    in that project is kept."""

    projects: set[str] = field(default_factory=set)
    #: source user id -> the target's id, and source handle -> the target's handle, of the users both hold
    ids: dict[str, str] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def read(cls, source: Any, db: Any) -> PeopleMerge:
        """What the target (`db`, inside the copy's transaction) holds; a source user whose handle the target gives
        to another person cannot be copied (InputError, nothing written)."""
        from prompt_alchemy.errors import InputError

        merge = cls(projects={r[0] for r in db.execute("SELECT id FROM projects").fetchall()})
        held = {
            (r[1], r[2]): (r[0], r[3]) for r in db.execute("SELECT id, issuer, subject, handle FROM users").fetchall()
        }
        handles = {handle: key for key, (_, handle) in held.items()}
        for row in source.query("SELECT id, issuer, subject, handle FROM users"):
            key = (row["issuer"], row["subject"])
            if key in held:
                merge.ids[row["id"]], merge.handles[row["handle"]] = held[key]
            elif row["handle"] in handles:
                raise InputError(
                    f"the target library has another user with the handle '{row['handle']}' (signed in from "
                    f"{handles[row['handle']][0]}); nothing was copied. Erase that user there first "
                    f"('prompt-alchemy users erase'), or copy into a library nobody has signed in to"
                )
        merge.members = {(r[0], r[1]) for r in db.execute("SELECT user_id, project_id FROM memberships").fetchall()}
        return merge

    def admits(self, table: str, row: Any) -> bool:
        """Whether the source's `row` of `table` is written (False: the target's own row stands)."""
        if table == "projects":
            return bool(row["id"] not in self.projects)
        if table == "users":
            return bool(row["id"] not in self.ids)
        if table == "memberships":
            return (self.ids.get(row["user_id"], row["user_id"]), row["project_id"]) not in self.members
        return True

    def rewrite(self, table: str, columns: list[str], value: list[Any]) -> None:
        """Point the row's user columns at the target's user, in place."""
        for column, kind in _USER_COLUMNS.get(table, ()):
            mapping = self.ids if kind == "id" else self.handles
            at = columns.index(column)
            if value[at] in mapping:
                value[at] = mapping[value[at]]


def table_counts(store: Any) -> dict[str, int]:
    return {table: int(store.query(f"SELECT COUNT(*) FROM {table}")[0][0]) for table, _ in TABLES}


#: How many rows that cannot move an error names before it says "and N more".
_NAMED_ROWS = 20


def _nul_columns(row: Any, columns: list[str]) -> list[str]:
    return [c for c in columns if isinstance(row[c], str) and "\x00" in row[c]]


def _row_name(table: str, key: str | None, row: Any, bad: list[str]) -> str:
    which = f" {row[key]!r}" if key is not None and not _nul_columns(row, [key]) else ""
    return f"{table}{which} ({', '.join(bad)})"


def copy_library(
    source: Any, target: Any, progress: Callable[[str, int], None] | None = None, *, strip_nul: bool = False
) -> dict[str, int]:
    """Copy every row of `source` into the empty `target` in one transaction, its people joining the target's
    (see PeopleMerge); rows copied per table (and
    `nul_stripped`: the rows whose NUL characters were removed). PostgreSQL cannot store NUL in text, which an old
    SQLite library may hold: such a copy is refused with every row that cannot move named (nothing is written),
    unless `strip_nul`, which removes the NULs from those rows' text and copies them."""
    from prompt_alchemy.errors import InputError
    from prompt_alchemy.storage.sqlite import SQLiteStore

    held = target.count_prompts()
    if held:
        raise InputError(f"the target library {target.path} already holds {held} prompts; copy into an empty library")
    refuses_nul = not isinstance(target, SQLiteStore)
    unmovable: list[str] = []
    stripped = 0
    copied: dict[str, int] = {}
    parents: list[tuple[str, str]] = []
    before = getattr(target, "_before_copy", None)
    if before is not None:
        before(source)
    with target.transaction() as db:
        people = PeopleMerge.read(source, db)
        for table, key in TABLES:
            columns = _columns(source, table)
            copied[table] = 0
            if not columns:
                continue
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for rows in _pages(source, table, key, columns):
                values = []
                for row in rows:
                    if not people.admits(table, row):
                        continue
                    value = [row[c] for c in columns]
                    people.rewrite(table, columns, value)
                    bad = _nul_columns(row, columns) if refuses_nul else []
                    if bad and not strip_nul:
                        unmovable.append(_row_name(table, key, row, bad))
                        continue
                    if bad:
                        stripped += 1
                        for c in bad:
                            value[columns.index(c)] = row[c].replace("\x00", "")
                    if table == "prompts" and row["parent_id"] is not None:  # parents may come later: linked below
                        parents.append((row["parent_id"], row["id"]))
                        value[columns.index("parent_id")] = None
                    if table == "prompts" and row["embedding"] is not None:
                        value[columns.index("embedding")] = bytes(row["embedding"])
                    if table == "embedding_cache":
                        value[columns.index("vector")] = bytes(row["vector"])
                    values.append(value)
                if unmovable:  # keep looking, to name every row that cannot move; nothing is kept
                    continue
                db.executemany(sql, values)
                copied[table] += len(values)
                if progress:
                    progress(table, copied[table])
            if table == "prompts" and parents and not unmovable:
                db.executemany("UPDATE prompts SET parent_id = ? WHERE id = ?", parents)
        if unmovable:  # raised inside the transaction: it is rolled back and the target stays empty
            more = f" and {len(unmovable) - _NAMED_ROWS} more" if len(unmovable) > _NAMED_ROWS else ""
            where = getattr(target, "shown_url", target.path)  # the URL as text: a Path folds its '//'
            raise InputError(
                f"{len(unmovable)} row(s) hold NUL characters, which {where} (PostgreSQL) cannot "
                f"store: {'; '.join(unmovable[:_NAMED_ROWS])}{more}; nothing was copied. Copy again "
                f"with --strip-nul to remove the NULs from those rows"
            )
        after = getattr(target, "_after_copy", None)
        if after is not None:
            after(db)
    if strip_nul:
        copied["nul_stripped"] = stripped
    return copied


def open_library(location: str) -> Any:
    """The store at `location`: a postgresql:// URL, or a SQLite file path (created when missing)."""
    from pathlib import Path

    from prompt_alchemy.storage.url import check_database_url, is_postgres_url

    if is_postgres_url(location) or "://" in location:
        from prompt_alchemy.errors import InputError
        from prompt_alchemy.storage.postgres import PostgresStore

        try:
            url = check_database_url(location)
        except ValueError as exc:
            raise InputError(f"'{_shown(location)}' is not a library location: {exc}") from None
        return PostgresStore(url)
    from prompt_alchemy.storage.sqlite import SQLiteStore

    return SQLiteStore(Path(location).expanduser())


def _shown(location: str) -> str:
    from prompt_alchemy.storage.url import mask_url

    return mask_url(location)

"""Reads of a request bounded to a project (the team server's callers) go through the primary key when they name
prompts by id: SQLite has no statistics, and `project_id = ?` beside `id IN (...)` would have it walk the project's
index, every prompt of the project, for each search's ten results."""

from __future__ import annotations

import sqlite3

from prompt_alchemy.models import Prompt
from prompt_alchemy.storage.sqlite import SQLiteStore
from prompt_alchemy.tenancy import Principal, principal

#: SQLite virtual machine steps between two calls of the progress handler.
STEPS = 1000


def test_prompts_named_by_id_are_read_by_id_for_a_project_bound_caller(tmp_path, monkeypatch):
    calls = [0]
    connect = SQLiteStore._connect

    def counting(target: str, *, uri: bool) -> sqlite3.Connection:
        db = connect(target, uri=uri)
        db.set_progress_handler(lambda: calls.__setitem__(0, calls[0] + 1) or 0, STEPS)
        return db

    monkeypatch.setattr(SQLiteStore, "_connect", staticmethod(counting))
    store = SQLiteStore(tmp_path / "scoped.db")
    try:
        mine = [Prompt(content=f"prompt number {i}", project_id="default") for i in range(3000)]
        theirs = Prompt(content="another project's prompt", project_id="team-b")
        store.save_prompts([*mine, theirs])
        wanted = [p.id for p in mine[100:110]] + [theirs.id, "missing"]
        bound = principal.set(Principal("default", "member", "alice"))
        try:
            store.get_prompts(wanted[:1])  # opens the read connection
            calls[0] = 0
            found = store.get_prompts(wanted)
            steps = calls[0] * STEPS
        finally:
            principal.reset(bound)
        assert sorted(found) == sorted(wanted[:10])  # the other project's prompt stays out of sight
        assert steps < 10 * STEPS, f"about {steps} SQLite steps for ten prompts: the project's rows were walked"
        assert len(store.get_prompts(wanted)) == 11  # the local user sees every project
    finally:
        store.close()

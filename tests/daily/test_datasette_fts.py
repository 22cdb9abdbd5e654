"""Datasette can read the library: the full-text table is declared in the form Datasette detects, so
`datasette prompts.db` offers a search box on `prompts`; a library made before that migration keeps its index."""

from __future__ import annotations

import json
import sqlite3

import pytest
from testkit import parse_json


def test_datasette_detects_and_searches_the_fts_table(cli, tmp_path, home):
    datasette = pytest.importorskip("datasette.app")
    from datasette.utils import detect_fts

    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        json.dumps({"content": "Review this pull request for security problems"})
        + "\n"
        + json.dumps({"content": "Plan a vegetarian week of dinners"})
        + "\n",
        encoding="utf-8",
    )
    assert parse_json(cli("import", str(seed), "-o", "json"))["imported"] == 2
    db_path = next(home.rglob("*.db"))
    with sqlite3.connect(db_path) as conn:
        assert detect_fts(conn, "prompts") == "prompts_fts"

    async def search():
        ds = datasette.Datasette([str(db_path)])
        response = await ds.client.get(f"/{db_path.stem}/prompts.json?_search=vegetarian&_shape=array")
        assert response.status_code == 200, response.text
        return response.json()

    import asyncio

    rows = asyncio.run(search())
    assert [r["content"] for r in rows] == ["Plan a vegetarian week of dinners"]


def test_an_older_library_keeps_its_index_through_the_migration(tmp_path):
    from prompt_alchemy.models import Prompt
    from prompt_alchemy.storage.sqlite import SQLiteStore, migrations

    path = tmp_path / "old.db"
    older = [m for m in migrations.MIGRATIONS if m.__name__ < "m006"]
    original = list(migrations.MIGRATIONS)
    migrations.MIGRATIONS[:] = older
    try:
        import prompt_alchemy.storage.sqlite.store as sqlite_module

        sqlite_module.MIGRATIONS = migrations.MIGRATIONS
        store = SQLiteStore(path)
        store.close()
    finally:
        migrations.MIGRATIONS[:] = original
    # the row as that older code wrote it: only the columns its schema had
    from prompt_alchemy.storage.prompts import prompt_to_row

    row = prompt_to_row(Prompt(content="Summarize the quarterly sales figures"))
    with sqlite3.connect(path) as db:
        columns = {r[1] for r in db.execute("PRAGMA table_info(prompts)")}
        row = {k: v for k, v in row.items() if k in columns}
        db.execute(f"INSERT INTO prompts ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row)
    store = SQLiteStore(path)
    try:
        assert {"m006_labels", "m007_fts_datasette"} <= set(store.applied_migrations)
        assert len(store.search_text("quarterly sales")) == 1
        assert 'content="prompts"' in store.query("SELECT sql FROM sqlite_master WHERE name = 'prompts_fts'")[0][0]
    finally:
        store.close()

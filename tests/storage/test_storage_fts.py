"""The FTS5 index: kept in sync by triggers on insert, update and delete; backfilled by the migration; safe
against FTS syntax in queries; consistent after VACUUM; filters built as SQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from prompt_alchemy.models import Phase, Prompt, SearchFilters
from prompt_alchemy.storage.sqlite import SQLiteStore, fts_query
from prompt_alchemy.storage.sqlite.migrations import m001_initial


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "lib.db")
    yield s
    s.close()


def _ids(hits):
    return [pid for pid, _ in hits]


def test_insert_update_delete_keep_the_index_in_sync(store):
    a = Prompt(content="Write a haiku about autumn leaves", title="Poetry", tags=["verse"])
    b = Prompt(content="Explain quantum tunnelling to a child", title="Physics")
    store.save_prompts([a, b])
    assert _ids(store.search_text("haiku")) == [a.id]
    assert _ids(store.search_text("verse")) == [a.id]  # tags are indexed
    assert _ids(store.search_text("physics")) == [b.id]  # titles are indexed

    with store.transaction() as db:
        db.execute(
            "UPDATE prompts SET content = ?, tags = ? WHERE id = ?",
            ("Compose a sonnet about winter frost", '["rhyme"]', a.id),
        )
    assert store.search_text("haiku") == []
    assert store.search_text("verse") == []
    assert _ids(store.search_text("sonnet")) == [a.id]
    assert _ids(store.search_text("rhyme")) == [a.id]

    # updating columns the index does not hold leaves it alone (and consistent)
    with store.transaction() as db:
        db.execute("UPDATE prompts SET score = 0.5, embedding_model = 'x' WHERE id = ?", (a.id,))
    store.fts_check()

    store.delete_prompts([a.id])
    assert store.search_text("sonnet") == []
    assert _ids(store.search_text("quantum")) == [b.id]
    store.fts_check()
    assert store.stats()["fts_documents"] == 1


def test_stemming_and_bm25_order(store):
    weak = Prompt(content="A recipe list; also mentions running once")
    strong = Prompt(content="Running tips for runners: running shoes, running form and a running plan")
    store.save_prompts([weak, strong])
    hits = store.search_text("run")
    assert _ids(hits) == [strong.id, weak.id]
    assert hits[0][1] > hits[1][1]


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "NEAR(a b",
        "a AND OR NOT",
        "col:value",
        "*",
        "^start",
        "'; DROP TABLE prompts; --",
        "(((",
        "-minus +plus",
    ],
)
def test_fts_syntax_in_queries_is_never_interpreted(store, query):
    store.save_prompts([Prompt(content="plain words about value and start")])
    store.search_text(query)  # must not raise
    assert store.count_prompts() == 1


def test_fts_query_keeps_phrases_and_drops_stop_words():
    assert fts_query('write "unit tests" for the parser') == '"unit tests" OR "write" OR "parser"'
    assert fts_query("the and of") == '"the" OR "and" OR "of"'  # only stop words: keep them
    assert fts_query("  ,;  ") is None


def test_migration_backfills_existing_rows(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    m001_initial(db)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    db.execute("INSERT INTO _migrations VALUES ('m001_initial', '2024-01-01T00:00:00+00:00')")
    db.execute(
        "INSERT INTO prompts (id, content, content_hash, created_at, updated_at) "
        "VALUES ('old-1', 'legacy prompt about gardening', 'h', '2024-01-01', '2024-01-01')"
    )
    db.execute("COMMIT")
    db.close()
    store = SQLiteStore(path)
    try:
        assert "m002_fts" in store.applied_migrations
        assert _ids(store.search_text("gardening")) == ["old-1"]
        store.fts_check()
    finally:
        store.close()


def test_vacuum_keeps_text_search_pointing_at_the_right_rows(store):
    prompts = [Prompt(content=f"note number {i} about topic{i}") for i in range(60)]
    store.save_prompts(prompts)
    store.delete_prompts([p.id for p in prompts[:40]])
    store.vacuum()
    store.fts_check()
    for p in prompts[40:]:
        i = p.content.split()[2]
        assert _ids(store.search_text(f"topic{i}")) == [p.id]
    assert store.search_text("topic3") == []


def test_filters_as_sql(store):
    now = datetime.now(UTC)
    old = Prompt(
        content="alpha task",
        phase=Phase.SOLUTIO,
        provider="openai",
        model="m1",
        persona_used="code",
        tags=["Work", "x"],
        created_at=now - timedelta(days=10),
    )
    new = Prompt(
        content="alpha task again",
        phase=Phase.COAGULATIO,
        provider="scripted",
        model="m2",
        persona_used="writing",
        tags=["work"],
        created_at=now,
    )
    store.save_prompts([old, new])
    with store.transaction() as db:
        for rating in (5, 4):
            db.execute(
                "INSERT INTO feedback (id, prompt_id, rating, created_at) VALUES (?, ?, ?, ?)",
                (f"f{rating}", old.id, rating, now.isoformat()),
            )
        db.execute(
            "INSERT INTO feedback (id, prompt_id, rating, created_at) VALUES ('f1', ?, 2, ?)", (new.id, now.isoformat())
        )

    def ids(**kw):
        return {p.id for p in store.list_prompts(filters=SearchFilters(**kw))}

    assert ids(phase="human") == {old.id}
    assert ids(phase=["solutio", "coagulatio"]) == {old.id, new.id}
    assert ids(provider="scripted") == {new.id}
    assert ids(model="m1") == {old.id}
    assert ids(persona="writing") == {new.id}
    assert ids(tags=["work"]) == {old.id, new.id}  # tags match case-insensitively
    assert ids(tags=["work", "x"]) == {old.id}  # every tag must match
    assert ids(since="3d") == {new.id}
    assert ids(until="3d") == {old.id}
    assert ids(until=(now - timedelta(days=10)).date().isoformat()) == {old.id}  # a bare date includes that day
    assert ids(min_rating=4) == {old.id}
    assert _ids(store.search_text("alpha", SearchFilters(phase="coagulatio"))) == [new.id]
    assert store.count_matching(SearchFilters(tags=["x"])) == 1


def test_bad_filter_values_are_rejected():
    from pydantic import ValidationError

    for bad in ({"phase": "nonsense"}, {"since": "last tuesday"}, {"min_rating": 9}):
        with pytest.raises(ValidationError):
            SearchFilters(**bad)


def test_large_libraries_rank_by_their_selective_terms(store, monkeypatch):
    import prompt_alchemy.storage.sqlite.store as sqlite_mod

    docs = [Prompt(content=f"common filler text number {i}") for i in range(60)]
    docs[10].content = "common filler with a rare word"
    docs[50].content = "common filler with another rare word"
    store.save_prompts(docs)
    everything = _ids(store.search_text("common rare", limit=100))
    assert len(everything) == 60  # small library: every term counts
    monkeypatch.setattr(sqlite_mod, "_TEXT_BUDGET", 10)
    monkeypatch.setattr(sqlite_mod, "_DF_SAMPLE", 20)
    assert store._selective_terms(['"common"', '"rare"']) == ['"rare"']
    assert set(_ids(store.search_text("common rare", limit=100))) == {docs[10].id, docs[50].id}
    assert len(store.search_text("common", limit=100)) == 60  # the rarest term always stays

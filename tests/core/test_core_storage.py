"""SQLite store: migrations from empty, every column round-trips, transactions are all-or-nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from prompt_alchemy.models import ContextItem, MetricRecord, Phase, Prompt
from prompt_alchemy.storage.sqlite import PROMPT_COLUMNS, SQLiteStore
from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS


def test_migrations_from_empty(tmp_path):
    path = tmp_path / "fresh.db"
    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS)
    tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"prompts", "prompt_context", "metrics", "feedback", "_migrations"} <= tables
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.migrate() == []  # idempotent
    store.close()
    reopened = SQLiteStore(path)
    assert reopened.schema_version() == len(MIGRATIONS)
    reopened.close()


def test_every_column_round_trips(tmp_path):
    store = SQLiteStore(tmp_path / "rt.db")
    parent = Prompt(content="parent")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    prompt = Prompt(
        content="Role: x\nTask: y",
        title="t",
        phase=Phase.SOLUTIO,
        variant=2,
        provider="scripted",
        model="scripted-v1",
        temperature=0.7,
        max_tokens=123,
        input_tokens=10,
        output_tokens=20,
        cost_usd=0.0012,
        latency_ms=45.5,
        tags=["a", "b"],
        parent_id=parent.id,
        session_id="s1",
        source_type="generated",
        enhancement_method="none",
        relevance_score=0.9,
        score=0.75,
        usage_count=3,
        generation_count=1,
        last_used_at=when,
        created_at=when,
        updated_at=when,
        embedding=[0.5, -0.25, 0.125],
        embedding_model="m",
        embedding_provider="local",
        embedding_dim=3,
        original_input="idea",
        generation_request={"idea": "idea", "count": 1},
        generation_context=[{"source": "f", "type": "file"}],
        persona_used="code",
        target_model_family="claude",
        target_model="claude-sonnet-4",
        notes="n",
    )
    store.save_session([parent, prompt])
    loaded = store.get_prompt(prompt.id)
    assert loaded is not None
    for column in PROMPT_COLUMNS:
        assert getattr(loaded, column) == getattr(prompt, column), column
    assert store.get_prompt("no-such-id") is None
    store.close()


def test_session_is_all_or_nothing(tmp_path):
    store = SQLiteStore(tmp_path / "tx.db")
    good = Prompt(content="ok")
    clash = Prompt(id=good.id, content="duplicate primary key")
    with pytest.raises(sqlite3.IntegrityError):
        store.save_session([good, clash], metrics=[MetricRecord(kind="generation")])
    assert store.count_prompts() == 0 and store.list_metrics() == []
    store.save_session(
        [good], {good.id: [ContextItem(source="s", content="c")]}, [MetricRecord(kind="generation", prompt_id=good.id)]
    )
    assert store.count_prompts() == 1
    assert store.get_context(good.id)[0].content == "c"
    store.close()


def test_statements_are_parameterized(tmp_path):
    store = SQLiteStore(tmp_path / "inj.db")
    p = Prompt(content="x'); DROP TABLE prompts; --", tags=["'; --"])
    store.save_session([p])
    assert store.get_prompt(p.id).content == p.content
    assert store.get_prompt("' OR 1=1 --") is None
    store.close()

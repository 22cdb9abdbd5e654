"""The PostgreSQL store: the whole protocol, the same migrations in its dialect, text and vector search on
PostgreSQL's own indexes, learning on it, a library copied SQLite -> PostgreSQL -> SQLite with every row equal, and
bad URLs or unreachable servers refused in one line with nothing written."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning"))
from datetime import UTC

from learning_testkit import TRAIN_N, make_service, ranker_accuracy, rate_all, sim_prompts, store_prompts
from testkit import run_cli

from prompt_alchemy.models import Feedback, Prompt, SearchFilters
from prompt_alchemy.storage import base
from prompt_alchemy.storage.copy import TABLES, table_counts
from prompt_alchemy.storage.sqlite.migrations import MIGRATIONS


@pytest.fixture
def pg(postgres_url):
    from prompt_alchemy.storage.postgres import PostgresStore

    store = PostgresStore(postgres_url)
    yield store
    store.close()


def _unit(rng, d):
    v = rng.standard_normal(d).astype(np.float32)
    return v / np.linalg.norm(v)


def _prompts(n=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = Prompt(
            content=(
                f"Write a haiku about autumn leaves, take {i}"
                if i % 2
                else f"Explain quantum tunnelling to a child, take {i}"
            ),
            title="Poetry" if i % 2 else "Physics",
            tags=["verse"] if i % 2 else ["science"],
        )
        p.embedding, p.embedding_model, p.embedding_provider, p.embedding_dim = _unit(rng, d).tolist(), "m", "t", d
        out.append(p)
    return out


def test_the_postgres_store_implements_every_part_of_the_protocol(pg):
    assert isinstance(pg, base.Store)
    for part in (
        base.PromptRepository,
        base.FeedbackStore,
        base.CacheStore,
        base.AccessStore,
        base.LabelStore,
        base.MaintenanceStore,
    ):
        for name, value in vars(part).items():
            if inspect.isfunction(value) and not name.startswith("_"):
                assert callable(getattr(pg, name)), f"{part.__name__}.{name}"


def test_every_migration_has_a_postgres_dialect_and_all_are_applied(pg):
    from prompt_alchemy.storage.postgres.migrations import POSTGRES_DIALECT

    names = [m.__name__ for m in MIGRATIONS]
    assert list(POSTGRES_DIALECT) == names
    assert pg.stats()["migrations"] == names and pg.schema_version() == len(names)
    assert pg.migrate() == []  # idempotent


def test_text_search_ranks_stems_and_filters(pg):
    a = Prompt(content="Summarize the quarterly sales reports for the board", title="Reports")
    b = Prompt(content="Write a poem; reports of the summer", title="Poetry", tags=["verse"])
    c = Prompt(content="Translate the menu into French", title="Menu")
    pg.save_prompts([a, b, c])
    hits = pg.search_text("summarizing report")  # stemming: summarizing ~ summarize, report ~ reports
    assert [h[0] for h in hits][:1] == [a.id] and {h[0] for h in hits} == {a.id, b.id}
    assert [h[0] for h in pg.search_text("reports", SearchFilters(tags=["verse"]))] == [b.id]
    assert [h[0] for h in pg.search_text("poetry")] == [b.id]  # titles are indexed
    assert pg.search_text('"unbalanced quote OR ) (') == []  # never a syntax error
    assert pg.search_text("the of and") == []  # stop words alone match nothing
    pg.fts_check()


def test_vector_search_exact_and_hnsw_agree_with_brute_force(pg):
    prompts = _prompts(60)
    pg.save_prompts(prompts)
    matrix = np.array([p.embedding for p in prompts], dtype=np.float32)
    rng = np.random.default_rng(5)
    for _ in range(5):
        q = _unit(rng, 16)
        want = [prompts[i].id for i in np.argsort(-(matrix @ q))[:5]]
        exact = pg._nearest(q, "m", 16, 5, exact=True)
        assert [pid for pid, _ in exact] == want
        assert abs(exact[0][1] - float(np.max(matrix @ q))) < 1e-5
        assert [pid for pid, _ in pg._nearest(q, "m", 16, 5, exact=False)][:3] == want[:3]  # HNSW
        verse = [pid for pid, _ in pg.search_vectors(q, "m", 16, 5, SearchFilters(tags=["verse"]))]
        assert (
            verse
            == [
                p
                for p in [prompts[i].id for i in np.argsort(-(matrix @ q))]
                if int(next(x for x in prompts if x.id == p).content.split()[-1]) % 2
            ][:5]
        )
    assert pg.search_vectors(_unit(rng, 16), "other-model", 16, 5) == []  # other models are never compared
    space = pg.vector_index("m", 16)
    assert len(space) == 60 and prompts[0].id in space
    pg.delete_prompts([prompts[0].id])
    assert prompts[0].id not in space and len(space) == 59


def test_delete_relinks_and_reembedding_moves_vectors(pg):
    a, b, c = _prompts(3)
    b.parent_id, c.parent_id = a.id, b.id
    pg.save_session([a, b, c])
    assert pg.delete_prompts([b.id]) == 1
    assert pg.get_prompt(c.id).parent_id == a.id
    v = (np.ones(8) / np.sqrt(8)).astype(np.float32)
    pg.set_embeddings([(a.id, v.tobytes())], "m2", "t", 8)
    assert [pid for pid, _ in pg.search_vectors(v, "m2", 8, 3)] == [a.id]
    assert a.id not in pg.vector_index("m", 16) and c.id in pg.vector_index("m", 16)


def test_feedback_models_cache_labels_keys_and_maintenance(pg, tmp_path):
    import sqlite3
    from datetime import datetime

    p = _prompts(1)[0]
    pg.save_prompts([p])
    pg.insert_feedback([Feedback(prompt_id=p.id, rating=4, source="cli"), Feedback(prompt_id=p.id, rating=2)])
    assert pg.average_ratings([p.id]) == {p.id: (3.0, 2)}
    assert pg.feedback_counts()["ratings"] == 2 and len(pg.list_feedback(prompt_id=p.id)) == 2
    pg.cache_response("k", "openai", "gpt", '{"a": 1}', 100.0, 200.0)
    assert pg.cached_response("k", 150.0) == '{"a": 1}' and pg.cached_response("k", 250.0) is None
    pg.cache_vectors([("e", "local", "m", 2, b"\x00" * 8, 100.0, 200.0)])
    assert pg.cached_vectors(["e", "x"], 150.0) == {"e": b"\x00" * 8}
    assert pg.cache_stats(150.0) == {"responses": 1, "response_hits": 1, "embeddings": 1}
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert pg.set_label("production", p.id, when) is None and pg.get_label("production") == p.id
    pg.insert_api_key(key_id="k1", name="ci", scope="read", salt="s", secret_hash="h", rate_limit=None, created_at=when)
    with pytest.raises(sqlite3.IntegrityError):
        pg.insert_api_key(
            key_id="k2", name="ci", scope="read", salt="s", secret_hash="h", rate_limit=None, created_at=when
        )
    assert pg.append_audit(actor="ci", action="rate", targets=[p.id], outcome="ok", when=when) >= 1
    assert pg.creators([p.id]) == {p.id: "ci"}
    pg.delete_prompts([p.id])
    assert pg.label_history("production")[0]["action"] == "deleted"
    assert pg.list_feedback(prompt_id=p.id) == []
    pg.vacuum()
    pg.record_maintenance("vacuum", when)
    assert pg.last_maintenance("vacuum") == when
    assert pg.check_integrity() == [] and pg.stats()["backend"] == "postgresql"
    assert pg.backup_to(tmp_path / "dump.db") > 0


def _all_rows(store) -> dict[str, list[tuple]]:
    """Every row of every copied table, in a backend-neutral form, sorted."""
    out = {}
    for table, _ in TABLES:
        rows = store.query(f"SELECT * FROM {table}")
        norm = []
        for r in rows:
            d = {k: r[k] for k in r.keys() if k not in ("search", "seq")}
            norm.append(
                tuple(
                    sorted(
                        (
                            k,
                            bytes(v)
                            if isinstance(v, (bytes, memoryview))
                            else float(v)
                            if hasattr(v, "as_integer_ratio") and not isinstance(v, int)
                            else v,
                        )
                        for k, v in d.items()
                    )
                )
            )
        out[table] = sorted(norm, key=repr)
    return out


async def test_db_copy_round_trips_sqlite_postgres_sqlite_with_every_row(service, postgres_url, tmp_path):
    """A real library (generated sessions with context and metrics, an edit, ratings, a choice, a trained-or-not
    model, labels, keys, audit rows, cache) copied to PostgreSQL and back: every row of every table is equal."""
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("background notes", encoding="utf-8")
    result = await service.generate(
        service.build_request("a haiku generator", count=2, context_files=[ctx], tags=["poetry"])
    )
    await service.update_prompt(result.prompts[-1].id, content="An edited haiku prompt")
    await service.rate(result.prompts[-1].id, 5, comment="great")
    service.store.set_label("production", result.prompts[-1].id, result.prompts[-1].created_at)
    from datetime import datetime

    service.store.append_audit(
        actor="ci",
        action="generate",
        targets=[p.id for p in result.prompts],
        outcome="ok",
        when=datetime.now(UTC),
    )
    service.store.cache_response("k", "scripted", "s", "{}", 1.0, 9e12)
    original = _all_rows(service.store)
    assert original["prompts"] and original["prompt_context"] and original["metrics"] and original["feedback"]

    copied = await service.copy_database(postgres_url)
    assert copied["prompts"] == len(original["prompts"])
    from prompt_alchemy.storage.postgres import PostgresStore
    from prompt_alchemy.storage.sqlite import SQLiteStore

    pg = PostgresStore(postgres_url)
    try:
        assert _all_rows(pg) == original
        assert table_counts(pg) == table_counts(service.store)
        final = result.prompts[-1]
        vec = service.store.get_prompt(final.id).embedding
        assert pg.search_vectors(vec, final.embedding_model, final.embedding_dim, 1)[0][0] == final.id
        assert pg.get_label("production") == final.id
        back = tmp_path / "back.db"
        again = await service.copy_database(str(back), source=postgres_url)
        assert again["rows"] == copied["rows"]
    finally:
        pg.close()
    sqlite_again = SQLiteStore(back)
    try:
        assert _all_rows(sqlite_again) == original
        assert {h[0] for h in sqlite_again.search_text("haiku")} == {h[0] for h in service.store.search_text("haiku")}
    finally:
        sqlite_again.close()
    with pytest.raises(Exception, match="already holds"):  # never into a library that has prompts
        await service.copy_database(postgres_url)


def test_training_learns_from_feedback_stored_in_postgres(postgres_url, home, monkeypatch):
    """The learning suite's main case on PostgreSQL: 300 ratings through the service, training adopts a model
    stored in PostgreSQL, a fresh service (another process's state) loads it and ranks held-out prompts better;
    a dry run stores nothing."""
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", postgres_url)
    train, held = sim_prompts()
    service = make_service()
    try:
        assert type(service.store).__name__ == "PostgresStore"
        store_prompts(service, train + held)
        rate_all(service, train)
        assert service.store.feedback_counts()["ratings"] == TRAIN_N
        before = ranker_accuracy(service, held)
        dry = asyncio.run(service.train(dry_run=True))
        assert dry.dry_run and service.store.list_models() == []
        report = asyncio.run(service.train())
        assert report.adopted and report.version == 1 and report.ratings == TRAIN_N
    finally:
        asyncio.run(service.aclose())
    fresh = make_service()
    try:
        assert fresh.ranker.learned is not None and fresh.ranker.learned.version == 1
        after = ranker_accuracy(fresh, held)
        models = fresh.store.list_models()
        assert len(models) == 1 and models[0].active and models[0].training_size == TRAIN_N
    finally:
        asyncio.run(fresh.aclose())
    assert after >= 0.8 and after >= before + 0.08


def test_cli_on_postgres_masks_the_password_and_works(postgres_url, home, monkeypatch):
    url = postgres_url.replace("postgres:@", "postgres:s3cr3t-pw@")  # trust auth: the password is not checked
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", url)
    shown = run_cli("config", "show", "--output", "json")
    assert shown.returncode == 0 and "s3cr3t-pw" not in shown.stdout + shown.stderr
    assert "****" in json.dumps(json.loads(shown.stdout))
    stats = run_cli("db", "stats", "--output", "json")
    assert stats.returncode == 0, stats.stderr
    assert "s3cr3t-pw" not in stats.stdout + stats.stderr and json.loads(stats.stdout)["backend"] == "postgresql"
    assert not (home / "prompts.db").exists()


@pytest.mark.parametrize(
    "url, needle",
    [
        ("postgresql://nobody:pw-secret@127.0.0.1:1/x", "cannot connect"),
        ("postgresql://nobody:pw-secret@127.0.0.1:notaport/x", "not a valid URL"),
        ("mysql://nobody:pw-secret@127.0.0.1/x", "expected a PostgreSQL URL"),
        ("not a url at all pw-secret", "expected a PostgreSQL URL"),
    ],
)
def test_bad_urls_and_unreachable_servers_are_one_line_and_write_nothing(url, needle, home, monkeypatch):
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", url)
    out = run_cli("list")
    assert out.returncode in (1, 2), out
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "pw-secret" not in out.stderr + out.stdout, out.stderr
    assert "Traceback" not in out.stderr
    assert not (home / "prompts.db").exists()


def test_a_missing_database_is_one_line(pg_server, home, monkeypatch):
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", pg_server.get_uri("no_such_db"))
    out = run_cli("list")
    assert out.returncode == 1 and "no_such_db" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_wrong_password_is_one_line_without_the_password(pg_server, home, monkeypatch):
    """A role that must give a password (scram-sha-256 for it in pg_hba.conf), given the wrong one."""
    import psycopg

    hba = pg_server.pgdata / "pg_hba.conf"
    text = hba.read_text()
    if "alchemy_pw_role" not in text:
        hba.write_text(
            "local all alchemy_pw_role scram-sha-256\nhost all alchemy_pw_role 127.0.0.1/32 scram-sha-256\n" + text
        )
        with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE ROLE alchemy_pw_role LOGIN PASSWORD 'right-one'")
            conn.execute("SELECT pg_reload_conf()")
    url = pg_server.get_uri().replace("postgres:@", "alchemy_pw_role:wrong-one-xyz@")
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", url)
    out = run_cli("list")
    assert out.returncode == 1
    assert "password authentication failed" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "wrong-one-xyz" not in out.stderr + out.stdout


def test_a_server_without_pgvector_is_refused_before_anything_is_written():
    from prompt_alchemy.errors import StorageError
    from prompt_alchemy.storage.postgres.store import PostgresStore

    class NoVector:  # what pg_extension and pg_available_extensions answer on a server without pgvector
        def execute(self, sql, params=()):
            assert sql.lstrip().upper().startswith("SELECT")  # it only looks
            return type("R", (), {"fetchone": staticmethod(lambda: None)})()

    store = PostgresStore.__new__(PostgresStore)
    store.shown_url = "postgresql://u:****@h/db"
    with pytest.raises(StorageError, match="has no pgvector extension.*nothing was written"):
        store._check_pgvector(NoVector())


async def test_backup_restore_and_doctor_on_postgres(postgres_url, home, monkeypatch, tmp_path):
    """db backup on PostgreSQL writes a SQLite library file with every row; db copy restores it; db restore
    says how; doctor's database check reads the PostgreSQL library without changing it."""
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.errors import InputError
    from prompt_alchemy.selfcheck import check_database
    from prompt_alchemy.services import AlchemyService
    from prompt_alchemy.storage.sqlite import SQLiteStore

    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", postgres_url)
    service = AlchemyService.from_environment(
        overrides={f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    )
    try:
        result = await service.generate(service.build_request("a limerick about queues", count=1))
        await service.rate(result.prompts[-1].id, 4)
        backup = await service.backup_database()
        assert Path(backup["path"]).parent == home / "backups"
        dump = SQLiteStore(Path(backup["path"]))
        try:
            live = _all_rows(service.store)
            live.pop("maintenance")  # the backup's own record is written after the copy
            copy = _all_rows(dump)
            copy.pop("maintenance")
            assert copy == live and live["prompts"] and live["feedback"]
        finally:
            dump.close()
        with pytest.raises(InputError, match="db copy --from BACKUP"):
            await service.restore_database(backup["path"])
        restored = tmp_path / "restored.db"
        assert (await service.copy_database(str(restored), source=backup["path"]))["prompts"] == 3
        check = check_database(load_settings())
        assert check.status == "ok" and "3 prompts" in check.detail and "migrations current" in check.detail
    finally:
        await service.aclose()


def test_a_role_that_may_not_create_the_schema_is_one_line_and_writes_nothing(pg_server, home, monkeypatch):
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'alchemy_limited'").fetchone():
            conn.execute("CREATE ROLE alchemy_limited LOGIN")
        conn.execute("DROP DATABASE IF EXISTS limited_db")
        conn.execute("CREATE DATABASE limited_db")  # owned by postgres; PUBLIC may not create in its schema
    monkeypatch.setenv(
        "PROMPT_ALCHEMY_DATABASE_URL", pg_server.get_uri("limited_db").replace("postgres:@", "alchemy_limited:@")
    )
    out = run_cli("list")
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cannot prepare the PostgreSQL library" in out.stderr and "nothing was written" in out.stderr
    with psycopg.connect(pg_server.get_uri("limited_db"), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('_migrations'), to_regclass('prompts')").fetchone() == (None, None)


def test_data_version_follows_writes_from_other_connections(pg, postgres_url):
    from prompt_alchemy.storage.postgres import PostgresStore

    other = PostgresStore(postgres_url)  # another process's store, as far as the database can tell
    try:
        before = pg.data_version()
        other.save_prompts(_prompts(2))
        after = pg.data_version()
        assert after > before
        other.insert_feedback([Feedback(prompt_id=other.list_prompts(limit=1)[0].id, rating=3)])
        assert pg.data_version() > after
        assert pg.data_version() == pg.data_version()  # reading changes nothing
    finally:
        other.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_exclusive_lets_one_process_run_a_task(kind, request, tmp_path):
    """What keeps nightly training to one replica: while one store holds the lock, another's attempt is refused."""
    from prompt_alchemy.storage.sqlite import SQLiteStore

    if kind == "postgres":
        from prompt_alchemy.storage.postgres import PostgresStore

        url = request.getfixturevalue("postgres_url")
        first, second = PostgresStore(url), PostgresStore(url)
    else:
        first, second = SQLiteStore(tmp_path / "lib.db"), SQLiteStore(tmp_path / "lib.db")
    try:
        with first.exclusive("train") as mine:
            assert mine
            with second.exclusive("train") as theirs:
                assert not theirs
            with second.exclusive("vacuum") as other_task:
                assert other_task
        with second.exclusive("train") as now_theirs:
            assert now_theirs
    finally:
        first.close()
        second.close()


async def test_metrics_report_on_postgres(postgres_url, home, monkeypatch):
    monkeypatch.setenv("PROMPT_ALCHEMY_DATABASE_URL", postgres_url)
    service = make_service()
    try:
        await service.generate(service.build_request("a limerick about caches", count=2))
        summary = service.store.metrics_summary()
        assert summary["prompts"]["total"] == 6 and summary["prompts"]["by_phase"]["coagulatio"] == 2
        assert summary["totals"]["calls"] >= 6 and "scripted" in summary["providers"]
        assert set(summary["phase_latency_ms"]) == {"prima-materia", "solutio", "coagulatio"}
        assert len(summary["prompts"]["per_day"]) == 1
    finally:
        await service.aclose()

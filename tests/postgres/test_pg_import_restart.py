"""The database restarts in the middle of an import: the real CLI (`prompt-alchemy import`, a subprocess) imports a
few thousand prompts into PostgreSQL and the server is stopped while a batch is half written.

- restart: the server starts again at once; the import writes the lost batch again and completes.
- outage: the server stays down longer than the import waits for it (the store's RECONNECT_WAIT, shortened to 2 s
  in the CLI process); the import fails with one clear error line and exit 1.

Either way the library holds exactly the rows of whole committed batches, each with its vector, context, metadata
and parent link (no half rows), and running the import again completes it with no duplicates.

Deterministic, without timing: a trigger in the test database makes the import's transaction wait (on an advisory
lock the test holds) at the first context row of batch BLOCKED_BATCH, after that batch's prompts and vectors were
inserted; the test restarts the server only once the import's session is seen waiting there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from pg_testkit import RestartablePostgres

N = 3000
MODEL, DIMS = "all-MiniLM-L6-v2", 384
BLOCKED_BATCH = 2  # batches 0 and 1 commit; batch 2 is half written when the server goes down
LOCK_KEY = 7_415_001
#: The real CLI; `wait` shortens how long an import batch waits for the database to come back.
CLI = [
    sys.executable,
    "-c",
    (
        "import sys; import prompt_alchemy.storage.postgres.store as s; "
        "s.RECONNECT_WAIT = float(sys.argv.pop(1)); from prompt_alchemy.cli import main; main()"
    ),
]


def _row(i: int, rng: np.random.Generator) -> dict:
    vector = rng.standard_normal(DIMS).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return {
        "id": f"imp-{i:05d}",
        "content": f"Prompt number {i}: explain topic {i * 7919 % 10007} to a reader who is new to it, in steps.",
        "title": f"Topic {i}",
        "tags": ["restart", f"group-{i % 7}"],
        "phase": ["prima-materia", "solutio", "coagulatio"][i % 3],
        "provider": "scripted",
        "model": "scripted-1",
        "parent_id": f"imp-{i - 1:05d}" if i % 3 else None,  # chains of three, crossing batch boundaries
        "created_at": f"2025-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "embedding": [float(x) for x in vector],
        "embedding_model": MODEL,
        "embedding_provider": "local",
        "embedding_dim": DIMS,
        "context": [{"source": f"notes-{i}.md", "content": f"background for prompt {i}", "context_type": "file"}],
    }


@pytest.fixture
def restartable_postgres():
    """A PostgreSQL server of this test's own (it is stopped and started again), removed afterwards."""
    pytest.importorskip("pgserver")
    pytest.importorskip("psycopg")
    root = Path(tempfile.mkdtemp(prefix="pa-pgr-"))  # short: unix socket paths are limited to ~100 characters
    pg = RestartablePostgres(root)
    try:
        yield pg
    finally:
        try:
            pg.server.cleanup()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def import_file(tmp_path):
    rng = np.random.default_rng(20250301)
    rows = [_row(i, rng) for i in range(N)]
    path = tmp_path / "library.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


def _cli(args: list[str], url: str, wait: float = 30.0) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_ALCHEMY_DATABASE")}
    env.update(PROMPT_ALCHEMY_DATABASE_URL=url, PYTHONWARNINGS="ignore")
    return subprocess.Popen(
        CLI + [str(wait)] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _library(url: str) -> dict:
    """What the library holds: prompts with their metadata, vectors and context, by id."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        table = conn.execute(
            "SELECT table_name FROM vector_spaces WHERE model = %s AND dimensions = %s", (MODEL, DIMS)
        ).fetchone()[0]
        prompts = {
            r[0]: r
            for r in conn.execute(
                "SELECT id, content, content_hash, title, tags, phase, provider, model, parent_id, created_at, "
                "embedding, embedding_model, embedding_dim FROM prompts"
            ).fetchall()
        }
        vectors = dict(conn.execute(f"SELECT id, embedding::text FROM {table}").fetchall())
        context: dict[str, list] = {}
        for pid, source, content in conn.execute("SELECT prompt_id, source, content FROM prompt_context"):
            context.setdefault(pid, []).append((source, content))
        hashes = conn.execute("SELECT content_hash, COUNT(*) FROM prompts GROUP BY 1 HAVING COUNT(*) > 1").fetchall()
    return {"prompts": prompts, "vectors": vectors, "context": context, "duplicate_hashes": hashes}


def _check_whole(lib: dict, rows: list[dict], expected_ids: list[str]) -> None:
    """The library holds exactly `expected_ids`, each one whole: metadata, lineage, embedding (on the row and in
    the vector table), context."""
    by_id = {r["id"]: r for r in rows}
    assert sorted(lib["prompts"]) == sorted(expected_ids)
    assert sorted(lib["vectors"]) == sorted(expected_ids), "a vector without its prompt, or a prompt without one"
    assert sorted(lib["context"]) == sorted(expected_ids), "context without its prompt, or a prompt without it"
    assert lib["duplicate_hashes"] == []
    for pid in expected_ids:
        row, stored = by_id[pid], lib["prompts"][pid]
        _, content, _, title, tags, phase, provider, model, parent, created, blob, emb_model, emb_dim = stored
        assert (content, title, json.loads(tags), phase, provider, model) == (
            row["content"],
            row["title"],
            row["tags"],
            row["phase"],
            row["provider"],
            row["model"],
        )
        assert parent == row["parent_id"]  # lineage kept: every parent is in an earlier (committed) row
        assert created.startswith(row["created_at"][:19])
        assert (emb_model, emb_dim) == (MODEL, DIMS)
        want = np.asarray(row["embedding"], dtype=np.float32)
        assert np.array_equal(np.frombuffer(bytes(blob), dtype=np.float32), want)
        assert np.allclose(np.asarray(json.loads(lib["vectors"][pid]), dtype=np.float32), want, atol=1e-6)
        assert lib["context"][pid] == [(c["source"], c["content"]) for c in row["context"]]


def _wait_until_blocked(url: str, proc: subprocess.Popen) -> None:
    """Until the import's session waits on the test's advisory lock inside its batch transaction."""
    import psycopg

    deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the import ended before reaching batch {BLOCKED_BATCH}: {out} {err}")
            waiting = conn.execute(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted " "AND objid = %s",
                (LOCK_KEY,),
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the import never reached the blocked batch")


@pytest.mark.parametrize("fault", ["restart", "outage"])
def test_a_database_restart_mid_import_leaves_whole_batches_and_a_rerun_completes(
    restartable_postgres, import_file, fault
):
    import psycopg

    from prompt_alchemy.services._common import _IMPORT_BATCH
    from prompt_alchemy.storage.postgres import PostgresStore

    pg = restartable_postgres
    path, rows = import_file
    ids = [r["id"] for r in rows]
    assert N > (BLOCKED_BATCH + 2) * _IMPORT_BATCH
    store = PostgresStore(pg.url)  # the schema and the vector table exist before the import starts
    store._space(MODEL, DIMS, create=True)
    store.close()
    first_blocked = ids[BLOCKED_BATCH * _IMPORT_BATCH]
    holder = psycopg.connect(pg.url, autocommit=True)
    holder.execute(f"""
        CREATE FUNCTION hold_import() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.prompt_id >= '{first_blocked}' THEN PERFORM pg_advisory_xact_lock_shared({LOCK_KEY}); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER hold_import BEFORE INSERT ON prompt_context FOR EACH ROW EXECUTE FUNCTION hold_import();
    """)
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))

    proc = _cli(["import", str(path)], pg.url, wait=30.0 if fault == "restart" else 2.0)
    try:
        _wait_until_blocked(pg.url, proc)
        with psycopg.connect(pg.url, autocommit=True) as conn:  # the blocked batch is half written, uncommitted
            assert conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == BLOCKED_BATCH * _IMPORT_BATCH
            table = conn.execute("SELECT table_name FROM vector_spaces").fetchone()[0]
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == BLOCKED_BATCH * _IMPORT_BATCH
        pg.stop()  # ends every session: the import's open transaction is rolled back
        holder.close()
        if fault == "outage":
            out, err = proc.communicate(timeout=120)  # the import gives up while the server is down
        pg.start()
        if fault == "restart":
            out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER hold_import ON prompt_context")

    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    lib = _library(pg.url)
    print(f"{fault}: exit {proc.returncode}; {out.strip() or err.strip()}")
    if fault == "restart":  # resumed after the restart and completed
        assert proc.returncode == 0, err
        assert f"imported {N} of {N} rows" in out, out
        assert not [line for line in lines if line.startswith("error:")], err
        _check_whole(lib, rows, ids)
    else:  # failed cleanly: one line, and only whole batches stored
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
        assert "PostgreSQL" in lines[0], lines[0]
        stored = len(lib["prompts"])
        assert stored % _IMPORT_BATCH == 0 and stored == BLOCKED_BATCH * _IMPORT_BATCH, stored
        _check_whole(lib, rows, ids[:stored])

    again = _cli(["import", str(path)], pg.url)
    out2, err2 = again.communicate(timeout=120)
    assert again.returncode == 0, err2
    imported = N - len(lib["prompts"])
    assert f"imported {imported} of {N} rows" in out2 and f"{N - imported} duplicates skipped" in out2, out2
    _check_whole(_library(pg.url), rows, ids)

"""kill -9 in the middle of an import, on SQLite and on PostgreSQL: every prompt the killed import committed is
named by an `import` audit row (each batch commits its audit row in its own transaction), so the audit log never
misses a written row.

Mid-way without timing guesses: once the first batch is in, the test takes the library's write lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: a SHARE lock on `prompts`, which inserts wait for), so the import cannot commit again,
then kills it and lets go."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testkit import ROOT

#: Four batches of rows the import embeds (with the bundled MiniLM): while one batch is written the next is being
#: embedded, which takes seconds, so the test sees the first batch committed long before the import could finish.
N = 1000


def _count(backend: str, home: Path) -> int:
    if backend == "sqlite":
        db = home / "prompts.db"
        if not db.exists():
            return 0
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            try:
                return int(conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0])
            except sqlite3.OperationalError:  # the schema is not there yet
                return 0
    import psycopg

    with psycopg.connect(os.environ["PROMPT_ALCHEMY_DATABASE_URL"], autocommit=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0])


@contextmanager
def _write_lock(backend: str, home: Path) -> Iterator[None]:
    """Hold the library so that no other process can commit a write, until the block ends."""
    if backend == "sqlite":
        conn = sqlite3.connect(home / "prompts.db", timeout=60, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(os.environ["PROMPT_ALCHEMY_DATABASE_URL"]) as conn:
        conn.execute("LOCK TABLE prompts IN SHARE MODE")  # waits for a batch being written, then holds the rest
        try:
            yield
        finally:
            conn.rollback()


def test_an_import_killed_mid_way_leaves_no_prompt_without_its_audit_row(backend, home, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"kill-{i:05d}",
                    "content": f"Killed import {i}: list the steps of " f"task {i * 7919 % 10007} for a new colleague.",
                }
            )
            + "\n"
            for i in range(N)
        ),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "prompt_alchemy", "import", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
        while _count(backend, home) == 0:
            assert proc.poll() is None, f"the import ended before writing a batch: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "the import wrote nothing in 120 s"
            time.sleep(0.02)
        with _write_lock(backend, home):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    from prompt_alchemy.services import AlchemyService

    service = AlchemyService.from_environment()
    try:
        ids = [p.id for p in service.store.iter_prompts()]
        assert 0 < len(ids) < N, f"the import was not killed mid-way ({len(ids)} of {N} rows stored)"
        creators = service.store.creators(ids)
        missing = sorted(set(ids) - set(creators))
        assert not missing, f"{len(missing)} of {len(ids)} committed rows have no audit row, e.g. {missing[:3]}"
        assert set(creators.values()) == {"local"}
        rows = service.store.list_audit(action="import", limit=1000)
        assert rows and all((r["detail"] or "").startswith("batch ") for r in rows), rows  # no closing row
        assert sum(len(r["targets"]) for r in rows) == len(ids)
    finally:
        import asyncio

        asyncio.run(service.aclose())

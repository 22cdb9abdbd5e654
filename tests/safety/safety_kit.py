"""Helpers for the safety tests: the CLI run in-process (fast, for many cases) and a library snapshot."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_inproc(*args: str, stdin: bytes | None = None) -> Run:
    """`prompt-alchemy ARGS` through its real entry point (`cli.main`) in this process, stdin fed from bytes."""
    from prompt_alchemy.cli import main

    out, err = io.StringIO(), io.StringIO()
    fake_in = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    old_in = sys.stdin
    sys.stdin = fake_in
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = old_in
    return Run(code, out.getvalue(), err.getvalue())


def library_state(home: Path) -> str:
    """A digest of every prompt row (and the set of files in the library folder): equal before and after means
    nothing changed on disk."""
    db = home / "prompts.db"
    h = hashlib.sha256()
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            for row in conn.execute("SELECT id, content, tags, notes, parent_id FROM prompts ORDER BY id"):
                h.update(repr(tuple(row)).encode())
            h.update(repr(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()).encode())
    h.update(repr(sorted(p.name for p in home.iterdir() if not p.name.endswith(("-wal", "-shm")))).encode())
    return h.hexdigest()


def count_prompts(home: Path) -> int:
    db = home / "prompts.db"
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]

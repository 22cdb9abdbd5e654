"""Smaller holes: a backup killed mid-copy leaves files the next backup removes; `update --edit` refuses what an
editor leaves that is not UTF-8 text; `doctor` prints a PostgreSQL URL whole with its password masked; `--debug`
masks database passwords in tracebacks (pydantic's `input_value` included)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from safety_kit import library_state
from testkit import SCRIPT, run_cli


def _library_with_ballast(home, megabytes: int) -> None:
    """A real library made bigger with a table of ballast, so that copying it takes a moment."""
    source = home / "seed.jsonl"
    source.write_text(json.dumps({"content": "a prompt to back up"}) + "\n", encoding="utf-8")
    assert run_cli("import", str(source)).returncode == 0
    with contextlib.closing(sqlite3.connect(home / "prompts.db")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS ballast (data BLOB)")
        db.executemany("INSERT INTO ballast VALUES (randomblob(1048576))", [()] * megabytes)
        db.commit()


def _kill_backup_mid_copy(home) -> list[str]:
    """Start `db backup` and SIGKILL it while its copy has a journal; the files it leaves (empty when the backup
    finished before it could be caught)."""
    folder = home / "backups"
    proc = subprocess.Popen([str(SCRIPT), "db", "backup"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            if folder.is_dir() and any(p.name.endswith(".partial-journal") for p in folder.iterdir()):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return sorted(p.name for p in folder.iterdir())
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for p in folder.iterdir():  # finished: start again with an empty backups folder
        p.unlink()
    return []


def test_a_backup_killed_mid_copy_leaves_files_the_next_backup_removes(home):
    left: list[str] = []
    for megabytes in (64, 192, 384):  # a bigger library when the backup finished before it could be killed
        _library_with_ballast(home, megabytes)
        left = _kill_backup_mid_copy(home)
        if left:
            break
    assert any(name.endswith(".partial-journal") for name in left), "could not catch a backup mid-copy"
    stats = json.loads(run_cli("db", "stats", "--output", "json").stdout)
    assert stats["partial_backups"]["files"] == len(left)

    proc = run_cli("db", "backup", "--output", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert sorted(os.path.basename(p) for p in report["removed_partials"]) == left
    names = sorted(p.name for p in (home / "backups").iterdir())
    assert len(names) == 1 and names[0].endswith("Z.db")  # the new backup and nothing else
    assert json.loads(run_cli("db", "stats", "--output", "json").stdout)["partial_backups"]["files"] == 0


# ------------------------------------------------------------------ update --edit


def _editor(tmp_path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(f"#!{sys.executable}\nimport os, sys\npath = sys.argv[1]\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "open(path, 'wb').write(b'Explain recursion \\xff\\xfe to a child.')",
            "the edited prompt .* is not UTF-8 text \\(invalid byte at offset 18\\)",
        ),
        (
            "os.remove(path)\nos.mkdir(path)\nopen(os.path.join(path, 'x'), 'w').write('x')",
            "cannot read the edited prompt .*: (it is a directory|Is a directory)",
        ),
    ],
)
def test_update_edit_refuses_what_is_not_text(home, tmp_path, monkeypatch, body, message):
    import re

    source = home / "seed.jsonl"
    source.write_text(json.dumps({"id": "abcd1111-aaaa", "content": "Explain recursion."}) + "\n", encoding="utf-8")
    assert run_cli("import", str(source)).returncode == 0
    before = library_state(home)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", _editor(tmp_path, body))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    proc = run_cli("update", "abcd1111", "--edit")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and re.search(message, proc.stderr), proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
    assert library_state(home) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("prompt-alchemy-")]  # the edit file is gone


# ------------------------------------------------------------------ database URLs shown and masked


def test_doctor_prints_the_postgresql_url_whole_with_its_password_masked(home):
    url = "postgresql://alice:Sup3rSecret@127.0.0.1:9/library"
    proc = run_cli("doctor", "--output", "json", env={"PROMPT_ALCHEMY_DATABASE_URL": url})
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    detail = checks["database"]["detail"]
    assert detail.startswith("postgresql://alice:****@127.0.0.1:9/library "), detail
    assert "postgresql:/alice" not in proc.stdout  # a Path folded the '//' before
    assert "Sup3rSecret" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "url",
    [
        "mysql://alice:Sup3rSecret@db.example/library",
        "postgresql://alice:Sup3rSecret@[bad/library",
        "postgresql://alice:Sup3r%Secret@127.0.0.1:9/library",
    ],
)
def test_debug_masks_database_passwords(home, url):
    proc = run_cli("--debug", "list", env={"PROMPT_ALCHEMY_DATABASE_URL": url})
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr  # --debug still shows the traceback ...
    assert "Sup3r" not in proc.stderr + proc.stdout  # ... with the password masked, input_value included
    assert "alice:****@" in proc.stderr

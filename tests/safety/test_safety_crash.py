"""Crash safety: `kill -9` of import, batch and backup at seeded random moments. Afterwards the library passes
`PRAGMA integrity_check`, holds no half-written session or duplicate, and re-running (`--resume` for batch)
finishes the work exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from safety_kit import count_prompts
from testkit import ROOT

KILLS = 3
CLI = [sys.executable, "-m", "prompt_alchemy"]


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def kill_after(cmd: list[str], delay: float, env: dict[str, str] | None = None) -> int | None:
    """Start `cmd`, SIGKILL it after `delay` seconds (unless it finished); its exit code, or None if killed."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, **(env or {}))
    )
    try:
        proc.wait(timeout=delay)
        return proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def test_killed_imports_leave_a_sound_library_and_a_rerun_completes_it(home, tmp_path):
    rng = random.Random(1301)
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(
            json.dumps({"content": f"Crash-safety prompt {i}: describe step {i} of the plan.", "embedding": None})
            + "\n"
            for i in range(3000)
        ),
        encoding="utf-8",
    )
    for _ in range(KILLS):
        kill_after(CLI + ["import", str(path)], rng.uniform(0.8, 3.0))
        db = home / "prompts.db"
        if db.exists():
            assert integrity(db) == "ok"
            assert count_prompts(home) <= 3000
    proc = subprocess.run(
        CLI + ["import", str(path), "-o", "json"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert count_prompts(home) == 3000
    with closing(sqlite3.connect(home / "prompts.db")) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT content_hash) FROM prompts").fetchone()[0] == 3000


def test_killed_batches_resume_without_losing_or_repeating_an_idea(home, tmp_path):
    rng = random.Random(1302)
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"crash idea number {i}\n" for i in range(1, 13)), encoding="utf-8")
    results = tmp_path / "results.jsonl"
    env = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}
    env["PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY"] = "0.1"
    cmd = CLI + ["batch", str(ideas), "--count", "1", "--workers", "2", "--output-file", str(results), "--resume"]
    for _ in range(KILLS):
        kill_after(cmd, rng.uniform(1.0, 4.0), env)
        db = home / "prompts.db"
        if db.exists():
            assert integrity(db) == "ok"
            with closing(sqlite3.connect(db)) as conn:  # sessions are all-or-nothing: three phases each
                sizes = conn.execute("SELECT COUNT(*) FROM prompts GROUP BY session_id").fetchall()
            assert all(n == 3 for (n,) in sizes), sizes
    proc = subprocess.run(
        cmd + ["-o", "json"], cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ, **env)
    )
    assert proc.returncode == 0, proc.stderr
    with closing(sqlite3.connect(home / "prompts.db")) as conn:
        sessions = Counter(
            dict(
                conn.execute(
                    "SELECT original_input, COUNT(DISTINCT session_id) FROM prompts GROUP BY original_input"
                ).fetchall()
            )
        )
    assert sessions == Counter({f"crash idea number {i}": 1 for i in range(1, 13)})


def test_killed_backups_never_leave_a_bad_backup_and_partials_are_cleaned(home, tmp_path):
    rng = random.Random(1303)
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(
            json.dumps({"content": f"Backup filler {i}: " + "lorem ipsum dolor " * 200, "embedding": None}) + "\n"
            for i in range(1500)
        ),
        encoding="utf-8",
    )
    assert subprocess.run(CLI + ["import", str(path)], cwd=ROOT, capture_output=True, timeout=600).returncode == 0
    folder = home / "backups"
    for _ in range(KILLS):
        kill_after(CLI + ["db", "backup"], rng.uniform(0.3, 1.5))
        assert integrity(home / "prompts.db") == "ok"
        for backup in folder.glob("*.db") if folder.is_dir() else []:
            assert integrity(backup) == "ok", backup
    partials = list(folder.glob("*.partial")) if folder.is_dir() else []
    old = time.time() - 3600
    for partial in partials:
        os.utime(partial, (old, old))
    proc = subprocess.run(CLI + ["db", "backup", "-o", "json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(proc.stdout)["removed_partials"]) == sorted(str(p) for p in partials)
    assert not list(folder.glob("*.partial"))
    assert all(integrity(b) == "ok" for b in folder.glob("*.db"))

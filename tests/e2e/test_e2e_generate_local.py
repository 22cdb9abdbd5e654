"""End to end: the installed `prompt-alchemy` console script with the real embedded model, then read the DB."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "prompt-alchemy"
pytestmark = pytest.mark.e2e


def _run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    # The freeform path, where the real model writes every phase; the default structured path (which calls the
    # model in prima-materia only) is tested end to end in test_e2e_structured_local.py.
    return subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PROMPT_ALCHEMY_GENERATION__MODE="freeform"),
    )


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-home")
    env_home = os.environ.get("PROMPT_ALCHEMY_HOME")
    os.environ["PROMPT_ALCHEMY_HOME"] = str(home)
    try:
        proc = _run(
            "generate",
            "--count",
            "1",
            "--max-tokens",
            "48",
            "--tags",
            "e2e",
            "--output",
            "json",
            input="a recipe recommender for leftovers",
        )
    finally:
        if env_home is not None:
            os.environ["PROMPT_ALCHEMY_HOME"] = env_home
    return home, proc


def test_console_script_generates_with_local_model(local_run):
    home, proc = local_run
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout is exactly one JSON document: nothing else leaked onto it
    assert [p["phase"] for p in data["prompts"]] == ["prima-materia", "solutio", "coagulatio"]
    assert all(p["provider"] == "local" and p["model"] == "smollm2-135m-instruct" for p in data["prompts"])
    assert all(p["content"].strip() for p in data["prompts"])
    assert data["best"]["id"] == data["prompts"][-1]["id"]
    assert 0 < data["model_ms"] <= data["wall_ms"]


def test_database_holds_the_chained_session(local_run):
    home, proc = local_run
    data = json.loads(proc.stdout)
    with sqlite3.connect(home / "prompts.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM prompts ORDER BY created_at").fetchall()
        metrics = db.execute("SELECT * FROM metrics WHERE kind = 'generation'").fetchall()
    assert len(rows) == 3
    by_phase = {r["phase"]: r for r in rows}
    assert by_phase["prima-materia"]["parent_id"] is None
    assert by_phase["solutio"]["parent_id"] == by_phase["prima-materia"]["id"]
    assert by_phase["coagulatio"]["parent_id"] == by_phase["solutio"]["id"]
    assert len({r["session_id"] for r in rows}) == 1 and rows[0]["session_id"] == data["session_id"]
    for r in rows:
        assert r["provider"] == "local" and r["max_tokens"] == 48 and 0 < r["output_tokens"] <= 48
        assert r["original_input"] == "a recipe recommender for leftovers" and json.loads(r["tags"]) == ["e2e"]
        assert r["latency_ms"] > 0
    final = by_phase["coagulatio"]
    assert final["embedding_model"] == "all-MiniLM-L6-v2" and final["embedding_dim"] == 384
    assert len(final["embedding"]) == 384 * 4
    assert final["score"] is not None
    assert len(metrics) == 3


def test_text_output_and_progress_stay_off_stdout_json(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPT_ALCHEMY_HOME", str(tmp_path))
    proc = _run(
        "generate",
        "--phases",
        "precision",
        "--count",
        "1",
        "--max-tokens",
        "24",
        "--all",
        "--target-model",
        "claude-sonnet-4",
        "--no-save",
        "summarize a meeting",
    )
    assert proc.returncode == 0, proc.stderr
    assert "coagulatio (precision)" in proc.stdout and "<" in proc.stdout and "★ best" in proc.stdout
    assert (
        not (tmp_path / "prompts.db").exists()
        or sqlite3.connect(tmp_path / "prompts.db").execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 0
    )

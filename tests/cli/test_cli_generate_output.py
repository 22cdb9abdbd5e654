"""`generate` text output a person can pipe: the best prompt alone on stdout, a short summary and the notes on
stderr (once each), `--all` for every variant, `-q` for no summary; JSON unchanged."""

from __future__ import annotations

import json
import re
import sqlite3

from testkit import SCRIPTED


def _content(home, prompt_id_prefix: str) -> str:
    with sqlite3.connect(home / "prompts.db") as conn:
        rows = conn.execute("SELECT content FROM prompts WHERE id LIKE ?", (prompt_id_prefix + "%",)).fetchall()
    assert len(rows) == 1
    return rows[0][0]


def test_stdout_is_the_best_prompt_alone_and_the_summary_goes_to_stderr(cli, home):
    proc = cli("generate", "-n", "3", "a weekly newsletter about rust", env=SCRIPTED)
    assert proc.returncode == 0, proc.stderr
    best = re.search(r"best ([0-9a-f]{8})", proc.stderr)
    assert best, proc.stderr
    assert proc.stdout == _content(home, best.group(1)).rstrip("\n") + "\n"
    assert "3 variants (9 prompts over 3 phases) · scores " in proc.stderr
    assert proc.stderr.count("*") == 2  # the best variant's score, and the legend
    assert f"stored in {home / 'prompts.db'}" in proc.stderr and " tokens (" in proc.stderr
    assert "prima-materia" not in proc.stdout and "session" not in proc.stdout


def test_all_shows_every_variant_and_quiet_prints_the_prompt_with_no_summary(cli, home):
    every = cli("generate", "-n", "2", "--all", "--no-save", "a haiku about tea", env=SCRIPTED)
    assert every.returncode == 0, every.stderr
    for phase in ("prima-materia (idea)", "solutio (human)", "coagulatio (precision)"):
        assert phase in every.stdout
    assert every.stdout.count("[1] ") == 3 and every.stdout.count("[2] ") == 3 and "★ best" in every.stdout
    assert "not saved" in every.stderr
    quiet = cli("generate", "-n", "2", "-q", "a haiku about tea", env=SCRIPTED)
    assert quiet.returncode == 0 and quiet.stderr == ""
    data = json.loads(cli("list", "-o", "json").stdout)
    rows = data if isinstance(data, list) else data.get("prompts", data.get("results", []))
    assert quiet.stdout.strip() in {r["content"].strip() for r in rows if r.get("phase") == "coagulatio"}
    both = cli("generate", "--all", "-q", "x", env=SCRIPTED)
    assert both.returncode == 2 and both.stderr.startswith("error: --all shows every variant")


def test_notes_go_to_stderr_once_and_json_is_unchanged(cli, home, write_config):
    write_config("gateway:\n  cache_skip_providers: []\n")  # the second run is answered from the response cache
    assert cli("generate", "-n", "1", "plan a picnic", env=SCRIPTED).returncode == 0
    proc = cli("generate", "-n", "1", "plan a picnic", env=SCRIPTED)
    assert proc.returncode == 0, proc.stderr
    assert "note:" not in proc.stdout and "response cache" not in proc.stdout
    assert proc.stderr.count("answered from the response cache") == 1
    assert [line for line in proc.stderr.splitlines() if "response cache" in line][0].startswith("note: ")
    data = json.loads(cli("generate", "-n", "1", "-o", "json", "plan a picnic", env=SCRIPTED).stdout)
    assert {"session_id", "prompts", "best", "events", "total_cost_usd"} <= set(data)
    assert any("response cache" in e for e in data["events"])

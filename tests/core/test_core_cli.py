"""The generate command as a subprocess: outputs, stdin, bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml
from testkit import parse_json


def _count(home) -> int:
    db = home / "prompts.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]


def test_version_and_help(cli):
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "prompt-alchemy 0.1.0"
    helped = cli("--help")
    assert helped.returncode == 0 and "generate" in helped.stdout and "config" in helped.stdout
    gen_help = cli("generate", "--help")
    assert "--target-model" in gen_help.stdout and "--context" in gen_help.stdout


def test_generate_json_from_stdin(cli, home):
    proc = cli(
        "generate",
        "--provider",
        "scripted",
        "--output",
        "json",
        "--count",
        "2",
        input="a recipe recommender for leftovers\n",
    )
    data = parse_json(proc)
    assert data["idea"] == "a recipe recommender for leftovers"
    assert len(data["prompts"]) == 6
    for item in data["prompts"]:
        assert {"id", "phase", "variant", "content", "provider", "model", "parent_id", "score"} <= set(item)
    assert data["best"]["id"] in {p["id"] for p in data["prompts"] if p["phase"] == "coagulatio"}
    assert data["saved"] is True and _count(home) == 6
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal, no logs


def test_generate_text_yaml_markdown(cli, home):
    text = cli("generate", "--provider", "scripted", "-n", "1", "--all", "--tags", "a,b", "--tags", "c", "build a CLI")
    assert text.returncode == 0, text.stderr
    assert "prima-materia (idea)" in text.stdout and "★ best" in text.stdout and "best prompt" in text.stdout
    data = yaml.safe_load(cli("generate", "--provider", "scripted", "-n", "1", "-o", "yaml", "x").stdout)
    assert data["phases"] == ["prima-materia", "solutio", "coagulatio"]
    md = cli("generate", "--provider", "scripted", "-n", "1", "-o", "markdown", "--phases", "human", "y")
    assert md.stdout.startswith("# Prompt Alchemy session") and "## solutio (human)" in md.stdout
    assert _count(home) == 7
    with sqlite3.connect(home / "prompts.db") as conn:
        tags = {r[0] for r in conn.execute("SELECT tags FROM prompts WHERE original_input = 'build a CLI'")}
    assert tags == {json.dumps(["a", "b", "c"])}


def test_no_save(cli, home):
    data = parse_json(cli("generate", "--provider", "scripted", "-n", "1", "--no-save", "-o", "json", "x"))
    assert data["saved"] is False and _count(home) == 0


@pytest.mark.parametrize(
    "args,needle",
    [
        (["generate", "--provider", "scripted", ""], "idea is empty"),
        (["generate", "--provider", "scripted", "--phases", "fermentatio", "x"], "unknown phase 'fermentatio'"),
        (["generate", "--provider", "scripted", "--persona", "pirate", "x"], "unknown persona 'pirate'"),
        (["generate", "--provider", "nosuch", "x"], "unknown provider 'nosuch'"),
        (["generate", "--provider", "scripted", "--temperature", "2.5", "x"], "temperature"),
        (["generate", "--provider", "scripted", "--count", "11", "x"], "count"),
        (["generate", "--provider", "scripted", "--count", "0", "x"], "count"),
        (["generate", "--provider", "scripted", "--context", "/nonexistent/file.md", "x"], "cannot read --context"),
        (["generate", "--provider", "scripted", "--output", "xml", "x"], "xml"),
        (["generate", "--bogus-flag", "x"], "bogus-flag"),
    ],
)
def test_bad_input_exit_2_one_line_nothing_written(cli, home, args, needle):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert _count(home) == 0


def test_idea_over_limit(cli, home):
    proc = cli("generate", "--provider", "scripted", input="x" * 20_001)
    assert proc.returncode == 2 and "limit is 20,000" in proc.stderr and _count(home) == 0
    ok = cli(
        "generate",
        "--provider",
        "scripted",
        "-n",
        "1",
        "-o",
        "json",
        input="x" * 300,
        env={"PROMPT_ALCHEMY_GENERATION__MAX_IDEA_LENGTH": "400"},
    )
    assert ok.returncode == 0, ok.stderr


def test_provider_failure_names_phase_and_saves_nothing(cli, home):
    proc = cli(
        "generate",
        "--provider",
        "scripted",
        "-n",
        "2",
        "x",
        env={"PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__FAIL_PHASES": '["coagulatio"]'},
    )
    assert proc.returncode == 1
    assert "phase 'coagulatio' failed with provider 'scripted'" in proc.stderr and "nothing was saved" in proc.stderr
    assert proc.stderr.count("\n") == 1 and _count(home) == 0


def test_unusable_local_model_gives_clear_message(cli, home):
    proc = cli(
        "generate",
        "--provider",
        "local",
        "x",
        env={"PROMPT_ALCHEMY_PROVIDERS__LOCAL__MODEL_PATH": str(home / "missing.gguf")},
    )
    assert proc.returncode == 2
    assert "missing.gguf does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert _count(home) == 0


def test_progress_bar_on_a_terminal_stderr(home):
    """With stderr on a terminal, generate draws a Rich progress bar there, and stdout still carries only JSON."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = dict(os.environ, PROMPT_ALCHEMY_PROVIDERS__SCRIPTED__LATENCY="0.3", TERM="xterm")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prompt_alchemy",
            "generate",
            "--provider",
            "scripted",
            "-n",
            "1",
            "-o",
            "json",
            "an idea",
        ],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    out, _ = proc.communicate(timeout=120)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert proc.returncode == 0
    assert json.loads(out)["prompts"]  # stdout untouched by the bar
    assert b"variant 1" in drawn and b"/3" in drawn

"""Feedback capture: `rate`, `feedback list`, `generate --interactive`; bad input changes nothing."""

from __future__ import annotations

import asyncio

import pytest
from learning_testkit import library_rows, make_service, sim_prompts, store_prompts
from testkit import parse_json

from prompt_alchemy.errors import InputError

pytestmark = pytest.mark.usefixtures("backend")

SCRIPTED_ENV = {f"PROMPT_ALCHEMY_PHASES__{p}__PROVIDER": "scripted" for p in ("PRIMA_MATERIA", "SOLUTIO", "COAGULATIO")}


def _feedback(home) -> list[dict]:
    return library_rows(home, "SELECT * FROM feedback ORDER BY created_at, id")


@pytest.fixture
def library(home):
    train, _ = sim_prompts()
    service = make_service()
    store_prompts(service, train[:3])
    asyncio.run(service.aclose())
    return [p.id for p in train[:3]]


def test_rate_records_a_rating_with_comment_and_source(library, home, cli):
    row = parse_json(cli("rate", library[0], "4", "--comment", "clear and specific", "--output", "json"))
    assert row["prompt_id"] == library[0] and row["rating"] == 4 and row["source"] == "cli"
    assert row["comment"] == "clear and specific" and row["chosen"] is None
    text = cli("rate", library[1], "2")
    assert text.returncode == 0 and text.stdout.strip() == f"rated {library[1]} 2/5"
    service = make_service()
    asyncio.run(service.rate(library[2], 5, source="mcp"))
    asyncio.run(service.aclose())
    rows = _feedback(home)
    assert [(r["prompt_id"], r["rating"], r["source"]) for r in rows] == [
        (library[0], 4, "cli"),
        (library[1], 2, "cli"),
        (library[2], 5, "mcp"),
    ]

    listed = parse_json(cli("feedback", "list", "--output", "json"))
    assert [r["prompt_id"] for r in listed] == [library[2], library[1], library[0]]  # newest first
    only = parse_json(cli("feedback", "list", "--prompt", library[0], "--output", "json"))
    assert len(only) == 1 and only[0]["comment"] == "clear and specific"
    assert [r["source"] for r in parse_json(cli("feedback", "list", "--source", "mcp", "-o", "json"))] == ["mcp"]
    table = cli("feedback", "list")
    assert table.returncode == 0 and "4/5" in table.stdout and library[0][:8] in table.stdout


@pytest.mark.parametrize("score", ["0", "6", "-1"])
def test_a_score_outside_1_to_5_is_rejected_and_changes_nothing(library, home, cli, score):
    proc = cli("rate", library[0], "--", score) if score.startswith("-") else cli("rate", library[0], score)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "1 to 5" in proc.stderr
    assert _feedback(home) == []


def test_a_non_integer_score_is_rejected(library, home, cli):
    proc = cli("rate", library[0], "3.5")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    service = make_service()
    with pytest.raises(InputError, match="whole number from 1 to 5"):
        asyncio.run(service.rate(library[0], 3.5))
    with pytest.raises(InputError, match="whole number"):
        asyncio.run(service.rate(library[0], True))
    with pytest.raises(InputError, match="unknown feedback source"):
        asyncio.run(service.rate(library[0], 3, source="web"))
    asyncio.run(service.aclose())
    assert _feedback(home) == []


def test_an_unknown_prompt_is_bad_input(library, home, cli):
    proc = cli("rate", "ffffffff-0000", "4")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no prompt with id 'ffffffff-0000'" in proc.stderr
    assert _feedback(home) == []


@pytest.mark.sqlite_only("creating no SQLite file; a PostgreSQL library always exists, so the id is just unknown")
def test_rating_in_an_empty_library_creates_no_database(home, cli):
    proc = cli("rate", "abcd1234", "4")
    assert proc.returncode == 2 and "library is empty" in proc.stderr
    assert not (home / "prompts.db").exists()
    assert cli("feedback", "list", "-o", "json").stdout.strip() == "[]"
    assert not (home / "prompts.db").exists()


def test_generate_interactive_records_the_pick_and_skips_its_siblings(home, cli):
    proc = cli(
        "generate",
        "a weekly status email for my team",
        "--interactive",
        "--output",
        "json",
        input="2\n",
        env=SCRIPTED_ENV,
    )
    result = parse_json(proc)
    assert "Which final prompt is best? [1-3" in proc.stderr and "recorded" in proc.stderr
    finals = sorted((p for p in result["prompts"] if p["phase"] == "coagulatio"), key=lambda p: p["variant"])
    rows = _feedback(home)
    assert {r["prompt_id"]: r["chosen"] for r in rows} == {finals[0]["id"]: 0, finals[1]["id"]: 1, finals[2]["id"]: 0}
    assert {r["session_id"] for r in rows} == {result["session_id"]}
    assert all(r["rating"] is None and r["source"] == "cli" for r in rows)
    kinds = parse_json(cli("feedback", "list", "--kind", "choice", "--session", result["session_id"], "-o", "json"))
    assert sorted(k["chosen"] for k in kinds) == [False, False, True]


def test_generate_interactive_by_id_prefix_and_skipping(home, cli):
    first = cli("generate", "summarize a contract", "-i", "-o", "json", input="\n", env=SCRIPTED_ENV)
    assert parse_json(first) and "no choice recorded" in first.stderr
    assert _feedback(home) == []
    result = parse_json(cli("generate", "plan a trip", "-i", "-o", "json", input="\n", env=SCRIPTED_ENV))
    final = next(p for p in result["prompts"] if p["phase"] == "coagulatio" and p["variant"] == 2)
    service = make_service()
    asyncio.run(service.record_choice(result["session_id"], final["id"][:8]))
    with pytest.raises(InputError, match="not part of session"):
        asyncio.run(service.record_choice("another-session", final["id"]))
    asyncio.run(service.aclose())
    assert sum(r["chosen"] for r in _feedback(home)) == 1 and len(_feedback(home)) == 3


def test_generate_interactive_bad_answer_or_options(home, cli):
    proc = cli("generate", "a haiku about tea", "--interactive", input="9\n", env=SCRIPTED_ENV)
    assert proc.returncode == 2 and "'9' is not a variant number from 1 to 3" in proc.stderr
    assert _feedback(home) == []
    proc = cli("generate", "a haiku about tea", "--interactive", "--no-save", env=SCRIPTED_ENV)
    assert proc.returncode == 2 and "--no-save" in proc.stderr
    proc = cli("generate", "--interactive", input="an idea on stdin\n", env=SCRIPTED_ENV)
    assert proc.returncode == 2 and "give the idea as an argument" in proc.stderr

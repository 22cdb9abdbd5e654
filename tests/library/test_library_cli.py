"""The library commands as a user runs them: the real CLI in a subprocess, JSON on stdout, one-line errors and
exit codes on stderr."""

from __future__ import annotations

import json

import pytest
from testkit import parse_json

pytestmark = pytest.mark.usefixtures("backend")

ROWS = [
    {
        "id": "abcd1111-aaaa",
        "content": "Act as a patient chess coach who explains every move",
        "tags": ["games"],
        "title": "Chess coach",
    },
    {
        "id": "abcd2222-bbbb",
        "content": "Write a weekly meal plan for a vegetarian athlete",
        "tags": ["food"],
        "title": "Meal plan",
        "phase": "coagulatio",
    },
    {
        "id": "eeee3333-cccc",
        "content": "Review this pull request for security problems",
        "tags": ["code", "review"],
        "title": "PR review",
        "parent_id": "abcd1111-aaaa",
    },
]


@pytest.fixture
def loaded(cli, tmp_path):
    path = tmp_path / "seed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    report = parse_json(cli("import", str(path), "--output", "json"))
    assert (report["imported"], report["embedded"]) == (3, 3)
    return path


def _fails(proc, code: int, text: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], proc.stderr


def test_search_json_and_filters(cli, loaded):
    data = parse_json(cli("search", "vegetarian food plan", "--output", "json"))
    assert data["mode"] == "hybrid"
    top = data["results"][0]
    assert top["id"] == "abcd2222-bbbb"
    assert {"id", "content", "score", "phase", "tags", "created_at"} <= set(top)
    assert top["phase"] == "coagulatio" and top["tags"] == ["food"]
    text = parse_json(cli("search", "pull request security", "--mode", "text", "-o", "json"))
    assert [r["id"] for r in text["results"]] == ["eeee3333-cccc"]
    filtered = parse_json(cli("search", "vegetarian food plan", "--tag", "games", "-o", "json"))
    assert [r["id"] for r in filtered["results"]] == ["abcd1111-aaaa"]
    plain = cli("search", "chess", "--mode", "semantic", "--limit", "1")
    assert plain.returncode == 0 and "abcd1111" in plain.stdout
    _fails(cli("search", "x", "--mode", "fuzzy"), 2, "unknown search mode")
    _fails(cli("search", "x", "--since", "someday"), 2, "--since")


def test_show_list_and_ids(cli, loaded):
    shown = parse_json(cli("show", "eeee", "-o", "json"))
    assert shown["prompt"]["id"] == "eeee3333-cccc" and shown["prompt"]["has_embedding"] is True
    assert [p["id"] for p in shown["lineage"]["ancestors"]] == ["abcd1111-aaaa"]
    parent = parse_json(cli("show", "abcd1", "--output", "json"))
    assert [p["id"] for p in parent["lineage"]["descendants"]] == ["eeee3333-cccc"]
    text = cli("show", "abcd2222")
    assert text.returncode == 0 and "Write a weekly meal plan" in text.stdout
    _fails(cli("show", "abcd"), 1, "ambiguous")
    assert "abcd1111-aaaa" in cli("show", "abcd").stderr
    _fails(cli("show", "9999ffff"), 1, "no prompt with id '9999ffff'")
    listed = parse_json(cli("list", "-o", "json", "--limit", "2"))
    assert listed["total"] == 3 and len(listed["prompts"]) == 2
    page2 = parse_json(cli("list", "-o", "json", "--limit", "2", "--page", "2"))
    assert len(page2["prompts"]) == 1
    assert {p["id"] for p in listed["prompts"] + page2["prompts"]} == {r["id"] for r in ROWS}
    assert parse_json(cli("list", "--phase", "precision", "-o", "json"))["total"] == 1
    _fails(cli("list", "--page", "0"), 2, "--page")


def test_update_history_delete(cli, loaded):
    new = parse_json(
        cli(
            "update",
            "abcd2222",
            "--content",
            "-",
            "--tags",
            "food,plans",
            "-o",
            "json",
            input="Write a two-week vegan meal plan\n",
        )
    )
    new_id = new["prompt"]["id"]
    assert new["previous_id"] == "abcd2222-bbbb" and new["prompt"]["tags"] == ["food", "plans"]
    versions = parse_json(cli("history", new_id[:8], "-o", "json"))["versions"]
    assert [v["id"] for v in versions] == ["abcd2222-bbbb", new_id]
    assert [v["version"] for v in versions] == [1, 2]
    _fails(cli("update", new_id), 2, "nothing to update")

    _fails(cli("delete", "abcd1111"), 2, "--yes")  # stdin is not a terminal: refuse, delete nothing
    assert parse_json(cli("show", "abcd1111", "-o", "json"))["prompt"]["id"] == "abcd1111-aaaa"
    gone = parse_json(cli("delete", "abcd1111", "--yes", "-o", "json"))
    assert gone == {"deleted": ["abcd1111-aaaa"]}
    _fails(cli("show", "abcd1111"), 1, "no prompt")
    child = parse_json(cli("show", "eeee3333", "-o", "json"))
    assert child["prompt"]["parent_id"] is None and child["lineage"]["ancestors"] == []
    _fails(cli("delete", "nope0000", "eeee3333", "--yes"), 1, "no prompt")
    assert parse_json(cli("list", "-o", "json"))["total"] == 3  # nothing deleted by the failed command


def test_import_export_round_trip(cli, loaded, tmp_path):
    out = tmp_path / "out.jsonl"
    done = cli("export", str(out))
    assert done.returncode == 0 and "exported 3 prompts" in done.stdout
    _fails(cli("export", str(out)), 2, "--force")
    assert parse_json(cli("export", str(out), "--force", "-o", "json")) == {"exported": 3, "path": str(out)}
    assert cli("export", str(out), "--force", "--tag", "code").returncode == 0
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["eeee3333-cccc"]
    stdout = cli("export", "-", "--format", "jsonl")
    assert stdout.returncode == 0
    assert len([json.loads(line) for line in stdout.stdout.splitlines()]) == 3
    md = cli("export", "-", "--format", "markdown")
    assert md.stdout.startswith("# Prompt library export") and "## Chess coach" in md.stdout
    again = parse_json(cli("import", str(loaded), "-o", "json"))
    assert (again["imported"], again["duplicates"]) == (0, 3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "fine"}\n{oops\n', encoding="utf-8")
    proc = cli("import", str(bad))
    assert proc.returncode == 0 and "imported 1 of 2" in proc.stdout
    assert "error: line 2: not valid JSON" in proc.stderr
    _fails(cli("import", str(tmp_path / "missing.csv")), 2, "cannot read")


def test_db_commands_reembed_and_metrics(cli, loaded, home, tmp_path):
    stats = parse_json(cli("db", "stats", "-o", "json"))
    assert stats["prompts"] == 3 and stats["fts_documents"] == 3 and "m002_fts" in stats["migrations"]
    backup = parse_json(cli("db", "backup", "-o", "json"))
    assert backup["path"].startswith(str(home)) and backup["bytes"] > 0
    target = tmp_path / "copy.db"
    assert cli("db", "backup", str(target)).returncode == 0
    _fails(cli("db", "backup", str(target)), 2, "already exists")
    vac = parse_json(cli("db", "vacuum", "-o", "json"))
    assert vac["bytes_after"] > 0
    mig = parse_json(cli("db", "migrate", "-o", "json"))
    assert mig["applied"] == [] and "m002_fts" in mig["migrations"]
    again = parse_json(cli("db", "stats", "-o", "json"))
    assert set(again["maintenance"]) == {"backup", "vacuum"} and len(again["backups"]) == 1
    re_all = parse_json(cli("reembed", "--all", "-o", "json"))
    assert re_all["reembedded"] == 3 and re_all["dimensions"] == 384
    assert parse_json(cli("reembed", "-o", "json"))["reembedded"] == 0
    metrics = parse_json(cli("metrics", "-o", "json", "--since", "1d"))
    assert metrics["prompts"]["total"] == 3 and metrics["prompts"]["by_phase"]["coagulatio"] == 1
    assert metrics["database"]["database"] > 0
    text = cli("metrics")
    assert text.returncode == 0 and "prompts per day" in text.stdout
    _fails(cli("metrics", "--phase", "boiling"), 2, "unknown phase")

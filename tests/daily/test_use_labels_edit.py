"""Prompts in daily use, as a user runs them: `use` fills variables (values, files, labels; every missing one named
on one line, exit 2), labels move with a recorded history and travel through export/import, and `update --edit`
goes through a scripted $EDITOR."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest
from testkit import parse_json

ROWS = [
    {
        "id": "abcd1111-aaaa",
        "title": "Summary",
        "content": 'Write a {tone} summary of {{ topic }} for {audience}. Reply as JSON like {"summary": "..."}.',
    },
    {"id": "abcd2222-bbbb", "title": "Plain", "content": "Explain recursion to a beginner with one example."},
]


@pytest.fixture
def loaded(cli, tmp_path):
    path = tmp_path / "seed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert parse_json(cli("import", str(path), "--output", "json"))["imported"] == 2
    return path


def _fails(proc, code: int, text: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], proc.stderr
    return lines[0]


def test_use_fills_values_files_and_reports_every_missing_variable(cli, loaded, tmp_path):
    topic = tmp_path / "topic.txt"
    topic.write_text("the {quarterly} report\n", encoding="utf-8")
    out = cli("use", "abcd1", "-p", "tone", "formal", "-p", "topic", f"@{topic}", "--param", "audience", "@@execs")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "Write a formal summary of the {quarterly} report for @execs. " 'Reply as JSON like {"summary": "..."}.\n'
    )
    line = _fails(cli("use", "abcd1111-aaaa", "-p", "tone", "formal"), 2, "missing values for topic, audience")
    assert "-p NAME VALUE" in line
    _fails(
        cli("use", "abcd1", "-p", "tone", "a", "-p", "topic", "b", "-p", "audience", "c", "-p", "tonne", "d"),
        2,
        "no variable tonne",
    )
    _fails(cli("use", "abcd1", "-p", "tone", f"@{tmp_path / 'absent.txt'}"), 2, "absent.txt")
    _fails(cli("use", "abcd1", "-p", "tone"), 2, "-p needs a name and a value")
    raw = parse_json(cli("use", "abcd1", "--raw", "-o", "json"))
    assert raw["text"] == ROWS[0]["content"] and raw["variables"] == ["tone", "topic", "audience"]
    filled = parse_json(
        cli("use", "abcd1", "-p", "tone", "dry", "-p", "topic", "x", "-p", "audience", "y", "-o", "json")
    )
    assert filled["values"] == {"tone": "dry", "topic": "x", "audience": "y"}
    assert filled["text"].startswith("Write a dry summary of x for y.")
    plain = cli("use", "abcd2")  # no variables: the prompt as it is
    assert plain.returncode == 0 and plain.stdout == ROWS[1]["content"] + "\n"
    shown = parse_json(cli("show", "abcd1", "-o", "json"))
    assert shown["variables"] == ["tone", "topic", "audience"]


def test_labels_resolve_move_with_history_and_survive_export_import(cli, loaded, tmp_path, monkeypatch):
    # a label belongs to a prompt name: labelling an unnamed prompt names it from its title ("Summary" -> summary)
    first = parse_json(cli("label", "set", "abcd1", "production", "-o", "json"))
    assert (first["prompt_name"], first["version"]) == ("summary", 1)
    filled = parse_json(
        cli("use", "summary@production", "-p", "tone", "a", "-p", "topic", "b", "-p", "audience", "c", "-o", "json")
    )
    assert filled["id"] == "abcd1111-aaaa" and filled["labels"] == ["production"] and filled["name"] == "summary"
    assert parse_json(cli("use", "production", "--raw", "-o", "json"))["id"] == "abcd1111-aaaa"  # one name has it
    other = parse_json(cli("label", "set", "abcd2", "production", "-o", "json"))  # another name: nothing moves
    assert (other["prompt_name"], other["previous_id"], other["changed"]) == ("plain", None, True)
    _fails(cli("use", "production"), 2, "on several prompt names")
    v2 = parse_json(cli("save", "summary", "Write a {tone} summary of {topic}.", "-o", "json"))
    assert v2["version"] == 2
    moved = parse_json(cli("label", "set", "summary", "production", "-o", "json"))
    assert {
        k: moved[k]
        for k in ("name", "prompt_name", "version", "prompt_id", "previous_id", "previous_version", "changed")
    } == {
        "name": "production",
        "prompt_name": "summary",
        "version": 2,
        "prompt_id": v2["prompt_id"],
        "previous_id": "abcd1111-aaaa",
        "previous_version": 1,
        "changed": True,
    }
    assert parse_json(cli("show", "summary@production", "-o", "json"))["prompt"]["id"] == v2["prompt_id"]
    assert parse_json(cli("show", "plain@production", "-o", "json"))["prompt"]["id"] == "abcd2222-bbbb"
    history = parse_json(cli("label", "history", "production", "--name", "summary", "-o", "json"))["history"]
    assert [(h["action"], h["prompt_id"], h["previous_id"]) for h in history] == [
        ("move", v2["prompt_id"], "abcd1111-aaaa"),
        ("set", "abcd1111-aaaa", None),
    ]
    assert cli("label", "set", "plain@1", "staging").returncode == 0  # any reference names the version
    versions = parse_json(cli("history", "plain", "-o", "json"))["versions"]
    assert versions[0]["labels"] == ["production", "staging"]
    _fails(cli("label", "set", "abcd1", "beef"), 2, "could be read as a prompt id prefix")
    _fails(cli("label", "set", "abcd1", "no spaces"), 2, "invalid label")
    _fails(cli("label", "rm", "nonesuch"), 1, "no label named 'nonesuch'")
    _fails(cli("show", "nonesuch"), 1, "no prompt with id 'nonesuch', nor a name or label of that name")

    export = tmp_path / "out.jsonl"
    assert cli("export", str(export)).returncode == 0
    records = {r["id"]: r for r in map(json.loads, export.read_text(encoding="utf-8").splitlines())}
    assert records["abcd2222-bbbb"]["labels"] == ["production", "staging"] and "labels" not in records["abcd1111-aaaa"]
    monkeypatch.setenv("PROMPT_ALCHEMY_HOME", str(tmp_path / "other-home"))
    report = parse_json(cli("import", str(export), "-o", "json"))
    assert report["imported"] == 3 and report["labels"] == 3
    labels = parse_json(cli("label", "list", "-o", "json"))["labels"]
    assert {(lb["name"], lb["prompt_id"]) for lb in labels} == {
        ("production", "abcd2222-bbbb"),
        ("staging", "abcd2222-bbbb"),
        ("production", v2["prompt_id"]),
    }
    removed = parse_json(cli("label", "rm", "staging", "-o", "json"))
    assert removed["name"] == "staging" and removed["prompt_id"] == "abcd2222-bbbb"
    assert [h["action"] for h in parse_json(cli("label", "history", "staging", "-o", "json"))["history"]] == [
        "remove",
        "set",
    ]
    # deleting a labelled version removes its labels, and the history says why
    owner = removed["prompt_name"]
    assert cli("delete", f"{owner}@production", "--yes").returncode == 0
    assert [lb["prompt_id"] for lb in parse_json(cli("label", "list", "-o", "json"))["labels"]] == [v2["prompt_id"]]
    assert (
        parse_json(cli("label", "history", "production", "--name", owner, "-o", "json"))["history"][0]["action"]
        == "deleted"
    )


def _editor(tmp_path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(f"#!{sys.executable}\nimport sys\npath = sys.argv[1]\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_update_edit_with_a_scripted_editor(cli, loaded, tmp_path, monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv(
        "EDITOR",
        _editor(tmp_path, "text = open(path).read()\n" "open(path, 'w').write(text.replace('beginner', 'child'))"),
    )
    saved = parse_json(cli("update", "abcd2", "--edit", "-o", "json"))
    assert saved["previous_id"] == "abcd2222-bbbb"
    assert saved["prompt"]["content"] == "Explain recursion to a child with one example."
    versions = parse_json(cli("history", "abcd2", "-o", "json"))["versions"]
    assert len(versions) == 2

    monkeypatch.setenv("EDITOR", _editor(tmp_path, "pass"))  # saves the file untouched: nothing changes
    same = cli("update", saved["prompt"]["id"], "--edit")
    assert same.returncode == 0 and "no changes" in same.stderr
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "open(path, 'w').write('ruined')\nsys.exit(3)"))
    _fails(cli("update", saved["prompt"]["id"], "--edit"), 1, "exited with status 3; nothing saved")
    # $VISUAL wins over $EDITOR
    monkeypatch.setenv("VISUAL", _editor(tmp_path.parent, "open(path, 'a').write('Use Python.')"))
    visual = parse_json(cli("update", saved["prompt"]["id"], "--edit", "-o", "json"))
    assert visual["prompt"]["content"].endswith("Use Python.")
    assert len(parse_json(cli("history", "abcd2", "-o", "json"))["versions"]) == 3
    _fails(cli("update", "abcd2", "--edit", "--content", "x"), 2, "either --edit or --content")
    assert os.path.isfile(str(tmp_path / "editor.py"))

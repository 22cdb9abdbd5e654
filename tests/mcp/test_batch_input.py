"""Batch input parsing (JSONL, CSV, one idea per line) and item keys, through the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_alchemy.engine.batch import item_keys
from prompt_alchemy.errors import InputError
from prompt_alchemy.models import BatchItem, Phase

AWESOME_CSV = Path(__file__).resolve().parents[2] / "src" / "prompt_alchemy" / "data" / "awesome-chatgpt-prompts.csv"


def test_text_lines_skip_blanks_and_comments(service, tmp_path):
    path = tmp_path / "ideas.txt"
    path.write_text("first idea\n\n# a comment\n  second idea  \n", encoding="utf-8")
    items = service.read_batch_items(path)
    assert [i.idea for i in items] == ["first idea", "second idea"]


def test_jsonl_objects_and_strings_with_options(service, tmp_path):
    path = tmp_path / "ideas.jsonl"
    path.write_text(
        '{"idea": "one", "count": 2, "phases": "idea,precision", "tags": ["a"], "id": "k1"}\n' '\n"two"\n',
        encoding="utf-8",
    )
    one, two = service.read_batch_items(path)
    assert (one.idea, one.count, one.phases, one.tags, one.id) == (
        "one",
        2,
        [Phase.PRIMA_MATERIA, Phase.COAGULATIO],
        ["a"],
        "k1",
    )
    assert two.idea == "two" and two.count is None


def test_format_is_sniffed_from_content_when_the_extension_says_nothing(service, tmp_path):
    path = tmp_path / "ideas.in"
    path.write_text('{"idea": "json line"}\n', encoding="utf-8")
    assert [i.idea for i in service.read_batch_items(path)] == ["json line"]
    assert [i.idea for i in service.read_batch_items(path, "text")] == ['{"idea": "json line"}']


def test_csv_with_idea_and_option_columns(service, tmp_path):
    path = tmp_path / "ideas.csv"
    path.write_text(
        "idea,count,tags,target-model,notes\n" '"a CLI, for logs",2,"x,y",gpt-4o,ignored\n' ",,,,\n" "plain,,,,\n",
        encoding="utf-8",
    )
    first, second = service.read_batch_items(path)
    assert (first.idea, first.count, first.tags, first.target_model) == ("a CLI, for logs", 2, ["x", "y"], "gpt-4o")
    assert (second.idea, second.count, second.tags) == ("plain", None, None)


def test_the_awesome_prompts_csv_reads_its_prompt_column(service):
    items = service.read_batch_items(AWESOME_CSV)
    assert len(items) > 100
    assert all(i.idea for i in items)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("bad.jsonl", '{"idea": "ok"}\n{"idea": \n', "line 2: not valid JSON"),
        ("bad.jsonl", '{"idea": "ok"}\n[1, 2]\n', "line 2: expected a JSON object"),
        ("bad.jsonl", '{"idea": "ok", "colour": "blue"}\n', "line 1: invalid colour"),
        ("bad.jsonl", '{"idea": "ok", "count": 11}\n', "line 1: invalid count"),
        ("bad.jsonl", '{"count": 1}\n', "line 1: invalid idea"),
        ("bad.csv", "title,body\nx,y\n", "needs an 'idea'"),
        ("bad.csv", "idea,phases\nx,alembic\n", "line 2: invalid phases"),
        ("empty.txt", "\n# nothing\n", "has no ideas"),
    ],
)
def test_bad_input_names_the_line(service, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=expected):
        service.read_batch_items(path)


def test_unreadable_file(service, tmp_path):
    with pytest.raises(InputError, match="cannot read batch file"):
        service.read_batch_items(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="unknown batch format"):
        service.read_batch_items("x.txt", "xml", text="idea")


def test_keys_are_stable_under_insertion_and_count_repeats():
    a, b, c = BatchItem(idea="a"), BatchItem(idea="b"), BatchItem(idea="a")
    keys = item_keys([a, b, c])
    assert keys[0] != keys[1] and keys[2] == keys[0] + "#2"
    assert item_keys([BatchItem(idea="new"), a, b])[1:] == keys[:2]
    assert item_keys([a.model_copy(update={"count": 2})])[0] != keys[0]
    assert item_keys([BatchItem(idea="z", id="mine")]) == ["id:mine"]
    with pytest.raises(InputError, match="share the id"):
        item_keys([BatchItem(idea="1", id="k"), BatchItem(idea="2", id="k")])

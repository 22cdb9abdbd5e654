"""The pattern files: every file loads and validates, the schema refuses what it must, slots fill as documented,
and the training examples stay apart from the development set."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_alchemy.engine.patterns import (
    GENERAL,
    fill,
    load_patterns,
    parse_pattern,
    validate_all,
)

AI_FACING = (
    "assistant-system-prompt",
    "support-bot",
    "internal-helpdesk-bot",
    "tutor",
    "coach",
    "agent-with-tools",
    "roleplay-character",
    "image-midjourney",
    "image-stable-diffusion",
    "image-dalle",
    GENERAL,
)
DEV_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "dev_ideas.yaml"


def test_every_pattern_file_loads_and_validates():
    assert validate_all() == []
    patterns = load_patterns()
    for name in AI_FACING:
        assert name in patterns
    folder = Path(__file__).resolve().parents[2] / "src" / "prompt_alchemy" / "engine" / "patterns"
    assert len(patterns) == len(list(folder.glob("*.yaml")))  # none left out


def test_paragraph_patterns_are_the_image_ones_and_have_parameters_where_the_model_has_them():
    patterns = load_patterns()
    assert {p.name for p in patterns.values() if p.form == "paragraph"} >= {
        "image-midjourney",
        "image-stable-diffusion",
        "image-dalle",
    }
    assert "--ar" in patterns["image-midjourney"].parameters
    assert patterns["image-stable-diffusion"].parameters.startswith("Negative prompt:")
    assert patterns["image-dalle"].parameters == ""


MINIMAL = """name: demo
description: a demo
examples: [one a, two b, three c, four d, five e, six f]
roles: ["a tester"]
"""


def test_the_schema_refuses_unknown_keys_few_examples_unknown_slots_and_a_wrong_name():
    assert parse_pattern("demo.yaml", MINIMAL).roles == ("a tester",)
    with pytest.raises(ValueError, match="colour: unknown key"):
        parse_pattern("demo.yaml", MINIMAL + "colour: blue\n")
    with pytest.raises(ValueError, match="at least 6 examples"):
        parse_pattern("demo.yaml", MINIMAL.replace(", six f", ""))
    with pytest.raises(ValueError, match="unknown slot"):
        parse_pattern("demo.yaml", MINIMAL.replace('"a tester"', '"a {colour} tester"'))
    with pytest.raises(ValueError, match="must equal the file name"):
        parse_pattern("other.yaml", MINIMAL)
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_pattern("demo.yaml", "name: [")


def test_skeleton_names_the_sections_requirements_and_output_format():
    skeleton = load_patterns()["support-bot"].skeleton()
    assert "Handoff:" in skeleton and "Rules:" in skeleton and "Output format:" in skeleton
    image = load_patterns()["image-midjourney"].skeleton()
    assert "ONE descriptive paragraph" in image and "--ar" in image


def test_slots_fill_with_agreeing_articles_and_drop_lines_without_a_value():
    assert fill("a {domain} coach", {"domain": "running"}) == "a running coach"
    assert fill("a {domain} tutor", {"domain": "English"}) == "an English tutor"
    assert fill("A {domain} tutor", {"domain": "an algebra"}) == "An algebra tutor"
    assert fill("a {domain} coach", {"domain": "the user's first marathon"}) is None  # not a modifier
    assert (
        fill("the assistant for {domain}", {"domain": "a pet supplies store"})
        == "the assistant for a pet supplies store"
    )
    assert fill("Help {audience} with {domain}.", {"audience": "kids"}) is None
    assert fill("{purpose}", {"purpose": "answer questions."}) == "Answer questions."


def _dev_ideas() -> list[str]:
    import yaml

    data = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))
    items = data.get("ideas", data) if isinstance(data, dict) else data
    return [item["idea"] if isinstance(item, dict) else str(item) for item in items]


@pytest.mark.skipif(not DEV_SET.is_file(), reason="the development set is not in this tree")
def test_the_training_examples_and_the_development_set_are_apart():
    def norm(text: str) -> str:
        return " ".join(text.lower().split()).rstrip(".!?")

    examples = {norm(e) for p in load_patterns().values() for e in p.examples}
    overlap = [idea for idea in _dev_ideas() if norm(idea) in examples]
    assert overlap == []

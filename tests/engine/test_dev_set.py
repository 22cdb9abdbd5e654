"""The development set (benchmarks/data/dev_ideas.yaml) is a trustworthy TEST set: big enough, covering every
pattern of the contract, with well-formed expectations, and kept apart from the patterns' examples (the TRAINING
set). Also the bench's checker itself. Fast: no model."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = ROOT / "benchmarks" / "data" / "dev_ideas.yaml"
PATTERNS_DIR = ROOT / "src" / "prompt_alchemy" / "engine" / "patterns"

#: The pattern names of the pattern-library contract (more may be added, none renamed).
CONTRACT_PATTERNS = (
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
    "general",
    "extract-json",
    "classify",
    "summarize",
    "translate",
    "rewrite-tone",
    "code-write",
    "code-debug",
    "code-review",
    "security-review",
    "code-convert",
    "code-tests",
    "code-explain",
    "sql-query",
    "data-analysis",
    "compare-decide",
    "root-cause",
    "report-from-notes",
    "explain-topic",
    "trip-plan",
    "study-plan",
    "training-plan",
    "meal-plan",
    "project-plan",
    "brainstorm",
    "naming",
    "story",
    "poem",
    "song-lyrics",
    "email",
    "cover-letter",
    "grant-proposal",
    "product-description",
    "profile-bio",
    "social-post",
    "blog-article",
    "interview-prep",
    "red-team",
    "grade-rubric",
)
LANGUAGES = {"es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese", "it": "Italian"}
NUMBER_WORDS = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|dozen|half|" r"tres|cinco|deux|quatre)\b",
    re.I,
)
#: The ideas of the product issue's examples table; the dev set may not reuse them either.
ISSUE_EXAMPLES = (
    "a system prompt for a pet supplies store's support bot; it must never give veterinary advice and must pass to "
    "a human any complaint about a delivery over 7 days late",
    "DALL-E prompt for a tiny astronaut watering plants on the moon, pastel colors",
    "a math tutor bot that helps kids with fractions by asking questions instead of giving answers",
    "a chatbot that answers employees' questions about the travel expense policy",
    "schreibe eine E-Mail an meinen Vermieter wegen der kaputten Heizung",
    "I have a spreadsheet of orders with customer, date and amount and need SQL that finds each customer's first "
    "order",
    "stress-test our HR chatbot for prompt injection and data leaks",
    "turn daily standup notes into a monthly progress report for the CTO",
    "plan a weekend in Rome for a family with two kids",
    "a 6-week plan to learn basic Spanish",
)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "benchmarks" / "bench_quality.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_quality", module)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ideas() -> list[dict]:
    return bench.load_dev_set(DEV_SET)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


# ------------------------------------------------------------------------------------------ size and coverage


def test_the_file_parses_and_holds_at_least_200_distinct_ideas(raw: dict, ideas: list[dict]) -> None:
    assert isinstance(raw["ideas"], list)
    assert len(ideas) >= 200
    texts = [i["idea"].strip().casefold() for i in ideas]
    assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]
    for idea in raw["ideas"]:
        assert set(idea) <= {"idea", "pattern", "also_ok", "lang", "numbers", "ai", "must", "must_not", "batch"}, idea
        assert isinstance(idea["idea"], str) and idea["idea"].strip()
        assert idea["must"], f"no must checks: {idea['idea']}"


def test_every_contract_pattern_has_at_least_five_ideas(ideas: list[dict]) -> None:
    counts = Counter(i["pattern"] for i in ideas)
    short = {name: counts.get(name, 0) for name in CONTRACT_PATTERNS if counts.get(name, 0) < 5}
    assert not short, short


def test_the_held_out_batch_covers_every_contract_pattern(ideas: list[dict]) -> None:
    """Batch 2 was written after the pattern examples, unseen by their authors: one idea per pattern at least."""
    held_out = Counter(i["pattern"] for i in ideas if i["batch"] == 2)
    assert set(CONTRACT_PATTERNS) <= set(held_out)


def test_pattern_names_are_known(ideas: list[dict]) -> None:
    known = set(CONTRACT_PATTERNS) | {p.stem for p in PATTERNS_DIR.glob("*.yaml")}
    for idea in ideas:
        assert {idea["pattern"], *idea["also_ok"]} <= known, idea["idea"]
        assert idea["pattern"] not in idea["also_ok"], idea["idea"]


def test_subsets_are_large_enough(ideas: list[dict]) -> None:
    assert sum(i["non_english"] for i in ideas) >= 10
    assert sum(i["ai_facing"] for i in ideas) >= 20
    assert sum(i["with_numbers"] for i in ideas) >= 20


def test_subset_flags_are_true(ideas: list[dict]) -> None:
    """A non-English idea names its language among some check's alternatives (the prompt must keep or name it;
    image-model prompts are exempt: their checks are the subject in either language); an idea flagged with numbers
    states one."""
    for idea in ideas:
        if idea["non_english"] and not idea["pattern"].startswith("image-"):
            name = LANGUAGES[idea["lang"]]
            assert any(name.casefold() in alt.casefold() for check in idea["must"] for alt in check), idea["idea"]
        if idea["with_numbers"]:
            assert NUMBER_WORDS.search(idea["idea"]), idea["idea"]


def test_every_check_is_well_formed(raw: dict, ideas: list[dict]) -> None:
    for name, entries in (raw.get("groups") or {}).items():
        assert entries and all(isinstance(e, str) and e for e in entries), name
    for name, shape in (raw.get("shapes") or {}).items():
        assert set(shape) == {"only_for", "must_not"} and shape["must_not"], name
        assert set(shape["only_for"]) <= set(CONTRACT_PATTERNS), name
    assert set(raw.get("pattern_must") or {}) <= set(CONTRACT_PATTERNS)
    for idea in ideas:
        for check in idea["must"]:
            assert isinstance(check, list) and check, idea["idea"]
            for alt in check:
                assert isinstance(alt, str) and alt.strip(), idea["idea"]
                if alt.startswith("re:"):
                    re.compile(alt[3:])
        for bad in idea["must_not"]:
            assert isinstance(bad, str) and bad.strip() and not bad.startswith("@"), idea["idea"]
            if bad.startswith("re:"):
                re.compile(bad[3:])


# ------------------------------------------------------------------------------- test set apart from training


def _pattern_examples() -> list[tuple[str, str]]:
    out = []
    for path in sorted(PATTERNS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out.extend((path.stem, str(example)) for example in data.get("examples") or [])
    return out


def test_no_dev_idea_is_a_pattern_example_or_a_near_duplicate(ideas: list[dict]) -> None:
    examples = _pattern_examples()
    if not examples:
        pytest.skip("the pattern folder has no YAML with examples yet")
    near = []
    for idea in ideas:
        mine = _tokens(idea["idea"])
        for name, example in examples:
            if idea["idea"].strip().casefold() == example.strip().casefold() or _jaccard(mine, _tokens(example)) >= 0.8:
                near.append((idea["idea"], name, example))
    assert not near, near


def test_no_pattern_example_paraphrases_a_dev_idea(ideas: list[dict]) -> None:
    """Stricter than a copy: a training example sharing half of a dev idea's words (e.g. the dev idea with its
    domain or details swapped) makes the dev idea an easy neighbour and its pass rate no longer a test."""
    examples = _pattern_examples()
    if not examples:
        pytest.skip("the pattern folder has no YAML with examples yet")
    close = [
        (round(_jaccard(_tokens(i["idea"]), _tokens(e)), 2), i["idea"], f"{name}: {e}")
        for i in ideas
        for name, e in examples
        if _jaccard(_tokens(i["idea"]), _tokens(e)) >= 0.5
    ]
    assert not close, close


def test_no_dev_idea_reuses_the_issue_examples(ideas: list[dict]) -> None:
    for idea in ideas:
        mine = _tokens(idea["idea"])
        assert all(_jaccard(mine, _tokens(example)) < 0.5 for example in ISSUE_EXAMPLES), idea["idea"]


def test_the_near_duplicate_measure_catches_a_lightly_edited_copy() -> None:
    original = "write a system prompt for our bike shop's website chat assistant"
    assert (
        _jaccard(_tokens(original), _tokens("Write a system prompt for our bike shop's website chat assistant!")) >= 0.8
    )
    assert _jaccard(_tokens(original), _tokens("write a system prompt for our bike shop website chat assistant")) >= 0.8
    assert _jaccard(_tokens(original), _tokens("a haiku about the first snow in the city")) < 0.8


# ------------------------------------------------------------------------------------------------ the checker


IDEA = {
    "idea": "support bot for Billwise, refunds only within 30 days",
    "pattern": "support-bot",
    "must": [["Billwise"], ["30 days", "thirty days"], ["re:human|escalat"]],
    "must_not": ["fenced code block", "re:senior software engineer"],
}
FITTING = (
    "You are the support assistant for Billwise. Refunds only within 30 days of purchase. "
    "Escalate anything about data deletion to a human agent."
)


def test_a_fitting_prompt_passes() -> None:
    assert bench.check_prompt(FITTING, IDEA) == []
    assert bench.check_prompt(FITTING.replace("30 days", "THIRTY DAYS"), IDEA) == []  # any alternative, any case


def test_a_prompt_that_misses_a_must_fails() -> None:
    failed = bench.check_prompt(FITTING.replace("within 30 days", "soon"), IDEA)
    assert failed == ["missing: 30 days | thirty days"]
    assert bench.check_prompt(FITTING.replace("Escalate", "Send").replace("a human agent", "the team"), IDEA) == [
        "missing: re:human|escalat"
    ]


def test_a_prompt_that_has_a_must_not_fails() -> None:
    assert bench.check_prompt("You are a Senior Software Engineer. " + FITTING, IDEA) == [
        "has: re:senior software engineer"
    ]
    assert bench.check_prompt(FITTING + " Put the code in a fenced code block.", IDEA) == ["has: fenced code block"]


def test_regexes_match_at_line_starts() -> None:
    idea = {"must": [], "must_not": [r"re:^\s*#+ "]}
    assert bench.check_prompt("A paragraph about a fox. --ar 3:2", idea) == []
    assert bench.check_prompt("intro\n## Requirements\n- a fox", idea) == [r"has: re:^\s*#+ "]


def test_groups_and_global_entries_expand(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "global_must_not": ["<idea>"],
                "groups": {"notcode": ["fenced code block"]},
                "ideas": [{"idea": "a poem", "pattern": "poem", "must": [["poem"]], "must_not": ["@notcode", "Dear "]}],
            }
        )
    )
    (idea,) = bench.load_dev_set(path)
    assert idea["must_not"] == ["fenced code block", "Dear ", "<idea>"]
    path.write_text(
        yaml.safe_dump(
            {
                "shapes": {"image": {"only_for": ["image-dalle"], "must_not": ["--ar"]}},
                "ideas": [
                    {"idea": "a poem", "pattern": "poem", "must": [["poem"]]},
                    {"idea": "a dalle cat", "pattern": "image-dalle", "must": [["cat"]]},
                    {"idea": "a cat picture", "pattern": "story", "also_ok": ["image-dalle"], "must": [["cat"]]},
                ],
            }
        )
    )
    assert [i["must_not"] for i in bench.load_dev_set(path)] == [["--ar"], [], []]
    assert bench.check_prompt("Write a poem. <idea>", idea) == ["has: <idea>"]
    path.write_text(
        yaml.safe_dump({"ideas": [{"idea": "x", "pattern": "poem", "must": [["x"]], "must_not": ["@nosuch"]}]})
    )
    with pytest.raises(ValueError, match="nosuch"):
        bench.load_dev_set(path)


def test_the_run_order_covers_every_pattern_early(ideas: list[dict]) -> None:
    order = bench.run_order(ideas)
    assert sorted(i["idea"] for i in order) == sorted(i["idea"] for i in ideas)
    patterns = {i["pattern"] for i in ideas}
    assert {i["pattern"] for i in order[: len(patterns)]} == patterns

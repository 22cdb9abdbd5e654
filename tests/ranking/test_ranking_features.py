"""The lint rubric on hand-written good and bad prompts, and the feature vector's fixed shape."""

from __future__ import annotations

from prompt_alchemy.ranking.features import (
    RUBRIC,
    FeatureContext,
    feature_vector,
    lexical_similarity,
    rubric,
    variables,
)

GOOD = """You are a senior technical editor for a developer-documentation team.

Task: rewrite the release notes below for customers who upgrade from version {old_version} to {new_version}.

Constraints:
- Keep every breaking change and its migration step; never drop one.
- Use at most 250 words and plain language; avoid marketing claims.

Output format: a Markdown list with one bullet per change, breaking changes first, each bullet starting with
the component name in bold.

Example:
Input: "auth: tokens now expire after 1h (was 24h)"
Output: - **auth**: Tokens now expire after one hour instead of 24; refresh them in your client.

Release notes:
{notes}
"""

BAD = "do some stuff with the things, maybe make it nice etc"


def by_name(text, ctx=None):
    return {f.name: f for f in rubric(text, ctx)}


def test_good_prompt_passes_every_structural_check():
    f = by_name(
        GOOD, FeatureContext(idea="Rewrite release notes {notes} for an upgrade from {old_version} to " "{new_version}")
    )
    for name in (
        "has_role",
        "states_task",
        "has_constraints",
        "output_format",
        "examples",
        "variables",
        "no_duplicate_lines",
        "length",
    ):
        assert f[name].value == 1.0, (name, f[name].reason)
    assert f["vague_words"].value > 0.9
    assert "keeps {new_version}, {notes}, {old_version}" == f["variables"].reason


def test_bad_prompt_fails_with_reasons():
    f = by_name(BAD)
    assert f["has_role"].value == 0 and "no role" in f["has_role"].reason
    assert f["has_constraints"].value == 0
    assert f["output_format"].value == 0
    assert f["vague_words"].value == 0.0 and "vague word" in f["vague_words"].reason
    assert f["length"].value < 0.5
    assert sum(x.value for x in f.values()) < sum(x.value for x in by_name(GOOD).values()) - 3


def test_variables_unused_and_undefined_are_named():
    f = by_name(
        "Summarize {article} for {audience} in {lang}.", FeatureContext(idea="Summarize {article} for " "{reader}")
    )["variables"]
    assert f.value < 1.0
    assert "drops {reader}" in f.reason
    assert "undefined {audience}, {lang}" in f.reason
    assert variables('Return JSON like {"name": "x"} for {{user}} and {item}') == {"user", "item"}


def test_elaboration_is_not_punished():
    idea = "a haiku about rain"
    short = "Write a haiku about rain."
    long = "You are a poet. Write a haiku about rain. " + "Use vivid, concrete imagery of the senses. " * 40
    assert by_name(short, FeatureContext(idea=idea))["length"].value < 1.0
    assert by_name(long, FeatureContext(idea=idea))["length"].value == 1.0
    # a prompt shorter than a long idea it refines loses length credit, and the reason says so
    big_idea = " ".join(["requirement"] * 200)
    f = by_name(
        "You are an analyst. Write the report. Must be short. Output format: a table.", FeatureContext(idea=big_idea)
    )["length"]
    assert f.value < 0.2 and "shorter than the 200-word idea" in f.reason


def test_examples_are_demanded_for_structured_output_only():
    assert by_name("Return the result as JSON with fields name and age.")["examples"].value == 0.3
    assert by_name("Write a short poem about autumn.")["examples"].value == 0.7
    assert by_name("Classify the review. For example: 'great' -> positive.")["examples"].value == 1.0


def test_duplicate_lines_are_caught():
    text = "Always cite your sources carefully.\nBe brief.\nAlways cite your sources carefully.\n"
    f = by_name(text)["no_duplicate_lines"]
    assert f.value < 1.0 and f.reason == "1 repeated line(s)"


def test_intent_and_distinctness_appear_only_with_their_inputs():
    assert "intent" not in by_name(GOOD) and "distinctness" not in by_name(GOOD)
    f = by_name(GOOD, FeatureContext(idea_similarity=0.75, sibling_similarity=0.99))
    assert f["intent"].value == 1.0
    assert f["distinctness"].value == 0.0 and "near-copy" in f["distinctness"].reason
    f = by_name(GOOD, FeatureContext(sibling_similarity=0.2, sibling_measure="lexical"))
    assert f["distinctness"].value == 1.0 and "word trigrams" in f["distinctness"].reason


def test_lexical_similarity():
    assert lexical_similarity("a b c d e", "a b c d e") == 1.0
    assert lexical_similarity("one two three four", "five six seven eight") == 0.0
    assert 0 < lexical_similarity("one two three four five", "one two three nine ten") < 1


def test_feature_vector_has_fixed_keys_and_one_hots():
    a = feature_vector("short", FeatureContext())
    b = feature_vector(
        GOOD,
        FeatureContext(
            idea="x", idea_similarity=0.5, sibling_similarity=0.8, phase="solutio", provider="local", persona="my-own"
        ),
    )
    assert set(a) == set(b)
    assert all(isinstance(v, float) for v in b.values())
    assert a["intent_missing"] == 1.0 and b["intent_missing"] == 0.0
    assert b["phase=solutio"] == 1.0 and b["phase=coagulatio"] == 0.0
    assert b["provider=local"] == 1.0 and b["persona=custom"] == 1.0 and b["persona=generic"] == 0.0
    assert set(RUBRIC) <= set(a)
    assert 0 < b["log_words"] < 1
    # models are an open set: only the prompt's own model appears
    c = feature_vector(GOOD, FeatureContext(provider="openai", model="gpt-4o-mini"))
    assert set(c) - set(a) == {"model=gpt-4o-mini"} and c["model=gpt-4o-mini"] == 1.0

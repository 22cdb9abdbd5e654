"""The ranker's non-prompt checks: the deliverable written out, advice to a human, repetition, drift and leaked
scaffolding each fail with a reason, and a text that fails any of them ranks below every text that passes."""

from __future__ import annotations

import pytest

from prompt_alchemy.ranking.features import FeatureContext, rubric
from prompt_alchemy.ranking.ranker import Ranker

GOOD = (
    "You are a career coach.\nTask: Write a cover letter for a junior data analyst job.\nContext: the reader "
    "is a hiring manager.\nConstraints: keep it under 300 words; do not invent employers.\nOutput format: the "
    "letter only."
)
LETTER = (
    "Dear Hiring Manager,\nI am thrilled to apply for the junior data analyst position at your company. "
    "My background in statistics makes me a strong fit.\nSincerely,\nAlex"
)
ADVICE = (
    "Writing a cover letter for a junior data analyst job requires planning. Here's how you can write it "
    "with minimal editing:\n1. Start by crafting your resume.\n2. Next, research the company. Good luck!"
)
REPEATED = (
    "You are an analyst. Write an email copy that is 4 pages long. Write an email copy that is 4 pages "
    "long. Reply in Markdown."
)
SCAFFOLD = (
    "<remarks>\nYou are a writer. Write a cover letter for a junior data analyst job. Reply in Markdown.\n</remarks>"
)


def _check(text: str, name: str, ctx: FeatureContext | None = None):
    return next(f for f in rubric(text, ctx) if f.name == name)


@pytest.mark.parametrize(
    "text,name,reason",
    [
        (LETTER, "not_deliverable", "writes the deliverable"),
        (ADVICE, "addressed_to_model", "advises a human"),
        (REPEATED, "not_degenerate", "repeats 1 sentence"),
        (SCAFFOLD, "no_scaffolding", "leaks scaffolding: '<remarks>'"),
        ("Prima-materia: You are a writer. Write the letter.", "no_scaffolding", "Prima-materia"),
    ],
)
def test_each_non_prompt_fails_its_check_with_a_reason(text, name, reason):
    feature = _check(text, name)
    assert feature.value < 0.5 and reason in feature.reason
    assert _check(GOOD, name).value == 1.0


def test_first_person_narrative_is_the_deliverable_but_quoted_text_is_not():
    narrative = (
        "I have always loved data. In my last role I built dashboards, and I learned that my strength "
        "is turning my curiosity into insight for my team, which I enjoy."
    )
    assert _check(narrative, "not_deliverable").value == 0.0
    quoted = GOOD + ' Start the letter with "I am applying because I love data and my team says I am curious".'
    assert _check(quoted, "not_deliverable").value == 1.0


def test_degenerate_text_with_few_distinct_trigrams():
    text = " ".join(["the data the analyst the data the analyst"] * 8)
    feature = _check(text, "not_degenerate")
    assert feature.value == 0.0 and "distinct" in feature.reason


def test_drift_is_measured_by_the_caller_and_absent_without_it():
    assert "on_topic" not in {f.name for f in rubric(GOOD)}
    drifted = _check(
        GOOD,
        "on_topic",
        FeatureContext(
            drift=("Use 3D modeling and color gradients.", "Add texture effects to every chart."), sentences=5
        ),
    )
    assert drifted.value < 0.5 and "2 of 5 sentences drift" in drifted.reason
    assert _check(GOOD, "on_topic", FeatureContext(drift=(), sentences=5)).value == 1.0


def test_a_rejected_text_ranks_below_every_usable_prompt():
    ranker = Ranker()
    # A long, well-sectioned letter scores high on the rubric alone; still it must rank below a plain prompt.
    rich_letter = "Role: applicant\nTask: write\nConstraints: must be formal\nOutput format: letter\n" + LETTER
    plain = "You are a writer. Write a short cover letter for a data analyst job."
    ranked = ranker.rank([("letter", rich_letter, FeatureContext(), None), ("plain", plain, FeatureContext(), None)])
    assert [r.id for r in ranked] == ["plain", "letter"]
    letter_score = ranked[1].score
    assert letter_score.rejected and any("deliverable" in r for r in letter_score.rejected)
    assert any(n.startswith("not a usable prompt") for n in letter_score.notes)
    assert not ranked[0].score.rejected


def test_clean_up_strips_wrappers():
    from prompt_alchemy.engine.phases import clean_output

    assert (
        clean_output("<pre><code>\nYou are a writer. Write a poem.\n</code></pre>") == "You are a writer. Write a poem."
    )
    assert clean_output("<remarks>You are a tutor.</remarks>") == "You are a tutor."


async def test_drift_by_embedding_flags_sentences_off_the_idea():
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.embeddings import make_embedder
    from prompt_alchemy.providers.registry import ProviderRegistry
    from prompt_alchemy.ranking.drift import measure

    settings = load_settings().settings
    embedder = make_embedder(settings, ProviderRegistry(settings))
    if embedder.unavailable_reason():
        pytest.skip(embedder.unavailable_reason())
    idea = "write a cover letter for a junior data analyst job"
    text = (
        GOOD + "\nUse 3D modeling with color gradients and texture effects for the volcano scene. "
        "Add a dragon flying over the medieval castle at dawn."
    )
    (vector,) = await embedder.embed([idea])
    ((drift, n),) = await measure(embedder, [text], vector)
    assert n >= 4
    assert any("volcano" in s for s in drift) and any("dragon" in s for s in drift)
    assert not any("cover letter" in s for s in drift)


def test_real_prompts_from_the_shipped_library_are_rarely_rejected():
    """The checks target the small model's failure modes, not the voices of real prompts: a user talking to the
    model in the first person ("I will type commands and you will reply"), structured prompts that repeat a
    heading, an instruction with no common verb."""
    import csv
    from importlib import resources

    from prompt_alchemy.ranking.features import NON_PROMPT_CHECKS

    text = resources.files("prompt_alchemy").joinpath("data", "awesome-chatgpt-prompts.csv").read_text()
    rows = [r for r in csv.DictReader(text.splitlines(keepends=True)) if r["type"] == "TEXT"]
    rejected = [r for r in rows if any(f.name in NON_PROMPT_CHECKS and f.value < 0.5 for f in rubric(r["prompt"]))]
    assert len(rows) > 700
    assert len(rejected) / len(rows) < 0.02, [r["prompt"][:80] for r in rejected[:5]]

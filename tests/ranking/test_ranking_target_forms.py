"""The output-format check reads every form a target model gets (engine/targets.py): Claude's XML sections,
Markdown and plain sections, and phrases naming the form; an image prompt is not asked for an output section."""

from __future__ import annotations

import pytest

from prompt_alchemy.engine.targets import render_sections
from prompt_alchemy.ranking.features import FeatureContext, is_image_prompt, output_format_feature
from prompt_alchemy.ranking.ranker import Ranker

SECTIONS = {
    "Role": "You are a senior Python engineer.",
    "Task": "Write a function that parses ISO 8601 dates for the billing service.",
    "Constraints": "Handle time zones; never silently drop an offset.",
    "Output format": "The complete function first, then a two-line note on the edge cases it handles.",
}
NO_FORMAT = {k: v for k, v in SECTIONS.items() if k != "Output format"}
# As long and as well formed, with a Context section where the other has its output format.
WITH_CONTEXT = {
    "Role": SECTIONS["Role"],
    "Task": SECTIONS["Task"],
    "Context": "Partners send the billing service dates from many regions, with and without offsets.",
    "Constraints": SECTIONS["Constraints"],
}


@pytest.mark.parametrize("family", ["claude", "gpt", "gemini", "plain"])
def test_an_output_format_section_counts_in_every_target_form(family):
    text = render_sections(SECTIONS, family)
    feature = output_format_feature(text)
    assert feature.value == 1.0, (family, text)
    assert "section" in feature.reason


def test_claudes_output_format_section_is_read():
    text = render_sections(SECTIONS, "claude")
    assert "<output_format>" in text
    assert output_format_feature(text).reason == "specifies the output format (<output_format> section)"
    assert output_format_feature(render_sections(NO_FORMAT, "claude")).value == 0.0  # the check can still fail


@pytest.mark.parametrize(
    "text",
    [
        "You are a senior engineer. Write a Python function that parses ISO dates. Give the complete code in code "
        "blocks.",
        "You are a database architect. Write a query that finds each customer's first order, in a ```sql block.",
        "You are a backend engineer. Convert the handler to Go and give the full program in fenced blocks.",
        "You are an analyst. Compare the two plans and answer in one paragraph.",
        "You are an analyst. Compare the two plans and put the result in a table.",
        "You are a data engineer. Extract the invoice number and total as JSON.",
    ],
)
def test_phrases_naming_the_form_count(text):
    assert output_format_feature(text).value == 1.0, output_format_feature(text).reason


@pytest.mark.parametrize(
    "text,idea",
    [
        (
            "A lighthouse in a storm at night, oil painting style, dramatic light breaking through the clouds, waves "
            "crashing on the rocks --ar 3:2 --v 6",
            None,
        ),
        (
            "A cozy reading nook by a rainy window, warm lamplight, soft focus, photorealistic, 50mm lens\n"
            "Negative prompt: blurry, text, watermark, extra fingers",
            None,
        ),
        (
            "A tiny astronaut watering plants on the moon, soft pastel colors, gentle light, whimsical children's book "
            "illustration.",
            "DALL-E prompt for a tiny astronaut watering plants on the moon, pastel colors",
        ),
    ],
)
def test_an_image_prompt_is_not_penalised_for_having_no_output_section(text, idea):
    assert is_image_prompt(text, idea)
    feature = output_format_feature(text, idea)
    assert feature.value == 1.0 and "image prompt" in feature.reason
    score = Ranker().score(text, FeatureContext(idea=idea))
    assert next(c for c in score.components if c.name == "output_format").value == 1.0


def test_an_ordinary_prompt_is_not_taken_for_an_image_prompt():
    text = "You are a writer. Write a detailed story in a noir style with a rich background and vivid colors."
    assert not is_image_prompt(text)
    assert output_format_feature(text).value == 0.0


def test_the_claude_form_variant_with_an_output_format_ranks_first():
    """For a Claude target the best variant is the one that says what the answer looks like: the one without an
    output section comes first in the input, so a tie would keep it first."""
    without = render_sections(WITH_CONTEXT, "claude")
    with_format = render_sections(SECTIONS, "claude")
    ranked = Ranker().rank(
        [("without", without, FeatureContext(), None), ("with", with_format, FeatureContext(), None)]
    )
    assert [r.id for r in ranked] == ["with", "without"]


@pytest.mark.parametrize(
    "leak",
    [
        "<guidance>\nKind of request: support-bot\n</guidance>",
        "Kind of request: support-bot - a customer-facing chatbot",
        'The request fits the pattern "support-bot".',
    ],
)
def test_echoed_guidance_is_leaked_scaffolding(leak):
    from prompt_alchemy.ranking.features import scaffolding_feature

    text = "You are the support assistant for a pet store. Answer questions about orders.\n" + leak
    assert scaffolding_feature(text).value == 0.0

"""An AI-facing idea's own details (names, numbers, scope, tool names, rules) reach the prompt, and image prompts
start with their subject. These are ideas written for this test, not from the development set."""

from __future__ import annotations

import asyncio

import pytest

from prompt_alchemy.engine.details import brief_of, extract_details, image_subject
from prompt_alchemy.engine.patterns import PatternChoice, load_patterns
from prompt_alchemy.engine.spec import pattern_spec
from prompt_alchemy.engine.structured import STRATEGY_NAMES, assemble


def _prompts(idea: str, pattern: str) -> list[str]:
    choice = PatternChoice(load_patterns()[pattern], 0.5, 0.1, False, pattern)
    spec = pattern_spec(choice, extract_details(idea))
    return [assemble(spec, variant, None) for variant in range(len(STRATEGY_NAMES))]


def test_a_bot_brief_splits_into_persona_scope_and_rules() -> None:
    persona, scope, rules = brief_of(
        "chat assistant for our ferry company Bluewake. tickets, pets on board, "
        "timetables. refunds only up to 48 hours before departure"
    )
    assert persona == "the chat assistant for the ferry company Bluewake"
    assert scope == ("Tickets, pets on board, timetables.",)
    assert rules == ("Refunds only up to 48 hours before departure.",)


@pytest.mark.parametrize(
    "idea, pattern, kept",
    [
        (
            "chat assistant for our ferry company Bluewake. tickets, pets on board, timetables. refunds only up to 48 "
            "hours before departure",
            "support-bot",
            ["Bluewake", "pets on board", "48 hours"],
        ),
        (
            "a violin tutor for adult beginners working on vibrato; never play the passage for them, max 3 hints",
            "tutor",
            ["vibrato", "adult beginners", "3 hints", "Never play the passage"],
        ),
        (
            "agent with the tools get_weather(), list_trails() and notify(): plans weekend hikes, must ask before "
            "sending anything",
            "agent-with-tools",
            ["get_weather()", "list_trails()", "notify()", "ask before"],
        ),
    ],
)
def test_every_variant_keeps_the_ideas_own_details(idea: str, pattern: str, kept: list[str]) -> None:
    for text in _prompts(idea, pattern):
        for detail in kept:
            assert detail.lower() in text.lower(), (detail, text)


def test_an_image_prompt_never_starts_mid_sentence() -> None:
    assert image_subject("midjourney prompt, a lighthouse in a storm") == "a lighthouse in a storm"
    for text in _prompts("stable diffusion prompt: a lighthouse in a storm, oil painting", "image-stable-diffusion"):
        assert text.startswith("A lighthouse in a storm"), text


def test_behaviour_prompts_and_requests_about_a_bot_are_not_a_business_bot() -> None:
    from prompt_alchemy.embeddings.local import LocalEmbedder
    from prompt_alchemy.engine.patterns import choose_pattern

    embedder = LocalEmbedder()

    async def chosen(idea: str) -> str:
        return (await choose_pattern(idea, embedder, None)).pattern.name

    assert asyncio.run(chosen("a prompt that makes the model reply only in lowercase letters")) == "general"
    assert asyncio.run(chosen("grade our chatbot's replies to refund requests for politeness")) not in (
        "support-bot",
        "internal-helpdesk-bot",
    )
    assert asyncio.run(chosen("support bot for a ski rental shop, refunds within 14 days")) == "support-bot"


def test_request_shapes_rule_out_patterns_that_do_not_fit() -> None:
    from prompt_alchemy.embeddings.local import LocalEmbedder
    from prompt_alchemy.engine.patterns import choose_pattern

    embedder = LocalEmbedder()

    async def chosen(idea: str) -> str:
        return (await choose_pattern(idea, embedder, None)).pattern.name

    assert asyncio.run(chosen("should our choir rent a hall or rehearse in the church basement?")) == "compare-decide"
    assert asyncio.run(chosen("how long do I boil a soft egg")) != "meal-plan"
    assert asyncio.run(chosen("weekly meal plan for a vegan runner")) == "meal-plan"
    assert asyncio.run(chosen("build a CLI that extracts the titles from a folder of PDFs")) not in (
        "extract-json",
        "summarize",
        "classify",
    )

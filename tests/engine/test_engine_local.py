"""End to end with the real embedded model and embedder (the default offline path, 3 variants) on ideas of
different shapes, written for this test (not from the pattern files or the development set). Asserts what a
fitting prompt must and must not contain, never the model's wording."""

from __future__ import annotations

import re

import pytest

from prompt_alchemy.models import Phase

pytestmark = pytest.mark.e2e


async def _generate(idea: str, target: str | None = None, context: list | None = None):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment()
    try:
        request = svc.build_request(idea, count=3, target_model=target)
        request.context.extend(context or [])
        result = await svc.generate(request)
    finally:
        await svc.aclose()
    spec = next(p for p in result.prompts if p.phase is Phase.PRIMA_MATERIA and p.variant == 0).content
    return result, spec, [p.content for p in result.final_prompts()]


async def test_a_support_bot_system_prompt_has_its_rules_as_rules_and_no_code_task(home):
    result, spec, finals = await _generate(
        "system prompt for a garden centre's chat assistant; it must never recommend pesticides and must send "
        "any question about a landscaping quote to a human"
    )
    assert "Kind of task: support-bot" in spec
    best = result.best.content
    rules = best.split("RULES:")[1]
    assert "- Never recommend pesticides." in rules
    assert "- Send any question about a landscaping quote to a human." in rules
    assert "You are the customer support assistant for a garden centre." in best
    for text in finals:
        assert not re.search(r"\b(code|software engineer|fenced|function)\b", text, re.I), text
        assert "never recommend pesticides" not in text.split("RULES:")[0].lower()  # not inside the task
    assert len(set(finals)) == 3


async def test_an_image_prompt_is_one_paragraph_with_the_models_parameters(home):
    result, spec, finals = await _generate(
        "midjourney prompt of a fox librarian in a candle-lit library, 4:5, " "no text", target="claude-sonnet-4"
    )
    assert "Kind of task: image-midjourney" in spec
    for text in finals:
        assert "\n\n" not in text and not re.search(r"^[A-Z ]+:$|<\w+>|^## ", text, re.M)  # no sections
        assert text.startswith("A fox librarian in a candle-lit library")
        assert text.endswith("--ar 4:5 --v 6 --no text")
    assert len(set(finals)) == 3  # the variants choose other styles, light and framing


async def test_a_spanish_idea_keeps_its_request_and_asks_for_spanish(home):
    idea = "escribe una carta a mi vecino para pedirle que baje el volumen de la música por la noche"
    result, spec, finals = await _generate(idea)
    for text in finals:
        assert idea in text  # the request as written, not "Write an escribe una carta ..."
        assert "Write the answer in Spanish." in text
        assert not re.search(r"\b(Write|Create) (a|an) escribe\b", text)


async def test_numbers_and_names_survive(home):
    result, spec, finals = await _generate(
        "suggest 8 names for a vegan food truck in Lisbon, at most three " "words each"
    )
    for text in finals:
        assert "8 names" in text and "Lisbon" in text
        assert "at most three words each" in text.lower()


async def test_a_tutor_asks_instead_of_telling(home):
    result, spec, finals = await _generate(
        "a geometry tutor bot that helps teenagers with proofs by asking " "guiding questions"
    )
    assert "Kind of task: tutor" in spec
    best = result.best.content
    assert "You are a patient geometry tutor." in best
    assert "Help teenagers with proofs by asking guiding questions." in best
    assert "Do not give the final answer" in "\n".join(finals)


async def test_context_file_facts_reach_the_final_prompt(home):
    from prompt_alchemy.models import ContextItem

    facts = ContextItem(
        source="project.md",
        content="The service is written in Go on the Zorblax framework.\n" "All dates are in ISO 8601.",
    )
    result, spec, finals = await _generate("write unit tests for our date parser", context=[facts])
    assert "Zorblax" in result.best.content and "ISO 8601" in result.best.content
    assert "Write unit tests for the user's date parser." in result.best.content

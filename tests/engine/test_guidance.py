"""The free-form (cloud) path gets the same pattern as guidance: the chosen pattern's skeleton and the idea's
details reach the phase messages (scripted provider over the real embedder)."""

from __future__ import annotations

from prompt_alchemy.engine.details import extract_details
from prompt_alchemy.engine.patterns import PatternChoice, load_patterns, pattern_guidance


def test_guidance_holds_the_skeleton_and_the_details():
    choice = PatternChoice(load_patterns()["support-bot"], 0.5, 0.1, False, "support-bot")
    details = extract_details(
        "a support bot for a ski rental shop in Zermatt; it must never quote prices over " "the phone"
    )
    text = pattern_guidance(choice, details)
    assert 'pattern "support-bot"' in text and "Handoff:" in text and "Output format:" in text
    assert "- Never quote prices over the phone." in text and "Zermatt" in text


async def test_the_freeform_path_sends_the_chosen_patterns_guidance_to_every_phase(service):
    result = await service.generate(
        service.build_request("midjourney prompt for a paper boat on a flooded street, no people", count=1)
    )
    calls = service.registry.get("scripted").calls
    assert len(calls) == 3 and all(p.enhancement_method is None for p in result.prompts)
    for call in calls:
        user = next(m.content for m in call.messages if m.role == "user")
        assert "<guidance>" in user and 'pattern "image-midjourney"' in user
        assert "ONE descriptive paragraph" in user and "- No people." in user

"""The structured small-model path with the scripted provider: the pattern's spec, the model's task and its checks
and fallbacks, strategies, target forms and the choice of path. The real model runs in
tests/e2e/test_e2e_structured_local.py and tests/engine/test_engine_local.py."""

from __future__ import annotations

import json

import pytest

from prompt_alchemy.engine.details import extract_details
from prompt_alchemy.engine.patterns import PatternChoice, choose_pattern, load_patterns
from prompt_alchemy.engine.spec import format_from_idea, imperative_task, pattern_spec
from prompt_alchemy.engine.structured import assemble, render_prose
from prompt_alchemy.models import Phase
from prompt_alchemy.ranking.features import variables

ROLE = json.dumps({"expert": "a career coach"})
TASK = json.dumps({"task": "Review the user's login endpoint for security problems."})
#: An idea with no verb of its own under a pattern that names none: the model is asked to restate its task.
NOUN_IDEA = "a security review of our login endpoint"


def spec_for(idea: str, pattern: str):
    """The rule-filled spec of an idea under a named pattern (no model, no embedder)."""
    choice = PatternChoice(load_patterns()[pattern], 0.5, 0.1, False, pattern)
    return pattern_spec(choice, extract_details(idea))


def _service(responses: list[str], **more):
    from prompt_alchemy.services import AlchemyService

    overrides = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    overrides.update(
        {
            "generation.mode": "structured",
            "generation.use_parallel": False,
            "providers.scripted.responses": responses,
            **more,
        }
    )
    return AlchemyService.from_environment(overrides=overrides)


async def test_an_idea_that_says_its_verb_needs_no_model_call(home):
    svc = _service([TASK])
    try:
        result = await svc.generate(svc.build_request("write a cover letter for a junior data analyst job", count=2))
        spec_text = next(p for p in result.prompts if p.phase is Phase.PRIMA_MATERIA).content
        assert "Kind of task: cover-letter" in spec_text  # the pattern, chosen by meaning
        assert "role=pattern" in spec_text and "task=idea" in spec_text  # the user's own words, no model call
        assert "Audience: the hiring manager" in spec_text  # from the pattern, not the model
        assert "Write a cover letter for a junior data analyst job." in result.best.content
        assert svc.registry.get("scripted").calls == []
        assert all(p.input_tokens == 0 for p in result.prompts)
    finally:
        await svc.aclose()


async def test_structured_run_stores_three_phases_with_lineage_and_model_fields(home):
    svc = _service([TASK])
    try:
        result = await svc.generate(svc.build_request(NOUN_IDEA, count=2))
        assert len(result.prompts) == 6
        by_variant = {}
        for p in result.prompts:
            by_variant.setdefault(p.variant, []).append(p)
        for chain in by_variant.values():
            assert [p.phase for p in chain] == [Phase.PRIMA_MATERIA, Phase.SOLUTIO, Phase.COAGULATIO]
            assert chain[1].parent_id == chain[0].id and chain[2].parent_id == chain[1].id
            assert all(p.enhancement_method.startswith("structured:") for p in chain)
            spec_text = chain[0].content
            assert "Kind of task: security-review" in spec_text  # the pattern, chosen by meaning
            assert "role=pattern" in spec_text and "task=model" in spec_text  # the role fits: no role call
            final = chain[2].content
            for section in ("ROLE:", "TASK:", "OUTPUT FORMAT:"):
                assert section in final
            assert "Review the user's login endpoint for security problems." in final
            assert chain[2].input_tokens == 0  # only prima-materia calls the model
        # the task is asked once per idea and shared by the variants; the first variant carries its tokens
        assert len(svc.registry.get("scripted").calls) == 1
        assert sorted(chain[0].input_tokens > 0 for chain in by_variant.values()) == [False, True]
        stored = svc.store.list_prompts(session_id=result.session_id, limit=10)
        assert len(stored) == 6
        assert result.best_id in {p.id for p in result.final_prompts()}
        assert not result.scores[result.best_id].rejected
    finally:
        await svc.aclose()


async def test_a_failing_field_is_asked_again_once_then_comes_from_a_rule(home):
    # The task drops the idea's {endpoint} and {team} variables (the pattern's role fits: no role call).
    bad_task = json.dumps({"task": "Review the login code for security problems."})
    svc = _service([bad_task, bad_task])
    try:
        result = await svc.generate(svc.build_request("a security review of {endpoint} for {team}", count=1))
        spec = next(p for p in result.prompts if p.phase is Phase.PRIMA_MATERIA)
        calls = svc.registry.get("scripted").calls
        assert len(calls) == 2  # the task twice: one retry
        assert "role=pattern" in spec.content and "task=idea" in spec.content  # the user's own words
        assert "drops {endpoint}, {team}" in spec.notes
        final = result.best.content
        assert variables(final) == {"endpoint", "team"}
        assert "Write a security review of {endpoint} for {team}." in final
    finally:
        await svc.aclose()


async def test_an_unparseable_answer_falls_back_to_rules(home):
    svc = _service(["Dear hiring manager, I am thrilled to apply"])
    try:
        result = await svc.generate(svc.build_request(NOUN_IDEA, count=1))
        final = result.best.content
        spec = next(p for p in result.prompts if p.phase is Phase.PRIMA_MATERIA).content
        assert "Kind of task: security-review" in spec
        assert "You are an application security engineer" in final  # the pattern's role
        assert "Write a security review of the user's login endpoint." in final
        assert "Dear" not in final
    finally:
        await svc.aclose()


def test_strategies_change_what_is_included():
    spec = spec_for("review my pull request for security problems", "code-review")
    structured, concise, examples, steps = (assemble(spec, v, None) for v in range(4))
    assert "REQUIREMENTS:" in structured and "STEPS:" not in structured
    assert "REQUIREMENTS:" not in concise and len(concise) < len(structured)
    assert "EXAMPLES:" in examples or examples.index("OUTPUT FORMAT:") < examples.index("TASK:")
    assert "STEPS:" in steps and "REQUIREMENTS:" not in steps
    critical = assemble(spec, 4, None)
    assert "NEVER BREAK THESE:" in critical
    quality = assemble(spec, 6, None)
    assert "SUCCESS CRITERIA:" in quality and "Before you answer" in quality
    assumptions = assemble(spec, 7, None)
    assert "state your assumption" in assumptions
    assert len({structured, concise, examples, steps, critical, quality, assumptions}) == 7
    assert "{diff}" in structured  # the material the review works on is an input, named for what it is


@pytest.mark.parametrize(
    "family,marker",
    [("claude", "<role>\nYou are"), ("gpt", "## Role\nYou are"), ("gemini", "## Task"), (None, "ROLE:\nYou are")],
)
def test_the_final_form_follows_the_target(family, marker):
    spec = spec_for("explain quantum entanglement to high school students", "explain-topic")
    assert marker in assemble(spec, 0, family)


def test_solutio_prose_is_bounded_and_keeps_the_task():
    spec = spec_for("write a wedding toast for my sister {sister_name}", "general")
    spec.role = "a speechwriter"
    prose = render_prose(spec)
    assert "\n" not in prose and prose.count(". ") <= 12
    assert "{sister_name}" in prose and prose.startswith("You are a speechwriter")


async def test_a_creative_piece_gets_its_own_pattern_not_a_letters():
    from prompt_alchemy.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder()
    poem_idea, letter_idea = "a poem about autumn for my grandmother", "write a thank-you letter to my landlord"
    poem = await choose_pattern(poem_idea, embedder, (await embedder.embed([poem_idea]))[0])
    letter = await choose_pattern(letter_idea, embedder, (await embedder.embed([letter_idea]))[0])
    assert poem.pattern.name == "poem" and letter.pattern.name != "poem"
    spec = pattern_spec(poem, extract_details(poem_idea))
    assert spec.task == "Write a poem about autumn for the user's grandmother."
    assert not any("placeholders" in c.lower() for c in spec.constraints)


def test_our_is_the_users_until_the_user_is_named():
    assert (
        imperative_task("analyze why our website traffic dropped") == "Analyze why the user's website traffic dropped."
    )
    assert imperative_task("help me improve our onboarding") == "Help the user improve their onboarding."


def test_imperative_task_and_format_cues():
    assert imperative_task("a recipe recommender for leftovers") == "Create a recipe recommender for leftovers."
    assert imperative_task("a newsletter about Rust") == "Write a newsletter about Rust."
    assert imperative_task("Can you please explain DNS? Keep it short.") == "Explain DNS."
    assert "JSON" in format_from_idea("extract the totals as JSON")
    assert format_from_idea("write a poem") is None


async def test_auto_mode_uses_the_structured_path_only_for_small_local_models(home):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment()
    try:
        engine = svc.engine
        local = {p: ["local"] for p in Phase}
        assert engine.uses_structured_path(local) is (svc.registry.get("local").model_path() is not None or True)
        assert not engine.uses_structured_path({p: ["scripted"] for p in Phase})
        assert not engine.uses_structured_path({Phase.PRIMA_MATERIA: ["openai", "local"]})
    finally:
        await svc.aclose()
    big = AlchemyService.from_environment(overrides={"providers.local.small": False})
    try:
        assert not big.engine.uses_structured_path({p: ["local"] for p in Phase})
    finally:
        await big.aclose()
    forced = AlchemyService.from_environment(overrides={"generation.mode": "structured"})
    try:
        assert forced.engine.uses_structured_path({p: ["scripted"] for p in Phase})
    finally:
        await forced.aclose()


async def test_freeform_is_unchanged_for_scripted_providers(service):
    result = await service.generate(service.build_request("a weekly sales summary", count=1))
    assert all(p.enhancement_method is None for p in result.prompts)
    assert "Notes: scripted coagulatio" in result.best.content


async def test_the_users_top_rated_prompts_join_the_exemplars(home):
    from prompt_alchemy.models import ContextItem

    svc = _service([ROLE, TASK])
    try:
        rated = ContextItem(
            source="example from the library",
            context_type="example",
            content="ROLE:\nYou are a wine sommelier.\n\nTASK:\nRecommend a wine for a dinner party.",
        )
        request = svc.build_request(NOUN_IDEA, count=1)
        request.context.append(rated)
        await svc.generate(request)
        first_call = svc.registry.get("scripted").calls[0]
        shots = [m.content for m in first_call.messages if m.role == "user"]
        assert shots[0] == "Request: recommend a wine for a dinner party"  # the user's own prompt comes first
        assert '"task": "Recommend a wine for a dinner party."' in first_call.messages[2].content
    finally:
        await svc.aclose()


def test_a_request_for_a_prompt_becomes_the_task_itself():
    assert imperative_task("a prompt that grades essays against a {rubric}") == "Grade essays against a {rubric}."
    assert imperative_task("I want a prompt to plan my week") == "Plan the user's week."

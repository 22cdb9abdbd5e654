"""The structured small-model path with the scripted provider: spec fields, their checks and fallbacks, strategies,
target forms and the choice of path. The real model runs in tests/e2e/test_e2e_generate_local.py."""

from __future__ import annotations

import json

import pytest

from prompt_alchemy.engine.spec import KINDS, classify_kind, format_from_idea, imperative_task, rule_spec
from prompt_alchemy.engine.structured import assemble, render_prose
from prompt_alchemy.models import Phase
from prompt_alchemy.ranking.features import variables

ROLE = json.dumps({"expert": "a career coach"})
TASK = json.dumps({"task": "Write a cover letter for a junior data analyst job."})


def _service(responses: list[str], **more):
    from prompt_alchemy.services import AlchemyService

    overrides = {f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")}
    overrides.update({"generation.mode": "structured", "generation.use_parallel": False,
                      "providers.scripted.responses": responses, **more})
    return AlchemyService.from_environment(overrides=overrides)


async def test_structured_run_stores_three_phases_with_lineage_and_model_fields(home):
    svc = _service([ROLE, TASK])
    try:
        result = await svc.generate(svc.build_request("write a cover letter for a junior data analyst job", count=2))
        assert len(result.prompts) == 6
        by_variant = {}
        for p in result.prompts:
            by_variant.setdefault(p.variant, []).append(p)
        for chain in by_variant.values():
            assert [p.phase for p in chain] == [Phase.PRIMA_MATERIA, Phase.SOLUTIO, Phase.COAGULATIO]
            assert chain[1].parent_id == chain[0].id and chain[2].parent_id == chain[1].id
            assert all(p.enhancement_method.startswith("structured:") for p in chain)
            spec_text = chain[0].content
            assert "Role: a career coach" in spec_text and "role=model" in spec_text and "task=model" in spec_text
            assert "Audience: the hiring manager" in spec_text  # from the deliverable, not the model
            final = chain[2].content
            for section in ("ROLE:", "TASK:", "CONTEXT:", "CONSTRAINTS:", "OUTPUT FORMAT:"):
                assert section in final
            assert "You are a career coach." in final
            assert chain[0].input_tokens > 0 and chain[2].input_tokens == 0  # only prima-materia calls the model
        stored = svc.store.list_prompts(session_id=result.session_id, limit=10)
        assert len(stored) == 6
        assert result.best_id in {p.id for p in result.final_prompts()}
        assert not result.scores[result.best_id].rejected
    finally:
        await svc.aclose()


async def test_a_failing_field_is_asked_again_once_then_comes_from_a_rule(home):
    # The role copies the instructions; the task drops the idea's {transcript} variable.
    bad_role = json.dumps({"expert": "a request"})
    bad_task = json.dumps({"task": "Summarize the meeting for the team."})
    svc = _service([bad_role, bad_role, bad_task, bad_task])
    try:
        result = await svc.generate(svc.build_request("summarize {transcript} into action items for {team}",
                                                      count=1))
        spec = next(p for p in result.prompts if p.phase is Phase.PRIMA_MATERIA)
        calls = svc.registry.get("scripted").calls
        assert len(calls) == 4  # role twice, task twice: one retry each
        assert "role=rule" in spec.content and "task=rule" in spec.content
        assert "copies the instructions" in spec.notes and "drops {team}, {transcript}" in spec.notes
        final = result.best.content
        assert variables(final) == {"transcript", "team"}
        assert "Summarize {transcript} into action items for {team}." in final
        assert "action items" in final.split("OUTPUT FORMAT:")[1]  # the form the idea asked for
    finally:
        await svc.aclose()


async def test_an_unparseable_answer_falls_back_to_rules(home):
    svc = _service(["Dear hiring manager, I am thrilled to apply"])
    try:
        result = await svc.generate(svc.build_request("build a CLI that summarizes git logs", count=1))
        final = result.best.content
        assert "You are a senior software engineer." in final
        assert "Build a CLI that summarizes git logs." in final
        assert "Dear" not in final
    finally:
        await svc.aclose()


def test_strategies_change_what_is_included():
    spec = rule_spec("review my pull request for security problems", KINDS["review"])
    structured, concise, examples, steps = (assemble(spec, v, None) for v in range(4))
    assert "REQUIREMENTS:" in structured and "STEPS:" not in structured
    assert "REQUIREMENTS:" not in concise and len(concise) < len(structured)
    assert "EXAMPLES:" in examples
    assert "STEPS:" in steps and "REQUIREMENTS:" not in steps
    quality = assemble(spec, 6, None)
    assert "SUCCESS CRITERIA:" in quality and "Before you answer" in quality
    assumptions = assemble(spec, 7, None)
    assert "state your assumption" in assumptions
    assert len({structured, concise, examples, steps, quality, assumptions}) == 6
    assert "{code}" in structured  # the material the review works on is an input variable


@pytest.mark.parametrize("family,marker", [("claude", "<role>\nYou are"), ("gpt", "## Role\nYou are"),
                                           ("gemini", "## Task"), (None, "ROLE:\nYou are")])
def test_the_final_form_follows_the_target(family, marker):
    spec = rule_spec("explain quantum entanglement to high school students", KINDS["explain"])
    assert marker in assemble(spec, 0, family)


def test_solutio_prose_is_bounded_and_keeps_the_task():
    spec = rule_spec("write a wedding toast for my sister {sister_name}", KINDS["write"])
    prose = render_prose(spec)
    assert "\n" not in prose and prose.count(". ") <= 12
    assert "{sister_name}" in prose and prose.startswith("You are a professional writer")


@pytest.mark.parametrize("idea,kind", [
    ("write a cover letter", "write"), ("explain photosynthesis", "explain"), ("a newsletter about Rust", "write"),
    ("build a CLI that summarizes git logs", "code"), ("classify tickets by urgency", "classify"),
    ("I want you to summarize this article", "transform"), ("brainstorm names for a bakery", "ideas"),
    ("plan a 3-day trip to Lisbon", "plan"), ("help me negotiate a raise", "advise"),
    ("write a Python function that validates emails", "code"), ("convert this SQL query to pandas", "code"),
    ("write a job posting for a senior backend engineer", "write"), ("create a quiz on the French Revolution",
                                                                     "explain"),
    ("a chrome extension that blocks distracting sites during work hours", "code"),
    ("a vscode plugin that formats SQL", "code"), ("ideas for a birthday party", "ideas"),
])
def test_kind_of_task(idea, kind):
    assert classify_kind(idea)[0] == kind


def test_a_creative_piece_gets_its_own_shape_and_constraints():
    poem = rule_spec("a poem about autumn for my grandmother", KINDS["write"])
    letter = rule_spec("write a thank-you letter to my landlord", KINDS["write"])
    assert "Stanzas" not in letter.example and "stanzas" in poem.example
    assert not any("placeholders" in c for c in poem.constraints)
    assert any("placeholders" in c for c in letter.constraints)
    assert poem.task == "Write a poem about autumn for the user's grandmother."


def test_our_is_the_users_until_the_user_is_named():
    assert imperative_task("analyze why our website traffic dropped", KINDS["analyze"]) == \
        "Analyze why the user's website traffic dropped."
    assert imperative_task("help me improve our onboarding", KINDS["advise"]) == \
        "Help the user improve their onboarding."


def test_imperative_task_and_format_cues():
    assert imperative_task("a recipe recommender for leftovers", KINDS["code"]) == \
        "Build a recipe recommender for leftovers."
    assert imperative_task("Can you please explain DNS? Keep it short.", KINDS["explain"]) == "Explain DNS."
    assert "JSON" in format_from_idea("extract the totals as JSON")
    assert format_from_idea("write a poem") is None


async def test_auto_mode_uses_the_structured_path_only_for_small_local_models(home):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment()
    try:
        engine = svc.engine
        local = {p: ["local"] for p in Phase}
        assert engine.uses_structured_path(local) is (svc.registry.get("local").model_path() is not None
                                                      or True)
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
        rated = ContextItem(source="example from the library", context_type="example",
                            content="ROLE:\nYou are a wine sommelier.\n\nTASK:\nRecommend a wine for a dinner party.")
        request = svc.build_request("write a cover letter for a junior data analyst job", count=1)
        request.context.append(rated)
        await svc.generate(request)
        first_call = svc.registry.get("scripted").calls[0]
        shots = [m.content for m in first_call.messages if m.role == "user"]
        assert shots[0] == "Request: recommend a wine for a dinner party"  # the user's own prompt comes first
        assert '"expert": "a wine sommelier"' in first_call.messages[2].content
    finally:
        await svc.aclose()


def test_a_request_for_a_prompt_becomes_the_task_itself():
    assert imperative_task("a prompt that grades essays against a {rubric}", KINDS["review"]) == \
        "Grade essays against a {rubric}."
    assert imperative_task("I want a prompt to plan my week", KINDS["plan"]) == "Plan the user's week."

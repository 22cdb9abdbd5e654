"""The judge: tolerant parsing of real-shaped replies, retry-then-unscored, both-order pairwise with ties, and the
choice of a provider other than the generator's. Replies come from the scripted provider's configured responses."""

from __future__ import annotations

import json

import pytest

from prompt_alchemy.config import load_settings
from prompt_alchemy.errors import InputError
from prompt_alchemy.providers.registry import ProviderRegistry
from prompt_alchemy.ranking.judge import Judge, JudgeParseError, judge_chain, parse_rubric, parse_verdict
from prompt_alchemy.ranking.ranker import Ranker

CRIT = ["clarity", "specificity", "completeness", "structure"]


def rubric_json(*scores: int, summary: str = "solid") -> str:
    return json.dumps(
        {"scores": {c: {"score": s, "reasoning": f"{c} is {s}"} for c, s in zip(CRIT, scores)}, "summary": summary}
    )


def make_judge(responses: list[str], **extra) -> Judge:
    overrides = {"ranking.judge_provider": "scripted", "providers.scripted.responses": responses, **extra}
    settings = load_settings(overrides=overrides).settings
    return Judge(settings, ProviderRegistry(settings))


# ------------------------------------------------------------------------------------------------ parsing


def test_parses_the_requested_shape():
    scores, summary = parse_rubric(rubric_json(8, 7, 6, 9), CRIT)
    assert [(s.name, s.score) for s in scores] == [
        ("clarity", 8),
        ("specificity", 7),
        ("completeness", 6),
        ("structure", 9),
    ]
    assert scores[0].reasoning == "clarity is 8" and summary == "solid"


def test_parses_a_chatty_fenced_reply_with_trailing_commas_and_smart_quotes():
    reply = (
        "Sure! Here is my evaluation of the prompt:\n\n```json\n{\n  “scores”: {\n    “clarity”: {“score”: 9, "
        "“reasoning”: “Very clear.”},\n    “specificity”: {“score”: “6/10”, “reasoning”: “Few limits.”},\n  },\n"
        "  “summary”: “Good overall.”,\n}\n```\nLet me know if you need anything else."
    )
    scores, summary = parse_rubric(reply, CRIT)
    assert {s.name: s.score for s in scores} == {"clarity": 9, "specificity": 6}
    assert summary == "Good overall."


def test_parses_flat_and_list_shapes_and_single_quotes():
    flat = "{'Clarity': 8, 'Specificity': '7 out of 10', 'completeness': 5.5, 'Structure': 10}"
    assert [s.score for s in parse_rubric(flat, CRIT)[0]] == [8, 7, 5.5, 10]
    listed = json.dumps(
        {"criteria": [{"criterion": "Clarity", "score": 4, "reason": "muddled"}, {"name": "STRUCTURE", "rating": 3}]}
    )
    scores = {s.name: (s.score, s.reasoning) for s in parse_rubric(listed, CRIT)[0]}
    assert scores == {"clarity": (4, "muddled"), "structure": (3, "")}


def test_parses_markdown_lines_when_there_is_no_json():
    reply = "**Clarity**: 8/10 - easy to follow\n**Specificity**: 5/10 – vague on length\nOverall fine."
    scores = {s.name: s.score for s in parse_rubric(reply, CRIT)[0]}
    assert scores == {"clarity": 8, "specificity": 5}


@pytest.mark.parametrize(
    "reply", ["This prompt is excellent, well done!", '{"clarity": 0, "structure": 11}', '{"verdict": "good"}', ""]
)
def test_no_usable_score_is_an_error_not_a_default(reply):
    with pytest.raises(JudgeParseError):
        parse_rubric(reply, CRIT)


@pytest.mark.parametrize(
    "reply,expected",
    [
        ('{"winner": "B", "reasoning": "B states the format."}', "B"),
        ('```json\n{"Winner": "Prompt A", "reasoning": "x"}\n```', "A"),
        ('{"winner": "Tie", "reasoning": "equivalent"}', "tie"),
        ("After comparing both, the winner is B because it is specific.", "B"),
        ("Prompt A is clearly better: it names the audience.", "A"),
    ],
)
def test_parses_pairwise_verdicts(reply, expected):
    assert parse_verdict(reply)[0] == expected


def test_pairwise_reply_without_a_winner_is_an_error():
    with pytest.raises(JudgeParseError):
        parse_verdict("Both prompts have strengths and weaknesses.")


# ------------------------------------------------------------------------------------------------ the judge


async def test_rubric_retries_once_then_scores():
    judge = make_judge(["I think it is quite good.", rubric_json(6, 6, 8, 8)])
    verdict = await judge.score("Write a haiku about rain.", idea="rain haiku")
    assert verdict.scored and verdict.attempts == 2 and verdict.overall == 7.0
    assert verdict.normalized == 0.7
    calls = judge.provider.calls
    assert len(calls) == 2
    # the retry shows the model its unreadable reply and asks again
    assert calls[1].messages[-2].content == "I think it is quite good."
    assert "could not be read" in calls[1].messages[-1].content
    assert "intent" in calls[0].messages[-1].content  # the idea adds the intent criterion
    assert [m.kind for m in judge.metrics] == ["judge_score", "judge_score"]


async def test_rubric_unparseable_twice_is_unscored_and_ranker_leaves_it_out():
    judge = make_judge(["Looks fine to me!"])
    verdict = await judge.score("Write a haiku about rain.")
    assert not verdict.scored and verdict.overall is None and verdict.normalized is None
    assert verdict.attempts == 2 and "after a retry" in verdict.error
    ranker = Ranker()
    with_judge = ranker.score("Write a haiku about rain.", judge=verdict)
    without = ranker.score("Write a haiku about rain.")
    assert with_judge.total == without.total
    assert "judge" not in {c.name for c in with_judge.components}
    assert any("unscored" in note for note in with_judge.notes)


async def test_pairwise_position_bias_becomes_a_tie():
    judge = make_judge(['{"winner": "A", "reasoning": "the first one"}'])
    result = await judge.compare("Write a poem.", "You are a poet. Write a sonnet about the sea in 14 lines.")
    assert result.scored and result.winner == "tie" and not result.agreed
    assert [o.winner for o in result.orders] == ["a", "b"]
    first, second = judge.provider.calls
    # both orders were asked, with each prompt's length in view
    assert first.messages[-1].content.index("Write a poem.") < first.messages[-1].content.index("sonnet")
    assert second.messages[-1].content.index("sonnet") < second.messages[-1].content.index("Write a poem.")
    assert 'words="3"' in first.messages[-1].content and 'words="13"' in first.messages[-1].content


async def test_pairwise_agreement_names_the_winner():
    judge = make_judge(['{"winner": "B", "reasoning": "more specific"}', '{"winner": "A", "reasoning": "same"}'])
    result = await judge.compare("Write a poem.", "You are a poet. Write a sonnet about the sea.")
    assert result.scored and result.agreed and result.winner == "b"
    assert result.lengths == {"a": 3, "b": 10}


async def test_pairwise_unparseable_is_unscored_after_one_retry_per_order():
    judge = make_judge(["They are both fine."])
    result = await judge.compare("Write a poem.", "Write a song.")
    assert not result.scored and result.winner is None
    assert len(judge.provider.calls) == 4
    assert result.error.startswith("unscored")


async def test_empty_prompt_is_bad_input():
    judge = make_judge([rubric_json(5, 5, 5, 5)])
    with pytest.raises(InputError):
        await judge.score("   ")


def test_judge_prefers_a_provider_other_than_the_generators(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000000")
    settings = load_settings().settings
    registry = ProviderRegistry(settings)
    available = registry.available()
    assert "openai" in available and len(available) >= 2
    assert judge_chain(registry, settings, avoid={"openai"}) != "openai"
    assert judge_chain(registry, settings, avoid={available[1]}) == available[0]
    # only one provider available: the judge falls back to it rather than failing
    assert judge_chain(registry, settings, avoid=set(available[1:])) == available[0]
    assert judge_chain(registry, settings, avoid=set(available)) == available[0]
    # configured explicitly: always that one
    configured = load_settings(overrides={"ranking.judge_provider": "scripted"}).settings
    assert judge_chain(ProviderRegistry(configured), configured, avoid={"scripted"}) == "scripted"

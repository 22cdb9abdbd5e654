"""The ranker: weights from config, every component explained, judge and learned parts, and its use by
`generate` (order and best), `score` and `judge` (service and CLI)."""

from __future__ import annotations

import json

import pytest
import yaml
from learning.learning_testkit import library_rows
from testkit import parse_json

from prompt_alchemy.config import load_settings
from prompt_alchemy.errors import InputError
from prompt_alchemy.ranking.features import FeatureContext
from prompt_alchemy.ranking.judge import CriterionScore, JudgeScore
from prompt_alchemy.ranking.ranker import Ranker, score_text

GOOD = (
    "You are a senior data analyst.\nTask: summarize the quarterly sales table for the sales director.\n"
    "Constraints: at most 150 words; never invent numbers; flag any region whose sales fell.\n"
    "Output format: three bullet points, then one sentence with the main risk."
)
NO_FORMAT = (
    "You are a senior data analyst.\nTask: summarize the quarterly sales table for the sales director.\n"
    "Constraints: at most 150 words; never invent numbers; flag any region whose sales fell."
)
WEAK = "summarize some sales stuff"

CRIT = ["clarity", "specificity", "completeness", "structure", "intent"]

pytestmark = pytest.mark.usefixtures("backend")


def rubric_json(score: int) -> str:
    return json.dumps({"scores": {c: {"score": score, "reasoning": f"{c} ok"} for c in CRIT}, "summary": "ok"})


@pytest.mark.sqlite_only("no library: scoring a text")
def test_every_component_has_value_weight_and_reason():
    s = score_text(GOOD, similarity=0.6)
    names = [c.name for c in s.components]
    assert names[0] == "intent" and "length" in names and "variables" in names
    for c in s.components:
        assert 0 <= c.value <= 1 and c.weight >= 0 and c.reason
    expected = sum(c.value * c.weight for c in s.components) / sum(c.weight for c in s.components)
    assert s.total == pytest.approx(expected, abs=1e-4)


@pytest.mark.sqlite_only("no library: ranking in-memory texts")
def test_ranker_recovers_good_over_weak_and_breaks_ties_by_order():
    ranked = Ranker().rank(
        [
            ("weak", WEAK, FeatureContext(), None),
            ("good", GOOD, FeatureContext(), None),
            ("good2", GOOD, FeatureContext(), None),
        ]
    )
    assert [r.id for r in ranked] == ["good", "good2", "weak"]
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert ranked[0].features["has_role"] == 1.0 and ranked[-1].features["has_role"] == 0.0


@pytest.mark.sqlite_only("no library: weights from settings")
def test_weights_come_from_config():
    settings = load_settings(
        overrides={
            "ranking.weights.output_format": 0,
            "ranking.weights.length": 0,
            "ranking.weights.intent": 7,
            "ranking.judge_weight": 2.5,
        }
    ).settings
    ranker = Ranker.from_settings(settings)
    s = ranker.score(NO_FORMAT, FeatureContext(idea_similarity=0.5))
    weights = {c.name: c.weight for c in s.components}
    assert weights["output_format"] == 0 and weights["intent"] == 7 and weights["has_role"] == 1.0
    # with the format and length checks weighted out, the prompt without a format scores like the one with it
    assert s.total == ranker.score(GOOD, FeatureContext(idea_similarity=0.5)).total
    verdict = JudgeScore(
        scored=True, overall=8.0, criteria=[CriterionScore(name="clarity", score=8)], provider="scripted", model="m"
    )
    judged = ranker.score(GOOD, judge=verdict)
    judge_part = next(c for c in judged.components if c.name == "judge")
    assert judge_part.value == 0.8 and judge_part.weight == 2.5 and "8.0/10" in judge_part.reason


@pytest.mark.sqlite_only("no library: an in-memory learned scorer")
def test_learned_scorer_is_a_weighted_component_over_the_feature_vector():
    class Learned:
        name = "test-model"

        def __init__(self):
            self.seen = None

        def score(self, features: dict[str, float]) -> float:
            self.seen = features
            return 2.0 * features["has_role"]  # clipped to 1

    learned = Learned()
    settings = load_settings(overrides={"ranking.learned_weight": 5}).settings
    ranker = Ranker.from_settings(settings, learned=learned)
    s = ranker.score(GOOD, FeatureContext(phase="coagulatio", provider="local"))
    part = next(c for c in s.components if c.name == "learned")
    assert part.value == 1.0 and part.weight == 5 and "test-model" in part.reason
    assert learned.seen["phase=coagulatio"] == 1.0 and learned.seen["provider=local"] == 1.0
    assert ranker.score(WEAK).components[-1].value == 0.0


def test_generate_ranks_finals_with_the_ranker(service):
    request = service.build_request("a weekly sales summary for the director", count=3)
    assert service.ranker is service.engine.ranker
    import asyncio

    result = asyncio.run(service.generate(request))
    finals = result.final_prompts()
    assert len(finals) == 3
    for p in finals:
        score = result.scores[p.id]
        assert p.score == score.total
        names = {c.name for c in score.components}
        assert {"has_role", "length", "distinctness"} <= names
    best = max(finals, key=lambda p: (p.score, -p.variant))
    assert result.best_id == best.id
    stored = service.store.get_prompt(best.id)
    assert stored.score == best.score


async def test_generate_with_judge_adds_judge_scores_and_can_change_the_best(home):
    from prompt_alchemy.services import AlchemyService

    # Two variants of one phase, then two judge calls (the scripted provider answers in this order): the judge
    # strongly prefers the variant without an output format, which the rubric alone ranks lower.
    overrides = {
        "phases.coagulatio.provider": "scripted",
        "ranking.judge_provider": "scripted",
        "generation.use_parallel": False,
        "providers.scripted.responses": [GOOD, NO_FORMAT, rubric_json(2), rubric_json(9)],
    }
    plain = AlchemyService.from_environment(overrides={**overrides, "providers.scripted.responses": [GOOD, NO_FORMAT]})
    base = await plain.generate(plain.build_request("summarize sales", phases="coagulatio", count=2))
    await plain.aclose()
    assert base.best.content == GOOD

    svc = AlchemyService.from_environment(overrides=overrides)
    result = await svc.generate(svc.build_request("summarize sales", phases="coagulatio", count=2, judge=True))
    try:
        judge_parts = {
            p.content: next(c for c in result.scores[p.id].components if c.name == "judge")
            for p in result.final_prompts()
        }
        assert judge_parts[GOOD].value == 0.2 and judge_parts[NO_FORMAT].value == 0.9
        assert result.best.content == NO_FORMAT
        kinds = [m.kind for m in svc.store.list_metrics(session_id=result.session_id)]
        assert kinds.count("judge_score") == 2
    finally:
        await svc.aclose()


async def test_generate_with_an_unparseable_judge_notes_it_and_keeps_rubric_order(home):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={
            "phases.coagulatio.provider": "scripted",
            "ranking.judge_provider": "scripted",
            "generation.use_parallel": False,
            "providers.scripted.responses": [GOOD, NO_FORMAT, "no idea", "hmm"],
        }
    )
    try:
        result = await svc.generate(svc.build_request("summarize sales", phases="coagulatio", count=2, judge=True))
        assert result.best.content == GOOD
        assert all("judge" not in {c.name for c in s.components} for s in result.scores.values())
        assert all(any("unscored" in n for n in s.notes) for s in result.scores.values())
        assert any("judge could not score" in e for e in result.events)
    finally:
        await svc.aclose()


async def test_score_prompts_uses_siblings_and_the_original_idea(service):
    result = await service.generate(service.build_request("a weekly sales summary", count=2))
    ids = [p.id for p in result.final_prompts()]
    ranked = await service.score_prompts(ids=ids)
    assert {r.id for r in ranked} == set(ids)
    for r in ranked:
        names = {c.name for c in r.score.components}
        assert "distinctness" in names  # compared with its sibling variant
        assert r.score.total == pytest.approx(result.scores[r.id].total, abs=1e-3)
    single = await service.score_prompts(text=GOOD, idea="summarize quarterly sales")
    assert len(single) == 1 and single[0].id is None and single[0].rank == 1


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({}, "nothing to score"),
        ({"ids": ["x"], "text": "y"}, "not both"),
        ({"text": "   "}, "--text is empty"),
        ({"ids": ["no-such-id"]}, "no prompt with id 'no-such-id'"),
    ],
)
async def test_score_prompts_bad_input(service, kwargs, message):
    with pytest.raises(InputError, match=message):
        await service.score_prompts(**kwargs)


@pytest.mark.sqlite_only("scoring text writes nothing: checks that no SQLite file is created")
def test_score_cli_json_and_text(cli, home):
    proc = cli("score", "--text", GOOD, "--idea", "summarize quarterly sales", "--output", "json")
    data = parse_json(proc)
    assert len(data) == 1 and data[0]["id"] is None
    comps = {c["name"]: c for c in data[0]["score"]["components"]}
    assert comps["output_format"]["value"] == 1.0 and comps["output_format"]["reason"]
    assert "intent_missing" in data[0]["features"]
    text = cli("score", "--text", "-", input=WEAK)
    assert text.returncode == 0 and "has_role" in text.stdout and "gives the model no role" in text.stdout
    assert not (home / "prompts.db").exists()  # scoring text writes nothing


def test_score_and_judge_cli_bad_input_exit_2(cli, home):
    proc = cli("score", "deadbeef")
    assert proc.returncode == 2 and proc.stderr.startswith("error: no prompt with id 'deadbeef'")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = cli("judge", "deadbeef", "cafebabe")
    assert proc.returncode == 2 and "no prompt with id" in proc.stderr


def test_judge_cli_compares_two_stored_prompts(cli, home, write_config):
    write_config(
        yaml.safe_dump(
            {
                "phases": {"coagulatio": {"provider": "scripted"}},
                "generation": {"use_parallel": False},
                "ranking": {"judge_provider": "scripted"},
                "providers": {"scripted": {"responses": [GOOD, WEAK]}},
            }
        )
    )
    gen = parse_json(cli("generate", "--phases", "coagulatio", "-n", "2", "-o", "json", "sales summary"))
    a, b = [p["id"] for p in gen["prompts"]]
    # a new process: the scripted provider's answers start again from the first one, which names "A" both times
    write_config(
        yaml.safe_dump(
            {
                "ranking": {"judge_provider": "scripted"},
                "providers": {"scripted": {"responses": ['{"winner": "A", "reasoning": "shown first"}']}},
            }
        )
    )
    verdict = parse_json(cli("judge", a, b, "-o", "json"))
    assert verdict["mode"] == "pairwise" and verdict["winner"] == "tie" and verdict["agreed"] is False
    assert verdict["lengths"]["a"] > verdict["lengths"]["b"]
    write_config(
        yaml.safe_dump(
            {
                "ranking": {"judge_provider": "scripted"},
                "providers": {
                    "scripted": {
                        "responses": ['{"winner": "A", "reasoning": "r"}', '{"winner": "B", "reasoning": "r"}']
                    }
                },
            }
        )
    )
    verdict = parse_json(cli("judge", a, b, "-o", "json"))
    assert verdict["winner"] == "a" and verdict["winner_id"] == a and verdict["agreed"] is True
    text = cli("judge", a, b)
    assert text.returncode == 0 and f"winner: A {a}" in text.stdout
    n = library_rows(home, "SELECT COUNT(*) AS n FROM metrics WHERE kind = 'judge_compare'")[0]["n"]
    assert n == 6


def test_generate_judge_flag(cli, home, write_config):
    write_config(
        yaml.safe_dump(
            {
                "phases": {"coagulatio": {"provider": "scripted"}},
                "generation": {"use_parallel": False},
                "ranking": {"judge_provider": "scripted"},
                "providers": {"scripted": {"responses": [GOOD, rubric_json(7)]}},
            }
        )
    )
    data = parse_json(cli("generate", "--phases", "coagulatio", "-n", "1", "--judge", "-o", "json", "sales"))
    comps = {c["name"]: c for c in data["scores"][data["best"]["id"]]["components"]}
    assert comps["judge"]["value"] == 0.7
    assert "--judge" in cli("generate", "--help").stdout


@pytest.mark.sqlite_only("no library: the embedder's vectors only")
async def test_distinctness_separates_a_different_strategy_from_near_copies(service):
    """Variants that differ by strategy score as distinct; sampling-noise copies do not (real MiniLM vectors)."""
    from prompt_alchemy.ranking.ranker import feature_contexts

    assert service.embedder.unavailable_reason() is None
    structured = (
        "You are a release manager. Task: write release notes for version 2.0.\n"
        "Requirements:\n1. List breaking changes first.\n2. Keep each item to one line.\n"
        "Output format: a Markdown list."
    )
    copy = structured.replace("Keep each item to one line", "Keep every item to a single line")
    example_driven = (
        "Here is how I want release notes to read. Example input: 'auth: tokens expire after 1h'. "
        "Example output: 'Sign-in tokens now expire after one hour; refresh them in your client.' "
        "Now do the same for every change in version 2.0, in the same friendly voice."
    )
    texts = [structured, copy, example_driven]
    vectors = await service.embedder.embed(texts + ["release notes for 2.0"])
    contexts = feature_contexts(texts, idea="release notes for 2.0", vectors=vectors[:3], idea_vector=vectors[3])
    ranker = Ranker()
    distinct = [
        next(c for c in ranker.score(t, ctx).components if c.name == "distinctness") for t, ctx in zip(texts, contexts)
    ]
    assert distinct[2].value > distinct[0].value and distinct[2].value > distinct[1].value
    assert distinct[0].value < 0.3 and "near-copy" in distinct[0].reason
    # without an embedder the same ordering comes from word-trigram overlap
    lexical = feature_contexts(texts)
    assert lexical[0].sibling_measure == "lexical"
    assert lexical[2].sibling_similarity < lexical[0].sibling_similarity


async def test_generate_judge_respects_max_cost(home):
    """Judge calls count against generate's --max-cost: once the run has spent its limit the judge is skipped
    (noted as unscored) and the generated prompts are still ranked and saved."""
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={
            "phases.coagulatio.provider": "scripted",
            "ranking.judge_provider": "scripted",
            "providers.scripted.responses": [GOOD, rubric_json(9)],
            "gateway.prices": {"scripted/scripted-v1": {"input": 0.0, "output": 1_000_000.0}},
        }
    )
    try:
        request = svc.build_request(
            "summarize sales", phases="coagulatio", count=1, max_tokens=1, max_cost=1.5, judge=True
        )
        result = await svc.generate(request)
        score = result.scores[result.best_id]
        assert "judge" not in {c.name for c in score.components}
        assert any("--max-cost" in note for note in score.notes)
        assert svc.store.get_prompt(result.best_id) is not None
        assert len(svc.registry.get("scripted").calls) == 1  # the judge was never called
    finally:
        await svc.aclose()

"""Learning re-weights the rubric: with enough feedback the user's taste wins even against the rubric's leaning,
with little the defaults stand, random ratings are never adopted, the non-prompt gate holds, every weight says
where it came from; patterns with counts and intervals; choices, repeated ratings and the half-life."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from learning_testkit import (
    build_varied_prompts,
    concise_taste,
    make_service,
    ranker_scores,
    rate_with,
    store_prompts,
    taste_accuracy,
)
from testkit import parse_json

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import Feedback, Prompt, utcnow
from prompt_alchemy.ranking.learning import build_dataset, trust_for

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module")
def pools():
    return build_varied_prompts(300, seed=1), build_varied_prompts(120, seed=2, offset=400, prefix="held")


def _trained(pools, n: int, *, ratings=None):
    train, held = pools
    service = make_service()
    store_prompts(service, train[:n] + held)
    if ratings is None:
        rate_with(service, train[:n], concise_taste)
    else:
        for p in train[:n]:
            asyncio.run(service.rate(p.id, ratings(p), source="cli"))
    return service


def test_enough_feedback_reweights_the_rubric_against_its_leaning(home, cli, pools):
    train, held = pools
    service = _trained(pools, 300)
    before = taste_accuracy(ranker_scores(service, held), held, concise_taste)
    report = asyncio.run(service.train())
    after = taste_accuracy(ranker_scores(service, held), held, concise_taste)
    asyncio.run(service.aclose())
    assert before < 0.5  # the rubric leans toward longer prompts
    assert report.adopted and report.trust > 0.6 and report.gain_z >= 2
    assert after >= 0.85 and after > before + 0.4

    short = next(p for p in held if len(p.content.split()) <= 60)
    scored = parse_json(cli("score", short.id, "--output", "json"))[0]["score"]["components"]
    learned = [c for c in scored if c["weight_source"] == "learned"]
    assert any(c["name"] == "learned" for c in learned)
    rubric_learned = [c for c in learned if c["name"] != "learned"]
    assert rubric_learned and all(c["default_weight"] is not None for c in rubric_learned)
    assert any(c["weight"] != c["default_weight"] for c in rubric_learned)
    assert {c["weight_source"] for c in scored} <= {"default", "learned"}
    text = cli("score", short.id)
    assert text.returncode == 0 and "learned (default" in text.stdout and "source" in text.stdout
    status = cli("learning", "status")
    assert "re-weighting: trust" in status.stdout and "(default) →" in status.stdout


def test_learning_never_promotes_a_non_prompt(home, pools):
    from prompt_alchemy.ranking.features import FeatureContext

    _, held = pools
    service = _trained(pools, 300)
    assert asyncio.run(service.train()).adopted
    letter = "Dear team,\nI am thrilled to share our results with you.\nBest regards,\nAnna"  # concise, not a prompt
    long_prompt = max(held, key=lambda p: len(p.content.split())).content  # the kind this user rates lowest
    ranked = service.ranker.rank(
        [("letter", letter, FeatureContext(), None), ("prompt", long_prompt, FeatureContext(), None)]
    )
    asyncio.run(service.aclose())
    assert [r.id for r in ranked] == ["prompt", "letter"]
    assert ranked[1].score.rejected and not ranked[0].score.rejected


def test_with_little_feedback_the_defaults_stand(home, cli, pools):
    service = _trained(pools, 20)
    try:
        report = asyncio.run(service.train())
        assert not report.adopted
    except InputError:
        pass  # too few pairs on one side: nothing learned either
    assert service.ranker.learned is None
    asyncio.run(service.aclose())
    _, held = pools
    scored = parse_json(cli("score", held[0].id, "--output", "json"))[0]["score"]["components"]
    assert scored and all(c["weight_source"] == "default" and c["default_weight"] is None for c in scored)
    assert "learned" not in {c["name"] for c in scored}
    # the evidence part of trust grows with the amount of feedback, and no confidence means no trust
    assert trust_for(20, 5.0)["trust"] < trust_for(300, 5.0)["trust"] and trust_for(300, 0.5)["trust"] == 0


def test_random_ratings_are_not_adopted(home, pools):
    rng = random.Random(3)
    service = _trained(pools, 300, ratings=lambda p: rng.randint(1, 5))
    report = asyncio.run(service.train())
    assert not report.adopted and "not adopted" in report.reason
    assert service.ranker.learned is None
    asyncio.run(service.aclose())


def test_patterns_report_counts_and_intervals(home, cli, pools):
    asyncio.run(_trained(pools, 300).aclose())
    data = parse_json(cli("learning", "patterns", "--output", "json"))
    assert data["rated_prompts"] == 300 and data["ratings"] == 300
    high = {p["characteristic"]: p for p in data["high"]}
    low = {p["characteristic"]: p for p in data["low"]}
    short = high["length:0-60 words"]
    assert short["prompts_with"] + short["prompts_without"] == 300
    assert short["difference_ci"][0] > 0 and short["mean_with"] > short["mean_without"]
    assert short["high_share_ci"][0] <= short["high_share"] <= short["high_share_ci"][1]
    assert short["high_share_ci"][0] > 0.5
    assert any(k.startswith("length:") for k in low)
    text = cli("learning", "patterns")
    assert text.returncode == 0 and "goes with high ratings:" in text.stdout and "length:0-60 words" in text.stdout


def test_patterns_report_nothing_on_thin_evidence(home, cli, pools):
    train, _ = pools
    service = make_service()
    store_prompts(service, train[:6])
    rate_with(service, train[:6], concise_taste)
    asyncio.run(service.aclose())
    data = parse_json(cli("learning", "patterns", "--output", "json"))
    assert data["rated_prompts"] == 6 and data["high"] == [] and data["low"] == [] and data["unclear"] == []
    assert "not enough evidence" in data["message"]
    text = cli("learning", "patterns")
    assert text.returncode == 0 and "not enough evidence" in text.stdout


def test_a_prompt_rated_many_times_counts_once_by_its_mean(home, cli, pools):
    train, _ = pools
    service = make_service()
    store_prompts(service, train[:12])
    for p in train[:12]:
        asyncio.run(service.rate(p.id, 2))
    for r in (5, 5, 2):
        asyncio.run(service.rate(train[0].id, r))
    from prompt_alchemy.ranking.patterns import rated_prompts

    feedback = service.store.training_feedback()
    rated, n = rated_prompts(feedback, service.store.get_prompts([p.id for p in train[:12]]))
    asyncio.run(service.aclose())
    assert n == 15 and len(rated) == 12
    assert next(r for r in rated if r.prompt.id == train[0].id).rating == pytest.approx(3.5)
    assert parse_json(cli("learning", "patterns", "--output", "json"))["rated_prompts"] == 12


@pytest.mark.sqlite_only("no library: pairs built from in-memory feedback")
def test_choices_count_as_pairs_within_their_session():
    prompts = {
        f"s{i}": Prompt(id=f"s{i}", content=f"Write variant {i} " + "word " * i, session_id="sess") for i in range(3)
    }
    prompts.update({f"r{i}": Prompt(id=f"r{i}", content=f"Rated prompt {i} " + "word " * i) for i in range(40)})
    feedback = [
        Feedback(prompt_id="s1", session_id="sess", chosen=True),
        Feedback(prompt_id="s0", session_id="sess", chosen=False),
        Feedback(prompt_id="s2", session_id="sess", chosen=False),
    ]
    feedback += [Feedback(prompt_id=f"r{i}", rating=1 + i % 5) for i in range(40)]
    data = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.01)
    ids = [(data.items[a].prompt.id, data.items[b].prompt.id) for a, b in data.train]
    weights = dict(zip(ids, data.train_weights))
    assert ("s1", "s0") in weights and ("s1", "s2") in weights
    assert not any(("s" in a[:1]) != ("s" in b[:1]) for a, b in ids)  # choices never pair across sessions
    rating_weight = max(w for (a, _), w in weights.items() if a.startswith("r"))
    assert weights[("s1", "s0")] > 10 * rating_weight  # a choice is not drowned by the many rating pairs
    assert data.train_units >= 1 + 30


@pytest.mark.sqlite_only("no library: decay of in-memory feedback, and a config setting")
def test_half_life_decays_old_feedback(home, cli):
    now = utcnow()
    prompts = {f"p{i}": Prompt(id=f"p{i}", content=f"prompt {i} " + "word " * (5 * i)) for i in range(3)}
    old, new = now - timedelta(days=300), now - timedelta(days=1)
    feedback = [
        Feedback(prompt_id="p0", rating=5, created_at=old),
        Feedback(prompt_id="p0", rating=1, created_at=new),
        Feedback(prompt_id="p1", rating=3, created_at=new),
        Feedback(prompt_id="p2", rating=4, created_at=old),
    ]
    off = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.01, now=now)
    on = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.01, half_life_days=30, now=now)
    rating = {it.prompt.id: it.rating for it in off.items}
    decayed = {it.prompt.id: it.rating for it in on.items}
    assert rating["p0"] == 3.0 and decayed["p0"] < 1.01  # old feedback counts for almost nothing
    w_off = dict(zip([(off.items[a].prompt.id, off.items[b].prompt.id) for a, b in off.train], off.train_weights))
    w_on = dict(zip([(on.items[a].prompt.id, on.items[b].prompt.id) for a, b in on.train], on.train_weights))
    assert w_on[("p2", "p1")] < 0.01 * w_off[("p2", "p1")]  # a pair with an old rating fades
    shown = parse_json(cli("config", "show", "--output", "json", env={"PROMPT_ALCHEMY_LEARNING__HALF_LIFE_DAYS": "45"}))
    assert shown["config"]["learning"]["half_life_days"] == 45


async def test_the_patterns_tool(home, pools):
    from mcp import Client

    from prompt_alchemy.mcp.server import build_server

    service = _trained(pools, 60)
    try:
        async with Client(build_server(service)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert "learning_patterns" in tools
            result = await client.call_tool("learning_patterns", {})
            assert not result.is_error
            assert result.structured_content["rated_prompts"] == 60
            assert any(p["characteristic"] == "length:0-60 words" for p in result.structured_content["high"])
    finally:
        await service.aclose()

"""The ranker prefers the specific: the share of a prompt's sentences related to the idea by embedding (measured in
the same pass as drift), weighted in the rubric, in the feature vector, and safe with learned weights stored before
the check existed."""

from __future__ import annotations

import pytest

from prompt_alchemy.models import ModelVersion
from prompt_alchemy.ranking.features import FeatureContext, feature_vector, rubric, specificity_feature
from prompt_alchemy.ranking.learning import LearnedRanking
from prompt_alchemy.ranking.ranker import DEFAULT_WEIGHTS, Ranker, feature_contexts

IDEA = (
    "a system prompt for a pet supplies store's support bot; it must never give veterinary advice and must pass "
    "to a human any complaint about a delivery over 7 days late"
)
SPECIFIC = """You are the customer support assistant for a pet supplies store.
Help customers with orders, deliveries, returns and questions about pet food, toys and accessories.
Never give veterinary advice: when a customer asks about a pet's health, suggest they ask a veterinarian.
Pass to a human agent any complaint about a delivery that is more than 7 days late.
Answer in two to four short sentences; use a numbered list only for steps such as returning an order."""
# As well formed by every other check (role, task, rules, output format, an example), and closer to the idea as a
# whole, but six of its seven sentences would fit any idea.
GENERIC = """You are a support bot for a pet supplies store; never give veterinary advice and pass late-delivery complaints to a human.
Match the tone to the audience and the purpose.
Be clear, concise and accurate in every answer.
Think step by step and check your work before you answer.
Use simple language and avoid jargon.
Keep every answer well organised and easy to read.
Output format: short paragraphs; for example, a greeting, the answer, then an offer of further help."""  # noqa: E501


@pytest.fixture
def embedder():
    from prompt_alchemy.config import load_settings
    from prompt_alchemy.embeddings import make_embedder
    from prompt_alchemy.providers.registry import ProviderRegistry

    settings = load_settings().settings
    embedder = make_embedder(settings, ProviderRegistry(settings))
    if embedder.unavailable_reason():
        pytest.skip(embedder.unavailable_reason())
    return embedder


async def _contexts(embedder, texts: list[str]) -> list[FeatureContext]:
    from prompt_alchemy.ranking.drift import with_drift

    vectors = await embedder.embed(texts + [IDEA])
    contexts = feature_contexts(texts, idea=IDEA, vectors=vectors[:-1], idea_vector=vectors[-1])
    return await with_drift(embedder, contexts, texts, vectors[-1])


async def test_a_specific_prompt_outranks_a_generic_one_for_the_same_idea(embedder):
    texts = [GENERIC, SPECIFIC]  # the generic one first: a tie would keep it first
    contexts = await _contexts(embedder, texts)
    ranked = Ranker().rank(
        [(name, text, ctx, None) for name, text, ctx in zip(("generic", "specific"), texts, contexts)]
    )
    assert [r.id for r in ranked] == ["specific", "generic"]
    parts = {r.id: {c.name: c for c in r.score.components} for r in ranked}
    assert parts["specific"]["specificity"].value >= 0.8
    assert parts["generic"]["specificity"].value <= 0.3
    assert "would fit any idea" in parts["generic"]["specificity"].reason
    assert "Match the tone" in " ".join(contexts[0].generic or ())
    # the filler is not drift (it is a usual instruction): the on_topic check alone could not tell them apart
    assert parts["generic"]["on_topic"].value == 1.0


async def test_generic_sentences_are_measured_in_the_drift_pass(embedder):
    from prompt_alchemy.ranking.drift import check_sentences, measure

    (vector,) = await embedder.embed([IDEA])
    (check,) = await check_sentences(embedder, [GENERIC], vector)
    ((drift, n),) = await measure(embedder, [GENERIC], vector)
    assert check.sentences == n == 7 and check.drift == drift
    assert set(check.drift) <= set(check.generic)  # drift is off the idea too
    assert not any("pet supplies store" in s for s in check.generic)


def test_specificity_is_the_share_of_sentences_about_the_idea_and_absent_unmeasured():
    assert specificity_feature(None, 0) is None and specificity_feature((), 0) is None
    assert specificity_feature((), 5).value == 1.0
    half = specificity_feature(("Be clear.", "Be concise."), 4)
    assert half.value == 0.5 and "2 of 4" in half.reason and "'Be clear.'" in half.reason
    names = [f.name for f in rubric(SPECIFIC, FeatureContext(idea=IDEA))]
    assert "specificity" not in names  # no embedder measured it: left out, never filled in
    vec = feature_vector(SPECIFIC, FeatureContext(idea=IDEA))
    assert vec["specificity"] == 0.0 and vec["specificity_missing"] == 1.0
    vec = feature_vector(SPECIFIC, FeatureContext(idea=IDEA, generic=("x y z w",), sentences=5))
    assert vec["specificity"] == 0.8 and vec["specificity_missing"] == 0.0


def test_the_weight_comes_from_the_defaults_and_the_config():
    from prompt_alchemy.config import load_settings

    ctx = FeatureContext(idea=IDEA, generic=("a", "b", "c"), sentences=4)
    part = next(c for c in Ranker().score(SPECIFIC, ctx).components if c.name == "specificity")
    assert part.weight == DEFAULT_WEIGHTS["specificity"] > 0 and part.weight_source == "default"
    settings = load_settings(overrides={"ranking.weights.specificity": 0}).settings
    part = next(c for c in Ranker.from_settings(settings).score(SPECIFIC, ctx).components if c.name == "specificity")
    assert part.weight == 0 and part.weight_source == "config"
    generic = Ranker().score(SPECIFIC, ctx).total
    specific = Ranker().score(SPECIFIC, FeatureContext(idea=IDEA, generic=(), sentences=4)).total
    assert specific > generic


def test_a_learned_model_stored_before_the_check_keeps_its_default_weight():
    """A model trained before specificity existed has no weight for it: the check keeps its default weight and
    the model's score ignores the new features."""
    version = ModelVersion(
        status="adopted",
        active=True,
        version=3,
        feature_names=["has_role", "log_words"],
        weights={"has_role": 0.8, "log_words": -0.5},
        normalization={"has_role": (0.5, 0.5), "log_words": (0.4, 0.2)},
        params={
            "reweighting": {"trust": 0.6, "rubric": {"has_role": 2.5}, "extra_weight": 1.0, "extra_range": [-2.0, 2.0]}
        },
        training_size=120,
        train_pairs=400,
        validation_pairs=100,
    )
    learned = LearnedRanking(version)
    ranker = Ranker(learned=learned)
    ctx = FeatureContext(idea=IDEA, generic=("a",), sentences=4)
    parts = {c.name: c for c in ranker.score(SPECIFIC, ctx).components}
    assert parts["specificity"].weight == DEFAULT_WEIGHTS["specificity"]
    assert parts["specificity"].weight_source == "default" and parts["specificity"].value == 0.75
    assert parts["has_role"].weight_source == "learned"
    assert learned.score(feature_vector(SPECIFIC, ctx)) == learned.score(feature_vector(SPECIFIC, FeatureContext()))

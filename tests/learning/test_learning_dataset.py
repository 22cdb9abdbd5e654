"""Preference pairs from ratings and choices, the stable validation split, and the learned features."""

from __future__ import annotations

import math

from prompt_alchemy.models import Feedback, ModelVersion, Prompt
from prompt_alchemy.ranking.features import FeatureContext, feature_vector
from prompt_alchemy.ranking.learning import (LENGTH_STEPS, LearnedModel, build_dataset, expand, in_validation,
                                             learning_features)


def _prompts(n: int, session: str | None = None) -> dict[str, Prompt]:
    return {f"p{i}": Prompt(id=f"p{i}", content=f"prompt number {i} " + "word " * (10 * i), session_id=session)
            for i in range(n)}


def test_ratings_make_pairs_within_each_split_only():
    prompts = _prompts(40)
    feedback = [Feedback(prompt_id=f"p{i}", rating=1 + i % 5) for i in range(40)]
    data = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.25)
    val = {pid for pid in prompts if in_validation(pid, 0, 0.25)}
    assert 0 < len(val) < 40
    for pairs, side in ((data.train, False), (data.validation, True)):
        assert pairs
        for a, b in pairs:
            pa, pb = data.items[a].prompt.id, data.items[b].prompt.id
            assert (pa in val) == side and (pb in val) == side
            assert data.items[a].rating > data.items[b].rating
    assert data.ratings == 40 and data.choices == 0


def test_repeated_ratings_average_and_equal_ratings_make_no_pair():
    prompts = _prompts(2)
    feedback = [Feedback(prompt_id="p0", rating=5), Feedback(prompt_id="p0", rating=1),
                Feedback(prompt_id="p1", rating=3)]
    data = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.01)
    assert sorted(it.rating for it in data.items) == [3.0, 3.0]
    assert data.train == [] and data.validation == []


def test_choices_prefer_the_pick_over_its_siblings():
    prompts = _prompts(3, session="s1")
    feedback = [Feedback(prompt_id="p1", session_id="s1", chosen=True),
                Feedback(prompt_id="p0", session_id="s1", chosen=False),
                Feedback(prompt_id="p2", session_id="s1", chosen=False)]
    data = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.5)
    pairs = data.validation if in_validation("s1", 0, 0.5) else data.train
    named = sorted((data.items[a].prompt.id, data.items[b].prompt.id) for a, b in pairs)
    assert named == [("p1", "p0"), ("p1", "p2")]
    assert data.choices == 3


def test_the_split_is_stable_and_seeded():
    ids = [f"prompt-{i}" for i in range(2000)]
    first = [in_validation(i, 0, 0.2) for i in ids]
    assert first == [in_validation(i, 0, 0.2) for i in ids]
    assert 0.15 < sum(first) / len(ids) < 0.25
    assert first != [in_validation(i, 1, 0.2) for i in ids]


def test_learning_features_extend_the_ranker_features():
    ctx = FeatureContext(phase="coagulatio", provider="openai", persona="code")
    text = "You are a reviewer. " + "Check the code carefully. " * 30 + "Return JSON."
    base = feature_vector(text, ctx)
    full = learning_features(text, ctx)
    assert {k: full[k] for k in base} == base
    words = math.expm1(base["log_words"] * math.log1p(2000))
    for step in LENGTH_STEPS:
        assert full[f"words>={step}"] == (1.0 if words >= step - 0.5 else 0.0)
    assert full["words>=100"] == 1.0 and full["words>=400"] == 0.0
    assert expand(full) == full  # idempotent: a ranker may hand either


def test_the_learned_scorer_is_the_logistic_of_normalized_weighted_features():
    model = LearnedModel(ModelVersion(
        version=3, status="adopted", feature_names=["output_format", "words>=50"],
        weights={"output_format": 2.0, "words>=50": -1.0},
        normalization={"output_format": (0.5, 0.5), "words>=50": (0.25, 0.5)},
        training_size=1, train_pairs=1, validation_pairs=1))
    fv = feature_vector("Return a table. " + "word " * 60)
    z = 2.0 * (1.0 - 0.5) / 0.5 - 1.0 * (1.0 - 0.25) / 0.5
    assert model.logit(fv) == z and model.score(fv) == 1 / (1 + math.exp(-z)) and model.name == "v3"

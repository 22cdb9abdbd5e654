"""Preference pairs from ratings and choices, the stable validation split, and the learned features."""

from __future__ import annotations

import math

from prompt_alchemy.models import Feedback, ModelVersion, Prompt
from prompt_alchemy.ranking.features import FeatureContext, feature_vector
from prompt_alchemy.ranking.learning import (
    LENGTH_STEPS,
    LearnedModel,
    build_dataset,
    expand,
    in_validation,
    learning_features,
)

# No `backend` fixture: these build datasets and models from in-memory rows; no library is involved.


def _prompts(n: int, session: str | None = None) -> dict[str, Prompt]:
    return {
        f"p{i}": Prompt(id=f"p{i}", content=f"prompt number {i} " + "word " * (10 * i), session_id=session)
        for i in range(n)
    }


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
    feedback = [
        Feedback(prompt_id="p0", rating=5),
        Feedback(prompt_id="p0", rating=1),
        Feedback(prompt_id="p1", rating=3),
    ]
    data = build_dataset(feedback, prompts, {}, seed=0, validation_split=0.01)
    assert sorted(it.rating for it in data.items) == [3.0, 3.0]
    assert data.train == [] and data.validation == []


def test_choices_prefer_the_pick_over_its_siblings():
    prompts = _prompts(3, session="s1")
    feedback = [
        Feedback(prompt_id="p1", session_id="s1", chosen=True),
        Feedback(prompt_id="p0", session_id="s1", chosen=False),
        Feedback(prompt_id="p2", session_id="s1", chosen=False),
    ]
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
    model = LearnedModel(
        ModelVersion(
            version=3,
            status="adopted",
            feature_names=["output_format", "words>=50"],
            weights={"output_format": 2.0, "words>=50": -1.0},
            normalization={"output_format": (0.5, 0.5), "words>=50": (0.25, 0.5)},
            training_size=1,
            train_pairs=1,
            validation_pairs=1,
        )
    )
    fv = feature_vector("Return a table. " + "word " * 60)
    z = 2.0 * (1.0 - 0.5) / 0.5 - 1.0 * (1.0 - 0.25) / 0.5
    assert model.logit(fv) == z and model.score(fv) == 1 / (1 + math.exp(-z)) and model.name == "v3"


def test_a_preferred_model_is_learned_from_the_model_one_hot():
    from prompt_alchemy.ranking.learning import fit, top_features
    from prompt_alchemy.ranking.ranker import feature_contexts, prompt_meta

    # Same texts, two models: users rate everything model "big-1" wrote higher than model "small-1".
    prompts = {
        f"p{i}": Prompt(
            id=f"p{i}",
            content=f"Write a short story about topic {i // 2}.",
            provider="openai",
            model="big-1" if i % 2 else "small-1",
        )
        for i in range(60)
    }
    contexts = {pid: feature_contexts([p.content], metas=[prompt_meta(p)])[0] for pid, p in prompts.items()}
    assert contexts["p1"].model == "big-1"
    assert learning_features(prompts["p1"].content, contexts["p1"])["model=big-1"] == 1.0
    assert "model=big-1" not in learning_features(prompts["p0"].content, contexts["p0"])
    feedback = [Feedback(prompt_id=pid, rating=5 if p.model == "big-1" else 2) for pid, p in prompts.items()]
    data = build_dataset(feedback, prompts, contexts, seed=0, validation_split=0.2)
    model = fit(data.items, data.train, learning_rate=0.1, batch_size=32, epochs=30, seed=0)
    assert model.weights["model=big-1"] > 0 > model.weights["model=small-1"]
    assert model.train_accuracy == 1.0
    learned = LearnedModel(
        ModelVersion(
            version=1,
            status="adopted",
            feature_names=model.feature_names,
            weights=model.weights,
            normalization=model.normalization,
            training_size=60,
            train_pairs=len(data.train),
            validation_pairs=len(data.validation),
        )
    )
    other = Prompt(content="Write a short story about topic 99.", provider="openai", model="big-1")
    unseen = Prompt(content="Write a short story about topic 99.", provider="openai", model="never-seen")
    ctx = feature_contexts([other.content, unseen.content], metas=[prompt_meta(other), prompt_meta(unseen)])
    assert learned.score(feature_vector(other.content, ctx[0])) > learned.score(feature_vector(unseen.content, ctx[1]))
    described = {f["feature"]: f["description"] for f in top_features(model, data.items)}
    assert described.get("model=big-1") == "was made by model big-1"

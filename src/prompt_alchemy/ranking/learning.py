"""Learning from feedback: a pairwise learning-to-rank model over the ranker's features.

Features
    :func:`learning_features` is :func:`~prompt_alchemy.ranking.features.feature_vector` (the rubric checks,
    intent similarity and distinctness from embeddings, length, phase/provider/persona one-hots) plus signals
    derived from it (word-count steps), computed by :func:`expand`. The ranker hands a learned scorer exactly
    ``feature_vector(text, ctx)``; :meth:`LearnedModel.score` applies :func:`expand` itself, so training and
    ranking compute the same numbers.

Pairs
    Ratings: every two rated prompts with different average ratings make a pair (the better-rated one preferred).
    Choices: in a session, the picked final prompt is preferred to each sibling passed over. Prompts (ratings)
    and sessions (choices) are split into training and validation by a seeded hash of their id, so a prompt stays
    on the same side from one training run to the next and a previous model is never validated on its own
    training data.

Model
    Logistic regression on feature differences, P(a preferred to b) = σ(w·(x_a − x_b)), features standardized
    on the training prompts, fitted by mini-batch gradient descent (``learning.learning_rate``, ``batch_size``,
    ``epochs``, ``seed``) with a small L2 penalty. A prompt's learned score is σ(w·x), 0-1.

Adoption
    The candidate is adopted only when the ranker using it orders the validation pairs better than the ranker as
    it is (with the active model, or the rubric alone when there is none). Every version is stored with its
    metrics; storing and activating happen in one transaction, so a failure leaves the previous model active.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from prompt_alchemy.errors import InputError
from prompt_alchemy.models import Feedback, ModelVersion, Prompt, utcnow
from prompt_alchemy.observability import get_logger
from prompt_alchemy.ranking.features import FeatureContext, feature_vector
from prompt_alchemy.storage.feedback import TRAINING_TASK as MAINTENANCE_TASK

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings
    from prompt_alchemy.storage.sqlite import SQLiteStore

log = get_logger("learning")

KIND = "pairwise-logistic"
#: Word-count thresholds turned into 0/1 step features, so a linear model can learn a preferred length.
LENGTH_STEPS: tuple[int, ...] = (25, 50, 75, 100, 150, 250, 400, 800)
_LOG_WORDS_SCALE = math.log1p(2000)  # feature_vector's log_words is log1p(words) / log1p(2000), capped at 1
L2 = 1e-3
MAX_PAIRS = 20_000
TOP_FEATURES = 8

_DESCRIPTIONS = {
    "intent": "stays close to the original idea", "has_role": "states a role or context",
    "states_task": "states the task with an action verb", "has_constraints": "states constraints",
    "output_format": "specifies the output format", "examples": "includes an example",
    "variables": "keeps the idea's template variables", "vague_words": "avoids vague words",
    "no_duplicate_lines": "has no repeated lines", "length": "has a workable length (rubric)",
    "distinctness": "differs from its sibling variants", "log_words": "is longer (log of the word count)",
    "intent_missing": "has no original idea to compare with", "distinctness_missing": "has no sibling variants",
}


# ------------------------------------------------------------------------------------------------ features


def expand(features: dict[str, float]) -> dict[str, float]:
    """`features` (a :func:`feature_vector`) plus the signals derived from it. Idempotent."""
    out = dict(features)
    words = math.expm1(float(features.get("log_words", 0.0)) * _LOG_WORDS_SCALE)
    for step in LENGTH_STEPS:
        out[f"words>={step}"] = 1.0 if words >= step - 0.5 else 0.0
    return out


def learning_features(text: str, ctx: FeatureContext | None = None) -> dict[str, float]:
    """Everything the learned model sees of a prompt."""
    return expand(feature_vector(text, ctx))


def describe(feature: str) -> str:
    if feature in _DESCRIPTIONS:
        return _DESCRIPTIONS[feature]
    if feature.startswith("words>="):
        return f"has at least {feature.split('>=', 1)[1]} words"
    if "=" in feature:
        key, value = feature.split("=", 1)
        return {"phase": f"comes from phase {value}", "provider": f"was made by provider {value}",
                "model": f"was made by model {value}", "persona": f"uses persona {value}"}.get(key, feature)
    return feature


class LearnedModel:
    """The ranker's learned scorer (the `LearnedScorer` protocol): σ(w · normalized features), 0-1."""

    def __init__(self, version: ModelVersion) -> None:
        self.record = version
        self.version = version.version
        self.name = f"v{version.version}" if version.version else "candidate"
        self._terms = [(f, float(version.weights.get(f, 0.0)), *map(float, version.normalization[f]))
                       for f in version.feature_names if version.weights.get(f)]

    def logit(self, features: dict[str, float]) -> float:
        x = expand(features)
        return sum(w * (float(x.get(f, 0.0)) - mean) / scale for f, w, mean, scale in self._terms)

    def score(self, features: dict[str, float]) -> float:
        z = max(-60.0, min(60.0, self.logit(features)))
        return 1.0 / (1.0 + math.exp(-z))


# ------------------------------------------------------------------------------------------------ data


@dataclass
class Item:
    """One prompt in the training data, with its ranking context, features and average rating (if rated)."""

    prompt: Prompt
    ctx: FeatureContext
    features: dict[str, float]
    rating: float | None = None
    ratings: int = 0


@dataclass
class Dataset:
    items: list[Item]
    train: list[tuple[int, int]] = field(default_factory=list)  # (preferred, other) indexes into items
    validation: list[tuple[int, int]] = field(default_factory=list)
    ratings: int = 0
    choices: int = 0
    feedback_rows: int = 0


def in_validation(key: str, seed: int, fraction: float) -> bool:
    """A stable, seeded assignment of a prompt or session to the validation split."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_dataset(feedback: Sequence[Feedback], prompts: dict[str, Prompt], contexts: dict[str, FeatureContext],
                  *, seed: int, validation_split: float) -> Dataset:
    """Items and preference pairs (training and validation) from ratings and choices."""
    import random

    index: dict[str, int] = {}
    items: list[Item] = []

    def item(pid: str) -> int:
        if pid not in index:
            index[pid] = len(items)
            prompt = prompts[pid]
            ctx = contexts.get(pid) or FeatureContext()
            items.append(Item(prompt=prompt, ctx=ctx, features=learning_features(prompt.content, ctx)))
        return index[pid]

    data = Dataset(items=items)
    totals: dict[str, list[int]] = {}
    choices: dict[str, dict[str, bool]] = {}
    for f in feedback:
        if f.prompt_id not in prompts:
            continue
        if f.rating is not None:
            totals.setdefault(f.prompt_id, []).append(f.rating)
            data.ratings += 1
        if f.chosen is not None and f.session_id:
            picks = choices.setdefault(f.session_id, {})
            picks[f.prompt_id] = picks.get(f.prompt_id, False) or f.chosen
            data.choices += 1
    data.feedback_rows = data.ratings + data.choices
    sides: dict[bool, list[int]] = {False: [], True: []}
    for pid in sorted(totals):
        i = item(pid)
        items[i].rating = sum(totals[pid]) / len(totals[pid])
        items[i].ratings = len(totals[pid])
        sides[in_validation(pid, seed, validation_split)].append(i)
    pairs: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
    for side, members in sides.items():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1:]:
                ra, rb = items[a].rating, items[b].rating
                if ra is not None and rb is not None and ra != rb:
                    pairs[side].append((a, b) if ra > rb else (b, a))
    for session_id in sorted(choices):
        picks = choices[session_id]
        side = in_validation(session_id, seed, validation_split)
        chosen = [item(p) for p, c in sorted(picks.items()) if c]
        skipped = [item(p) for p, c in sorted(picks.items()) if not c]
        pairs[side].extend((c, s) for c in chosen for s in skipped)
    rng = random.Random(seed)
    for side in (False, True):
        if len(pairs[side]) > MAX_PAIRS:
            pairs[side] = rng.sample(pairs[side], MAX_PAIRS)
    data.train, data.validation = pairs[False], pairs[True]
    return data


# ------------------------------------------------------------------------------------------------ fitting


@dataclass
class Fit:
    feature_names: list[str]
    weights: dict[str, float]
    normalization: dict[str, tuple[float, float]]
    train_loss: float
    train_accuracy: float


def fit(items: Sequence[Item], pairs: Sequence[tuple[int, int]], *, learning_rate: float, batch_size: int,
        epochs: int, seed: int) -> Fit:
    """Pairwise logistic regression by seeded mini-batch gradient descent; deterministic for a given input."""
    import numpy as np

    names = sorted({name for it in items for name in it.features})
    matrix = np.array([[it.features.get(n, 0.0) for n in names] for it in items], dtype=np.float64)
    used = sorted({i for pair in pairs for i in pair})
    mean = matrix[used].mean(axis=0)
    scale = matrix[used].std(axis=0)
    keep = scale > 1e-9
    names = [n for n, k in zip(names, keep) if k]
    mean, scale = mean[keep], scale[keep]
    z = (matrix[:, keep] - mean) / scale
    better = np.array([p[0] for p in pairs])
    worse = np.array([p[1] for p in pairs])
    diffs = z[better] - z[worse]
    w = np.zeros(len(names))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(diffs))
        for start in range(0, len(order), batch_size):
            batch = diffs[order[start:start + batch_size]]
            margin = np.clip(batch @ w, -60, 60)
            grad = -(batch.T @ (1.0 / (1.0 + np.exp(margin)))) / len(batch) + L2 * w
            w -= learning_rate * grad
    margins = diffs @ w
    loss = float(np.mean(np.logaddexp(0.0, -margins)) + L2 / 2 * float(w @ w))
    accuracy = float(np.mean((margins > 0) + 0.5 * (margins == 0))) if len(margins) else 0.0
    return Fit(feature_names=names, weights={n: round(float(v), 6) for n, v in zip(names, w)},
               normalization={n: (float(m), float(s)) for n, m, s in zip(names, mean, scale)},
               train_loss=loss, train_accuracy=accuracy)


def pairwise_accuracy(scores: Sequence[float], pairs: Sequence[tuple[int, int]]) -> float:
    """Share of pairs whose preferred prompt scores higher (a tie counts half)."""
    if not pairs:
        return 0.0
    won = sum(1.0 if scores[a] > scores[b] else 0.5 if scores[a] == scores[b] else 0.0 for a, b in pairs)
    return won / len(pairs)


def top_features(model: Fit, items: Sequence[Item], limit: int = TOP_FEATURES) -> list[dict[str, Any]]:
    """Pattern detection: the features with the largest weights (on standardized values, so comparable), the
    direction they pull, and the average rating of rated prompts with and without them."""
    rated = [it for it in items if it.rating is not None]
    ranked = sorted(model.weights.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    out = []
    for name, weight in ranked[:limit]:
        if weight == 0:
            continue
        entry: dict[str, Any] = {"feature": name, "weight": round(weight, 4),
                                 "direction": "higher" if weight > 0 else "lower", "description": describe(name)}
        high = [it.rating for it in rated if it.features.get(name, 0.0) >= 0.5]
        low = [it.rating for it in rated if it.features.get(name, 0.0) < 0.5]
        if high and low:
            entry["avg_rating_with"] = round(sum(high) / len(high), 2)  # type: ignore[arg-type]
            entry["avg_rating_without"] = round(sum(low) / len(low), 2)  # type: ignore[arg-type]
            entry["prompts_with"], entry["prompts_without"] = len(high), len(low)
        out.append(entry)
    return out


# ------------------------------------------------------------------------------------------------ training


class TrainingReport(BaseModel):
    """What a training run did and why."""

    dry_run: bool
    better: bool = Field(description="the candidate beats the current ranker on the validation pairs")
    adopted: bool = Field(description="the candidate is now the active model (never in a dry run)")
    stored: bool
    version: int | None = Field(None, description="the stored version (none for a dry run)")
    reason: str
    trigger: str = "cli"
    current_version: int | None = Field(None, description="the active model before this run")
    current_accuracy: float = Field(description="validation pairwise accuracy of the ranker before this run")
    candidate_accuracy: float = Field(description="validation pairwise accuracy of the ranker with the candidate")
    baseline_accuracy: float = Field(description="validation pairwise accuracy of the rubric alone")
    model_accuracy: float = Field(description="validation pairwise accuracy of the candidate model alone")
    train_accuracy: float
    train_loss: float
    train_pairs: int
    validation_pairs: int
    feedback_rows: int
    ratings: int
    choices: int
    prompts: int
    top_features: list[dict[str, Any]] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    wall_ms: float = 0.0


ContextBuilder = Callable[[list[Prompt]], Awaitable[dict[str, FeatureContext]]]


def check_enough(rows: int, needed: int) -> None:
    if rows < needed:
        raise InputError(f"training needs at least {needed} ratings or choices (learning.min_feedback); there "
                         f"{'is' if rows == 1 else 'are'} {rows}: rate prompts with 'prompt-alchemy rate ID SCORE' "
                         f"or pick the best with 'prompt-alchemy generate --interactive'")


async def run_training(store: SQLiteStore, settings: Settings, contexts_for: ContextBuilder, *,
                       dry_run: bool = False, trigger: str = "cli", now: datetime | None = None) -> TrainingReport:
    """Train a candidate on all feedback, validate it against the ranker as it is, and (unless `dry_run`) store
    it as a new version, active only if it is better. Too little feedback is bad input and changes nothing."""
    import asyncio

    from prompt_alchemy.ranking.ranker import Ranker

    started = time.perf_counter()
    cfg = settings.learning
    if not cfg.enabled:
        raise InputError("learning is disabled (learning.enabled: false); enable it to train a model")
    feedback = store.training_feedback()
    check_enough(len(feedback), cfg.min_feedback)
    prompts = store.get_prompts(sorted({f.prompt_id for f in feedback}))
    contexts = await contexts_for(list(prompts.values()))
    data = build_dataset(feedback, prompts, contexts, seed=cfg.seed, validation_split=cfg.validation_split)
    check_enough(data.feedback_rows, cfg.min_feedback)
    if not data.train or not data.validation:
        where = "training" if not data.train else "validation"
        raise InputError(
            f"the feedback gives no preference pairs for the {where} split ({len(data.items)} prompts, "
            f"{data.ratings} ratings, {data.choices} choices): rate more prompts, with different scores, or pick "
            f"among variants with 'generate --interactive'")
    params = {"learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size, "epochs": cfg.epochs,
              "validation_split": cfg.validation_split, "seed": cfg.seed, "l2": L2}
    result = await asyncio.to_thread(fit, data.items, data.train, learning_rate=cfg.learning_rate,
                                     batch_size=cfg.batch_size, epochs=cfg.epochs, seed=cfg.seed)
    patterns = top_features(result, data.items)
    candidate = ModelVersion(
        kind=KIND, status="rejected", feature_names=result.feature_names, weights=result.weights,
        normalization=result.normalization, params=params, training_size=data.feedback_rows,
        train_pairs=len(data.train), validation_pairs=len(data.validation), trigger=trigger,
        created_at=now or utcnow())
    scorer = LearnedModel(candidate)
    current = store.active_model()
    current_scorer = LearnedModel(current) if current is not None else None

    def ranker_scores(learned: LearnedModel | None) -> list[float]:
        ranker = Ranker.from_settings(settings, learned=learned)
        return [ranker.score(it.prompt.content, it.ctx).total for it in data.items]

    baseline = pairwise_accuracy(ranker_scores(None), data.validation)
    current_acc = pairwise_accuracy(ranker_scores(current_scorer), data.validation) if current_scorer else baseline
    candidate_acc = pairwise_accuracy(ranker_scores(scorer), data.validation)
    model_acc = pairwise_accuracy([scorer.logit(it.features) for it in data.items], data.validation)
    adopted = candidate_acc > current_acc + 1e-9
    against = f"the active model v{current.version}" if current else "the rubric alone (no model yet)"
    reason = (f"{'adopted' if adopted else 'not adopted'}: validation pairwise accuracy {candidate_acc:.3f} "
              f"{'beats' if adopted else 'does not beat'} {current_acc:.3f} of {against}")
    if dry_run:
        reason = f"dry run, nothing stored; would be {reason}"
    metrics = {"validation_accuracy": round(candidate_acc, 4), "current_accuracy": round(current_acc, 4),
               "baseline_accuracy": round(baseline, 4), "model_validation_accuracy": round(model_acc, 4),
               "train_accuracy": round(result.train_accuracy, 4), "train_loss": round(result.train_loss, 5),
               "ratings": data.ratings, "choices": data.choices, "prompts": len(data.items),
               "compared_with": current.version if current else None, "top_features": patterns}
    version = None
    if not dry_run:
        saved = store.save_model(candidate.model_copy(update={
            "status": "adopted" if adopted else "rejected", "active": adopted, "metrics": metrics}))
        version = saved.version
        store.record_maintenance(MAINTENANCE_TASK, now or utcnow(), f"v{version} {saved.status}")
    log.info("training (%s): %s", trigger, reason)
    return TrainingReport(
        dry_run=dry_run, better=adopted, adopted=adopted and not dry_run, stored=not dry_run, version=version, reason=reason,
        trigger=trigger, current_version=current.version if current else None, current_accuracy=round(current_acc, 4),
        candidate_accuracy=round(candidate_acc, 4), baseline_accuracy=round(baseline, 4),
        model_accuracy=round(model_acc, 4), train_accuracy=round(result.train_accuracy, 4),
        train_loss=round(result.train_loss, 5), train_pairs=len(data.train), validation_pairs=len(data.validation),
        feedback_rows=data.feedback_rows, ratings=data.ratings, choices=data.choices, prompts=len(data.items),
        top_features=patterns, params=params, wall_ms=round((time.perf_counter() - started) * 1000, 1))

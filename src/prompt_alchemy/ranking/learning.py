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

Re-weighting
    The fitted model covers every feature. Its coefficients on the rubric checks become learned weights for those
    checks, on the rubric's own scale (the checks it saw vary, plus the learned component, share the weight the
    defaults give them plus ``ranking.learned_weight``); everything else it learned (length bands, form, metadata)
    becomes the `learned` component. How far the ranker moves from the defaults is the model's *trust*, 0-1:
    ``evidence × confidence``, where evidence = n / (n + 50) for n rated prompts and choice sessions in training,
    and confidence grows from 0 to 1 as the fully learned ranker's validation gain over the rubric goes from 1 to
    3 standard errors. Each learned weight is ``(1 - trust)·default + trust·learned``. A check the model could not
    learn (it never varied in the feedback) keeps its default. The non-prompt checks are never weighted below
    their defaults, and the gate that ranks a non-prompt below every usable prompt does not read weights at all.

Adoption
    The candidate is adopted only when the ranker using it orders the validation pairs better than the ranker as
    it is (with the active model, or the rubric alone when there is none), by at least two standard errors
    (estimated from each validation prompt's and session's share of the gain). Every version is stored with its
    metrics; storing and activating happen in one transaction, so a failure leaves the previous model active.

Feedback
    A prompt rated many times counts once, by its mean rating. Rating pairs are weighted so that each rated prompt
    weighs about as much as one choice session, so choices from ``generate --interactive`` are not drowned by the
    many rating pairs. With ``learning.half_life_days`` set, a rating or choice of that age counts half.
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
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import Feedback, ModelVersion, Prompt, utcnow
from prompt_alchemy.ranking.features import NON_PROMPT_CHECKS, RUBRIC, FeatureContext, feature_vector, lexical_features
from prompt_alchemy.storage.feedback import TRAINING_TASK as MAINTENANCE_TASK

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings
    from prompt_alchemy.storage.base import Store

log = get_logger("learning")

KIND = "pairwise-logistic"
#: Word-count thresholds turned into 0/1 step features, so a linear model can learn a preferred length.
LENGTH_STEPS: tuple[int, ...] = (15, 25, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 600, 800)
_LOG_WORDS_SCALE = math.log1p(2000)  # feature_vector's log_words is log1p(words) / log1p(2000), capped at 1
L2 = 1e-3
MAX_PAIRS = 20_000
TOP_FEATURES = 8
#: Rated prompts and choice sessions at which the learned weights get half the say (before confidence).
EVIDENCE_HALF = 50
#: A candidate is adopted only when its validation gain is at least this many standard errors.
MIN_Z = 2.0
_RUBRIC_SET = frozenset(RUBRIC)

_DESCRIPTIONS = {
    "intent": "stays close to the original idea",
    "has_role": "states a role or context",
    "states_task": "states the task with an action verb",
    "has_constraints": "states constraints",
    "output_format": "specifies the output format",
    "examples": "includes an example",
    "variables": "keeps the idea's template variables",
    "vague_words": "avoids vague words",
    "no_duplicate_lines": "has no repeated lines",
    "length": "has a workable length (rubric)",
    "distinctness": "differs from its sibling variants",
    "log_words": "is longer (log of the word count)",
    "intent_missing": "has no original idea to compare with",
    "distinctness_missing": "has no sibling variants",
    "on_topic_missing": "was not checked for drift",
    "specificity": "its sentences are about the idea",
    "specificity_missing": "was not checked for specificity",
    "addressed_to_model": "instructs a model",
    "not_deliverable": "is a prompt, not the deliverable",
    "not_degenerate": "has no repetition",
    "on_topic": "stays on the idea",
    "no_scaffolding": "leaks no scaffolding",
    "opening=you_are": "opens with 'You are ...'",
    "opening=act_as": "opens with 'I want you to act as ...'",
    "opening=imperative": "opens with an imperative ('Write ...')",
    "opening=question": "opens with a question",
    "opening=other": "opens some other way",
    "has_list": "has a list",
    "has_headings": "has headings or labelled " "sections",
    "has_question": "asks a question",
    "has_variables": "has {variables}",
    "has_quotes": "quotes text",
    "has_code": "has code",
    "multiline": "spans several lines",
    "sentence_words": "has longer sentences",
    "second_person": "addresses the model as 'you' often",
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
    """Everything the learned model sees of a prompt: the ranker's feature vector, the derived signals and the
    prompt's words (``word=…``; training keeps those that enough rated prompts use, and not most of them)."""
    return {**expand(feature_vector(text, ctx)), **lexical_features(text)}


def describe(feature: str) -> str:
    if feature in _DESCRIPTIONS:
        return _DESCRIPTIONS[feature]
    if feature.startswith("word="):
        return f"uses the word '{feature.split('=', 1)[1]}'"
    if feature.startswith("words>="):
        return f"has at least {feature.split('>=', 1)[1]} words"
    if "=" in feature:
        key, value = feature.split("=", 1)
        return {
            "phase": f"comes from phase {value}",
            "provider": f"was made by provider {value}",
            "model": f"was made by model {value}",
            "persona": f"uses persona {value}",
        }.get(key, feature)
    return feature


class LearnedModel:
    """A trained model as a scorer (the `LearnedScorer` protocol): σ(w · normalized features), 0-1."""

    def __init__(self, version: ModelVersion) -> None:
        self.record = version
        self.version = version.version
        self.name = f"v{version.version}" if version.version else "candidate"
        self._terms: list[tuple[str, float, float, float]] = [
            (
                f,
                float(version.weights.get(f, 0.0)),
                float(version.normalization[f][0]),
                float(version.normalization[f][1]),
            )
            for f in version.feature_names
            if version.weights.get(f)
        ]

    def logit(self, features: dict[str, float]) -> float:
        x = expand(features)
        return sum(w * (float(x.get(f, 0.0)) - mean) / scale for f, w, mean, scale in self._terms)

    def score(self, features: dict[str, float]) -> float:
        z = max(-60.0, min(60.0, self.logit(features)))
        return 1.0 / (1.0 + math.exp(-z))


class LearnedRanking(LearnedModel):
    """An adopted model as the ranker uses it (the `RubricReweighting` protocol): it re-weights the rubric checks it
    learned, blending their default weights with the learned ones by `trust`, and scores the rest of what it
    learned (length bands, form, metadata: every feature that is not a rubric check) as the `learned` component,
    mapped linearly to 0-1 over the range seen in training."""

    def __init__(self, version: ModelVersion) -> None:
        super().__init__(version)
        rw = version.params.get("reweighting") or {}
        self.trust = float(rw.get("trust", 0.0))
        self.learned_rubric = {k: float(v) for k, v in (rw.get("rubric") or {}).items()}
        self.extra_weight = float(rw.get("extra_weight", 0.0))
        lo, hi = rw.get("extra_range") or (0.0, 1.0)
        self._lo, self._span = float(lo), max(float(hi) - float(lo), 1e-12)
        self._extra_terms = [t for t in self._terms if t[0] not in _RUBRIC_SET]
        self.component_weight = round(self.trust * self.extra_weight, 4)

    def rubric_weights(self, defaults: dict[str, float]) -> dict[str, float]:
        t = self.trust
        if t <= 0:
            return {}
        return {name: round((1 - t) * defaults.get(name, 0.0) + t * w, 4) for name, w in self.learned_rubric.items()}

    def extra_logit(self, features: dict[str, float]) -> float:
        x = expand(features)
        return sum(w * (float(x.get(f, 0.0)) - mean) / scale for f, w, mean, scale in self._extra_terms)

    def score(self, features: dict[str, float]) -> float:
        return max(0.0, min(1.0, (self.extra_logit(features) - self._lo) / self._span))


def scorer_for(version: ModelVersion) -> LearnedModel:
    """The ranker's scorer for a stored model: one that re-weights the rubric, or (for a model stored before
    re-weighting existed) a plain component with ``ranking.learned_weight``."""
    return LearnedRanking(version) if "reweighting" in version.params else LearnedModel(version)


def reweighting(model: Fit, items: Sequence[Item], defaults: dict[str, float], budget: float) -> dict[str, Any]:
    """The fitted model on the rubric's scale: a learned weight for every rubric check the model learned, and the
    weight and 0-1 range of the `learned` component (the rest of the model). The checks it learned plus that
    component share the weight their defaults have plus `budget`; the non-prompt checks never drop below their
    defaults."""
    raw = {n: model.weights[n] / model.normalization[n][1] for n in model.feature_names if model.weights.get(n)}
    fitted = [n for n in RUBRIC if n in model.normalization]
    extras = [
        (n, model.weights[n], *model.normalization[n])
        for n in model.feature_names
        if n not in _RUBRIC_SET and model.weights.get(n)
    ]
    values = [sum(w * (it.features.get(n, 0.0) - m) / sc for n, w, m, sc in extras) for it in items] or [0.0]
    lo, hi = min(values), max(values)
    raw_total = sum(abs(raw.get(n, 0.0)) for n in fitted) + (hi - lo)
    target = sum(defaults.get(n, 0.0) for n in fitted) + budget
    scale = target / raw_total if raw_total > 1e-12 else 0.0
    rubric_w = {}
    for n in fitted:
        w = scale * raw.get(n, 0.0)
        if n in NON_PROMPT_CHECKS:
            w = max(w, defaults.get(n, 0.0))
        rubric_w[n] = round(w, 4)
    return {"rubric": rubric_w, "extra_weight": round(scale * (hi - lo), 4), "extra_range": [lo, hi], "budget": budget}


def trust_for(units: int, z: float) -> dict[str, float]:
    """How much say the learned weights get: evidence (n / (n + EVIDENCE_HALF)) × confidence (0 at a validation
    gain of one standard error or less, 1 at three or more)."""
    evidence = units / (units + EVIDENCE_HALF) if units > 0 else 0.0
    confidence = max(0.0, min(1.0, (z - 1.0) / 2.0)) if math.isfinite(z) else 0.0
    return {
        "trust": round(evidence * confidence, 4),
        "evidence": round(evidence, 4),
        "confidence": round(confidence, 4),
    }


def paired_gain(
    better: Sequence[float],
    other: Sequence[float],
    pairs: Sequence[tuple[int, int]],
    groups: Sequence[tuple[str, ...]],
    weights: Sequence[float] | None = None,
) -> tuple[float, float]:
    """The pairwise-accuracy gain of scores `better` over `other` on `pairs`, and its standard error: each pair's
    gain is shared among its groups (the prompts it compares, or its choice session), and the error comes from
    the spread of the groups' mean gains (pairs that share a prompt are not independent)."""
    if not pairs:
        return 0.0, math.inf

    def correct(scores: Sequence[float], a: int, b: int) -> float:
        return 1.0 if scores[a] > scores[b] else 0.5 if scores[a] == scores[b] else 0.0

    weights = weights or [1.0] * len(pairs)
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    total = wsum = 0.0
    for (a, b), group, w in zip(pairs, groups, weights):
        delta = correct(better, a, b) - correct(other, a, b)
        total += w * delta
        wsum += w
        for g in group:
            sums[g] = sums.get(g, 0.0) + w * delta
            counts[g] = counts.get(g, 0.0) + w
    gain = total / wsum if wsum else 0.0
    means = [sums[g] / counts[g] for g in sums if counts[g] > 0]
    if len(means) < 3:
        return gain, math.inf
    avg = sum(means) / len(means)
    sd = math.sqrt(sum((m - avg) ** 2 for m in means) / (len(means) - 1))
    return gain, max(2.0 * sd / math.sqrt(len(means)), 1e-9)


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
    #: Each pair's weight (decay, and rating pairs scaled so a rated prompt weighs about one choice session).
    train_weights: list[float] = field(default_factory=list)
    validation_weights: list[float] = field(default_factory=list)
    #: What each validation pair is evidence about: the two rated prompts, or the choice session.
    validation_groups: list[tuple[str, ...]] = field(default_factory=list)
    #: Rated prompts and choice sessions on the training side: the amount of evidence.
    train_units: int = 0


def in_validation(key: str, seed: int, fraction: float) -> bool:
    """A stable, seeded assignment of a prompt or session to the validation split."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def decay(created_at: datetime, now: datetime | None, half_life_days: float | None) -> float:
    """The weight of feedback given at `created_at`: 1, or 0.5 per `half_life_days` of age when set."""
    if not half_life_days or now is None:
        return 1.0
    age = max(0.0, (now - created_at).total_seconds() / 86400.0)
    return 0.5 ** (age / half_life_days)


def build_dataset(
    feedback: Sequence[Feedback],
    prompts: dict[str, Prompt],
    contexts: dict[str, FeatureContext],
    *,
    seed: int,
    validation_split: float,
    half_life_days: float | None = None,
    now: datetime | None = None,
) -> Dataset:
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

    if half_life_days and now is None:
        now = utcnow()
    data = Dataset(items=items)
    totals: dict[str, list[tuple[int, float]]] = {}
    choices: dict[str, dict[str, tuple[bool, float]]] = {}
    for f in feedback:
        if f.prompt_id not in prompts:
            continue
        weight = decay(f.created_at, now, half_life_days)
        if f.rating is not None:
            totals.setdefault(f.prompt_id, []).append((f.rating, weight))
            data.ratings += 1
        if f.chosen is not None and f.session_id:
            picks = choices.setdefault(f.session_id, {})
            was, w0 = picks.get(f.prompt_id, (False, 0.0))
            picks[f.prompt_id] = (was or f.chosen, max(w0, weight))
            data.choices += 1
    data.feedback_rows = data.ratings + data.choices
    sides: dict[bool, list[int]] = {False: [], True: []}
    item_weight: dict[int, float] = {}
    for pid in sorted(totals):
        i = item(pid)
        wsum = sum(w for _, w in totals[pid])
        items[i].rating = (
            sum(r * w for r, w in totals[pid]) / wsum if wsum > 0 else sum(r for r, _ in totals[pid]) / len(totals[pid])
        )
        items[i].ratings = len(totals[pid])
        item_weight[i] = max(w for _, w in totals[pid])
        sides[in_validation(pid, seed, validation_split)].append(i)
    pairs: dict[bool, list[tuple[int, int, float, tuple[str, ...]]]] = {False: [], True: []}
    for side, members in sides.items():
        share = 2.0 / max(len(members) - 1, 1)  # each rated prompt weighs about one unit in all
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                ra, rb = items[a].rating, items[b].rating
                if ra is not None and rb is not None and ra != rb:
                    pa, pb = items[a].prompt.id, items[b].prompt.id
                    pairs[side].append(
                        (a, b, share * min(item_weight[a], item_weight[b]), (pa, pb))
                        if ra > rb
                        else (b, a, share * min(item_weight[a], item_weight[b]), (pa, pb))
                    )
    data.train_units = len(sides[False])
    for session_id in sorted(choices):
        picks = choices[session_id]
        side = in_validation(session_id, seed, validation_split)
        chosen = [(item(p), w) for p, (c, w) in sorted(picks.items()) if c]
        skipped = [item(p) for p, (c, _) in sorted(picks.items()) if not c]
        made = [(c, s, w, (f"session:{session_id}",)) for c, w in chosen for s in skipped]
        pairs[side].extend(made)
        if made and not side:
            data.train_units += 1
    rng = random.Random(seed)
    for side in (False, True):
        if len(pairs[side]) > MAX_PAIRS:
            pairs[side] = rng.sample(pairs[side], MAX_PAIRS)
    data.train = [(a, b) for a, b, _, _ in pairs[False]]
    data.train_weights = [w for _, _, w, _ in pairs[False]]
    data.validation = [(a, b) for a, b, _, _ in pairs[True]]
    data.validation_weights = [w for _, _, w, _ in pairs[True]]
    data.validation_groups = [g for _, _, _, g in pairs[True]]
    return data


# ------------------------------------------------------------------------------------------------ fitting


@dataclass
class Fit:
    feature_names: list[str]
    weights: dict[str, float]
    normalization: dict[str, tuple[float, float]]
    train_loss: float
    train_accuracy: float


def fit(
    items: Sequence[Item],
    pairs: Sequence[tuple[int, int]],
    *,
    learning_rate: float,
    batch_size: int,
    epochs: int,
    seed: int,
    weights: Sequence[float] | None = None,
) -> Fit:
    """Pairwise logistic regression by seeded mini-batch gradient descent (each pair weighted by `weights`, 1 by
    default); deterministic for a given input."""
    import numpy as np

    used = sorted({i for pair in pairs for i in pair})
    frequency: dict[str, int] = {}
    for i in used:
        for name in items[i].features:
            if name.startswith("word="):
                frequency[name] = frequency.get(name, 0) + 1
    low, high = max(5, 0.04 * len(used)), 0.5 * len(used)
    names = sorted(
        {
            name
            for it in items
            for name in it.features
            if not name.startswith("word=") or low <= frequency.get(name, 0) <= high
        }
    )
    matrix = np.array([[it.features.get(n, 0.0) for n in names] for it in items], dtype=np.float64)
    mean = matrix[used].mean(axis=0)
    scale = matrix[used].std(axis=0)
    keep = scale > 1e-9
    names = [n for n, k in zip(names, keep) if k]
    mean, scale = mean[keep], scale[keep]
    z = (matrix[:, keep] - mean) / scale
    better = np.array([p[0] for p in pairs])
    worse = np.array([p[1] for p in pairs])
    diffs = z[better] - z[worse]
    pair_w = np.ones(len(diffs)) if weights is None else np.asarray(weights, dtype=np.float64)
    pair_w = pair_w / pair_w.mean() if len(pair_w) and pair_w.mean() > 0 else pair_w
    w = np.zeros(len(names))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(diffs))
        for start in range(0, len(order), batch_size):
            pick = order[start : start + batch_size]
            batch = diffs[pick]
            margin = np.clip(batch @ w, -60, 60)
            grad = -(batch.T @ (pair_w[pick] / (1.0 + np.exp(margin)))) / len(batch) + L2 * w
            w -= learning_rate * grad
    margins = diffs @ w
    loss = float(np.mean(np.logaddexp(0.0, -margins)) + L2 / 2 * float(w @ w))
    accuracy = float(np.mean((margins > 0) + 0.5 * (margins == 0))) if len(margins) else 0.0
    return Fit(
        feature_names=names,
        weights={n: round(float(v), 6) for n, v in zip(names, w)},
        normalization={n: (float(m), float(s)) for n, m, s in zip(names, mean, scale)},
        train_loss=loss,
        train_accuracy=accuracy,
    )


def pairwise_accuracy(
    scores: Sequence[float], pairs: Sequence[tuple[int, int]], weights: Sequence[float] | None = None
) -> float:
    """Share of pairs (weighted by `weights`, 1 by default) whose preferred prompt scores higher (a tie counts
    half)."""
    if not pairs:
        return 0.0
    weights = weights or [1.0] * len(pairs)
    won = sum(
        w * (1.0 if scores[a] > scores[b] else 0.5 if scores[a] == scores[b] else 0.0)
        for (a, b), w in zip(pairs, weights)
    )
    total = sum(weights)
    return won / total if total else 0.0


def weight_changes(model: LearnedRanking, defaults: dict[str, float]) -> list[dict[str, Any]]:
    """Each re-weighted check (and the learned component): its default weight, its learned weight at full trust
    and the weight the ranker uses with this model, largest change first."""
    used = model.rubric_weights(defaults)
    rows = [
        {
            "name": n,
            "default": defaults.get(n, 0.0),
            "learned": w,
            "weight": used.get(n, defaults.get(n, 0.0)),
            "description": describe(n),
        }
        for n, w in model.learned_rubric.items()
    ]
    rows.sort(key=lambda r: (-abs(r["weight"] - r["default"]), r["name"]))
    rows.append(
        {
            "name": "learned",
            "default": 0.0,
            "learned": model.extra_weight,
            "weight": model.component_weight,
            "description": "what your ratings favour beyond the rubric (length bands, form, metadata)",
        }
    )
    return rows


def top_features(model: Fit, items: Sequence[Item], limit: int = TOP_FEATURES) -> list[dict[str, Any]]:
    """Pattern detection: the features with the largest weights (on standardized values, so comparable), the
    direction they pull, and the average rating of rated prompts with and without them."""
    rated = [it for it in items if it.rating is not None]
    ranked = sorted(model.weights.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    out = []
    for name, weight in ranked[:limit]:
        if weight == 0:
            continue
        entry: dict[str, Any] = {
            "feature": name,
            "weight": round(weight, 4),
            "direction": "higher" if weight > 0 else "lower",
            "description": describe(name),
        }
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
    trust: float = Field(
        0.0,
        description="how far the candidate moves the rubric's weights toward the learned ones, "
        "0-1 (evidence × confidence)",
    )
    evidence: float = Field(0.0, description="n / (n + 50) for n rated prompts and choice sessions in training")
    confidence: float = Field(0.0, description="0-1 from the fully learned ranker's validation gain over the rubric")
    full_accuracy: float = Field(0.0, description="validation pairwise accuracy of the fully learned ranker")
    gain_z: float = Field(
        0.0,
        description="the candidate's validation gain over the current ranker, in standard " "errors (adoption needs 2)",
    )
    learned_weights: list[dict[str, Any]] = Field(
        default_factory=list, description="each check's weight before and with the candidate"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    wall_ms: float = 0.0


ContextBuilder = Callable[[list[Prompt]], Awaitable[dict[str, FeatureContext]]]


def training_feedback(store: Store, settings: Settings) -> list[Any]:
    """The feedback a training run learns from; bad input (nothing is trained) when learning is disabled or
    there is too little of it. What `train` checks first, and what a submitted train job is checked with."""
    if not settings.learning.enabled:
        raise InputError("learning is disabled (learning.enabled: false); enable it to train a model")
    feedback = store.training_feedback()
    check_enough(len(feedback), settings.learning.min_feedback)
    return list(feedback)


def check_enough(rows: int, needed: int) -> None:
    if rows < needed:
        raise InputError(
            f"training needs at least {needed} ratings or choices (learning.min_feedback); there "
            f"{'is' if rows == 1 else 'are'} {rows}: rate prompts with 'prompt-alchemy rate ID SCORE' "
            f"or pick the best with 'prompt-alchemy generate --interactive'"
        )


async def run_training(
    store: Store,
    settings: Settings,
    contexts_for: ContextBuilder,
    *,
    dry_run: bool = False,
    trigger: str = "cli",
    now: datetime | None = None,
    run_id: str | None = None,
) -> TrainingReport:
    """Train a candidate on all feedback, validate it against the ranker as it is, and (unless `dry_run`) store
    it as a new version, active only if it is better. Too little feedback is bad input and changes nothing.
    `run_id` (a train job's) is kept in the version's params, so a re-run of the job finds it stored."""
    import asyncio

    from prompt_alchemy.ranking.ranker import DEFAULT_LEARNED_WEIGHT, Ranker

    started = time.perf_counter()
    cfg = settings.learning
    feedback = training_feedback(store, settings)
    prompts = store.get_prompts(sorted({f.prompt_id for f in feedback}))
    contexts = await contexts_for(list(prompts.values()))
    when = now or utcnow()
    data = build_dataset(
        feedback,
        prompts,
        contexts,
        seed=cfg.seed,
        validation_split=cfg.validation_split,
        half_life_days=cfg.half_life_days,
        now=when,
    )
    check_enough(data.feedback_rows, cfg.min_feedback)
    if not data.train or not data.validation:
        where = "training" if not data.train else "validation"
        raise InputError(
            f"the feedback gives no preference pairs for the {where} split ({len(data.items)} prompts, "
            f"{data.ratings} ratings, {data.choices} choices): rate more prompts, with different scores, or pick "
            f"among variants with 'generate --interactive'"
        )
    params: dict[str, Any] = {
        "learning_rate": cfg.learning_rate,
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "validation_split": cfg.validation_split,
        "seed": cfg.seed,
        "l2": L2,
        "half_life_days": cfg.half_life_days,
        **({"run": run_id} if run_id else {}),
    }
    result = await asyncio.to_thread(
        fit,
        data.items,
        data.train,
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        seed=cfg.seed,
        weights=data.train_weights,
    )
    patterns = top_features(result, data.items)
    defaults = settings.ranking.weights.model_dump()
    budget = settings.ranking.learned_weight or DEFAULT_LEARNED_WEIGHT
    shape = reweighting(result, data.items, defaults, budget)

    def version_with(trust: float) -> ModelVersion:
        return ModelVersion(
            kind=KIND,
            status="rejected",
            feature_names=result.feature_names,
            weights=result.weights,
            normalization=result.normalization,
            params={**params, "reweighting": {**shape, "trust": trust}},
            training_size=data.feedback_rows,
            train_pairs=len(data.train),
            validation_pairs=len(data.validation),
            trigger=trigger,
            created_at=when,
        )

    current = store.active_model()
    current_scorer = scorer_for(current) if current is not None else None

    def ranker_scores(learned: LearnedModel | None) -> list[float]:
        ranker = Ranker.from_settings(settings, learned=learned)
        if learned is not None and ranker.learned_weight <= 0:
            ranker.learned_weight = DEFAULT_LEARNED_WEIGHT  # validate the model even where ranking turns it off
        return [ranker.score(it.prompt.content, it.ctx).total for it in data.items]

    def accuracy(scores: list[float]) -> float:
        return pairwise_accuracy(scores, data.validation, data.validation_weights)

    base_scores = ranker_scores(None)
    baseline = accuracy(base_scores)
    full_scores = ranker_scores(LearnedRanking(version_with(1.0)))
    full_acc = accuracy(full_scores)
    full_gain, full_se = paired_gain(
        full_scores, base_scores, data.validation, data.validation_groups, data.validation_weights
    )
    trust = trust_for(data.train_units, full_gain / full_se if full_se > 0 else 0.0)
    candidate = version_with(trust["trust"])
    scorer = LearnedRanking(candidate)
    current_scores = ranker_scores(current_scorer) if current_scorer else base_scores
    current_acc = accuracy(current_scores)
    candidate_scores = ranker_scores(scorer)
    candidate_acc = accuracy(candidate_scores)
    model_acc = accuracy([LearnedModel(candidate).logit(it.features) for it in data.items])
    gain, se = paired_gain(
        candidate_scores, current_scores, data.validation, data.validation_groups, data.validation_weights
    )
    z = gain / se if se > 0 and math.isfinite(se) else 0.0
    better = candidate_acc > current_acc + 1e-9
    adopted = better and z >= MIN_Z
    against = f"the active model v{current.version}" if current else "the rubric alone (no model yet)"
    if adopted:
        reason = (
            f"adopted: validation pairwise accuracy {candidate_acc:.3f} beats {current_acc:.3f} of {against} "
            f"({z:.1f} standard errors); trust {trust['trust']:.2f}"
        )
    elif better:
        reason = (
            f"not adopted: validation pairwise accuracy {candidate_acc:.3f} beats {current_acc:.3f} of "
            f"{against} by only {z:.1f} standard errors (needs {MIN_Z:g}): too little evidence yet"
        )
    else:
        reason = (
            f"not adopted: validation pairwise accuracy {candidate_acc:.3f} does not beat {current_acc:.3f} of "
            f"{against}"
        )
    if dry_run:
        reason = f"dry run, nothing stored; would be {reason}"
    changed = weight_changes(scorer, defaults)
    metrics = {
        "validation_accuracy": round(candidate_acc, 4),
        "current_accuracy": round(current_acc, 4),
        "baseline_accuracy": round(baseline, 4),
        "model_validation_accuracy": round(model_acc, 4),
        "full_validation_accuracy": round(full_acc, 4),
        "gain_z": round(z, 2),
        **trust,
        "train_accuracy": round(result.train_accuracy, 4),
        "train_loss": round(result.train_loss, 5),
        "ratings": data.ratings,
        "choices": data.choices,
        "prompts": len(data.items),
        "train_units": data.train_units,
        "compared_with": current.version if current else None,
        "top_features": patterns,
        "learned_weights": changed,
    }
    version = None
    if not dry_run:
        saved = store.save_model(
            candidate.model_copy(
                update={"status": "adopted" if adopted else "rejected", "active": adopted, "metrics": metrics}
            )
        )
        version = saved.version
        store.record_maintenance(MAINTENANCE_TASK, when, f"v{version} {saved.status}")
    log.info("training (%s): %s", trigger, reason)
    return TrainingReport(
        dry_run=dry_run,
        better=adopted,
        adopted=adopted and not dry_run,
        stored=not dry_run,
        version=version,
        reason=reason,
        trigger=trigger,
        current_version=current.version if current else None,
        current_accuracy=round(current_acc, 4),
        candidate_accuracy=round(candidate_acc, 4),
        baseline_accuracy=round(baseline, 4),
        model_accuracy=round(model_acc, 4),
        train_accuracy=round(result.train_accuracy, 4),
        train_loss=round(result.train_loss, 5),
        train_pairs=len(data.train),
        validation_pairs=len(data.validation),
        feedback_rows=data.feedback_rows,
        ratings=data.ratings,
        choices=data.choices,
        prompts=len(data.items),
        top_features=patterns,
        trust=trust["trust"],
        evidence=trust["evidence"],
        confidence=trust["confidence"],
        full_accuracy=round(full_acc, 4),
        gain_z=round(z, 2),
        learned_weights=changed,
        params=params,
        wall_ms=round((time.perf_counter() - started) * 1000, 1),
    )

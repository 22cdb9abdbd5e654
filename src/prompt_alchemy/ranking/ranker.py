"""The ranker: a weighted mean of the rubric checks, plus the AI judge's score when present, plus a learned
model's score when one exists. Every score carries its components (value, weight, where the weight came from,
reason), so it is explainable and — the judge aside — reproducible.

total = Σ |weight|·value' / Σ |weight| over the components present, where value' is the value, or 1 − value for a
negative weight (only a learned weight is negative: the user prefers the check failed). A missing part (no idea
to check intent against, no siblings, no judge, an unscored judge reply, no learned model) is left out of both
sums, never filled in with a default; an unscored judge is recorded in ``PromptScore.notes``.

The learned scorer (supplied by the learning loop) is any object with ``score(features: dict[str, float]) ->
float`` returning 0–1; it is given :func:`prompt_alchemy.ranking.features.feature_vector` of the prompt. A scorer
that also re-weights the rubric (:class:`RubricReweighting`, what training adopts) gives the weights of the checks
it learned, and the weight of its own component; every other check keeps its default or configured weight.

Whatever the weights, a text that fails a non-prompt check ranks below every usable prompt: the gate reads the
checks' values, never their weights, so learning cannot promote a non-prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from prompt_alchemy.models import PromptScore, ScoreComponent
from prompt_alchemy.ranking.features import (
    NON_PROMPT_CHECKS,
    FeatureContext,
    feature_vector,
    lexical_features,
    lexical_similarity,
    rubric,
)

if TYPE_CHECKING:
    from prompt_alchemy.config import Settings
    from prompt_alchemy.ranking.judge import JudgeScore

DEFAULT_WEIGHTS: dict[str, float] = {
    "intent": 3.0,
    "has_role": 1.0,
    "states_task": 1.0,
    "has_constraints": 1.0,
    "output_format": 1.0,
    "examples": 0.5,
    "variables": 1.0,
    "vague_words": 0.5,
    "no_duplicate_lines": 0.5,
    "length": 1.0,
    "distinctness": 0.5,
    "specificity": 1.5,
    "addressed_to_model": 1.0,
    "not_deliverable": 1.0,
    "not_degenerate": 1.0,
    "on_topic": 1.0,
    "no_scaffolding": 1.0,
}
#: A rejected text's total is scaled by this, so that its stored score also reads as poor.
REJECTED_SCALE = 0.3
DEFAULT_JUDGE_WEIGHT = 4.0
DEFAULT_LEARNED_WEIGHT = 3.0


@runtime_checkable
class LearnedScorer(Protocol):
    """A trained model over :func:`feature_vector`; `score` returns 0–1. `name` describes it in reasons."""

    def score(self, features: dict[str, float]) -> float: ...


@runtime_checkable
class RubricReweighting(Protocol):
    """A learned scorer that also re-weights the rubric: `rubric_weights(defaults)` gives the weight of each check
    it learned (from the ranker's default or configured weights), `component_weight` the weight of its own
    `learned` component."""

    component_weight: float

    def score(self, features: dict[str, float]) -> float: ...

    def rubric_weights(self, defaults: dict[str, float]) -> dict[str, float]: ...


class ScoredPrompt(BaseModel):
    """One ranked prompt: its id (None for ad-hoc text), the score with components, and its feature vector."""

    id: str | None = None
    content: str
    score: PromptScore
    features: dict[str, float] = Field(default_factory=dict)
    judge: dict[str, Any] | None = None
    rank: int | None = None


class Ranker:
    def __init__(
        self,
        weights: dict[str, float] | None = None,
        *,
        judge_weight: float = DEFAULT_JUDGE_WEIGHT,
        learned: LearnedScorer | None = None,
        learned_weight: float = DEFAULT_LEARNED_WEIGHT,
    ) -> None:
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.judge_weight = judge_weight
        self.learned = learned
        self.learned_weight = learned_weight

    @classmethod
    def from_settings(cls, settings: Settings, learned: LearnedScorer | None = None) -> Ranker:
        cfg = settings.ranking
        return cls(
            cfg.weights.model_dump(), judge_weight=cfg.judge_weight, learned=learned, learned_weight=cfg.learned_weight
        )

    def score(self, text: str, ctx: FeatureContext | None = None, judge: JudgeScore | None = None) -> PromptScore:
        """The weighted score of one prompt, with a component per rubric check, the judge and the learned model."""
        ctx = ctx or FeatureContext()
        use_learned = self.learned is not None and self.learned_weight > 0
        reweighting = use_learned and isinstance(self.learned, RubricReweighting)
        learned_weights = self.learned.rubric_weights(self.weights) if reweighting else {}  # type: ignore[union-attr]
        components = []
        for f in rubric(text, ctx):
            weight = self.weights.get(f.name, 0.0)
            if f.name in learned_weights:
                components.append(
                    ScoreComponent(
                        name=f.name,
                        value=round(f.value, 4),
                        weight=learned_weights[f.name],
                        reason=f.reason,
                        weight_source="learned",
                        default_weight=weight,
                    )
                )
            else:
                components.append(
                    ScoreComponent(
                        name=f.name,
                        value=round(f.value, 4),
                        weight=weight,
                        reason=f.reason,
                        weight_source=_source(weight, DEFAULT_WEIGHTS.get(f.name)),
                    )
                )
        notes: list[str] = []
        if judge is not None:
            if judge.scored and judge.normalized is not None:
                components.append(
                    ScoreComponent(
                        name="judge",
                        value=judge.normalized,
                        weight=self.judge_weight,
                        reason=judge.reason(),
                        weight_source=_source(self.judge_weight, DEFAULT_JUDGE_WEIGHT),
                    )
                )
                if judge.error:
                    notes.append(f"judge: {judge.error}")
            else:
                notes.append(f"judge: {judge.error or 'unscored'}; the score leaves the judge out")
        if use_learned:
            seen = feature_vector(text, ctx)
            if reweighting:
                seen.update(lexical_features(text))
            value = float(self.learned.score(seen))  # type: ignore[union-attr]
            value = max(0.0, min(1.0, value))
            name = getattr(self.learned, "name", type(self.learned).__name__)
            if reweighting:
                weight = float(self.learned.component_weight)  # type: ignore[union-attr]
                if weight > 0:
                    components.append(
                        ScoreComponent(
                            name="learned",
                            value=round(value, 4),
                            weight=weight,
                            weight_source="learned",
                            reason=f"learned model {name}: what your ratings favour beyond the rubric (length bands, "
                            f"form, metadata): {value:.2f}",
                        )
                    )
            else:
                components.append(
                    ScoreComponent(
                        name="learned",
                        value=round(value, 4),
                        weight=self.learned_weight,
                        reason=f"learned model {name}: predicted {value:.2f}",
                        weight_source=_source(self.learned_weight, DEFAULT_LEARNED_WEIGHT),
                    )
                )
        total_weight = sum(abs(c.weight) for c in components)
        total = (
            sum(abs(c.weight) * (c.value if c.weight >= 0 else 1.0 - c.value) for c in components) / total_weight
            if total_weight
            else 0.0
        )
        rejected = [c.reason for c in components if c.name in NON_PROMPT_CHECKS and c.value < 0.5]
        if rejected:
            total *= REJECTED_SCALE
            notes.append("not a usable prompt: " + "; ".join(rejected))
        return PromptScore(total=round(total, 4), components=components, notes=notes, rejected=rejected)

    def rank(self, items: Sequence[tuple[str, str, FeatureContext, JudgeScore | None]]) -> list[ScoredPrompt]:
        """Score (id, text, context, judge) items and return them best first, ties broken by input order."""
        scored = [
            ScoredPrompt(
                id=pid,
                content=text,
                score=self.score(text, ctx, judge),
                features=feature_vector(text, ctx),
                judge=judge.model_dump() if judge is not None else None,
            )
            for pid, text, ctx, judge in items
        ]
        order = sorted(range(len(scored)), key=lambda i: (-scored[i].score.rank_key[0], -scored[i].score.total, i))
        ranked = [scored[i] for i in order]
        for position, item in enumerate(ranked, 1):
            item.rank = position
        return ranked


def _source(weight: float, default: float | None) -> str:
    return "default" if default is not None and abs(weight - default) < 1e-12 else "config"


def score_text(text: str, similarity: float | None = None, weights: dict[str, float] | None = None) -> PromptScore:
    """Score one prompt from its text and (optionally) its similarity to the idea, with default weights."""
    return Ranker(weights).score(text, FeatureContext(idea_similarity=similarity))


def prompt_meta(prompt: Any) -> dict[str, str | None]:
    """What the feature vector's one-hots see of a prompt: its phase, provider, model and persona."""
    return {
        "phase": prompt.phase.value if prompt.phase else None,
        "provider": prompt.provider or None,
        "model": prompt.model or None,
        "persona": prompt.persona_used,
    }


def feature_contexts(
    texts: Sequence[str],
    *,
    idea: str | None = None,
    vectors: Any = None,
    idea_vector: Any = None,
    metas: Sequence[dict[str, str | None]] | None = None,
) -> list[FeatureContext]:
    """Contexts for a group of sibling prompts (variants of one idea). With `vectors` (unit embeddings of the
    texts, one row each) and `idea_vector`, intent and distinctness use cosine similarity; without them,
    distinctness falls back to word-trigram overlap and intent is left out. `metas` gives each prompt's phase,
    provider, model and persona for the feature vector (see prompt_meta)."""
    n = len(texts)
    metas = list(metas) if metas is not None else [{} for _ in range(n)]
    idea_sims: list[float | None] = [None] * n
    sibling: list[float | None] = [None] * n
    measure = "embedding"
    if vectors is not None and n:
        import numpy as np

        matrix = np.asarray(vectors, dtype=np.float32)
        if idea_vector is not None:
            idea_sims = [float(x) for x in matrix @ np.asarray(idea_vector, dtype=np.float32)]
        if n > 1:
            sims = matrix @ matrix.T
            np.fill_diagonal(sims, -np.inf)
            sibling = [float(x) for x in sims.max(axis=1)]
    elif n > 1:
        measure = "lexical"
        for i in range(n):
            sibling[i] = max(lexical_similarity(texts[i], texts[j]) for j in range(n) if j != i)
    return [
        FeatureContext(
            idea=idea,
            idea_similarity=idea_sims[i],
            sibling_similarity=sibling[i],
            sibling_measure=measure,
            phase=metas[i].get("phase"),
            provider=metas[i].get("provider"),
            model=metas[i].get("model"),
            persona=metas[i].get("persona"),
        )
        for i in range(n)
    ]

"""The ranker: a weighted combination of prompt features; every score carries its components."""

from __future__ import annotations

from prompt_alchemy.models import PromptScore, ScoreComponent
from prompt_alchemy.ranking.features import Feature, intent_feature, structure_features

DEFAULT_WEIGHTS: dict[str, float] = {
    "intent": 3.0,
    "has_role": 1.0,
    "states_task": 1.0,
    "has_constraints": 1.0,
    "output_format": 1.0,
    "vague_words": 0.5,
    "no_duplicate_lines": 0.5,
    "length": 1.0,
}


def score_text(text: str, similarity: float | None = None,
               weights: dict[str, float] | None = None) -> PromptScore:
    weights = weights or DEFAULT_WEIGHTS
    feats: list[Feature] = structure_features(text)
    intent = intent_feature(similarity)
    if intent is not None:
        feats.append(intent)
    components = [ScoreComponent(name=f.name, value=round(f.value, 4), weight=weights.get(f.name, 0.0),
                                 reason=f.reason) for f in feats]
    total_weight = sum(c.weight for c in components) or 1.0
    total = sum(c.value * c.weight for c in components) / total_weight
    return PromptScore(total=round(total, 4), components=components)

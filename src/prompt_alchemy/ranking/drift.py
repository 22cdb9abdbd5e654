"""Drift off the idea, measured by embedding: which sentences of a prompt are far from both the idea and from any
instruction a prompt normally gives ("Keep it under 300 words.", "Reply in Markdown.").

A sentence about the idea is near the idea; an instruction about form, tone or quality is near one of the anchor
instructions below; a sentence that is neither ("Use 3D modeling and color gradients" in a cover-letter prompt) is
drift. The result feeds :class:`prompt_alchemy.ranking.features.FeatureContext` (``drift``, ``sentences``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.ranking.features import FeatureContext

#: Instructions any prompt may give, whatever its topic.
ANCHORS: tuple[str, ...] = (
    "You are an expert assistant.", "Your task is to help with the request.", "State your assumptions first.",
    "Keep the answer short and specific.", "Use clear, simple language.", "Reply in Markdown with headings.",
    "Return valid JSON only.", "Use a numbered list of steps.", "Give one concrete example.",
    "Do not invent facts; say when you are unsure.", "Ask a question when something is unclear.",
    "Match the tone to the audience.", "Check your answer before you reply.", "Include tests.",
    "Handle errors and edge cases.", "Explain your reasoning briefly.", "Cite the source of every claim.",
    "Use concrete details instead of generic filler.", "Stay within the word limit.",
    "The result is for the intended readers.", "Output only the final text, with no commentary.",
    "Rank the issues by severity.", "Break the work into steps with timings.", "Keep names and numbers exact.",
    "Suggest a fix for each problem.", "End with a short summary.", "Be honest about trade-offs and risks.",
    "Follow the format exactly.", "Write in a friendly, professional tone.", "Use only the information given.",
)
#: A sentence is drift when its similarity to the idea and to every anchor stays under this (MiniLM).
DRIFT_THRESHOLD = 0.3
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_HEADING = re.compile(r"^\s*(?:#+\s*|</?[a-z_]+>\s*$|[A-Z][A-Za-z ]{0,24}:\s*$)")

_anchor_vectors: dict[tuple[str, str, int], Any] = {}


def sentences(text: str) -> list[str]:
    """The sentences worth checking: at least four words, headings and tags left out."""
    out = []
    for part in _SPLIT.split(text):
        part = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", part).strip()
        part = re.sub(r"^</?[a-z_]+>|</?[a-z_]+>$", "", part).strip()
        if not part or _HEADING.match(part) or len(part.split()) < 4:
            continue
        out.append(part)
    return out


async def measure(embedder: Embedder, texts: list[str], idea_vector: Any) -> list[tuple[tuple[str, ...], int]]:
    """For each text: its drifting sentences and how many sentences were checked. One embedding batch for all."""
    import numpy as np

    key = (embedder.provider, embedder.model, embedder.dimensions)
    if key not in _anchor_vectors:
        _anchor_vectors[key] = np.asarray(await embedder.embed(list(ANCHORS)), dtype=np.float32)
    anchors = _anchor_vectors[key]
    per_text = [sentences(t) for t in texts]
    flat = [s for group in per_text for s in group]
    if not flat:
        return [((), 0) for _ in texts]
    vectors = np.asarray(await embedder.embed(flat), dtype=np.float32)
    idea = np.asarray(idea_vector, dtype=np.float32)
    nearest = np.maximum(vectors @ idea, (vectors @ anchors.T).max(axis=1))
    out: list[tuple[tuple[str, ...], int]] = []
    position = 0
    for group in per_text:
        scores = nearest[position:position + len(group)]
        out.append((tuple(s for s, v in zip(group, scores) if v < DRIFT_THRESHOLD), len(group)))
        position += len(group)
    return out


async def with_drift(embedder: Embedder, contexts: list[FeatureContext], texts: list[str],
                     idea_vector: Any) -> list[FeatureContext]:
    """The contexts with each text's drift measured against the idea (for the ranker's on_topic check)."""
    import dataclasses

    drifts = await measure(embedder, texts, idea_vector)
    return [dataclasses.replace(ctx, drift=drift, sentences=n) for ctx, (drift, n) in zip(contexts, drifts)]

"""Drift off the idea, measured by embedding: which sentences of a prompt are far from both the idea and from any
instruction a prompt normally gives ("Keep it under 300 words.", "Reply in Markdown."), and which sentences are not
related to the idea at all (generic: they would fit any idea).

A sentence about the idea is near the idea; an instruction about form, tone or quality is near one of the anchor
instructions below; a sentence that is neither ("Use 3D modeling and color gradients" in a cover-letter prompt) is
drift. A sentence not near the idea, whether or not it is a usual instruction, is generic. The result feeds
:class:`prompt_alchemy.ranking.features.FeatureContext` (``drift``, ``sentences``, ``generic``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_alchemy.embeddings.base import Embedder
    from prompt_alchemy.ranking.features import FeatureContext

#: Instructions any prompt may give, whatever its topic.
ANCHORS: tuple[str, ...] = (
    "You are an expert assistant.",
    "Your task is to help with the request.",
    "State your assumptions first.",
    "Keep the answer short and specific.",
    "Use clear, simple language.",
    "Reply in Markdown with headings.",
    "Return valid JSON only.",
    "Use a numbered list of steps.",
    "Give one concrete example.",
    "Do not invent facts; say when you are unsure.",
    "Ask a question when something is unclear.",
    "Match the tone to the audience.",
    "Check your answer before you reply.",
    "Include tests.",
    "Handle errors and edge cases.",
    "Explain your reasoning briefly.",
    "Cite the source of every claim.",
    "Use concrete details instead of generic filler.",
    "Stay within the word limit.",
    "The result is for the intended readers.",
    "Output only the final text, with no commentary.",
    "Rank the issues by severity.",
    "Break the work into steps with timings.",
    "Keep names and numbers exact.",
    "Suggest a fix for each problem.",
    "End with a short summary.",
    "Be honest about trade-offs and risks.",
    "Follow the format exactly.",
    "Write in a friendly, professional tone.",
    "Use only the information given.",
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


#: A sentence is related to the idea when its similarity to the idea is at least this (MiniLM); a prompt whose
#: sentences mostly fall below it is generic (see the ranker's specificity check).
RELATED_THRESHOLD = 0.25


@dataclass(frozen=True)
class SentenceCheck:
    """One text's sentences measured against the idea: how many were checked, those far from the idea and from
    every anchor instruction (drift), and those not related to the idea whatever they say (generic)."""

    sentences: int
    drift: tuple[str, ...]
    generic: tuple[str, ...]


async def check_sentences(embedder: Embedder, texts: list[str], idea_vector: Any) -> list[SentenceCheck]:
    """Each text's sentences against the idea and the anchor instructions, in one embedding batch for all texts:
    the one place where sentence-to-idea similarity is computed (for on_topic and specificity)."""
    import numpy as np

    key = (embedder.provider, embedder.model, embedder.dimensions)
    if key not in _anchor_vectors:
        _anchor_vectors[key] = np.asarray(await embedder.embed(list(ANCHORS)), dtype=np.float32)
    anchors = _anchor_vectors[key]
    per_text = [sentences(t) for t in texts]
    flat = [s for group in per_text for s in group]
    if not flat:
        return [SentenceCheck(0, (), ()) for _ in texts]
    vectors = np.asarray(await embedder.embed(flat), dtype=np.float32)
    to_idea = vectors @ np.asarray(idea_vector, dtype=np.float32)
    nearest = np.maximum(to_idea, (vectors @ anchors.T).max(axis=1))
    out: list[SentenceCheck] = []
    position = 0
    for group in per_text:
        end = position + len(group)
        idea_scores, best = to_idea[position:end], nearest[position:end]
        out.append(
            SentenceCheck(
                sentences=len(group),
                drift=tuple(s for s, v in zip(group, best) if v < DRIFT_THRESHOLD),
                generic=tuple(s for s, v in zip(group, idea_scores) if v < RELATED_THRESHOLD),
            )
        )
        position = end
    return out


async def measure(embedder: Embedder, texts: list[str], idea_vector: Any) -> list[tuple[tuple[str, ...], int]]:
    """For each text: its drifting sentences and how many sentences were checked. One embedding batch for all."""
    return [(c.drift, c.sentences) for c in await check_sentences(embedder, texts, idea_vector)]


async def with_drift(
    embedder: Embedder, contexts: list[FeatureContext], texts: list[str], idea_vector: Any
) -> list[FeatureContext]:
    """The contexts with each text's sentences measured against the idea: drift (for the ranker's on_topic check)
    and the sentences not related to the idea (for its specificity check)."""
    import dataclasses

    checks = await check_sentences(embedder, texts, idea_vector)
    return [
        dataclasses.replace(ctx, drift=c.drift, sentences=c.sentences, generic=c.generic)
        for ctx, c in zip(contexts, checks)
    ]

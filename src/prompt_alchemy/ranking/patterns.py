"""Pattern detection: which characteristics of a prompt go with high and with low ratings, with counts and
confidence intervals, and nothing where the evidence is thin.

Every rated prompt counts once, by its mean rating (decayed by ``learning.half_life_days`` when set). For each
characteristic (the sections a prompt has, its length band, how it opens, examples, ``{variables}``, and its
persona, provider, model, target and phase), the prompts with it are compared with those without:

- the difference of their mean ratings, with a 95% Welch interval;
- the share rated 4 or more among the prompts with it, with a 95% Wilson interval.

A characteristic goes with high ratings when the whole interval of the difference is above zero, with low ratings
when it is below zero. One that fewer than :data:`MIN_PROMPTS` rated prompts have (or lack) is listed as thin and
judged not at all; with fewer than :data:`MIN_RATED` rated prompts in all, nothing is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from prompt_alchemy.models import Feedback, Prompt
from prompt_alchemy.ranking.features import examples_feature, opening, rubric, variables, words

#: Rated prompts needed before any pattern is reported.
MIN_RATED = 10
#: Rated prompts a characteristic needs on each side (with it and without it) to be judged.
MIN_PROMPTS = 5
HIGH = 4  # a rating of 4 or more counts as high
_Z = 1.959964
SECTIONS = {
    "has_role": "a role or context",
    "states_task": "a task verb",
    "has_constraints": "constraints",
    "output_format": "an output format",
}
LENGTH_BANDS: tuple[tuple[int, int | None], ...] = ((0, 60), (61, 150), (151, 400), (401, None))
_OPENINGS = {
    "you_are": "'You are ...'",
    "act_as": "'I want you to act as ...'",
    "imperative": "an imperative",
    "question": "a question",
    "other": "something else",
}


class Pattern(BaseModel):
    characteristic: str = Field(description="group:value, e.g. length:0-60 words or opening:you_are")
    group: str
    description: str
    prompts_with: int
    prompts_without: int
    mean_with: float
    mean_without: float
    difference: float = Field(description="mean rating with minus without")
    difference_ci: tuple[float, float] = Field(description="95% Welch interval of the difference")
    high_share: float = Field(description="share of the prompts with it rated 4 or more")
    high_share_ci: tuple[float, float] = Field(description="95% Wilson interval of that share")
    verdict: str = Field(description="high, low or unclear")


class PatternReport(BaseModel):
    rated_prompts: int
    ratings: int
    mean_rating: float | None
    high_share: float | None = Field(description="share of rated prompts rated 4 or more")
    half_life_days: float | None = None
    high: list[Pattern] = Field(default_factory=list, description="characteristics that go with high ratings")
    low: list[Pattern] = Field(default_factory=list, description="characteristics that go with low ratings")
    unclear: list[Pattern] = Field(default_factory=list, description="enough prompts, but no clear effect")
    thin: list[str] = Field(default_factory=list, description="too few rated prompts with or without it to judge")
    message: str


@dataclass
class Rated:
    prompt: Prompt
    rating: float
    count: int


def rated_prompts(
    feedback: Sequence[Feedback],
    prompts: dict[str, Prompt],
    *,
    half_life_days: float | None = None,
    now: datetime | None = None,
) -> tuple[list[Rated], int]:
    """Each rated prompt once, with its (decayed) mean rating; and the number of ratings."""
    from prompt_alchemy.ranking.learning import decay

    seen: dict[str, list[tuple[int, float]]] = {}
    n = 0
    for f in feedback:
        if f.rating is None or f.prompt_id not in prompts:
            continue
        seen.setdefault(f.prompt_id, []).append((f.rating, decay(f.created_at, now, half_life_days)))
        n += 1
    out = []
    for pid in sorted(seen):
        rows = seen[pid]
        wsum = sum(w for _, w in rows)
        mean = sum(r * w for r, w in rows) / wsum if wsum > 0 else sum(r for r, _ in rows) / len(rows)
        out.append(Rated(prompts[pid], mean, len(rows)))
    return out, n


def characteristics(prompt: Prompt) -> dict[str, str]:
    """Every characteristic of `prompt` the report looks at, as ``group:value`` → description."""
    text = prompt.content
    out: dict[str, str] = {}
    checks = {f.name: f.value for f in rubric(text)}
    for name, what in SECTIONS.items():
        if checks.get(name, 0.0) >= 0.5:
            out[f"section:{name}"] = f"has {what}"
    if examples_feature(text).value >= 1.0:
        out["section:examples"] = "shows an example"
    if variables(text):
        out["section:variables"] = "has {variables}"
    n = len(words(text))
    for lo, hi in LENGTH_BANDS:
        if n >= lo and (hi is None or n <= hi):
            label = f"{lo}-{hi} words" if hi is not None else f"over {lo - 1} words"
            out[f"length:{label}"] = label
    form = opening(text)
    out[f"opening:{form}"] = f"opens with {_OPENINGS[form]}"
    for group, value in (
        ("persona", prompt.persona_used),
        ("provider", prompt.provider),
        ("model", prompt.model),
        ("target", prompt.target_model or prompt.target_model_family),
        ("phase", prompt.phase.value if prompt.phase else None),
    ):
        if value:
            out[f"{group}:{value}"] = f"{group} {value}"
    return out


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + _Z**2 / (2 * n)) / (1 + _Z**2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / (1 + _Z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _t(df: float) -> float:
    """Two-sided 95% Student t quantile (a close approximation; exact enough for a verdict)."""
    if df <= 1:
        return 12.71
    return _Z + 2.4 / df + 2.6 / df**2


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Difference of means and its 95% Welch interval."""
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    se2 = va / len(a) + vb / len(b)
    diff = ma - mb
    if se2 <= 0:
        return diff, diff, diff
    df = se2**2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1)) if va or vb else 1e9
    half = _t(df) * math.sqrt(se2)
    return diff, diff - half, diff + half


def detect(rated: Sequence[Rated], ratings: int, *, half_life_days: float | None = None) -> PatternReport:
    """The pattern report for `rated` prompts (see the module docstring)."""
    n = len(rated)
    base = PatternReport(
        rated_prompts=n,
        ratings=ratings,
        half_life_days=half_life_days,
        mean_rating=round(sum(r.rating for r in rated) / n, 3) if n else None,
        high_share=round(sum(r.rating >= HIGH for r in rated) / n, 3) if n else None,
        message="",
    )
    if n < MIN_RATED:
        base.message = (
            f"not enough evidence: {n} rated prompt(s); patterns need at least {MIN_RATED} "
            f"(rate prompts with 'prompt-alchemy rate ID SCORE')"
        )
        return base
    traits = [characteristics(r.prompt) for r in rated]
    names: dict[str, str] = {}
    for t in traits:
        names.update(t)
    for key in sorted(names):
        with_ = [r.rating for r, t in zip(rated, traits) if key in t]
        without = [r.rating for r, t in zip(rated, traits) if key not in t]
        if len(with_) < MIN_PROMPTS or len(without) < MIN_PROMPTS:
            base.thin.append(f"{key} ({len(with_)} with, {len(without)} without)")
            continue
        diff, lo, hi = welch(with_, without)
        highs = sum(x >= HIGH for x in with_)
        verdict = "high" if lo > 0 else "low" if hi < 0 else "unclear"
        pattern = Pattern(
            characteristic=key,
            group=key.split(":", 1)[0],
            description=names[key],
            prompts_with=len(with_),
            prompts_without=len(without),
            mean_with=round(sum(with_) / len(with_), 3),
            mean_without=round(sum(without) / len(without), 3),
            difference=round(diff, 3),
            difference_ci=(round(lo, 3), round(hi, 3)),
            high_share=round(highs / len(with_), 3),
            high_share_ci=tuple(round(x, 3) for x in wilson(highs, len(with_))),
            verdict=verdict,
        )
        getattr(base, verdict if verdict != "unclear" else "unclear").append(pattern)
    base.high.sort(key=lambda p: -p.difference_ci[0])
    base.low.sort(key=lambda p: p.difference_ci[1])
    base.unclear.sort(key=lambda p: -abs(p.difference))
    clear = len(base.high) + len(base.low)
    base.message = (
        f"{clear} characteristic(s) go clearly with high or low ratings across {n} rated prompts"
        if clear
        else f"no characteristic goes clearly with high or low ratings across {n} rated " f"prompts yet"
    )
    if base.thin:
        base.message += f"; {len(base.thin)} with too few rated prompts to judge"
    return base

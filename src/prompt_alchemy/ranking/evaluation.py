"""Objective prompt evaluation on labelled examples: task accuracy and the local model's log-likelihood.

An examples file is JSONL, one object per line with ``input`` and ``expected`` (both strings), and optionally
``match`` (``exact``, ``contains`` or ``regex``: how a model's answer is compared with ``expected``; a regex is
searched case-insensitively) and ``split`` (``propose`` or ``heldout``). Without ``split`` the examples are divided
deterministically into two halves. The *propose* half may be shown to the model that rewrites a prompt; scores are
only ever computed on the *held-out* half.

How a prompt meets an example: when the prompt contains ``{input}`` the input is substituted there and the whole
becomes the user message; otherwise the prompt is the system message and the input the user message.

Two metrics, each with a 95% confidence interval:

* ``accuracy``: the share of held-out examples whose answer (temperature 0) matches; Wilson interval.
* ``loglik`` (the APE method): the mean over held-out examples of the natural-log probability the local model gives
  the expected answer right after the prompt and input, in nats per example; t interval. Its 0–1 form
  (``score``) is the per-token geometric-mean probability, exp(total log-likelihood / total tokens).
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from prompt_alchemy.errors import InputError
from prompt_alchemy.providers.base import GenerationRequest, Message, Provider
from prompt_alchemy.security import MAX_EXAMPLES_BYTES, compile_user_regex, read_text_file, search_user_regex

MatchMode = Literal["exact", "contains", "regex"]
Metric = Literal["accuracy", "loglik"]
MAX_EXAMPLES = 2000


class Example(BaseModel):
    input: str
    expected: str
    match: MatchMode = "exact"
    split: Literal["propose", "heldout"] | None = None
    line: int = 0


class ExampleResult(BaseModel):
    input: str
    expected: str
    output: str | None = None
    correct: bool | None = None
    loglik: float | None = None
    tokens: int | None = None


class Evaluation(BaseModel):
    """A prompt's score on a set of examples. `score` is the 0–1 objective the optimizer maximizes and
    compares with a target: accuracy itself, or for loglik exp(mean log-likelihood per token)."""

    metric: Metric
    n: int
    mean: float = Field(description="accuracy (0-1) or mean log-likelihood per example (nats)")
    ci_low: float
    ci_high: float
    score: float
    per_token: float | None = Field(None, description="loglik only: mean log-likelihood per token (nats)")
    examples: list[ExampleResult] = Field(default_factory=list)

    def describe(self) -> str:
        if self.metric == "accuracy":
            return (
                f"accuracy {self.mean:.0%} (95% CI {self.ci_low:.0%}–{self.ci_high:.0%}) on {self.n} held-out "
                f"example(s)"
            )
        return (
            f"mean log-likelihood {self.mean:.3f} nats (95% CI {self.ci_low:.3f} to {self.ci_high:.3f}; "
            f"{self.per_token:.3f} per token) on {self.n} held-out example(s)"
        )


# --------------------------------------------------------------------------------------------- examples


def load_examples(path: str | Path) -> list[Example]:
    """Parse and validate an examples file; every problem names its line. Raises InputError."""
    return parse_examples(read_text_file(path, "examples file", limit=MAX_EXAMPLES_BYTES), f"examples file {path}")


def parse_examples(text: str, name: str) -> list[Example]:
    """Parse and validate examples given as JSONL text (`name` says where they came from in error lines)."""
    examples: list[Example] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{name} line {number}"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: not valid JSON ({exc.msg}); each line must be an object with " f'"input" and "expected"'
            ) from None
        if not isinstance(data, dict):
            raise InputError(f'{where}: expected a JSON object with "input" and "expected"')
        unknown = set(data) - {"input", "expected", "match", "split"}
        if unknown:
            raise InputError(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: input, expected, " f"match, split"
            )
        for field in ("input", "expected"):
            if not isinstance(data.get(field), str) or not data[field].strip():
                raise InputError(f'{where}: "{field}" must be a non-empty string')
        match = data.get("match", "exact")
        if match not in ("exact", "contains", "regex"):
            raise InputError(f'{where}: "match" must be exact, contains or regex, got {match!r}')
        if match == "regex":
            compile_user_regex(data["expected"], what=f'{where}: "expected"')
        split = data.get("split")
        if split not in (None, "propose", "heldout"):
            raise InputError(f'{where}: "split" must be propose or heldout, got {split!r}')
        examples.append(Example(input=data["input"], expected=data["expected"], match=match, split=split, line=number))
        if len(examples) > MAX_EXAMPLES:
            raise InputError(f"{name} has more than {MAX_EXAMPLES} examples")
    if not examples:
        raise InputError(f"{name} is empty; add JSONL lines like " f'{{"input": "hot", "expected": "cold"}}')
    return examples


def split_examples(examples: list[Example], seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(propose, held-out). Explicit `split` fields win; the rest are shuffled with `seed` and halved (the
    held-out half gets the odd one). Raises InputError unless both halves have at least one example."""
    propose = [e for e in examples if e.split == "propose"]
    heldout = [e for e in examples if e.split == "heldout"]
    rest = [e for e in examples if e.split is None]
    random.Random(seed).shuffle(rest)
    half = len(rest) // 2
    propose += rest[:half]
    heldout += rest[half:]
    if not propose or not heldout:
        raise InputError(
            f"need at least one propose and one held-out example (got {len(propose)} and "
            f'{len(heldout)}); add examples or fix their "split" fields'
        )
    return propose, heldout


def task_messages(prompt: str, text: str) -> list[Message]:
    """How a prompt meets an example input (see the module docstring)."""
    if "{input}" in prompt:
        return [Message("user", prompt.replace("{input}", text))]
    if not prompt.strip():
        return [Message("user", text)]
    return [Message("system", prompt), Message("user", text)]


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip("\"'`").strip().rstrip(".!").strip()).lower()


def matches(output: str, expected: str, mode: MatchMode) -> bool:
    """exact: equal after trimming whitespace, quotes, a final period and case; contains: the expected text
    appears as whole words; regex: `expected` (the user's pattern) is searched case-insensitively, with the caps
    and time limit of security.search_user_regex (InputError when it runs out of time). Blocks up to that limit:
    from async code, await `amatches`."""
    if mode == "regex":
        return search_user_regex(expected, output)
    out, exp = _normalize(output), _normalize(expected)
    if mode == "exact":
        return out == exp
    return re.search(rf"(?<!\w){re.escape(exp)}(?!\w)", out) is not None


async def amatches(output: str, expected: str, mode: MatchMode) -> bool:
    """`matches` for async code: a user's regex runs in a worker thread, never on the event loop's."""
    if mode == "regex":
        import asyncio

        return await asyncio.to_thread(matches, output, expected, mode)
    return matches(output, expected, mode)


# --------------------------------------------------------------------------------------------- statistics


_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def t_critical(df: int) -> float:
    """Two-sided 95% Student t quantile (table lookup, conservative between entries)."""
    if df <= 0:
        return float("inf")
    for key in sorted(_T95):
        if df <= key:
            return _T95[key]
    return 1.96


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t interval. One value gives an unbounded interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("-inf"), float("inf")
    half = t_critical(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def wilson_ci(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    z = 1.96
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --------------------------------------------------------------------------------------------- metrics


def answer_request(prompt: str, example: Example, model: str | None = None) -> GenerationRequest:
    """The call that answers one example for accuracy: plain greedy decoding (temperature 0, no repeat penalty),
    with room for a short sentence around the expected answer; a one-line answer ends at the first newline."""
    one_line = "\n" not in example.expected.strip()
    return GenerationRequest(
        messages=task_messages(prompt, example.input),
        model=model,
        temperature=0.0,
        max_tokens=min(256, len(example.expected) // 2 + 32),
        seed=0,
        stop=["\n"] if one_line else None,
        metadata={"task": "evaluate", "repeat_penalty": 1.0},
    )


def accuracy_evaluation(results: list[ExampleResult]) -> Evaluation:
    correct = sum(1 for r in results if r.correct)
    low, high = wilson_ci(correct, len(results))
    acc = correct / len(results)
    return Evaluation(
        metric="accuracy", n=len(results), mean=acc, ci_low=low, ci_high=high, score=acc, examples=results
    )


async def loglik_results(local_provider: Provider, prompt: str, examples: list[Example]) -> list[ExampleResult]:
    """The local model's log-likelihood of each expected answer after the prompt and input."""
    from prompt_alchemy.providers.local import loglikelihood

    scored = await loglikelihood(
        local_provider,  # type: ignore[arg-type]
        [(task_messages(prompt, ex.input), ex.expected) for ex in examples],
    )
    return [
        ExampleResult(input=ex.input, expected=ex.expected, loglik=round(ll, 5), tokens=n)
        for ex, (ll, n) in zip(examples, scored)
    ]


def loglik_evaluation(results: list[ExampleResult]) -> Evaluation:
    values = [r.loglik or 0.0 for r in results]
    tokens = sum(r.tokens or 0 for r in results) or 1
    mean, low, high = mean_ci(values)
    per_token = sum(values) / tokens
    return Evaluation(
        metric="loglik",
        n=len(results),
        mean=round(mean, 5),
        ci_low=round(low, 5),
        ci_high=round(high, 5),
        score=round(math.exp(per_token), 6),
        per_token=round(per_token, 5),
        examples=results,
    )


def paired_difference(a: Evaluation, b: Evaluation) -> tuple[float, float, float]:
    """Mean of b − a over the same examples with a 95% interval (paired t, or per-example correctness)."""
    if a.metric != b.metric or a.n != b.n:
        raise ValueError("paired_difference needs two evaluations of the same metric on the same examples")
    if a.metric == "loglik":
        diffs = [(y.loglik or 0.0) - (x.loglik or 0.0) for x, y in zip(a.examples, b.examples)]
    else:
        diffs = [float(bool(y.correct)) - float(bool(x.correct)) for x, y in zip(a.examples, b.examples)]
    return mean_ci(diffs)


async def rank_by_loglik(
    local_provider: Provider, prompts: dict[str, str], examples: list[Example]
) -> list[tuple[str, Evaluation]]:
    """Objective ranking of prompts for a labelled task: each prompt's mean log-likelihood of the expected answers
    (higher is better), best first, with the evaluation of each."""
    scored = [
        (name, loglik_evaluation(await loglik_results(local_provider, text, examples)))
        for name, text in prompts.items()
    ]
    return sorted(scored, key=lambda item: -item[1].mean)

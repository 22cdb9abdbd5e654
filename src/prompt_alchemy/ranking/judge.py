"""The AI judge: one judge for the whole project.

Two questions, both answered as JSON by a model and parsed tolerantly:

* rubric scoring: 1–10 per criterion with a reason each (:meth:`Judge.score`);
* pairwise comparison: which of two prompts is better for the task (:meth:`Judge.compare`). Both orders are asked;
  when the two answers disagree (a position bias) the verdict is a tie. The length of each prompt is shown so that
  the judge weighs it knowingly instead of rewarding whatever is longer.

A reply without a usable score is retried once with a firmer instruction and then reported as *unscored*; it is
never given a default score. The judge prefers a provider different from the one that generated the prompts
(``ranking.judge_provider`` overrides the choice).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from prompt_alchemy.config import Settings
from prompt_alchemy.errors import CostLimitError, InputError, ProviderError, ProviderUnavailableError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import MetricRecord
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message
from prompt_alchemy.providers.registry import ProviderRegistry
from prompt_alchemy.ranking.features import words

log = get_logger("judge")

#: The rubric: criterion → what the judge is asked. `intent` applies only when the original idea is known.
CRITERIA: dict[str, str] = {
    "clarity": "Is the prompt unambiguous and easy for a model to follow?",
    "specificity": "Does it state concrete requirements, constraints and success criteria?",
    "completeness": "Does it give the model everything it needs: context, inputs, the expected output format?",
    "structure": "Is it organized in a sensible order, without redundancy or filler?",
    "intent": "Does it keep everything the original idea or task asked for, without drifting from it?",
}

_SYSTEM = (
    "You are a strict, impartial evaluator of prompts written for large language models. You judge how well "
    "a prompt would make a capable model do the task. Length is not quality: a longer prompt is better only "
    "when the extra words add needed information. Reply with JSON only."
)


class CriterionScore(BaseModel):
    name: str
    score: float = Field(ge=1, le=10)
    reasoning: str = ""


class JudgeScore(BaseModel):
    """A rubric verdict. `scored` is False when the judge's replies had no usable score (after one retry):
    then `overall` is None and `error` says why. Never a default score."""

    scored: bool
    overall: float | None = None
    criteria: list[CriterionScore] = Field(default_factory=list)
    summary: str = ""
    provider: str = ""
    model: str = ""
    attempts: int = 0
    error: str | None = None
    cost_usd: float = 0.0

    @property
    def normalized(self) -> float | None:
        """The overall score mapped from 1–10 to 0.1–1.0 (None when unscored)."""
        return None if self.overall is None else round(self.overall / 10.0, 4)

    def reason(self) -> str:
        parts = [f"{c.name} {c.score:g}" for c in self.criteria]
        head = f"judge {self.provider}/{self.model}: {self.overall:.1f}/10" if self.overall is not None else "judge"
        return f"{head} ({', '.join(parts)})" + (f"; {self.summary}" if self.summary else "")


class OrderVerdict(BaseModel):
    """One ordering of a pairwise question: which prompt was shown first, and what the judge said."""

    first: Literal["a", "b"]
    winner: Literal["a", "b", "tie"] | None = None
    reasoning: str = ""
    error: str | None = None


class PairwiseResult(BaseModel):
    """A pairwise comparison. `winner` is "a", "b" or "tie" (the two orders disagreed or both said tie), or None
    when a reply could not be parsed even after a retry (then `scored` is False)."""

    scored: bool
    winner: Literal["a", "b", "tie"] | None = None
    agreed: bool = False
    orders: list[OrderVerdict] = Field(default_factory=list)
    lengths: dict[str, int] = Field(default_factory=dict)
    provider: str = ""
    model: str = ""
    error: str | None = None
    cost_usd: float = 0.0


class JudgeParseError(ValueError):
    """The judge's reply holds no usable score or verdict."""


# --------------------------------------------------------------------------------------------- parsing


def extract_json(text: str) -> Any:
    """The first JSON object in a reply: inside a ```json fence, or the first balanced {...}, forgiving trailing
    commas, smart quotes and single-quoted keys. Raises JudgeParseError when there is none."""
    candidates: list[str] = [m.group(1) for m in re.finditer(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)]
    start = text.find("{")
    while start != -1:
        block = _balanced(text, start)
        if block:
            candidates.append(block)
        start = text.find("{", start + 1)
        if len(candidates) > 8:
            break
    for block in candidates:
        for attempt in (block, _repair(block)):
            try:
                data = json.loads(attempt)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    raise JudgeParseError("the reply holds no JSON object")


def _balanced(text: str, start: int) -> str | None:
    depth, in_string, escape = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _repair(block: str) -> str:
    fixed = block.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    fixed = re.sub(r",\s*([}\]])", r"\1", fixed)
    fixed = re.sub(r"(?<=[{,\s])'([^'\n]+?)'\s*:", r'"\1":', fixed)
    fixed = re.sub(r":\s*'([^'\n]*?)'(?=\s*[,}])", r': "\1"', fixed)
    return fixed


def _as_score(value: Any) -> float | None:
    """8, 8.5, "8", "8/10", "8 out of 10" → the 1–10 score; anything else (or out of range) → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?", value)
        if not m:
            return None
        number = float(m.group(1))
    else:
        return None
    return number if 1.0 <= number <= 10.0 else None


def _norm_key(key: str) -> str:
    return re.sub(r"[^a-z]", "", key.lower())


_ALIASES = {
    "intentpreservation": "intent",
    "intentfidelity": "intent",
    "fidelity": "intent",
    "specific": "specificity",
    "clear": "clarity",
    "complete": "completeness",
    "organization": "structure",
}


def parse_rubric(text: str, criteria: list[str]) -> tuple[list[CriterionScore], str]:
    """Criterion scores and a summary from a judge reply. Accepts the requested shape
    ``{"scores": {"clarity": {"score": 8, "reasoning": "..."}, ...}, "summary": "..."}`` and common variants
    (flat ``{"clarity": 8}``, a list of ``{"name", "score", "reasoning"}``, "8/10" strings), and as a last resort
    lines such as ``Clarity: 8/10 - reason``. Raises JudgeParseError when no criterion has a score."""
    wanted = {_norm_key(c): c for c in criteria}
    found: dict[str, CriterionScore] = {}
    summary = ""

    def take(key: str, value: Any, reasoning: str = "") -> None:
        norm = _ALIASES.get(_norm_key(key), _norm_key(key))
        name = wanted.get(norm)
        if name is None or name in found:
            return
        if isinstance(value, dict):
            reasoning = str(value.get("reasoning") or value.get("reason") or value.get("explanation") or reasoning)
            value = value.get("score", value.get("rating", value.get("value")))
        score = _as_score(value)
        if score is not None:
            found[name] = CriterionScore(name=name, score=score, reasoning=reasoning.strip())

    data, lowered = _json_object(text)
    if data is not None and lowered is not None:
        summary = str(lowered.get("summary") or lowered.get("overallreasoning") or lowered.get("reasoning") or "")
        container = lowered.get("scores", lowered.get("criteria", lowered.get("rubric", data)))
        if isinstance(container, dict):
            for key, value in container.items():
                take(key, value)
        elif isinstance(container, list):
            for item in container:
                if isinstance(item, dict):
                    key = str(item.get("name") or item.get("criterion") or "")
                    take(key, item)
        if not found:
            for key, value in data.items():
                take(key, value)
    if not found:
        for m in re.finditer(
            r"(?im)^[\s*#-]*\**([A-Za-z ]+?)\**\s*[:=-]\s*\**(\d+(?:\.\d+)?)\s*(?:/\s*10)?\**" r"\s*[-–—:,.]?\s*(.*)$",
            text,
        ):
            take(m.group(1), m.group(2), m.group(3))
    if not found:
        raise JudgeParseError("the reply has no score for any criterion")
    return [found[c] for c in criteria if c in found], summary.strip()


def _json_object(text: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The reply's JSON object and the same with normalized keys, or (None, None) when it has none."""
    try:
        data = extract_json(text)
    except JudgeParseError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    return data, {_norm_key(k): v for k, v in data.items()}


def parse_verdict(text: str) -> tuple[Literal["A", "B", "tie"], str]:
    """The winner ("A", "B" or "tie") and reasoning from a pairwise reply; JSON first, then phrases like
    "Winner: B" or "Prompt A is better". Raises JudgeParseError when neither is there."""
    reasoning = ""
    _, lowered = _json_object(text)
    if lowered is not None:
        reasoning = str(lowered.get("reasoning") or lowered.get("reason") or lowered.get("explanation") or "")
        raw = lowered.get("winner", lowered.get("better", lowered.get("choice", lowered.get("verdict"))))
        verdict = _as_verdict(raw)
        if verdict:
            return verdict, reasoning.strip()
    m = re.search(
        r"(?i)\b(?:winner|better(?: prompt)?|verdict|choice)\b\W{0,4}(?:is\s+)?(?:prompt\s+)?([AB]\b|tie)", text
    )
    if m:
        verdict = _as_verdict(m.group(1))
        if verdict:
            return verdict, text.strip()[:400]
    m = re.search(r"(?i)\bprompt\s+([AB])\s+is\s+(?:clearly\s+|slightly\s+)?better\b", text)
    if m:
        return m.group(1).upper(), text.strip()[:400]  # type: ignore[return-value]
    raise JudgeParseError("the reply names no winner")


def _as_verdict(raw: Any) -> Literal["A", "B", "tie"] | None:
    if not isinstance(raw, str):
        return None
    value = raw.strip().strip(".\"'").lower()
    value = value.removeprefix("prompt").strip()
    if value == "a":
        return "A"
    if value == "b":
        return "B"
    if value in {"tie", "draw", "equal", "neither", "both"}:
        return "tie"
    return None


# --------------------------------------------------------------------------------------------- the judge


def judge_chain(registry: ProviderRegistry, settings: Settings, avoid: set[str] | None = None) -> str:
    """The judge's provider: `ranking.judge_provider` when set, else the first available provider not in `avoid`
    (the generator's providers), else the first available one."""
    configured = settings.ranking.judge_provider
    if configured:
        registry.check_name(configured)
        reason = registry.get(configured).unavailable_reason()
        if reason:
            raise ProviderUnavailableError(configured, f"ranking.judge_provider cannot be used: {reason}")
        return configured
    available = registry.available()
    others = [n for n in available if n not in (avoid or set())]
    if others:
        return others[0]
    if available:
        return available[0]
    from prompt_alchemy.localstack import setup_hint

    raise ProviderUnavailableError(
        "none",
        f"no provider is available for the judge; add an API key, {setup_hint()} for the local model, "
        "or set ranking.judge_provider",
    )


class Judge:
    """Rubric and pairwise judgments from one provider. `metrics` collects one record per call."""

    def __init__(
        self, settings: Settings, registry: ProviderRegistry, avoid: set[str] | None = None, provider: str | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.provider_name = provider or judge_chain(registry, settings, avoid)
        self.provider = registry.get(self.provider_name)
        self.model = settings.ranking.judge_model or self.provider.default_model()
        self.metrics: list[MetricRecord] = []

    # ------------------------------------------------------------------ rubric

    async def score(self, prompt: str, *, idea: str | None = None, task: str | None = None) -> JudgeScore:
        """Rubric scores (1–10 per criterion, with reasoning). `idea` or `task` adds the intent criterion."""
        if not prompt.strip():
            raise InputError("cannot judge an empty prompt")
        reference = task or idea
        criteria = [c for c in CRITERIA if c != "intent" or reference]
        listing = "\n".join(f"- {c}: {CRITERIA[c]}" for c in criteria)
        example = ", ".join(f'"{c}": {{"score": <1-10>, "reasoning": "<one sentence>"}}' for c in criteria)
        ref_block = (
            f"<{'task' if task else 'idea'}>\n{reference}\n</{'task' if task else 'idea'}>\n\n" if reference else ""
        )
        user = (
            f'{ref_block}<prompt words="{len(words(prompt))}">\n{prompt}\n</prompt>\n\n'
            f"Score the prompt from 1 (very poor) to 10 (excellent) on each criterion:\n{listing}\n\n"
            f"Reply with JSON only, exactly in this shape:\n"
            f'{{"scores": {{{example}}}, "summary": "<one sentence overall>"}}'
        )
        messages = [Message("system", _SYSTEM), Message("user", user)]
        schema = _rubric_schema(criteria)
        result = JudgeScore(scored=False, provider=self.provider_name, model=self.model)
        last_error = ""
        for attempt in (1, 2):
            reply = await self._ask(messages, schema, attempt, "judge_score")
            result.attempts = attempt
            result.cost_usd += reply.cost_usd
            try:
                scores, summary = parse_rubric(reply.text, criteria)
            except JudgeParseError as exc:
                last_error = str(exc)
                log.warning("judge reply not parseable (attempt %d): %s", attempt, exc)
                messages = messages + [
                    Message("assistant", reply.text[:2000]),
                    Message(
                        "user",
                        "That reply could not be read: it needs a 1-10 score for each criterion. Reply again "
                        "with only the JSON object in the shape given, nothing else.",
                    ),
                ]
                continue
            result.scored = True
            result.criteria = scores
            result.summary = summary
            result.overall = round(sum(c.score for c in scores) / len(scores), 3)
            missing = [c for c in criteria if c not in {s.name for s in scores}]
            if missing:
                result.error = f"no score for {', '.join(missing)}; the overall score uses the others"
            return result
        result.error = f"unscored: {last_error} (after a retry)"
        return result

    # ------------------------------------------------------------------ pairwise

    async def compare(self, a: str, b: str, *, idea: str | None = None, task: str | None = None) -> PairwiseResult:
        """Which prompt is better for the task? Asked in both orders; disagreement is a tie."""
        if not a.strip() or not b.strip():
            raise InputError("cannot compare an empty prompt")
        result = PairwiseResult(
            scored=False,
            provider=self.provider_name,
            model=self.model,
            lengths={"a": len(words(a)), "b": len(words(b))},
        )
        texts = {"a": a, "b": b}
        for first in ("a", "b"):
            second = "b" if first == "a" else "a"
            verdict = OrderVerdict(first=first)
            shown = {"A": first, "B": second}
            user = _pairwise_user(texts[first], texts[second], task or idea, bool(task))
            messages = [Message("system", _SYSTEM), Message("user", user)]
            for attempt in (1, 2):
                reply = await self._ask(messages, _VERDICT_SCHEMA, attempt, "judge_compare")
                result.cost_usd += reply.cost_usd
                try:
                    label, reasoning = parse_verdict(reply.text)
                except JudgeParseError as exc:
                    verdict.error = f"{exc} (after a retry)" if attempt == 2 else str(exc)
                    messages = messages + [
                        Message("assistant", reply.text[:2000]),
                        Message(
                            "user",
                            'That reply could not be read. Reply again with only {"winner": "A" or "B" or '
                            '"tie", "reasoning": "<one sentence>"}.',
                        ),
                    ]
                    continue
                verdict.winner = "tie" if label == "tie" else shown[label]  # type: ignore[assignment]
                verdict.reasoning = reasoning
                verdict.error = None
                break
            result.orders.append(verdict)
        if any(o.winner is None for o in result.orders):
            result.error = "unscored: " + "; ".join(o.error or "" for o in result.orders if o.winner is None)
            return result
        winner_ab, winner_ba = result.orders[0].winner, result.orders[1].winner
        result.scored = True
        result.agreed = winner_ab == winner_ba
        result.winner = winner_ab if winner_ab == winner_ba else "tie"
        return result

    # ------------------------------------------------------------------ calls

    async def _ask(
        self, messages: list[Message], schema: dict[str, Any], attempt: int, kind: str
    ) -> GenerationResponse:
        request = GenerationRequest(
            messages=messages,
            model=self.model,
            temperature=0.0 if attempt == 1 else 0.3,
            max_tokens=self.settings.ranking.judge_max_tokens,
            seed=attempt,
            metadata={"task": kind, "json_schema": schema},
        )
        response = await call_provider(self.registry, self.provider_name, request, self.metrics, kind)
        self.metrics.append(
            MetricRecord(
                kind=kind,
                provider=response.provider,
                model=response.model,
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                latency_ms=response.latency_ms,
                cost_usd=response.cost_usd,
            )
        )
        return response


async def call_provider(
    registry: ProviderRegistry, name: str, request: GenerationRequest, metrics: list[MetricRecord], kind: str
) -> GenerationResponse:
    """One call to a named provider through the gateway (rate limit, retries), priced when the provider does not
    report a cost and counted against the run's --max-cost (CostLimitError once it is reached). A failure is
    recorded in `metrics` and re-raised."""
    provider = registry.get(name)
    options = registry.current_options()
    if options.max_cost is not None and options.spent >= options.max_cost:
        raise CostLimitError(f"the run reached --max-cost ${options.max_cost:g} (spent ${options.spent:.4f})")
    try:
        response = await registry.call_with_retries(
            name, lambda: provider.generate(request), model=request.model, metrics=metrics
        )
    except ProviderError as exc:
        metrics.append(
            MetricRecord(kind=kind, provider=name, model=request.model, success=False, detail=str(exc)[:300])
        )
        raise
    if not response.cost_usd:
        response.cost_usd = registry.price_response(response)
    options.spent += response.cost_usd
    return response


def _pairwise_user(first: str, second: str, reference: str | None, is_task: bool) -> str:
    tag = "task" if is_task else "idea"
    ref = f"<{tag}>\n{reference}\n</{tag}>\n\n" if reference else ""
    target = tag if reference else "purpose"
    return (
        f"{ref}Two prompts were written for the same purpose. Which one would make a capable model do the "
        f"job better? Judge clarity, specificity, completeness and faithfulness to the {target}. "
        f"Do not prefer a prompt because it is longer or because of its position.\n\n"
        f'<prompt_A words="{len(words(first))}" characters="{len(first)}">\n{first}\n</prompt_A>\n\n'
        f'<prompt_B words="{len(words(second))}" characters="{len(second)}">\n{second}\n</prompt_B>\n\n'
        'Reply with JSON only: {"winner": "A" or "B" or "tie", "reasoning": "<one or two sentences>"}'
    )


def _rubric_schema(criteria: list[str]) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 10},
            "reasoning": {"type": "string", "maxLength": 160},
        },
        "required": ["score", "reasoning"],
    }
    return {
        "type": "object",
        "properties": {
            "scores": {"type": "object", "properties": {c: item for c in criteria}, "required": criteria},
            "summary": {"type": "string", "maxLength": 240},
        },
        "required": ["scores", "summary"],
    }


_VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
        "reasoning": {"type": "string", "maxLength": 240},
    },
    "required": ["winner", "reasoning"],
}

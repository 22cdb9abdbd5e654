"""The prompt optimizer: evaluate, critique, propose, re-evaluate; keep the best.

Each round starts from the best prompt so far and its *latest* evaluation:

1. **critique** – a model explains what in the prompt causes the problems that evaluation found (the judge's
   reasoning, or the examples of the propose set the prompt handles worst, with the model's actual answers);
2. **propose** – a model rewrites the prompt to fix the critique, keeping every ``{variable}`` and constraint (a
   rewrite that drops a variable is rejected). With examples, two more candidates come from the propose set: one
   adds worked examples of the cases the prompt handles worst (few-shot demonstrations), and, when the model's
   answers there are wordier than the expected ones, one states the answer format those examples show (a single
   word, or one of a small set of labels);
3. **re-evaluate** – every candidate is scored; the best so far becomes the next round's starting point.

The run stops at the target score, the iteration limit, the cost budget (checked before every paid call; the
candidates of that round not yet evaluated are dropped) or when a round produces no new candidate ("converged").

Scores are 0–1. Without examples the judge scores (its 1–10 rubric mean ÷ 10). With examples the score is
objective and computed only on the held-out half, never on the propose half shown to the rewriting model:
accuracy, or the local model's log-likelihood of the expected answers (APE), with 95% confidence intervals.

Storage: every evaluated candidate is stored as a Prompt (``source_type="optimized"``, ``parent_id`` = the prompt
it was derived from, ``score``, the run id as ``session_id``), one transaction per round, so an interrupted run
keeps its finished rounds. A seed given as text is stored first, in round 0.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from prompt_alchemy.config import Settings
from prompt_alchemy.errors import AlchemyError
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.models import MetricRecord, Prompt, new_id
from prompt_alchemy.providers.base import GenerationRequest, GenerationResponse, Message
from prompt_alchemy.providers.registry import ProviderRegistry
from prompt_alchemy.ranking.evaluation import (
    Evaluation,
    Example,
    ExampleResult,
    accuracy_evaluation,
    amatches,
    answer_request,
    loglik_evaluation,
    loglik_results,
    paired_difference,
)
from prompt_alchemy.ranking.features import variables
from prompt_alchemy.ranking.judge import Judge, JudgeScore, call_provider

log = get_logger("optimizer")

OptimizeMetric = Literal["judge", "accuracy", "loglik"]
StopReason = Literal["target", "max_iterations", "budget", "converged"]
Persist = Callable[[list[Prompt], list[MetricRecord]], Awaitable[None]]
MAX_ITERATIONS = 20
DEMOS_PER_ROUND = 3

_CRITIC_SYSTEM = (
    "You are an expert prompt engineer. You diagnose precisely why a prompt makes a model fail at its "
    "task. Be concrete and brief."
)
_WRITER_SYSTEM = (
    "You are an expert prompt engineer. You rewrite prompts so that a model does the task better, "
    "keeping the author's intent, template variables and constraints."
)


class OptimizationStep(BaseModel):
    """One evaluated prompt of the run: the seed (iteration 0) or a candidate of a round."""

    iteration: int
    prompt_id: str
    parent_id: str | None = None
    method: Literal["seed", "rewrite", "examples", "format"]
    content: str
    score: float | None = None
    evaluation: Evaluation | None = None
    judge: JudgeScore | None = None
    critique: str | None = None
    changes: str = ""
    best_so_far: bool = False
    cost_usd: float = 0.0

    def describe(self) -> str:
        if self.evaluation is not None:
            return self.evaluation.describe()
        if self.judge is not None:
            return self.judge.reason() if self.judge.scored else f"judge: {self.judge.error}"
        return "not evaluated"


class OptimizationResult(BaseModel):
    run_id: str
    task: str
    metric: OptimizeMetric
    seed: OptimizationStep
    best: OptimizationStep
    steps: list[OptimizationStep]
    iterations: int
    stop_reason: StopReason
    max_iterations: int
    target_score: float | None = None
    max_cost: float | None = None
    total_cost_usd: float = 0.0
    improved: bool = False
    improvement: dict[str, float] | None = Field(
        None, description="examples only: mean per-example gain of best over seed on held-out, with a 95% CI"
    )
    diff: str = ""
    changes: list[str] = Field(default_factory=list, description="what changed and why, seed → best")
    examples: dict[str, int] | None = None
    proposer: str = ""
    judge_provider: str | None = None
    saved: bool = True
    events: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class StoredRounds:
    """What an earlier run with the same run id stored: a run that is run again (an optimize job retried after
    its worker died, or `jobs retry`) goes on after `last_round`, from the better of the seed and `best`."""

    last_round: int
    seed_id: str | None = None
    best: OptimizationStep | None = None
    contents: list[str] = field(default_factory=list)


class _BudgetExhausted(Exception):
    pass


class Budget:
    """Spending against --max-cost. `check()` before a paid call raises once the limit is reached."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0

    def check(self) -> None:
        if self.limit is not None and self.spent >= self.limit:
            raise _BudgetExhausted()

    def charge(self, usd: float) -> None:
        self.spent += max(0.0, usd)


class Optimizer:
    """One optimization run. Build it with validated inputs (see `AlchemyService.optimize`), then `await run()`."""

    def __init__(
        self,
        settings: Settings,
        registry: ProviderRegistry,
        *,
        task: str,
        metric: OptimizeMetric,
        proposer: str,
        judge: Judge | None = None,
        propose_set: list[Example] | None = None,
        heldout_set: list[Example] | None = None,
        task_provider: str | None = None,
        max_iterations: int = 3,
        target_score: float | None = None,
        max_cost: float | None = None,
        persist: Persist | None = None,
        progress: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.task = task
        self.metric = metric
        self.proposer = proposer
        self.proposer_model = registry.get(proposer).default_model()
        self.judge = judge
        self.propose_set = propose_set or []
        self.heldout_set = heldout_set or []
        self.task_provider = task_provider
        self.max_iterations = max_iterations
        self.target_score = target_score
        self.budget = Budget(max_cost)
        self.persist = persist
        self.progress = progress or (lambda message: None)
        self.run_id = run_id or new_id()
        self.metrics: list[MetricRecord] = []
        self.events: list[str] = []
        self._propose_evals: dict[str, list[ExampleResult]] = {}

    # ------------------------------------------------------------------ the loop

    async def run(
        self, seed_text: str, seed_id: str | None = None, resume: StoredRounds | None = None
    ) -> OptimizationResult:
        """Optimize `seed_text`. With `seed_id` (a stored prompt) the seed is not stored again; candidates of the
        first round name it as their parent. With `resume` (what an earlier run of this run id stored) the stored
        rounds are neither run nor stored again: the run goes on after them, from the better of the seed and their
        best candidate (both evaluated again, since their evaluations are not stored)."""
        required = variables(seed_text)
        seed_id = seed_id or (resume.seed_id if resume is not None else None)
        self.progress("evaluating the seed prompt")
        seed = OptimizationStep(iteration=0, prompt_id=seed_id or new_id(), method="seed", content=seed_text)
        try:
            await self._evaluate(seed)
        except _BudgetExhausted:
            raise AlchemyError(
                f"--max-cost ${self.budget.limit:g} was reached while evaluating the seed prompt; "
                f"nothing was stored"
            ) from None
        if seed.score is None:
            raise AlchemyError(
                f"the judge could not score the seed prompt ({seed.describe()}); nothing was stored. "
                f"Set ranking.judge_provider to a more capable model, or pass --examples"
            )
        seed.best_so_far = True
        if seed_id is None:
            await self._save(0, [seed])
        else:
            await self._save(0, [])
        steps = [seed]
        best = seed
        seen = {_canon(seed_text)}
        first = 1
        if resume is not None:
            best = await self._resumed(resume, seed, steps)
            seen.update(_canon(text) for text in resume.contents)
            first = resume.last_round + 1
        stop: StopReason = "max_iterations"
        iterations = first - 1
        for iteration in range(first, self.max_iterations + 1):
            if self._reached(best):
                stop = "target"
                break
            iterations = iteration
            self.progress(f"round {iteration}/{self.max_iterations}: critiquing and rewriting")
            round_steps: list[OptimizationStep] = []
            exhausted = False
            try:
                critique = await self._critique(best)
                for content, method, changes in await self._candidates(best, critique, iteration, steps):
                    key = _canon(content)
                    if key in seen:
                        self.events.append(
                            f"round {iteration}: the {method} candidate repeats an earlier prompt; " f"skipped"
                        )
                        continue
                    dropped = required - variables(content)
                    if dropped:
                        names = ", ".join(f"{{{v}}}" for v in sorted(dropped))
                        self.events.append(f"round {iteration}: the {method} candidate dropped {names}; rejected")
                        continue
                    seen.add(key)
                    step = OptimizationStep(
                        iteration=iteration,
                        prompt_id=new_id(),
                        parent_id=best.prompt_id,
                        method=method,
                        content=content,
                        critique=critique,
                        changes=changes,
                    )
                    self.progress(f"round {iteration}: evaluating the {method} candidate")
                    await self._evaluate(step)
                    round_steps.append(step)
            except _BudgetExhausted:
                exhausted = True
            for step in round_steps:
                if step.score is not None and step.score > (best.score or 0.0):
                    best = step
            best.best_so_far = True
            for step in round_steps:
                step.best_so_far = step is best
            await self._save(iteration, round_steps)
            steps.extend(round_steps)
            log.info(
                "optimizer round %d: %s; best %s (%s)",
                iteration,
                ", ".join(f"{s.method} {s.score}" for s in round_steps) or "no candidate",
                best.score,
                best.method,
            )
            if exhausted:
                stop = "budget"
                log.info(
                    "budget stop: the optimizer reached max-cost $%g (spent $%.4f) in round %d",
                    self.budget.limit,
                    self.budget.spent,
                    iteration,
                )
                self.events.append(
                    f"stopped: --max-cost ${self.budget.limit:g} reached (spent "
                    f"${self.budget.spent:.4f}); candidates of round {iteration} not yet evaluated "
                    f"were dropped"
                )
                break
            if not round_steps:
                stop = "converged"
                self.events.append(f"round {iteration} produced no new candidate; stopping")
                break
        else:
            stop = "target" if self._reached(best) else "max_iterations"
        return self._result(seed, best, steps, iterations, stop)

    async def _resumed(
        self, resume: StoredRounds, seed: OptimizationStep, steps: list[OptimizationStep]
    ) -> OptimizationStep:
        """The best to go on from after the stored rounds: their best candidate, evaluated again, when it beats
        the seed. Nothing of it is stored again."""
        self.events.append(
            f"rounds 1-{resume.last_round} were stored by an earlier run of {self.run_id}; going on after them"
            if resume.last_round
            else f"the seed was stored by an earlier run of {self.run_id}"
        )
        best = seed
        if resume.best is not None:
            step = resume.best.model_copy()
            self.progress(f"evaluating the best candidate of round {step.iteration} again")
            try:
                await self._evaluate(step)
            except _BudgetExhausted:
                return seed
            steps.append(step)
            if step.score is not None and step.score > (seed.score or 0.0):
                best = step
        for step in steps:
            step.best_so_far = step is best
        await self._save(resume.last_round, [])  # the metrics of those calls; the prompts are stored already
        return best

    def _reached(self, best: OptimizationStep) -> bool:
        return self.target_score is not None and best.score is not None and best.score >= self.target_score

    # ------------------------------------------------------------------ evaluation

    async def _evaluate(self, step: OptimizationStep) -> None:
        """Score a prompt: judge rubric, or held-out accuracy / log-likelihood."""
        before = self.budget.spent
        if self.metric == "judge":
            assert self.judge is not None
            self.budget.check()
            verdict = await self.judge.score(step.content, task=self.task)
            self.budget.charge(verdict.cost_usd)
            step.judge = verdict
            step.score = verdict.normalized
        elif self.metric == "accuracy":
            results = await self._answers(step.content, self.heldout_set)
            step.evaluation = accuracy_evaluation(results)
            step.score = step.evaluation.score
        else:
            step.evaluation = loglik_evaluation(await loglik_results(self._local(), step.content, self.heldout_set))
            step.score = step.evaluation.score
        step.cost_usd += self.budget.spent - before

    async def _answers(self, prompt: str, examples: list[Example]) -> list[ExampleResult]:
        """The task model's answers (temperature 0) to each example, checked against the expected output."""
        assert self.task_provider is not None
        results = []
        model = self.registry.get(self.task_provider).default_model()
        for ex in examples:
            response = await self._call(self.task_provider, answer_request(prompt, ex, model), "optimize_task")
            output = response.text.strip()
            results.append(
                ExampleResult(
                    input=ex.input,
                    expected=ex.expected,
                    output=output,
                    correct=await amatches(output, ex.expected, ex.match),
                )
            )
        return results

    def _local(self):
        return self.registry.get("local")

    async def _propose_view(self, step: OptimizationStep) -> list[ExampleResult]:
        """The current prompt on the propose set, worst first: what the critique and the demonstrations use."""
        if step.prompt_id in self._propose_evals:
            return self._propose_evals[step.prompt_id]
        if self.metric == "loglik":
            scored = await loglik_results(self._local(), step.content, self.propose_set)
            scored.sort(key=lambda r: r.loglik or 0.0)
            worst = scored[:DEMOS_PER_ROUND]
            if self.task_provider is not None:
                answers = await self._answers(
                    step.content, [Example(input=r.input, expected=r.expected) for r in worst]
                )
                for r, a in zip(worst, answers):
                    r.output, r.correct = a.output, a.correct
            view = scored
        else:
            results = await self._answers(step.content, self.propose_set)
            view = sorted(results, key=lambda r: bool(r.correct))
        self._propose_evals[step.prompt_id] = view
        return view

    # ------------------------------------------------------------------ critique and proposals

    async def _critique(self, step: OptimizationStep) -> str:
        if self.metric == "judge":
            assert step.judge is not None
            findings = "\n".join(f"- {c.name}: {c.score:g}/10 – {c.reasoning}" for c in step.judge.criteria)
            evidence = (
                f"A reviewer scored the prompt {step.judge.overall:.1f}/10:\n{findings}\n"
                f"Overall: {step.judge.summary}"
            )
        else:
            view = await self._propose_view(step)
            lines = []
            for r in view[:DEMOS_PER_ROUND]:
                got = f"; the model answered {r.output!r}" if r.output is not None else ""
                lines.append(f"- input {r.input!r}: expected {r.expected!r}{got}")
            evidence = f"Measured on held-out examples: {step.describe()}.\nExamples it handles worst:\n" + "\n".join(
                lines
            )
        user = (
            f"<task>\n{self.task}\n</task>\n\n<prompt>\n{step.content}\n</prompt>\n\n{evidence}\n\n"
            f"In two to four sentences, say what in the prompt causes these problems and what should change. "
            f"Do not rewrite the prompt."
        )
        response = await self._call(
            self.proposer,
            GenerationRequest(
                messages=[Message("system", _CRITIC_SYSTEM), Message("user", user)],
                model=self.proposer_model,
                temperature=0.3,
                max_tokens=200,
                seed=step.iteration,
                metadata={"task": "critique"},
            ),
            "optimize_critique",
        )
        return " ".join(response.text.split())[:1500] or "(the critic gave no critique)"

    async def _candidates(
        self, best: OptimizationStep, critique: str, iteration: int, history: list[OptimizationStep]
    ) -> list[tuple[str, str, str]]:
        candidates: list[tuple[str, str, str]] = []
        rewrite = await self._rewrite(best, critique, iteration, history)
        if rewrite is not None:
            candidates.append(rewrite)
        if self.metric != "judge":
            demo = await self._with_examples(best)
            if demo is not None:
                candidates.append(demo)
            shaped = await self._with_format(best)
            if shaped is not None:
                candidates.append(shaped)
        return candidates

    async def _rewrite(
        self, best: OptimizationStep, critique: str, iteration: int, history: list[OptimizationStep]
    ) -> tuple[str, str, str] | None:
        keep = sorted(variables(best.content))
        keep_line = (
            f"Keep these template variables exactly as written: {', '.join('{' + v + '}' for v in keep)}. "
            if keep
            else ""
        )
        worse = [s for s in history if s.score is not None and s.method == "rewrite" and s is not best][-2:]
        tried = "".join(
            f"\nAn earlier rewrite scored {s.score:.3f} (the current prompt scores {best.score:.3f}); "
            f"do not repeat it:\n<earlier>\n{s.content[:800]}\n</earlier>\n"
            for s in worse
        )
        user = (
            f"<task>\n{self.task}\n</task>\n\n<prompt>\n{best.content}\n</prompt>\n\n<critique>\n{critique}\n"
            f"</critique>\n{tried}\nWrite an improved version of the prompt that fixes the critique. {keep_line}"
            f"Keep every constraint of the original. Reply with the new prompt between <prompt> and </prompt>, "
            f'then one line starting with "Changes:" saying what you changed and why.'
        )
        response = await self._call(
            self.proposer,
            GenerationRequest(
                messages=[Message("system", _WRITER_SYSTEM), Message("user", user)],
                model=self.proposer_model,
                temperature=0.7,
                max_tokens=600,
                seed=iteration,
                metadata={"task": "rewrite"},
            ),
            "optimize_rewrite",
        )
        content, changes = parse_proposal(response.text)
        if not content:
            self.events.append(f"round {iteration}: the rewrite was empty; skipped")
            return None
        return content, "rewrite", changes or f"rewritten to address the critique: {critique[:200]}"

    async def _with_examples(self, best: OptimizationStep) -> tuple[str, str, str] | None:
        view = await self._propose_view(best)
        fresh = [r for r in view if f"Input: {r.input}\nOutput: {r.expected}" not in best.content]
        by_answer: dict[str, list[ExampleResult]] = {}
        for r in fresh:  # worst first, taking turns across answers so that labels stay balanced
            by_answer.setdefault(r.expected.strip().lower(), []).append(r)
        chosen: list[ExampleResult] = []
        while len(chosen) < DEMOS_PER_ROUND and any(by_answer.values()):
            for group in by_answer.values():
                if group and len(chosen) < DEMOS_PER_ROUND:
                    chosen.append(group.pop(0))
        if not chosen:
            return None
        content = add_demonstrations(best.content, [(r.input, r.expected) for r in chosen])
        inputs = ", ".join(repr(r.input) for r in chosen)
        return (
            content,
            "examples",
            (
                f"added {len(chosen)} worked example(s) from the propose set that the prompt "
                f"handled worst ({inputs}), to show the expected answer format"
            ),
        )

    async def _with_format(self, best: OptimizationStep) -> tuple[str, str, str] | None:
        """State the answer format the propose examples show, when the model's answers there are wordier."""
        instruction = answer_format(self.propose_set)
        if instruction is None or instruction in best.content:
            return None
        view = await self._propose_view(best)
        longest = max(len(e.expected.split()) for e in self.propose_set)
        wordy = [r for r in view if r.output is not None and len(r.output.split()) > longest]
        if not wordy:
            return None
        content = best.content.rstrip() + ("\n" if "\n" in best.content else " ") + instruction
        return (
            content,
            "format",
            (
                f"stated the answer format the propose examples show, because the model wrapped "
                f"{len(wordy)} of its answers there in extra words (e.g. {(wordy[0].output or '')[:60]!r})"
            ),
        )

    async def _call(self, name: str, request: GenerationRequest, kind: str) -> GenerationResponse:
        self.budget.check()
        response = await call_provider(self.registry, name, request, self.metrics, kind)
        self.budget.charge(response.cost_usd)
        self.metrics.append(
            MetricRecord(
                kind=kind,
                session_id=self.run_id,
                provider=response.provider,
                model=response.model,
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                latency_ms=response.latency_ms,
                cost_usd=response.cost_usd,
            )
        )
        return response

    # ------------------------------------------------------------------ storage and result

    async def _save(self, iteration: int, steps: list[OptimizationStep]) -> None:
        metrics = self.metrics + (self.judge.metrics if self.judge is not None else [])
        for m in metrics:
            m.session_id = self.run_id
        if self.judge is not None:
            self.judge.metrics = []
        self.metrics = []
        if self.persist is None or (not steps and not metrics):
            return
        prompts = [self._as_prompt(s) for s in steps]
        await self.persist(prompts, metrics)

    def _as_prompt(self, step: OptimizationStep) -> Prompt:
        by = {
            "seed": "seed prompt",
            "rewrite": f"rewritten by {self.proposer}",
            "examples": "few-shot examples added",
            "format": "answer format stated",
        }
        notes = f"optimizer round {step.iteration} ({by[step.method]}): {step.describe()}"
        if step.changes:
            notes += f". Changes: {step.changes}"
        return Prompt(
            id=step.prompt_id,
            content=step.content,
            title=self.task.splitlines()[0][:80],
            provider=self.proposer if step.method == "rewrite" else "",
            model=self.proposer_model if step.method == "rewrite" else "",
            cost_usd=round(step.cost_usd, 8),
            parent_id=step.parent_id,
            session_id=self.run_id,
            source_type="optimized",
            enhancement_method=f"optimizer:{step.method}",
            score=round(step.score, 6) if step.score is not None else None,
            original_input=self.task,
            generation_request={
                "optimizer": {"metric": self.metric, "iteration": step.iteration, "method": step.method}
            },
            notes=notes,
        )

    def _result(
        self,
        seed: OptimizationStep,
        best: OptimizationStep,
        steps: list[OptimizationStep],
        iterations: int,
        stop: StopReason,
    ) -> OptimizationResult:
        improvement = None
        if seed.evaluation is not None and best.evaluation is not None and best is not seed:
            mean, low, high = paired_difference(seed.evaluation, best.evaluation)
            improvement = {"mean": round(mean, 5), "ci_low": round(low, 5), "ci_high": round(high, 5)}
        by_id = {s.prompt_id: s for s in steps}
        path: list[OptimizationStep] = []
        node: OptimizationStep | None = best
        while node is not None and node is not seed:
            path.append(node)
            node = by_id.get(node.parent_id or "")
        changes = [f"round {s.iteration} ({s.method}): {s.changes}" for s in reversed(path)]
        diff = "".join(
            difflib.unified_diff(
                seed.content.splitlines(keepends=True), best.content.splitlines(keepends=True), "seed", "best"
            )
        )
        return OptimizationResult(
            run_id=self.run_id,
            task=self.task,
            metric=self.metric,
            seed=seed,
            best=best,
            steps=steps,
            iterations=iterations,
            stop_reason=stop,
            max_iterations=self.max_iterations,
            target_score=self.target_score,
            max_cost=self.budget.limit,
            total_cost_usd=round(self.budget.spent, 6),
            improved=best is not seed,
            improvement=improvement,
            diff=diff,
            changes=changes,
            examples={"propose": len(self.propose_set), "heldout": len(self.heldout_set)}
            if self.metric != "judge"
            else None,
            proposer=self.proposer,
            judge_provider=self.judge.provider_name if self.judge else None,
            saved=self.persist is not None,
            events=self.events,
        )


# ------------------------------------------------------------------------------------------------ helpers


def parse_proposal(text: str) -> tuple[str, str]:
    """(new prompt, changes) from a rewrite reply: the text inside <prompt>…</prompt> (or the whole reply, cleaned,
    before a "Changes:" line) and the "Changes:" explanation."""
    from prompt_alchemy.engine.phases import clean_output

    changes = ""
    m = re.search(r"(?im)^\s*\**changes?\**\s*:\s*(.+)$", text)
    if m:
        changes = m.group(1).strip()
    tagged = re.search(r"<prompt>\s*(.*?)\s*</prompt>", text, re.S | re.I)
    if tagged:
        body = tagged.group(1)
    else:
        body = text[: m.start()] if m else text
        body = re.sub(r"(?i)</?prompt>", "", body)
    return clean_output(body).strip(), changes


def add_demonstrations(prompt: str, pairs: list[tuple[str, str]]) -> str:
    """The prompt with worked examples: appended to an existing "Examples:" block, placed before the line that
    holds {input}, or added at the end."""
    lines = "".join(f"Input: {i}\nOutput: {o}\n" for i, o in pairs)
    block = re.search(r"Examples:\n(?:Input: .*\nOutput: .*(?:\n|$))+", prompt)
    if block:
        end = block.end()
        body = block.group(0) if block.group(0).endswith("\n") else block.group(0) + "\n"
        return prompt[: block.start()] + body + lines + prompt[end:].lstrip("\n")
    section = f"Examples:\n{lines}"
    if "{input}" in prompt:
        index = prompt.rfind("\n", 0, prompt.index("{input}")) + 1
        return prompt[:index] + section + "\n" + prompt[index:]
    return prompt.rstrip() + "\n\n" + section.rstrip("\n")


def answer_format(examples: list[Example]) -> str | None:
    """The answer format a set of examples shows, as an instruction: one of a few labels, a single word, or a
    short phrase; None when the expected answers are longer or varied."""
    if not examples:
        return None
    answers = [e.expected.strip() for e in examples]
    labels = sorted(set(answers), key=answers.index)
    if len(labels) <= 5 and len(labels) * 2 <= len(answers) and all(len(a.split()) <= 3 for a in labels):
        choices = " or ".join(labels) if len(labels) == 2 else ", ".join(labels)
        return f"Reply with only one of: {choices}. Nothing else."
    if all(len(a.split()) == 1 for a in answers):
        return "Reply with only the answer: a single word, nothing else."
    if all(len(a.split()) <= 5 for a in answers):
        return "Reply with only the answer, in a few words, nothing else."
    return None


def _canon(text: str) -> str:
    return " ".join(text.split()).lower()

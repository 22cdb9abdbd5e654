"""Ranking: scoring prompts with the rubric (and the judge), comparing two, and the optimizer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import InputError, NotFoundError
from prompt_alchemy.models import Prompt
from prompt_alchemy.security import check_length
from prompt_alchemy.services._common import mask_prompt_secrets
from prompt_alchemy.services.access import AuditLog, Call, Written, audited
from prompt_alchemy.services.app import App
from prompt_alchemy.services.library import LibraryService

if TYPE_CHECKING:
    from prompt_alchemy.ranking.evaluation import Example
    from prompt_alchemy.ranking.features import FeatureContext
    from prompt_alchemy.ranking.optimizer import OptimizationResult, OptimizeMetric, StoredRounds
    from prompt_alchemy.ranking.ranker import Ranker

_METRICS: dict[str, OptimizeMetric] = {"judge": "judge", "accuracy": "accuracy", "loglik": "loglik"}


@dataclass(frozen=True)
class OptimizePlan:
    """An optimization's checked options: what the optimizer is built with."""

    task: str
    seed_text: str
    seed_id: str | None
    metric: OptimizeMetric
    propose_set: list[Example] | None
    heldout_set: list[Example] | None
    proposer: str
    task_provider: str | None
    max_iterations: int
    target_score: float | None
    max_cost: float | None


def _optimized(result: OptimizationResult, call: Call) -> Written:
    if not (call["save"] and result.saved):
        return None
    return (
        [step.prompt_id for step in result.steps if step.prompt_id],
        f"metric={result.metric} iterations={result.iterations} improved={result.improved}",
    )


class RankingService:
    """Score, judge and optimize prompts."""

    def __init__(self, app: App, library: LibraryService, audit: AuditLog) -> None:
        self.app = app
        self.library = library
        self.audit = audit

    @property
    def ranker(self) -> Ranker:
        """The one ranker, shared with the engine; the learning loop may set `ranker.learned`."""
        return self.app.engine.ranker

    def prompt_argument(self, id_or_prefix: str) -> Prompt:
        """A stored prompt named as an argument: an unknown id is bad input (exit 2)."""
        try:
            return self.library.lookup_prompt(id_or_prefix)
        except NotFoundError as exc:
            raise InputError(f"{exc}; list prompts with 'prompt-alchemy list' or search for them") from None

    async def feature_contexts(
        self, texts: list[str], idea: str | None, metas: list[dict[str, Any]]
    ) -> list[FeatureContext]:
        """The ranking context of each text: against `idea` and each other (by embedding, where one is
        available), with drift from the idea."""
        from prompt_alchemy.ranking.ranker import feature_contexts

        if not texts or self.app.embedder.unavailable_reason() is not None:
            return feature_contexts(texts, idea=idea, metas=metas)
        vectors = await self.app.embedder.embed(list(texts) + ([idea] if idea else []))
        contexts = feature_contexts(
            texts,
            idea=idea,
            vectors=vectors[: len(texts)],
            idea_vector=vectors[len(texts)] if idea else None,
            metas=metas,
        )
        if not idea:
            return contexts
        from prompt_alchemy.ranking.drift import with_drift

        return await with_drift(self.app.embedder, contexts, texts, vectors[len(texts)])

    async def score_prompts(
        self, ids: list[str] | None = None, text: str | None = None, idea: str | None = None, judge: bool = False
    ) -> list:
        """Rank stored prompts (by id) or one ad-hoc text, best first; every result carries its score components,
        feature vector and (with `judge`) the judge's rubric. A stored prompt is compared with its sibling
        variants for distinctness and with `idea` (default: its original idea) for intent."""
        from prompt_alchemy.ranking.judge import Judge, JudgeScore
        from prompt_alchemy.ranking.ranker import prompt_meta

        ids = [i for i in (ids or []) if i.strip()]
        if not ids and text is None:
            raise InputError("nothing to score: give prompt IDs or --text")
        if ids and text is not None:
            raise InputError("give prompt IDs or --text, not both")
        if text is not None:
            if not text.strip():
                raise InputError("--text is empty")
            check_length("--text", text, self.app.settings.generation.max_idea_length)
        if idea is not None and not idea.strip():
            raise InputError("--idea is empty")
        prompts = [self.prompt_argument(i) for i in ids]
        judge_ = (
            Judge(self.app.settings, self.app.registry, avoid={p.provider for p in prompts if p.provider})
            if judge
            else None
        )
        items: list[tuple[Any, str, FeatureContext, JudgeScore | None]] = []  # None: the ad-hoc text

        async def verdict(content: str, reference: str | None) -> JudgeScore | None:
            return await judge_.score(content, idea=reference) if judge_ is not None else None

        if text is not None:
            ctx = (await self.feature_contexts([text], idea, [{}]))[0]
            items.append((None, text, ctx, await verdict(text, idea)))
        for prompt in prompts:
            siblings = []
            if prompt.session_id and prompt.phase is not None:
                siblings = [
                    s
                    for s in self.app.store.list_prompts(session_id=prompt.session_id, limit=200)
                    if s.phase == prompt.phase and s.id != prompt.id
                ]
            group = [prompt] + siblings
            reference = idea or prompt.original_input
            metas = [prompt_meta(g) for g in group]
            ctx = (await self.feature_contexts([g.content for g in group], reference, metas))[0]
            items.append((prompt.id, prompt.content, ctx, await verdict(prompt.content, reference)))
        if judge_ is not None and judge_.metrics and self.app.library_exists():
            self.app.store.record_metrics(judge_.metrics)
        return self.ranker.rank(items)

    async def judge_prompts(self, id_a: str, id_b: str | None = None) -> dict[str, Any]:
        """With two ids: which stored prompt is better (asked in both orders; a disagreement is a tie). With one:
        the judge's rubric scores. The judge avoids the prompts' own providers when another is available."""
        from prompt_alchemy.ranking.judge import Judge

        a = self.prompt_argument(id_a)
        b = self.prompt_argument(id_b) if id_b is not None else None
        if b is not None and a.id == b.id:
            raise InputError("give two different prompts to compare")
        judge = Judge(self.app.settings, self.app.registry, avoid={p.provider for p in (a, b) if p and p.provider})
        if b is None:
            verdict = await judge.score(a.content, idea=a.original_input)
            out: dict[str, Any] = {"mode": "rubric", "id": a.id, **verdict.model_dump()}
        else:
            idea = a.original_input if a.original_input == b.original_input else None
            result = await judge.compare(a.content, b.content, idea=idea)
            winner_id = {"a": a.id, "b": b.id}.get(result.winner or "")
            out = {"mode": "pairwise", "a": a.id, "b": b.id, "winner_id": winner_id, **result.model_dump()}
        if judge.metrics:
            self.app.store.record_metrics(judge.metrics)
        return out

    def plan_optimize(
        self,
        prompt_id: str | None = None,
        prompt: str | None = None,
        task: str | None = None,
        examples_path: str | Path | None = None,
        max_iterations: int = 3,
        target_score: float | None = None,
        max_cost: float | None = None,
        metric: str = "auto",
        provider: str | None = None,
        task_provider: str | None = None,
        examples: list[Any] | None = None,
        examples_file: str | None = None,
    ) -> OptimizePlan:
        """Every check of an optimization's options, before any provider call or write: what `optimize` runs, and
        what a submitted optimize job is checked with (so bad options are refused at submit, not in the job)."""
        from prompt_alchemy.models import Phase
        from prompt_alchemy.ranking.evaluation import load_examples, parse_examples, split_examples
        from prompt_alchemy.ranking.optimizer import MAX_ITERATIONS

        if (prompt_id is None) == (prompt is None):
            raise InputError("give the prompt to optimize: a prompt ID or --prompt TEXT (one of them)")
        task = (task or "").strip()
        if not task:
            raise InputError("--task is required: say what the prompt must get a model to do")
        check_length("--task", task, self.app.settings.generation.max_idea_length)
        if not 1 <= max_iterations <= MAX_ITERATIONS:
            raise InputError(f"--max-iterations must be between 1 and {MAX_ITERATIONS}, got {max_iterations}")
        if target_score is not None and not 0 < target_score <= 1:
            raise InputError(
                f"--target-score must be above 0 and at most 1 (scores are 0-1; the judge's 1-10 "
                f"is divided by 10), got {target_score:g}"
            )
        if max_cost is not None and not max_cost > 0:
            raise InputError(f"--max-cost must be a positive amount in USD, got {max_cost:g}")
        if metric not in ("auto", "judge", "accuracy", "loglik"):
            raise InputError(f"unknown --metric '{metric}'; choose auto, judge, accuracy or loglik")
        if prompt is not None:
            if not prompt.strip():
                raise InputError("--prompt is empty")
            check_length("--prompt", prompt, self.app.settings.generation.max_idea_length)
            seed_text, seed_id = prompt.strip(), None
        else:
            stored = self.prompt_argument(prompt_id or "")
            seed_text, seed_id = stored.content, stored.id
        if sum(x is not None for x in (examples_path, examples, examples_file)) > 1:
            raise InputError("give the examples one way: inline examples or an examples file")
        loaded_examples = None
        if examples is not None:
            import json

            if not isinstance(examples, list) or len(examples) > 2000:
                raise InputError("examples must be a list of at most 2000 objects with input and expected")
            try:
                text = "\n".join(json.dumps(e, ensure_ascii=True) for e in examples)
            except (TypeError, ValueError):
                raise InputError("examples must be JSON objects with input and expected") from None
            loaded_examples = parse_examples(text, "examples")
        elif examples_file is not None:
            loaded_examples = load_examples(self.examples_file(examples_file))
        elif examples_path is not None:
            loaded_examples = load_examples(examples_path)
        propose_set = heldout_set = None
        local_ok = "local" in self.app.registry.available()
        if loaded_examples is not None:
            propose_set, heldout_set = split_examples(loaded_examples)
            if metric == "judge":
                raise InputError("--metric judge does not use --examples; drop one of them")
            if metric == "auto":
                metric = "loglik" if local_ok else "accuracy"
            if metric == "loglik" and not local_ok:
                raise InputError(
                    f"--metric loglik needs the local model: " f"{self.app.registry.get('local').unavailable_reason()}"
                )
        elif metric in ("accuracy", "loglik"):
            raise InputError(
                f"--metric {metric} needs --examples FILE (JSONL lines with input and expected; over "
                f"MCP: examples or examples_file)"
            )
        else:
            metric = "judge"
        if provider is not None:
            self.app.registry.check_name(provider)
            reason = self.app.registry.get(provider).unavailable_reason()
            if reason:
                raise InputError(f"--provider {provider} cannot be used: {reason}")
            proposer = provider
        else:
            proposer = self.app.registry.chain(Phase.COAGULATIO)[0]
        if task_provider is not None:
            self.app.registry.check_name(task_provider)
            reason = self.app.registry.get(task_provider).unavailable_reason()
            if reason:
                raise InputError(f"--task-provider {task_provider} cannot be used: {reason}")
        elif metric != "judge":
            task_provider = "local" if local_ok else proposer
        return OptimizePlan(
            task=task,
            seed_text=seed_text,
            seed_id=seed_id,
            metric=_METRICS[metric],
            propose_set=propose_set,
            heldout_set=heldout_set,
            proposer=proposer,
            task_provider=task_provider,
            max_iterations=max_iterations,
            target_score=target_score,
            max_cost=max_cost,
        )

    @audited(
        "optimize",
        targets=lambda call: [call["prompt_id"]] if call["prompt_id"] else [],
        written=_optimized,
        failures=lambda call: bool(call["save"]),
    )
    async def optimize(
        self,
        prompt_id: str | None = None,
        prompt: str | None = None,
        task: str | None = None,
        examples_path: str | Path | None = None,
        max_iterations: int = 3,
        target_score: float | None = None,
        max_cost: float | None = None,
        metric: str = "auto",
        provider: str | None = None,
        task_provider: str | None = None,
        save: bool = True,
        progress: Any = None,
        examples: list[Any] | None = None,
        examples_file: str | None = None,
        run_id: str | None = None,
    ) -> OptimizationResult:
        """Improve a prompt (a stored one by id, or text) for `task`; see ranking/optimizer.py. Everything is
        validated before any provider call or write (plan_optimize); each round's candidates are stored in one
        transaction. Examples come from `examples_path` (a file: the CLI), or, for clients of the server, inline
        (`examples`) or by name from the examples folder (`examples_file`): a server never opens a path a client
        names.

        `run_id` (an optimize job's, fixed when it was submitted) makes a run that is run again idempotent: the
        rounds an earlier run of it stored are not redone nor stored again; it goes on from the best of them."""
        from prompt_alchemy.ranking.judge import Judge
        from prompt_alchemy.ranking.optimizer import Optimizer

        plan = self.plan_optimize(
            prompt_id,
            prompt,
            task,
            examples_path,
            max_iterations,
            target_score,
            max_cost,
            metric,
            provider,
            task_provider,
            examples,
            examples_file,
        )
        resume = None
        if run_id is not None and save:
            resume = await asyncio.to_thread(self._stored_rounds, run_id)
        judge = Judge(self.app.settings, self.app.registry, avoid={plan.proposer}) if plan.metric == "judge" else None

        async def persist(prompts: list[Prompt], metrics: list[Any]) -> None:
            mask_prompt_secrets(prompts)
            if prompts and self.app.embedder.unavailable_reason() is None:
                vectors = await self.app.embedder.embed([p.content for p in prompts])
                for p, vector in zip(prompts, vectors):
                    p.set_embedding(vector, self.app.embedder)
            await asyncio.to_thread(self.app.store.save_session, prompts, metrics=metrics)

        optimizer = Optimizer(
            self.app.settings,
            self.app.registry,
            task=plan.task,
            metric=plan.metric,
            proposer=plan.proposer,
            judge=judge,
            propose_set=plan.propose_set,
            heldout_set=plan.heldout_set,
            task_provider=plan.task_provider,
            max_iterations=plan.max_iterations,
            target_score=plan.target_score,
            max_cost=plan.max_cost,
            persist=persist if save else None,
            progress=progress,
            run_id=run_id,
        )
        return await optimizer.run(plan.seed_text, plan.seed_id, resume=resume)

    def _stored_rounds(self, run_id: str) -> StoredRounds | None:
        """What an earlier run of `run_id` stored (None: nothing): its rounds are not run, nor stored, again."""
        from prompt_alchemy.ranking.optimizer import OptimizationStep, StoredRounds

        stored = [p for p in self.app.store.list_prompts(session_id=run_id, limit=1000) if p.source_type == "optimized"]
        if not stored:
            return None

        def meta(p: Prompt) -> dict[str, Any]:
            return dict((p.generation_request or {}).get("optimizer") or {})

        seed = next((p for p in stored if meta(p).get("method") == "seed"), None)
        candidates = [p for p in stored if meta(p).get("method") != "seed" and p.score is not None]
        best = max(candidates, key=lambda p: p.score or 0.0, default=None)
        return StoredRounds(
            last_round=max(int(meta(p).get("iteration") or 0) for p in stored),
            seed_id=seed.id if seed is not None else None,
            best=OptimizationStep(
                iteration=int(meta(best).get("iteration") or 1),
                prompt_id=best.id,
                parent_id=best.parent_id,
                method=meta(best).get("method") or "rewrite",
                content=best.content,
            )
            if best is not None
            else None,
            contents=[p.content for p in stored],
        )

    def examples_dir(self) -> Path:
        """The one folder whose files MCP clients may name as optimization examples (server.examples_dir)."""
        configured = self.app.settings.server.examples_dir
        return Path(configured) if configured else self.app.loaded.database_path.parent / "examples"

    def examples_file(self, name: str) -> Path:
        """The examples file `name` inside examples_dir(); a path, a hidden name or a link out of the folder is
        refused without saying whether anything exists there."""
        folder = self.examples_dir()
        bad = (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > 255
            or name.startswith(".")
            or any(c in name for c in "/\\\x00:")
        )
        if bad:
            raise InputError(
                f"examples_file must be the name of a file in the examples folder {folder} " f"(a name, not a path)"
            )
        path = folder / name
        try:
            inside = path.is_file() and folder.resolve() in path.resolve().parents
        except OSError:
            inside = False
        if not inside:
            raise InputError(f"there is no examples file '{name}' in the examples folder {folder}")
        return path

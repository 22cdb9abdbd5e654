"""Batch generation: many ideas from a file, with workers, resume and a results file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prompt_alchemy.engine.batch import BatchProgress
from prompt_alchemy.errors import InputError
from prompt_alchemy.models import (
    BatchItem,
    BatchItemResult,
    BatchOptions,
    BatchReport,
    GenerationResult,
)
from prompt_alchemy.security import MAX_BATCH_BYTES, read_text_file
from prompt_alchemy.services._common import guard_output_path
from prompt_alchemy.services.app import App
from prompt_alchemy.services.generation import GenerationService

if TYPE_CHECKING:
    from prompt_alchemy.engine.batch import BatchJob


class BatchService:
    """Generate for many ideas at once, each through the generation service."""

    def __init__(self, app: App, generation: GenerationService) -> None:
        self.app = app
        self.generation = generation

    def read_batch_items(self, path: str | Path, fmt: str | None = None, text: str | None = None) -> list[BatchItem]:
        """Parse a batch file: JSONL (an object with "idea" and optional options per line), CSV (an `idea` or
        `prompt` column plus optional option columns) or one idea per line. `text` replaces reading `path`."""
        from prompt_alchemy.engine.batch import detect_format, parse_items

        if text is None:
            text = read_text_file(path, "batch file", limit=MAX_BATCH_BYTES)
        return parse_items(text, fmt or detect_format(path, text), str(path))

    async def batch_generate(
        self,
        items: list[BatchItem],
        *,
        workers: int = 2,
        defaults: BatchOptions | None = None,
        save: bool = True,
        results_file: str | Path | None = None,
        resume: bool = False,
        dry_run: bool = False,
        source: str = "batch",
        progress: BatchProgress | None = None,
    ) -> BatchReport:
        """Generate every item, at most `workers` at a time; per-item options override `defaults`. Every item is
        validated (and every provider chain resolved) before anything runs or is written. With `results_file`,
        each finished item is appended to it and `resume` skips the items it already holds."""
        from prompt_alchemy.engine.batch import MAX_WORKERS, ResultsFile, run_batch

        if not 1 <= workers <= MAX_WORKERS:
            raise InputError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        jobs = self.plan(items, defaults=defaults, save=save)
        if results_file:
            guard_output_path(self.app.loaded, results_file, force=False, what="results file", allow_existing=True)
        results = ResultsFile(results_file, resume=resume, source=source) if results_file else None

        async def generate(job: BatchJob, session_id: str | None) -> GenerationResult:
            return await self.generation.generate(job.request, session_id=session_id)

        return await run_batch(
            jobs,
            workers=workers,
            generate=generate,
            recover=self._recover_batch_item,
            results=results,
            progress=progress,
            dry_run=dry_run,
        )

    def plan(
        self, items: list[BatchItem], *, defaults: BatchOptions | None = None, save: bool = True
    ) -> list[BatchJob]:
        """One validated request per item, keyed (see engine.batch.item_keys); every provider chain is resolved.
        Raises InputError naming the first bad item; nothing runs or is written."""
        from prompt_alchemy.engine.batch import BatchJob, item_keys

        if not items:
            raise InputError("the batch has no ideas")
        defaults = defaults or BatchOptions()
        jobs: list[BatchJob] = []
        for index, (item, key) in enumerate(zip(items, item_keys(items)), 1):
            options = {
                name: getattr(item, name) if getattr(item, name) is not None else getattr(defaults, name)
                for name in BatchOptions.model_fields
            }
            try:
                request = self.generation.build_request(item.idea, save=save, **options)
            except InputError as exc:
                snippet = " ".join(item.idea.split())[:40]
                raise InputError(f"batch item {index} ('{snippet}'): {exc}") from None
            jobs.append(BatchJob(key=key, index=index, request=request))
        for phases, provider in {(tuple(job.request.phases), job.request.provider) for job in jobs}:
            for phase in phases:
                self.app.registry.chain(phase, provider)
        return jobs

    def recover_item(self, job: BatchJob, session_id: str) -> BatchItemResult | None:
        """The result of an item whose prompts are stored under `session_id` already (an earlier run saved them
        before it could record that), or None when nothing is stored."""
        return self._recover_batch_item(job, session_id)

    def _recover_batch_item(self, job: BatchJob, session_id: str) -> BatchItemResult | None:
        """The result of a batch item that an interrupted run saved but did not get to record, or None."""
        prompts = self.app.store.list_prompts(session_id=session_id, limit=1000)
        if not prompts:
            return None
        scored = [p for p in prompts if p.score is not None]
        best = max(scored, key=lambda p: p.score or 0.0) if scored else None
        return BatchItemResult(
            key=job.key,
            index=job.index,
            idea=job.request.idea,
            status="ok",
            session_id=session_id,
            best_id=best.id if best else None,
            best=best.content if best else None,
            best_score=best.score if best else None,
            prompt_ids=[p.id for p in prompts],
            saved=True,
            total_tokens=sum(p.actual_tokens for p in prompts),
            cost_usd=round(sum(p.cost_usd for p in prompts), 6),
        )

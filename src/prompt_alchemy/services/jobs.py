"""Jobs: long work (batch, optimize, train, an async generate) with an id, a status, progress and a result.

With a PostgreSQL library the items go on a procrastinate queue that any `serve --role worker` (or `all`) runs;
with SQLite they run in this process (the CLI waits for them; a server runs them in the background), as before.
Either way the records are the same (storage/jobs.py), so `jobs list/show/cancel/retry` read one story.

A batch's ideas are items of their own, so many workers share one batch. An item that is run again (its worker
died, or `jobs retry`) is not stored twice: it runs under its lock, and its prompts carry a session id derived
from (job, item key), so a second run finds them stored and records them instead of generating again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prompt_alchemy.errors import AlchemyError, InputError
from prompt_alchemy.jobs.models import JobInfo, JobItemInfo, JobKind, JobProgress, job_status
from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.services.app import App
from prompt_alchemy.services.batch import BatchService
from prompt_alchemy.services.generation import GenerationService
from prompt_alchemy.services.learning import LearningService
from prompt_alchemy.services.ranking import RankingService

if TYPE_CHECKING:
    import procrastinate

    from prompt_alchemy.models import BatchItem, BatchOptions, PromptRequest
    from prompt_alchemy.storage.jobs import ItemRow, JobRecords, JobRow

log = get_logger("jobs")

_NAMESPACE = uuid.UUID("0b8f3d6e-52a4-4b7e-9c1d-7e2f4a6b9c30")
SINGLE_KEY = "main"
#: items of one job the in-process runner (SQLite) runs at the same time
LOCAL_CONCURRENCY = 2


def item_session_id(job_id: int, key: str) -> str:
    """The session id of a job item's prompts: fixed before the item first runs, the same on every retry."""
    return str(uuid.uuid5(_NAMESPACE, f"job:{job_id}:{key}"))


class JobsService:
    """Submit, run, list, cancel and retry jobs."""

    def __init__(
        self,
        app: App,
        batch: BatchService,
        generation: GenerationService,
        ranking: RankingService,
        learning: LearningService,
    ) -> None:
        self.app = app
        self.batch = batch
        self.generation = generation
        self.ranking = ranking
        self.learning = learning
        self._records: JobRecords | None = None
        self._queue: procrastinate.App | None = None
        self._queue_open = False
        self._local: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ where jobs go

    @property
    def queued(self) -> bool:
        """True when jobs go on the PostgreSQL queue (a worker runs them); False: they run in this process."""
        return bool(self.app.loaded.database_url)

    @property
    def records(self) -> JobRecords:
        if self._records is None:
            from prompt_alchemy.storage.jobs import PostgresJobRecords, open_records

            records = open_records(self.app.loaded.database_url, self.app.loaded.database_path)
            if isinstance(records, PostgresJobRecords):
                from prompt_alchemy.jobs.queue import schema_sql

                records.ensure_schema(schema_sql())
            self._records = records
        return self._records

    async def queue_app(self) -> procrastinate.App:
        """The procrastinate app, open (PostgreSQL only)."""
        if not self.queued:
            raise InputError(
                "the job queue needs a PostgreSQL library (storage.url); with SQLite jobs run in the "
                "process that submits them"
            )
        await asyncio.to_thread(lambda: self.records)  # the schema exists before anything uses the queue
        if self._queue is None:
            from prompt_alchemy.jobs.queue import make_app

            self._queue = make_app(str(self.app.loaded.database_url))
        if not self._queue_open:
            await self._queue.open_async()
            self._queue_open = True
        return self._queue

    async def aclose(self) -> None:
        for task in list(self._local):
            task.cancel()
        if self._queue is not None and self._queue_open:
            await self._queue.close_async()
            self._queue_open = False
        if self._records is not None:
            self._records.close()
            self._records = None

    # ------------------------------------------------------------------ submitting

    async def submit_batch(
        self,
        items: list[BatchItem],
        *,
        defaults: BatchOptions | None = None,
        save: bool = True,
        source: str = "batch",
        wait: bool = False,
    ) -> JobInfo:
        """A batch job: every item validated first (nothing is queued on bad input), then one item per idea."""
        plan = self.batch.plan(items, defaults=defaults, save=save)
        rows = [(job.key, job.index, {"request": job.request.model_dump(mode="json")}) for job in plan]
        return await self._submit("batch", {"source": source, "items": len(rows), "save": save}, rows, wait)

    async def submit_generate(self, request: PromptRequest, *, wait: bool = False) -> JobInfo:
        row = (SINGLE_KEY, 1, {"request": request.model_dump(mode="json")})
        return await self._submit("generate", {"idea": request.idea[:200], "save": request.save}, [row], wait)

    async def submit_optimize(self, options: dict[str, Any], *, wait: bool = False) -> JobInfo:
        """`options` are RankingService.optimize's keyword arguments (JSON values; no progress callback). They are
        checked here by the code the synchronous optimize runs (bad options: InputError, and no job). The job
        carries a run id fixed now: a run of it that is run again stores nothing twice."""
        from prompt_alchemy.models import new_id

        options = dict(options)
        path = options.pop("examples_path", None)
        if path:  # read here: the worker that runs the job cannot read the submitter's files
            from prompt_alchemy.ranking.evaluation import load_examples

            options["examples"] = [e.model_dump(mode="json", exclude={"line"}) for e in load_examples(path)]
        checked = {k: v for k, v in options.items() if k not in ("save", "progress", "run_id")}
        await asyncio.to_thread(lambda: self.ranking.plan_optimize(**checked))
        summary = {k: v for k, v in options.items() if k in ("prompt_id", "task", "metric", "max_iterations")}
        payload = {"options": options, "run_id": new_id()}
        return await self._submit("optimize", summary, [(SINGLE_KEY, 1, payload)], wait)

    async def submit_train(self, *, dry_run: bool = False, wait: bool = False) -> JobInfo:
        """Checked as `train` checks (learning disabled, too little feedback: InputError, and no job). The job
        carries a run id fixed now, kept with the version it stores: a re-run finds that version stored."""
        from prompt_alchemy.models import new_id

        await asyncio.to_thread(self.learning.check_training)
        payload = {"dry_run": dry_run, "run_id": new_id()}
        return await self._submit("train", {"dry_run": dry_run}, [(SINGLE_KEY, 1, payload)], wait)

    async def _submit(
        self, kind: JobKind, params: dict[str, Any], rows: list[tuple[str, int, dict[str, Any]]], wait: bool
    ) -> JobInfo:
        job_id = await asyncio.to_thread(self.records.create, kind, params, rows)
        log.info("job %d (%s, %d item(s)) submitted", job_id, kind, len(rows))
        await self._dispatch(job_id, [key for key, _, _ in rows], wait=wait)
        return await self.show(job_id)

    async def _dispatch(self, job_id: int, keys: list[str], *, wait: bool) -> None:
        if self.queued:
            from prompt_alchemy.jobs.queue import defer_items

            await defer_items(await self.queue_app(), job_id, keys)
            if wait:
                await self.wait(job_id)
            return
        task = asyncio.ensure_future(self._run_local(job_id, keys))
        self._local.add(task)
        task.add_done_callback(self._local.discard)
        if wait:
            await task

    async def _run_local(self, job_id: int, keys: list[str]) -> None:
        pending = iter(keys)

        async def worker() -> None:
            for key in pending:
                await self.run_item(job_id, key)

        await asyncio.gather(*(worker() for _ in range(min(LOCAL_CONCURRENCY, len(keys)))))

    async def wait(
        self,
        job_id: int,
        *,
        poll: float = 0.5,
        timeout: float | None = None,
        on_poll: Callable[[JobInfo], Awaitable[None]] | None = None,
    ) -> JobInfo:
        """Until the job is succeeded, failed or cancelled (or `timeout` seconds have passed: the job as it is
        then). `on_poll` sees the job at every look, the last one included."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self.show(job_id)
            if on_poll is not None:
                await on_poll(info)
            if info.status in ("succeeded", "failed", "cancelled"):
                return info
            if deadline is not None and time.monotonic() > deadline:
                return info
            await asyncio.sleep(poll)

    # ------------------------------------------------------------------ running one item

    async def run_item(self, job_id: int, key: str) -> None:
        """Run one item, at most one runner at a time; a finished or cancelled item is left as it is."""
        records = self.records
        job = await asyncio.to_thread(records.get, job_id)
        if job is None:
            log.warning("job %d is gone; item %s dropped", job_id, key)
            return
        async with records.item_lock(job_id, key):
            item = await asyncio.to_thread(records.start_item, job_id, key)
            if item is None:
                return
            try:
                result, status, error = await self._execute(job, item), "succeeded", None
            except AlchemyError as exc:
                result, status, error = None, "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - one broken item must not stop the worker
                log.debug("job %d item %s failed", job_id, key, exc_info=True)
                result, status, error = None, "failed", f"unexpected {type(exc).__name__}: {exc}"
            await asyncio.to_thread(records.finish_item, job_id, key, status, result, error)

    async def _execute(self, job: JobRow, item: ItemRow) -> dict[str, Any]:
        if job.kind in ("batch", "generate"):
            return await self._generate_item(job, item)
        if job.kind == "optimize":
            run_id = item.payload.get("run_id")
            result = await self.ranking.optimize(**item.payload["options"], run_id=run_id)
            return result.model_dump(mode="json")
        return await self._train_item(job, item)

    async def _train_item(self, job: JobRow, item: ItemRow) -> dict[str, Any]:
        dry_run, run_id = bool(item.payload.get("dry_run")), item.payload.get("run_id")
        stored = await asyncio.to_thread(self.learning.trained_by, run_id) if run_id and not dry_run else None
        if stored is not None:  # an earlier run of this job stored its version, then died before recording it
            log.info("job %d stored model v%d in an earlier run; recovered", job.id, stored.version)
            return {
                "dry_run": False,
                "stored": True,
                "adopted": stored.status == "adopted",
                "version": stored.version,
                "reason": f"v{stored.version} ({stored.status}) was stored by an earlier run of this job",
                "trigger": stored.trigger,
            }
        report = await self.learning.train(dry_run, trigger="job", run_id=run_id)
        return report.model_dump(mode="json")

    async def _generate_item(self, job: JobRow, item: ItemRow) -> dict[str, Any]:
        from prompt_alchemy.engine.batch import BatchJob, result_from_generation
        from prompt_alchemy.models import PromptRequest

        request = PromptRequest.model_validate(item.payload["request"])
        planned = BatchJob(key=item.key, index=item.index, request=request)
        session_id = item_session_id(job.id, item.key)
        if request.save:  # stored by an earlier run of this item: record it, never store it twice
            recovered = await asyncio.to_thread(self.batch.recover_item, planned, session_id)
            if recovered is not None:
                log.info("job %d item %s was stored by an earlier run; recovered", job.id, item.key)
                return recovered.model_dump(mode="json")
        generated = await self.generation.generate(request, session_id=session_id)
        return result_from_generation(planned, generated).model_dump(mode="json")

    # ------------------------------------------------------------------ reading and changing jobs

    async def show(self, job_id: int, *, items: bool = False) -> JobInfo:
        row = await asyncio.to_thread(self.records.get, job_id)
        if row is None:
            raise InputError(f"no job {job_id}; list them with 'prompt-alchemy jobs list'")
        rows = await asyncio.to_thread(self.records.items, job_id)
        return _info(row, rows, with_items=items)

    async def list_jobs(self, *, status: str | None = None, limit: int = 50) -> list[JobInfo]:
        from typing import get_args

        from prompt_alchemy.jobs.models import JobStatus

        if status is not None and status not in get_args(JobStatus):
            raise InputError(f"unknown job status '{status}'; use one of: {', '.join(get_args(JobStatus))}")
        if not 1 <= limit <= 1000:
            raise InputError(f"limit must be between 1 and 1000, got {limit}")
        rows = await asyncio.to_thread(self.records.list_jobs, status=status, limit=limit)
        return [_info(row, None) for row in rows]

    async def cancel(self, job_id: int) -> JobInfo:
        """Cancel the items that have not started; items running now finish (and are kept)."""
        info = await self.show(job_id)
        if info.status in ("succeeded", "failed", "cancelled"):
            raise InputError(f"job {job_id} is {info.status} already; nothing to cancel")
        keys = await asyncio.to_thread(self.records.cancel, job_id)
        log.info("job %d cancelled (%d item(s) had not started)", job_id, len(keys))
        return await self.show(job_id)

    async def retry(self, job_id: int, *, wait: bool = False) -> JobInfo:
        """Queue the failed and cancelled items of a finished job again; items already stored are not redone."""
        info = await self.show(job_id)
        if info.status not in ("failed", "cancelled"):
            raise InputError(f"job {job_id} is {info.status}; only a failed or cancelled job can be retried")
        keys = await asyncio.to_thread(self.records.requeue, job_id)
        await self._dispatch(job_id, keys, wait=wait)
        return await self.show(job_id)

    async def queue_depth(self) -> int:
        """Items waiting or running over every job."""
        return await asyncio.to_thread(lambda: self.records.queue_depth())


def _info(row: JobRow, items: list[ItemRow] | None, *, with_items: bool = False) -> JobInfo:
    counts = row.counts
    total = sum(counts.values())
    status = job_status(row.cancelled, counts)
    progress = JobProgress(
        done=counts.get("succeeded", 0) + counts.get("failed", 0),
        total=total,
        succeeded=counts.get("succeeded", 0),
        failed=counts.get("failed", 0),
        running=counts.get("running", 0),
    )
    result: dict[str, Any] | None = None
    error: str | None = None
    if items is not None:
        errors = [i for i in items if i.status == "failed"]
        if row.kind == "batch":
            done = [i for i in items if i.status == "succeeded" and i.result]
            result = {
                "generated": len(done),
                "failed": len(errors),
                "prompts": sum(len(i.result.get("prompt_ids") or []) for i in done if i.result),
            }
        elif items and items[0].result is not None:
            result = items[0].result
        if errors:
            error = (
                f"{len(errors)} item(s) failed; first: {errors[0].error}" if row.kind == "batch" else errors[0].error
            )
    listed = (
        [
            JobItemInfo(key=i.key, index=i.index, status=i.status, attempts=i.attempts, result=i.result, error=i.error)
            for i in items
        ]
        if with_items and items is not None
        else None
    )
    return JobInfo(
        job=row.id,
        kind=row.kind,
        status=status,
        progress=progress,
        created_at=row.created_at,
        updated_at=row.updated_at,
        params=row.params,
        result=result,
        error=error,
        items=listed,
    )

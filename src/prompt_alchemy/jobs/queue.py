"""The PostgreSQL queue: a procrastinate App on the library's database, with one task that runs one job item.

Imported only where jobs go through PostgreSQL (procrastinate and psycopg load with it). Jobs live in the queue
`alchemy`; the task's arguments are just (job id, item key): what to run is in the job records (storage/jobs.py).
A worker that dies leaves its items `doing` with a stale heartbeat; `retry_stalled` (run by every worker) puts
them back on the queue, and the item runner's lock and stored-result check keep them from being stored twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import procrastinate

from prompt_alchemy.logging_setup import get_logger
from prompt_alchemy.storage.jobs import QUEUE_NAME

if TYPE_CHECKING:
    from prompt_alchemy.services.jobs import JobsService

log = get_logger("jobs")

QUEUE = QUEUE_NAME
TASK = "alchemy:run_item"
#: a worker is taken for dead when it has not written its heartbeat for this long (s; server.worker_stalled_after);
#: its running items then go back on the queue. It writes one every fifth of this.
STALLED_AFTER_S = 10.0


async def run_item(context: procrastinate.JobContext, job_id: int, key: str) -> None:
    """Run one item of a job (a batch idea, or the whole of any other job)."""
    jobs: JobsService = context.additional_context["jobs"]
    await jobs.run_item(job_id, key)


def make_app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=4))
    # a blueprint of this app's own: add_tasks_from renames the blueprint's tasks in place, so a shared one would
    # give a second app of the process (a second service) the task 'alchemy:alchemy:run_item'
    blueprint = procrastinate.Blueprint()
    blueprint.task(name="run_item", queue=QUEUE, pass_context=True)(run_item)
    app.add_tasks_from(blueprint, namespace="alchemy")
    return app


def schema_sql() -> str:
    from procrastinate.schema import SchemaManager

    return str(SchemaManager.get_schema())


async def defer_items(app: procrastinate.App, job_id: int, keys: list[str]) -> None:
    """One queue job per item, in one statement."""
    task = app.tasks[TASK]
    for start in range(0, len(keys), 1000):
        args: list[dict[str, Any]] = [{"job_id": job_id, "key": key} for key in keys[start : start + 1000]]
        await task.batch_defer_async(*args)


async def retry_stalled(app: procrastinate.App, stalled_after: float = STALLED_AFTER_S) -> int:
    """Put back on the queue the items whose worker stopped sending heartbeats; returns how many."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
    retried = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
            retried += 1
        except Exception as exc:  # noqa: BLE001 - another worker retried it first
            log.debug("stalled job %s not retried: %s", job.id, exc)
    if retried:
        log.info("put %d item(s) of stopped workers back on the queue", retried)
    return retried


async def run_worker(
    app: procrastinate.App,
    jobs: JobsService,
    *,
    concurrency: int,
    name: str,
    install_signal_handlers: bool,
    stalled_after: float = STALLED_AFTER_S,
) -> None:
    """Run queue jobs until cancelled (or a stop signal, with `install_signal_handlers`)."""
    options: dict[str, Any] = {
        "queues": [QUEUE],
        "concurrency": concurrency,
        "name": name,
        "additional_context": {"jobs": jobs},
        "install_signal_handlers": install_signal_handlers,
        "update_heartbeat_interval": stalled_after / 5,
        "stalled_worker_timeout": stalled_after,
        "fetch_job_polling_interval": 2.0,
        "delete_jobs": "successful",
    }
    await app.run_worker_async(**options)

"""Cancelling a batch while it runs, on both databases (PostgreSQL: a real procrastinate worker in this process):
the items not started end `cancelled` (and leave the queue), the items running finish and are kept, and the
batch ends `cancelled`."""

from __future__ import annotations

import asyncio
import time

from test_jobs_mcp import jobs_svc, sessions, workers  # noqa: F401 (fixture)


async def _until(svc, job: int, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        info = await svc.jobs.show(job, items=True)
        if check(info) or time.monotonic() > deadline:
            return info
        await asyncio.sleep(0.05)


async def test_cancelling_a_running_batch_stops_the_items_not_started(jobs_svc, monkeypatch):
    from prompt_alchemy.models import BatchItem, BatchOptions

    svc = jobs_svc
    monkeypatch.setattr(svc.settings.providers.scripted, "latency", 0.15, raising=False)
    ideas = [BatchItem(idea=f"an idea cancelled while its batch runs {n}") for n in range(8)]
    async with workers(svc):
        job = (await svc.jobs.submit_batch(ideas, defaults=BatchOptions(count=1))).job
        running = await _until(svc, job, lambda i: i.progress.running >= 1)
        assert running.status == "running", running

        cancelled = await svc.jobs.cancel(job)
        at_cancel = await svc.jobs.show(job, items=True)
        still_running = {i.key for i in at_cancel.items if i.status == "running"}
        assert cancelled.status in ("running", "cancelled")
        assert not [i for i in at_cancel.items if i.status == "queued"], "a queued item was not cancelled"

        final = await _until(svc, job, lambda i: i.status in ("succeeded", "failed", "cancelled"))
        if svc.jobs.queued:
            assert svc.jobs.records.queued_jobs(job) == 0  # the cancelled items left the queue
    assert final.status == "cancelled", final
    by_status: dict[str, set[str]] = {}
    for item in final.items:
        by_status.setdefault(item.status, set()).add(item.key)
    assert set(by_status) == {"succeeded", "cancelled"}, by_status
    assert still_running <= by_status["succeeded"]  # a running item was allowed to finish
    assert len(by_status["cancelled"]) >= 4
    assert final.progress.done == len(by_status["succeeded"])
    stored = sessions(svc)
    assert set(stored) == {i.result["session_id"] for i in final.items if i.status == "succeeded"}
    assert set(stored.values()) == {3}

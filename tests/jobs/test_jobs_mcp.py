"""The job tools through the MCP SDK's client against the in-process server, on SQLite (items run in the server's
process) and on PostgreSQL (items go on the queue; a real procrastinate worker runs them in this process):
submit_batch returns a job id, job_status with wait reports items done of total as progress notifications until
the job ends, cancel and retry change what runs, and nothing is stored twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from mcp import Client

from prompt_alchemy.mcp.server import build_server

pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|removed) as of 2026-07-28")


@pytest.fixture
def jobs_svc(backend):
    from prompt_alchemy.services import AlchemyService

    svc = AlchemyService.from_environment(
        overrides={
            **{f"phases.{p}.provider": "scripted" for p in ("prima-materia", "solutio", "coagulatio")},
            "generation.embedding_provider": "scripted",
            "learning.enabled": False,
        }
    )
    yield svc
    asyncio.run(svc.aclose())


@contextlib.asynccontextmanager
async def workers(svc, *, start: bool = True) -> AsyncIterator[None]:
    """On PostgreSQL, a queue worker in this process (`start=False`: none yet); nothing on SQLite. The queue is
    closed in this event loop at the end."""
    from prompt_alchemy.server.worker import run_queue_worker

    task = None
    if svc.jobs.queued and start:
        task = asyncio.create_task(run_queue_worker(svc, concurrency=2, install_signal_handlers=False))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await svc.jobs.aclose()


def sessions(svc) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in svc.store.list_prompts(limit=1000):
        counts[p.session_id] = counts.get(p.session_id, 0) + 1
    return counts


async def test_submit_batch_returns_a_job_and_job_status_waits_reporting_progress(jobs_svc):
    svc = jobs_svc
    events: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        events.append((progress, total, message))

    async with workers(svc), Client(build_server(svc)) as client:
        items = [{"idea": f"a short poem about job {n}"} for n in range(4)]
        submitted = await client.call_tool("submit_batch", {"items": items, "defaults": {"count": 1}})
        assert not submitted.is_error, submitted.content
        job = submitted.structured_content["job"]
        assert submitted.structured_content["kind"] == "batch"
        assert submitted.structured_content["progress"]["total"] == 4
        assert f"job_status(job={job}, wait=true)" in submitted.content[0].text

        done = await client.call_tool(
            "job_status", {"job": job, "wait": True, "items": True}, progress_callback=on_progress
        )
        assert not done.is_error, done.content
        info = done.structured_content
        assert info["status"] == "succeeded" and info["progress"]["done"] == 4
        assert info["result"] == {"generated": 4, "failed": 0, "prompts": 12}
        listed = await client.call_tool("list_jobs", {})
        assert [j["job"] for j in listed.structured_content["jobs"]] == [job]

    assert events, "job_status with wait sent no progress notification"
    assert [p for p, _, _ in events] == sorted({p for p, _, _ in events})  # rises with every notification
    assert {t for _, t, _ in events} == {4.0}
    assert events[-1][0] >= 4 and events[-1][2].startswith("succeeded: 4/4 done")
    stored = sessions(svc)
    assert len(stored) == 4 and set(stored.values()) == {3}
    assert {i["result"]["session_id"] for i in info["items"]} == set(stored)


async def test_a_bad_item_creates_no_job_and_unknown_or_finished_jobs_are_tool_errors(jobs_svc):
    svc = jobs_svc
    async with workers(svc), Client(build_server(svc)) as client:
        refused = await client.call_tool(
            "submit_batch", {"items": [{"idea": "fine"}, {"idea": "bad", "provider": "nowhere-provider"}]}
        )
        assert refused.is_error and "batch item 2" in refused.content[0].text
        assert (await client.call_tool("list_jobs", {})).structured_content["count"] == 0

        missing = await client.call_tool("job_status", {"job": 999})
        assert missing.is_error and "no job 999" in missing.content[0].text
        bad_status = await client.call_tool("list_jobs", {"status": "done"})
        assert bad_status.is_error

        job = (
            await client.call_tool("submit_batch", {"items": [{"idea": "one"}], "defaults": {"count": 1}})
        ).structured_content["job"]
        finished = await client.call_tool("job_status", {"job": job, "wait": True})
        assert finished.structured_content["status"] == "succeeded"
        for tool in ("cancel_job", "retry_job"):
            refused = await client.call_tool(tool, {"job": job})
            assert refused.is_error and f"job {job} is succeeded" in refused.content[0].text, tool
    assert svc.store.count_prompts() == 3


async def test_cancel_then_retry_runs_each_item_once(jobs_svc, monkeypatch):
    svc = jobs_svc
    # SQLite runs items as soon as they are submitted: slow calls keep most of them waiting when the cancel comes.
    # PostgreSQL: no worker runs until the retry, so every item is still queued when it is cancelled.
    monkeypatch.setattr(svc.settings.providers.scripted, "latency", 0.3, raising=False)
    items = [{"idea": f"an idea to cancel {n}"} for n in range(6)]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(workers(svc, start=False))
        client = await stack.enter_async_context(Client(build_server(svc)))
        job = (await client.call_tool("submit_batch", {"items": items, "defaults": {"count": 1}})).structured_content[
            "job"
        ]
        cancelled = await client.call_tool("cancel_job", {"job": job})
        assert not cancelled.is_error, cancelled.content
        ended = (await client.call_tool("job_status", {"job": job, "wait": True, "items": True})).structured_content
        assert ended["status"] == "cancelled"
        statuses = [i["status"] for i in ended["items"]]
        assert "cancelled" in statuses and set(statuses) <= {"cancelled", "succeeded"}
        if svc.jobs.queued:
            assert set(statuses) == {"cancelled"}
            from prompt_alchemy.server.worker import run_queue_worker

            worker = asyncio.create_task(run_queue_worker(svc, concurrency=2, install_signal_handlers=False))
            stack.push_async_callback(_stop, worker)

        retried = await client.call_tool("retry_job", {"job": job})
        assert not retried.is_error, retried.content
        final = (await client.call_tool("job_status", {"job": job, "wait": True, "items": True})).structured_content
        assert final["status"] == "succeeded" and final["progress"]["done"] == 6
    stored = sessions(svc)
    assert len(stored) == 6 and set(stored.values()) == {3}


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_job_status_wait_returns_the_job_as_it_is_when_the_timeout_passes(jobs_svc):
    svc = jobs_svc
    if not svc.jobs.queued:
        pytest.skip("on SQLite the server runs the items itself; only a queue without workers keeps a job queued")
    async with workers(svc, start=False), Client(build_server(svc)) as client:
        job = (await client.call_tool("submit_batch", {"items": [{"idea": "waits"}]})).structured_content["job"]
        waited = await client.call_tool("job_status", {"job": job, "wait": True, "timeout": 1})
        assert not waited.is_error
        assert waited.structured_content["status"] == "queued"
        assert "Still queued; call again to wait more." in waited.content[0].text


def test_every_queue_app_of_a_process_has_the_item_task():
    """procrastinate's add_tasks_from renames a blueprint's tasks in place: a second service in one process (a test
    run, a server that builds two) must still find the task under its one name."""
    pytest.importorskip("procrastinate")
    from prompt_alchemy.jobs.queue import TASK, make_app

    first, second = make_app("postgresql://127.0.0.1:1/none"), make_app("postgresql://127.0.0.1:1/none")
    assert TASK in first.tasks and TASK in second.tasks


def test_sqlite_optimize_async_is_a_job_with_the_examples_read_at_submit(cli, home, tmp_path):
    import json

    from testkit import SCRIPTED

    env = {**SCRIPTED, "PROMPT_ALCHEMY_GENERATION__EMBEDDING_PROVIDER": "scripted"}
    examples = tmp_path / "examples.jsonl"
    examples.write_text(
        "".join(json.dumps({"input": f"{n} + {n}", "expected": str(2 * n)}) + "\n" for n in range(6)), encoding="utf-8"
    )
    proc = cli(
        "optimize",
        "--prompt",
        "Add the two numbers.",
        "--task",
        "add two numbers",
        "--examples",
        str(examples),
        "--metric",
        "accuracy",
        "--task-provider",
        "scripted",  # not the local model: which model answers the examples proves nothing here
        "--max-iterations",
        "1",
        "--async",
        "-o",
        "json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert job["kind"] == "optimize" and job["status"] == "succeeded", job
    assert job["result"]["metric"] == "accuracy" and job["result"]["examples"]["heldout"] >= 1
    assert job["params"] == {"prompt_id": None, "task": "add two numbers", "metric": "accuracy", "max_iterations": 1}
    shown = json.loads(cli("jobs", "show", str(job["job"]), "-o", "json", env=env).stdout)
    assert shown["status"] == "succeeded" and shown["result"]["run_id"] == job["result"]["run_id"]

"""Job tools: submit a batch as a job (its id comes back at once), follow a job's progress, list, cancel and retry.

On a PostgreSQL library the items go on the queue that workers run; on SQLite they run in this server's process, in
the background. `job_status` with `wait` sends a progress notification (items done of total) each time an item
finishes, until the job ends or the wait's time is up.
"""

from typing import Annotated, Any

from mcp_types import CallToolResult
from pydantic import Field

from prompt_alchemy.jobs.models import FINAL_STATUSES, JobInfo, JobStatus
from prompt_alchemy.mcp.tools._common import ToolContext, log, service, short, text_result, tool_errors
from prompt_alchemy.models import BatchItem, BatchOptions

JobId = Annotated[int, Field(ge=1, description="The job's id (from submit_batch or list_jobs).")]
#: seconds between two looks at a job while job_status waits
WAIT_POLL_S = 0.5


def job_result(info: JobInfo, hint: str = "") -> CallToolResult:
    """A job as a tool result: one line of status and progress (and its error), plus the job as data."""
    p = info.progress
    line = f"job {info.job} · {info.kind} · {info.status} · {p.done}/{p.total} done"
    line += (f" · {p.failed} failed" if p.failed else "") + (f" · {p.running} running" if p.running else "")
    lines = [line]
    if info.error:
        lines.append(f"error: {info.error}")
    for item in info.items or []:
        detail = item.error or (item.result or {}).get("best_id") or ""
        lines.append(f"{item.index}. {item.status} {short(str(detail), 100)}".rstrip())
    if hint:
        lines.append(hint)
    return text_result(info.model_dump(mode="json", exclude_none=True), "\n".join(lines), json_ready=True)


def _follow(job: int) -> str:
    return f"Follow it with job_status(job={job}, wait=true)."


async def submit_batch(
    items: Annotated[
        list[BatchItem],
        Field(
            min_length=1,
            max_length=10_000,
            description="Ideas, each with optional per-item options (phases, count, persona, target_model, "
            "provider, temperature, max_tokens, tags, id).",
        ),
    ],
    ctx: ToolContext,
    defaults: Annotated[BatchOptions | None, Field(description="Options for the items that do not set them.")] = None,
    save: Annotated[bool, Field(description="Store the prompts in the library (default true).")] = True,
) -> CallToolResult:
    """Submit many ideas as one background job and return its id at once, without waiting for the prompts.
    Every item is validated first: a bad item is an error naming it, and no job is created. Each idea is an
    item of its own (workers share them); follow the job with job_status, whose result lists each item's
    prompts."""
    with tool_errors():
        info = await service(ctx).jobs.submit_batch(items, defaults=defaults, save=save, source="mcp")
    return job_result(info, _follow(info.job))


async def job_status(
    job: JobId,
    ctx: ToolContext,
    items: Annotated[bool, Field(description="Include each item with its status and result.")] = False,
    wait: Annotated[
        bool,
        Field(
            description="Wait until the job is succeeded, failed or cancelled (at most timeout seconds), "
            "sending a progress notification as items finish."
        ),
    ] = False,
    timeout: Annotated[
        float, Field(gt=0, le=3600, description="With wait: seconds to wait at most (default 300).")
    ] = 300,
) -> CallToolResult:
    """A job's status (queued, running, then succeeded, failed or cancelled), its progress (items done of
    total, failed, running) and its result. With wait, returns when the job ends or the timeout passes, and,
    when the request carries a progress token, reports items done of total as they finish."""
    jobs = service(ctx).jobs
    with tool_errors():
        if wait:
            await jobs.wait(job, poll=WAIT_POLL_S, timeout=timeout, on_poll=ProgressReport(ctx))
        info = await jobs.show(job, items=items)
    hint = "" if info.status in FINAL_STATUSES or not wait else f"Still {info.status}; call again to wait more."
    return job_result(info, hint)


class ProgressReport:
    """While job_status waits: a progress notification (done of total) at the first look and whenever more
    items are done, so progress rises with every notification as the protocol requires; the last one carries
    the final status."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.sent: float | None = None

    async def __call__(self, info: JobInfo) -> None:
        p = info.progress
        final = info.status in FINAL_STATUSES
        if self.sent is not None and p.done <= self.sent and not final:
            return
        progress = float(p.done)
        if self.sent is not None and progress <= self.sent:  # final without new items: a step past the last
            progress = self.sent + 0.5
        self.sent = progress
        message = (
            f"{info.status}: {p.done}/{p.total} done"
            + (f", {p.failed} failed" if p.failed else "")
            + (f", {p.running} running" if p.running else "")
        )
        try:
            await self.ctx.report_progress(progress, float(p.total), message)
        except Exception as exc:  # noqa: BLE001 - a lost notification must not fail the call
            log.debug("progress notification not sent: %s", exc)


async def list_jobs(
    ctx: ToolContext,
    status: Annotated[JobStatus | None, Field(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="At most this many, newest first.")] = 50,
) -> CallToolResult:
    """Jobs (batches, optimizations, trainings, background generates), newest first, each with its status
    and progress."""
    with tool_errors():
        listed = await service(ctx).jobs.list_jobs(status=status, limit=limit)
    lines = [f"{len(listed)} job(s)."] + [
        f"{j.job} · {j.kind} · {j.status} · {j.progress.done}/{j.progress.total} · {j.created_at[:19]}" for j in listed
    ]
    data: dict[str, Any] = {
        "count": len(listed),
        "jobs": [j.model_dump(mode="json", exclude_none=True) for j in listed],
    }
    return text_result(data, "\n".join(lines), json_ready=True)


async def cancel_job(job: JobId, ctx: ToolContext) -> CallToolResult:
    """Cancel a queued or running job: its items that have not started are cancelled; items running now
    finish and are kept. A finished job cannot be cancelled."""
    with tool_errors():
        info = await service(ctx).jobs.cancel(job)
    return job_result(info)


async def retry_job(job: JobId, ctx: ToolContext) -> CallToolResult:
    """Run a failed or cancelled job's unfinished items again, in the background; items already stored are
    not generated again. Returns at once; follow it with job_status."""
    with tool_errors():
        info = await service(ctx).jobs.retry(job)
    return job_result(info, _follow(info.job))
